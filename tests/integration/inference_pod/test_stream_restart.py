"""A stream whose url or layout changes under the same id is restarted, not dropped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from streams import videos


def _video(path: Path, level: int) -> str:
    videos.brightness_video(path, [level] * 25, fps=25, width=64, height=48)
    return f"file://{path}?loop=1"


async def test_a_changed_url_or_layout_restarts_the_stream(serve: Any, tmp_path: Path) -> None:
    bright, dim = _video(tmp_path / "bright.mp4", 220), _video(tmp_path / "dim.mp4", 200)
    serve.assign({"room-101-0": bright, "room-101-1": bright})
    await serve.start()

    async def streams(layouts: dict[str, str], generation: int) -> bool:
        doc = await serve.status()
        shown = {s["id"]: s for room in doc["classrooms"] for s in room["streams"]}
        return bool(doc["assignment"]["generation"] == generation
                    and doc["streams"] == {"assigned": 2, "healthy": 2}
                    and {sid: s["layout"] for sid, s in shown.items()} == layouts
                    and all(s["framesDecoded"] > 0 for s in shown.values()))

    per_student = {"room-101-0": "per-student", "room-101-1": "per-student"}
    await serve.until(lambda: streams(per_student, 1), "both file streams healthy")

    # room-101-0 gets another file; room-101-1 keeps its file but becomes a room camera
    serve.assign({"room-101-0": dim, "room-101-1": bright}, generation=2,
                 layouts={"room-101-1": "room"})
    changed = {"room-101-0": "per-student", "room-101-1": "room"}
    await serve.until(lambda: streams(changed, 2), "both changed streams running again")
    assert (await serve.status())["assignment"]["error"] is None
    assert await serve.terminate() == 0
