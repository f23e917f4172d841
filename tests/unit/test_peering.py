"""Who works among replicas: the same rule kopf applies to its watch streams."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
import pytest
from kopf._cogs.aiokits.aiotoggles import Toggle
from kopf._cogs.clients import patching
from kopf._cogs.structs.references import CLUSTER_PEERINGS_K, Resource
from kopf._core.engines import peering as kopf_peering

from certmint.operator import peering
from certmint.operator.peering import leads, read_peers

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def peer(priority: int, seen_ago: int = 0, lifetime: int = 60) -> dict[str, object]:
    return {
        "priority": priority,
        "lifetime": lifetime,
        "lastseen": (NOW - timedelta(seconds=seen_ago)).isoformat(),
    }


def test_the_highest_live_priority_leads_and_others_stand_by() -> None:
    peers = {"a": peer(200), "b": peer(100)}
    assert leads(read_peers(peers), "a", 200, NOW)
    assert not leads(read_peers(peers), "b", 100, NOW)


def test_a_dead_leader_hands_over() -> None:
    peers = {"a": peer(200, seen_ago=61), "b": peer(100)}
    assert leads(read_peers(peers), "b", 100, NOW)


def test_a_tie_pauses_both_as_kopf_does() -> None:
    peers = {"a": peer(100), "b": peer(100)}
    assert not leads(read_peers(peers), "a", 100, NOW)
    assert not leads(read_peers(peers), "b", 100, NOW)


def test_an_unannounced_replica_never_leads_and_junk_entries_are_ignored() -> None:
    assert not leads(read_peers({"b": peer(1)}), "a", 200, NOW)
    assert leads(read_peers({"a": peer(200), "junk": {"priority": "x"}, "other": "text"}), "a", 200, NOW)


async def test_a_replica_refreshes_its_views_before_it_leads_and_stands_by_if_that_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = {"now": NOW}
    steps: list[str] = []
    active = asyncio.Event()

    class PeeringObject:
        def __init__(self, _: object) -> None:
            pass

        async def get_cluster_custom_object(self, *_: object) -> dict[str, object]:
            clock["now"] += timedelta(seconds=1)
            return {"status": {"me": {**peer(100), "lastseen": clock["now"].isoformat()}}}

    async def refresh() -> None:
        steps.append("refresh" if active.is_set() is False else "refresh while active")
        if len(steps) == 1:
            raise ConnectionError("API server unreachable")

    monkeypatch.setattr("certmint.operator.peering.client.CustomObjectsApi", PeeringObject)
    follower = asyncio.create_task(
        peering.follow(object(), "p", "me", 100, 0.001, active, lambda: clock["now"], refresh)  # type: ignore[arg-type]
    )
    try:
        await asyncio.wait_for(active.wait(), 10)
    finally:
        follower.cancel()
    assert steps == ["refresh", "refresh"], "the failed refresh kept it standing by; the next one led"


# kopf's peering format, pinned: records made by kopf's own code (its keep-alive, its Peer) are
# read by certmint as kopf reads them, and certmint's rule pauses whom kopf's pauses. A kopf
# upgrade that changes either fails here rather than in a cluster.

PEERINGS = Resource(peering.GROUP, peering.VERSION, peering.PLURAL, namespaced=False)
"""The resource certmint reads."""


def kopf_settings(priority: int, lifetime: int = 60) -> kopf.OperatorSettings:
    settings = kopf.OperatorSettings()
    settings.peering.name = "certmint"
    settings.peering.priority = priority
    settings.peering.lifetime = lifetime
    return settings


async def kopf_keepalive(monkeypatch: pytest.MonkeyPatch, identity: str, priority: int, lifetime: int) -> Any:
    """The status entry kopf's keep-alive (peering.touch) patches into the peering object."""
    patched: list[Any] = []

    async def patch_obj(*, patch: Any, **_: Any) -> tuple[dict[str, Any], None]:
        patched.append(patch)
        return {}, None

    monkeypatch.setattr(patching, "patch_obj", patch_obj)
    await kopf_peering.touch(
        identity=kopf_peering.Identity(identity),
        settings=kopf_settings(priority, lifetime),
        resource=PEERINGS,
        namespace=None,
    )
    (patch,) = patched
    return patch["status"][identity]


