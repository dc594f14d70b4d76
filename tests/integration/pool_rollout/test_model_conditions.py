"""What `kubectl` tells a platform team about a model that real pods serve: the rolled-up
Ready condition (`kubectl wait --for=condition=Ready`), and the health of the webhook its pods
deliver to (status.sink, SinkHealthy, Degraded), with the receiver down and back."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.operator_harness import OperatorProcess, apply, wait_for
from integration.pool_rollout.kit import Media, condition, manifest, room, stream_status
from localcluster.cluster import LocalCluster
from localcluster.kubeapi import Api
from localcluster.nodes import l4
from localcluster.processes import free_port

TIMEOUT = 240  # a build, then a pod that loads its engine and opens its stream
BUILDING = {"NoNodes", "Building", "BuildRetrying", "EnginesReadyUnknown", "WaitingForEngines",
            "PodsNotReady", "RolledOutUnknown"}


def test_kubectl_waits_for_a_model_to_be_ready(cluster: LocalCluster, api: Api, pool: str,
                                                nodes: Callable[..., list[str]],
                                                operator: OperatorProcess, media: Media) -> None:
    nodes(l4(f"{pool[:20]}-l4"))
    apply(cluster, pool, [manifest(media, "attention", pool,
                                   classrooms=[room(media, "room-101")])])
    # While the engine builds, Ready is False and says why.
    early = wait_for(lambda: condition(stream_status(api, pool, "attention"), "Ready"),
                     "a Ready condition", timeout=60)
    assert early["status"] == "False" and early["reason"] in BUILDING, early
    assert early["message"]
    waited = cluster.kubectl("wait", "--for=condition=Ready", "cmodel/attention", "-n", pool,
                             f"--timeout={TIMEOUT}s", timeout=TIMEOUT + 30)
    assert "condition met" in waited.stdout
    status = stream_status(api, pool, "attention")
    ready = condition(status, "Ready")
    assert (ready["reason"], ready["observedGeneration"]) == ("Serving", 1)
    assert status["phase"] == "Ready" and status["streams"] == {"assigned": 1, "healthy": 1}
    for kind in ("EnginesReady", "RolledOut", "StreamsHealthy"):
        assert condition(status, kind)["status"] == "True"
    assert condition(status, "Degraded")["status"] == "False"


class Receiver:
    """A webhook receiver that answers 204 to every delivery, on a port chosen beforehand."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.deliveries = 0
        self._server: ThreadingHTTPServer | None = None

    def up(self) -> None:
        receiver = self

        class Hook(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.deliveries += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Hook)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@contextlib.contextmanager
def receiver_later() -> Iterator[Receiver]:
    receiver = Receiver(free_port())
    try:
        yield receiver
    finally:
        receiver.close()


def test_a_webhook_that_is_down_degrades_the_model_until_it_is_back(
        cluster: LocalCluster, api: Api, pool: str, nodes: Callable[..., list[str]],
        operator: OperatorProcess, media: Media) -> None:
    nodes(l4(f"{pool[:20]}-l4"))
    with receiver_later() as receiver:
        hook = f"http://127.0.0.1:{receiver.port}/hook"  # nothing listens there yet
        apply(cluster, pool, [manifest(media, "attention", pool,
                                       classrooms=[room(media, "room-101")],
                                       sink={"webhook": {"url": hook}})])

        def sink_failing() -> dict[str, Any] | None:
            status = stream_status(api, pool, "attention")
            degraded = condition(status, "Degraded")
            return status if degraded.get("reason") == "SinkFailing" else None

        status = wait_for(sink_failing, "Degraded with reason SinkFailing", timeout=TIMEOUT + 90,
                          every=1.0, show=lambda: stream_status(api, pool, "attention"))
        sink = status["sink"]
        assert sink["podsReporting"] == 1 and sink["podsFailing"] == 1, sink
        assert sink["spoolBytes"] > 0 and sink["oldestUndeliveredSeconds"] >= 60, sink
        assert sink["lastError"], sink
        healthy = condition(status, "SinkHealthy")
        assert (healthy["status"], healthy["reason"]) == ("False", "SinkFailing")
        assert condition(status, "Degraded")["status"] == "True"
        assert condition(status, "Ready")["status"] == "False"
        assert status["phase"] == "Degraded"
        # The streams themselves are fine: only the webhook is down.
        assert status["streams"] == {"assigned": 1, "healthy": 1}

        receiver.up()

        def recovered() -> dict[str, Any] | None:
            status = stream_status(api, pool, "attention")
            return status if condition(status, "SinkHealthy").get("status") == "True" \
                and condition(status, "Ready").get("status") == "True" else None

        after = wait_for(recovered, "SinkHealthy and Ready again", timeout=90, every=1.0,
                         show=lambda: stream_status(api, pool, "attention").get("sink"))
        assert receiver.deliveries > 0
        assert after["sink"]["podsFailing"] == 0 and after["sink"]["lastError"] == ""
        assert condition(after, "Degraded")["status"] == "False"
        assert after["phase"] == "Ready"
