"""A summary of a certificate, for status, events and the CLI."""

import string
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from certmint.pki.ca import is_ca


@dataclass(frozen=True)
class CertificateSummary:
    subject: str
    issuer: str
    serial_number: str
    not_before: datetime
    not_after: datetime
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    uris: tuple[str, ...]
    email_addresses: tuple[str, ...]
    key_type: str
    sha256_fingerprint: str
    is_ca: bool


def serial_hex(serial: int) -> str:
    """A serial as `openssl x509 -serial` prints it: uppercase hex, whole octets (leading zeros kept).

    Every serial certmint shows (status, CLI, events, logs, stored revocations) is written this way.
    """
    sign = "-" if serial < 0 else ""
    digits = format(abs(serial), "X")
    return sign + digits.zfill(len(digits) + len(digits) % 2)


def parse_serial(text: str) -> int:
    """Reads a serial in any hex form certmint ever wrote or users paste: `0A1B`, `a1b`, `0a:1b`, `0x0a1b`.

    Raises ValueError for anything else.
    """
    digits = text.strip().replace(":", "")
    negative = digits.startswith("-")
    digits = digits.removeprefix("-")
    if digits[:2].lower() == "0x":
        digits = digits[2:]
    if not digits or any(char not in string.hexdigits for char in digits):
        raise ValueError(f"{text!r} is not a hexadecimal serial number")
    value = int(digits, 16)
    return -value if negative else value


@dataclass(frozen=True)
class AltNames:
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[str, ...] = ()
    uris: tuple[str, ...] = ()
    email_addresses: tuple[str, ...] = ()


def alt_names(cert: x509.Certificate) -> AltNames:
    """Only the subjectAltName: what planning compares on every reconcile, without the cost of
    rendering subject, issuer and fingerprint that a whole summary pays."""
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return AltNames()
    return alt_names_of(sans)


def alt_names_of(sans: x509.SubjectAlternativeName) -> AltNames:
    return AltNames(
        dns_names=tuple(sans.get_values_for_type(x509.DNSName)),
        ip_addresses=tuple(str(ip) for ip in sans.get_values_for_type(x509.IPAddress)),
        uris=tuple(sans.get_values_for_type(x509.UniformResourceIdentifier)),
        email_addresses=tuple(sans.get_values_for_type(x509.RFC822Name)),
    )


def summarize_certificate(cert: x509.Certificate) -> CertificateSummary:
    names = alt_names(cert)
    return CertificateSummary(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial_number=serial_hex(cert.serial_number),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        dns_names=names.dns_names,
        ip_addresses=names.ip_addresses,
        uris=names.uris,
        email_addresses=names.email_addresses,
        key_type=key_type(cert),
        sha256_fingerprint=cert.fingerprint(hashes.SHA256()).hex(),
        is_ca=is_ca(cert),
    )


def key_type(cert: x509.Certificate) -> str:
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ECDSA P-{key.curve.key_size}"
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    return type(key).__name__
