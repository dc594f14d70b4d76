"""What the pod tells about itself: the status document (docs/contracts.md, "The pod's status
document") and the readings behind /metrics.

Neither carries pixels, stream URLs or student ids: streams appear by their assignment id, and
a stream's error has its URL (and any password) replaced by the stream id before it leaves.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from classroom_inference.serving.frames import StreamState
from classroom_inference.serving.metrics import Reading
from classroom_inference.serving.sources import without_url

# Every reason is exported from the start, so a rate over drops is 0, not "no data".
DROP_REASONS = ("lagging", "backlog", "draining", "shape")

if TYPE_CHECKING:
    from classroom_inference.serving.pipeline import Pod, StreamRun


def _without_url(message: str | None, url: str, stream_id: str) -> str | None:
    return None if message is None else without_url(message, url, stream_id)


def _utc(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    stamp = datetime.fromtimestamp(seconds, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def _seconds(age: float | None) -> float | None:
    return None if age is None else round(age, 1)


def _stream(run: StreamRun) -> dict[str, Any]:
    stats = run.supervisor.stats()
    a = run.assignment
    return {
        "id": a.id, "state": stats.state.value, "layout": a.layout, "fps": stats.fps,
        "error": _without_url(stats.error, a.url, a.id),
        "lastError": _without_url(stats.last_error, a.url, a.id),
        "reconnects": stats.reconnects, "framesDecoded": stats.frames_decoded,
        "framesDropped": stats.frames_dropped,
    }


def status_document(pod: Pod) -> dict[str, Any]:
    ready, reason = pod.ready
    runner = pod.runner
    classrooms: dict[str, list[dict[str, Any]]] = {}
    assignment = pod.follower.current
    if assignment is not None:
        for room in assignment.classrooms:
            classrooms[room.name] = []
    for run in pod.streams.values():
        classrooms.setdefault(run.assignment.classroom, []).append(_stream(run))
    streams = [s for room in classrooms.values() for s in room]
    doc: dict[str, Any] = {
        "ready": ready,
        "fingerprint": runner.meta.fingerprint if runner else None,
        "backend": runner.backend if runner else None,
        "streams": {"assigned": len(streams),
                    "healthy": sum(s["state"] == StreamState.HEALTHY.value for s in streams)},
        "classrooms": [{"name": name, "streams": room} for name, room in classrooms.items()],
        "phase": pod.phase,
        "policy": pod.settings.policy.status(),
        "reason": None if ready else reason,
        "assignment": {
            "generation": assignment.generation if assignment else None,
            "fingerprint": assignment.fingerprint if assignment else None,
            "listed": assignment.listed if assignment else None,
            "error": pod.follower.error,
        },
    }
    if pod.credentials.configured:
        doc["credentials"] = pod.credentials.status()
    if runner is not None:
        batch = runner.meta.batch
        doc["engine"] = {"heads": list(pod.settings.policy.heads(runner.heads)),
                         "batch": {"min": batch.min, "opt": batch.opt, "max": batch.max}}
    if pod.batcher is not None:
        b = pod.batcher.stats
        doc["batcher"] = {"queueDepth": pod.batcher.depth, "batches": b.batches,
                          "crops": b.crops, "dropped": dict(b.dropped),
                          "failedBatches": b.failed_batches, "lastError": b.last_error}
    if pod.sink is not None:
        s, spool = pod.sink.stats, pod.sink.spool
        doc["sink"] = {
            "configured": pod.sink.url is not None, "delivered": s.delivered,
            "failures": s.failures, "rejected": s.rejected, "lastError": s.last_error,
            "lastDeliveredAt": _utc(s.last_delivered_at),
            "oldestUndeliveredSeconds": _seconds(spool.oldest_undelivered_age()),
            "spool": {"bytes": spool.size, "maxBytes": spool.max_bytes, "full": spool.full,
                      "policy": "refuse-new", "lostEvents": pod.outbox.lost,
                      "corruptRecords": spool.corrupt,
                      "retentionSeconds": spool.retention_seconds,
                      "expiredEvents": spool.expired},
        }
    doc["events"] = {"published": sum(pod.outbox.published.values()),
                     "subscribers": pod.hub.subscribers}
    return doc


def readings(pod: Pod) -> list[Reading]:
    out = [
        Reading("classroom_pod_ready", "gauge", "1 when the pod is ready to serve",
                float(pod.ready[0])),
        Reading("classroom_assignment_error", "gauge",
                "1 while the assignment file is refused (the previous one keeps running)",
                float(pod.follower.error is not None)),
        Reading("classroom_credentials_error", "gauge",
                "1 while the stream credentials file is refused (missing or malformed)",
                float(pod.credentials.error is not None)),
    ]
    states: dict[str, int] = {s.value: 0 for s in StreamState}
    # A counter, not a rate: Prometheus takes rate() over any window, and a removed stream's
    # frames stay counted so the counter never goes back.
    frames = Counter(pod.frames_of_removed)
    reconnects: dict[str, int] = {}
    for run in pod.streams.values():
        stats = run.supervisor.stats()
        room = run.assignment.classroom
        states[stats.state.value] += 1
        frames[room] += stats.frames_decoded
        reconnects[room] = reconnects.get(room, 0) + stats.reconnects
    out += [Reading("classroom_streams", "gauge", "Assigned streams by state", n,
                    (("state", state),)) for state, n in states.items()]
    out += [Reading("classroom_frames_decoded", "counter",
                    "Frames decoded, summed over the classroom's streams", v,
                    (("classroom", room),)) for room, v in frames.items()]
    out += [Reading("classroom_stream_reconnects", "counter",
                    "Stream reconnects, summed over the classroom's streams", v,
                    (("classroom", room),)) for room, v in reconnects.items()]
    crops = Counter(pod.crops_of_removed)
    for run in (*pod.streams.values(), *pod.leaving.values()):
        crops[run.assignment.classroom] += run.intake.crops
    out += [Reading("classroom_crops", "counter", "Face crops queued for the engine", v,
                    (("classroom", room),)) for room, v in crops.items()]
    out += [Reading("classroom_events", "counter", "Events published", v, (("type", kind),))
            for kind, v in pod.outbox.published.items()]
    out.append(Reading("classroom_events_lost", "counter",
                       "Events refused by a full spool", pod.outbox.lost))
    out.append(Reading("classroom_live_subscribers", "gauge", "Live event stream subscribers",
                       pod.hub.subscribers))
    out.append(Reading("classroom_live_subscribers_dropped", "counter",
                       "Live event subscribers dropped for being too slow",
                       pod.hub.dropped_subscribers))
    if pod.runner is not None:
        out.append(Reading("classroom_engine_batch_max", "gauge",
                           "The engine profile's largest batch (batch fill's denominator)",
                           pod.runner.meta.batch.max))
    if pod.batcher is not None:
        b = pod.batcher.stats
        out += [Reading("classroom_crops_dropped", "counter",
                        "Crops dropped before the engine (lagging: a newer frame took its "
                        "place; backlog: the engine is behind; draining; wrong shape)",
                        b.dropped[reason], (("reason", reason),))
                for reason in sorted({*DROP_REASONS, *b.dropped})]
        out += [
            Reading("classroom_queue_depth", "gauge", "Crops waiting for a batch",
                    pod.batcher.depth),
            Reading("classroom_batches", "counter", "Engine batches completed", b.batches),
            Reading("classroom_engine_failures", "counter", "Engine batches that failed",
                    b.failed_batches),
        ]
    if pod.sink is not None:
        s, spool = pod.sink.stats, pod.sink.spool
        out += [
            Reading("classroom_sink_delivered", "counter", "Events the webhook accepted",
                    s.delivered),
            Reading("classroom_sink_failures", "counter", "Failed webhook deliveries (retried)",
                    s.failures),
            Reading("classroom_sink_rejected", "counter",
                    "Events the webhook refused for good (400/422), skipped", s.rejected),
            Reading("classroom_spool_bytes", "gauge", "Bytes held in the spool", spool.size),
            Reading("classroom_spool_max_bytes", "gauge", "The spool's bound", spool.max_bytes),
            Reading("classroom_spool_full", "gauge", "1 while the spool refuses new events",
                    float(spool.full)),
            Reading("classroom_inference_spool_expired_events", "counter",
                    "Undelivered events deleted from the spool for their age (its retention)",
                    spool.expired),
        ]
    return out
