"""A thin JSON layer over the `kubernetes` client's TLS transport, for the node agent, the volume
provisioner and the cluster helpers.

They speak the API as kubelet does: plain objects (dicts, camelCase as on the wire), explicit
paths, strategic-merge patches to `/status`, and watches resumed from a resourceVersion. The
`kubernetes` client's Configuration and REST client carry the TLS, client certificates and pooling.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import yaml
from kubernetes.client import Configuration
from kubernetes.client.rest import RESTClientObject

STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"

Object = dict[str, Any]


class ApiError(RuntimeError):
    """The API server refused a request; `status` is the HTTP code, `reason` the Status reason."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Credentials:
    server: str
    ca: Path
    cert: Path | None = None
    key: Path | None = None
    token: str | None = None

    @classmethod
    def from_kubeconfig(cls, path: Path) -> Credentials:
        """Read the current context of a kubeconfig (the files localcluster writes)."""
        config = yaml.safe_load(path.read_text())
        context_name = config.get("current-context")
        context = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
        token = user.get("token")
        if token is None and user.get("tokenFile"):
            token = Path(user["tokenFile"]).read_text().strip()
        return cls(
            server=cluster["server"],
            ca=Path(cluster["certificate-authority"]),
            cert=Path(user["client-certificate"]) if user.get("client-certificate") else None,
            key=Path(user["client-key"]) if user.get("client-key") else None,
            token=token,
        )


def kubeconfig_text(server: str, ca: Path, user: str, *, cert: Path | None = None,
                    key: Path | None = None, token_file: Path | None = None,
                    namespace: str | None = None) -> str:
    """A kubeconfig (JSON, which is YAML) for one identity: a client certificate or a token file."""
    credentials: dict[str, str] = {}
    if cert is not None and key is not None:
        credentials = {"client-certificate": str(cert), "client-key": str(key)}
    if token_file is not None:
        credentials = {"tokenFile": str(token_file)}
    context: dict[str, str] = {"cluster": "local", "user": user}
    if namespace:
        context["namespace"] = namespace
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": server,
                                                   "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": "local", "context": context}],
        "current-context": "local",
    }
    return json.dumps(config, indent=2)


class Api:
    """JSON requests to one API server as one identity."""

    def __init__(self, credentials: Credentials, *, pool_size: int = 32) -> None:
        config = Configuration(host=credentials.server)
        config.ssl_ca_cert = str(credentials.ca)
        if credentials.cert is not None and credentials.key is not None:
            config.cert_file = str(credentials.cert)
            config.key_file = str(credentials.key)
        config.connection_pool_maxsize = pool_size
        self.credentials = credentials
        self._server = credentials.server.rstrip("/")
        self._rest = RESTClientObject(config)
        self._headers = {"Accept": "application/json"}
        if credentials.token:
            self._headers["Authorization"] = f"Bearer {credentials.token}"

    def close(self) -> None:
        self._rest.close()

    def _url(self, path: str, query: Mapping[str, Any] | None) -> str:
        params = {k: v for k, v in (query or {}).items() if v is not None}
        return f"{self._server}{path}" + (f"?{urlencode(params)}" if params else "")

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
        timeout: float = 30.0,
    ) -> Object:
        headers = {**self._headers, "Content-Type": content_type}
        response = self._rest.request(
            method, self._url(path, query), headers=headers, body=body, _request_timeout=timeout
        )
        data = response.read() or b"{}"
        payload: Object = json.loads(data) if data.strip() else {}
        if not 200 <= response.status < 300:
            raise ApiError(
                response.status, str(payload.get("reason", response.reason)),
                str(payload.get("message", data[:500].decode(errors="replace"))),
            )
        return payload

    def get(self, path: str, **query: Any) -> Object:
        return self.request("GET", path, query=query)

    def get_or_none(self, path: str) -> Object | None:
        try:
            return self.get(path)
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    def create(self, path: str, body: Object) -> Object:
        return self.request("POST", path, body)

    def patch(self, path: str, body: Any, *, content_type: str = STRATEGIC) -> Object:
        return self.request("PATCH", path, body, content_type=content_type)

    def delete(self, path: str, body: Object | None = None) -> Object | None:
        try:
            return self.request("DELETE", path, body)
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    def watch(
        self, path: str, resource_version: str, *, timeout_seconds: int = 60, **query: Any
    ) -> Iterator[tuple[str, Object]]:
        """Yield (type, object) until the server ends the watch; ERROR events raise ApiError."""
        params = {
            **query, "watch": "true", "resourceVersion": resource_version,
            "timeoutSeconds": timeout_seconds, "allowWatchBookmarks": "true",
        }
        response = self._rest.request(
            "GET", self._url(path, params), headers=dict(self._headers),
            _request_timeout=(10, timeout_seconds + 15),
        )
        raw = response.response
        try:
            if not 200 <= response.status < 300:
                payload = json.loads(response.read() or b"{}")
                raise ApiError(response.status, str(payload.get("reason", "")),
                               str(payload.get("message", "")))
            buffer = b""
            for chunk in raw.stream(amt=None, decode_content=False):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    kind, obj = event["type"], event["object"]
                    if kind == "ERROR":
                        raise ApiError(int(obj.get("code", 500)), str(obj.get("reason", "")),
                                       str(obj.get("message", "")))
                    yield kind, obj
        finally:
            raw.release_conn()
