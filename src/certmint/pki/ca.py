"""Certificate authorities: self-signed roots, intermediates, and CAs loaded from a Secret."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from cryptography import x509
from cryptography.x509.oid import NameOID

from certmint.pki.errors import PKIError
from certmint.pki.keys import (
    KeySpec,
    PrivateKey,
    PublicKey,
    generate_private_key,
    key_matches_certificate,
    load_private_key_pem,
)
from certmint.pki.pem import load_certificates_pem
from certmint.pki.signing import signature_hash

# Clocks of nodes disagree a little; a certificate valid "from now" would be rejected by some.
BACKDATE = timedelta(minutes=1)


@dataclass(frozen=True)
class CARequest:
    common_name: str
    duration: timedelta
    key: KeySpec = field(default_factory=KeySpec)
    organization: str | None = None
    path_length: int | None = None
    permitted_dns_domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class CertificateAuthority:
    certificate: x509.Certificate
    private_key: PrivateKey
    chain: tuple[x509.Certificate, ...] = ()
    """Certificates above `certificate`, nearest first; a root, when known, is last."""

    @cached_property
    def authority_key_identifier(self) -> x509.AuthorityKeyIdentifier:
        """What every certificate this CA signs carries; computed once, not per signature."""
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(self.private_key.public_key())

    @property
    def root(self) -> x509.Certificate:
        """The self-signed top of the chain, or the top known certificate when the root is not held."""
        return self.chain[-1] if self.chain else self.certificate


def create_root_ca(request: CARequest, now: datetime) -> CertificateAuthority:
    key = generate_private_key(request.key)
    subject = _name(request)
    builder = _ca_builder(request, subject, subject, key.public_key(), now, now + request.duration)
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
    )
    certificate = builder.sign(key, signature_hash(key))
    return CertificateAuthority(certificate=certificate, private_key=key)


def create_intermediate_ca(
    request: CARequest, parent: CertificateAuthority, now: datetime
) -> CertificateAuthority:
    key = generate_private_key(request.key)
    # An intermediate never outlives its parent.
    not_after = min(now + request.duration, parent.certificate.not_valid_after_utc)
    builder = _ca_builder(
        request, _name(request), parent.certificate.subject, key.public_key(), now, not_after
    )
    builder = builder.add_extension(parent.authority_key_identifier, critical=False)
    certificate = builder.sign(parent.private_key, signature_hash(parent.private_key))
    return CertificateAuthority(
        certificate=certificate, private_key=key, chain=(parent.certificate, *parent.chain)
    )


def load_ca(certificate_pem: bytes, key_pem: bytes, now: datetime) -> CertificateAuthority:
    """The first certificate is the CA; the rest, its chain upwards."""
    certificates = load_certificates_pem(certificate_pem)
    key = load_private_key_pem(key_pem)
    certificate = certificates[0]
    if not is_ca(certificate):
        raise PKIError("NotACA", "certificate is not a CA (needs basicConstraints CA:TRUE and keyCertSign)")
    if not key_matches_certificate(key, certificate):
        raise PKIError("KeyMismatch", "private key does not match the CA certificate")
    if not certificate.not_valid_before_utc <= now < certificate.not_valid_after_utc:
        raise PKIError(
            "CAExpired",
            f"CA certificate is valid from {certificate.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ} "
            f"to {certificate.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}, not now",
        )
    return CertificateAuthority(certificate=certificate, private_key=key, chain=tuple(certificates[1:]))


def is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return constraints.ca  # RFC 5280 allows a CA without keyUsage
    return constraints.ca and usage.key_cert_sign


def _name(request: CARequest) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, request.common_name)]
    if request.organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, request.organization))
    return x509.Name(attributes)


def _ca_builder(
    request: CARequest,
    subject: x509.Name,
    issuer: x509.Name,
    public_key: PublicKey,
    now: datetime,
    not_after: datetime,
) -> x509.CertificateBuilder:
    if request.duration <= timedelta(0):
        raise PKIError("InvalidRequest", "CA duration must be positive")
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=request.path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if request.permitted_dns_domains:
        builder = builder.add_extension(
            x509.NameConstraints(
                permitted_subtrees=[x509.DNSName(domain) for domain in request.permitted_dns_domains],
                excluded_subtrees=None,
            ),
            critical=True,
        )
    return builder
