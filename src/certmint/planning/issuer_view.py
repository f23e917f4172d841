"""An Issuer as the other kinds see it: what signs, what is trusted and what revokes.

The issuer reconciler produces the view; Certificates and CSRs plan from it, TrustBundles publish
from it. Whether a change of the view reaches the Certificates or the bundles is a comparison of
the part they depend on (operator.issuer_views), so a field added to a part is never left out.
"""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certmint.api.issuer import AutoApproval, IssuancePolicy, PodCertificates
from certmint.pki import CertificateAuthority, LeafRequest
from certmint.pki.ocsp import OCSPSigner, Revocation


@dataclass(frozen=True)
class Signing:
    """What signs, and by which rules: a change here reaches every Certificate of the issuer."""

    ca: CertificateAuthority | None = field(default=None, compare=False)
    """Compared by its certificate (`ca_certificate`): a freshly loaded but identical CA is no change."""
    ca_certificate: x509.Certificate | None = field(init=False)
    previous: x509.Certificate | None = None
    """After a CA rotation: the CA that signed until `activated_at`, still trusted for a while."""
    activated_at: datetime | None = None
    reissue_window: timedelta = timedelta(0)
    """Certificates of the previous CA are re-issued spread over this window after activation."""
    default_change_window: timedelta = timedelta(0)
    """The issuer's rotation reissueWindow: once it became the default, the Certificates without
    issuerRef that a former default signed are re-issued spread over this window."""
    policy: IssuancePolicy | None = None
    allow_ca: bool = False
    """The issuer's spec.allowCA: whether it signs CA certificates at all."""
    auto_approval: AutoApproval | None = None
    """What CertificateSigningRequests for this issuer certmint approves by itself."""
    pod_certificates: PodCertificates | None = None
    """The issuer's spec.podCertificates: None when it signs no PodCertificateRequests."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "ca_certificate", self.ca.certificate if self.ca is not None else None)


@dataclass(frozen=True)
class Trust:
    """What peers are given to trust: a change here reaches the TrustBundles that publish the issuer."""

    certificates: tuple[x509.Certificate, ...] = ()
    """Every CA certificate peers must trust for this issuer: during a rotation, more than one."""
    crl_pem: bytes = b""
    """A CRL for every CA in `certificates` that certmint holds the key of."""


@dataclass(frozen=True)
class Authority:
    """A CA the responder answers for: its delegated signer and its CRL's entries by serial."""

    certificate: x509.Certificate
    signer: OCSPSigner
    revoked: Mapping[int, Revocation]


@dataclass(frozen=True)
class ResponderInputs:
    authorities: tuple[Authority, ...]
    validity: timedelta
    """nextUpdate - thisUpdate of every response; a cached one is re-signed at half of it."""

    def same_as(self, other: "ResponderInputs") -> bool:
        """Equal in everything an answer depends on (keys compare by their certificates)."""
        return _identity(self) == _identity(other)


def _identity(inputs: ResponderInputs) -> tuple[object, ...]:
    return (
        inputs.validity,
        tuple(
            (authority.certificate, authority.signer.certificate, sorted(authority.revoked.items()))
            for authority in inputs.authorities
        ),
    )


@dataclass(frozen=True)
class Revoking:
    """What revokes, and where peers learn of it. A new CRL alone reaches no Certificate: the one
    a revocation concerns waits for its issuer by itself."""

    revoked_serials: frozenset[int] = frozenset()
    crl_der: bytes = b""
    """The signing CA's CRL, as served over HTTP."""
    crl_distribution_point: str | None = None
    ocsp_url: str | None = None
    ocsp: ResponderInputs | None = None
    """What the OCSP responder answers from, for every CA of the trusted CRLs; None unless the
    issuer sets an OCSP URL."""


@dataclass(frozen=True)
class IssuerView:
    """What Certificates, CSRs and TrustBundles need to know about their Issuer."""

    exists: bool
    ready: bool
    reason: str
    message: str
    signing: Signing = Signing()
    trust: Trust = Trust()
    revoking: Revoking = Revoking()


def with_issuer_pointers(leaf: LeafRequest, issuer: IssuerView) -> LeafRequest:
    """Where peers find out about revocation: the issuer's CRL distribution point and OCSP URL."""
    revoking = issuer.revoking
    if revoking.crl_distribution_point:
        leaf = replace(leaf, crl_distribution_points=(revoking.crl_distribution_point,))
    if revoking.ocsp_url:
        leaf = replace(leaf, ocsp_urls=(revoking.ocsp_url,))
    return leaf


def fingerprint(certificate: x509.Certificate) -> str:
    """sha256 of the DER, in hex: how bundles record what they published and issuers check it."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
