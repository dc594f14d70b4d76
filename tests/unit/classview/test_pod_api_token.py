"""The operator's side of the pods' API token: one Secret per namespace, created with a random
value when missing and never rewritten, mapped into every inference pod, and sent on the
operator's own status requests."""

from __future__ import annotations

import base64
from typing import Any

import kopf
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from classroom_operator.engines.inventory import GpuClass
from classroom_operator.pod_client import (
    POD_API_TOKEN_KEY,
    POD_API_TOKEN_SECRET,
    PodClient,
    fetch_report,
)
from classroom_operator.rollout.pools import ModelRef, Pool, statefulset
from classroom_operator.settings import Settings
from classroom_operator.spec import parse_spec
from classroom_operator.spec.pod_settings import parse_pod_settings

SECRET_PATH = f"/api/v1/namespaces/lincoln/secrets/{POD_API_TOKEN_SECRET}"


class SecretsOnly:
    """The two calls token_for makes, kept in a dict (the real API's behaviour is covered by
    the integration and e2e tiers)."""

    def __init__(self, stored: dict[str, Any] | None = None) -> None:
        self.stored = stored
        self.created: list[dict[str, Any]] = []

    async def get(self, path: str) -> dict[str, Any] | None:
        assert path == SECRET_PATH
        return self.stored

    async def create(self, collection: str, body: dict[str, Any]) -> bool:
        self.created.append(body)
        if self.stored is not None:
            return False
        data = {k: base64.b64encode(v.encode()).decode() for k, v in body["stringData"].items()}
        self.stored = {**body, "data": data}
        return True


async def test_a_missing_token_secret_is_created_once_with_a_random_token() -> None:
    kube = SecretsOnly()
    client = PodClient()
    token = await client.token_for(kube, "lincoln")  # type: ignore[arg-type]
    assert len(token) >= 32
    (created,) = kube.created
    assert created["metadata"]["name"] == POD_API_TOKEN_SECRET
    assert await PodClient().token_for(kube, "lincoln") == token  # type: ignore[arg-type]
    assert len(kube.created) == 1
    other = await PodClient().token_for(SecretsOnly(), "lincoln")  # type: ignore[arg-type]
    assert other != token


async def test_a_token_secret_without_its_key_names_the_fix() -> None:
    kube = SecretsOnly({"metadata": {"name": POD_API_TOKEN_SECRET}, "data": {"other": "eA=="}})
    with pytest.raises(kopf.TemporaryError, match="has no key 'token'; delete it"):
        await PodClient().token_for(kube, "lincoln")  # type: ignore[arg-type]


def test_every_inference_pod_gets_the_token_from_the_secret() -> None:
    settings = Settings(namespace="classroom-system", builder_image="registry.example.org/ci:0.1",
                        tensorrt_version="10.13.3", gpu_backend="tensorrt",
                        engine_store_claim="engines", peering=None, engine_gc_seconds=600,
                        pod_ip="127.0.0.1")
    raw = {"model": {"uri": "https://models.example.org/a.onnx", "sha256": "b" * 64,
                     "outputs": {"attention": "a"}}}
    spec = parse_spec(raw)
    pool = Pool(ModelRef("lincoln", "attention", "uid"), GpuClass("NVIDIA-L4", "8.9", 550),
                "0123456789abcdef", "tensorrt")
    sts = statefulset(pool, spec, parse_pod_settings(raw), settings, replicas=1)
    (container,) = sts["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item.get("valueFrom") for item in container["env"]}
    assert env["CLASSROOM_POD_API_TOKEN"] == {"secretKeyRef": {
        "name": POD_API_TOKEN_SECRET, "key": POD_API_TOKEN_KEY}}


async def test_the_status_request_bears_the_token() -> None:
    seen: list[str | None] = []

    async def status(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization"))
        return web.json_response({}, status=401)

    app = web.Application()
    app.router.add_get("/v1/status", status)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    client = PodClient()
    try:
        answer = await fetch_report(client.get(), "127.0.0.1", server.port, token="abc" * 8)
    finally:
        await client.close()
        await server.close()
    assert seen == ["Bearer " + "abc" * 8]
    assert answer == "GET /v1/status answered HTTP 401"
