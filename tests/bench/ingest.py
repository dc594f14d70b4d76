"""Ingest benchmark: what sources, supervisors and face crops cost the pod's host, on the CPU.

    PYTHONPATH=tests .venv/bin/python tests/bench/ingest.py [--seconds 5] [--streams 40,200,1000]
    .venv/bin/pytest tests/bench/test_ingest.py -m bench -s

Measured:
- paced per-student streams (synthetic://, 30 fps) through a supervisor and the centre crop,
  frame by frame in the synthetic clock's threads (the pod's decoders crop the same way), at
  several stream counts: crops/s delivered against crops/s offered, frames/s, and the event
  loop's worst lag (how late a 10 ms timer fires) while they run;
- the most crops/s unpaced streams (a thread each) move through crops, with frames already at
  the engine size (a copy into the row) and at 640x480 (a resize each);
- H.264 decoding of a file source (640x360 and 1280x720), frames/s of one stream;
- the Haar face detector on a room frame with 5 students at 640x360 and 1920x1080.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from classroom_inference.serving.crops import CropShape, StudentCropper, cut
from classroom_inference.serving.detector import HaarFaceDetector
from classroom_inference.serving.frames import Frame
from classroom_inference.serving.sources import SourceOptions, open_source
from classroom_inference.serving.streams import StreamSupervisor
from streams import videos

ROOT = Path(__file__).resolve().parents[2]
ENGINE = CropShape(224, 224, 3)


async def _loop_lag(stop: asyncio.Event, lags: list[float]) -> None:
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append(time.perf_counter() - before - 0.01)


class CroppingIntake:
    """Crops every frame as the pod's intake does (the centre square resized into a reused row of
    engine size), in the thread that made the frame."""

    def __init__(self, cropper: StudentCropper) -> None:
        self.cropper = cropper
        self.closed = False
        self.frames = self.dropped = self.crops = 0
        self.first_arrival: float | None = None
        self.last_arrival: float | None = None
        self._row = np.empty((ENGINE.height, ENGINE.width, ENGINE.channels), np.uint8)

    def begin(self) -> None:
        self.first_arrival = None

    def frame(self, frame: Frame) -> None:
        self.frames += 1
        self.last_arrival = frame.arrived
        if self.first_arrival is None:
            self.first_arrival = frame.arrived
        for _, box in self.cropper.seats(frame):
            cut(frame.image, box, ENGINE, self._row)
            self.crops += 1


async def _run_streams(urls: list[str], seconds: float) -> dict[str, Any]:
    cropper = StudentCropper(ENGINE)
    intakes = [CroppingIntake(cropper) for _ in urls]
    supervisors = [StreamSupervisor(f"s{i}", url, intake)
                   for i, (url, intake) in enumerate(zip(urls, intakes, strict=True))]
    for supervisor in supervisors:
        supervisor.start()
    stop, lags = asyncio.Event(), list[float]()
    ticker = asyncio.create_task(_loop_lag(stop, lags))
    await asyncio.sleep(1.0)  # warm up: every stream connected and flowing
    crops_before = sum(i.crops for i in intakes)
    started, cpu_started = time.perf_counter(), time.process_time()
    frames_before = sum(i.frames for i in intakes)
    await asyncio.sleep(seconds)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    delivered = sum(i.crops for i in intakes) - crops_before
    offered_frames = sum(i.frames for i in intakes) - frames_before
    stop.set()
    for supervisor in supervisors:
        await supervisor.stop()
    await ticker
    lags.sort()
    return {
        "streams": len(urls),
        "cropsPerSecond": round(delivered / elapsed, 1),
        "framesPerSecond": round(offered_frames / elapsed, 1),
        "cpuCoresUsed": round(cpu / elapsed, 2),
        "loopLagMsP50": round(1000 * lags[len(lags) // 2], 2),
        "loopLagMsMax": round(1000 * lags[-1], 2),
    }


async def paced_students(counts: list[int], seconds: float) -> list[dict[str, Any]]:
    rows = []
    for count in counts:
        urls = [f"synthetic://s{i}?fps=30&width=224&height=224&brightness=180"
                for i in range(count)]
        row = await _run_streams(urls, seconds)
        row["offeredCropsPerSecond"] = 30 * count
        rows.append(row)
        print(f"paced 30 fps x {count:5d} streams: {row}", flush=True)
    return rows


async def unpaced(seconds: float) -> list[dict[str, Any]]:
    rows = []
    for width, height in ((224, 224), (640, 480)):
        urls = [
            f"synthetic://s{i}?realtime=0&width={width}&height={height}&brightness=180"
            for i in range(100)
        ]
        row = await _run_streams(urls, seconds)
        row["frame"] = f"{width}x{height}"
        rows.append(row)
        print(f"unpaced 100 streams of {width}x{height}: {row}", flush=True)
    return rows


async def file_decode(folder: Path, seconds: float) -> list[dict[str, Any]]:
    rows = []
    for width, height in ((640, 360), (1280, 720)):
        path = videos.pattern_video(
            folder / f"decode-{height}.mp4", seconds=4, fps=25, width=width, height=height
        )
        url = f"file://{path}?loop=1"
        source = open_source("decode", url, SourceOptions(realtime=False))
        intake = CroppingIntake(StudentCropper(ENGINE))
        reading = asyncio.create_task(source.run(intake))
        started = time.perf_counter()
        await asyncio.sleep(seconds)
        frames, elapsed = intake.frames, time.perf_counter() - started
        await source.close()
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)
        row = {"frame": f"{width}x{height}", "codec": "h264",
               "framesPerSecond": round(frames / elapsed, 1)}
        rows.append(row)
        print(f"file decode: {row}", flush=True)
    return rows


def haar(repeats: int = 20) -> list[dict[str, Any]]:
    students = [videos.Student(120, 100), videos.Student(320, 100), videos.Student(520, 100),
                videos.Student(220, 260), videos.Student(420, 260)]
    rows = []
    for width, height, scale in ((640, 360, 1), (1920, 1080, 3)):
        scaled = [videos.Student(s.x * scale, s.y * scale, s.size * scale) for s in students]
        frame = videos.room_frame(scaled, width=width, height=height)
        detector = HaarFaceDetector()
        found = len(detector.detect(frame))
        started = time.perf_counter()
        for _ in range(repeats):
            detector.detect(frame)
        ms = 1000 * (time.perf_counter() - started) / repeats
        row = {"frame": f"{width}x{height}", "detectWidth": detector.detect_width,
               "facesFound": found, "msPerDetection": round(ms, 1)}
        rows.append(row)
        print(f"haar: {row}", flush=True)
    return rows


def run(seconds: float, out: Path, counts: list[int]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        report = {
            "host": {"machine": platform.machine(), "cpus": os.cpu_count(),
                     "loadAverage": os.getloadavg()},
            "pacedStudentStreams": asyncio.run(paced_students(counts, seconds)),
            "unpacedStreams": asyncio.run(unpaced(seconds)),
            "fileDecode": asyncio.run(file_decode(Path(folder), seconds)),
            "haarDetector": haar(),
        }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"written to {out}")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--streams", default="40,200,1000", help="paced stream counts")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "ingest.json")
    args = parser.parse_args()
    run(args.seconds, args.out, [int(n) for n in args.streams.split(",")])


if __name__ == "__main__":
    main()
