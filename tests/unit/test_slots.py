"""Slot Leases: the pure decisions (planning.slots) and a process's part in the ring
(operator.slots) on the fake API server, with fake clocks: time passes only when a test says."""

import asyncio
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import aiohttp
import kopf
import pytest
from prometheus_client import REGISTRY

from certmint.cli import operator as operator_command
from certmint.kube.errors import FenceLost
from certmint.kube.gateway import Kube
from certmint.kube.objects import core_path
from certmint.operator import handlers
from certmint.operator.config import OperatorConfig
from certmint.operator.slots import (
    LIVENESS_SLACK_SECONDS,
    LOST_TO_ANOTHER,
    LOST_TO_RING,
    LOST_TO_TIME,
    Fence,
    Held,
    Slots,
    serve_liveness,
)
from certmint.planning import slots
from certmint.planning.shards import Shard
from certmint.planning.slots import Lease, Ring, RingAction
from devcluster.controlplane import free_port
from tests.kubefake import FakeKube

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
NAMESPACE = "certmint"
LEASE_SECONDS = 15


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def lease(slot: int, generation: int = 1, holder: str = "a", renewed: datetime | None = NOW) -> Lease:
    return Lease(slots.slot_lease_name(generation, slot), slot, generation, holder, renewed, LEASE_SECONDS)


# planning.slots


def test_a_lease_is_free_when_released_never_renewed_or_expired() -> None:
    assert not lease(0).free(NOW + timedelta(seconds=LEASE_SECONDS))
    assert lease(0).free(NOW + timedelta(seconds=LEASE_SECONDS, microseconds=1))
    assert lease(0, holder="").free(NOW)
    assert lease(0, renewed=None).free(NOW)


def test_the_ring_is_made_served_resized_once_or_left_to_a_newer_start() -> None:
    assert slots.ring_action(None, 2, None) is RingAction.CREATE
    assert slots.ring_action(Ring(2, 4), 2, None) is RingAction.SERVE
    assert slots.ring_action(Ring(2, 4), 3, None) is RingAction.BUMP  # started with 3: ours wins
    assert slots.ring_action(Ring(2, 4), 3, 4) is RingAction.BUMP
    # A ring made after this process started, of another size: a later rolling update's.
    assert slots.ring_action(Ring(2, 5), 3, 4) is RingAction.STAND_BY
    assert slots.ring_action(Ring(0, 0), 3, None) is RingAction.BUMP  # an invalid ring is replaced


def test_the_lowest_free_slot_is_taken() -> None:
    ring = Ring(3, 1)
    assert slots.slot_to_take(ring, [], NOW) == 0
    assert slots.slot_to_take(ring, [lease(0), lease(2)], NOW) == 1
    assert slots.slot_to_take(ring, [lease(0), lease(1), lease(2)], NOW) is None
    expired = lease(1, renewed=NOW - timedelta(seconds=LEASE_SECONDS + 1))
    assert slots.slot_to_take(ring, [lease(0), expired, lease(2)], NOW) == 1
    # A process that gave its slot up (it stopped writing) takes it again without waiting for expiry.
    assert slots.slot_to_take(ring, [lease(0), lease(1, holder="b"), lease(2)], NOW, "b") == 1


def test_no_slot_of_a_new_ring_is_taken_while_a_lease_of_an_older_one_lives() -> None:
    """The fence across ring changes: the old holder of a bucket may still be writing."""
    ring = Ring(3, 2)
    live_old = lease(1, generation=1)
    assert slots.slot_to_take(ring, [live_old], NOW) is None
    assert slots.stale_leases(ring, [live_old], NOW) == []
    gone = NOW + timedelta(seconds=LEASE_SECONDS + 1)
    assert slots.slot_to_take(ring, [live_old], gone) == 0
    assert slots.stale_leases(ring, [live_old, lease(0, generation=2)], gone) == [live_old]


def test_a_holder_stops_writing_before_anyone_may_take_its_lease() -> None:
    assert slots.deadline(100.0, LEASE_SECONDS) < 100.0 + LEASE_SECONDS
    assert slots.renew_period(LEASE_SECONDS) < slots.deadline(0.0, LEASE_SECONDS)


