"""cert-manager.io/v1 Issuer and ClusterIssuer -> certmint.dev/v1 Issuer and ClusterIssuer.

A `ca` issuer keeps its CA: by default it becomes a selfSigned issuer importing the CA from the
Secret (spec.selfSigned.importFrom), so the CA gains rotation; with CAIssuers.CA a `ca` issuer
signing with the Secret as it is. The isCA Certificate a cert-manager `selfSigned` issuer made that
Secret from (the CA bootstrap pattern of cert-manager's documentation) is absorbed into it: its
subject, lifetime, key and name constraints become those of the CAs certmint makes at rotation.
Any other use of a `selfSigned` issuer (self-signed leaves) and every other issuer type is refused."""

from collections.abc import Mapping
from math import ceil
from typing import Any, Final

from certmint.api.duration import parse_duration
from certmint.api.kinds import API_VERSION, CLUSTER_ISSUERS, ISSUERS
from certmint.convert.certificates import (
    CERT_MANAGER_DEFAULT_ALGORITHM,
    CERT_MANAGER_DEFAULT_DURATION,
    CERTIFICATE_FIELDS,
    KEY_SIZES,
    SPEC,
    SUBJECT_FIELDS,
)
from certmint.convert.findings import Findings, ObjectRef
from certmint.convert.options import CAIssuers, Context
from certmint.convert.source import (
    CLUSTER_ISSUER,
    Source,
    read_bool,
    read_int,
    read_map,
    read_str,
    read_strings,
    refuse_unknown,
)
from certmint.pki import KeyAlgorithm
from certmint.planning.labels import ALLOW_IMPORT_BY

REFUSED_TYPES: Final = {
    "acme": "ACME issuers (e.g. Let's Encrypt) have no certmint equivalent: certmint signs with "
    "in-cluster CAs only",
    "vault": "Vault issuers have no certmint equivalent: certmint signs with in-cluster CAs only",
    "venafi": "Venafi issuers have no certmint equivalent: certmint signs with in-cluster CAs only",
}
SELF_SIGNED_LEAVES: Final = (
    "a cert-manager selfSigned issuer signs each certificate with its own key; certmint has no "
    "self-signed leaves (its selfSigned issuer is a CA that signs them). Only the isCA Certificate "
    "of a `ca` issuer's Secret is converted (into that issuer)"
)
CA_URL_FIELDS: Final = {
    "crlDistributionPoints": "certmint publishes its own CRLs (spec.revocation.distributionPointURL)",
    "ocspServers": "certmint answers OCSP itself (spec.revocation.ocspURL)",
    "issuingCertificateURLs": "certmint embeds no issuing certificate URL",
}
CA_KEY_ALGORITHMS: Final = (KeyAlgorithm.ECDSA, KeyAlgorithm.RSA)
MAX_ROTATE_BEFORE_PERCENTAGE: Final = 90


def issuer_type(source: Source) -> str:
    """The issuer's type: the one key of its spec (ca, selfSigned, acme, ...), "" when none or several."""
    types = [key for key in source.spec if key in ("ca", "selfSigned", *REFUSED_TYPES)]
    return types[0] if len(types) == 1 else ""


def ca_secret_name(source: Source) -> str | None:
    ca = source.spec.get("ca")
    name = ca.get("secretName") if isinstance(ca, Mapping) else None
    return name if isinstance(name, str) and name else None


def written_by(writer: ObjectRef, secret: str) -> str:
    """Why a `ca` issuer signing with an intermediate that a converted Certificate keeps is refused."""
    return (
        f"Secret {secret} is written by {writer}: a certmint issuer signs with a root CA it makes or "
        "imports, not with a CA a certmint Certificate renews"
    )


def unusable_reason(source: Source) -> str | None:
    """Why a Certificate cannot use this issuer once converted, or None when it can."""
    kind = issuer_type(source)
    if kind == "selfSigned":
        return SELF_SIGNED_LEAVES
    if kind != "ca":
        return f"refused ({REFUSED_TYPES.get(kind, 'no convertible issuer type')})"
    return None


def absorb_self_signed(source: Source, findings: Findings) -> None:
    """A selfSigned issuer that only made the CA of a converted `ca` issuer: nothing is written for it;
    what it put in that CA certificate certmint's CAs will not carry is refused."""
    findings.note("absorbed: it only made the CA of a converted `ca` issuer")
    path = f"{SPEC}.selfSigned"
    self_signed = read_map(findings, source.spec, "selfSigned", SPEC) or {}
    refuse_unknown(findings, self_signed, tuple(CA_URL_FIELDS), path)
    for key, reason in CA_URL_FIELDS.items():
        if self_signed.get(key):
            findings.refuse(f"{path}.{key}", reason)


