"""A work queue in the manner of client-go's: deduplicated keys, delayed adds and per-key backoff.

A key is never handed to two workers at once; a key added while being processed is handed out
again once its worker is done. Delayed adds keep only the earliest due time per key, so a
renewal scheduled for tomorrow does not hide a retry due in a second.

Two lanes: keys added one by one (an event about them, a timer that came due, a retry) go before
keys fanned out by the thousand because something they share changed (an issuer's CA): when a
CA rotation re-plans 10,000 Certificates, a renewal that is due now does not wait behind them.
"""

import asyncio
import contextlib
import heapq
import itertools
from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class Backoff:
    initial: float = 1.0
    maximum: float = 300.0

    def delay(self, failures: int) -> float:
        return float(min(self.initial * 2 ** max(failures - 1, 0), self.maximum))


@dataclass
class WorkQueue(Generic[K]):
    backoff: Backoff = field(default_factory=Backoff)
    _ready: deque[K] = field(default_factory=deque)
    _fanned_out: deque[K] = field(default_factory=deque)
    _queued: set[K] = field(default_factory=set)
    _in_fan_out_lane: set[K] = field(default_factory=set)
    _available: asyncio.Event = field(default_factory=asyncio.Event)
    _processing: set[K] = field(default_factory=set)
    _dirty: set[K] = field(default_factory=set)
    _due: dict[K, float] = field(default_factory=dict)
    _timers: list[tuple[float, int, K]] = field(default_factory=list)
    _failures: dict[K, int] = field(default_factory=dict)
    _counter: "itertools.count[int]" = field(default_factory=itertools.count)
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, key: K) -> None:
        if not self._free_to_queue(key):
            return
        if key not in self._queued or key in self._in_fan_out_lane:
            # New, or waiting in the fan-out lane: it moves up (its old place there is skipped).
            self._in_fan_out_lane.discard(key)
            self._queued.add(key)
            self._ready.append(key)
            self._available.set()

    def fan_out(self, keys: Iterable[K]) -> None:
        """Many keys at once, in this order, behind every key added one by one."""
        for key in keys:
            if self._free_to_queue(key) and key not in self._queued:
                self._queued.add(key)
                self._in_fan_out_lane.add(key)
                self._fanned_out.append(key)
                self._available.set()

    def _free_to_queue(self, key: K) -> bool:
        """Either lane: the key's schedule is superseded; one in work is only marked to come back."""
        self._due.pop(key, None)
        if key in self._processing:
            self._dirty.add(key)
            return False
        return True

    def add_after(self, key: K, delay: float) -> None:
        if delay <= 0:
            self.add(key)
            return
        due = asyncio.get_running_loop().time() + delay
        if key in self._due and self._due[key] <= due:
            return
        self._due[key] = due
        heapq.heappush(self._timers, (due, next(self._counter), key))
        self._wakeup.set()

    def add_rate_limited(self, key: K) -> float:
        """Retry after the key's next backoff step; returns the delay chosen."""
        failures = self._failures.get(key, 0) + 1
        self._failures[key] = failures
        delay = self.backoff.delay(failures)
        self.add_after(key, delay)
        return delay

    def failures(self, key: K) -> int:
        return self._failures.get(key, 0)

    def forget(self, key: K) -> None:
        """Success: the next failure starts the backoff from its first step again."""
        self._failures.pop(key, None)

    def cancel(self, key: K) -> None:
        """The object is gone: drop its schedule and backoff."""
        self._due.pop(key, None)
        self._failures.pop(key, None)

    def queued(self, key: K) -> bool:
        """Waiting for a worker now (not merely scheduled)."""
        return key in self._queued

    def processing(self, key: K) -> bool:
        """Handed to a worker and not done yet."""
        return key in self._processing

    def scheduled(self, key: K) -> float | None:
        return self._due.get(key)

    def ready(self) -> int:
        """Keys waiting for a worker now, in both lanes."""
        return len(self._queued)

    async def get(self) -> K:
        while (key := self._next()) is None:
            self._available.clear()
            await self._available.wait()
        self._queued.discard(key)
        self._processing.add(key)
        return key

    def _next(self) -> K | None:
        if self._ready:
            return self._ready.popleft()
        while self._fanned_out:
            key = self._fanned_out.popleft()
            if key in self._in_fan_out_lane:  # else it moved up, or was handed out already
                self._in_fan_out_lane.discard(key)
                return key
        return None

    def done(self, key: K) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._dirty.discard(key)
            self.add(key)

    def busy(self) -> int:
        """Keys waiting for a worker or being worked on now; scheduled ones do not count."""
        return len(self._queued | self._processing)

    def __len__(self) -> int:
        return len(self._queued) + len(self._due)

    async def run_timers(self) -> None:
        """Moves due keys to the ready queue; runs until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            self._wakeup.clear()
            now = loop.time()
            while self._timers and self._timers[0][0] <= now:
                due, _, key = heapq.heappop(self._timers)
                if self._due.get(key) == due:
                    del self._due[key]
                    self.add(key)
            timeout = self._timers[0][0] - now if self._timers else None
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation that
            # arrives as the wakeup fires, and this loop would then outlive the operator's stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wakeup.wait()
