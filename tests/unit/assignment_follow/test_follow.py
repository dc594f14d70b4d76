from __future__ import annotations

import os
from typing import Any

from classroom_inference.serving.assignment import Assignment, AssignmentFollower


def _follower(volume: Any, applied: list[Assignment]) -> AssignmentFollower:
    async def apply(a: Assignment) -> None:
        applied.append(a)

    return AssignmentFollower(volume.path, "web-0", apply, poll_seconds=0.01)


async def test_a_configmap_swap_is_applied_without_restart(
    volume: Any, document: Any, room: Any
) -> None:
    applied: list[Assignment] = []
    follower = _follower(volume, applied)
    volume.write(document({"web-0": [room("room-101", "a")]}))
    assert await follower.check()
    volume.write(document({"web-0": [room("room-101", "a", "b")]}, generation=4))
    assert await follower.check()
    assert [sorted(a.streams) for a in applied] == [["a"], ["a", "b"]]
    assert follower.current is applied[-1] and follower.current.generation == 4


async def test_unchanged_or_same_content_is_not_reapplied(
    volume: Any, document: Any, room: Any
) -> None:
    applied: list[Assignment] = []
    follower = _follower(volume, applied)
    doc = document({"web-0": [room("room-101", "a")]})
    volume.write(doc)
    assert await follower.check()
    assert not await follower.check()
    volume.write(doc)  # a new ..data folder with the same bytes
    assert not await follower.check()
    assert len(applied) == 1


async def test_bad_file_keeps_previous_and_reports(volume: Any, document: Any, room: Any) -> None:
    applied: list[Assignment] = []
    follower = _follower(volume, applied)
    good = document({"web-0": [room("room-101", "a")]})
    volume.write(good)
    await follower.check()
    volume.write("{not json")
    assert not await follower.check()
    assert follower.error is not None and "is not JSON" in follower.error
    assert follower.current is applied[0]
    bad_layout = document({"web-0": [room("room-101", "a")]})
    bad_layout["pods"]["web-0"][0]["streams"][0]["layout"] = "x"
    volume.write(bad_layout)
    assert not await follower.check()
    assert follower.error is not None and "layout must be one of" in follower.error
    assert len(applied) == 1
    volume.write(good)  # restoring the good file clears the error
    assert await follower.check()
    assert follower.error is None


async def test_missing_file_is_an_error_until_it_appears(
    volume: Any, document: Any, room: Any
) -> None:
    applied: list[Assignment] = []
    follower = _follower(volume, applied)
    assert not await follower.check()
    assert follower.error is not None and "cannot read the assignment file" in follower.error
    volume.write(document({"web-0": []}))
    assert await follower.check()
    assert follower.error is None and applied[0].listed


async def test_in_place_edit_with_same_size_is_seen(volume: Any, document: Any, room: Any) -> None:
    """A plain file (not a ConfigMap) rewritten in place: mtime tells."""
    applied: list[Assignment] = []
    path = volume.root / "plain.json"
    path.write_text('{"model": "m", "generation": 1, "fingerprint": "f", "pods": {}}')

    async def apply(a: Assignment) -> None:
        applied.append(a)

    follower = AssignmentFollower(path, "web-0", apply)
    await follower.check()
    path.write_text('{"model": "m", "generation": 2, "fingerprint": "f", "pods": {}}')
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert await follower.check()
    assert [a.generation for a in applied] == [1, 2]
