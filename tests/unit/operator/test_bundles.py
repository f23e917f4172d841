"""The TrustBundle reconciler (operator/bundles) on the contract-tested fake API and a fake clock:
publishing to the namespaces the selector picks, a ConfigMap certmint does not own, a copy another
writer keeps changing, what server-side apply removes, and a 409 from the API server."""

import logging
from datetime import timedelta
from typing import Any

import pytest
from kubernetes.aio.client.exceptions import ApiException

from certmint.kube import objects
from certmint.kube.gateway import Query
from certmint.operator.state import TRUST_BUNDLE, Key
from certmint.pki import CARequest, certificates_to_pem, create_root_ca, load_certificates_pem
from certmint.planning import labels, reasons
from tests.unit.operator.test_controller import Harness

BUNDLE = Key(TRUST_BUNDLE, "", "shared")
COPY = objects.core_path("configmaps", "apps", "shared")
SOMEONE_ELSE = "gitops-tool"


def ca_pem(name: str, harness: Harness) -> str:
    authority = create_root_ca(CARequest(name, timedelta(days=30)), harness.clock())
    return certificates_to_pem([authority.certificate]).decode()


def bundle_body(pem: str, version: str = "b1") -> dict[str, Any]:
    return {
        "apiVersion": "certmint.dev/v1",
        "kind": "TrustBundle",
        "metadata": {"name": "shared", "uid": "uid-shared", "generation": 1, "resourceVersion": version},
        "spec": {
            "sources": [{"inlinePEM": pem}],
            "target": {"namespaceSelector": {"matchLabels": {"team": "a"}}},
        },
    }


def add_bundle(harness: Harness, body: dict[str, Any]) -> None:
    stored = harness.kube.objects.get(("trustbundles", None, "shared"))
    if stored is not None:  # the spec changes, the status stays
        body = {**body, "status": stored.get("status", {})}
    harness.kube.objects[("trustbundles", None, "shared")] = body
    harness.controller.trust_bundle_event(None, body)


def add_namespace(harness: Harness, name: str, team: str) -> None:
    harness.controller.namespace_event(None, {"metadata": {"name": name, "labels": {"team": team}}})


def synced(harness: Harness) -> dict[str, Any]:
    status = harness.kube.objects[("trustbundles", None, "shared")]["status"]
    return next(c for c in status["conditions"] if c["type"] == "Synced")


def published_subjects(harness: Harness, namespace: str = "apps") -> set[str]:
    data = harness.kube.configmaps[(namespace, "shared")].data
    return {c.subject.rfc4514_string() for c in load_certificates_pem(data["ca.crt"].encode())}


async def published(harness: Harness, pem: str) -> None:
    add_namespace(harness, "apps", "a")
    add_namespace(harness, "elsewhere", "b")
    add_bundle(harness, bundle_body(pem))
    await harness.settle()


async def tamper(harness: Harness, text: str) -> None:
    """Another writer forces its own ca.crt into the published copy, as a GitOps tool would."""
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "shared", "namespace": "apps"},
        "data": {"ca.crt": text},
    }
    await harness.kube.server_side_apply(COPY, body, SOMEONE_ELSE)


async def test_a_bundle_is_published_where_its_selector_matches_and_reported_synced() -> None:
    harness = Harness()
    await published(harness, ca_pem("first", harness))
    assert published_subjects(harness) == {"CN=first"}
    assert ("elsewhere", "shared") not in harness.kube.configmaps
    copy = harness.kube.configmaps[("apps", "shared")]
    assert labels.TRUST_BUNDLE_LABEL in copy.certmint_labels, "marked by certmint's own field manager"
    assert copy.annotations[labels.TRUST_BUNDLE_NAME] == "shared"
    condition = synced(harness)
    assert (condition["status"], condition["reason"]) == ("True", reasons.SYNCED)
    assert harness.kube.objects[("trustbundles", None, "shared")]["status"]["namespaceCount"] == 1
    assert reasons.TRUST_CHANGED not in [e.reason for e in harness.kube.events], "a first publication"


async def test_a_new_ca_is_published_and_announced_and_a_namespace_that_stops_matching_loses_its_copy() -> (
    None
):
    harness = Harness()
    await published(harness, ca_pem("first", harness))
    add_bundle(harness, bundle_body(ca_pem("second", harness), version="b2"))
    await harness.settle()
    assert published_subjects(harness) == {"CN=second"}
    changes = [e for e in harness.kube.events if e.reason == reasons.TRUST_CHANGED]
    assert len(changes) == 1
    assert changes[0].about.kind == "TrustBundle"
    add_namespace(harness, "apps", "b")
    await harness.settle()
    assert ("apps", "shared") not in harness.kube.configmaps
    assert "delete configmap apps/shared" in harness.kube.writes


