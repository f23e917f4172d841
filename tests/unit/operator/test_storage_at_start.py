"""operator.storage.migrate_at_start: what the operator does about stored versions when it starts,
and the one log line of each outcome."""

import asyncio
import logging
from typing import Any

import pytest
from kubernetes.aio.client.exceptions import ApiException

from certmint.api.crd import RESOURCES as DEFINITIONS
from certmint.api.crd import custom_resource_definition
from certmint.api.kinds import DEPRECATED_VERSIONS, GROUP, VERSION
from certmint.kube import objects
from certmint.operator.config import OperatorConfig
from certmint.operator.storage import migrate_at_start
from tests.e2e import manifests
from tests.kubefake import FakeKube

OLD = DEPRECATED_VERSIONS[0]
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


async def cluster(storage: str, stored: list[str]) -> FakeKube:
    """certmint's CRDs with that storage version and storedVersions, and two Certificates."""
    kube = FakeKube()
    for definition in DEFINITIONS:
        crd = custom_resource_definition(definition)
        for version in crd["spec"]["versions"]:
            version["storage"] = version["name"] == storage
        crd["status"] = {"storedVersions": stored}
        await kube.request("POST", CRDS, body=crd)
    for name in ("a", "b"):
        await kube.request(
            "POST", objects.path("certificates", "apps"), body=manifests.certificate("apps", name)
        )
    kube.writes.clear()
    kube.reads.clear()
    return kube


def stored_versions(kube: FakeKube) -> set[tuple[str, ...]]:
    return {
        tuple(body["status"]["storedVersions"])
        for (plural, _, _), body in kube.objects.items()
        if plural == "customresourcedefinitions"
    }


def active() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "certmint.storage"]


async def test_it_migrates_each_kind_that_lists_another_version(caplog: pytest.LogCaptureFixture) -> None:
    kube = await cluster(VERSION, [OLD, VERSION])
    with caplog.at_level(logging.INFO):
        await migrate_at_start(kube, OperatorConfig(), active())
    assert stored_versions(kube) == {(VERSION,)}
    assert kube.writes.count("status certificates apps/a") == 1
    assert lines(caplog)[0] == (
        "storage migration of Certificate done: 2 objects, 0 rewritten, "
        "storedVersions ['v1alpha1', 'v1'] -> ['v1']"
    )
    assert len(lines(caplog)) == len(DEFINITIONS)


async def test_it_writes_nothing_when_every_crd_stores_only_v1(caplog: pytest.LogCaptureFixture) -> None:
    kube = await cluster(VERSION, [VERSION])
    with caplog.at_level(logging.INFO):
        await migrate_at_start(kube, OperatorConfig(), active())
    assert kube.writes == []
    assert lines(caplog) == []


async def test_crds_not_upgraded_are_one_line_each_and_no_write(caplog: pytest.LogCaptureFixture) -> None:
    kube = await cluster(OLD, [OLD])
    with caplog.at_level(logging.INFO):
        await migrate_at_start(kube, OperatorConfig(), active())
    assert kube.writes == []
    assert lines(caplog)[0] == (
        f"storage migration of Certificate not run: CustomResourceDefinition certificates.{GROUP} stores "
        f"{OLD}, not {VERSION}: apply this release's CRDs (crds/, or the chart's) first"
    )
    assert len(lines(caplog)) == len(DEFINITIONS)


async def test_a_failure_is_one_line_and_leaves_stored_versions(caplog: pytest.LogCaptureFixture) -> None:
    kube = await cluster(VERSION, [OLD, VERSION])
    answer = kube.request

    async def failing(method: str, path: str, **arguments: Any) -> dict[str, Any]:
        if path.endswith("/status") and "certificates" in path:
            raise ApiException(status=503, reason="Service Unavailable")
        return await answer(method, path, **arguments)

    kube.request = failing  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO):
        await migrate_at_start(kube, OperatorConfig(), active())
    assert stored_versions(kube) == {(OLD, VERSION)}
    assert lines(caplog) == [
        "storage migration of Certificate failed, storedVersions unchanged, retried at the next start: "
        "API 503: Service Unavailable"
    ]


async def test_an_operator_serving_some_namespaces_leaves_it_to_the_command(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Its RBAC lists objects in those namespaces only."""
    kube = await cluster(VERSION, [OLD, VERSION])
    with caplog.at_level(logging.INFO):
        await migrate_at_start(kube, OperatorConfig(watch_namespaces=("apps",)), active())
    assert kube.reads == []
    assert kube.writes == []
    assert lines(caplog) == [
        "storage migration left to `certmint migrate`: this operator serves only some namespaces"
    ]