async def kopf_pauses(status: dict[str, Any], identity: str, priority: int) -> bool:
    """Whether kopf pauses the replica `identity` of `priority` on this peering status."""
    paused = Toggle(False)
    pressure = asyncio.Event()
    pressure.set()  # kopf then re-reads at once instead of sleeping until a blocking peer expires
    await kopf_peering.process_peering_event(
        raw_event={"type": None, "object": {"metadata": {"name": "certmint"}, "status": status}},
        namespace=None,
        resource=PEERINGS,
        identity=kopf_peering.Identity(identity),
        settings=kopf_settings(priority),
        autoclean=False,
        stream_pressure=pressure,
        conflicts_found=paused,
    )
    return paused.is_on()


def kopf_entry(priority: int, seen_ago: int, lifetime: int = 60) -> dict[str, Any]:
    """An entry as kopf's Peer writes it, last seen `seen_ago` seconds before now."""
    lastseen = datetime.now(UTC) - timedelta(seconds=seen_ago)
    return kopf_peering.Peer(
        identity=kopf_peering.Identity("x"),
        priority=priority,
        lifetime=lifetime,
        lastseen=lastseen.isoformat(),
    ).as_dict()


def test_certmint_reads_the_peering_object_kopf_uses() -> None:
    assert CLUSTER_PEERINGS_K.check(PEERINGS)


async def test_a_keepalive_kopf_writes_reads_as_kopf_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = await kopf_keepalive(monkeypatch, "replica-a", priority=150, lifetime=45)
    ours = read_peers({"replica-a": entry})["replica-a"]
    theirs = kopf_peering.Peer(identity=kopf_peering.Identity("replica-a"), **entry)
    assert ours.priority == theirs.priority == 150
    assert ours.lifetime == theirs.lifetime == timedelta(seconds=45)
    assert ours.lastseen == theirs.lastseen
    assert ours.expires_at == theirs.deadline
    now = datetime.now(UTC)
    assert ours.alive(now) is not theirs.is_dead
    assert not ours.alive(theirs.deadline)  # kopf counts a peer dead at its deadline, as we do


async def test_a_departing_keepalive_removes_the_replica_from_the_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """kopf's goodbye (lifetime 0) deletes its entry: certmint sees no such replica."""
    assert await kopf_keepalive(monkeypatch, "replica-a", priority=150, lifetime=0) is None


@pytest.mark.parametrize(
    ("others", "priority"),
    [
        pytest.param({}, 100, id="alone"),
        pytest.param({"b": (200, 0)}, 100, id="a live higher priority"),
        pytest.param({"b": (100, 0)}, 100, id="a live tie"),
        pytest.param({"b": (50, 0)}, 100, id="a live lower priority"),
        pytest.param({"b": (200, 120)}, 100, id="a dead higher priority"),
        pytest.param({"b": (200, 120), "c": (50, 0)}, 100, id="dead higher, live lower"),
        pytest.param({"b": (200, 10), "c": (50, 0)}, 100, id="live higher, live lower"),
    ],
)
async def test_certmint_leads_exactly_when_kopf_does_not_pause(
    monkeypatch: pytest.MonkeyPatch, others: dict[str, tuple[int, int]], priority: int
) -> None:
    status = {"a": await kopf_keepalive(monkeypatch, "a", priority, 60)}
    status |= {name: kopf_entry(other, seen_ago) for name, (other, seen_ago) in others.items()}
    paused = await kopf_pauses(status, "a", priority)
    assert leads(read_peers(status), "a", priority, datetime.now(UTC)) is not paused
