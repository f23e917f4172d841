"""Who works among replicas: the same rule kopf applies to its watch streams."""

from datetime import UTC, datetime, timedelta

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
