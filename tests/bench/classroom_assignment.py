"""How long the rollout's planner takes at district scale: thousands of classrooms over several
GPU pools, first placement and the replan after one classroom is added (what every reconcile
pass of a large model costs). `python -m bench.classroom_assignment` from tests/ prints the
figures and writes bench-results/classroom_assignment.json."""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path
from typing import Any

from classroom_operator.rollout.assignment import Observed, Plan, PodRef, PodState, PoolSize, plan
from classroom_operator.rollout.classrooms import Room
from classroom_operator.spec import Stream

ROOT = Path(__file__).resolve().parents[2]
FPS = 30


def _rooms(count: int, seed: int = 1) -> list[Room]:
    generator = random.Random(seed)
    return [Room(f"room-{i:05}", tuple(Stream(f"rtsp://cams.district.lan/{i}/{j}",
                                              "per-student")
                                       for j in range(generator.randint(1, 40))))
            for i in range(count)]


def _served(result: Plan) -> Observed:
    serving: dict[PodRef, set[str]] = {}
    for room, pod in result.assigned.items():
        serving.setdefault(pod, set()).add(room)
    pods = {PodRef(pool, o): PodState(True, frozenset(serving.get(PodRef(pool, o), ())))
            for pool, count in result.replicas.items() for o in range(count)}
    return Observed(stored=dict(result.assigned), pods=pods, replicas=dict(result.replicas))


def run(out: Path, sizes: tuple[int, ...] = (500, 5000, 20000)) -> dict[str, Any]:
    pools = [PoolSize(f"pool-{j}", 5000.0 * (1 + j % 3), 1, 256) for j in range(6)]
    rows = []
    for count in sizes:
        rooms = _rooms(count)
        started = time.perf_counter()
        first = plan(rooms, pools, Observed(), target_fps=FPS, now=time.time())
        placed = time.perf_counter() - started
        world = _served(first)
        more = [*rooms, Room("room-new", (Stream("rtsp://cams.district.lan/new", "room"),))]
        started = time.perf_counter()
        again = plan(more, pools, world, target_fps=FPS, now=time.time())
        replanned = time.perf_counter() - started
        moved = sum(1 for room, pod in first.assigned.items() if again.assigned[room] != pod)
        rows.append({"classrooms": count, "streams": sum(len(r.streams) for r in rooms),
                     "pods": sum(first.replicas.values()), "firstPlanSeconds": round(placed, 4),
                     "replanSeconds": round(replanned, 4), "roomsMovedByOneMore": moved})
        print(f"{count:>6} classrooms, {rows[-1]['streams']:>7} streams, {rows[-1]['pods']:>4} "
              f"pods: first plan {placed * 1000:8.1f} ms, replan after one more "
              f"{replanned * 1000:8.1f} ms, rooms moved {moved}")
    report = {"pools": len(pools), "targetFps": FPS, "rows": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    run(ROOT / "bench-results" / "classroom_assignment.json")
    sys.exit(0)
