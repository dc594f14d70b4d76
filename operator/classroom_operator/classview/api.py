"""The view's own reads of the Kubernetes API, under its ServiceAccount (or $KUBECONFIG).

RBAC (the chart's classview ClusterRole grants exactly this): tokenreviews create,
subjectaccessreviews create, classroommodels and classrooms get list, configmaps and pods list,
secrets get on `classroom-pod-api-token` only.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from classroom_operator.kube import Credentials


class ApiUnavailable(RuntimeError):
    """The API server did not answer as it should; the view refuses rather than guesses."""


class ViewApi:
    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._credentials.ssl_context),
                timeout=aiohttp.ClientTimeout(total=10))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Accept": "application/json", "User-Agent": "classroom-operator-classview"}
        token = self._credentials.authorization()
        if token:
            headers["Authorization"] = token
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self._client().request(
                    method, self._credentials.server + path, headers=headers,
                    data=None if body is None else json.dumps(body)) as response:
                text = await response.text()
                return response.status, (json.loads(text) if text.strip() else None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise ApiUnavailable(f"{method} {path}: {type(error).__name__}: {error}") from error

    async def get(self, path: str) -> dict[str, Any] | None:
        status, payload = await self.request("GET", path)
        if status == 404:
            return None
        if status != 200 or not isinstance(payload, dict):
            raise ApiUnavailable(f"GET {path}: HTTP {status}: {_message(payload)}")
        return payload

    async def items(self, path: str) -> list[dict[str, Any]]:
        listing = await self.get(path)
        return list((listing or {}).get("items") or [])

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        status, payload = await self.request("POST", path, body)
        if status not in (200, 201) or not isinstance(payload, dict):
            raise ApiUnavailable(f"POST {path}: HTTP {status}: {_message(payload)}")
        return payload


def _message(payload: Any) -> str:
    return str(payload.get("message") if isinstance(payload, dict) else payload)[:300]
