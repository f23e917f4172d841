"""Certificate authorities: self-signed roots, intermediates, and CAs loaded from a Secret."""

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from itertools import pairwise

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import NameOID

from certmint.pki.constraints import NameConstraintSet
from certmint.pki.errors import (
    CA_EXPIRED,
    INVALID_CERTIFICATE,
    INVALID_REQUEST,
    KEY_MISMATCH,
    NOT_A_CA,
    PKIError,
)
from certmint.pki.keys import (
    KeySpec,
    PrivateKey,
    PublicKey,
    generate_private_key,
    key_matches_certificate,
    load_private_key_pem,
)
from certmint.pki.names import (
    MAX_NAME_ATTRIBUTE,
    name_attribute_fits,
    validate_dns_name,
    validate_email,
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
    name_constraints: NameConstraintSet = field(default_factory=NameConstraintSet)
    """RFC 5280 name constraints the CA certificate carries (critical), with `permitted_dns_domains`
    added to its permitted DNS subtrees."""

    @property
    def constraints(self) -> NameConstraintSet:
        if not self.permitted_dns_domains:
            return self.name_constraints
        permitted = self.name_constraints.permitted
        merged = replace(permitted, dns=(*permitted.dns, *self.permitted_dns_domains))
        return replace(self.name_constraints, permitted=merged)


@dataclass(frozen=True)
class CertificateAuthority:
    certificate: x509.Certificate
    private_key: PrivateKey
    chain: tuple[x509.Certificate, ...] = ()
    """Intermediates above `certificate`, nearest first, up to but excluding the root; empty for a root."""
    root_certificate: x509.Certificate | None = None
    """The self-signed root above `chain`. None when `certificate` is the root itself, or when a loaded
    CA's PEM did not include its root."""

    @cached_property
    def key_identifier(self) -> bytes:
        """See key_identifier_of; computed once, not per signature."""
        return key_identifier_of(self.certificate)

    @cached_property
    def authority_key_identifier(self) -> x509.AuthorityKeyIdentifier:
        """What every certificate this CA signs carries: its key_identifier, the very bytes CRLs and
        revocations are filed under."""
        return x509.AuthorityKeyIdentifier(
            key_identifier=self.key_identifier, authority_cert_issuer=None, authority_cert_serial_number=None
        )

    @property
    def root(self) -> x509.Certificate:
        """The trust anchor to publish: the root when known, else the topmost certificate held."""
        if self.root_certificate is not None:
            return self.root_certificate
        return self.chain[-1] if self.chain else self.certificate


def key_identifier_of(ca_certificate: x509.Certificate) -> bytes:
    """The CA's subjectKeyIdentifier exactly as its certificate states it (RFC 5280 4.2.1.2 lets a CA
    choose the method, e.g. RFC 7093's SHA-256 ones), and the SHA-1 of its key only when it states
    none. Verifiers match a certificate's authorityKeyIdentifier against its issuer's SKI, and certmint
    files revocations by it: a value computed from the key would differ for such a CA."""
    try:
        return ca_certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(ca_certificate.public_key()).digest


def create_root_ca(request: CARequest, now: datetime) -> CertificateAuthority:
    validate_ca_request(request)
    key = generate_private_key(request.key)
    subject = _name(request)
    builder = _ca_builder(request, subject, subject, key.public_key(), now - BACKDATE, now + request.duration)
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
    )
    certificate = builder.sign(key, signature_hash(key))
    return CertificateAuthority(certificate=certificate, private_key=key)


def create_intermediate_ca(
    request: CARequest, parent: CertificateAuthority, now: datetime
) -> CertificateAuthority:
    validate_ca_request(request)
    require_valid_at(parent.certificate, now)
    parent_path_length = parent.certificate.extensions.get_extension_for_class(
        x509.BasicConstraints
    ).value.path_length
    if parent_path_length == 0:
        raise PKIError(
            INVALID_REQUEST,
            f"CA {parent.certificate.subject.rfc4514_string()} has path length 0 and cannot sign a CA",
        )
    key = generate_private_key(request.key)
    # An intermediate lives within its parent's validity, or verifiers reject the chain.
    not_before = max(now - BACKDATE, parent.certificate.not_valid_before_utc)
    not_after = min(now + request.duration, parent.certificate.not_valid_after_utc)
    builder = _ca_builder(
        request, _name(request), parent.certificate.subject, key.public_key(), not_before, not_after
    )
    builder = builder.add_extension(parent.authority_key_identifier, critical=False)
    certificate = builder.sign(parent.private_key, signature_hash(parent.private_key))
    if _is_self_signed(parent.certificate):
        return CertificateAuthority(certificate, key, chain=(), root_certificate=parent.certificate)
    return CertificateAuthority(
        certificate, key, chain=(parent.certificate, *parent.chain), root_certificate=parent.root_certificate
    )


MAX_CA_CHAIN = 16
"""Certificates read from a CA Secret's tls.crt: the CA and the chain above it."""


