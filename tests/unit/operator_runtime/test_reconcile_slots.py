"""Reconcile slots: a pass something asked for goes before the resync passes waiting, a resync
pass woken while it waits is promoted, and a cancelled waiter loses no slot."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from classroom_operator.controller import ReconcileSlots


async def _take(slots: ReconcileSlots, name: str, order: list[str], *, urgent: bool,
                wake: asyncio.Event | None = None, hold: asyncio.Event | None = None) -> None:
    async with slots.slot(urgent=urgent, wake=wake or asyncio.Event()):
        order.append(name)
        if hold is not None:
            await hold.wait()


async def _all(*waits: Awaitable[None]) -> None:
    """Every one done; a pass left without a slot fails the test instead of hanging it."""
    await asyncio.wait_for(asyncio.gather(*waits), timeout=10)


async def _settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_urgent_passes_take_a_freed_slot_before_resync_passes() -> None:
    slots = ReconcileSlots(1)
    order: list[str] = []
    release = asyncio.Event()
    holder = asyncio.create_task(_take(slots, "holder", order, urgent=True, hold=release))
    await _settle()
    waiters = [asyncio.create_task(_take(slots, "resync-1", order, urgent=False)),
               asyncio.create_task(_take(slots, "resync-2", order, urgent=False)),
               asyncio.create_task(_take(slots, "woken", order, urgent=True))]
    await _settle()
    assert order == ["holder"]
    release.set()
    await _all(holder, *waiters)
    assert order == ["holder", "woken", "resync-1", "resync-2"]


async def test_a_resync_pass_woken_while_waiting_becomes_urgent() -> None:
    slots = ReconcileSlots(1)
    order: list[str] = []
    release = asyncio.Event()
    holder = asyncio.create_task(_take(slots, "holder", order, urgent=True, hold=release))
    await _settle()
    wake = asyncio.Event()
    waiters = [asyncio.create_task(_take(slots, "resync", order, urgent=False)),
               asyncio.create_task(_take(slots, "resync-then-woken", order, urgent=False,
                                         wake=wake))]
    await _settle()
    wake.set()
    await _settle()
    waiters.append(asyncio.create_task(_take(slots, "urgent-later", order, urgent=True)))
    await _settle()
    release.set()
    await _all(holder, *waiters)
    assert order == ["holder", "resync-then-woken", "urgent-later", "resync"]


async def test_a_cancelled_waiter_gives_up_its_place_and_no_slot_is_lost() -> None:
    slots = ReconcileSlots(2)
    order: list[str] = []
    release = asyncio.Event()
    holders = [asyncio.create_task(_take(slots, f"holder-{i}", order, urgent=True, hold=release))
               for i in range(2)]
    await _settle()
    cancelled = asyncio.create_task(_take(slots, "cancelled", order, urgent=False))
    await _settle()
    cancelled.cancel()
    await _settle()
    release.set()
    await _all(*holders)
    assert cancelled.cancelled()
    # Both slots are free again: two passes run side by side.
    both = asyncio.Event()
    running: list[str] = []

    async def side_by_side(name: str) -> None:
        async with slots.slot(urgent=True, wake=asyncio.Event()):
            running.append(name)
            if len(running) == 2:
                both.set()
            await asyncio.wait_for(both.wait(), timeout=5)

    await _all(side_by_side("a"), side_by_side("b"))
    assert "cancelled" not in order


async def test_a_waiter_cancelled_as_it_is_handed_a_slot_passes_the_slot_on() -> None:
    slots = ReconcileSlots(1)
    order: list[str] = []
    release = asyncio.Event()
    holder = asyncio.create_task(_take(slots, "holder", order, urgent=True, hold=release))
    await _settle()
    first = asyncio.create_task(_take(slots, "first", order, urgent=True))
    second = asyncio.create_task(_take(slots, "second", order, urgent=True))
    await _settle()
    release.set()
    await asyncio.sleep(0)  # the holder leaves and hands its slot to `first`...
    first.cancel()  # ...which is cancelled before it runs
    await _all(holder, second)
    assert order == ["holder", "second"]
