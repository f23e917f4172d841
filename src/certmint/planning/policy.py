"""Identity policy: whether an issuer may sign what a Certificate asks for. Pure; the first broken
rule is named in the denial, which becomes a PolicyDenied condition."""

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from certmint.api import parse_duration
from certmint.api.issuer import IssuancePolicy
from certmint.pki import KeyAlgorithm, Usage, effective_usages
from certmint.planning.bundle import selector_matches
from certmint.planning.request import IssuanceSpec

CA_USAGES = frozenset({Usage.CERT_SIGN, Usage.CRL_SIGN})
_PLACEHOLDERS = re.compile(r"(\$\{namespace\}|\$\{serviceAccount\}|\*)")


def policy_denial(
    policy: IssuancePolicy | None, spec: IssuanceSpec, namespace_labels: Mapping[str, str]
) -> str | None:
    """None when allowed; else a message starting with the rule that denies."""
    foreign = _foreign_identity(spec)
    if foreign:
        return foreign
    if policy is None:
        return None
    leaf = spec.leaf
    if policy.namespace_selector is not None and not selector_matches(
        policy.namespace_selector, namespace_labels
    ):
        return f"policy.namespaceSelector: namespace {spec.namespace} may not use this issuer"
    if leaf.is_ca and not policy.allow_ca:
        return "policy.allowCA: this issuer does not sign CA certificates (isCA: true)"
    if policy.max_duration is not None and leaf.duration > parse_duration(policy.max_duration):
        return f"policy.maxDuration: duration {spec.duration_text} exceeds the maximum {policy.max_duration}"
    if policy.allowed_key_algorithms is not None and spec.key.algorithm not in policy.allowed_key_algorithms:
        allowed = ", ".join(policy.allowed_key_algorithms)
        return f"policy.allowedKeyAlgorithms: {spec.key.algorithm} is not one of {allowed}"
    usages = effective_usages(leaf, rsa_key=spec.key.algorithm == KeyAlgorithm.RSA)
    allowed_usages = set(Usage) if policy.allowed_usages is None else set(policy.allowed_usages)
    allowed_usages = allowed_usages | CA_USAGES if policy.allow_ca else allowed_usages - CA_USAGES
    denied_usages = [usage.value for usage in usages if usage not in allowed_usages]
    if denied_usages:
        return f"policy.allowedUsages: {', '.join(denied_usages)} not allowed"
    if policy.allowed_dns_names is not None:
        for name in leaf.dns_names:
            if not _matches_any(policy.allowed_dns_names, name.lower(), spec, "[^.]+", re.IGNORECASE):
                return f"policy.allowedDNSNames: {name} matches none of {policy.allowed_dns_names}"
    if policy.allowed_uris is not None:
        for uri in leaf.uris:
            if not _matches_any(policy.allowed_uris, uri, spec, "[^/]+", 0):
                return f"policy.allowedURIs: {uri} matches none of {policy.allowed_uris}"
    return None


def _foreign_identity(spec: IssuanceSpec) -> str | None:
    """Holds with or without a policy: a SPIFFE ID's /ns/<namespace> must be the Certificate's own."""
    for uri in spec.leaf.uris:
        parts = urlsplit(uri)
        if parts.scheme.lower() != "spiffe":
            continue
        segments = parts.path.split("/")
        for index, segment in enumerate(segments[:-1]):
            if segment == "ns" and segments[index + 1] != spec.namespace:
                return (
                    f"identity: {uri} names namespace {segments[index + 1]}; a Certificate in namespace "
                    f"{spec.namespace} may only receive identities of its own namespace"
                )
    return None


def _matches_any(patterns: list[str], value: str, spec: IssuanceSpec, wildcard: str, flags: int) -> bool:
    for pattern in patterns:
        regex = _compile(pattern, spec, wildcard, flags)
        if regex is not None and regex.fullmatch(value):
            return True
    return False


def _compile(pattern: str, spec: IssuanceSpec, wildcard: str, flags: int) -> re.Pattern[str] | None:
    """None when the pattern names a service account the Certificate does not have."""
    pieces = []
    for part in _PLACEHOLDERS.split(pattern):
        if part == "${namespace}":
            pieces.append(re.escape(spec.namespace))
        elif part == "${serviceAccount}":
            if spec.service_account is None:
                return None
            pieces.append(re.escape(spec.service_account))
        elif part == "*":
            pieces.append(wildcard)
        else:
            pieces.append(re.escape(part))
    return re.compile("".join(pieces), flags)
