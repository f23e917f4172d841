"""Rules on the names a Certificate asks for that hold for every issuer, with or without a policy."""

import unicodedata
from urllib.parse import urlsplit

from certmint.pki import PKIError, validate_spiffe_id
from certmint.planning.request import IssuanceSpec

UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
"""Unicode categories refused in every name and subject field: controls (NUL, newline, escape, DEL,
C1), format characters (bidi overrides, zero-width joiners), lone surrogates, and the line and
paragraph separators U+2028 and U+2029, which split a line wherever Unicode-aware tools (logs, JSON
viewers, JavaScript) display it. Ordinary spaces (Zs) stay allowed in subject fields."""


def control_character_field(spec: IssuanceSpec) -> str | None:
    """A message naming the first name or subject field holding an UNPRINTABLE_CATEGORIES character:
    such a name displays as something it is not."""
    leaf = spec.leaf
    fields: list[tuple[str, str]] = [
        *((("commonName", leaf.common_name),) if leaf.common_name is not None else ()),
        *(("organizations", value) for value in leaf.organization),
        *(("dnsNames", value) for value in leaf.dns_names),
        *(("ipAddresses", value) for value in leaf.ip_addresses),
        *(("uris", value) for value in leaf.uris),
        *(("emailAddresses", value) for value in leaf.email_addresses),
    ]
    for field, value in fields:
        bad = next((char for char in value if unicodedata.category(char) in UNPRINTABLE_CATEGORIES), None)
        if bad is not None:
            kind = "separator" if unicodedata.category(bad) in ("Zl", "Zp") else "control character"
            return f"{field}: {value!r} contains the {kind} U+{ord(bad):04X}"
    return None


URI_SCHEMES = frozenset({"spiffe", "https", "http", "urn"})
"""The URI SANs workloads identify with; anything else (javascript:, data:, file: ...) is no identity
a TLS peer should see, with or without a policy."""


def uri_scheme_denial(spec: IssuanceSpec) -> str | None:
    for uri in spec.leaf.uris:
        scheme = urlsplit(uri).scheme
        if scheme not in URI_SCHEMES:
            allowed = ", ".join(sorted(URI_SCHEMES))
            return f"uris: {uri!r} has scheme {scheme or 'none'}; certmint signs URI SANs of {allowed} only"
    return None


def spiffe_denial(spec: IssuanceSpec) -> str | None:
    """SPIFFE IDs only in the operator's trust domain and only of the Certificate's own namespace:
    spiffe://<trustDomain>/ns/<namespace>/..., parsed per the SPIFFE standard (exact, case-sensitive
    path; a lowercase scheme and trust domain). Anything else is another workload's identity."""
    for uri in spec.leaf.uris:
        if urlsplit(uri).scheme.lower() != "spiffe":
            continue
        try:
            validate_spiffe_id(uri)
        except PKIError as error:
            return f"identity: {error.message}"
        parts = urlsplit(uri)
        if parts.netloc != spec.trust_domain:
            return (
                f"identity: {uri} is in trust domain {parts.netloc}; this operator issues SPIFFE IDs only "
                f"in its trust domain {spec.trust_domain}"
            )
        segments = parts.path.split("/")[1:]
        if len(segments) < 2 or segments[0] != "ns":
            return f"identity: {uri} must have the form spiffe://{spec.trust_domain}/ns/{spec.namespace}/..."
        if segments[1] != spec.namespace:
            return (
                f"identity: {uri} names namespace {segments[1]}; a Certificate in namespace "
                f"{spec.namespace} may only receive identities of its own namespace"
            )
    return None
