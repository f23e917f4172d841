"""trust.cert-manager.io/v1alpha1 Bundle -> certmint.dev/v1 TrustBundle. trust-manager reads a
Bundle's ConfigMap and Secret sources from its trust namespace: the TrustBundle names that namespace.
A source that is the CA Secret of a converted `ca` issuer becomes that issuer as the source, so the
bundle follows the CA through rotation (and the old Secret can be deleted)."""

from collections.abc import Mapping
from typing import Any, Final

from certmint.api.kinds import API_VERSION, TRUST_BUNDLES
from certmint.convert.findings import Findings, ObjectRef
from certmint.convert.options import Context
from certmint.convert.source import (
    Source,
    read_bool,
    read_map,
    read_str,
    read_string_map,
    refuse_unknown,
)

SPEC: Final = "spec"
TRUST_MANAGER_DEFAULT_KEY: Final = "ca.crt"


def convert_bundle(
    source: Source, context: Context, findings: Findings, ca_secrets: Mapping[tuple[str, str], ObjectRef]
) -> dict[str, Any]:
    """`ca_secrets`: (namespace, Secret name) -> the converted issuer whose CA that Secret holds."""
    spec = source.spec
    refuse_unknown(findings, spec, ("sources", "target"), SPEC)
    sources = spec.get("sources")
    converted_sources: list[dict[str, Any]] = []
    if not isinstance(sources, list) or not sources:
        findings.refuse(f"{SPEC}.sources", "required: a list of sources")
    else:
        for index, entry in enumerate(sources):
            path = f"{SPEC}.sources[{index}]"
            if not isinstance(entry, Mapping):
                findings.refuse(path, "not an object")
                continue
            converted = _source(entry, context, findings, path, ca_secrets)
            if converted is not None:
                converted_sources.append(converted)
    target = read_map(findings, spec, "target", SPEC) or {}
    return {
        "apiVersion": API_VERSION,
        "kind": TRUST_BUNDLES.kind,
        "metadata": {},
        "spec": {"sources": converted_sources, "target": _target(target, findings)},
    }


def _source(
    entry: Mapping[str, Any],
    context: Context,
    findings: Findings,
    path: str,
    ca_secrets: Mapping[tuple[str, str], ObjectRef],
) -> dict[str, Any] | None:
    refuse_unknown(findings, entry, ("configMap", "secret", "inLine", "useDefaultCAs"), path)
    if read_bool(findings, entry, "useDefaultCAs", path):
        findings.refuse(
            f"{path}.useDefaultCAs",
            "certmint publishes no public CA bundle: a TrustBundle holds only the CAs it names",
        )
    inline = read_str(findings, entry, "inLine", path)
    if inline is not None:
        return {"inlinePEM": inline}
    for kind in ("configMap", "secret"):
        reference = read_map(findings, entry, kind, path)
        if reference is None:
            continue
        where = f"{path}.{kind}"
        refuse_unknown(findings, reference, ("name", "key", "selector", "includeAllKeys"), where)
        for field, reason in (
            ("selector", "certmint reads one named object per source"),
            ("includeAllKeys", "certmint reads one key per source"),
        ):
            if reference.get(field):
                findings.refuse(f"{where}.{field}", reason)
        name = read_str(findings, reference, "name", where)
        key = read_str(findings, reference, "key", where)
        if not name or not key:
            findings.refuse(f"{where}.{'key' if name else 'name'}", "required")
            return None
        issuer = ca_secrets.get((context.options.trust_namespace, name)) if kind == "secret" else None
        if issuer is not None and key in ("ca.crt", "tls.crt"):
            findings.note(f"{where}: Secret {name} is the CA of {issuer}: the bundle follows {issuer}")
            return {"issuer": _issuer_source(issuer)}
        return {kind: {"namespace": context.options.trust_namespace, "name": name, "key": key}}
    return None


def _issuer_source(issuer: ObjectRef) -> dict[str, Any]:
    converted: dict[str, Any] = {"name": issuer.name, "kind": issuer.kind}
    if issuer.namespace:
        converted["namespace"] = issuer.namespace
    return converted


def _target(target: Mapping[str, Any], findings: Findings) -> dict[str, Any]:
    path = f"{SPEC}.target"
    refuse_unknown(findings, target, ("configMap", "secret", "additionalFormats", "namespaceSelector"), path)
    converted: dict[str, Any] = {}
    config_map = read_map(findings, target, "configMap", path)
    secret = read_map(findings, target, "secret", path)
    if config_map is None:
        findings.note(f"{path}: a TrustBundle always publishes a ConfigMap too")
    for kind, found in (("configMap", config_map), ("secret", secret)):
        if found is None:
            continue
        refuse_unknown(findings, found, ("key", "metadata"), f"{path}.{kind}")
        if found.get("metadata") is not None:
            findings.refuse(
                f"{path}.{kind}.metadata", "certmint sets the labels and annotations of its copies"
            )
        key = read_str(findings, found, "key", f"{path}.{kind}") or TRUST_MANAGER_DEFAULT_KEY
        if kind == "configMap":
            converted["configMapKey"] = key
        else:
            converted["secret"] = {"key": key}
    formats = read_map(findings, target, "additionalFormats", path) or {}
    refuse_unknown(findings, formats, ("jks", "pkcs12"), f"{path}.additionalFormats")
    if formats.get("jks") is not None:
        findings.refuse(
            f"{path}.additionalFormats.jks", "JKS truststores have no certmint equivalent (use pkcs12)"
        )
    pkcs12 = read_map(findings, formats, "pkcs12", f"{path}.additionalFormats")
    if pkcs12 is not None:
        where = f"{path}.additionalFormats.pkcs12"
        refuse_unknown(findings, pkcs12, ("key", "password"), where)
        store_key = read_str(findings, pkcs12, "key", where)
        password = read_str(findings, pkcs12, "password", where)
        converted["pkcs12"] = {
            **({"key": store_key} if store_key else {}),
            **({"password": password} if password else {}),
        }
    selector = read_map(findings, target, "namespaceSelector", path)
    if selector is not None:
        refuse_unknown(findings, selector, ("matchLabels", "matchExpressions"), f"{path}.namespaceSelector")
        labels = read_string_map(findings, selector, "matchLabels", f"{path}.namespaceSelector")
        expressions = selector.get("matchExpressions")
        converted["namespaceSelector"] = {
            **({"matchLabels": labels} if labels else {}),
            **({"matchExpressions": expressions} if expressions else {}),
        }
    return converted
