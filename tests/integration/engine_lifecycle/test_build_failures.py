"""Builds that fail, run by the real builder (`classroom-inference build`) on a node of the local
agent: the condition quotes the builder's reason, transient failures are retried with backoff
and give up after the limit, permanent ones wait for a spec change, and a fixed spec recovers."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from bench.operator_harness import (
    JobRecorder,
    OperatorProcess,
    apply,
    condition,
    jobs,
    model,
    model_manifest,
    wait_for,
)
from localcluster.cluster import LocalCluster
from localcluster.kubeapi import Api

QUIET = 4.0  # seconds in which a permanent failure must not be retried


def _engine(api: Api, namespace: str, name: str) -> dict[str, Any]:
    found = model(api, namespace, name) or {}
    engines = (found.get("status") or {}).get("engines") or [{}]
    first: dict[str, Any] = engines[0]
    return first


def _engines_ready(api: Api, namespace: str, name: str) -> Callable[[], dict[str, Any]]:
    """What a timeout shows: the model's EnginesReady condition and engines then."""
    def show() -> dict[str, Any]:
        status = (model(api, namespace, name) or {}).get("status") or {}
        return {"conditions": status.get("conditions"), "engines": status.get("engines")}
    return show


def _failed_with(api: Api, namespace: str, name: str, reason: str) -> dict[str, Any] | None:
    found = model(api, namespace, name)
    engines_ready = condition(found, "EnginesReady")
    if engines_ready.get("reason") == "BuildFailed" and reason in engines_ready.get("message", ""):
        return found
    return None


def _retrying(api: Api, namespace: str, name: str) -> dict[str, Any] | None:
    found = model(api, namespace, name)
    return found if condition(found, "EnginesReady").get("reason") == "BuildRetrying" else None


def test_checksum_mismatch_fails_for_good_and_a_fixed_spec_recovers(
        cluster: LocalCluster, api: Api, pool: str, builder_node: str,
        reference_model: tuple[str, str], operator: Callable[..., OperatorProcess]) -> None:
    uri, sha256 = reference_model
    wrong = ("0" if sha256[0] != "0" else "1") + sha256[1:]
    operator()
    recorder = JobRecorder(api, pool)
    apply(cluster, pool, [model_manifest("attention", pool, uri=uri, sha256=wrong)])

    failed = wait_for(lambda: _failed_with(api, pool, "attention", "ChecksumMismatch"),
                      "the ChecksumMismatch condition", timeout=120,
                      show=_engines_ready(api, pool, "attention"))
    assert failed["status"]["phase"] == "Failed"
    assert condition(failed, "Degraded")["status"] == "True"
    assert sha256 in condition(failed, "EnginesReady")["message"]  # the builder's own words
    time.sleep(QUIET)
    assert [len(uids) for uids in recorder.builds().values()] == [1], "a permanent failure " \
        "was retried"
    assert _engine(api, pool, "attention")["attempts"] == 1
    events = cluster.kubectl("get", "events", "-n", pool, "-o",
                             "jsonpath={.items[*].reason}").stdout.split()
    assert "BuildFailed" in events

    apply(cluster, pool, [model_manifest("attention", pool, uri=uri, sha256=sha256)])
    wait_for(lambda: _engine(api, pool, "attention").get("state") == "Ready",
             "the engine of the fixed spec", timeout=180)
    engine = _engine(api, pool, "attention")
    assert engine["buildSeconds"] > 0
    assert engine["throughput"]["cropsPerSecond"] > 0
    assert engine["validation"]["passed"] is True
    ready = model(api, pool, "attention")
    assert ready is not None and ready["status"]["phase"] == "Ready"
    # The failed engine's Job went with the spec that needed it.
    wait_for(lambda: len(jobs(api, pool)) == 1, "only the fixed spec's Job left")
    recorder.close()


def test_bad_model_url_fails_with_the_builders_reason(
        cluster: LocalCluster, api: Api, pool: str, builder_node: str, tmp_path: Path,
        operator: Callable[..., OperatorProcess]) -> None:
    operator()
    missing = (tmp_path / "nowhere" / "model.onnx").as_uri()
    apply(cluster, pool, [model_manifest("attention", pool, uri=missing)])
    failed = wait_for(lambda: _failed_with(api, pool, "attention", "FetchFailed"),
                      "the FetchFailed condition", timeout=120,
                      show=_engines_ready(api, pool, "attention"))
    message = condition(failed, "EnginesReady")["message"]
    assert "does not exist" in message and "fix the URL" in message
    assert _engine(api, pool, "attention")["state"] == "Failed"