def test_objects_that_are_no_slot_lease_are_not_read_as_one() -> None:
    body = slots.lease_manifest(NAMESPACE, lease(1))
    assert slots.read_lease(body) == lease(1)
    body["metadata"]["labels"][slots.SLOT] = "64"
    assert slots.read_lease(body) is None
    body["metadata"]["labels"][slots.SLOT] = "x"
    assert slots.read_lease(body) is None
    assert slots.read_ring({"metadata": {"annotations": {slots.RING_SLOTS: "65"}}}) == Ring(0, 0)


# The fence


@dataclass
class Clocks:
    """A monotonic clock and a wall clock moving together, only when slept on. `at` runs a callback
    once the monotonic clock reaches its time (another process's move)."""

    monotonic_now: float = 1000.0
    moves: list[tuple[float, Callable[[], object]]] = field(default_factory=list)

    def monotonic(self) -> float:
        return self.monotonic_now

    def wall(self) -> datetime:
        return NOW + timedelta(seconds=self.monotonic_now - 1000.0)

    async def sleep(self, seconds: float) -> None:
        self.monotonic_now += seconds
        due = [move for move in self.moves if move[0] <= self.monotonic_now]
        self.moves = [move for move in self.moves if move[0] > self.monotonic_now]
        for _, move in due:
            result = move()
            if asyncio.iscoroutine(result):
                await result
        await asyncio.sleep(0)

    def at(self, moment: float, move: Callable[[], object]) -> None:
        self.moves.append((moment, move))


def test_the_fence_is_closed_until_a_renewal_and_after_its_deadline() -> None:
    clocks = Clocks()
    fence = Fence(LEASE_SECONDS, clocks.monotonic)
    with pytest.raises(FenceLost):
        fence()
    fence.renewed(clocks.monotonic())
    fence()
    clocks.monotonic_now = slots.deadline(1000.0, LEASE_SECONDS)
    with pytest.raises(FenceLost):
        fence()


async def test_no_write_leaves_kube_outside_the_fence_and_reads_do() -> None:
    clocks = Clocks()
    fence = Fence(LEASE_SECONDS, clocks.monotonic)
    kube = FakeKube(fence=fence)
    with pytest.raises(FenceLost):
        await kube.request("POST", core_path("namespaces", None), body={"metadata": {"name": "x"}})
    assert kube.writes == []
    assert await kube.read_namespace_labels("x") is None
    fence.renewed(clocks.monotonic())
    await kube.request("POST", core_path("namespaces", None), body={"metadata": {"name": "x"}})
    assert kube.writes == ["create namespaces None/x"]


async def test_the_real_gateway_checks_the_fence_before_it_sends() -> None:
    """Kube.request itself (FakeKube answers in its place elsewhere): the API client is never
    reached, there is none."""
    kube = Kube(api=None, fence=Fence(LEASE_SECONDS))  # type: ignore[arg-type]
    with pytest.raises(FenceLost):
        await kube.request("DELETE", core_path("secrets", "a", "b"))


# A process's part in the ring


def replica(kube: FakeKube, clocks: Clocks, identity: str, replicas: int = 2) -> Slots:
    return Slots(
        kube=kube,
        namespace=NAMESPACE,
        identity=identity,
        replicas=replicas,
        lease_seconds=LEASE_SECONDS,
        clock=clocks.wall,
        monotonic=clocks.monotonic,
        sleep=clocks.sleep,
    )


async def take(process: Slots, clocks: Clocks) -> tuple[Held, Fence]:
    fence = Fence(LEASE_SECONDS, clocks.monotonic)
    return await process.acquire(fence), fence


async def test_each_process_holds_one_slot_and_a_spare_none() -> None:
    kube, clocks = FakeKube(), Clocks()
    (a, _), (b, _) = [await take(replica(kube, clocks, name), clocks) for name in ("a", "b")]
    assert (a.shard.slot, b.shard.slot) == (0, 1)
    assert (a.shard.slots, a.shard.generation) == (2, 1)
    assert set(a.shard.buckets()).isdisjoint(b.shard.buckets())
    spare = replica(kube, clocks, "c")
    assert await spare.try_acquire(Fence(LEASE_SECONDS, clocks.monotonic)) is None
    holders = {lease.slot: lease.holder for lease in await kube.list_slot_leases(NAMESPACE)}
    assert holders == {0: "a", 1: "b"}


