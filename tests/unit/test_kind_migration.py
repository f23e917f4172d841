"""kube.migration.migrate_kind against FakeKube: what it writes, in which order, how fast, and what
it refuses. (FakeKube has no storage versions: that every write re-encodes an object at v1, and that
an object already stored at v1 is not written, is proven on a real API server and etcd in
tests/e2e/test_migrate.py.)"""

import copy
from typing import Any

import pytest
from kubernetes.aio.client.exceptions import ApiException

from certmint.api.crd import RESOURCES as DEFINITIONS
from certmint.api.crd import custom_resource_definition
from certmint.api.kinds import CERTIFICATES, DEPRECATED_VERSIONS, GROUP, VERSION
from certmint.kube import objects
from certmint.kube.migration import MigrationRefused, migrate_kind
from tests.e2e import manifests
from tests.kubefake import FakeKube

OLD = DEPRECATED_VERSIONS[0]
CRD = f"certificates.{GROUP}"
CRD_PLACE = ("customresourcedefinitions", None, CRD)


class PacedClock:
    """Time moves only when the migration sleeps: the sleeps are then exactly the pacing. `during`
    runs before each sleep, to change the cluster while the migration is under way."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.during: list[Any] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.during:
            await self.during.pop(0)()


async def cluster(storage: str = VERSION, stored: list[str] | None = None, certificates: int = 5) -> FakeKube:
    kube = FakeKube()
    crd = custom_resource_definition(DEFINITIONS[0])
    for version in crd["spec"]["versions"]:
        version["storage"] = version["name"] == storage
    crd["metadata"]["generation"] = 1
    crd["status"] = {"storedVersions": stored if stored is not None else [OLD, VERSION]}
    await kube.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body=crd)
    for i in range(certificates):
        body = manifests.certificate(f"ns-{i % 2}", f"cert-{i}")
        await kube.request(
            "POST", objects.path(CERTIFICATES.plural, body["metadata"]["namespace"]), body=body
        )
    kube.writes.clear()
    return kube


def stored_versions(kube: FakeKube) -> list[str]:
    return list(kube.objects[CRD_PLACE]["status"]["storedVersions"])


async def test_every_object_gets_one_status_write_then_stored_versions_are_set() -> None:
    kube, clock = await cluster(certificates=5), PacedClock()

    done = await migrate_kind(kube, CERTIFICATES, 10.0, clock=clock, sleep=clock.sleep)

    assert sorted(kube.writes[:-1]) == sorted(f"status certificates ns-{i % 2}/cert-{i}" for i in range(5))
    assert kube.writes[-1] == f"status customresourcedefinitions None/{CRD}"
    assert stored_versions(kube) == [VERSION]
    assert (done.objects, done.stored_before, done.stored_after) == (5, (OLD, VERSION), (VERSION,))
    assert clock.sleeps == pytest.approx([0.1] * 4), "10 writes a second: 0.1 s between writes"


async def test_nothing_is_written_while_the_crd_stores_the_old_version() -> None:
    kube = await cluster(storage=OLD, stored=[OLD])
    with pytest.raises(MigrationRefused, match=f"stores {OLD}, not {VERSION}"):
        await migrate_kind(kube, CERTIFICATES, 10.0)
    assert kube.writes == []


async def test_nothing_is_written_without_the_crd() -> None:
    kube = await cluster()
    del kube.objects[CRD_PLACE]
    with pytest.raises(MigrationRefused, match="not found: install certmint's CRDs first"):
        await migrate_kind(kube, CERTIFICATES, 10.0)
    assert kube.writes == []


@pytest.mark.parametrize("dry_run", [True, False])
async def test_a_dry_run_or_a_done_migration_writes_nothing(dry_run: bool) -> None:
    kube = await cluster(stored=[OLD, VERSION] if dry_run else [VERSION])
    done = await migrate_kind(kube, CERTIFICATES, 10.0, dry_run=dry_run)
    assert kube.writes == []
    assert (done.objects, done.rewritten, done.stored_after) == (5, 0, (VERSION,))


async def test_an_object_deleted_meanwhile_is_skipped() -> None:
    kube, clock = await cluster(certificates=3), PacedClock()

    async def delete_the_last() -> None:
        del kube.objects[(CERTIFICATES.plural, "ns-0", "cert-2")]

    clock.during.append(delete_the_last)
    done = await migrate_kind(kube, CERTIFICATES, 10.0, clock=clock, sleep=clock.sleep)

    assert done.objects == 3
    assert "status certificates ns-0/cert-2" not in kube.writes
    assert stored_versions(kube) == [VERSION]


async def test_a_crd_changed_meanwhile_keeps_its_stored_versions() -> None:
    """Its storage version may have been flipped back and forth: objects written meanwhile may be
    stored at the old version again, so the old version stays listed."""
    kube, clock = await cluster(certificates=3), PacedClock()

    async def edit_the_crd() -> None:
        crd = copy.deepcopy(kube.objects[CRD_PLACE])
        crd["metadata"]["generation"] = 2
        kube.objects[CRD_PLACE] = crd

    clock.during.append(edit_the_crd)
    with pytest.raises(MigrationRefused, match="changed during the migration"):
        await migrate_kind(kube, CERTIFICATES, 10.0, clock=clock, sleep=clock.sleep)
    assert stored_versions(kube) == [OLD, VERSION]


async def test_a_conflict_is_tried_once_more() -> None:
    """The API server retries a patch's conflicts itself; one that still comes back gets one more try."""
    kube = await cluster(certificates=2)
    conflicts = {"/apis/certmint.dev/v1/namespaces/ns-0/certificates/cert-0/status": 1}
    answer = kube.request

    async def conflicting(method: str, path: str, **arguments: Any) -> dict[str, Any]:
        if conflicts.get(path):
            conflicts[path] -= 1
            raise ApiException(status=409, reason="Conflict")
        return await answer(method, path, **arguments)

    kube.request = conflicting  # type: ignore[method-assign]
    await migrate_kind(kube, CERTIFICATES, 1000.0)

    assert kube.writes.count("status certificates ns-0/cert-0") == 1
    assert stored_versions(kube) == [VERSION]


async def test_an_object_that_refuses_its_write_holds_back_stored_versions_not_the_others() -> None:
    """It may still be stored at the old version: storedVersions keeps it, the message names it,
    and every other object was rewritten."""
    kube = await cluster(certificates=3)
    answer = kube.request

    async def refusing(method: str, path: str, **arguments: Any) -> dict[str, Any]:
        if path.endswith("/ns-1/certificates/cert-1/status"):
            raise ApiException(status=422, reason="Invalid")
        return await answer(method, path, **arguments)

    kube.request = refusing  # type: ignore[method-assign]
    with pytest.raises(
        MigrationRefused, match=r"1 Certificate object\(s\) refused the rewrite, e.g. ns-1/cert-1"
    ):
        await migrate_kind(kube, CERTIFICATES, 1000.0)

    assert sorted(kube.writes) == ["status certificates ns-0/cert-0", "status certificates ns-0/cert-2"]
    assert stored_versions(kube) == [OLD, VERSION]
