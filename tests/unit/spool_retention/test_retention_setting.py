from __future__ import annotations

from pathlib import Path

import pytest
from classroom_inference.cli import main


def _serve(tmp_path: Path, *extra: str) -> list[str]:
    return ["serve", "--engine-dir", str(tmp_path), "--assignment", str(tmp_path / "a.json"),
            "--spool-dir", str(tmp_path / "spool"), *extra]


@pytest.mark.parametrize(("flag", "env", "shown"), [
    (["--spool-retention-seconds", "10"], None, "--spool-retention-seconds 10 is too short"),
    ([], "a day", "--spool-retention-seconds nan is too short"),
])
def test_a_bad_retention_stops_the_pod_naming_the_flag_and_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        flag: list[str], env: str | None, shown: str) -> None:
    monkeypatch.setenv("CLASSROOM_ID_SECRET", "k" * 32)
    if env is not None:
        monkeypatch.setenv("CLASSROOM_SPOOL_RETENTION_SECONDS", env)
    assert main(_serve(tmp_path, *flag)) == 2
    err = capsys.readouterr().err
    assert shown in err and "CLASSROOM_SPOOL_RETENTION_SECONDS" in err
