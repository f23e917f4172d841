import asyncio

import pytest

from certmint.operator.workqueue import Backoff, WorkQueue


async def test_a_key_added_twice_is_handed_out_once() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    queue.add("a")
    queue.add("b")
    assert await queue.get() == "a"
    assert await queue.get() == "b"
    assert len(queue) == 0


async def test_a_key_added_while_processing_comes_back_after_done() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    key = await queue.get()
    queue.add("a")
    assert len(queue) == 0, "must not be handed to a second worker while the first holds it"
    queue.done(key)
    assert await asyncio.wait_for(queue.get(), 1) == "a"


async def test_delayed_keys_keep_the_earliest_due_time() -> None:
    queue: WorkQueue[str] = WorkQueue()
    timers = asyncio.create_task(queue.run_timers())
    try:
        queue.add_after("a", 60)
        queue.add_after("a", 0.05)
        queue.add_after("a", 30)
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await asyncio.wait_for(queue.get(), 2) == "a"
        assert loop.time() - started < 1
        queue.done("a")
        assert queue.scheduled("a") is None
    finally:
        timers.cancel()


async def test_cancel_drops_a_scheduled_key() -> None:
    queue: WorkQueue[str] = WorkQueue()
    timers = asyncio.create_task(queue.run_timers())
    try:
        queue.add_after("gone", 0.05)
        queue.cancel("gone")
        queue.add_after("kept", 0.1)
        assert await asyncio.wait_for(queue.get(), 2) == "kept"
    finally:
        timers.cancel()


def test_backoff_doubles_from_a_short_first_retry_up_to_a_cap() -> None:
    backoff = Backoff(initial=1, maximum=300)
    assert [backoff.delay(n) for n in range(1, 11)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]


async def test_rate_limited_retries_back_off_until_forgotten() -> None:
    queue: WorkQueue[str] = WorkQueue(backoff=Backoff(initial=0.5, maximum=10))
    assert queue.add_rate_limited("a") == 0.5
    assert queue.add_rate_limited("a") == 1.0
    assert queue.failures("a") == 2
    queue.forget("a")
    assert queue.failures("a") == 0
    assert queue.add_rate_limited("a") == 0.5


@pytest.mark.parametrize("delay", [0, -1])
async def test_non_positive_delays_are_immediate(delay: float) -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add_after("now", delay)
    assert await asyncio.wait_for(queue.get(), 1) == "now"


async def test_the_timer_loop_stops_when_cancelled_as_its_wakeup_fires() -> None:
    """Python 3.11's wait_for lost this cancellation: the operator's stop then never returned."""
    queue: WorkQueue[str] = WorkQueue()
    queue.add_after("later", 600)
    timers = asyncio.create_task(queue.run_timers())
    await asyncio.sleep(0)  # the loop now waits for its wakeup, or 600 s
    queue.add_after("sooner", 300)  # sets the wakeup ...
    timers.cancel()  # ... and the stop arrives in the same turn of the event loop
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(timers, 5)


async def test_keys_added_one_by_one_go_before_a_fan_out_and_move_up_when_added() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.fan_out(["f1", "f2", "f3"])
    queue.add("due")
    queue.add("f3")  # its own event while it waits in the fan-out lane: it moves up
    queue.fan_out(["due", "f1"])  # already queued: no second place
    handed = [await queue.get() for _ in range(4)]
    assert handed == ["due", "f3", "f1", "f2"]
    assert queue.ready() == 0


async def test_a_fanned_out_key_in_work_comes_back_once_done() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.fan_out(["a"])
    assert await queue.get() == "a"
    queue.fan_out(["a"])
    assert queue.ready() == 0
    queue.done("a")
    assert await queue.get() == "a"


async def test_a_worker_waiting_on_an_empty_queue_gets_a_fanned_out_key() -> None:
    queue: WorkQueue[str] = WorkQueue()
    waiting = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.fan_out(["x"])
    assert await asyncio.wait_for(waiting, 5) == "x"
