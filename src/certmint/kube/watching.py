"""certmint's own list+watch of one kind: a paged listing, then watch streams from its
resourceVersion (bookmarks keep it current), listed again when the server answers 410 (the version
is too old).

The consumer gets every listed object as a LISTED event, a SYNCED event when a listing is complete
(objects missing from it are gone), then ADDED, MODIFIED and DELETED as they happen. A failed request
is retried after `retry_seconds`, never sooner."""

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from kubernetes.aio.client.exceptions import ApiException

from certmint.kube.errors import TRANSIENT, describe
from certmint.kube.gateway import Kube, Query

log = logging.getLogger("certmint.watch")

LISTED = "LISTED"
SYNCED = "SYNCED"
GONE = 410


@dataclass(frozen=True)
class WatchEvent:
    type: str
    """LISTED, SYNCED, ADDED, MODIFIED or DELETED."""
    object: dict[str, Any] = field(default_factory=dict)
    """Empty for SYNCED."""


@dataclass(frozen=True)
class Watched:
    """What to list and watch: the list path of a kind (in one namespace or all) and its selectors."""

    path: str
    label_selector: str = ""
    field_selector: str = ""
    page_size: int = 500
    timeout_seconds: int = 300
    client_timeout_seconds: float = 0
    """After this long the client abandons a watch the server has not ended (0: the server's timeout
    and a margin): a watch gone silent is started again."""
    retry_seconds: float = 5.0

    def query(self) -> Query:
        return [
            *([("labelSelector", self.label_selector)] if self.label_selector else []),
            *([("fieldSelector", self.field_selector)] if self.field_selector else []),
        ]


async def list_and_watch(kube: Kube, watched: Watched) -> AsyncGenerator[WatchEvent, None]:
    """Never ends on its own (cancel the task consuming it)."""
    version = ""
    while True:
        try:
            if not version:
                listing = _Listing()
                async for item in listing.items(kube, watched):
                    yield WatchEvent(LISTED, item)
                version = listing.version
                yield WatchEvent(SYNCED)
            heard = False
            async for event in kube.watch_events(
                watched.path,
                watched.query(),
                version,
                watched.timeout_seconds,
                watched.client_timeout_seconds,
            ):
                heard = True
                kind = str(event.get("type") or "")
                body = event.get("object") or {}
                if kind == "ERROR":
                    version = ""
                    if body.get("code") != GONE:
                        await _pause(
                            watched, ApiException(status=body.get("code"), reason=body.get("message"))
                        )
                    break
                version = str((body.get("metadata") or {}).get("resourceVersion") or version)
                if kind != "BOOKMARK":
                    yield WatchEvent(kind, body)
            if not heard:
                # A stream that ended without a word (not even a bookmark) is not started again at once.
                await asyncio.sleep(watched.retry_seconds)
        except ApiException as error:
            if error.status == GONE:
                version = ""  # a continue token or a version too old: list again
                continue
            await _pause(watched, error)
        except TRANSIENT as error:
            await _pause(watched, error)


@dataclass
class _Listing:
    version: str = ""

    async def items(self, kube: Kube, watched: Watched) -> AsyncIterator[dict[str, Any]]:
        """Every object of a paged list; `version` is then the list's resourceVersion."""
        token = ""
        while True:
            page = await kube.list_page(watched.path, watched.query(), watched.page_size, token)
            metadata = page.get("metadata") or {}
            self.version = str(metadata.get("resourceVersion") or "")
            for item in page.get("items") or []:
                yield item
            token = str(metadata.get("continue") or "")
            if not token:
                return


async def _pause(watched: Watched, error: BaseException) -> None:
    log.warning(
        "watch of %s failed (%s); again in %.0f s", watched.path, describe(error), watched.retry_seconds
    )
    await asyncio.sleep(watched.retry_seconds)
