"""The webhook sink: events from the spool to the receiver, in order, batched, retried with backoff.

Every event for the webhook goes through the spool first (`offer`), so a receiver that is down
for minutes costs disk, not events. A batch is removed from the spool only once the receiver
answered 2xx. Connection errors, timeouts, 5xx, 408, 429 and also 401/403/404 (a token or URL the
operator will fix) are retried with exponential backoff and jitter, honouring Retry-After;
a 400 or 422 means this receiver will never take that batch, so it is skipped, counted and logged
rather than blocking every later event forever. A 413 halves the batch.

POST body: {"pod": ..., "model": ..., "fingerprint": ..., "events": [<event>, ...]},
`Authorization: Bearer <CLASSROOM_SINK_TOKEN>` when the token is set, and
`Classroom-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` when a signing key is set
(signing.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import aiohttp

from classroom_inference.serving.signing import SIGNATURE_HEADER, signature
from classroom_inference.serving.spool import Expired, Spool

log = logging.getLogger(__name__)

RETRY_ALWAYS = {401, 403, 404, 408, 425, 429}
REJECTED = {400, 422}


@dataclass
class SinkStats:
    delivered: int = 0
    failures: int = 0
    rejected: int = 0
    last_error: str | None = None
    last_delivered_at: float | None = None  # seconds since the epoch


@dataclass(frozen=True)
class Envelope:
    pod: str
    model: str
    fingerprint: str


class WebhookSink:
    def __init__(
        self,
        spool: Spool,
        *,
        token: str | None,
        envelope: Envelope,
        signing_key: bytes | None = None,
        clock: Callable[[], float] = time.time,
        max_events: int = 500,
        max_bytes: int = 1 << 20,
        flush_seconds: float = 0.05,
        backoff_seconds: float = 0.5,
        backoff_cap_seconds: float = 30.0,
        timeout_seconds: float = 10.0,
        expiry_check_seconds: float | None = None,
    ) -> None:
        self.spool = spool
        self.url: str | None = None
        self.envelope = envelope
        self.stats = SinkStats()
        self._token = token
        self._signing_key = signing_key
        self._clock = clock
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._flush_seconds = flush_seconds
        self._backoff = backoff_seconds
        self._backoff_cap = backoff_cap_seconds
        self._timeout = timeout_seconds
        self._io = ThreadPoolExecutor(1, thread_name_prefix="spool-io")
        self._durable = asyncio.Event()  # new records on disk, or a new URL
        self._stopping = False
        # Held from reading a batch to committing it, so expiry never drops a batch in flight.
        self._turn = asyncio.Lock()
        self._expiry_seconds = expiry_check_seconds or min(spool.segment_span, 60.0)
        self.on_expired: Callable[[Expired], None] | None = None

    async def _on_io(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._io, fn, *args)

    def offer(self, record: bytes) -> bool:
        return self.spool.offer(record)

    def set_url(self, url: str | None) -> None:
        if url != self.url:
            self.url = url
            self._durable.set()

    # --- loops ----------------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            if await self._on_io(self.spool.flush):
                self._durable.set()
            await asyncio.sleep(self._flush_seconds)

    async def _expiry_loop(self) -> None:
        while True:
            async with self._turn:
                expired = await self._on_io(self.spool.expire)
            if expired.records and self.on_expired is not None:
                self.on_expired(expired)
            await asyncio.sleep(self._expiry_seconds)

    async def run(self) -> None:
        """Flushes the spool to disk, expires what is too old and delivers the rest until
        cancelled."""
        helpers = [asyncio.create_task(self._flush_loop()),
                   asyncio.create_task(self._expiry_loop())]
        try:
            async with aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as session:
                await self._deliver(session)
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    async def _deliver(self, session: aiohttp.ClientSession) -> None:
        attempt = 0
        max_events = self._max_events
        while True:
            url = self.url
            async with self._turn:
                records, position = ([], None) if url is None else await self._on_io(
                    self.spool.read, max_events, self._max_bytes)
                if records:
                    assert url is not None
                    outcome, retry_after = await self._post(session, url, records)
                    if outcome == "delivered" or outcome == "rejected":
                        await self._on_io(self.spool.commit, position)
            if not records:
                if self._stopping and (url is None or self.spool.empty):
                    return
                self._durable.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._durable.wait(), 1.0)
                continue
            if outcome == "delivered" or outcome == "rejected":
                attempt, max_events = 0, self._max_events
                continue
            if outcome == "too-large" and max_events > 1:
                max_events = max(1, len(records) // 2)
                continue
            attempt += 1
            delay = min(self._backoff_cap, self._backoff * 2 ** (attempt - 1))
            delay = max(delay * random.uniform(0.5, 1.0), retry_after or 0.0)
            await asyncio.sleep(min(delay, self._backoff_cap))

    async def _post(self, session: aiohttp.ClientSession, url: str,
                    records: list[bytes]) -> tuple[str, float | None]:
        e = self.envelope
        head = (b'{"pod":%s,"model":%s,"fingerprint":%s,"events":['
                % tuple(_json_str(v) for v in (e.pod, e.model, e.fingerprint)))
        body = head + b",".join(records) + b"]}"
        headers = {"Content-Type": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        if self._signing_key is not None:
            headers[SIGNATURE_HEADER] = signature(self._signing_key, body, int(self._clock()))
        try:
            async with session.post(url, data=body, headers=headers) as response:
                status = response.status
                retry_after = _retry_after(response.headers.get("Retry-After"))
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            return self._failed(f"{type(exc).__name__}: {exc}" if str(exc) else
                                type(exc).__name__), None
        if 200 <= status < 300:
            self.stats.delivered += len(records)
            self.stats.last_error = None
            self.stats.last_delivered_at = self._clock()
            return "delivered", None
        if status in REJECTED:
            self.stats.rejected += len(records)
            self.stats.last_error = f"the receiver rejected {len(records)} events with {status}"
            log.error("%s; they are skipped so later events still go out", self.stats.last_error)
            return "rejected", None
        if status == 413:
            self._failed(f"HTTP 413 for a batch of {len(records)} events")
            return "too-large", None
        return self._failed(f"HTTP {status}"), retry_after

    def _failed(self, message: str) -> str:
        self.stats.failures += 1
        if message != self.stats.last_error:
            log.warning("webhook delivery failed (%s); retrying with backoff", message)
        self.stats.last_error = message
        return "retry"

    async def drain(self, runner: asyncio.Task[None], seconds: float) -> bool:
        """Flush and deliver what is spooled, for at most `seconds`; True when all went out.

        What is left stays on disk and goes out from the same spool folder after a restart.
        """
        self._stopping = True
        self._durable.set()
        try:
            await self._on_io(self.spool.flush)
            await asyncio.wait_for(asyncio.shield(runner), seconds)
        except TimeoutError:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        delivered_all = self.url is None or self.spool.empty
        await self._on_io(self.spool.close)
        self._io.shutdown(wait=True)
        return delivered_all


def _json_str(value: str) -> bytes:
    return json.dumps(value).encode()


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: plain backoff is good enough