def load_ca(certificate_pem: bytes, key_pem: bytes, now: datetime) -> CertificateAuthority:
    """The first certificate is the CA; the rest its chain upwards, optionally ending with the root."""
    certificates = load_certificates_pem(certificate_pem, MAX_CA_CHAIN)
    # Loaded on every issuer reconcile: RSA primality validation (300 ms for RSA 4096, holding the
    # GIL) would stall the event loop each time. The size is checked from the header, the CRT
    # numbers against the modulus, and the key against the CA certificate below; a CA key with
    # composite factors makes signatures no one can verify, which harms only its own issuer.
    key = load_private_key_pem(key_pem, validate=False)
    certificate, above = certificates[0], certificates[1:]
    if not is_ca(certificate):
        raise PKIError(NOT_A_CA, "certificate is not a CA (needs basicConstraints CA:TRUE and keyCertSign)")
    if not key_matches_certificate(key, certificate):
        raise PKIError(KEY_MISMATCH, "private key does not match the CA certificate")
    require_valid_at(certificate, now)
    _require_issued_in_order(certificates)
    if above and _is_self_signed(above[-1]):
        return CertificateAuthority(certificate, key, chain=tuple(above[:-1]), root_certificate=above[-1])
    return CertificateAuthority(certificate, key, chain=tuple(above))


def require_valid_at(ca_certificate: x509.Certificate, now: datetime) -> None:
    """A CA outside its validity signs nothing: what it signed would not verify."""
    if not ca_certificate.not_valid_before_utc <= now < ca_certificate.not_valid_after_utc:
        raise PKIError(
            CA_EXPIRED,
            f"CA certificate {ca_certificate.subject.rfc4514_string()} is valid from "
            f"{ca_certificate.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ} "
            f"to {ca_certificate.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}, not at {now:%Y-%m-%dT%H:%M:%SZ}",
        )


def is_ca(certificate: x509.Certificate) -> bool:
    """Whether the certificate may sign certificates: basicConstraints CA:TRUE and keyUsage keyCertSign.

    RFC 5280 4.2.1.3 requires keyUsage on CA certificates, so a missing one counts as no keyCertSign.
    """
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return constraints.ca and usage.key_cert_sign


def validate_ca_request(request: CARequest) -> None:
    if not name_attribute_fits(request.common_name):
        raise PKIError(INVALID_REQUEST, f"CA common name must be 1 to {MAX_NAME_ATTRIBUTE} bytes in UTF-8")
    if request.organization is not None and not name_attribute_fits(request.organization):
        raise PKIError(INVALID_REQUEST, f"CA organization must be 1 to {MAX_NAME_ATTRIBUTE} bytes in UTF-8")
    if request.duration <= timedelta(0):
        raise PKIError(INVALID_REQUEST, "CA duration must be positive")
    if request.path_length is not None and request.path_length < 0:
        raise PKIError(INVALID_REQUEST, f"CA path length must not be negative, got {request.path_length}")
    validate_name_constraints(request.constraints)


def validate_name_constraints(constraints: NameConstraintSet) -> None:
    """Every subtree in a form verifiers accept: DNS names without a leading dot or wildcard (pyca's
    verifier refuses a leading dot), email mailboxes or hosts, URI hosts (leading dot allowed)."""
    for side in (constraints.permitted, constraints.excluded):
        wildcard = next((name for name in (*side.dns, *side.uri, *side.email) if "*" in name), None)
        if wildcard is not None:
            raise PKIError(INVALID_REQUEST, f"name constraint {wildcard!r}: a subtree has no wildcards")
        for domain in side.dns:
            if domain.startswith(("*", ".")):
                raise PKIError(
                    INVALID_REQUEST, f"DNS name constraint {domain!r} must be a domain, like ns.svc"
                )
            validate_dns_name(domain)
        for host in side.uri:
            validate_dns_name(host.removeprefix("."))
        for address in side.email:
            if "@" in address:
                validate_email(address)
            else:
                validate_dns_name(address.removeprefix("."))


def _require_issued_in_order(certificates: list[x509.Certificate]) -> None:
    """A misordered or foreign chain would make every issued certificate fail to verify."""
    for position, (child, parent) in enumerate(pairwise(certificates)):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature) as error:
            raise PKIError(
                INVALID_CERTIFICATE,
                f"certificate {position + 1} ({parent.subject.rfc4514_string()}) did not issue "
                f"certificate {position} ({child.subject.rfc4514_string()}); "
                "list the CA first, then each issuer in turn",
            ) from error


def key_usage(
    *,
    digital_signature: bool = False,
    key_encipherment: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    """The key usage bits certmint sets; every other bit stays clear."""
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _is_self_signed(certificate: x509.Certificate) -> bool:
    return certificate.issuer == certificate.subject


def _name(request: CARequest) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, request.common_name)]
    if request.organization is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, request.organization))
    return x509.Name(attributes)


def _ca_builder(
    request: CARequest,
    subject: x509.Name,
    issuer: x509.Name,
    public_key: PublicKey,
    not_before: datetime,
    not_after: datetime,
) -> x509.CertificateBuilder:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=request.path_length), critical=True)
        .add_extension(key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if request.constraints:
        builder = builder.add_extension(request.constraints.extension(), critical=True)
    return builder
