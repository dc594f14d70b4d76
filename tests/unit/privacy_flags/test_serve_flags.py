"""The serve command's privacy flags and environment, as the operator passes them."""

from __future__ import annotations

from pathlib import Path

import pytest
from classroom_inference.cli import build_parser
from classroom_inference.serving.cli import settings_from
from classroom_inference.serving.pipeline import PodSettings
from classroom_inference.serving.policy import InferencePolicy

ENV = {"CLASSROOM_ID_SECRET": "k" * 32, "POD_NAME": "web-0"}


def _settings(*flags: str, **env: str) -> PodSettings:
    args = build_parser().parse_args(["serve", "--engine-dir", "/engines/e", "--assignment",
                                      "/etc/classroom/assignment/assignment.json", *flags])
    return settings_from(args, {**ENV, **env})


def test_defaults_keep_emotion_sign_nothing_and_hold_events_a_day() -> None:
    settings = _settings()
    assert settings.policy == InferencePolicy(emotion=True)
    assert settings.stream_credentials is None
    assert settings.sink_signing_key is None
    assert settings.spool_retention_seconds == 86400.0


def test_the_operators_arguments_and_environment_are_taken() -> None:
    settings = _settings(
        "--emotion", "disabled",
        "--stream-credentials", "/etc/classroom/credentials/streams.json",
        "--spool-retention-seconds", "3600",
        CLASSROOM_SINK_SIGNING_KEY="a-district-signing-key-0001")
    assert settings.policy == InferencePolicy(emotion=False)
    assert settings.stream_credentials == Path("/etc/classroom/credentials/streams.json")
    assert settings.sink_signing_key == b"a-district-signing-key-0001"
    assert settings.spool_retention_seconds == 3600.0


def test_an_unknown_emotion_setting_is_refused_naming_the_choices(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _settings("--emotion", "off")
    assert "--emotion: invalid choice: 'off' (choose from" in capsys.readouterr().err
