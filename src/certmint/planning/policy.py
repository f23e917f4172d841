"""Identity policy: whether an issuer may sign what a Certificate asks for. Pure; the first broken
rule is named in the denial, which becomes a PolicyDenied condition.

Two kinds of rules. Those that hold for every issuer (SPIFFE IDs only of the own namespace and the
operator's trust domain; CA certificates only where the issuer's spec.allowCA says so), and a
policy's, under which every identity-bearing field is checked and what the policy does not name
is denied.
"""

import ipaddress
import re
from collections.abc import Mapping

from certmint.api import parse_duration
from certmint.api.issuer import IssuancePolicy
from certmint.pki import DEFAULT_EXTENDED_USAGES, KeyAlgorithm, Usage, effective_usages
from certmint.planning.identity import spiffe_denial, uri_scheme_denial
from certmint.planning.request import IssuanceSpec
from certmint.planning.selectors import selector_matches

CA_USAGES = frozenset({Usage.CERT_SIGN, Usage.CRL_SIGN})
_PLACEHOLDERS = re.compile(r"(\$\{namespace\}|\$\{serviceAccount\}|\*)")
_DNS_WILDCARD = "[^.]+"
_URI_WILDCARD = "[^/]+"
_EMAIL_WILDCARD = "[^@]+"
_ANY = ".+"


def policy_denial(
    policy: IssuancePolicy | None,
    spec: IssuanceSpec,
    namespace_labels: Mapping[str, str],
    issuer_allows_ca: bool = False,
) -> str | None:
    """None when allowed; else a message starting with the rule that denies."""
    foreign = uri_scheme_denial(spec) or spiffe_denial(spec)
    if foreign:
        return foreign
    if policy is not None:
        denial = _policy_rule_denial(policy, spec, namespace_labels)
        if denial:
            return denial
    return _ca_denial(spec, issuer_allows_ca)


def _ca_denial(spec: IssuanceSpec, issuer_allows_ca: bool) -> str | None:
    """A CA certificate signs identities of its own choosing: only where the issuer allows it."""
    if issuer_allows_ca:
        return None
    asked = ["isCA"] if spec.leaf.is_ca else []
    asked += [usage.value for usage in spec.leaf.usages if usage in CA_USAGES]
    if not asked:
        return None
    return (
        f"allowCA: this issuer does not sign CA certificates ({', '.join(asked)}); its spec.allowCA "
        "must be true for that"
    )


def _policy_rule_denial(
    policy: IssuancePolicy, spec: IssuanceSpec, namespace_labels: Mapping[str, str]
) -> str | None:
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
        defaulted = [usage for usage in DEFAULT_EXTENDED_USAGES if usage.value in denied_usages]
        hint = (
            f" ({' and '.join(usage.value for usage in defaulted)}: what a certificate naming no "
            "extended usage is signed for; request the extended usage you need)"
            if defaulted and not set(leaf.usages) & set(defaulted)
            else ""
        )
        return f"policy.allowedUsages: {', '.join(denied_usages)} not allowed{hint}"
    return _name_denial(policy, spec)


def _name_denial(policy: IssuancePolicy, spec: IssuanceSpec) -> str | None:
    """Every name of every kind must match its list; an unset list allows none of its kind."""
    leaf = spec.leaf
    dns_patterns = policy.allowed_dns_names or []
    for name in leaf.dns_names:
        if not _matches_any(dns_patterns, name.lower(), spec, _DNS_WILDCARD, re.IGNORECASE):
            return f"policy.allowedDNSNames: {name} matches none of {dns_patterns}"
    if leaf.common_name is not None:
        common_name_patterns = policy.allowed_common_names or []
        as_name = _matches_any(common_name_patterns, leaf.common_name, spec, _DNS_WILDCARD, re.IGNORECASE)
        # Verifiers without SANs fall back to the CN as a host name: it must pass as a DNS name too.
        as_host = _matches_any(dns_patterns, leaf.common_name.lower(), spec, _DNS_WILDCARD, re.IGNORECASE)
        if not (as_name or as_host):
            return (
                f"policy.allowedCommonNames: {leaf.common_name} matches none of {common_name_patterns} "
                f"nor of allowedDNSNames {dns_patterns}"
            )
    uri_patterns = policy.allowed_uris or []
    for uri in leaf.uris:
        if not _matches_any(uri_patterns, uri, spec, _URI_WILDCARD, 0):
            return f"policy.allowedURIs: {uri} matches none of {uri_patterns}"
    networks = policy.allowed_ip_addresses or []
    for address in leaf.ip_addresses:
        if not _in_any_network(networks, address):
            return f"policy.allowedIPAddresses: {address} is in none of {networks}"
    email_patterns = policy.allowed_email_addresses or []
    for email in leaf.email_addresses:
        if not _matches_any(email_patterns, email, spec, _EMAIL_WILDCARD, re.IGNORECASE):
            return f"policy.allowedEmailAddresses: {email} matches none of {email_patterns}"
    organization_patterns = policy.allowed_organizations or []
    for organization in leaf.organization:
        if not _matches_any(organization_patterns, organization, spec, _ANY, 0):
            return f"policy.allowedOrganizations: {organization} matches none of {organization_patterns}"
    return None


def _in_any_network(networks: list[str], address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for network in networks:
        try:
            if ip in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            continue  # a malformed CIDR allows nothing
    return False


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
