"""The wire: one JSON request to the API server, and what its errors mean."""

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

from kubernetes.aio import client
from kubernetes.aio.client.exceptions import ApiException

APPLY_PATCH = "application/apply-patch+yaml; charset=utf-8"
MERGE_PATCH = "application/merge-patch+json"


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


async def stream_json_lines(
    api: client.ApiClient, resource_path: str, query: list[tuple[str, Any]], timeout_seconds: float
) -> AsyncIterator[dict[str, Any]]:
    """A streamed GET (a watch): each JSON line of the answer as it arrives, until the server ends the
    stream or `timeout_seconds` pass (a stream the server never ended is abandoned). Raises
    ApiException when the server refuses the request."""
    params = await api.param_serialize(
        method="GET",
        resource_path=resource_path,
        query_params=query,
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
    )
    response = await api.call_api(*params, _request_timeout=timeout_seconds)
    try:
        if not 200 <= response.status < 300:
            await response.read()  # type: ignore[no-untyped-call]
            raise ApiException(http_resp=response)
        while line := await response.response.content.readline():
            if line.strip():
                yield cast(dict[str, Any], json.loads(line))
    finally:
        response.response.release()


def json_text(body: Mapping[str, Any]) -> str:
    """`body` as UTF-8 JSON text, characters beyond ASCII left as they are (see server_side_apply)."""
    return json.dumps(body, ensure_ascii=False)


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


def version_of(written: Mapping[str, Any]) -> str:
    return str(written.get("metadata", {}).get("resourceVersion", ""))
