"""What planning decides for a Certificate: issue, fail, wait or revoke."""

from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from certmint.pki import KeySpec
from certmint.planning.gates import Fail
from certmint.planning.request import RevokeRequest


@dataclass(frozen=True)
class CurrentCertificate:
    """The certificate a healthy Secret holds, and what is known of its key."""

    certificate: x509.Certificate
    key_spec: KeySpec
    key_matches: bool


@dataclass(frozen=True)
class Issue:
    reason: str
    message: str


@dataclass(frozen=True)
class Wait:
    current: CurrentCertificate
    renewal_time: datetime
    former_default: bool = False
    """A former default issuer signed the certificate and its re-issue is not due yet: the Secret
    keeps recording that issuer until then."""
    from_status: bool = False
    """Decided by the restart fast path (planning.certificates.restart), not by the triggers."""


@dataclass(frozen=True)
class Revoke:
    """Put the current certificate on the issuer's CRL, then plan again."""

    certificate: x509.Certificate
    request: RevokeRequest


Plan = Issue | Fail | Wait | Revoke
