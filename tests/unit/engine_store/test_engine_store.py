"""The engine store: a `<fingerprint>/` folder appears whole or not at all, is reused when
intact, and is removed without a reader ever seeing half of it."""

from __future__ import annotations

import errno
import json
import os
import time
from pathlib import Path

import pytest
from classroom_inference.builder import store as store_module
from classroom_inference.builder.errors import StoreFailed
from classroom_inference.builder.fetch import sha256_file
from classroom_inference.builder.store import EngineStore
from unit.engine_build.kit import parser

FP = "00000000000000aa"


def _stage_engine(store: EngineStore, fingerprint: str = FP, payload: bytes = b"engine",
                  passed: bool = True) -> Path:
    with store.stage() as staging:
        engine = staging.path / "engine.onnx"
        engine.write_bytes(payload)
        staging.write_json("meta.json", {"fingerprint": fingerprint, "engineFile": "engine.onnx",
                                         "engineSha256": sha256_file(engine),
                                         "sizeBytes": len(payload)})
        staging.write_json("validation.json", {"passed": passed})
        return store.commit(staging, fingerprint)


def test_commit_renames_the_whole_folder_into_place(tmp_path: Path) -> None:
    store = EngineStore(tmp_path)
    folder = _stage_engine(store)
    assert folder == tmp_path / FP
    assert sorted(p.name for p in folder.iterdir()) == ["engine.onnx", "meta.json",
                                                        "validation.json"]
    assert list((tmp_path / ".tmp").iterdir()) == []
    assert store.intact(FP) is not None


def test_an_aborted_stage_leaves_nothing(tmp_path: Path) -> None:
    store = EngineStore(tmp_path)
    with pytest.raises(RuntimeError), store.stage() as staging:
        (staging.path / "engine.onnx").write_bytes(b"half")
        raise RuntimeError("validation failed")
    assert not (tmp_path / FP).exists() and list((tmp_path / ".tmp").iterdir()) == []


@pytest.mark.parametrize("damage", ["engine bytes", "meta fingerprint", "not validated",
                                    "no validation.json"])
def test_intact_refuses_anything_less_than_complete(tmp_path: Path, damage: str) -> None:
    store = EngineStore(tmp_path)
    folder = _stage_engine(store)
    if damage == "engine bytes":
        (folder / "engine.onnx").write_bytes(b"engind")
    elif damage == "meta fingerprint":
        meta = json.loads((folder / "meta.json").read_text())
        (folder / "meta.json").write_text(json.dumps(dict(meta, fingerprint="ff" * 8)))
    elif damage == "not validated":
        (folder / "validation.json").write_text('{"passed": false}')
    else:
        (folder / "validation.json").unlink()
    assert store.intact(FP) is None


def test_a_concurrent_builder_that_finished_first_wins(tmp_path: Path) -> None:
    store = EngineStore(tmp_path)
    _stage_engine(store, payload=b"first")
    _stage_engine(store, payload=b"second")
    assert (tmp_path / FP / "engine.onnx").read_bytes() == b"first"
    assert list((tmp_path / ".tmp").iterdir()) == []


def test_a_broken_leftover_is_replaced(tmp_path: Path) -> None:
    store = EngineStore(tmp_path)
    (tmp_path / FP).mkdir()
    (tmp_path / FP / "engine.onnx").write_bytes(b"from an old, killed copy")
    _stage_engine(store, payload=b"fresh")
    assert (tmp_path / FP / "engine.onnx").read_bytes() == b"fresh"
    assert store.intact(FP) is not None


def test_remove_is_atomic_and_reports_absence(tmp_path: Path) -> None:
    store = EngineStore(tmp_path)
    _stage_engine(store)
    assert store.remove(FP) is True
    assert not (tmp_path / FP).exists() and list((tmp_path / ".tmp").iterdir()) == []
    assert store.remove(FP) is False


def test_fingerprints_cannot_point_outside_the_store(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="16 lowercase hex"):
        EngineStore(tmp_path).engine_dir("../../etc/passwd")


def test_disk_full_while_writing_meta_is_a_store_failure(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    store = EngineStore(tmp_path)

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(store_module.os, "fsync", full)
    with pytest.raises(StoreFailed, match="the engine store is full"), store.stage() as staging:
        staging.write_json("meta.json", {"fingerprint": FP})
    assert list((tmp_path / ".tmp").iterdir()) == []


def test_gc_command_removes_engines_and_old_staging(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    store = EngineStore(tmp_path)
    _stage_engine(store)
    stale = tmp_path / ".tmp" / "0123abcd"
    stale.mkdir()
    old = time.time() - 7200
    os.utime(stale, (old, old))
    fresh = tmp_path / ".tmp" / "89abcdef"  # a build running now
    fresh.mkdir()
    args = parser().parse_args(["gc", "--store", str(tmp_path), "--fingerprint", FP,
                                "--fingerprint", "00000000000000bb",
                                "--staging-older-than", "3600"])
    assert args.run(args) == 0
    assert json.loads(capsys.readouterr().out) == {
        "removed": [FP], "absent": ["00000000000000bb"], "stagingRemoved": 1}
    assert not (tmp_path / FP).exists() and not stale.exists() and fresh.exists()


def test_gc_refuses_a_path_for_a_fingerprint(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keep").mkdir()
    args = parser().parse_args(["gc", "--store", str(tmp_path), "--fingerprint", "../keep"])
    assert args.run(args) == 2
    assert "16 lowercase hex" in capsys.readouterr().err
    assert (tmp_path / "keep").exists()
