"""Who works among replicas: the same rule kopf applies to its watch streams."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from certmint.operator import peering
from certmint.operator.peering import leads

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def peer(priority: int, seen_ago: int = 0, lifetime: int = 60) -> dict[str, object]:
    return {
        "priority": priority,
        "lifetime": lifetime,
        "lastseen": (NOW - timedelta(seconds=seen_ago)).isoformat(),
    }


def test_the_highest_live_priority_leads_and_others_stand_by() -> None:
    peers = {"a": peer(200), "b": peer(100)}
    assert leads(peers, "a", 200, NOW)
    assert not leads(peers, "b", 100, NOW)


def test_a_dead_leader_hands_over() -> None:
    peers = {"a": peer(200, seen_ago=61), "b": peer(100)}
    assert leads(peers, "b", 100, NOW)


def test_a_tie_pauses_both_as_kopf_does() -> None:
    peers = {"a": peer(100), "b": peer(100)}
    assert not leads(peers, "a", 100, NOW)
    assert not leads(peers, "b", 100, NOW)


def test_an_unannounced_replica_never_leads_and_junk_entries_are_ignored() -> None:
    assert not leads({"b": peer(1)}, "a", 200, NOW)
    assert leads({"a": peer(200), "junk": {"priority": "x"}, "other": "text"}, "a", 200, NOW)


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
