"""Reading and writing Secrets. Writes use server-side apply, so fields other tools own survive."""

import base64
from collections.abc import Mapping
from dataclasses import dataclass

from kubernetes.aio import client
from kubernetes.aio.client.exceptions import ApiException

from certmint.kube.apply import raise_if_rejected, server_side_apply, version_of
from certmint.planning.contest import DataWriter

FIELD_MANAGER = "certmint"


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


@dataclass(frozen=True)
class OwnerReference:
    api_version: str
    kind: str
    name: str
    uid: str


async def read_secret(api: client.ApiClient, namespace: str, name: str) -> SecretObject | None:
    try:
        secret = await client.CoreV1Api(api).read_namespaced_secret(name, namespace)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    metadata = secret.metadata
    return SecretObject(
        name=name,
        namespace=namespace,
        type=secret.type or "Opaque",
        data={key: base64.b64decode(value) for key, value in (secret.data or {}).items()},
        labels=dict(metadata.labels or {}) if metadata else {},
        annotations=dict(metadata.annotations or {}) if metadata else {},
        resource_version=(metadata.resource_version or "") if metadata else "",
        owner_uids=frozenset(ref.uid for ref in (metadata.owner_references or []) if ref.uid)
        if metadata
        else frozenset(),
        writers=tuple(data_writers(metadata.managed_fields or [])) if metadata else (),
    )


def data_writers(entries: list[client.V1ManagedFieldsEntry]) -> list[DataWriter]:
    """Per managedFields entry: the data (and binaryData) keys that field manager owns."""
    writers = []
    for entry in entries:
        fields = entry.fields_v1 if isinstance(entry.fields_v1, dict) else {}
        owned = [*(fields.get("f:data") or {}), *(fields.get("f:binaryData") or {})]
        keys = frozenset(key[2:] for key in owned if isinstance(key, str) and key.startswith("f:"))
        writers.append(DataWriter(manager=entry.manager or "", time=entry.time, keys=keys))
    return writers


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
) -> str:
    """Declares exactly the fields certmint owns; what we stop declaring is removed, others' fields stay.

    Returns the Secret's new resourceVersion.
    """
    metadata = _metadata(namespace, name, labels, annotations, owner)
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": secret_type,
        "data": {key: base64.b64encode(value).decode() for key, value in data.items()},
    }
    return version_of(await server_side_apply(api, _path(namespace, name), body, FIELD_MANAGER))


async def create_secret(
    api: client.ApiClient,
    namespace: str,
    name: str,
    *,
    data: Mapping[str, bytes],
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
    owner: OwnerReference | None = None,
) -> str | None:
    """Creates a kubernetes.io/tls Secret with a plain create, so a concurrent creator wins: returns
    its resourceVersion, or None when one of that name already exists (never overwritten). Raises
    Rejected when the API server refuses the object (e.g. a label value)."""
    metadata = _metadata(namespace, name, labels, annotations, owner)
    body = client.V1Secret.model_validate(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata,
            "type": "kubernetes.io/tls",
            "data": {key: base64.b64encode(value).decode() for key, value in data.items()},
        }
    )
    try:
        created = await client.CoreV1Api(api).create_namespaced_secret(
            namespace, body, field_manager=FIELD_MANAGER
        )
    except ApiException as error:
        if error.status == 409:
            return None
        raise_if_rejected(error)
        raise
    return str(created.metadata.resource_version or "") if created.metadata else ""


async def mark_secret(
    api: client.ApiClient,
    namespace: str,
    name: str,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
) -> None:
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
    await server_side_apply(api, _path(namespace, name), body, f"{FIELD_MANAGER}-watch")


async def apply_secret_data(
    api: client.ApiClient,
    namespace: str,
    name: str,
    data: Mapping[str, bytes],
    *,
    resource_version: str,
    field_manager: str,
) -> str:
    """Sets some data keys of an existing Secret under a field manager of their own, so the writer of
    its other keys neither removes nor reclaims them. `resource_version` makes it fail with 409 when
    the Secret changed since it was read, and with an error when it no longer exists."""
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": resource_version},
        "data": {key: base64.b64encode(value).decode() for key, value in data.items()},
    }
    return version_of(await server_side_apply(api, _path(namespace, name), body, field_manager))


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
