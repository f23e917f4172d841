"""Validation of subject alternative names, as strict as the verifiers that will read them."""

import ipaddress
import re
from urllib.parse import urlsplit

from certmint.pki.errors import INVALID_REQUEST, PKIError

_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_SPIFFE_TRUST_DOMAIN = re.compile(r"[a-z0-9._-]+")
_SPIFFE_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
# X.509 carries email addresses as IA5String: printable ASCII, here without spaces or a second "@".
_EMAIL = re.compile(r"[\x21-\x3f\x41-\x7e]+@[\x21-\x3f\x41-\x7e]+")
MAX_SPIFFE_ID_BYTES = 2048
# RFC 5280 upper bounds ub-common-name and ub-organization-name; cryptography enforces the first.
MAX_NAME_ATTRIBUTE = 64
MAX_NAMES_PER_KIND = 256
"""Most names of one kind (DNS names, IP addresses, URIs, email addresses) one certificate may
carry: the Certificate CRD's maxItems, and the cap on a CSR's SANs. No workload needs more, and
every name costs validation work and bytes in every TLS handshake."""
MAX_ORGANIZATIONS = 16
"""Most O attributes in a subject: the Certificate CRD's maxItems, and the cap on a CSR's subject."""


def name_attribute_fits(value: str) -> bool:
    """RFC 5280's 64-character bounds, counted the way cryptography enforces them: in UTF-8 bytes,
    so 64 non-ASCII characters do not fit."""
    return 0 < len(value.encode()) <= MAX_NAME_ATTRIBUTE


# Parsing every DNS name as an IP address is the slowest check; most names cannot be one. No "%": an
# IPv6 zone is local to a host and cannot be encoded in a certificate.
_IP_CHARACTERS = frozenset("0123456789abcdefABCDEF.:")


def invalid(message: str) -> PKIError:
    return PKIError(INVALID_REQUEST, message)


def validate_dns_name(name: str) -> None:
    if not name:
        raise invalid("DNS name is empty")
    if len(name) > 253:
        raise invalid(f"DNS name {name[:40]}... is longer than 253 characters")
    if _is_ip(name):
        raise invalid(f"DNS name {name!r} is an IP address; put it in ipAddresses")
    labels = name.lower().split(".")
    if labels[0] == "*":
        if len(labels) < 3:
            raise invalid(
                f"wildcard DNS name {name!r} must cover a domain of at least two labels, like *.example.com"
            )
        labels = labels[1:]
    for label in labels:
        if "*" in label:
            raise invalid(f"DNS name {name!r}: a wildcard may only be the whole left-most label")
        if not _LABEL.fullmatch(label):
            raise invalid(
                f"DNS name {name!r}: label {label!r} must be 1-63 letters, digits or hyphens, "
                "not starting or ending with a hyphen"
            )


def validate_ip_address(address: str) -> None:
    if not _is_ip(address):
        raise invalid(f"{address!r} is not an IPv4 or IPv6 address")


def validate_uri(uri: str) -> None:
    # X.509 carries URIs as IA5String: non-ASCII must arrive already percent- or IDNA-encoded.
    if not uri.isascii() or not uri.isprintable() or " " in uri:
        raise invalid(f"URI {uri!r} must be ASCII without spaces; percent-encode anything else")
    try:
        parts = urlsplit(uri)
    except ValueError as error:
        raise invalid(f"URI {uri!r} does not parse: {error}") from error
    if not parts.scheme or not (parts.netloc or parts.path):
        raise invalid(f"URI {uri!r} needs a scheme and a host or path")
    if parts.scheme.lower() == "spiffe":
        validate_spiffe_id(uri)


def validate_spiffe_id(uri: str) -> None:
    """The SPIFFE ID rules of the SPIFFE standard (spiffe-id.md)."""
    if len(uri.encode()) > MAX_SPIFFE_ID_BYTES:
        raise invalid(f"SPIFFE ID is longer than {MAX_SPIFFE_ID_BYTES} bytes")
    if not uri.startswith("spiffe://"):
        raise invalid(f"SPIFFE ID {uri!r} must start with lowercase spiffe://")
    parts = urlsplit(uri)
    if "?" in uri or "#" in uri:
        raise invalid(f"SPIFFE ID {uri!r} must not have a query or fragment")
    if "@" in parts.netloc or ":" in parts.netloc:
        raise invalid(f"SPIFFE ID {uri!r} must not have user info or a port")
    if not parts.netloc or not _SPIFFE_TRUST_DOMAIN.fullmatch(parts.netloc):
        raise invalid(f"SPIFFE ID {uri!r}: trust domain must be lowercase letters, digits, '.', '-' or '_'")
    if parts.path == "/":
        raise invalid(f"SPIFFE ID {uri!r} must not end with '/'")
    for segment in parts.path.split("/")[1:]:
        if segment in ("", ".", ".."):
            raise invalid(f"SPIFFE ID {uri!r}: path segments must not be empty, '.' or '..'")
        if not _SPIFFE_SEGMENT.fullmatch(segment):
            raise invalid(
                f"SPIFFE ID {uri!r}: path segment {segment!r} may only use letters, digits, '.', '-', '_'"
            )


def validate_email(address: str) -> None:
    if not _EMAIL.fullmatch(address):
        raise invalid(f"{address!r} is not an email address (local@domain)")
    domain = address.rsplit("@", 1)[1]
    if "*" in domain:
        raise invalid(f"email address {address!r} must not have a wildcard domain")
    validate_dns_name(domain)


def _is_ip(text: str) -> bool:
    if not _IP_CHARACTERS.issuperset(text):
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
