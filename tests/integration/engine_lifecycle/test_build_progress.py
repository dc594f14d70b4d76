"""Where a running build is, on the real control plane: the real builder on a node of the local
agent announces its steps in its log, the operator reads the pod's log through the API
(`pods/log`) and shows the step and its growing time in status.engines[].progress and the Build
column, and both go once the engine is Ready."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from bench.operator_harness import OperatorProcess, apply, model, model_manifest, wait_for
from localcluster.cluster import LocalCluster
from localcluster.kubeapi import Api

# The builder reads with a 30 s timeout: the model is held back for less than that.
HOLD_AT_MOST = 25.0


class SlowModelServer:
    """Serves the model over HTTP, holding each answer until `release` (the builder's fetch
    step, made as long as the test needs)."""

    def __init__(self, path: Path) -> None:
        self.asked = threading.Event()
        self.release = threading.Event()
        data = path.read_bytes()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.asked.set()
                outer.release.wait(HOLD_AT_MOST)
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/model.onnx"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()


@pytest.fixture
def slow_server(reference_model: tuple[str, str]) -> Iterator[SlowModelServer]:
    server = SlowModelServer(Path(reference_model[0].removeprefix("file://")))
    yield server
    server.close()


def _status(api: Api, namespace: str, name: str) -> dict[str, Any]:
    return dict((model(api, namespace, name) or {}).get("status") or {})


def _progress(api: Api, namespace: str, name: str) -> dict[str, Any]:
    engines = _status(api, namespace, name).get("engines") or [{}]
    return dict(engines[0].get("progress") or {})


def test_a_running_build_shows_its_step_and_time_until_ready(
        cluster: LocalCluster, api: Api, pool: str, builder_node: str,
        reference_model: tuple[str, str], slow_server: SlowModelServer,
        operator: Callable[..., OperatorProcess]) -> None:
    process = operator(CLASSROOM_BUILD_PROGRESS_SECONDS="1")
    # Two models of one engine: one build, whose log is read once a second, not once per model.
    apply(cluster, pool, [model_manifest(name, pool, uri=slow_server.url,
                                         sha256=reference_model[1])
                          for name in ("attention", "attention-copy")])
    assert slow_server.asked.wait(120), "the builder never fetched the model"

    def show() -> dict[str, Any]:
        status = _status(api, pool, "attention")
        return {"engines": status.get("engines"), "summary": status.get("summary")}

    first = wait_for(lambda: (p := _progress(api, pool, "attention")).get("step") == "fetch"
                     and p, "the fetch step in status.engines[].progress", timeout=20,
                     show=show)
    assert first["seconds"] >= first["stepSeconds"] >= 0
    assert first["startedAt"] <= first["stepStartedAt"]
    later = wait_for(lambda: (p := _progress(api, pool, "attention")).get("stepSeconds", 0)
                     > first["stepSeconds"] and p, "the time in the fetch step to grow",
                     timeout=15, show=show)
    assert later["step"] == "fetch" and later["seconds"] > first["seconds"]
    assert later["startedAt"] == first["startedAt"]
    summary = _status(api, pool, "attention")["summary"]["build"]
    assert re.fullmatch(r"1 building: fetch \d+s", summary), summary
    wide = cluster.kubectl("get", "cmodel", "attention", "-n", pool, "-o", "wide").stdout
    header, row = wide.splitlines()[:2]
    assert "BUILD" in header.split() and "1 building: fetch" in row, wide
    plain = cluster.kubectl("get", "cmodel", "attention", "-n", pool).stdout
    assert "BUILD" not in plain.split()
    reads = sum(value for name, value in process.metrics().items()
                if name.startswith("classroom_operator_api_requests_total")
                and 'resource="pods/log"' in name)
    running = _progress(api, pool, "attention")["seconds"]
    assert _progress(api, pool, "attention-copy")["step"] == "fetch"
    assert 1 <= reads <= running + 2, f"{reads} log reads in {running}s of one build"

    slow_server.release.set()
    ready = wait_for(lambda: (s := _status(api, pool, "attention")).get("phase") == "Ready"
                     and s, "the model Ready", timeout=180, show=show)
    (engine,) = ready["engines"]
    assert engine["state"] == "Ready" and "progress" not in engine
    assert ready["summary"]["build"] == ""
    wait_for(lambda: _status(api, pool, "attention-copy").get("phase") == "Ready",
             "the other model Ready", timeout=60)
    assert _status(api, pool, "attention-copy")["summary"]["build"] == ""
