"""The cert-manager objects as read, and typed reads of their fields. Every field may hold anything
(a manifest is only YAML until an API server has validated it): a value of the wrong type is refused,
never guessed at."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from certmint.convert.findings import Findings, ObjectRef

CERT_MANAGER_GROUP = "cert-manager.io"
CERT_MANAGER_VERSION = "v1"
TRUST_MANAGER_GROUP = "trust.cert-manager.io"
TRUST_MANAGER_VERSION = "v1alpha1"
CERTIFICATE = "Certificate"
ISSUER = "Issuer"
CLUSTER_ISSUER = "ClusterIssuer"
BUNDLE = "Bundle"
CERT_MANAGER_KINDS = (CERTIFICATE, ISSUER, CLUSTER_ISSUER)


@dataclass(frozen=True)
class Source:
    """One cert-manager or trust-manager object."""

    ref: ObjectRef
    body: Mapping[str, Any]

    @property
    def spec(self) -> Mapping[str, Any]:
        spec = self.body.get("spec")
        return spec if isinstance(spec, Mapping) else {}

    @property
    def metadata(self) -> Mapping[str, Any]:
        metadata = self.body.get("metadata")
        return metadata if isinstance(metadata, Mapping) else {}


def group_of(api_version: object) -> tuple[str, str]:
    """(group, version) of an apiVersion; ("", "") when it is not a string."""
    if not isinstance(api_version, str):
        return "", ""
    group, _, version = api_version.rpartition("/")
    return group, version


def ref_of(body: Mapping[str, Any], default_namespace: str | None) -> ObjectRef:
    metadata = body.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    name, namespace = metadata.get("name"), metadata.get("namespace")
    kind = body.get("kind")
    return ObjectRef(
        kind if isinstance(kind, str) else "?",
        namespace if isinstance(namespace, str) and namespace else default_namespace,
        name if isinstance(name, str) and name else "(no name)",
    )


def refuse_unknown(findings: Findings, data: Mapping[str, Any], known: Sequence[str], path: str) -> None:
    """Every key of `data` not in `known` is refused: nothing is dropped without a word."""
    for key in data:
        if key not in known:
            findings.refuse(f"{path}.{key}", "not a field certmint knows how to convert")


def read_map(findings: Findings, data: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        findings.refuse(f"{path}.{key}", "not an object")
        return None
    return value


def read_str(findings: Findings, data: Mapping[str, Any], key: str, path: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        findings.refuse(f"{path}.{key}", "not a string")
        return None
    return value


def read_bool(findings: Findings, data: Mapping[str, Any], key: str, path: str) -> bool | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        findings.refuse(f"{path}.{key}", "not true or false")
        return None
    return value


def read_int(findings: Findings, data: Mapping[str, Any], key: str, path: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        findings.refuse(f"{path}.{key}", "not an integer")
        return None
    return value


def read_strings(findings: Findings, data: Mapping[str, Any], key: str, path: str) -> list[str] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        findings.refuse(f"{path}.{key}", "not a list of strings")
        return None
    return list(value)


def read_string_map(
    findings: Findings, data: Mapping[str, Any], key: str, path: str
) -> dict[str, str] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        findings.refuse(f"{path}.{key}", "not a map of strings")
        return None
    return dict(value)
