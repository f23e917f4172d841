"""ConfigMaps certmint publishes (trust bundles), written with server-side apply."""

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes.aio import client
from kubernetes.aio.client.exceptions import ApiException

from certmint.kube.apply import server_side_apply
from certmint.kube.secrets import FIELD_MANAGER, OwnerReference, data_writers
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


async def read_configmap_data(api: client.ApiClient, namespace: str, name: str) -> dict[str, str] | None:
    try:
        found = await client.CoreV1Api(api).read_namespaced_config_map(name, namespace)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return dict(found.data or {})


async def list_configmaps(
    api: client.ApiClient, label_selector: str, namespaces: tuple[str, ...] = ()
) -> list[ConfigMapObject]:
    """In every namespace, or only in `namespaces` (when RBAC allows no cluster-wide list)."""
    core = client.CoreV1Api(api)
    if namespaces:
        items = [
            item
            for namespace in namespaces
            for item in (
                await core.list_namespaced_config_map(namespace, label_selector=label_selector)
            ).items
        ]
    else:
        items = (await core.list_config_map_for_all_namespaces(label_selector=label_selector)).items
    return [
        ConfigMapObject(
            namespace=item.metadata.namespace or "",
            name=item.metadata.name or "",
            data=dict(item.data or {}),
            binary_data={key: base64.b64decode(value) for key, value in (item.binary_data or {}).items()},
            annotations=dict(item.metadata.annotations or {}),
            writers=tuple(data_writers([_entry(entry) for entry in item.metadata.managed_fields or []])),
            certmint_labels=markings.certmint_labels(
                [_entry(entry) for entry in item.metadata.managed_fields or []], frozenset({FIELD_MANAGER})
            ),
        )
        for item in items
        if item.metadata is not None
    ]


def _entry(entry: client.V1ManagedFieldsEntry) -> dict[str, Any]:
    """A typed managedFields entry in the API's own JSON form (what data_writers reads)."""
    return {"manager": entry.manager, "fieldsV1": entry.fields_v1, "time": entry.time}


@dataclass(frozen=True)
class ConfigMapManifest:
    namespace: str
    name: str
    data: Mapping[str, str]
    binary_data: Mapping[str, bytes]
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    owner: OwnerReference


async def create_configmap(api: client.ApiClient, manifest: ConfigMapManifest) -> bool:
    """False when a ConfigMap of that name already exists: someone else's, never overwritten."""
    body = client.V1ConfigMap.model_validate(_body(manifest))
    try:
        await client.CoreV1Api(api).create_namespaced_config_map(
            manifest.namespace, body, field_manager=FIELD_MANAGER
        )
    except ApiException as error:
        if error.status == 409:
            return False
        raise
    return True


async def apply_configmap(api: client.ApiClient, manifest: ConfigMapManifest) -> None:
    """Updates a ConfigMap certmint created."""
    path = f"/api/v1/namespaces/{manifest.namespace}/configmaps/{manifest.name}"
    await server_side_apply(api, path, _body(manifest), FIELD_MANAGER)


def _body(manifest: ConfigMapManifest) -> dict[str, object]:
    owner = manifest.owner
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": manifest.name,
            "namespace": manifest.namespace,
            "labels": dict(manifest.labels),
            "annotations": dict(manifest.annotations),
            "ownerReferences": [
                {"apiVersion": owner.api_version, "kind": owner.kind, "name": owner.name, "uid": owner.uid}
            ],
        },
        "data": dict(manifest.data),
        "binaryData": {key: base64.b64encode(value).decode() for key, value in manifest.binary_data.items()},
    }


async def delete_configmap(api: client.ApiClient, namespace: str, name: str) -> None:
    try:
        await client.CoreV1Api(api).delete_namespaced_config_map(name, namespace)
    except ApiException as error:
        if error.status != 404:
            raise
