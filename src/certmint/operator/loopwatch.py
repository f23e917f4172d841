"""A signal for the event loop itself: a task that asks to wake every TICK and measures how late
it woke. Anything that holds the loop (a CPU-heavy call, a huge object decoded inline) delays
every watch, reconcile and HTTP answer by as much, and shows here before renewals are late.

The gauge holds the worst lateness over the last WINDOW, not the last tick's: a stall ends before
the next scrape can be served (/metrics is served by the same loop), and one tick later it would
be gone."""

import asyncio
import time
from collections import deque
from typing import Final

from certmint.operator import metrics

TICK: Final = 0.25
WINDOW: Final = 60.0


async def watch_loop_lag(tick: float = TICK, window: float = WINDOW) -> None:
    recent: deque[tuple[float, float]] = deque()
    while True:
        asked = time.monotonic()
        await asyncio.sleep(tick)
        woke = time.monotonic()
        recent.append((woke, max(0.0, woke - asked - tick)))
        while recent and recent[0][0] < woke - window:
            recent.popleft()
        metrics.event_loop_lag.set(max(lag for _, lag in recent))