async def test_a_configmap_of_that_name_certmint_does_not_own_is_never_overwritten() -> None:
    harness = Harness()
    theirs = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared", "namespace": "apps"}}
    await harness.kube.server_side_apply(COPY, {**theirs, "data": {"ca.crt": "theirs"}}, SOMEONE_ELSE)
    await published(harness, ca_pem("first", harness))
    assert harness.kube.configmaps[("apps", "shared")].data == {"ca.crt": "theirs"}
    assert not [w for w in harness.kube.writes if w.endswith("configmap apps/shared")], (
        "the create was refused"
    )
    condition = synced(harness)
    assert (condition["status"], condition["reason"]) == ("False", reasons.CONFIGMAP_CONFLICT)
    assert "apps" in condition["message"]
    assert harness.controller.queue.scheduled(BUNDLE) is not None, "looked at again with backoff"


async def test_a_contested_copy_is_repaired_with_backoff_and_its_contest_marking_then_removed() -> None:
    harness = Harness()
    pem = ca_pem("first", harness)
    await published(harness, pem)
    await harness.kube.server_side_apply(
        COPY,
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "shared", "namespace": "apps", "labels": {"team-note": "x"}},
        },
        "kubectl-label",
    )
    harness.clock.advance(timedelta(seconds=30))
    await tamper(harness, "tampered once")
    harness.controller.queue.add(BUNDLE)
    await harness.settle()
    assert published_subjects(harness) == {"CN=first"}, "a first change is put right at once"
    assert harness.kube.configmaps[("apps", "shared")].annotations[labels.CONTESTED_REPAIRS] == "1"

    await tamper(harness, "tampered again")  # at once: a duel, unless certmint backs off
    harness.controller.queue.add(BUNDLE)
    await harness.settle()
    assert harness.kube.configmaps[("apps", "shared")].data["ca.crt"] == "tampered again", "held back"
    condition = synced(harness)
    assert (condition["status"], condition["reason"]) == ("False", reasons.CONFIGMAP_CONTESTED)
    assert SOMEONE_ELSE in condition["message"]
    assert harness.controller.queue.scheduled(BUNDLE) is not None

    harness.clock.advance(timedelta(seconds=1))  # the repair is due
    harness.controller.queue.add(BUNDLE)
    await harness.settle()
    assert published_subjects(harness) == {"CN=first"}
    assert harness.kube.configmaps[("apps", "shared")].annotations[labels.CONTESTED_REPAIRS] == "2"

    harness.clock.advance(timedelta(minutes=10))  # the other writer has stopped
    add_bundle(harness, bundle_body(ca_pem("second", harness), version="b2"))
    await harness.settle()
    copy = harness.kube.configmaps[("apps", "shared")]
    assert published_subjects(harness) == {"CN=second"}
    assert labels.CONTESTED_REPAIRS not in copy.annotations, "no longer declared: removed by the apply"
    served = await harness.kube.request("GET", COPY)
    assert served["metadata"]["labels"] == {labels.TRUST_BUNDLE_LABEL: "uid-shared", "team-note": "x"}, (
        "another manager's label stays"
    )
    assert (synced(harness)["status"], synced(harness)["reason"]) == ("True", reasons.SYNCED)


async def test_a_409_from_the_api_server_is_retried_as_a_transient_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    harness = Harness()
    add_namespace(harness, "apps", "a")
    add_bundle(harness, bundle_body(ca_pem("first", harness)))
    answer = harness.kube.request
    refused: list[str] = []

    async def conflicting_once(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        if path.endswith("/trustbundles/shared/status") and not refused:
            refused.append(path)
            raise ApiException(
                status=409, reason="Conflict", body='{"message": "the object has been modified"}'
            )
        query: Query | None = kwargs.pop("query", None)
        return await answer(method, path, query=query, **kwargs)

    harness.kube.request = conflicting_once  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING):
        await harness.step(BUNDLE)
    assert refused
    failures = [r for r in caplog.records if "reconciling" in r.getMessage()]
    assert [(r.levelno, r.exc_info) for r in failures] == [(logging.WARNING, None)], "one line, no traceback"
    assert "API 409" in failures[0].getMessage()
    assert harness.controller.queue.scheduled(BUNDLE) is not None, "retried with backoff"
    assert harness.controller.queue.failures(BUNDLE) == 1
    harness.controller.queue.add(BUNDLE)
    await harness.step(BUNDLE)
    assert (synced(harness)["status"], synced(harness)["reason"]) == ("True", reasons.SYNCED)
    assert harness.controller.queue.failures(BUNDLE) == 0
