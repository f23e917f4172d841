"""kube.watching's list+watch on the fake API server: what the contract (tests/kube_contract.py) does
not reach on a real one, a version too old to watch from."""

import asyncio

from certmint.kube import objects
from certmint.kube.watching import Watched, WatchEvent, list_and_watch
from tests.kubefake import FakeKube

ROLE = "test/role"


async def _labelled(kube: FakeKube, name: str) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": "ns", "labels": {ROLE: "x"}},
    }
    await kube.request("POST", objects.core_path("secrets", "ns"), body=body)


def _seen(event: WatchEvent) -> tuple[str, str]:
    return event.type, (event.object.get("metadata") or {}).get("name", "")


async def test_a_version_too_old_to_watch_from_lists_again() -> None:
    kube = FakeKube()
    await _labelled(kube, "a")
    # Every watch stream ends at once, so that the next one starts from the version compacted away.
    watched = Watched(
        objects.core_path("secrets", "ns"), label_selector=ROLE, timeout_seconds=0, retry_seconds=0
    )
    events = list_and_watch(kube, watched)
    try:
        assert [_seen(await anext(events)) for _ in range(2)] == [("LISTED", "a"), ("SYNCED", "")]
        kube.compact()
        assert [_seen(await asyncio.wait_for(anext(events), 30)) for _ in range(2)] == [
            ("LISTED", "a"),
            ("SYNCED", ""),
        ]
        await _labelled(kube, "b")
        assert _seen(await asyncio.wait_for(anext(events), 30)) == ("ADDED", "b")
    finally:
        await events.aclose()
    assert kube.reads.count(f"list secrets {ROLE}") == 2