def test_deadline_exceeded_retries_with_backoff_then_fails(
        cluster: LocalCluster, api: Api, pool: str, builder_node: str,
        reference_model: tuple[str, str], operator: Callable[..., OperatorProcess]) -> None:
    uri, sha256 = reference_model
    operator(CLASSROOM_BUILD_DEADLINE_SECONDS="1", CLASSROOM_BUILD_ATTEMPTS="2",
             CLASSROOM_BUILD_RETRY_SECONDS="3", CLASSROOM_BUILD_BACKOFF_LIMIT="0")
    recorder = JobRecorder(api, pool)
    apply(cluster, pool, [model_manifest("attention", pool, uri=uri, sha256=sha256)])

    retrying = wait_for(lambda: _retrying(api, pool, "attention"), "the BuildRetrying condition",
                        timeout=120, show=_engines_ready(api, pool, "attention"))
    assert "DeadlineExceeded" in condition(retrying, "EnginesReady")["message"]
    failed = wait_for(lambda: _failed_with(api, pool, "attention", "DeadlineExceeded"),
                      "Failed after the attempt limit", timeout=120,
                      show=_engines_ready(api, pool, "attention"))
    assert "after 2 attempts" in condition(failed, "EnginesReady")["message"]
    assert _engine(api, pool, "attention")["attempts"] == 2
    time.sleep(QUIET)  # nothing after the limit
    recorder.close()
    (uids,) = recorder.builds().values()
    assert len(uids) == 2  # one Job per attempt, under the same name
    first, second = uids
    backoff = (recorder.created[second] - recorder.failed[first]).total_seconds()
    assert backoff >= 3 - 1, f"attempt 2 started {backoff:.0f}s after attempt 1 failed"


class StallingModelServer:
    """Serves the model over HTTP, but holds the first request open without answering."""

    def __init__(self, path: Path) -> None:
        self.requests = 0
        self.first_request = threading.Event()
        self.release = threading.Event()
        data = path.read_bytes()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                if outer.requests == 1:
                    outer.first_request.set()
                    outer.release.wait(60)
                    return
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
def stalling_server(reference_model: tuple[str, str]) -> Iterator[StallingModelServer]:
    server = StallingModelServer(Path(reference_model[0].removeprefix("file://")))
    yield server
    server.close()


def _builder_pids(fingerprint: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"build" in argv and fingerprint.encode() in argv and b"--store" in argv:
            pids.append(int(entry.name))
    return pids


def test_builder_crash_is_retried_and_recovers(
        cluster: LocalCluster, api: Api, pool: str, builder_node: str,
        reference_model: tuple[str, str], stalling_server: StallingModelServer,
        operator: Callable[..., OperatorProcess]) -> None:
    operator(CLASSROOM_BUILD_BACKOFF_LIMIT="0", CLASSROOM_BUILD_RETRY_SECONDS="1")
    recorder = JobRecorder(api, pool)
    apply(cluster, pool, [model_manifest("attention", pool, uri=stalling_server.url,
                                         sha256=reference_model[1])])
    assert stalling_server.first_request.wait(120), "the builder never fetched the model"
    fingerprint = _engine(api, pool, "attention")["fingerprint"]
    pids = wait_for(lambda: _builder_pids(fingerprint), "the builder's process")
    for pid in pids:
        os.kill(pid, signal.SIGKILL)

    retrying = wait_for(lambda: _retrying(api, pool, "attention"), "the BuildRetrying condition",
                        timeout=60, show=_engines_ready(api, pool, "attention"))
    assert "BuilderCrashed" in condition(retrying, "EnginesReady")["message"]
    wait_for(lambda: _engine(api, pool, "attention").get("state") == "Ready",
             "the engine after the retry", timeout=180)
    assert _engine(api, pool, "attention")["attempts"] == 2
    (uids,) = recorder.builds().values()
    assert len(uids) == 2
    recorder.close()
