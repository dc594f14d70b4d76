"""WebhookSigned from the sink's Secret, and the platform team's emotion policy in the pods'
arguments and the EmotionPolicy condition (docs/compliance.md)."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import pytest
from classroom_inference.cli import build_parser
from classroom_inference.serving.cli import settings_from
from classroom_operator.rollout.compliance import emotion_condition, signing_condition
from classroom_operator.rollout.pools import Pool, statefulset
from classroom_operator.settings import Settings
from classroom_operator.spec import ModelSpec, parse_model
from classroom_operator.spec.pod_settings import PodSettings, parse_sink


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


SINK = parse_sink({"webhook": {"url": "https://labels.example.org/v1",
                               "secretRef": {"name": "sink", "key": "token"}}})


@pytest.mark.parametrize(("found", "status", "reason"), [
    ({"token": _b64("t"), "signing-key": _b64("k" * 32)}, "True", "Signed"),
    ({"token": _b64("t")}, "False", "Unsigned"),
    ({"token": _b64("t"), "signing-key": _b64("short")}, "False", "SigningKeyTooShort"),
    (None, "False", "SinkSecretMissing"),
    ("HTTP 403: forbidden", "Unknown", "SinkSecretUnreadable"),
])
def test_webhook_signed_follows_the_sink_secret(found: Any, status: str, reason: str) -> None:
    condition = signing_condition(SINK, found)
    assert (condition.type, condition.status, condition.reason) == \
        ("WebhookSigned", status, reason)
    assert "k" * 32 not in condition.message


def test_a_custom_signing_key_name_is_read() -> None:
    sink = parse_sink({"webhook": {"url": "https://l.example.org/", "secretRef": {
        "name": "sink", "key": "token", "signingKey": "hmac"}}})
    assert sink.signing is not None and sink.signing.key == "hmac"
    assert signing_condition(sink, {"signing-key": _b64("k" * 32)}).reason == "Unsigned"
    assert signing_condition(sink, {"hmac": _b64("k" * 32)}).reason == "Signed"


def test_no_secret_ref_means_unsigned_and_no_webhook_means_nothing_to_sign() -> None:
    assert signing_condition(parse_sink({"webhook": {"url": "https://l.example.org/"}}),
                             None).reason == "NoSigningKey"
    assert signing_condition(parse_sink(None), None).status == "Unknown"


def test_signing_key_may_not_be_the_token() -> None:
    with pytest.raises(ValueError, match=r"spec\.sink\.webhook\.secretRef\.signingKey"):
        parse_sink({"webhook": {"url": "https://l.example.org/", "secretRef": {
            "name": "sink", "key": "token", "signingKey": "token"}}})


def _emotion_spec(outputs: dict[str, str]) -> ModelSpec:
    return parse_model({"model": {"uri": "https://m.example.org/a.onnx", "sha256": "a" * 64,
                                  "outputs": outputs}})


def _argv(sts: dict[str, Any]) -> list[str]:
    command: list[str] = sts["spec"]["template"]["spec"]["containers"][0]["command"]
    return [part.replace("$(POD_IP)", "10.1.2.3") for part in command]


def test_disabled_policy_passes_emotion_disabled_and_keeps_the_fingerprint(
        gpu_pool: Pool, pod_settings: PodSettings, settings: Settings) -> None:
    spec = _emotion_spec({"attention": "att", "emotion": "logits"})
    disabled = dataclasses.replace(settings, emotion_policy="disabled")
    before = statefulset(gpu_pool, spec, pod_settings, settings, replicas=1)
    after = statefulset(gpu_pool, spec, pod_settings, disabled, replicas=1)
    allowed, dropped = _argv(before), _argv(after)
    assert "--emotion" not in allowed
    assert dropped[-2:] == ["--emotion", "disabled"]
    # The pod's own parser reads the flag as the policy.
    args = build_parser().parse_args(dropped[1:])
    pod = settings_from(args, {"CLASSROOM_ID_SECRET": "k" * 32, "POD_NAME": "attention-0"})
    assert pod.policy.emotion is False
    # The same pool and engine: the policy changes the pods' arguments (so they restart with
    # it), not the fingerprint, so nothing is rebuilt.
    assert after["metadata"]["name"] == before["metadata"]["name"]
    assert after["metadata"]["labels"] == before["metadata"]["labels"]


@pytest.mark.parametrize(("outputs", "policy", "status", "reason"), [
    ({"attention": "att"}, "disabled", "True", "NoEmotionHead"),
    ({"attention": "att", "emotion": "logits"}, "enabled", "True", "EmotionServed"),
    ({"attention": "att", "emotion": "logits"}, "disabled", "False", "EmotionDropped"),
    ({"emotion": "logits"}, "disabled", "False", "EmotionOnlyModel"),
])
def test_emotion_policy_condition(settings: Settings, outputs: dict[str, str], policy: str,
                                  status: str, reason: str) -> None:
    condition = emotion_condition(_emotion_spec(outputs),
                                  dataclasses.replace(settings, emotion_policy=policy))
    assert (condition.type, condition.status, condition.reason) == \
        ("EmotionPolicy", status, reason)
    if status == "False":
        assert "spec.model.outputs.emotion" in condition.message
        assert "compliance.emotion" in condition.message
        assert "Art. 5(1)(f)" in condition.message
