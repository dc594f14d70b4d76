"""`classroom-operator run` refuses to start without its settings, naming what is missing."""

from __future__ import annotations

import pytest
from classroom_operator.cli import run


def test_run_without_settings_exits_2_naming_the_variable(
        required_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    for name in required_env:
        monkeypatch.delenv(name, raising=False)
    assert run(["run"]) == 2
    assert "CLASSROOM_OPERATOR_NAMESPACE is not set" in capsys.readouterr().err


def test_bad_backend_stops_the_start(required_env: dict[str, str],
                                     monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in {**required_env, "CLASSROOM_GPU_BACKEND": "tensorflow"}.items():
        monkeypatch.setenv(name, value)
    assert run(["run"]) == 2
    assert "CLASSROOM_GPU_BACKEND='tensorflow'" in capsys.readouterr().err
