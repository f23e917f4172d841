"""Server-side apply, with the body serialized by us rather than by the client.

The client would send `json.dumps(body)`, which escapes characters beyond the Basic Multilingual
Plane (an emoji in a common name or an annotation) as UTF-16 surrogate pairs; the API server
parses apply patches as YAML and refuses those escapes. Sent as UTF-8 text they are fine.
"""

import json
from typing import Any, cast

from kubernetes.aio import client
from kubernetes.aio.client.exceptions import ApiException

CONTENT_TYPE = "application/apply-patch+yaml; charset=utf-8"


async def server_side_apply(
    api: client.ApiClient, resource_path: str, manifest: dict[str, Any], field_manager: str
) -> dict[str, Any]:
    """PATCHes `resource_path` (e.g. /api/v1/namespaces/NS/secrets/NAME) with `manifest`, forcing
    conflicts; returns the object as written. Raises Rejected for an invalid object, ApiException
    for anything else."""
    try:
        return await request_json(
            api,
            "PATCH",
            resource_path,
            body=json.dumps(manifest, ensure_ascii=False),
            query=[("fieldManager", field_manager), ("force", True)],
            content_type=CONTENT_TYPE,
        )
    except ApiException as error:
        raise_if_rejected(error)
        raise


async def request_json(
    api: client.ApiClient,
    method: str,
    resource_path: str,
    *,
    body: str | dict[str, Any] | None = None,
    query: list[tuple[str, Any]] | None = None,
    content_type: str = "application/json",
) -> dict[str, Any]:
    """One request whose answer stays plain JSON: the client's typed models cost more CPU to build
    than the rest of an issuance, and nothing here needs them. A str body is sent as it is, a dict
    as JSON. Raises ApiException on an error."""
    params = await api.param_serialize(
        method=method,
        resource_path=resource_path,
        query_params=query or [],
        header_params={"Content-Type": content_type, "Accept": "application/json"},
        body=body,
        auth_settings=["BearerToken"],
    )
    response = await api.call_api(*params)
    await response.read()  # type: ignore[no-untyped-call]
    answer = api.response_deserialize(response, {"200": "object", "201": "object"}).data
    return cast(dict[str, Any], answer)


def raise_if_rejected(error: ApiException) -> None:
    """A 400 or 422 is the API server refusing the object itself: raised as Rejected."""
    if error.status in (400, 422):
        raise Rejected(_message(error)) from error


def _message(error: ApiException) -> str:
    try:
        return str(json.loads(error.body or "{}").get("message") or error.reason)
    except ValueError:
        return str(error.reason)


class Rejected(Exception):
    """The API server refused the object itself (400, 422): retrying the same write cannot help."""


def version_of(written: dict[str, Any]) -> str:
    return str(written.get("metadata", {}).get("resourceVersion", ""))
