"""ConfigMap, Secret and projected volumes are written as kubelet's atomic writer does: readers
see the old or the new content whole, and keys that went away disappear."""

from __future__ import annotations

import os
from pathlib import Path

from localcluster.volumes import write_atomic


def test_layout_is_data_link_and_key_links(tmp_path: Path) -> None:
    target = tmp_path / "assignment"
    assert write_atomic(target, {"assignment.json": (b"{}", 0o644)})
    assert (target / "..data").is_symlink()
    assert os.readlink(target / "assignment.json") == "..data/assignment.json"
    assert (target / "assignment.json").read_bytes() == b"{}"


def test_unchanged_content_is_not_rewritten(tmp_path: Path) -> None:
    target = tmp_path / "v"
    write_atomic(target, {"a": (b"1", 0o644)})
    version = os.readlink(target / "..data")
    assert not write_atomic(target, {"a": (b"1", 0o644)})
    assert os.readlink(target / "..data") == version


def test_update_swaps_the_version_and_drops_stale_keys(tmp_path: Path) -> None:
    target = tmp_path / "v"
    write_atomic(target, {"a": (b"1", 0o644), "b": (b"2", 0o644)})
    old_version = target / os.readlink(target / "..data")
    assert write_atomic(target, {"a": (b"10", 0o600), "nested/c": (b"3", 0o644)})
    assert (target / "a").read_bytes() == b"10"
    assert (target / "a").stat().st_mode & 0o777 == 0o600
    assert (target / "nested" / "c").read_bytes() == b"3"
    assert not (target / "b").exists() and not (target / "b").is_symlink()
    assert not old_version.exists()
    versions = [p for p in target.iterdir() if p.name.startswith("..") and p.is_dir()
                and not p.is_symlink()]
    assert len(versions) == 1


def test_an_open_reader_keeps_the_old_content(tmp_path: Path) -> None:
    target = tmp_path / "v"
    write_atomic(target, {"a": (b"old", 0o644)})
    with (target / "a").open("rb") as reader:
        write_atomic(target, {"a": (b"new", 0o644)})
        assert reader.read() == b"old"
    assert (target / "a").read_bytes() == b"new"
