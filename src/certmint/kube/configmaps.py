"""ConfigMaps as certmint publishes them (trust bundles); the requests are kube.gateway.Kube's."""

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from certmint.kube.secrets import FIELD_MANAGER, OwnerReference, data_writers, encoded
from certmint.planning import markings
from certmint.planning.contest import DataWriter


@dataclass(frozen=True)
class ConfigMapObject:
    namespace: str
    name: str
    data: dict[str, str]
    binary_data: dict[str, bytes]
    annotations: dict[str, str] = field(default_factory=dict)
    writers: tuple[DataWriter, ...] = ()
    """From managedFields: who last wrote which keys, and when."""
    certmint_labels: frozenset[str] = frozenset()
    """Labels certmint's own field manager wrote (planning.markings): a copy is certmint's only then."""


def configmap_from_body(body: Mapping[str, Any]) -> ConfigMapObject:
    """A ConfigMap as the API server serves it."""
    metadata = body.get("metadata") or {}
    managed = metadata.get("managedFields") or []
    return ConfigMapObject(
        namespace=metadata.get("namespace") or "",
        name=metadata.get("name") or "",
        data=dict(body.get("data") or {}),
        binary_data={key: base64.b64decode(value) for key, value in (body.get("binaryData") or {}).items()},
        annotations=dict(metadata.get("annotations") or {}),
        writers=tuple(data_writers(managed)),
        certmint_labels=markings.certmint_labels(managed, frozenset({FIELD_MANAGER})),
    )


@dataclass(frozen=True)
class ConfigMapManifest:
    namespace: str
    name: str
    data: Mapping[str, str]
    binary_data: Mapping[str, bytes]
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    owner: OwnerReference


def configmap_body(manifest: ConfigMapManifest) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": manifest.name,
            "namespace": manifest.namespace,
            "labels": dict(manifest.labels),
            "annotations": dict(manifest.annotations),
            "ownerReferences": [manifest.owner.to_api()],
        },
        "data": dict(manifest.data),
        "binaryData": encoded(manifest.binary_data),
    }
