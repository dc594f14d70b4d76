"""One pass or one patch for many callers: node events served together, catalogue keys written
together, and a failure never loses what was asked for."""

from __future__ import annotations

import asyncio

import pytest
from classroom_operator.controller import Coalesced, DataWrites


async def test_requests_during_a_pass_are_served_by_one_next_pass() -> None:
    passes: list[set[str]] = []
    release = asyncio.Event()

    async def act(items: set[str]) -> None:
        passes.append(items)
        if len(passes) == 1:
            await release.wait()

    coalesced: Coalesced[str] = Coalesced()
    first = asyncio.create_task(coalesced.run(["pool-a"], act))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(coalesced.run([name], act))
               for name in ("pool-b", "pool-c", "pool-b")]
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(first, *waiting)
    assert passes == [{"pool-a"}, {"pool-b", "pool-c"}]


async def test_a_failed_pass_gives_its_error_to_its_caller_and_its_items_to_the_next() -> None:
    passes: list[set[str]] = []

    async def act(items: set[str]) -> None:
        passes.append(items)
        if len(passes) == 1:
            raise RuntimeError("API unavailable")

    coalesced: Coalesced[str] = Coalesced()
    with pytest.raises(RuntimeError, match="API unavailable"):
        await coalesced.run(["pool-a"], act)
    await coalesced.run(["pool-b"], act)
    assert passes == [{"pool-a"}, {"pool-a", "pool-b"}]


async def test_catalogue_keys_written_while_a_patch_is_in_flight_go_in_one_patch() -> None:
    patches: list[dict[str, str | None]] = []
    release = asyncio.Event()

    async def patch(data: dict[str, str | None]) -> None:
        patches.append(dict(data))
        if len(patches) == 1:
            await release.wait()

    writes = DataWrites(patch)
    first = asyncio.create_task(writes.write({"aaaa": "1"}))
    await asyncio.sleep(0)
    others = [asyncio.create_task(writes.write(data))
              for data in ({"bbbb": "2"}, {"cccc": None}, {"bbbb": "3"})]
    await asyncio.sleep(0)
    release.set()
    await asyncio.gather(first, *others)
    assert patches == [{"aaaa": "1"}, {"bbbb": "3", "cccc": None}]


async def test_keys_of_a_failed_patch_are_written_by_the_next_caller_newest_value_first() -> None:
    patches: list[dict[str, str | None]] = []
    release = asyncio.Event()

    async def patch(data: dict[str, str | None]) -> None:
        patches.append(dict(data))
        if len(patches) == 1:
            await release.wait()
            raise RuntimeError("HTTP 504")

    writes = DataWrites(patch)
    failing = asyncio.create_task(writes.write({"aaaa": "1", "bbbb": "1"}))
    await asyncio.sleep(0)
    newer = asyncio.create_task(writes.write({"bbbb": "2"}))
    await asyncio.sleep(0)
    release.set()
    with pytest.raises(RuntimeError, match="HTTP 504"):
        await failing
    await newer
    assert patches[1] == {"aaaa": "1", "bbbb": "2"}
