"""A sharded replica's slot: taking it (spares wait here), keeping it, and the fence on its writes.

With more than one active replica (`--replicas N`, N > 1) each process holds at most one slot Lease
of the ring (planning.slots) and serves that slot's buckets. The keeper renews the Lease every
lease_seconds / 3; the fence lets a write leave only before `deadline` (the start of the last renew
that succeeded, plus lease_seconds, minus a margin), on the monotonic clock, which runs on while a
process is stopped: a replica resumed after its Lease could have expired sends no write at all.
Another replica takes a Lease only after renewTime + leaseDurationSeconds, by then the holder has
stopped writing. Requests already sent are left to the API server's preconditions.
"""

import asyncio
import logging
import math
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime

from aiohttp import web

from certmint.kube.errors import TRANSIENT, FenceLost, describe
from certmint.kube.gateway import Kube
from certmint.operator import metrics
from certmint.planning import slots
from certmint.planning.shards import Shard
from certmint.planning.slots import Lease, Ring, RingAction

log = logging.getLogger("certmint.slots")

LOST_TO_ANOTHER = "another replica holds the slot now"
LOST_TO_RING = "the ring changed"
LOST_TO_TIME = "the Lease was not renewed in time"
LIVENESS_SLACK_SECONDS = 30.0


@dataclass
class Fence:
    """Checked by Kube before every write (Kube.fence): raises FenceLost outside the holding."""

    lease_seconds: int
    monotonic: Callable[[], float] = time.monotonic
    deadline: float = -math.inf

    def renewed(self, started: float) -> None:
        """A renew (or the take) sent at `started` succeeded."""
        self.deadline = max(self.deadline, slots.deadline(started, self.lease_seconds))

    def close(self) -> None:
        self.deadline = -math.inf

    def open(self) -> bool:
        return self.monotonic() < self.deadline

    def __call__(self) -> None:
        if not self.open():
            raise FenceLost("this replica's slot Lease may have expired: no write leaves")


@dataclass(frozen=True)
class Held:
    lease: Lease
    ring: Ring

    @property
    def shard(self) -> Shard:
        return Shard(self.lease.slot, self.ring.slots, self.ring.generation)


