"""certmint.dev custom objects: reading Issuers and writing the status of any of our resources."""

from typing import Any, cast

from kubernetes.aio import client
from kubernetes.aio.client.exceptions import ApiException

from certmint.api import GROUP, VERSION
from certmint.kube.apply import request_json

_MERGE_PATCH = "application/merge-patch+json"


async def read_object(
    api: client.ApiClient, plural: str, namespace: str | None, name: str
) -> dict[str, Any] | None:
    objects = client.CustomObjectsApi(api)
    try:
        if namespace:
            found = await objects.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
        else:
            found = await objects.get_cluster_custom_object(GROUP, VERSION, plural, name)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return cast(dict[str, Any], found)


async def patch_status(
    api: client.ApiClient, plural: str, namespace: str | None, name: str, status: dict[str, Any]
) -> str:
    """Returns the object's new resourceVersion ("" when it is gone)."""
    scope = f"namespaces/{namespace}/" if namespace else ""
    path = f"/apis/{GROUP}/{VERSION}/{scope}{plural}/{name}/status"
    try:
        written = await request_json(api, "PATCH", path, body={"status": status}, content_type=_MERGE_PATCH)
    except ApiException as error:
        # Deleted meanwhile: nothing left to report on.
        if error.status != 404:
            raise
        return ""
    return str(written.get("metadata", {}).get("resourceVersion", ""))


async def read_namespace_labels(api: client.ApiClient, name: str) -> dict[str, str] | None:
    """None when the namespace does not exist."""
    try:
        namespace = await client.CoreV1Api(api).read_namespace(name)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    return dict(namespace.metadata.labels or {}) if namespace.metadata else {}