async def test_the_holder_renews_and_keeps_its_fence_open() -> None:
    kube, clocks = FakeKube(), Clocks()
    process = replica(kube, clocks, "a")
    held, fence = await take(process, clocks)
    before = sample("certmint_shard_lease_renewals_total", result="ok")
    end = clocks.monotonic_now + 10 * LEASE_SECONDS
    keeping = asyncio.create_task(process.keep(held, fence))
    while clocks.monotonic_now < end:
        await asyncio.sleep(0)
        fence()  # open all along
    keeping.cancel()
    await asyncio.gather(keeping, return_exceptions=True)
    renewed_times = sample("certmint_shard_lease_renewals_total", result="ok") - before
    assert renewed_times >= 10 * slots.RENEWALS_PER_LEASE - 1
    (renewed,) = await kube.list_slot_leases(NAMESPACE)
    assert renewed.holder == "a"
    assert renewed.renewed is not None
    assert renewed.renewed >= clocks.wall() - timedelta(seconds=process.period)


async def test_a_stopped_holder_is_fenced_when_it_resumes_and_a_spare_takes_its_slot() -> None:
    """SIGSTOP past the Lease: the monotonic clock ran on, so at SIGCONT the fence is past its
    deadline before anything else runs; the spare took the expired slot; the resumed holder writes
    nothing."""
    kube, clocks = FakeKube(), Clocks()
    holder, spare = replica(kube, clocks, "a", replicas=2), replica(kube, clocks, "c")
    held, fence = await take(holder, clocks)
    await take(replica(kube, clocks, "b"), clocks)  # slot 1
    takeovers = sample("certmint_shard_takeovers_total")

    clocks.monotonic_now += 2 * LEASE_SECONDS  # stopped: nothing of it ran
    taken, _ = await take(spare, clocks)
    assert taken.shard.slot == held.shard.slot
    assert sample("certmint_shard_takeovers_total") == takeovers + 1
    writes = list(kube.writes)
    with pytest.raises(FenceLost):
        fence()
    assert await holder.keep(held, fence) == LOST_TO_TIME
    assert kube.writes == writes  # not even a renewal


async def test_a_holder_whose_lease_was_taken_stops_at_its_next_renewal() -> None:
    kube, clocks = FakeKube(), Clocks()
    holder = replica(kube, clocks, "a")
    held, fence = await take(holder, clocks)

    async def taken_by_another() -> None:
        (current,) = await kube.list_slot_leases(NAMESPACE)
        assert await kube.write_slot_lease(NAMESPACE, replace(current, holder="intruder")) is not None

    clocks.at(clocks.monotonic_now + 1, taken_by_another)
    assert await holder.keep(held, fence) == LOST_TO_ANOTHER
    assert not fence.open()


async def test_failed_renewals_are_retried_until_the_deadline_then_the_slot_is_given_up() -> None:
    kube, clocks = FakeKube(), Clocks()
    holder = replica(kube, clocks, "a")
    held, fence = await take(holder, clocks)
    deadline = fence.deadline

    async def unreachable(*_: object, **__: object) -> None:
        raise ConnectionError("API server unreachable")

    kube.write_slot_lease = unreachable  # type: ignore[method-assign]
    before = sample("certmint_shard_lease_renewals_total", result="error")
    assert await holder.keep(held, fence) == LOST_TO_TIME
    assert (
        sample("certmint_shard_lease_renewals_total", result="error") - before >= 2
    )  # tried every period until then
    assert clocks.monotonic_now >= deadline  # given up no earlier
    assert clocks.monotonic_now < 1000.0 + LEASE_SECONDS  # and before the Lease could expire


async def test_a_ring_change_is_fenced_no_new_slot_while_an_old_holder_lives() -> None:
    """2 → 3 slots: the new process bumps the ring; the old holders notice at their next renewal,
    stop writing and release; only then are the new ring's slots taken. A process started for the
    old size stands by rather than revert a newer ring."""
    kube, clocks = FakeKube(), Clocks()
    old = [replica(kube, clocks, name) for name in ("a", "b")]
    held = [await take(process, clocks) for process in old]
    newcomer = replica(kube, clocks, "c", replicas=3)
    fence = Fence(LEASE_SECONDS, clocks.monotonic)
    assert await newcomer.try_acquire(fence) is None  # bumped the ring, but gen 1 Leases live
    assert await kube.read_ring(NAMESPACE) == Ring(3, 2, kube_version(kube))
    assert not fence.open()

    keepers = [process.keep(h, f) for process, (h, f) in zip(old, held, strict=True)]
    assert await asyncio.gather(*keepers) == [LOST_TO_RING, LOST_TO_RING]
    assert all(not f.open() for _, f in held)
    assert await kube.list_slot_leases(NAMESPACE) == []  # released at once

    taken = await newcomer.try_acquire(fence)
    assert taken is not None
    assert (taken.shard.slot, taken.shard.slots, taken.shard.generation) == (0, 3, 2)
    assert await old[0].try_acquire(Fence(LEASE_SECONDS, clocks.monotonic)) is None  # stands by
    assert await kube.read_ring(NAMESPACE) == Ring(3, 2, kube_version(kube))
    joining = replica(kube, clocks, "d", replicas=3)
    assert (await take(joining, clocks))[0].shard.slot == 1