@dataclass
class Slots:
    """One process's part in the ring. `kube` is a Kube of its own without a fence: the Lease
    writes are what extends it."""

    kube: Kube
    namespace: str
    identity: str
    replicas: int
    lease_seconds: int
    clock: Callable[[], datetime]
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    known_generation: int | None = None
    """The ring generation this process first saw or made: a newer ring of another size is a later
    rolling update's, which this process never reverts."""
    last_round: float = -math.inf
    """When the acquire loop last started a round (monotonic): a spare's liveness."""
    _waiting_logged: bool = field(default=False, repr=False)

    @property
    def period(self) -> float:
        return slots.renew_period(self.lease_seconds)

    async def acquire(self, fence: Fence) -> Held:
        """Returns once this process holds a slot, `fence` open; reads the Leases every period
        meanwhile (as client-go's leader election does)."""
        while True:
            self.last_round = self.monotonic()
            try:
                held = await self.try_acquire(fence)
            except TRANSIENT as error:
                log.warning("cannot read or take a slot Lease (%s); trying again", describe(error))
                held = None
            if held is not None:
                self._waiting_logged = False
                return held
            if not self._waiting_logged:
                log.info("%s: every slot is held (or the ring is changing): standing by", self.identity)
                self._waiting_logged = True
            await self.sleep(self.period)

    def going_round(self) -> bool:
        """Whether the acquire loop started a round lately (a request may take a while)."""
        return self.monotonic() - self.last_round < 3 * self.period + LIVENESS_SLACK_SECONDS

    async def try_acquire(self, fence: Fence) -> Held | None:
        """One round: the ring read (created or resized when ours differs), then a free slot taken."""
        ring = await self._ring()
        if ring is None:
            return None
        leases = await self.kube.list_slot_leases(self.namespace)
        now = self.clock()
        for stale in slots.stale_leases(ring, leases, now):
            await self.kube.delete_slot_lease(self.namespace, stale)
        slot = slots.slot_to_take(ring, leases, now, self.identity)
        if slot is None:
            return None
        name = slots.slot_lease_name(ring.generation, slot)
        previous = next((lease for lease in leases if lease.name == name), None)
        started, now = self.monotonic(), self.clock()
        wanted = Lease(
            name=name,
            slot=slot,
            generation=ring.generation,
            holder=self.identity,
            renewed=now,
            duration_seconds=self.lease_seconds,
            transitions=previous.transitions + 1 if previous is not None else 0,
            acquired=now,
            resource_version=previous.resource_version if previous is not None else "",
        )
        taken = await self.kube.write_slot_lease(self.namespace, wanted)
        if taken is None:
            return None  # another process was faster
        fence.renewed(started)
        if previous is not None and previous.holder and previous.holder != self.identity:
            metrics.shard_takeovers.inc()
        log.info(
            "%s: holding slot %d of %d (ring generation %d)", self.identity, slot, ring.slots, ring.generation
        )
        return Held(taken, ring)

    async def _ring(self) -> Ring | None:
        """The ring to serve, created or resized to ours when that is ours to do; None: stand by."""
        ring = await self.kube.read_ring(self.namespace)
        action = slots.ring_action(ring, self.replicas, self.known_generation)
        if action is RingAction.STAND_BY:
            return None
        if action is RingAction.SERVE:
            assert ring is not None
            if self.known_generation is None:
                self.known_generation = ring.generation
            return ring
        generation = ring.generation + 1 if ring is not None else 1
        written = await self.kube.write_ring(
            self.namespace,
            Ring(self.replicas, generation),
            ring.resource_version if ring is not None else None,
        )
        if written is None:
            return None  # another process changed it first: read again next round
        log.info("%s: ring of %d slots, generation %d", self.identity, written.slots, written.generation)
        self.known_generation = written.generation
        return written

    async def keep(self, held: Held, fence: Fence) -> str:
        """Renews the Lease every period until it is lost; returns why, the fence closed."""
        while True:
            await self.sleep(max(0.0, min(self.period, fence.deadline - self.monotonic())))
            if not fence.open():
                metrics.shard_renewals.labels("late").inc()
                fence.close()
                return LOST_TO_TIME
            started, now = self.monotonic(), self.clock()
            try:
                ring = await self.kube.read_ring(self.namespace)
                if ring is None or (ring.slots, ring.generation) != (held.ring.slots, held.ring.generation):
                    fence.close()
                    await self.kube.delete_slot_lease(self.namespace, held.lease)
                    return LOST_TO_RING
                written = await self.kube.write_slot_lease(self.namespace, replace(held.lease, renewed=now))
            except TRANSIENT as error:
                metrics.shard_renewals.labels("error").inc()
                log.warning(
                    "%s: renewing slot %d failed (%s)", self.identity, held.lease.slot, describe(error)
                )
                continue
            if written is None:
                metrics.shard_renewals.labels("lost").inc()
                fence.close()
                return LOST_TO_ANOTHER
            metrics.shard_renewals.labels("ok").inc()
            held = replace(held, lease=written)
            fence.renewed(started)

    async def release(self, held: Held) -> None:
        """Hands the slot on at once (a stopping process): deletes the Lease as last written by us
        only; one renewed meanwhile by another process stays."""
        try:
            current = next(
                (
                    lease
                    for lease in await self.kube.list_slot_leases(self.namespace)
                    if lease.name == held.lease.name and lease.holder == self.identity
                ),
                None,
            )
            if current is not None:
                await self.kube.delete_slot_lease(self.namespace, current)
        except TRANSIENT as error:
            log.warning(
                "%s: slot %d not released (%s): it expires", self.identity, held.lease.slot, describe(error)
            )


async def serve_liveness(url: str, slots: Slots) -> web.AppRunner:
    """The liveness probe of a spare, at the URL kopf serves it on while it runs (kopf does not run
    while a process waits for a slot): healthy while the acquire loop goes round."""
    parts = urllib.parse.urlsplit(url)

    async def healthz(_: web.Request) -> web.Response:
        if slots.going_round():
            return web.Response(text="standing by for a slot\n")
        return web.Response(status=503, text="the slot loop is stuck\n")

    app = web.Application()
    app.router.add_get(parts.path or "/", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, parts.hostname, parts.port).start()
    return runner
