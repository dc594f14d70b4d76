"""The class view against the real local cluster: the operator and real inference pods on agent
nodes, per-student cameras (looping recordings, one live RTSP camera that can die), the view as
`classroom-operator classview`, and headless Chromium driven by Selenium through Debian's
chromium-driver."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from bench.operator_harness import OperatorProcess, delete_models
from classroom_inference.builder.reference_model import reference_model, reference_spec
from integration.operator_namespace import api, nodes, pool
from localcluster.cluster import LocalCluster
from localcluster.kubeapi import Api
from localcluster.processes import free_port
from streams.server import RtspServer
from streams.videos import write_video

SIZE = 32
FPS = 10
__all__ = ["api", "nodes", "pool"]
REPO = Path(__file__).resolve().parents[3]
SCREENSHOTS = REPO / "bench-results" / "class-view"


@dataclass(frozen=True)
class Cameras:
    model: dict[str, object]
    focused: str  # a student who keeps looking (bright), a looping file
    wandering: str  # bright for 8 s, then dark (distracted) for 12 s, a looping file
    rtsp: RtspServer
    live: Path  # the recording the live camera streams


def _flat(path: Path, levels: list[tuple[int, int]]) -> Path:
    """A looping recording of flat grey frames: (level, seconds) steps."""
    frames = [level for level, seconds in levels for _ in range(seconds * FPS)]
    return write_video(path, len(frames),
                       lambda i: np.full((64, 64, 3), frames[i], dtype=np.uint8), fps=FPS)


@pytest.fixture(scope="module")
def cameras(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cameras]:
    folder = tmp_path_factory.mktemp("class-view-media")
    onnx_path = folder / "attention.onnx"
    onnx_path.write_bytes(reference_model(SIZE).SerializeToString())
    sha256 = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    focused = _flat(folder / "focused.mp4", [(230, 4)])
    wandering = _flat(folder / "wandering.mp4", [(230, 8), (15, 12)])
    rtsp = RtspServer(folder / "mediamtx")
    rtsp.start()
    try:
        yield Cameras(model=reference_spec(onnx_path.as_uri(), sha256, SIZE),
                      focused=f"{focused.as_uri()}?loop=1",
                      wandering=f"{wandering.as_uri()}?loop=1",
                      rtsp=rtsp, live=_flat(folder / "live.mp4", [(230, 4)]))
    finally:
        rtsp.stop()


@pytest.fixture
def operator(cluster: LocalCluster, pool: str, api: Api,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    logs = tmp_path_factory.mktemp("operator") / "operator.log"
    process = OperatorProcess(cluster, pool, logs, env={"CLASSROOM_RESYNC_SECONDS": "5"})
    process.start()
    yield process
    try:
        delete_models(cluster, api, pool)
    finally:
        process.stop()


@dataclass
class ClassView:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str, token: str | None = None) -> tuple[int, dict[str, object]]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(self.url + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)


@pytest.fixture
def classview(cluster: LocalCluster, tmp_path: Path) -> Iterator[ClassView]:
    """`classroom-operator classview` as a local process, reading the API as the cluster's admin
    (the chart gives it a ServiceAccount with the rules in docs/class-view.md)."""
    port = free_port()
    log = tmp_path / "classview.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "classroom_operator", "classview", "--host", "127.0.0.1",
             "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
            env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)})
    view = ClassView(f"http://127.0.0.1:{port}", process, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            urllib.request.urlopen(view.url + "/healthz", timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    yield view
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    """Headless Chromium (Debian's) through chromium-driver; a fresh profile per test."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.fail("chromium and chromium-driver are needed: `make system-deps` installs them",
                    pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1280,1400"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    yield driver
    driver.quit()


@pytest.fixture
def screenshots(tmp_path: Path) -> Iterator[Path]:
    """The test's screenshots (its tmp folder); the final ones are copied to
    bench-results/class-view/."""
    folder = tmp_path / "screenshots"
    folder.mkdir()
    yield folder
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for shot in folder.glob("*.png"):
        shutil.copy(shot, SCREENSHOTS / shot.name)
