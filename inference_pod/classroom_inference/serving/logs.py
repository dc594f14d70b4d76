"""The pod's logs: one JSON object a line, with the keys the operator's logs use (kopf's JSON
format: `timestamp`, `severity`, `message`), so one log pipeline parses both.

HTTP requests are logged as access lines, except the probes and scrapes (/healthz, /readyz,
/metrics): the kubelet and Prometheus call them every few seconds, and their lines would bury
the requests a person made.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
ACCESS_LOGGER = "classroom_inference.access"
# What every LogRecord has; anything else on a record came through `extra=` and is kept.
_RECORD_KEYS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName"}
_SEVERITIES = ((logging.DEBUG, "debug"), (logging.INFO, "info"), (logging.WARNING, "warn"),
               (logging.ERROR, "error"))


def severity(levelno: int) -> str:
    return next((name for level, name in _SEVERITIES if levelno <= level), "fatal")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "severity": severity(record.levelno),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update((key, value) for key, value in vars(record).items()
                     if key not in _RECORD_KEYS)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class AccessLogger(AbstractAccessLogger):
    """aiohttp's access log as structured records, without the probes."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        if request.path in PROBE_PATHS:
            return
        self.logger.info("%s %s %d", request.method, request.path, response.status, extra={
            "method": request.method, "path": request.path, "status": response.status,
            "durationSeconds": round(time, 6), "remote": request.remote})


def access_log() -> dict[str, Any]:
    """aiohttp's AppRunner arguments for the pod's access log."""
    return {"access_log": logging.getLogger(ACCESS_LOGGER), "access_log_class": AccessLogger}


def configure(level: str) -> None:
    """JSON lines on stderr for every logger of the process. As logging.basicConfig, it adds
    nothing when the root logger has a handler already (a second call, a test's capture)."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    if root.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