def convert_issuer(
    source: Source,
    context: Context,
    findings: Findings,
    bootstrap: tuple[Source, Findings] | None,
    allow_ca: bool,
    secret_writer: ObjectRef | None = None,
) -> dict[str, Any]:
    """The certmint issuer of a cert-manager `ca` issuer; refusals for every other type.
    `secret_writer`: the converted isCA Certificate (an intermediate) writing its Secret, if any."""
    kind = issuer_type(source)
    if kind in REFUSED_TYPES:
        findings.refuse(f"{SPEC}.{kind}", REFUSED_TYPES[kind])
    elif kind == "selfSigned":
        findings.refuse(f"{SPEC}.selfSigned", SELF_SIGNED_LEAVES)
    elif kind != "ca":
        findings.refuse(SPEC, "exactly one issuer type (ca, selfSigned, acme, vault, venafi) must be set")
    refuse_unknown(findings, source.spec, ("ca", "selfSigned", *REFUSED_TYPES), SPEC)
    spec: dict[str, Any] = {}
    if kind == "ca":
        spec = _ca(source, context, findings, bootstrap, secret_writer)
    if allow_ca:
        spec["allowCA"] = True
        findings.note("allowCA: true, as a Certificate of its namespace asks it for a CA certificate")
    is_cluster = source.ref.kind == CLUSTER_ISSUER
    return {
        "apiVersion": API_VERSION,
        "kind": CLUSTER_ISSUERS.kind if is_cluster else ISSUERS.kind,
        "metadata": {},
        "spec": spec,
    }


def _ca(
    source: Source,
    context: Context,
    findings: Findings,
    bootstrap: tuple[Source, Findings] | None,
    secret_writer: ObjectRef | None,
) -> dict[str, Any]:
    path = f"{SPEC}.ca"
    ca = read_map(findings, source.spec, "ca", SPEC) or {}
    refuse_unknown(findings, ca, ("secretName", *CA_URL_FIELDS), path)
    for key, reason in CA_URL_FIELDS.items():
        if ca.get(key):
            findings.refuse(f"{path}.{key}", reason)
    secret = read_str(findings, ca, "secretName", path)
    if not secret:
        findings.refuse(f"{path}.secretName", "required")
        return {}
    is_cluster = source.ref.kind == CLUSTER_ISSUER
    secret_namespace = context.options.cluster_resource_namespace if is_cluster else source.ref.namespace
    where = f"{secret_namespace}/{secret}" if secret_namespace else secret
    if secret_writer is not None:
        findings.refuse(f"{path}.secretName", written_by(secret_writer, secret))
        return {}
    if context.options.ca_issuers == CAIssuers.CA:
        if bootstrap is not None:
            bootstrap[1].note(f"absorbed into {source.ref}: its Secret is used as it is, never renewed")
        if is_cluster:
            findings.note(
                "certmint reads a ClusterIssuer's CA Secret from its own namespace: copy Secret "
                f"{where} there"
            )
        return {"ca": {"secretName": secret}}
    imported: dict[str, Any] = {"name": secret}
    if is_cluster:
        imported["namespace"] = context.options.cluster_resource_namespace
    self_signed: dict[str, Any] = {"importFrom": imported}
    if secret == f"{source.ref.name}-ca":
        # certmint's CA Secret would default to the source's own name: the import must not read
        # the Secret it writes.
        self_signed["secretName"] = f"{source.ref.name}-certmint-ca"
    findings.note(
        f"imports the CA of Secret {where}: annotate it {ALLOW_IMPORT_BY}={source.ref.kind}/"
        f"{source.ref.name}; delete it once the issuer is Ready"
    )
    if not is_cluster:
        findings.note(
            "the CAs certmint makes at rotation are limited to this namespace's names unless "
            "spec.selfSigned.nameConstraints says otherwise"
        )
    if bootstrap is not None:
        bootstrap_source, bootstrap_findings = bootstrap
        bootstrap_findings.note(f"absorbed into {source.ref} (the CAs it makes at rotation follow it)")
        self_signed |= _ca_settings(bootstrap_source, bootstrap_findings)
    return {"selfSigned": self_signed}


