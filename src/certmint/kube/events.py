"""Kubernetes Events on our objects, so `kubectl describe` tells what certmint did and why."""

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from certmint.api import API_VERSION

log = logging.getLogger("certmint.events")


@dataclass(frozen=True)
class ObjectReference:
    kind: str
    name: str
    namespace: str | None
    uid: str
    api_version: str = API_VERSION


def event_body(about: ObjectReference, kind: str, reason: str, message: str, now: datetime) -> dict[str, Any]:
    """`kind` is Normal or Warning. Events of cluster-scoped objects go to the `default` namespace."""
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": f"{about.name}.{secrets.token_hex(8)}",
            "namespace": about.namespace or "default",
        },
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
