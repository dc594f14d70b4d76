from __future__ import annotations

from pathlib import Path

import pytest
from classroom_inference.cli import main
from localcluster.processes import free_port


def _serve(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "serve",
        "--assignment",
        str(tmp_path / "assignment.json"),
        "--host",
        "127.0.0.1",
        "--port",
        str(free_port()),
        "--spool-dir",
        str(tmp_path / "spool"),
        *extra,
    ]


def test_without_the_pseudonym_key_it_refuses_to_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CLASSROOM_ID_SECRET", raising=False)
    assert main(_serve(tmp_path, "--engine-dir", str(tmp_path))) == 2
    assert "CLASSROOM_ID_SECRET is not set" in capsys.readouterr().err


def test_it_needs_an_engine_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLASSROOM_ID_SECRET", "k" * 32)
    assert main(_serve(tmp_path, "--store", str(tmp_path))) == 2
    assert "give --store and --fingerprint, or --engine-dir" in capsys.readouterr().err


def test_a_missing_engine_exits_2_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CLASSROOM_ID_SECRET", "k" * 32)
    code = main(_serve(tmp_path, "--store", str(tmp_path), "--fingerprint", "0123456789abcdef"))
    assert code == 2
    assert f"no meta.json at {tmp_path / '0123456789abcdef' / 'meta.json'}" in caplog.text


def test_bad_numbers_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLASSROOM_ID_SECRET", "k" * 32)
    assert main([*_serve(tmp_path, "--engine-dir", str(tmp_path)), "--max-delay-ms", "0"]) == 2
    assert "--max-delay-ms 0.0 must be in (0, 1000]" in capsys.readouterr().err
