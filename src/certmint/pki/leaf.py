"""Workload certificates: validating a request and signing it with a CA."""

import ipaddress
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certmint.pki.ca import BACKDATE, CertificateAuthority, key_usage, require_valid_at
from certmint.pki.errors import TOO_MANY_NAMES, PKIError
from certmint.pki.inspect import AltNames, alt_names_of
from certmint.pki.keys import KeySpec, PrivateKey, PublicKey, generate_private_key
from certmint.pki.names import (
    MAX_NAME_ATTRIBUTE,
    MAX_NAMES_PER_KIND,
    MAX_ORGANIZATIONS,
    invalid,
    name_attribute_fits,
    validate_dns_name,
    validate_email,
    validate_ip_address,
    validate_uri,
)
from certmint.pki.signing import signature_hash


class Usage(StrEnum):
    """Key usages and extended key usages, spelled as cert-manager users know them."""

    DIGITAL_SIGNATURE = "digital signature"
    KEY_ENCIPHERMENT = "key encipherment"
    SERVER_AUTH = "server auth"
    CLIENT_AUTH = "client auth"
    CODE_SIGNING = "code signing"
    EMAIL_PROTECTION = "email protection"
    CERT_SIGN = "cert sign"
    CRL_SIGN = "crl sign"


_EXTENDED = {
    Usage.SERVER_AUTH: ExtendedKeyUsageOID.SERVER_AUTH,
    Usage.CLIENT_AUTH: ExtendedKeyUsageOID.CLIENT_AUTH,
    Usage.CODE_SIGNING: ExtendedKeyUsageOID.CODE_SIGNING,
    Usage.EMAIL_PROTECTION: ExtendedKeyUsageOID.EMAIL_PROTECTION,
}


DEFAULT_EXTENDED_USAGES = (Usage.SERVER_AUTH, Usage.CLIENT_AUTH)
"""What a certificate whose usages name no extended usage is signed for. A certificate without an
extendedKeyUsage extension is valid for every purpose to OpenSSL and Go (code signing, email ...),
so certmint never signs one: the TLS default is what such a request means here."""


@dataclass(frozen=True)
class LeafRequest:
    common_name: str | None = None
    organization: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    email_addresses: tuple[str, ...] = ()
    duration: timedelta = timedelta(days=90)
    usages: tuple[Usage, ...] = ()
    """Empty: digital signature, key encipherment (RSA keys only), server auth and client auth."""
    is_ca: bool = False
    crl_distribution_points: tuple[str, ...] = ()
    ocsp_urls: tuple[str, ...] = ()

    @property
    def has_sans(self) -> bool:
        return bool(self.dns_names or self.ip_addresses or self.uris or self.email_addresses)


def require_name_counts_within_limits(
    *,
    organizations: int,
    dns_names: int,
    ip_addresses: int,
    uris: int,
    email_addresses: int,
) -> None:
    """Raises PKIError(TooManyNames) past MAX_ORGANIZATIONS or MAX_NAMES_PER_KIND. Takes counts, so a
    CSR is judged from its parsed extension before a single name is converted or validated."""
    if organizations > MAX_ORGANIZATIONS:
        raise PKIError(
            TOO_MANY_NAMES, f"{organizations} organizations; a certificate holds at most {MAX_ORGANIZATIONS}"
        )
    for kind, count in (
        ("DNS names", dns_names),
        ("IP addresses", ip_addresses),
        ("URIs", uris),
        ("email addresses", email_addresses),
    ):
        if count > MAX_NAMES_PER_KIND:
            raise PKIError(
                TOO_MANY_NAMES, f"{count} {kind}; a certificate holds at most {MAX_NAMES_PER_KIND} {kind}"
            )


def duplicates(values: Iterable[str]) -> list[str]:
    """Every value that occurs more than once, sorted; one pass with a Counter, so linear."""
    return sorted(value for value, count in Counter(values).items() if count > 1)


