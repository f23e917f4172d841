"""Secrets as certmint reads and writes them (the requests are kube.gateway.Kube's)."""

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from certmint.planning import markings
from certmint.planning.certificates.secret_view import SecretContents, SecretView, Unusable, view_secret
from certmint.planning.contest import DataWriter

FIELD_MANAGER = markings.FIELD_MANAGER
TLS = "kubernetes.io/tls"
LIST_PAGE = 500
"""Objects per list request (Secrets, Certificates, kopf's kinds). Each page is decoded whole: at a
restart of 12,500, pages of 500 instead of 2,000 left 230 MB settled instead of 256 MB, for 25
requests per kind instead of 7 (bench/results/2026-12-03-shard-restart.md)."""


@dataclass(frozen=True)
class SecretObject:
    name: str
    namespace: str
    type: str
    data: dict[str, bytes]
    labels: dict[str, str]
    annotations: dict[str, str]
    resource_version: str
    owner_uids: frozenset[str] = frozenset()
    writers: tuple[DataWriter, ...] = ()
    """From managedFields: who last wrote which data keys, and when."""
    uid: str = ""
    certmint_labels: frozenset[str] = frozenset()
    """Labels certmint's own field manager wrote (planning.markings): a bundle's copy is certmint's only
    then."""
    certmint_annotations: frozenset[str] = frozenset()
    """From managedFields: the annotations certmint's field manager owns."""

    def view(self, contents: SecretContents | Unusable | None = None) -> SecretView:
        """What planning keeps of it: no data, no key. `contents` when they are known already."""
        return view_secret(
            self.name,
            self.data,
            self.labels,
            self.annotations,
            owner_uids=self.owner_uids,
            writers=self.writers,
            secret_type=self.type,
            resource_version=self.resource_version,
            contents=contents,
            certmint_annotations=self.certmint_annotations,
        )


@dataclass(frozen=True)
class OwnerReference:
    api_version: str
    kind: str
    name: str
    uid: str

    def to_api(self) -> dict[str, str]:
        return {"apiVersion": self.api_version, "kind": self.kind, "name": self.name, "uid": self.uid}


def secret_from_body(body: Mapping[str, Any]) -> SecretObject:
    """A Secret as the API server serves it (a read, a write's answer, a watch event)."""
    metadata = body.get("metadata") or {}
    return SecretObject(
        name=metadata.get("name", ""),
        namespace=metadata.get("namespace", ""),
        type=body.get("type") or "Opaque",
        data={key: base64.b64decode(value) for key, value in (body.get("data") or {}).items()},
        labels=dict(metadata.get("labels") or {}),
        annotations=dict(metadata.get("annotations") or {}),
        resource_version=str(metadata.get("resourceVersion") or ""),
        owner_uids=frozenset(ref["uid"] for ref in metadata.get("ownerReferences") or [] if ref.get("uid")),
        writers=tuple(data_writers(metadata.get("managedFields") or [])),
        uid=str(metadata.get("uid") or ""),
        certmint_labels=markings.certmint_labels(
            metadata.get("managedFields") or [], frozenset({FIELD_MANAGER})
        ),
        certmint_annotations=markings.certmint_annotations(
            metadata.get("managedFields") or [], frozenset({FIELD_MANAGER})
        ),
    )


def data_writers(entries: list[Mapping[str, Any]]) -> list[DataWriter]:
    """Per managedFields entry: the data (and binaryData) keys that field manager owns."""
    writers = []
    for entry in entries:
        recorded = entry.get("fieldsV1")
        fields: Mapping[str, Any] = recorded if isinstance(recorded, dict) else {}
        owned = [*(fields.get("f:data") or {}), *(fields.get("f:binaryData") or {})]
        keys = frozenset(key[2:] for key in owned if isinstance(key, str) and key.startswith("f:"))
        writers.append(
            DataWriter(manager=entry.get("manager") or "", time=_time(entry.get("time")), keys=keys)
        )
    return writers


def _time(stamp: object) -> datetime | None:
    if isinstance(stamp, datetime):
        return stamp
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp)
    except ValueError:
        return None


def secret_manifest(
    namespace: str,
    name: str,
    secret_type: str,
    data: Mapping[str, bytes],
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    owner: OwnerReference | None,
    resource_version: str = "",
) -> dict[str, Any]:
    """A Secret certmint writes in full: these fields and no others. With `resource_version`, a write
    made only to that version of the Secret."""
    metadata: dict[str, object] = {
        "name": name,
        "namespace": namespace,
        "labels": dict(labels),
        "annotations": dict(annotations),
    }
    if resource_version:
        metadata["resourceVersion"] = resource_version
    if owner is not None:
        metadata["ownerReferences"] = [owner.to_api()]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": secret_type,
        "data": encoded(data),
    }


def encoded(data: Mapping[str, bytes]) -> dict[str, str]:
    return {key: base64.b64encode(value).decode() for key, value in data.items()}
