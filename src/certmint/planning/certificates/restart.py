"""The restart fast path: a Certificate whose status, generation and Secret agree is scheduled from
them, without the triggers' signature verification and name comparisons.

At a restart every Certificate is planned once. Almost all of them were issued by certmint and have
not changed since; planning them in full verifies every certificate's signature again. This check
proves the same outcome (no trigger fires) from facts that cost no public-key operation, and falls
back to the full triggers whenever one of them does not hold. It never trusts a field a tenant could
have changed while the operator was down without that change showing:

- the Certificate: Ready for its current generation, and its status (which only certmint writes)
  names the serial, validity, renewal time and issuer of the certificate in the Secret;
- the Secret: its data keys were last written by certmint's field manager, at the issuance the status
  records (managedFields keep the time of each manager's last change: anyone who rewrote tls.crt
  after it, under any manager name, moved that time or took the key over), its annotations record
  the same serial, spec digest, issuer, Certificate UID and requests, and its key matches;
- the issuer: its current CA's key identifier is the one the certificate names as its authority (a
  CA replaced or rotated while the operator was down has another key).

Everything the gates check (policy, name constraints, ownership) and the metadata heal still run.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509

from certmint.api.certificate import CertificateStatus
from certmint.api.common import ConditionStatus
from certmint.api.kinds import READY
from certmint.pki import serial_hex
from certmint.pki.ca import BACKDATE
from certmint.planning import labels
from certmint.planning.certificates.renewal import renewal_time
from certmint.planning.certificates.results import CurrentCertificate, Wait
from certmint.planning.certificates.secret import issuer_annotations, output_keys
from certmint.planning.certificates.secret_view import TLS_SECRET_TYPE, SecretView
from certmint.planning.contest import OWN_MANAGER_PREFIX
from certmint.planning.defaults import Resolved
from certmint.planning.issuer_view import IssuerView
from certmint.planning.markings import FIELD_MANAGER
from certmint.planning.request import IssuanceSpec

WRITE_AFTER_SIGNING = timedelta(seconds=60)
"""How long after the issuance certmint's write of the Secret may be recorded (signing, a loaded
API server): the window in which its managedFields time counts as that issuance's write."""


@dataclass(frozen=True)
class Recorded:
    """What the Certificate says of itself: its generation, its UID and the status certmint wrote."""

    generation: int
    uid: str
    status: CertificateStatus


def unchanged_since_issued(
    recorded: Recorded,
    current: CurrentCertificate,
    spec: IssuanceSpec,
    issuer: IssuerView,
    secret: SecretView,
    resolved: Resolved | None,
    now: datetime,
) -> Wait | None:
    """The plan when everything agrees (the same Wait the triggers would reach); None when anything
    differs, and the Certificate is planned in full."""
    status = recorded.status
    certificate = current.certificate
    if not (
        _ready_for(status, recorded.generation)
        and _status_names(status, certificate, resolved)
        and _secret_records(secret, status, spec, recorded.uid, resolved)
        and _written_at_issuance(secret, spec, certificate)
        and _signed_by_current_ca(certificate, issuer)
        and current.key_matches
        and current.key_spec == spec.key
    ):
        return None
    renew_at = renewal_time(
        certificate.not_valid_before_utc,
        certificate.not_valid_after_utc,
        spec.renew_before,
        spec.renew_before_percentage,
        recorded.uid,
        spec.leaf.duration,
    )
    if status.renewal_time != renew_at or now >= renew_at or now >= certificate.not_valid_after_utc:
        return None
    return Wait(current=current, renewal_time=renew_at, from_status=True)


def _ready_for(status: CertificateStatus, generation: int) -> bool:
    ready = next((c for c in status.conditions if c.type == READY), None)
    return (
        ready is not None
        and ready.status == ConditionStatus.TRUE
        and ready.observed_generation == generation
        and status.observed_generation == generation
    )


def _status_names(
    status: CertificateStatus, certificate: x509.Certificate, resolved: Resolved | None
) -> bool:
    """The status describes this very certificate, from the issuer the Certificate names itself (a
    follower of the default issuer is always planned in full: the default may have moved)."""
    return (
        resolved is not None
        and resolved.default_since is None
        and status.issuer_ref == resolved.ref
        and status.serial_number == serial_hex(certificate.serial_number)
        and status.not_before == certificate.not_valid_before_utc
        and status.not_after == certificate.not_valid_after_utc
    )


def _secret_records(
    secret: SecretView, status: CertificateStatus, spec: IssuanceSpec, uid: str, resolved: Resolved | None
) -> bool:
    annotations = secret.annotations
    wanted = {
        labels.SERIAL_NUMBER: status.serial_number,
        labels.SPEC_DIGEST: spec.digest,
        labels.CERTIFICATE_UID: uid,
        labels.RENEW_REQUEST: spec.renew_request or None,
        **(issuer_annotations(resolved.ref) if resolved is not None else {}),
    }
    return (
        spec.revoke is None
        and secret.secret_type == TLS_SECRET_TYPE
        and all(annotations.get(key) == value for key, value in wanted.items())
        and set(output_keys(spec)) <= secret.present_keys
    )


def _written_at_issuance(secret: SecretView, spec: IssuanceSpec, certificate: x509.Certificate) -> bool:
    """tls.crt was last written by certmint's field manager at this certificate's issuance (between
    its notBefore and shortly after notBefore + the back-dating), and no other manager holds any of
    the data keys certmint writes. managedFields times are whole seconds."""
    keys = set(output_keys(spec))
    holders = [writer for writer in secret.writers if writer.keys & keys]
    if any(not writer.manager.startswith(OWN_MANAGER_PREFIX) for writer in holders):
        return False
    writer = next((w for w in holders if "tls.crt" in w.keys), None)
    if writer is None or writer.manager != FIELD_MANAGER or writer.time is None:
        return False
    issued_from = certificate.not_valid_before_utc - timedelta(seconds=1)
    return issued_from <= writer.time <= certificate.not_valid_before_utc + BACKDATE + WRITE_AFTER_SIGNING


def _signed_by_current_ca(certificate: x509.Certificate, issuer: IssuerView) -> bool:
    """The certificate names the current CA's key as its authority and the CA's subject as its issuer;
    no rotation overlap is running (a previous CA's certificates have their own re-issue points), and
    its serial is not revoked."""
    signing = issuer.signing
    ca = signing.ca
    if ca is None or signing.previous is not None or certificate.issuer != ca.certificate.subject:
        return False
    if certificate.serial_number in issuer.revoking.revoked_serials:
        return False
    try:
        authority = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        return False
    return authority.key_identifier == ca.key_identifier
