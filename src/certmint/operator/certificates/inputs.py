"""What a Certificate's plan is made from, besides the Certificate and its issuer."""

from pydantic import ValidationError

from certmint.api import Certificate
from certmint.operator.context import Context
from certmint.operator.state import Body, Key
from certmint.planning import labels, reasons
from certmint.planning.certificates.secret_view import SecretView
from certmint.planning.gates import Fail
from certmint.planning.ownership import Refusal, issuer_ca_secret_names
from certmint.planning.ownership import secret_refusal as ownership_refusal
from certmint.planning.request import IssuanceSpec, issuance_spec


def parse(body: Body, trust_domain: str) -> tuple[Certificate, IssuanceSpec] | Fail:
    try:
        certificate = Certificate.model_validate(body)
        return certificate, issuance_spec(certificate, trust_domain)
    except (ValidationError, ValueError) as error:
        return Fail(reasons.INVALID_SPEC, summary(error), retryable=False)


def summary(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:5])
    return str(error)


async def current_secret(ctx: Context, namespace: str, name: str) -> SecretView | None:
    """From the Secret watch. Read directly only when a create found it in the way and the watch
    does not report it (it lacks certmint's label: a user's Secret, or ours with the label removed)."""
    place = (namespace, name)
    known = ctx.state.secrets.get(place)
    if known is not None or place not in ctx.state.unwatched_secrets:
        return known
    secret = await ctx.kube.read_secret(namespace, name)
    return secret.view() if secret else None


def secret_refusal(
    ctx: Context, key: Key, certificate: Certificate, secret: SecretView | None
) -> Refusal | None:
    """Why the Secret is not this Certificate's to write, if it is not (planning.ownership)."""
    issuers_known = ((known.kind, known.namespace, body) for known, body in ctx.state.issuers.items())
    ca_secrets = issuer_ca_secret_names(issuers_known, key.namespace, ctx.config.namespace)
    return ownership_refusal(
        key.name, certificate.metadata.uid, certificate.spec.secret_name, secret, ca_secrets
    )


def owner_conflict(ctx: Context, key: Key, certificate: Certificate, secret: SecretView | None) -> str | None:
    """Two Certificates naming one Secret must not take turns re-issuing it (cert-manager #8380).

    The Secret's recorded owner keeps it while that Certificate still names it; with no recorded
    owner, the oldest claimant wins. Everyone else gets a Conflict and writes nothing.
    """
    claimants = ctx.state.certificates_for_secret(key.namespace, certificate.spec.secret_name)
    claimants.discard(key)
    if not claimants:
        return None
    recorded = secret.annotations.get(labels.CERTIFICATE_NAME) if secret else None
    if recorded is not None and any(other.name == recorded for other in claimants):
        return recorded
    if recorded == key.name:
        return None

    def age(other: Key) -> tuple[str, str]:
        metadata = ctx.state.certificates[other].get("metadata", {})
        return (metadata.get("creationTimestamp", ""), other.name)

    oldest = min([*claimants, key], key=age)
    return None if oldest == key else oldest.name