def kube_version(kube: FakeKube) -> str:
    return str(kube.objects[("leases", NAMESPACE, slots.RING_NAME)]["metadata"]["resourceVersion"])


async def test_a_stopping_holder_releases_its_slot_to_a_spare_at_once() -> None:
    kube, clocks = FakeKube(), Clocks()
    holder, spare = replica(kube, clocks, "a", replicas=2), replica(kube, clocks, "b")
    held, _ = await take(holder, clocks)
    await take(spare, clocks)
    third = replica(kube, clocks, "c")
    assert await third.try_acquire(Fence(LEASE_SECONDS, clocks.monotonic)) is None
    await holder.release(held)
    taken = await third.try_acquire(Fence(LEASE_SECONDS, clocks.monotonic))
    assert taken is not None
    assert taken.shard.slot == held.shard.slot


async def test_a_spare_is_alive_while_its_acquire_loop_goes_round() -> None:
    """kopf, which serves the liveness probe, does not run while a spare waits: the slot loop serves
    it then, on the same address, and fails it once the loop stopped going round."""
    kube, clocks = FakeKube(), Clocks()
    await take(replica(kube, clocks, "a", replicas=1), clocks)
    spare = replica(kube, clocks, "b", replicas=1)
    waiting = asyncio.create_task(spare.acquire(Fence(LEASE_SECONDS, clocks.monotonic)))
    port = free_port()
    probe = await serve_liveness(f"http://127.0.0.1:{port}/healthz", spare)
    try:
        async with aiohttp.ClientSession() as session:
            while spare.last_round == -math.inf:
                await asyncio.sleep(0)
            async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
            clocks.monotonic_now += 3 * spare.period + LIVENESS_SLACK_SECONDS
            async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 503
    finally:
        waiting.cancel()
        await probe.cleanup()


# The cycle of `certmint operator --replicas N` (cli.operator.serve_slots), kopf stood in for


