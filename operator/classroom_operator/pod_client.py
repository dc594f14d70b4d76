"""The HTTP client that asks the inference pods for their `GET /v1/status` (docs/contracts.md,
"The pod's status document"), by pod IP.

A thin async layer with a short timeout, so one hung pod costs a reconcile pass two seconds, not
a stall; what a report means is decided by the pure rollout/pod_reports.py.

The pods answer /v1/status only with the bearer token of their namespace, the Secret
`classroom-pod-api-token` (key `token`), which the client creates with a random value when it is
missing (never rewritten, so running pods keep agreeing with it) and reads at most once a minute
per namespace. RBAC: secrets get, create.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp
import kopf

from classroom_operator.kube import SECRETS, Kube
from classroom_operator.names import managed_labels
from classroom_operator.rollout.pod_reports import PodReport, ReportInvalid, parse_report

TIMEOUT_SECONDS = 2.0
POD_API_TOKEN_SECRET = "classroom-pod-api-token"
POD_API_TOKEN_KEY = "token"
POD_API_TOKEN_COMPONENT = "pod-api-token"
TOKEN_CACHE_SECONDS = 60.0


@dataclass
class PodClient:
    """The HTTP client for the pods' /v1/status, opened on first use inside the event loop."""

    session: aiohttp.ClientSession | None = None
    tokens: dict[str, tuple[float, str]] = field(default_factory=dict)  # namespace -> (at, token)

    async def token_for(self, kube: Kube, namespace: str) -> str:
        """The namespace's pod API token, its Secret created first when missing."""
        cached = self.tokens.get(namespace)
        if cached is not None and time.monotonic() - cached[0] < TOKEN_CACHE_SECONDS:
            return cached[1]
        path = f"{SECRETS.format(namespace=namespace)}/{POD_API_TOKEN_SECRET}"
        stored = await kube.get(path)
        if stored is None:
            await kube.create(SECRETS.format(namespace=namespace), pod_api_token_secret(
                namespace, secrets.token_urlsafe(32)))
            stored = await kube.get(path)
        encoded = ((stored or {}).get("data") or {}).get(POD_API_TOKEN_KEY)
        if not encoded:
            raise kopf.TemporaryError(
                f"Secret {namespace}/{POD_API_TOKEN_SECRET} has no key {POD_API_TOKEN_KEY!r}; "
                "delete it and the operator creates a new one", delay=30)
        token = base64.b64decode(encoded).decode()
        self.tokens[namespace] = (time.monotonic(), token)
        return token

    def get(self) -> aiohttp.ClientSession:
        if self.session is None:
            self.session = aiohttp.ClientSession()
        return self.session

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


def pod_api_token_secret(namespace: str, token: str) -> dict[str, object]:
    """The bearer token the pods of a namespace require on /v1/status and /v1/events."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": POD_API_TOKEN_SECRET, "namespace": namespace,
                     "labels": managed_labels(POD_API_TOKEN_COMPONENT)},
        "stringData": {POD_API_TOKEN_KEY: token},
    }


async def fetch_report(session: aiohttp.ClientSession, ip: str, port: int,
                       timeout_seconds: float = TIMEOUT_SECONDS,
                       token: str | None = None) -> PodReport | str:
    """The pod's report, or why there is none (a short sentence for the condition)."""
    url = f"http://{ip}:{port}/v1/status"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        limit = aiohttp.ClientTimeout(total=timeout_seconds)
        async with session.get(url, timeout=limit, headers=headers) as response:
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
                        *, concurrency: int = 32, timeout_seconds: float = TIMEOUT_SECONDS,
                        token: str | None = None) -> dict[str, PodReport | str]:
    """Reports of many pods (pod name -> IP) at once, a bounded number in flight."""
    gate = asyncio.Semaphore(concurrency)

    async def one(ip: str) -> PodReport | str:
        async with gate:
            return await fetch_report(session, ip, port, timeout_seconds, token)

    names = sorted(addresses)
    results = await asyncio.gather(*(one(addresses[name]) for name in names))
    return dict(zip(names, results, strict=True))
