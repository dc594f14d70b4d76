from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from classroom_operator.engines.build_jobs import EngineNeed, build_spec_document, build_spec_hash
from classroom_operator.engines.build_results import JobView, PodView
from classroom_operator.engines.inventory import GpuClass, InventoryView
from classroom_operator.engines.planning import World, needed_engines
from classroom_operator.settings import Settings
from classroom_operator.spec import ModelSpec, parse_spec

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
A100 = GpuClass("NVIDIA-A100-SXM4-80GB", "8.0", 550)
H100 = GpuClass("NVIDIA-H100-80GB-HBM3", "9.0", 550)


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def settings() -> Settings:
    return Settings(namespace="classroom-system", builder_image="img", tensorrt_version="10.13.3",
                    gpu_backend="tensorrt", engine_store_claim="engines", peering=None,
                    engine_gc_seconds=600, pod_ip="127.0.0.1", build_attempts=3,
                    build_retry_seconds=30)


@pytest.fixture
def raw() -> dict[str, Any]:
    return {"model": {"uri": "https://m/a.onnx", "sha256": "e" * 64,
                      "outputs": {"attention": "att"}}}


@pytest.fixture
def spec(raw: dict[str, Any]) -> ModelSpec:
    return parse_spec(raw)


@pytest.fixture
def view() -> InventoryView:
    return InventoryView(classes={A100.name: A100, H100.name: H100})


@pytest.fixture
def need(spec: ModelSpec, view: InventoryView, settings: Settings) -> EngineNeed:
    needs = needed_engines(spec, view, settings)
    return next(n for n in needs.values() if n.gpu == A100)


@pytest.fixture
def spec_hash(spec: ModelSpec) -> str:
    return build_spec_hash(build_spec_document(spec, A100))


@pytest.fixture
def job(need: EngineNeed, spec_hash: str) -> Callable[..., JobView]:
    def make(*, attempt: int = 1, failed: bool = False, succeeded: bool = False,
             reason: str = "", finished: datetime | None = None, other_spec: bool = False,
             **changes: Any) -> JobView:
        return JobView(name=f"engine-build-{need.fingerprint}", uid=f"uid-{attempt}",
                       fingerprint=need.fingerprint, attempt=attempt,
                       spec_hash="other" if other_spec else spec_hash, gpu_class=need.gpu.name,
                       failed=failed, succeeded=succeeded, reason=reason, finished_at=finished,
                       **changes)
    return make


@pytest.fixture
def world() -> Callable[..., World]:
    def make(jobs: Sequence[JobView] = (), pods: Sequence[PodView] = (),
             catalogue: dict[str, Any] | None = None) -> World:
        grouped: dict[str, list[PodView]] = {}
        for job in jobs:
            grouped.setdefault(job.fingerprint, [])
        for pod in pods:
            fingerprint = pod.job.removeprefix("engine-build-")
            grouped.setdefault(fingerprint, []).append(pod)
        return World(catalogue=catalogue or {}, jobs={j.fingerprint: j for j in jobs},
                     pods={fp: tuple(p) for fp, p in grouped.items()})
    return make