def validate_leaf_request(request: LeafRequest) -> None:
    """Raises PKIError: TooManyNames (checked first, before any name is looked at), InvalidRequest."""
    require_name_counts_within_limits(
        organizations=len(request.organization),
        dns_names=len(request.dns_names),
        ip_addresses=len(request.ip_addresses),
        uris=len(request.uris),
        email_addresses=len(request.email_addresses),
    )
    if not request.has_sans and not request.common_name:
        raise invalid("a certificate needs a common name or at least one subject alternative name")
    if request.common_name is not None and not name_attribute_fits(request.common_name):
        raise invalid(f"common name must be 1 to {MAX_NAME_ATTRIBUTE} bytes in UTF-8")
    for organization in request.organization:
        if not name_attribute_fits(organization):
            raise invalid(f"organization {organization!r} must be 1 to {MAX_NAME_ATTRIBUTE} bytes in UTF-8")
    if request.duration <= timedelta(0):
        raise invalid("duration must be positive")
    for name in request.dns_names:
        validate_dns_name(name)
    for address in request.ip_addresses:
        validate_ip_address(address)
    for uri in (*request.uris, *request.crl_distribution_points, *request.ocsp_urls):
        validate_uri(uri)
    for email in request.email_addresses:
        validate_email(email)
    for kind, values in (
        ("DNS name", [name.lower() for name in request.dns_names]),
        ("IP address", [str(ipaddress.ip_address(address)) for address in request.ip_addresses]),
        ("URI", list(request.uris)),
        ("email address", list(request.email_addresses)),
    ):
        repeated = duplicates(values)
        if repeated:
            raise invalid(f"duplicate {kind}: {', '.join(repeated)}")


def leaf_validity(request: LeafRequest, ca: CertificateAuthority, now: datetime) -> tuple[datetime, datetime]:
    """Valid from a minute before `now` (clock skew) until `now + duration`, both kept within the CA's
    validity: a leaf never outlives its issuer. In whole seconds, as the certificate records them."""
    return (
        max(now - BACKDATE, ca.certificate.not_valid_before_utc).replace(microsecond=0),
        min(now + request.duration, ca.certificate.not_valid_after_utc).replace(microsecond=0),
    )


def require_validity_within_ca(not_before: datetime, not_after: datetime, ca: CertificateAuthority) -> None:
    """Raises PKIError(InvalidRequest) unless notBefore < notAfter, both whole seconds, within the CA."""
    if not_before.microsecond or not_after.microsecond or not_before >= not_after:
        raise invalid(f"validity {not_before} to {not_after} is not whole seconds in order")
    if not_before < ca.certificate.not_valid_before_utc or not_after > ca.certificate.not_valid_after_utc:
        raise invalid(f"validity {not_before} to {not_after} exceeds the CA's own validity")


def requested_alt_names(request: LeafRequest) -> AltNames:
    """The subjectAltName a leaf signed for `request` carries, as alt_names reads it back."""
    return alt_names_of(_sans(request)) if request.has_sans else AltNames()


