"""cert-manager.io/v1 Certificate -> certmint.dev/v1 Certificate, field by field (the names of
cert-manager's API reference). Every field of the spec is converted, refused, or (when it means
nothing without cert-manager) noted: never dropped without a word."""

from collections.abc import Mapping
from typing import Any, Final

from certmint.api.kinds import API_VERSION, CERTIFICATES, CLUSTER_ISSUERS, ISSUERS
from certmint.convert.findings import Findings, ObjectRef
from certmint.convert.options import Context
from certmint.convert.source import (
    CERT_MANAGER_GROUP,
    CLUSTER_ISSUER,
    ISSUER,
    Source,
    read_bool,
    read_int,
    read_map,
    read_str,
    read_string_map,
    read_strings,
    refuse_unknown,
)
from certmint.pki import KeyAlgorithm, Usage
from certmint.planning.labels import ALLOW_ADOPTION_BY, PKCS12_PASSWORD

SPEC: Final = "spec"
CERT_MANAGER_DEFAULT_DURATION: Final = "2160h"
"""cert-manager's lifetime when spec.duration is unset (90 days), written out: certmint's default is
24h, and a conversion keeps what the Certificate meant."""
CERT_MANAGER_DEFAULT_ALGORITHM: Final = KeyAlgorithm.RSA
"""cert-manager's key algorithm when privateKey.algorithm is unset (certmint's is ECDSA)."""
CERT_MANAGER_DEFAULT_PKCS12_PROFILE: Final = "LegacyRC2"

USAGES: Final = {
    "signing": Usage.DIGITAL_SIGNATURE,
    "digital signature": Usage.DIGITAL_SIGNATURE,
    "key encipherment": Usage.KEY_ENCIPHERMENT,
    "server auth": Usage.SERVER_AUTH,
    "client auth": Usage.CLIENT_AUTH,
    "code signing": Usage.CODE_SIGNING,
    "email protection": Usage.EMAIL_PROTECTION,
    "s/mime": Usage.EMAIL_PROTECTION,
    "cert sign": Usage.CERT_SIGN,
    "crl sign": Usage.CRL_SIGN,
}
"""cert-manager's key usage names with a certmint equivalent ("signing" is digital signature, "s/mime"
the email protection extended usage, as cert-manager encodes them); every other one is refused."""

KEY_SIZES: Final = {KeyAlgorithm.RSA: (2048, 3072, 4096), KeyAlgorithm.ECDSA: (256, 384)}
PKCS12_PROFILES: Final = ("Modern", "LegacyDES")
OUTPUT_FORMATS: Final = ("DER", "CombinedPEM")
SUBJECT_FIELDS: Final = (
    "organizations",
    "countries",
    "organizationalUnits",
    "localities",
    "provinces",
    "streetAddresses",
    "postalCodes",
    "serialNumber",
)
CERTIFICATE_FIELDS: Final = (
    "secretName",
    "issuerRef",
    "commonName",
    "dnsNames",
    "ipAddresses",
    "uris",
    "emailAddresses",
    "duration",
    "renewBefore",
    "renewBeforePercentage",
    "usages",
    "isCA",
    "privateKey",
    "secretTemplate",
    "keystores",
    "additionalOutputFormats",
    "subject",
    "literalSubject",
    "otherNames",
    "nameConstraints",
    "revisionHistoryLimit",
    "encodeUsagesInRequest",
)
"""Every field of cert-manager's Certificate spec (cert-manager.io/v1), as its API reference names them."""


def issuer_ref_of(source: Source, findings: Findings) -> ObjectRef | None:
    """The issuer a Certificate names, when it is one of cert-manager's own; external issuers (another
    group) and malformed references are refused."""
    path = f"{SPEC}.issuerRef"
    ref = read_map(findings, source.spec, "issuerRef", SPEC)
    if ref is None:
        findings.refuse(path, "required: cert-manager Certificates always name their issuer")
        return None
    refuse_unknown(findings, ref, ("name", "kind", "group"), path)
    name = read_str(findings, ref, "name", path)
    kind = read_str(findings, ref, "kind", path) or ISSUER
    group = read_str(findings, ref, "group", path)
    if group not in (None, "", CERT_MANAGER_GROUP):
        findings.refuse(
            f"{path}.group", f"{group} is an external issuer: certmint signs only with its own issuers"
        )
        return None
    if kind not in (ISSUER, CLUSTER_ISSUER):
        findings.refuse(f"{path}.kind", f"{kind} is not Issuer or ClusterIssuer")
        return None
    if not name:
        findings.refuse(f"{path}.name", "required")
        return None
    return ObjectRef(kind, source.ref.namespace if kind == ISSUER else None, name)


def is_ca(source: Source) -> bool:
    return source.spec.get("isCA") is True


