"""Active/standby between operator replicas, on top of kopf peering.

kopf announces every replica (priority, lifetime, last seen) in one ClusterKopfPeering object and
pauses its watch streams in all but the highest-priority replica. certmint's own work queue also
holds scheduled renewals, which no watch stream delivers, so the controller must pause too: this
module reads the same object (read_peers) and applies the same rule (leads); follow keeps the
controller's `active` in step with it.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from kubernetes.aio import client
from kubernetes.aio.client.exceptions import ApiException

log = logging.getLogger("certmint.peering")

GROUP, VERSION, PLURAL = "kopf.dev", "v1", "clusterkopfpeerings"


@dataclass(frozen=True)
class Peer:
    """One replica as kopf announces it in the peering object's status."""

    priority: int
    lifetime: timedelta
    lastseen: datetime

    @property
    def expires_at(self) -> datetime:
        return self.lastseen + self.lifetime

    def alive(self, now: datetime) -> bool:
        return self.expires_at > now


def read_peers(status: Mapping[str, Any]) -> dict[str, Peer]:
    """The replicas a ClusterKopfPeering's status announces, by identity: the one place that knows
    kopf's format (tests/unit/test_peering.py pins it to kopf's own code). Entries that are not
    kopf's are left out."""
    peers = {}
    for identity, entry in status.items():
        if not isinstance(entry, Mapping):
            continue
        try:
            peers[identity] = Peer(
                priority=int(entry.get("priority", 0)),
                lifetime=timedelta(seconds=int(entry.get("lifetime", 60))),
                lastseen=datetime.fromisoformat(str(entry["lastseen"])),
            )
        except (KeyError, ValueError, TypeError):
            continue  # not a kopf entry
    return peers


def leads(peers: Mapping[str, Peer], identity: str, priority: int, now: datetime) -> bool:
    """Whether this replica is announced and no other live replica has the same or a higher
    priority (kopf pauses every replica of a tie)."""
    if identity not in peers:
        return False
    return not any(
        other != identity and peer.alive(now) and peer.priority >= priority for other, peer in peers.items()
    )


async def follow(
    api: client.ApiClient,
    name: str,
    identity: str,
    priority: int,
    interval: float,
    active: asyncio.Event,
    clock: Callable[[], datetime],
    on_lead: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Sets `active` while this replica leads, clears it otherwise. Leading starts only after this
    replica has been announced for two intervals, so a replica that outranks the current leader
    lets it notice and pause first, and after `on_lead` has refreshed what standing by left stale."""
    announced_since: datetime | None = None
    while True:
        now = clock()
        try:
            peering = await client.CustomObjectsApi(api).get_cluster_custom_object(
                GROUP, VERSION, PLURAL, name
            )
            peers = read_peers(cast(dict[str, Any], peering).get("status") or {})
        except ApiException as error:
            log.warning("cannot read ClusterKopfPeering %s (%s): standing by", name, error.status)
            peers = {}
        announced_since = (announced_since or now) if identity in peers else None
        settled = announced_since is not None and now - announced_since >= timedelta(seconds=2 * interval)
        leading = settled and leads(peers, identity, priority, now)
        if leading != active.is_set():
            if leading and on_lead is not None:
                try:
                    await on_lead()
                except Exception as error:  # e.g. the API server unreachable: lead once it is back
                    log.warning("%s: not leading yet, refreshing failed (%s)", identity, error)
                    await asyncio.sleep(interval)
                    continue
            log.info("%s: %s", identity, "leading" if leading else "standing by")
            if leading:
                active.set()
            else:
                active.clear()
        await asyncio.sleep(interval)
