"""An Issuer as the other kinds see it: what Certificates, CSRs and TrustBundles need to know."""

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certmint.api.issuer import AutoApproval, IssuancePolicy
from certmint.pki import CertificateAuthority, LeafRequest
from certmint.planning.issuers.ocsp import OCSPResponder


@dataclass(frozen=True)
class IssuerView:
    """What the Certificate side needs to know about its Issuer."""

    exists: bool
    ready: bool
    reason: str
    message: str
    ca: CertificateAuthority | None = None
    trust: tuple[x509.Certificate, ...] = ()
    """Every CA certificate peers must trust for this issuer: during a rotation, more than one."""
    previous: x509.Certificate | None = None
    """After a CA rotation: the CA that signed until `activated_at`, still trusted for a while."""
    activated_at: datetime | None = None
    reissue_window: timedelta = timedelta(0)
    """Certificates of the previous CA are re-issued spread over this window after activation."""
    policy: IssuancePolicy | None = None
    revoked_serials: frozenset[int] = frozenset()
    crl_pem: bytes = b""
    """A CRL for every CA in `trust` that certmint holds the key of."""
    crl_der: bytes = b""
    """The signing CA's CRL, as served over HTTP."""
    crl_distribution_point: str | None = None
    allow_ca: bool = False
    """The issuer's spec.allowCA: whether it signs CA certificates at all."""
    ocsp: OCSPResponder | None = None
    """Answers OCSP requests for every CA of `crl_pem`; None unless the issuer sets an OCSP URL."""
    ocsp_url: str | None = None
    auto_approval: AutoApproval | None = None
    """What CertificateSigningRequests for this issuer certmint approves by itself."""


def with_issuer_pointers(leaf: LeafRequest, issuer: IssuerView) -> LeafRequest:
    """Where peers find out about revocation: the issuer's CRL distribution point and OCSP URL."""
    if issuer.crl_distribution_point:
        leaf = replace(leaf, crl_distribution_points=(issuer.crl_distribution_point,))
    if issuer.ocsp_url:
        leaf = replace(leaf, ocsp_urls=(issuer.ocsp_url,))
    return leaf


def fingerprint(certificate: x509.Certificate) -> str:
    """sha256 of the DER, in hex: how bundles record what they published and issuers check it."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