def convert_certificate(source: Source, context: Context, findings: Findings) -> dict[str, Any]:
    """The certmint Certificate; meaningful only if `findings` holds no refusal."""
    spec = source.spec
    out: dict[str, Any] = {}
    refuse_unknown(findings, spec, CERTIFICATE_FIELDS, SPEC)

    secret_name = read_str(findings, spec, "secretName", SPEC)
    if secret_name is None:
        findings.refuse(f"{SPEC}.secretName", "required")
    else:
        out["secretName"] = secret_name
        findings.note(
            f"if Secret {secret_name} exists, annotate it {ALLOW_ADOPTION_BY}={source.ref.name} so that "
            "certmint adopts it"
        )
    _issuer_ref(source, context, findings, out)
    _names(source, findings, out)
    _lifetime(source, findings, out)
    _usages(source, findings, out)
    _private_key(source, findings, out)
    _secret_outputs(source, findings, out)
    if context.options.cert_manager_annotations:
        out["certManagerAnnotations"] = True
    _without_equivalent(source, findings)
    return {"apiVersion": API_VERSION, "kind": CERTIFICATES.kind, "metadata": {}, "spec": out}


def _issuer_ref(source: Source, context: Context, findings: Findings, out: dict[str, Any]) -> None:
    issuer = issuer_ref_of(source, findings)
    if issuer is None:
        return
    out["issuerRef"] = {
        "name": issuer.name,
        "kind": ISSUERS.kind if issuer.kind == ISSUER else CLUSTER_ISSUERS.kind,
    }
    unusable = context.unusable_issuers.get(issuer)
    if unusable is not None:
        findings.refuse(f"{SPEC}.issuerRef", f"{issuer}: {unusable}")
    ca = read_bool(findings, source.spec, "isCA", SPEC)
    if ca:
        if issuer.kind == CLUSTER_ISSUER:
            findings.refuse(
                f"{SPEC}.isCA",
                f"{issuer} would need allowCA: true, which lets every namespace obtain CA certificates "
                "from it; grant that by hand if you mean it, conversion does not",
            )
        out["isCA"] = True


def _names(source: Source, findings: Findings, out: dict[str, Any]) -> None:
    spec = source.spec
    common_name = read_str(findings, spec, "commonName", SPEC)
    if common_name is not None:
        out["commonName"] = common_name
    for key in ("dnsNames", "ipAddresses", "uris", "emailAddresses"):
        names = read_strings(findings, spec, key, SPEC)
        if names:
            out[key] = names
    subject = read_map(findings, spec, "subject", SPEC)
    if subject is not None:
        path = f"{SPEC}.subject"
        refuse_unknown(findings, subject, SUBJECT_FIELDS, path)
        organizations = read_strings(findings, subject, "organizations", path)
        if organizations:
            out["organizations"] = organizations
        for key in SUBJECT_FIELDS[1:]:
            if subject.get(key) not in (None, [], ""):
                findings.refuse(f"{path}.{key}", "certmint sets only the subject's CN and O")


def _lifetime(source: Source, findings: Findings, out: dict[str, Any]) -> None:
    spec = source.spec
    out["duration"] = read_str(findings, spec, "duration", SPEC) or CERT_MANAGER_DEFAULT_DURATION
    renew_before = read_str(findings, spec, "renewBefore", SPEC)
    if renew_before is not None:
        out["renewBefore"] = renew_before
    percentage = read_int(findings, spec, "renewBeforePercentage", SPEC)
    if percentage is not None:
        out["renewBeforePercentage"] = percentage


def _usages(source: Source, findings: Findings, out: dict[str, Any]) -> None:
    usages = read_strings(findings, source.spec, "usages", SPEC)
    if not usages:
        return
    converted: list[str] = []
    for index, usage in enumerate(usages):
        mapped = USAGES.get(usage)
        if mapped is None:
            findings.refuse(
                f"{SPEC}.usages[{index}]",
                f"{usage!r} has no certmint equivalent (certmint signs for: "
                f"{', '.join(sorted(set(USAGES.values())))})",
            )
        elif mapped.value not in converted:
            converted.append(mapped.value)
    out["usages"] = converted


def _private_key(source: Source, findings: Findings, out: dict[str, Any]) -> None:
    path = f"{SPEC}.privateKey"
    key = read_map(findings, source.spec, "privateKey", SPEC) or {}
    refuse_unknown(findings, key, ("algorithm", "size", "rotationPolicy", "encoding"), path)
    converted: dict[str, Any] = {}
    algorithm = read_str(findings, key, "algorithm", path) or CERT_MANAGER_DEFAULT_ALGORITHM.value
    if algorithm not in tuple(KeyAlgorithm):
        findings.refuse(f"{path}.algorithm", f"{algorithm!r} is not RSA, ECDSA or Ed25519")
    converted["algorithm"] = algorithm
    size = read_int(findings, key, "size", path)
    if size is not None and algorithm != KeyAlgorithm.ED25519:
        sizes = KEY_SIZES.get(KeyAlgorithm(algorithm), ()) if algorithm in tuple(KeyAlgorithm) else ()
        if size not in sizes:
            findings.refuse(
                f"{path}.size",
                f"{algorithm} {size} is not a size certmint makes ({', '.join(map(str, sizes))})",
            )
        converted["size"] = size
    for field, allowed in (("rotationPolicy", ("Always", "Never")), ("encoding", ("PKCS1", "PKCS8"))):
        value = read_str(findings, key, field, path)
        if value is None:
            continue
        if value not in allowed:
            findings.refuse(f"{path}.{field}", f"{value!r} is not {' or '.join(allowed)}")
        converted[field] = value
    out["privateKey"] = converted


