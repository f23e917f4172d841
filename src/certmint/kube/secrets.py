"""Reading and writing Secrets. Writes use server-side apply, so fields other tools own survive."""

import base64
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubernetes.aio import client
from kubernetes.aio.client.exceptions import ApiException

from certmint.kube.apply import raise_if_rejected, request_json, server_side_apply
from certmint.planning import markings
from certmint.planning.certificates.secret_view import SecretContents, SecretView, Unusable, view_secret
from certmint.planning.contest import DataWriter

FIELD_MANAGER = markings.FIELD_MANAGER
LIST_PAGE = 2000


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
        )


@dataclass(frozen=True)
class OwnerReference:
    api_version: str
    kind: str
    name: str
    uid: str


async def read_secret(api: client.ApiClient, namespace: str, name: str) -> SecretObject | None:
    try:
        return secret_from_body(await request_json(api, "GET", _path(namespace, name)))
    except ApiException as error:
        if error.status == 404:
            return None
        raise


async def list_secrets(
    api: client.ApiClient, label_selector: str, namespaces: tuple[str, ...] = ()
) -> AsyncIterator[SecretObject]:
    """In every namespace, or only in `namespaces`; read in pages and handed out one by one, so the
    data of tens of thousands of Secrets is never in memory at once."""
    paths = [f"/api/v1/namespaces/{namespace}/secrets" for namespace in namespaces] or ["/api/v1/secrets"]
    for path in paths:
        token = ""
        while True:
            query: list[tuple[str, Any]] = [("labelSelector", label_selector), ("limit", LIST_PAGE)]
            if token:
                query.append(("continue", token))
            page = await request_json(api, "GET", path, query=query)
            for item in page.get("items") or []:
                yield secret_from_body(item)
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                break


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


async def apply_secret(
    api: client.ApiClient,
    namespace: str,
    name: str,
    *,
    secret_type: str,
    data: Mapping[str, bytes],
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    owner: OwnerReference | None = None,
) -> SecretObject:
    """Declares exactly the fields certmint owns; what we stop declaring is removed, others' fields stay.

    Returns the Secret as written.
    """
    metadata = _metadata(namespace, name, labels, annotations, owner)
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": secret_type,
        "data": {key: base64.b64encode(value).decode() for key, value in data.items()},
    }
    return secret_from_body(await server_side_apply(api, _path(namespace, name), body, FIELD_MANAGER))


async def create_secret(
    api: client.ApiClient,
    namespace: str,
    name: str,
    *,
    data: Mapping[str, bytes],
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    owner: OwnerReference | None = None,
) -> SecretObject | None:
    """Creates a kubernetes.io/tls Secret with a plain create, so a concurrent creator wins: returns
    it as created, or None when one of that name already exists (never overwritten). Raises
    Rejected when the API server refuses the object (e.g. a label value)."""
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _metadata(namespace, name, labels, annotations, owner),
        "type": "kubernetes.io/tls",
        "data": {key: base64.b64encode(value).decode() for key, value in data.items()},
    }
    try:
        created = await request_json(
            api,
            "POST",
            f"/api/v1/namespaces/{namespace}/secrets",
            body=body,
            query=[("fieldManager", FIELD_MANAGER)],
        )
    except ApiException as error:
        if error.status == 409:
            return None
        raise_if_rejected(error)
        raise
    return secret_from_body(created)


async def mark_secret(
    api: client.ApiClient,
    namespace: str,
    name: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
) -> SecretObject:
    """Adds labels and annotations to a Secret someone else owns (a user's CA), touching nothing else.

    A separate field manager keeps this apart from the Secrets certmint writes in full.
    """
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": dict(labels),
            "annotations": dict(annotations),
        },
    }
    return secret_from_body(
        await server_side_apply(api, _path(namespace, name), body, markings.WATCH_FIELD_MANAGER)
    )


async def apply_secret_data(
    api: client.ApiClient,
    namespace: str,
    name: str,
    data: Mapping[str, bytes],
    *,
    resource_version: str,
    field_manager: str,
) -> SecretObject:
    """Sets some data keys of an existing Secret under a field manager of their own, so the writer of
    its other keys neither removes nor reclaims them. `resource_version` makes it fail with 409 when
    the Secret changed since it was read, and with an error when it no longer exists."""
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": resource_version},
        "data": {key: base64.b64encode(value).decode() for key, value in data.items()},
    }
    return secret_from_body(await server_side_apply(api, _path(namespace, name), body, field_manager))


def _metadata(
    namespace: str,
    name: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    owner: OwnerReference | None,
) -> dict[str, object]:
    metadata: dict[str, object] = {
        "name": name,
        "namespace": namespace,
        "labels": dict(labels),
        "annotations": dict(annotations),
    }
    if owner is not None:
        metadata["ownerReferences"] = [
            {"apiVersion": owner.api_version, "kind": owner.kind, "name": owner.name, "uid": owner.uid}
        ]
    return metadata


def _path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/secrets/{name}"