def sign_leaf(
    request: LeafRequest,
    public_key: PublicKey,
    ca: CertificateAuthority,
    now: datetime,
    serial_number: int | None = None,
    validity: tuple[datetime, datetime] | None = None,
) -> x509.Certificate:
    """Valid for leaf_validity. `serial_number`: one drawn beforehand (a plan that names it), else a
    random one. `validity`: an exact (notBefore, notAfter) decided by the caller instead (a pod
    certificate, whose status must repeat both); it must lie within the CA's validity, in whole
    seconds."""
    validate_leaf_request(request)
    require_valid_at(ca.certificate, now)
    subject = _subject(request)
    not_before, not_after = leaf_validity(request, ca, now) if validity is None else validity
    if validity is not None:
        require_validity_within_ca(not_before, not_after, ca)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(serial_number if serial_number is not None else x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.BasicConstraints(ca=request.is_ca, path_length=_path_length(request)), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(ca.authority_key_identifier, critical=False)
    )
    usages = _usages(request, public_key)
    key_usage = _key_usage(usages)
    # RFC 5280 4.2.1.3: when present, at least one bit must be set.
    if key_usage is not None:
        builder = builder.add_extension(key_usage, critical=True)
    # Never empty: effective_usages always names an extended usage.
    extended = [_EXTENDED[usage] for usage in usages if usage in _EXTENDED]
    builder = builder.add_extension(x509.ExtendedKeyUsage(extended), critical=False)
    if request.has_sans:
        # RFC 5280: with an empty subject, the SAN extension carries the identity and is critical.
        builder = builder.add_extension(_sans(request), critical=len(subject) == 0)
    if request.crl_distribution_points:
        points = [
            x509.DistributionPoint([x509.UniformResourceIdentifier(url)], None, None, None)
            for url in request.crl_distribution_points
        ]
        builder = builder.add_extension(x509.CRLDistributionPoints(points), critical=False)
    if request.ocsp_urls:
        access = [
            x509.AccessDescription(
                x509.oid.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(url)
            )
            for url in request.ocsp_urls
        ]
        builder = builder.add_extension(x509.AuthorityInformationAccess(access), critical=False)
    return builder.sign(ca.private_key, signature_hash(ca.private_key))


def _path_length(request: LeafRequest) -> int | None:
    """A sub-CA may sign only end-entity certificates: it can never mint CAs of its own."""
    return 0 if request.is_ca else None


def issue_leaf(
    request: LeafRequest, key_spec: KeySpec, ca: CertificateAuthority, now: datetime
) -> tuple[PrivateKey, x509.Certificate]:
    key = generate_private_key(key_spec)
    return key, sign_leaf(request, key.public_key(), ca, now)


def _subject(request: LeafRequest) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, org) for org in request.organization]
    if request.common_name:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, request.common_name))
    return x509.Name(attributes)


def _sans(request: LeafRequest) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in request.dns_names]
    names += [x509.IPAddress(ipaddress.ip_address(address)) for address in request.ip_addresses]
    names += [x509.UniformResourceIdentifier(uri) for uri in request.uris]
    names += [x509.RFC822Name(email) for email in request.email_addresses]
    return x509.SubjectAlternativeName(names)


def _usages(request: LeafRequest, public_key: PublicKey) -> tuple[Usage, ...]:
    return effective_usages(request, rsa_key=isinstance(public_key, rsa.RSAPublicKey))


def effective_usages(request: LeafRequest, *, rsa_key: bool) -> tuple[Usage, ...]:
    """Exactly what the certificate is signed for, each once, in request order: the requested usages
    (or the defaults for this key type), plus DEFAULT_EXTENDED_USAGES when they name no extended
    usage, plus cert sign and crl sign for a CA. Policies and auto-approval judge this, never the
    bare request.

    Sub-CAs get the default extended usages too: an extendedKeyUsage on a CA limits what OpenSSL
    and Go accept anything below it for, so a sub-CA without one could sign for any purpose, past a
    policy that allows TLS only."""
    usages = request.usages or (
        Usage.DIGITAL_SIGNATURE,
        *((Usage.KEY_ENCIPHERMENT,) if rsa_key else ()),
        *DEFAULT_EXTENDED_USAGES,
    )
    if not any(usage in _EXTENDED for usage in usages):
        usages = (*usages, *DEFAULT_EXTENDED_USAGES)
    if request.is_ca:
        usages = (*usages, Usage.CERT_SIGN, Usage.CRL_SIGN)
    return tuple(dict.fromkeys(usages))


def _key_usage(usages: tuple[Usage, ...]) -> x509.KeyUsage | None:
    flags = {
        "digital_signature": Usage.DIGITAL_SIGNATURE in usages,
        "key_encipherment": Usage.KEY_ENCIPHERMENT in usages,
        "key_cert_sign": Usage.CERT_SIGN in usages,
        "crl_sign": Usage.CRL_SIGN in usages,
    }
    if not any(flags.values()):
        return None
    return key_usage(**flags)
