"""Students travel as small dense ids: the same (stream, seat) always the same id, a released id
handed out again, and the analysis's rows are the ids."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from classroom_inference.serving.students import StudentIds


def test_ids_are_dense_stable_and_reused_once_released() -> None:
    ids = StudentIds()
    a, b, c = ids.of("s0", "0"), ids.of("cam", "1"), ids.of("cam", "2")
    assert (a, b, c) == (0, 1, 2) and ids.of("cam", "1") == b
    assert ids.key(b) == ("cam", "1") and sorted(ids.of_stream("cam")) == [1, 2]
    ids.release(b)
    assert ids.key(b) is None and ids.of_stream("cam") == [2]
    assert ids.of("s9", "0") == b  # the hole is filled before the ids grow
    assert ids.capacity == 3


def test_many_threads_asking_at_once_agree_on_every_id() -> None:
    ids = StudentIds()
    seen: list[dict[str, int]] = []

    def ask() -> None:
        seen.append({f"s{i}": ids.of(f"s{i}", "0") for i in range(300)})

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(answers == seen[0] for answers in seen)
    assert sorted(seen[0].values()) == list(range(300))


def test_a_removed_streams_id_serves_the_next_stream_from_a_clean_row(recorder: Any) -> None:
    r = recorder(distracted_after_seconds=1.0, smoothing_seconds=0.0)
    r.analysis.add_stream("old", "room-101", "per-student", 0.0)
    t = r.feed("old", 0.0, 2.0, 10, 0.1)  # distracted long enough for an alert
    assert len(r.of("alert")) == 1
    old_id = r.analysis.ids.of("old", "0")
    r.analysis.remove_stream("old", t)
    assert r.analysis.ids.key(old_id) is None
    r.analysis.add_stream("new", "room-102", "per-student", t)
    assert r.analysis.ids.of("new", "0") == old_id
    r.feed("new", t, t + 0.5, 10, 0.9)
    assert r.analysis.state("new") == "focused"
    assert len(r.of("alert")) == 1  # nothing of the old student's episode carried over
    ours = {e["student"] for e in r.events if e.get("classroom") == "room-102"}
    assert ours == {r.analysis.students[("new", "0")]}


def test_crops_of_ids_nobody_follows_are_ignored(recorder: Any) -> None:
    r = recorder()
    r.analysis.add_stream("s0", "room-101", "per-student", 0.0)
    stray = r.analysis.ids.of("gone", "0")  # a stream not assigned here
    r.analysis.observe(np.array([stray, 5000]), np.array([0.1, 0.1]),
                       r.outputs([0.9, 0.9]))
    assert r.analysis.students == {("s0", "0"): r.analysis.students[("s0", "0")]}
    assert not [e for e in r.events if e["type"] == "gap-ended"]