@dataclass
class KopfRuns:
    """kopf.operator as the cycle sees it: each run records its memo, starts a controller stand-in
    (what the startup handler puts in the memo) and runs until its stop flag, or until `end`."""

    memos: list[dict[str, Any]] = field(default_factory=list)
    end: asyncio.Event = field(default_factory=asyncio.Event)

    async def operator(self, *, memo: dict[str, Any], stop_flag: asyncio.Event, **_: Any) -> None:
        controller = SimpleNamespace(active=asyncio.Event())
        controller.active.set()
        memo[handlers.CONTROLLER] = controller
        self.memos.append(memo)
        stopped, ended = asyncio.create_task(stop_flag.wait()), asyncio.create_task(self.end.wait())
        await asyncio.wait({stopped, ended}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        ended.cancel()


async def wait_until(predicate: Callable[[], bool]) -> None:
    for _ in range(10_000):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("never came true")


async def test_the_cycle_serves_its_slot_stops_kopf_on_losing_it_and_serves_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    runs = KopfRuns()
    monkeypatch.setattr(kopf, "operator", runs.operator)
    monkeypatch.setattr(operator_command, "_on_signals", lambda stop: None)
    kube, clocks = FakeKube(), Clocks()
    process = replica(kube, clocks, "a")
    config = OperatorConfig(
        namespace=NAMESPACE,
        identity="a",
        replicas=2,
        lease_seconds=LEASE_SECONDS,
        peering="shared",
        metrics_port=0,
    )
    cycle = asyncio.create_task(operator_command.serve_slots(config, None, process))
    await wait_until(lambda: len(runs.memos) == 1)
    first = runs.memos[0]
    assert first[handlers.SHARD] == Shard(0, 2, 1)
    assert first[handlers.CONFIG].peering == ""  # kopf peering off: the Leases decide who works
    first[handlers.FENCE]()  # open: writes leave

    (held,) = await kube.list_slot_leases(NAMESPACE)
    assert await kube.write_slot_lease(NAMESPACE, replace(held, holder="intruder")) is not None
    await wait_until(lambda: len(runs.memos) == 2)
    assert not first[handlers.CONTROLLER].active.is_set()  # its workers paused at once
    with pytest.raises(FenceLost):
        first[handlers.FENCE]()
    second = runs.memos[1]
    assert second[handlers.SHARD] == Shard(1, 2, 1)  # the free slot: one process, one slot at a time
    second[handlers.FENCE]()

    runs.end.set()  # kopf ends (SIGTERM): the slot is handed on at once
    await cycle
    with pytest.raises(FenceLost):
        second[handlers.FENCE]()
    assert {lease.slot: lease.holder for lease in await kube.list_slot_leases(NAMESPACE)} == {0: "intruder"}


async def test_a_spare_serves_its_metrics_while_it_waits_and_stops_on_sigterm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No controller runs while a process waits for a slot: the cycle serves /metrics itself (the
    slot metrics say it holds none), and closes the port when it stops."""
    stops: list[Callable[[], None]] = []
    monkeypatch.setattr(operator_command, "_on_signals", stops.append)
    kube, clocks = FakeKube(), Clocks()
    await take(replica(kube, clocks, "a", replicas=1), clocks)
    spare = replace(replica(kube, clocks, "b", replicas=1), sleep=_stays_asleep)  # one round only
    port = free_port()
    config = OperatorConfig(
        namespace=NAMESPACE,
        identity="b",
        replicas=2,
        lease_seconds=LEASE_SECONDS,
        metrics_port=port,
        http_address="127.0.0.1",
    )
    cycle = asyncio.create_task(operator_command.serve_slots(config, None, spare))
    await wait_until(lambda: spare.last_round > -math.inf)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
            assert response.status == 200
            assert "certmint_shard_takeovers_total" in await response.text()
        async with session.get(f"http://127.0.0.1:{port}/crl/ns/ca.crl") as response:
            assert response.status == 404, "a spare knows no CRL"
        (stop,) = stops
        stop()
        await cycle
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(f"http://127.0.0.1:{port}/metrics")
    assert [lease.holder for lease in await kube.list_slot_leases(NAMESPACE)] == ["a"]


async def _stays_asleep(_: float) -> None:
    await asyncio.Event().wait()


async def test_a_sigterm_while_kopf_stops_after_a_lost_slot_ends_the_cycle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """kopf installs its own SIGTERM handler when it starts and never removes it. A SIGTERM that
    arrives while kopf shuts down after the slot was lost must still end the process's cycle (here:
    the handler installed last is the one a signal reaches)."""
    installed: list[Callable[[], None]] = []
    monkeypatch.setattr(operator_command, "_on_signals", installed.append)
    runs = KopfRuns()

    async def kopf_with_signals(*, memo: dict[str, Any], stop_flag: asyncio.Event, **rest: Any) -> None:
        installed.append(lambda: None)  # kopf's handler: it would only stop this kopf run
        await runs.operator(memo=memo, stop_flag=stop_flag, **rest)
        installed[-1]()  # SIGTERM during kopf's shutdown

    monkeypatch.setattr(kopf, "operator", kopf_with_signals)
    kube, clocks = FakeKube(), Clocks()
    process = replica(kube, clocks, "a")
    config = OperatorConfig(
        namespace=NAMESPACE, identity="a", replicas=2, lease_seconds=LEASE_SECONDS, metrics_port=0
    )
    cycle = asyncio.create_task(operator_command.serve_slots(config, None, process))
    await wait_until(lambda: len(runs.memos) == 1)
    (held,) = await kube.list_slot_leases(NAMESPACE)
    assert await kube.write_slot_lease(NAMESPACE, replace(held, holder="intruder")) is not None
    await asyncio.wait_for(cycle, 30)
    assert len(runs.memos) == 1, "no second slot taken after the SIGTERM"
    assert {lease.slot: lease.holder for lease in await kube.list_slot_leases(NAMESPACE)} == {0: "intruder"}
