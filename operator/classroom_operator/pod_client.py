"""The HTTP client that asks the inference pods for their `GET /v1/status` (docs/contracts.md,
"The pod's status document"), by pod IP.

A thin async layer with a short timeout, so one hung pod costs a reconcile pass two seconds, not
a stall; what a report means is decided by the pure rollout/pod_reports.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from classroom_operator.rollout.pod_reports import PodReport, ReportInvalid, parse_report

TIMEOUT_SECONDS = 2.0


@dataclass
class PodClient:
    """The HTTP client for the pods' /v1/status, opened on first use inside the event loop."""

    session: aiohttp.ClientSession | None = None

    def get(self) -> aiohttp.ClientSession:
        if self.session is None:
            self.session = aiohttp.ClientSession()
        return self.session

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


async def fetch_report(session: aiohttp.ClientSession, ip: str, port: int,
                       timeout_seconds: float = TIMEOUT_SECONDS) -> PodReport | str:
    """The pod's report, or why there is none (a short sentence for the condition)."""
    url = f"http://{ip}:{port}/v1/status"
    try:
        limit = aiohttp.ClientTimeout(total=timeout_seconds)
        async with session.get(url, timeout=limit) as response:
            if response.status != 200:
                return f"GET /v1/status answered HTTP {response.status}"
            document = await response.json(content_type=None)
    except TimeoutError:
        return f"GET /v1/status timed out after {timeout_seconds:g}s"
    except (aiohttp.ClientError, ValueError) as error:
        return f"GET /v1/status failed: {error}"
    try:
        return parse_report(document)
    except ReportInvalid as error:
        return f"GET /v1/status: {error}"


async def fetch_reports(session: aiohttp.ClientSession, addresses: Mapping[str, str], port: int,
                        *, concurrency: int = 32,
                        timeout_seconds: float = TIMEOUT_SECONDS) -> dict[str, PodReport | str]:
    """Reports of many pods (pod name -> IP) at once, a bounded number in flight."""
    gate = asyncio.Semaphore(concurrency)

    async def one(ip: str) -> PodReport | str:
        async with gate:
            return await fetch_report(session, ip, port, timeout_seconds)

    names = sorted(addresses)
    results = await asyncio.gather(*(one(addresses[name]) for name in names))
    return dict(zip(names, results, strict=True))
