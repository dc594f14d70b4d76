"""Settings from the chart's environment: defaults where the chart may leave a value out, and
an error naming the variable and the fix for anything missing or malformed."""

from __future__ import annotations

import pytest
from classroom_operator.settings import SettingsError, load_settings


def test_required_only_gives_defaults(required_env: dict[str, str]) -> None:
    settings = load_settings(required_env)
    assert settings.namespace == "classroom-system"
    assert settings.gpu_backend == "tensorrt"
    assert settings.peering is None
    assert settings.engine_gc_seconds == 3600
    assert settings.pod_ip == "127.0.0.1"
    assert settings.build_progress_seconds == 15
    assert settings.build_unschedulable_seconds == 120
    # Without the chart (which always sets it) the pods keep their own default.
    assert settings.emotion_policy == "enabled" and settings.emotion_allowed


def test_emotion_policy_from_the_chart(required_env: dict[str, str]) -> None:
    settings = load_settings({**required_env, "CLASSROOM_EMOTION_POLICY": "disabled"})
    assert settings.emotion_policy == "disabled" and not settings.emotion_allowed
    with pytest.raises(SettingsError, match=r"CLASSROOM_EMOTION_POLICY='off'.*enabled or disabled"):
        load_settings({**required_env, "CLASSROOM_EMOTION_POLICY": "off"})


def test_everything_set(required_env: dict[str, str]) -> None:
    settings = load_settings({**required_env, "CLASSROOM_GPU_BACKEND": "onnxruntime-cuda",
                              "CLASSROOM_PEERING": "classroom", "POD_IP": "10.0.0.7",
                              "CLASSROOM_ENGINE_GC_SECONDS": "90",
                              "CLASSROOM_BUILD_ATTEMPTS": "5",
                              "CLASSROOM_BUILD_PROGRESS_SECONDS": "0",
                              "CLASSROOM_BUILD_UNSCHEDULABLE_SECONDS": "5"})
    assert (settings.gpu_backend, settings.peering, settings.pod_ip) == (
        "onnxruntime-cuda", "classroom", "10.0.0.7")
    assert settings.engine_gc_seconds == 90
    assert settings.build_attempts == 5
    assert settings.build_progress_seconds == 0  # off: no build log is read
    assert settings.build_unschedulable_seconds == 5


@pytest.mark.parametrize("missing", ["CLASSROOM_OPERATOR_NAMESPACE", "CLASSROOM_BUILDER_IMAGE",
                                     "CLASSROOM_TENSORRT_VERSION",
                                     "CLASSROOM_ENGINE_STORE_CLAIM"])
def test_missing_required_names_the_variable(required_env: dict[str, str], missing: str) -> None:
    env = {key: value for key, value in required_env.items() if key != missing}
    with pytest.raises(SettingsError, match=f"^{missing} is not set; set it"):
        load_settings(env)


@pytest.mark.parametrize(("name", "value", "hint"), [
    ("CLASSROOM_GPU_BACKEND", "cuda", "use one of tensorrt, onnxruntime-cuda, onnxruntime-cpu"),
    ("CLASSROOM_ENGINE_GC_SECONDS", "an hour", "is not a number"),
    ("CLASSROOM_ENGINE_GC_SECONDS", "-5", "is below 0"),
    ("CLASSROOM_BUILD_ATTEMPTS", "0", "is below 1"),
    ("CLASSROOM_BUILD_PROGRESS_SECONDS", "-1", "is below 0"),
    ("CLASSROOM_BUILD_PROGRESS_SECONDS", "often", "is not a number"),
    ("CLASSROOM_BUILD_UNSCHEDULABLE_SECONDS", "two minutes", "is not a number"),
])
def test_malformed_values_say_how_to_fix(required_env: dict[str, str], name: str, value: str,
                                         hint: str) -> None:
    with pytest.raises(SettingsError, match=name) as caught:
        load_settings({**required_env, name: value})
    assert hint in str(caught.value)