def _secret_outputs(source: Source, findings: Findings, out: dict[str, Any]) -> None:
    spec = source.spec
    template = read_map(findings, spec, "secretTemplate", SPEC)
    if template is not None:
        path = f"{SPEC}.secretTemplate"
        refuse_unknown(findings, template, ("labels", "annotations"), path)
        converted = {
            key: value
            for key in ("labels", "annotations")
            if (value := read_string_map(findings, template, key, path))
        }
        if converted:
            out["secretTemplate"] = converted
    keystores = read_map(findings, spec, "keystores", SPEC)
    if keystores is not None:
        path = f"{SPEC}.keystores"
        refuse_unknown(findings, keystores, ("pkcs12", "jks"), path)
        if keystores.get("jks") is not None:
            findings.refuse(f"{path}.jks", "JKS keystores have no certmint equivalent (use pkcs12)")
        pkcs12 = read_map(findings, keystores, "pkcs12", path)
        if pkcs12 is not None:
            out["keystores"] = {"pkcs12": _pkcs12(pkcs12, findings, f"{path}.pkcs12")}
    formats = spec.get("additionalOutputFormats")
    if formats is not None:
        path = f"{SPEC}.additionalOutputFormats"
        if not isinstance(formats, list):
            findings.refuse(path, "not a list")
            return
        converted_formats = []
        for index, entry in enumerate(formats):
            kind = entry.get("type") if isinstance(entry, Mapping) else None
            if kind not in OUTPUT_FORMATS:
                findings.refuse(f"{path}[{index}].type", f"{kind!r} is not DER or CombinedPEM")
                continue
            refuse_unknown(findings, entry, ("type",), f"{path}[{index}]")
            converted_formats.append({"type": kind})
        if converted_formats:
            out["additionalOutputFormats"] = converted_formats


def _pkcs12(pkcs12: Mapping[str, Any], findings: Findings, path: str) -> dict[str, Any]:
    refuse_unknown(findings, pkcs12, ("create", "passwordSecretRef", "password", "profile"), path)
    converted: dict[str, Any] = {}
    create = read_bool(findings, pkcs12, "create", path)
    if create is not None:
        converted["create"] = create
    if pkcs12.get("password") is not None:
        findings.refuse(
            f"{path}.password",
            "certmint reads the password only from a Secret (passwordSecretRef), never from the spec",
        )
    reference = read_map(findings, pkcs12, "passwordSecretRef", path)
    if reference is not None:
        refuse_unknown(findings, reference, ("name", "key"), f"{path}.passwordSecretRef")
        name = read_str(findings, reference, "name", f"{path}.passwordSecretRef")
        key = read_str(findings, reference, "key", f"{path}.passwordSecretRef")
        converted["passwordSecretRef"] = {"name": name, **({"key": key} if key else {})}
        findings.note(f'label Secret {name} {PKCS12_PASSWORD}="true" so that certmint may read the password')
    elif pkcs12.get("password") is None:
        findings.refuse(f"{path}.passwordSecretRef", "required")
    profile = read_str(findings, pkcs12, "profile", path)
    if profile is None:
        findings.note(
            f"{path}.profile: cert-manager's default {CERT_MANAGER_DEFAULT_PKCS12_PROFILE} cannot be "
            "written by certmint; converted to LegacyDES, which every reader of RC2 stores also reads"
        )
        profile = "LegacyDES"
    elif profile not in PKCS12_PROFILES:
        findings.refuse(f"{path}.profile", f"{profile} has no certmint equivalent (Modern or LegacyDES)")
    converted["profile"] = profile
    return converted


def _without_equivalent(source: Source, findings: Findings) -> None:
    spec = source.spec
    if spec.get("literalSubject") is not None:
        findings.refuse(
            f"{SPEC}.literalSubject", "certmint builds the subject from commonName and organizations only"
        )
    if spec.get("otherNames") is not None:
        findings.refuse(f"{SPEC}.otherNames", "otherName SANs have no certmint equivalent")
    if spec.get("nameConstraints") is not None:
        findings.refuse(
            f"{SPEC}.nameConstraints",
            "certmint puts name constraints on its issuers' CAs (spec.selfSigned.nameConstraints), "
            "not on Certificates",
        )
    if spec.get("revisionHistoryLimit") is not None:
        findings.note(f"{SPEC}.revisionHistoryLimit: not converted: certmint keeps no CertificateRequests")
    if spec.get("encodeUsagesInRequest") is not None:
        findings.note(
            f"{SPEC}.encodeUsagesInRequest: not converted: certmint signs the usages itself, no CSR "
            "goes to another issuer"
        )
