"""Kubernetes Events on our objects, so `kubectl describe` tells what certmint did and why."""

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from kubernetes.aio import client
from kubernetes.aio.client.exceptions import ApiException

from certmint.api import API_VERSION
from certmint.kube.apply import request_json
from certmint.kube.errors import describe

log = logging.getLogger("certmint.events")


@dataclass(frozen=True)
class ObjectReference:
    kind: str
    name: str
    namespace: str | None
    uid: str
    api_version: str = API_VERSION


async def post_event(
    api: client.ApiClient, about: ObjectReference, kind: str, reason: str, message: str
) -> None:
    """`kind` is Normal or Warning. Events of cluster-scoped objects go to the `default` namespace."""
    namespace = about.namespace or "default"
    now = datetime.now(UTC)
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{about.name}.{secrets.token_hex(8)}", "namespace": namespace},
        "involvedObject": {
            "apiVersion": about.api_version,
            "kind": about.kind,
            "name": about.name,
            "namespace": about.namespace,
            "uid": about.uid,
        },
        "reason": reason,
        "message": message[:1024],
        "type": kind,
        "source": {"component": "certmint"},
        "reportingComponent": "certmint.dev/operator",
        "reportingInstance": "certmint",
        "firstTimestamp": now.isoformat(),
        "lastTimestamp": now.isoformat(),
        "count": 1,
    }
    try:
        await request_json(api, "POST", f"/api/v1/namespaces/{namespace}/events", body=event)
    except ApiException as error:
        # Events are for people reading `kubectl describe`; a lost one (say, in a namespace being
        # deleted) must not fail the reconcile that already did its work.
        log.warning(
            "event %s on %s %s/%s not posted (%s)", reason, about.kind, namespace, about.name, describe(error)
        )
