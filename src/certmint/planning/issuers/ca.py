"""Pure decisions about an Issuer's CA: use it, generate it, or report why it cannot be used."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from certmint.api import Issuer, parse_duration
from certmint.api.issuer import MIN_CA_DURATION, MIN_PROPAGATION_DELAY, MIN_REISSUE_WINDOW, SCHEDULE_MESSAGE
from certmint.pki import CARequest, CertificateAuthority, PKIError, key_spec, load_ca, validate_ca_request
from certmint.pki.ca import BACKDATE
from certmint.planning import labels, reasons
from certmint.planning.constraints import ClusterNames, ca_name_constraints

# PKI failure reasons as an Issuer's Ready condition reports them.
_CONDITION_REASONS = {
    reasons.INVALID_CERTIFICATE: reasons.CA_SECRET_INVALID,
    reasons.INVALID_KEY: reasons.CA_SECRET_INVALID,
    reasons.NOT_A_CA: reasons.NOT_A_CA,
    reasons.KEY_MISMATCH: reasons.CA_KEY_MISMATCH,
    reasons.CA_EXPIRED: reasons.CA_EXPIRED,
}


@dataclass(frozen=True)
class UseCA:
    ca: CertificateAuthority


@dataclass(frozen=True)
class GenerateCA:
    reason: str
    request: CARequest


@dataclass(frozen=True)
class CAUnusable:
    reason: str
    message: str


CAPlan = UseCA | GenerateCA | CAUnusable


def ca_secret_name(issuer: Issuer) -> str:
    if issuer.spec.self_signed is not None:
        return issuer.spec.self_signed.secret_name or f"{issuer.metadata.name}-ca"
    if issuer.spec.ca is not None:
        return issuer.spec.ca.secret_name
    raise ValueError("issuer has no type")


def ca_request(issuer: Issuer, names: ClusterNames | None = None) -> CARequest:
    """Raises ValueError for a spec no CA can be made from. `names`: the cluster domain, of which a
    namespaced Issuer's default name constraints are made."""
    self_signed = issuer.spec.self_signed
    if self_signed is None:
        raise ValueError("only selfSigned issuers generate their CA")
    return CARequest(
        common_name=self_signed.common_name or f"certmint {issuer.metadata.name}"[:64],
        organization=self_signed.organization,
        duration=parse_duration(self_signed.ca_duration),
        key=key_spec(self_signed.private_key.algorithm, self_signed.private_key.size),
        path_length=0,
        name_constraints=ca_name_constraints(issuer, names or ClusterNames()),
    )


def plan_ca(
    issuer: Issuer,
    secret_data: Mapping[str, bytes] | None,
    secret_is_ours: bool,
    now: datetime,
    names: ClusterNames | None = None,
) -> CAPlan:
    """`secret_is_ours`: the Secret carries certmint's CA label, so replacing an expired CA loses nothing."""
    name = ca_secret_name(issuer)
    generates = issuer.spec.self_signed is not None
    unusable = spec_error(issuer, names)
    if unusable is not None:
        return unusable
    if secret_data is None:
        if generates:
            return GenerateCA(reasons.CA_GENERATED, ca_request(issuer, names))
        return CAUnusable(reasons.CA_SECRET_NOT_FOUND, f"CA Secret {name} not found")
    cert_pem = secret_data.get("tls.crt")
    key_pem = secret_data.get("tls.key")
    if not cert_pem or not key_pem:
        return CAUnusable(reasons.CA_SECRET_INVALID, f"CA Secret {name} must hold tls.crt and tls.key")
    try:
        return UseCA(load_ca(cert_pem, key_pem, now))
    except PKIError as error:
        if error.reason == reasons.CA_EXPIRED and generates and secret_is_ours:
            return GenerateCA(reasons.CA_EXPIRED, ca_request(issuer, names))
        reason = _CONDITION_REASONS.get(error.reason, reasons.CA_SECRET_INVALID)
        return CAUnusable(reason, f"CA Secret {name}: {error.message}")


def foreign_ca_secret(
    kind: str, namespace: str, name: str, secret_name: str, annotations: Mapping[str, str]
) -> CAUnusable | None:
    """A selfSigned issuer signs with, and rotates into, only a CA Secret certmint made for it (its
    annotations name this issuer: certmint writes them when it creates the Secret). Another Secret of
    that name, a CA someone else keeps there, is neither used nor written: else whoever may create
    Issuers could sign with a CA they may not even read, by naming its Secret in secretName.
    Starting from an existing CA is what importFrom, with the Secret's invitation, is for."""
    made_for = (
        annotations.get(labels.ISSUER_KIND),
        annotations.get(labels.ISSUER_NAMESPACE, ""),
        annotations.get(labels.ISSUER_NAME),
    )
    if made_for == (kind, namespace, name):
        return None
    return CAUnusable(
        reasons.CA_SECRET_NOT_OWNED,
        f"Secret {secret_name} exists and certmint did not create it for this issuer, so it neither "
        f"signs with it nor writes it; choose another secretName, or to start from the CA it holds "
        f"name it in importFrom (with another secretName) and annotate it "
        f"{labels.ALLOW_IMPORT_BY}={kind}/{name}",
    )


def spec_error(issuer: Issuer, names: ClusterNames | None = None) -> CAUnusable | None:
    """A selfSigned spec the schema let through but no CA can be made from (now, or at its next
    rotation) is the Issuer's error to report."""
    if issuer.spec.self_signed is None:
        return None
    try:
        validate_ca_request(ca_request(issuer, names))
        schedule = schedule_error(issuer)
    except PKIError as error:
        return CAUnusable(error.reason, error.message)
    except ValueError as error:
        return CAUnusable(reasons.INVALID_SPEC, str(error))
    if schedule is not None:
        return CAUnusable(reasons.ROTATION_SCHEDULE_INVALID, schedule)
    return None


def schedule_error(issuer: Issuer) -> str | None:
    """Why a selfSigned spec's CA lifetime and rotation could loop: the API server's rules
    (certmint.api.issuer), checked again for Issuers stored before them. In whole seconds, as CEL's
    getSeconds() counts, so whatever the API server admits passes here too."""
    self_signed = issuer.spec.self_signed
    if self_signed is None:
        return None
    rotation = self_signed.rotation
    values = {
        "caDuration": (self_signed.ca_duration, MIN_CA_DURATION),
        "propagationDelay": (rotation.propagation_delay, MIN_PROPAGATION_DELAY),
        "reissueWindow": (rotation.reissue_window, MIN_REISSUE_WINDOW),
    }
    seconds = {}
    for name, (value, minimum) in values.items():
        parsed = parse_duration(value)
        if parsed < parse_duration(minimum):
            return f"{name} must be at least {minimum}"
        seconds[name] = int(parsed.total_seconds())
    percentage = rotation.rotate_before_percentage
    signing = seconds["caDuration"] * (100 - percentage) - int(BACKDATE.total_seconds()) * percentage
    if signing < 100 * (2 * seconds["propagationDelay"] + seconds["reissueWindow"]):
        return SCHEDULE_MESSAGE
    return None
