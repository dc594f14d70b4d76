"""The operator's settings, read once from the environment the chart sets (docs/contracts.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

BACKENDS = ("tensorrt", "onnxruntime-cuda", "onnxruntime-cpu")
EMOTION_POLICIES = ("enabled", "disabled")


class SettingsError(ValueError):
    """An environment variable is missing or malformed; the message names it and the fix."""


@dataclass(frozen=True)
class Settings:
    namespace: str
    builder_image: str
    tensorrt_version: str
    gpu_backend: str
    engine_store_claim: str
    peering: str | None
    engine_gc_seconds: float
    pod_ip: str
    # How a build is run and retried. Optional: the chart may leave them at their defaults.
    build_deadline_seconds: int = 3600
    build_backoff_limit: int = 2
    build_attempts: int = 3
    build_retry_seconds: float = 30.0
    build_ttl_seconds: int = 86400
    # How often every model re-checks the world without being woken (missed events, GC timers).
    resync_seconds: float = 60.0
    # How often a running build's log is read for its step (0: never; no pods/log access needed).
    build_progress_seconds: float = 15.0
    # How long a pod of a new engine (its build, or its new pool's pod) may wait for a GPU
    # before an old pool of the model gives one up (rollout/gpu_yield.py).
    build_unschedulable_seconds: float = 120.0
    # The platform team's emotion policy (chart value compliance.emotion). The chart always sets
    # it (default disabled); an operator run without the chart keeps the pods' own default.
    emotion_policy: str = "enabled"

    @property
    def emotion_allowed(self) -> bool:
        return self.emotion_policy == "enabled"


def _required(env: Mapping[str, str], name: str, fix: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is not set; {fix}")
    return value


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(
            f"{name}={raw!r} is not a number; set it to seconds or a count") from None
    if value < minimum:
        raise SettingsError(f"{name}={raw!r} is below {minimum:g}; set it to {minimum:g} or more")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Parse the operator's environment; every error names the variable and how to fix it."""
    env = os.environ if env is None else env
    backend = env.get("CLASSROOM_GPU_BACKEND", "").strip() or "tensorrt"
    if backend not in BACKENDS:
        raise SettingsError(
            f"CLASSROOM_GPU_BACKEND={backend!r} is not a backend; use one of {', '.join(BACKENDS)}"
        )
    emotion = env.get("CLASSROOM_EMOTION_POLICY", "").strip() or "enabled"
    if emotion not in EMOTION_POLICIES:
        raise SettingsError(
            f"CLASSROOM_EMOTION_POLICY={emotion!r} is not a policy; use enabled or disabled "
            "(chart value compliance.emotion)")
    return Settings(
        namespace=_required(env, "CLASSROOM_OPERATOR_NAMESPACE",
                            "set it to the namespace the operator runs in (downward API)"),
        builder_image=_required(env, "CLASSROOM_BUILDER_IMAGE",
                                "set it to the image of build Jobs (chart value builder.image)"),
        tensorrt_version=_required(env, "CLASSROOM_TENSORRT_VERSION",
                                   "set it to the TensorRT version inside the builder image "
                                   "(chart value builder.tensorrtVersion)"),
        gpu_backend=backend,
        engine_store_claim=_required(env, "CLASSROOM_ENGINE_STORE_CLAIM",
                                     "set it to the engine store PVC's name (chart engineStore.*)"),
        peering=env.get("CLASSROOM_PEERING", "").strip() or None,
        engine_gc_seconds=_number(env, "CLASSROOM_ENGINE_GC_SECONDS", 3600.0, minimum=0),
        pod_ip=env.get("POD_IP", "").strip() or "127.0.0.1",
        build_deadline_seconds=int(
            _number(env, "CLASSROOM_BUILD_DEADLINE_SECONDS", 3600, minimum=1)),
        build_backoff_limit=int(_number(env, "CLASSROOM_BUILD_BACKOFF_LIMIT", 2, minimum=0)),
        build_attempts=int(_number(env, "CLASSROOM_BUILD_ATTEMPTS", 3, minimum=1)),
        build_retry_seconds=_number(env, "CLASSROOM_BUILD_RETRY_SECONDS", 30.0, minimum=0),
        build_ttl_seconds=int(_number(env, "CLASSROOM_BUILD_TTL_SECONDS", 86400, minimum=0)),
        resync_seconds=_number(env, "CLASSROOM_RESYNC_SECONDS", 60.0, minimum=1),
        build_progress_seconds=_number(env, "CLASSROOM_BUILD_PROGRESS_SECONDS", 15.0,
                                       minimum=0),
        build_unschedulable_seconds=_number(env, "CLASSROOM_BUILD_UNSCHEDULABLE_SECONDS",
                                            120.0, minimum=0),
        emotion_policy=emotion,
    )
