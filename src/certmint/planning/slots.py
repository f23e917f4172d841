"""Slots: which replica holds which slot of the shard ring, decided from Leases (pure).

With more than one active replica, each process holds at most one slot Lease
(coordination.k8s.io/v1, in the operator's namespace) and serves only that slot's buckets
(planning.shards). The ring itself is a Lease without a holder, RING_NAME, whose annotations say
how many slots it has and its generation. Slot Leases are named after generation and slot, so a
ring of another size never shares a Lease with this one.

The fence across ring changes: a slot of generation g is taken only when no unexpired Lease of an
older generation is left, so no two replicas ever serve one bucket at once. The fence within a
holder: it stops writing at `deadline`, before any other replica may take its Lease for expired.
"""

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from certmint.planning.shards import BUCKETS

RING_NAME: Final = "certmint-ring"
RING_SLOTS: Final = "certmint.dev/ring-slots"
RING_GENERATION: Final = "certmint.dev/ring-generation"
SLOT_LEASE_LABEL: Final = "certmint.dev/slot-lease"
"""On every slot Lease (its value the ring's name): the Leases one listing reads."""
SLOT: Final = "certmint.dev/slot"
GENERATION: Final = "certmint.dev/generation"

RENEWALS_PER_LEASE: Final = 3
"""A holder renews every lease_seconds / 3, and a spare reads the Leases as often (client-go's
leader election renews and retries on the same kind of period)."""
MARGIN_FRACTION: Final = 5
"""A holder stops writing lease_seconds / 5 before its Lease could expire: room for the clock skew
between nodes and for a request under way."""
_MICRO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True)
class Lease:
    """A slot Lease as the API server serves it."""

    name: str
    slot: int
    generation: int
    holder: str
    renewed: datetime | None
    duration_seconds: int
    transitions: int = 0
    acquired: datetime | None = None
    resource_version: str = ""

    def free(self, now: datetime) -> bool:
        """Released (no holder), never renewed, or expired: renewTime + leaseDurationSeconds < now."""
        if not self.holder or self.renewed is None:
            return True
        return self.renewed + timedelta(seconds=self.duration_seconds) < now


@dataclass(frozen=True)
class Ring:
    slots: int
    """0 for a ring object that names no valid ring."""
    generation: int
    resource_version: str = ""


class RingAction(enum.Enum):
    CREATE = "create"
    """No ring yet: create it with our number of slots, generation 1."""
    BUMP = "bump"
    """The ring has another number of slots than ours and is no newer than the one we started
    with: replace it with ours, the next generation."""
    SERVE = "serve"
    STAND_BY = "stand-by"
    """A newer ring than we started with, of another size: a rolling update started later wins."""


def slot_lease_name(generation: int, slot: int) -> str:
    return f"certmint-g{generation}-slot-{slot}"


def ring_action(ring: Ring | None, slots: int, known_generation: int | None) -> RingAction:
    """What a process wanting a ring of `slots` does with the ring it read; `known_generation` is
    the ring generation it first saw (or made), None before it read any."""
    if ring is None:
        return RingAction.CREATE
    if ring.slots == slots:
        return RingAction.SERVE
    if known_generation is None or ring.generation <= known_generation:
        return RingAction.BUMP
    return RingAction.STAND_BY


def slot_to_take(ring: Ring, leases: Iterable[Lease], now: datetime, identity: str = "") -> int | None:
    """The lowest slot of `ring` whose Lease is absent, free or `identity`'s own (a process that gave
    its slot up has stopped writing for it), or None: every slot is held, or a Lease of an older
    generation is still live (its holder may still be writing)."""
    held: set[int] = set()
    for lease in leases:
        live = not lease.free(now) and lease.holder != identity
        if lease.generation < ring.generation and live:
            return None
        if lease.generation == ring.generation and live:
            held.add(lease.slot)
    return next((slot for slot in range(ring.slots) if slot not in held), None)


def stale_leases(ring: Ring, leases: Iterable[Lease], now: datetime) -> list[Lease]:
    """Free Leases of older generations: nobody will hold them again."""
    return [lease for lease in leases if lease.generation < ring.generation and lease.free(now)]


def renew_period(lease_seconds: int) -> float:
    return lease_seconds / RENEWALS_PER_LEASE


def deadline(renew_started: float, lease_seconds: int) -> float:
    """When a holder stops writing (on the monotonic clock): `renew_started` is when the last renew
    that succeeded was sent, no later than the renewTime it wrote."""
    return renew_started + lease_seconds - lease_seconds / MARGIN_FRACTION


# The wire format, read and written only here.


def micro_time(moment: datetime) -> str:
    return moment.strftime(_MICRO_TIME)


def read_micro_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _int(value: object, default: int) -> int:
    try:
        return int(str(value))
    except ValueError:
        return default


def read_lease(body: Mapping[str, Any]) -> Lease | None:
    """A slot Lease, or None when the object is not one (its slot or generation unreadable)."""
    metadata = body.get("metadata") or {}
    labels = metadata.get("labels") or {}
    spec = body.get("spec") or {}
    slot, generation = _int(labels.get(SLOT), -1), _int(labels.get(GENERATION), -1)
    if not 0 <= slot < BUCKETS or generation < 1:
        return None
    return Lease(
        name=str(metadata.get("name") or ""),
        slot=slot,
        generation=generation,
        holder=str(spec.get("holderIdentity") or ""),
        renewed=read_micro_time(spec.get("renewTime")),
        duration_seconds=_int(spec.get("leaseDurationSeconds"), 0),
        transitions=_int(spec.get("leaseTransitions"), 0),
        acquired=read_micro_time(spec.get("acquireTime")),
        resource_version=str(metadata.get("resourceVersion") or ""),
    )


def read_ring(body: Mapping[str, Any]) -> Ring:
    """The ring; one whose annotations name no valid ring reads as INVALID_RING's size and
    generation (ring_action replaces it)."""
    metadata = body.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    slots, generation = _int(annotations.get(RING_SLOTS), 0), _int(annotations.get(RING_GENERATION), 0)
    version = str(metadata.get("resourceVersion") or "")
    if not 1 <= slots <= BUCKETS or generation < 1:
        return Ring(0, 0, version)
    return Ring(slots, generation, version)


def lease_manifest(namespace: str, lease: Lease) -> dict[str, Any]:
    """The Lease to create or update (with its resourceVersion, when it has one: the precondition)."""
    metadata: dict[str, Any] = {
        "name": lease.name,
        "namespace": namespace,
        "labels": {SLOT_LEASE_LABEL: RING_NAME, SLOT: str(lease.slot), GENERATION: str(lease.generation)},
    }
    if lease.resource_version:
        metadata["resourceVersion"] = lease.resource_version
    spec: dict[str, Any] = {
        "holderIdentity": lease.holder,
        "leaseDurationSeconds": lease.duration_seconds,
        "leaseTransitions": lease.transitions,
    }
    if lease.renewed is not None:
        spec["renewTime"] = micro_time(lease.renewed)
    if lease.acquired is not None:
        spec["acquireTime"] = micro_time(lease.acquired)
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": spec}


def ring_manifest(namespace: str, ring: Ring) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": RING_NAME,
        "namespace": namespace,
        "annotations": {RING_SLOTS: str(ring.slots), RING_GENERATION: str(ring.generation)},
    }
    if ring.resource_version:
        metadata["resourceVersion"] = ring.resource_version
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata, "spec": {}}
