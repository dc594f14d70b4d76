"""Results from the dispatcher reach the event loop in order, in bulk, whatever one of them does."""

from __future__ import annotations

import asyncio
import threading

from classroom_inference.serving.handoff import Handoff


async def test_calls_run_on_the_loop_in_order_with_one_wake_up_while_it_is_busy() -> None:
    loop = asyncio.get_running_loop()
    handoff = Handoff(loop)
    wakes = 0
    original = loop.call_soon_threadsafe

    def counting(*args: object) -> asyncio.Handle:
        nonlocal wakes
        wakes += 1
        return original(*args)  # type: ignore[arg-type]

    loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
    seen: list[tuple[int, bool]] = []
    done = asyncio.Event()

    def worker() -> None:
        for k in range(500):
            handoff.post(lambda k=k: seen.append((k, threading.current_thread() is main)))
        handoff.post(done.set)

    main = threading.current_thread()
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()  # the loop is busy (this very step) while the worker posts
    try:
        await asyncio.wait_for(done.wait(), 5)
    finally:
        loop.call_soon_threadsafe = original  # type: ignore[method-assign]
    assert [k for k, _ in seen] == list(range(500))
    assert all(on_loop for _, on_loop in seen)
    assert wakes == 1  # the loop never got to run while the worker posted


async def test_a_failing_call_is_logged_and_the_rest_still_run() -> None:
    handoff = Handoff(asyncio.get_running_loop())
    seen: list[int] = []
    done = asyncio.Event()

    def fail() -> None:
        raise ValueError("a bug in one batch's handling")

    handoff.post(seen.append, 1)
    handoff.post(fail)
    handoff.post(seen.append, 2)
    handoff.post(done.set)
    await asyncio.wait_for(done.wait(), 5)
    handoff.post(seen.append, 3)  # and it wakes the loop again afterwards
    await asyncio.sleep(0.01)
    assert seen == [1, 2, 3]
