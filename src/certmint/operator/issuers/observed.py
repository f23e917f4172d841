"""An issuer another replica owns, as this replica reads it: the view its own Certificates, CSRs and
CRL/OCSP endpoints need, built from the cached issuer and one read of its CA Secret. It writes
nothing: no CA is generated or rotated, no CRL or OCSP signer refreshed, no status, no event. Only
the owner moves the CA Secret; this replica follows it (the Secret's watch events queue the issuer)."""

from dataclasses import replace
from datetime import datetime

from pydantic import ValidationError

from certmint.api import Issuer, parse_duration
from certmint.api.kinds import by_kind
from certmint.kube.apply import version_of
from certmint.kube.secrets import SecretObject
from certmint.operator.context import Context
from certmint.operator.issuer_views import not_found
from certmint.operator.issuers.authority import given_ca_view, rotating_view, signing_policy
from certmint.operator.outcome import Outcome
from certmint.operator.revocations import ca_secret_location
from certmint.operator.state import Body, Key
from certmint.pki import CertificateAuthority
from certmint.planning import labels, reasons
from certmint.planning.constraints import ClusterNames
from certmint.planning.issuer_view import IssuerView, Revoking
from certmint.planning.issuers.ca import CAUnusable, GenerateCA, foreign_ca_secret, plan_ca
from certmint.planning.issuers.ca_secret import read_material
from certmint.planning.issuers.ocsp import load_signers, responder_inputs, stored_signers
from certmint.planning.issuers.revocation import CRL_KEY, crl_der_of, listed_serials


async def issuer_body(ctx: Context, key: Key) -> tuple[Body | None, Outcome]:
    """The issuer as cached, or read when it is not (Certificates may be listed before their issuer:
    read it rather than report it missing), with what caches the read: the listing brings this same
    version soon, and as an echo it causes no second reconcile. None when it does not exist."""
    body = ctx.state.issuers.get(key)
    if body is not None:
        return body, Outcome()
    body = await ctx.kube.read_object(by_kind(key.kind).plural, key.namespace or None, key.name)
    if body is None:
        return None, Outcome()
    return body, Outcome(issuer_loaded=body, echoes=((key, version_of(body)),))


async def observe(ctx: Context, key: Key) -> Outcome:
    body, loaded = await issuer_body(ctx, key)
    if body is None:
        return Outcome(issuer_view=not_found(key))
    try:
        issuer = Issuer.model_validate(body)
    except ValidationError as error:
        view = IssuerView(exists=True, ready=False, reason=reasons.INVALID_SPEC, message=str(error))
        return loaded.then(Outcome(issuer_view=view, backoff=True))
    namespace, name = ca_secret_location(ctx, key, issuer)
    secret = await ctx.kube.read_secret(namespace, name)
    view = _view(ctx, key, issuer, name, secret, ctx.clock())
    return loaded.then(Outcome(issuer_view=view, requeue_after=ctx.config.issuer_resync_seconds))


def _view(
    ctx: Context, key: Key, issuer: Issuer, name: str, secret: SecretObject | None, now: datetime
) -> IssuerView:
    if secret is not None and issuer.spec.self_signed is not None:
        foreign = foreign_ca_secret(key.kind, key.namespace, key.name, name, secret.annotations)
        if foreign is not None:
            return IssuerView(exists=True, ready=False, reason=foreign.reason, message=foreign.message)
    ours = secret is not None and secret.labels.get(labels.SECRET_ROLE_LABEL) == labels.ROLE_CA
    names = ClusterNames(ctx.config.cluster_domain)
    plan = plan_ca(issuer, secret.data if secret else None, ours, now, names)
    if isinstance(plan, CAUnusable):
        return IssuerView(exists=True, ready=False, reason=plan.reason, message=plan.message)
    if isinstance(plan, GenerateCA) or secret is None:
        message = f"CA Secret {name} is not usable yet; the replica that owns this issuer writes it"
        return IssuerView(exists=True, ready=False, reason=reasons.WAITING_FOR_OWNER, message=message)
    if issuer.spec.self_signed is None:
        signers: tuple[CertificateAuthority, ...] = (plan.ca,)
        view = given_ca_view(plan.ca)
    else:
        material = read_material(plan.ca, secret.data, secret.annotations, now)
        signers = material.crl_signers
        view = rotating_view(material, issuer)
    return _with_revocation(view, issuer, secret, signers, now)


def _with_revocation(
    view: IssuerView,
    issuer: Issuer,
    secret: SecretObject,
    signers: tuple[CertificateAuthority, ...],
    now: datetime,
) -> IssuerView:
    """The policy fields as the owner sets them, and revocation as the owner last published it: the
    CRLs in the CA Secret, the serials they list, the OCSP signers stored beside them."""
    signing_ca = view.signing.ca
    crl_pem = secret.data.get(CRL_KEY, b"")
    ocsp = None
    if issuer.spec.revocation.ocsp_url is not None:
        stored = stored_signers(signers, load_signers(secret.data), now)
        if stored is not None:
            validity = parse_duration(issuer.spec.revocation.ocsp_response_duration)
            ocsp = responder_inputs(signers, stored, crl_pem, validity)
    return replace(
        view,
        signing=signing_policy(view.signing, issuer),
        trust=replace(view.trust, crl_pem=crl_pem),
        revoking=Revoking(
            revoked_serials=listed_serials(crl_pem, signers),
            crl_der=crl_der_of(crl_pem, signing_ca) if signing_ca else b"",
            crl_distribution_point=issuer.spec.revocation.distribution_point_url,
            ocsp_url=issuer.spec.revocation.ocsp_url,
            ocsp=ocsp,
        ),
    )