def _ca_settings(source: Source, findings: Findings) -> dict[str, Any]:
    """What an absorbed isCA Certificate says of the CAs certmint makes at rotation; its fields a CA
    of certmint cannot carry are refused on that Certificate."""
    spec = source.spec
    refuse_unknown(findings, spec, CERTIFICATE_FIELDS, SPEC)
    settings: dict[str, Any] = {}
    common_name = read_str(findings, spec, "commonName", SPEC)
    if common_name:
        settings["commonName"] = common_name
    subject = read_map(findings, spec, "subject", SPEC) or {}
    refuse_unknown(findings, subject, SUBJECT_FIELDS, f"{SPEC}.subject")
    organizations = read_strings(findings, subject, "organizations", f"{SPEC}.subject") or []
    if len(organizations) > 1:
        findings.refuse(f"{SPEC}.subject.organizations", "a certmint CA carries one organization")
    elif organizations:
        settings["organization"] = organizations[0]
    for key in SUBJECT_FIELDS[1:]:
        if subject.get(key) not in (None, [], ""):
            findings.refuse(f"{SPEC}.subject.{key}", "a certmint CA's subject is its CN and O only")
    duration = read_str(findings, spec, "duration", SPEC) or CERT_MANAGER_DEFAULT_DURATION
    settings["caDuration"] = duration
    percentage = _rotate_before_percentage(spec, duration, findings)
    if percentage is not None:
        settings["rotation"] = {"rotateBeforePercentage": percentage}
    ca_key = _ca_key(spec, findings)
    if ca_key:
        settings["privateKey"] = ca_key
    constraints = _name_constraints(spec, findings)
    if constraints is not None:
        settings["nameConstraints"] = constraints
    for field in ("dnsNames", "ipAddresses", "uris", "emailAddresses", "otherNames", "literalSubject"):
        if spec.get(field):
            findings.refuse(f"{SPEC}.{field}", "a certmint CA carries no subject alternative names")
    for field in ("secretTemplate", "keystores", "additionalOutputFormats"):
        if spec.get(field) is not None:
            findings.refuse(
                f"{SPEC}.{field}",
                "the CA's Secret becomes certmint's own; publish the CA with a TrustBundle instead",
            )
    for field in ("usages", "revisionHistoryLimit", "encodeUsagesInRequest"):
        if spec.get(field) is not None:
            findings.note(f"{SPEC}.{field}: not converted: certmint gives its CAs their usages itself")
    read_bool(findings, spec, "isCA", SPEC)
    return settings


def _rotate_before_percentage(spec: Mapping[str, Any], duration: str, findings: Findings) -> int | None:
    percentage = read_int(findings, spec, "renewBeforePercentage", SPEC)
    renew_before = read_str(findings, spec, "renewBefore", SPEC)
    field = "renewBeforePercentage"
    if percentage is None and renew_before is not None:
        field = "renewBefore"
        try:
            percentage = ceil(100 * parse_duration(renew_before) / parse_duration(duration))
        except (ValueError, ZeroDivisionError) as error:
            findings.refuse(f"{SPEC}.renewBefore", str(error))
            return None
    if percentage is None:
        return None
    if not 1 <= percentage <= MAX_ROTATE_BEFORE_PERCENTAGE:
        findings.refuse(
            f"{SPEC}.{field}",
            f"rotation at {percentage}% of the CA's life remaining: certmint rotates between 1% and "
            f"{MAX_ROTATE_BEFORE_PERCENTAGE}%",
        )
        return None
    return percentage


def _ca_key(spec: Mapping[str, Any], findings: Findings) -> dict[str, Any]:
    path = f"{SPEC}.privateKey"
    key = read_map(findings, spec, "privateKey", SPEC) or {}
    refuse_unknown(findings, key, ("algorithm", "size", "rotationPolicy", "encoding"), path)
    algorithm = read_str(findings, key, "algorithm", path) or CERT_MANAGER_DEFAULT_ALGORITHM.value
    if algorithm not in CA_KEY_ALGORITHMS:
        findings.refuse(f"{path}.algorithm", f"certmint's CA keys are ECDSA or RSA, not {algorithm!r}")
        return {}
    converted: dict[str, Any] = {"algorithm": algorithm}
    size = read_int(findings, key, "size", path)
    if size is not None:
        if size not in KEY_SIZES[KeyAlgorithm(algorithm)]:
            findings.refuse(f"{path}.size", f"{algorithm} {size} is not a size certmint makes")
        converted["size"] = size
    for field in ("rotationPolicy", "encoding"):
        if key.get(field) is not None:
            findings.note(f"{path}.{field}: not converted: each certmint CA has a new key in its own Secret")
    return converted


def _name_constraints(spec: Mapping[str, Any], findings: Findings) -> dict[str, Any] | None:
    path = f"{SPEC}.nameConstraints"
    constraints = read_map(findings, spec, "nameConstraints", SPEC)
    if constraints is None:
        return None
    refuse_unknown(findings, constraints, ("critical", "permitted", "excluded"), path)
    if read_bool(findings, constraints, "critical", path) is False:
        findings.note(f"{path}.critical: certmint's name constraints are always critical")
    converted: dict[str, Any] = {}
    for side in ("permitted", "excluded"):
        subtrees = read_map(findings, constraints, side, path)
        if subtrees is None:
            continue
        keys = ("dnsDomains", "ipRanges", "emailAddresses", "uriDomains")
        refuse_unknown(findings, subtrees, keys, f"{path}.{side}")
        converted[side] = {
            key: names for key in keys if (names := read_strings(findings, subtrees, key, f"{path}.{side}"))
        }
    return converted
