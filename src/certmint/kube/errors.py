"""What a failed API call means for the caller, without the traceback."""

import json
from typing import Any

from aiohttp import ClientError
from kubernetes.aio.client.exceptions import ApiException


class FenceLost(Exception):
    """A sharded replica's write refused before it was sent: its slot Lease may have expired
    (operator.slots), so another replica may be serving its buckets."""


TRANSIENT = (ApiException, ClientError, TimeoutError, ConnectionError, FenceLost)
"""Failures of the API server or the way to it: retried with backoff, logged in one line."""


def namespace_gone(error: BaseException) -> bool:
    """The object's namespace is being deleted or is gone: its objects go with it, nothing to retry."""
    if not isinstance(error, ApiException) or error.status not in (403, 404):
        return False
    details = _status(error).get("details")
    details = details if isinstance(details, dict) else {}
    causes = {cause.get("reason") for cause in details.get("causes") or [] if isinstance(cause, dict)}
    return "NamespaceTerminating" in causes or (error.status == 404 and details.get("kind") == "namespaces")


def describe(error: BaseException) -> str:
    if isinstance(error, ApiException):
        return f"API {error.status}: {_status(error).get('message') or error.reason}"
    return f"{type(error).__name__}: {error}"


def _status(error: ApiException) -> dict[str, Any]:
    try:
        status = json.loads(error.body or "{}")
    except ValueError:
        return {}
    return status if isinstance(status, dict) else {}
