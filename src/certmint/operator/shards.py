"""Bucket labels (planning.shards) put right: the relabel reconcile, and the labeller's watches of
what no replica's bucket selector reaches.

Who could abuse it: a tenant who creates Certificates without the label, or labels one (or its
Secret) with another bucket, `shared` or garbage. Each such write costs one label write by one
replica (the relabel is made only to the version judged), and changes nothing but which replica
serves the object: the bucket is computed from the namespace and the Secret's name, never read
from the label."""

import asyncio
import logging
from collections.abc import Callable

from certmint.kube import objects
from certmint.kube.gateway import Kube
from certmint.kube.watching import Watched, WatchEvent, list_and_watch
from certmint.operator.context import Context
from certmint.operator.outcome import Outcome
from certmint.operator.state import Key
from certmint.planning import labels
from certmint.planning.shards import unbucketed_selector

log = logging.getLogger("certmint.shards")


async def relabel(ctx: Context, key: Key) -> Outcome:
    """Sets the bucket label the controller decided on, on the version it judged."""
    wanted = ctx.state.relabels.get(key)
    if wanted is None:
        return Outcome()
    if await ctx.kube.set_label(wanted.path, labels.BUCKET_LABEL, wanted.value, wanted.resource_version):
        log.info("%s %s/%s labelled for bucket %s", key.kind, key.namespace, key.name, wanted.value)
    return Outcome()


def unbucketed_certificates(plural: str, namespaces: tuple[str, ...]) -> list[Watched]:
    """Certificates without a bucket label, or with one that is no bucket (`shared` included)."""
    selector = unbucketed_selector(shared=False)
    return [
        Watched(objects.path(plural, namespace), label_selector=selector)
        for namespace in (namespaces or (None,))
    ]


def unbucketed_secrets(namespaces: tuple[str, ...]) -> list[Watched]:
    """Managed Secrets (the role label) without a bucket label, or with one that is no bucket."""
    selector = f"{labels.SECRET_ROLE_LABEL},{unbucketed_selector(shared=True)}"
    return [
        Watched(objects.core_path("secrets", namespace), label_selector=selector)
        for namespace in (namespaces or (None,))
    ]


async def follow(kube: Kube, watched: Watched, intake: Callable[[str, dict[str, object]], None]) -> None:
    """Hands every event of the watch to the controller's intake (never ends: cancelled at stop).
    The watch retries the API's failures itself; anything else is logged and the watch started over
    after its retry floor, so that a labeller never dies silently."""
    while True:
        try:
            async for event in list_and_watch(kube, watched):
                _hand(event, intake)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "the labeller's watch of %s failed; again in %.0f s", watched.path, watched.retry_seconds
            )
            await asyncio.sleep(watched.retry_seconds)


def _hand(event: WatchEvent, intake: Callable[[str, dict[str, object]], None]) -> None:
    if event.object:
        intake(event.type, event.object)
