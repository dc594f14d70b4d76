"""A stream whose url or layout changes under the same id is stopped and started again."""

from __future__ import annotations

import asyncio
from typing import Any

from classroom_inference.serving.frames import StreamState


async def _until(check: Any, what: str) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def _healthy(pod: Any, sid: str) -> bool:
    run = pod.streams.get(sid)
    return run is not None and run.supervisor.state is StreamState.HEALTHY


async def test_a_changed_url_or_layout_restarts_the_stream_under_its_id(serving_pod: Any) -> None:
    pod = serving_pod.pod
    first = {"a": (serving_pod.url("cam-a"), "per-student"),
             "b": (serving_pod.url("cam-b"), "per-student")}
    serving_pod.assign(first)
    await pod.start()
    await _until(lambda: _healthy(pod, "a") and _healthy(pod, "b"), "both streams healthy")
    old_a, old_b = pod.streams["a"], pod.streams["b"]
    student_a = pod.analysis.students[("a", "0")]

    second = {"a": (serving_pod.url("cam-a2"), "per-student"),
              "b": (serving_pod.url("cam-b"), "room")}
    serving_pod.assign(second, generation=2)
    assert await pod.follower.check()

    assert sorted(pod.streams) == ["a", "b"], "a changed stream was dropped"
    new_a, new_b = pod.streams["a"], pod.streams["b"]
    assert new_a is not old_a and new_a.supervisor.url == second["a"][0]
    assert new_b is not old_b and new_b.assignment.layout == "room"
    assert old_a.supervisor.state is StreamState.STOPPED
    assert old_b.supervisor.state is StreamState.STOPPED
    await _until(lambda: _healthy(pod, "a") and _healthy(pod, "b"),
                 "both restarted streams healthy")
    assert new_a.intake.frames > 0 and new_b.intake.frames > 0
    # a per-student stream's student is keyed by classroom, stream id and seat: unchanged
    assert pod.analysis.students[("a", "0")] == student_a
    assert not pod.leaving and not pod._removals


async def test_an_unchanged_stream_keeps_running_through_a_change(serving_pod: Any) -> None:
    pod = serving_pod.pod
    serving_pod.assign({"a": (serving_pod.url("cam-a"), "per-student")})
    await pod.start()
    kept = pod.streams["a"]
    serving_pod.assign({"a": (serving_pod.url("cam-a"), "per-student"),
                        "c": (serving_pod.url("cam-c"), "per-student")}, generation=2)
    assert await pod.follower.check()
    assert pod.streams["a"] is kept and sorted(pod.streams) == ["a", "c"]
