"""The engine store: `<store>/<fingerprint>/` appears whole or not at all (docs/contracts.md).

Everything is written under `<store>/.tmp/<random>/` and renamed into place in one step, which is
atomic on one filesystem. A failed build removes its staging folder; a full or read-only store is
a StoreFailed with nothing left behind. An existing, intact engine is reused, so a retried Job is
cheap and never replaces an engine a pod may be reading.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from classroom_inference.builder.errors import StoreFailed
from classroom_inference.builder.fetch import sha256_file

FINGERPRINT = re.compile(r"^[0-9a-f]{16}$")
STAGING = ".tmp"
TIMING_CACHE = "timing-cache"


def check_fingerprint(fingerprint: str) -> str:
    if not FINGERPRINT.match(fingerprint):
        raise ValueError(f"--fingerprint must be 16 lowercase hex characters, got {fingerprint!r}")
    return fingerprint


def _store_error(action: str, path: Path, exc: OSError) -> StoreFailed:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = "the engine store is full: free space or grow the volume"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        hint = "the engine store is not writable by the builder: check the volume's permissions"
    else:
        hint = "check the engine store volume"
    return StoreFailed(f"cannot {action} {path}: {exc.strerror or exc}; {hint}")


class Staging:
    """A build's private folder in the store; files land here before the rename."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def copy_in(self, source: Path, name: str) -> Path:
        target = self.path / name
        try:
            shutil.copyfile(source, target)
        except OSError as exc:
            raise _store_error("write", target, exc) from None
        return target

    def write_json(self, name: str, doc: dict[str, Any]) -> Path:
        target = self.path / name
        data = (json.dumps(doc, indent=2, sort_keys=False) + "\n").encode()
        try:
            with target.open("wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            raise _store_error("write", target, exc) from None
        return target


class EngineStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def engine_dir(self, fingerprint: str) -> Path:
        return self.root / check_fingerprint(fingerprint)

    def timing_cache(self, gpu_class: str) -> Path:
        return self.root / TIMING_CACHE / f"{gpu_class}.cache"

    def intact(self, fingerprint: str) -> dict[str, Any] | None:
        """meta.json of a complete engine for `fingerprint`, or None.

        Complete: meta.json names this fingerprint, the engine file matches its sha256 and size,
        and validation.json says it passed. Anything less is treated as absent and rebuilt.
        """
        folder = self.engine_dir(fingerprint)
        try:
            meta = json.loads((folder / "meta.json").read_text())
            validation = json.loads((folder / "validation.json").read_text())
            engine = folder / str(meta["engineFile"])
            if (meta.get("fingerprint") != fingerprint or not validation.get("passed")
                    or engine.stat().st_size != meta.get("sizeBytes")
                    or sha256_file(engine) != meta.get("engineSha256")):
                return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        return dict(meta)

    def check_writable(self) -> None:
        """Fail before any expensive step when the store cannot take a build."""
        probe = self.root / STAGING / f"probe-{secrets.token_hex(4)}"
        try:
            probe.parent.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise _store_error("write to", self.root, exc) from None

    @contextmanager
    def stage(self) -> Iterator[Staging]:
        """A fresh staging folder, removed on the way out unless it was committed."""
        path = self.root / STAGING / secrets.token_hex(8)
        try:
            path.mkdir(parents=True)
        except OSError as exc:
            raise _store_error("create", path, exc) from None
        try:
            yield Staging(path)
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def commit(self, staging: Staging, fingerprint: str) -> Path:
        """Rename the staging folder into place. If another builder got there first with an
        intact engine, keep theirs (same fingerprint, same inputs) and drop ours."""
        target = self.engine_dir(fingerprint)
        try:
            _fsync_dir(staging.path)
            os.rename(staging.path, target)
            _fsync_dir(self.root)
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY) and self.intact(fingerprint):
                return target
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                # A broken leftover (an older builder, a manual copy): move it aside, then retry.
                self.remove(fingerprint)
                return self.commit(staging, fingerprint)
            raise _store_error("rename into", target, exc) from None
        return target

    def remove(self, fingerprint: str) -> bool:
        """Delete an engine: first renamed out of sight (atomic), then removed. False if absent.

        Pods that already opened the engine keep reading their open files; new readers never
        see a partly deleted folder.
        """
        target = self.engine_dir(fingerprint)
        doomed = self.root / STAGING / f"gc-{fingerprint}-{secrets.token_hex(4)}"
        try:
            doomed.parent.mkdir(parents=True, exist_ok=True)
            os.rename(target, doomed)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise _store_error("remove", target, exc) from None
        shutil.rmtree(doomed, ignore_errors=True)
        return True

    def sweep_staging(self, older_than_s: float) -> int:
        """Remove staging folders a killed builder left behind (older than `older_than_s`)."""
        staging = self.root / STAGING
        cutoff = time.time() - older_than_s
        removed = 0
        try:
            entries = list(staging.iterdir())
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise _store_error("list", staging, exc) from None
        for entry in entries:
            try:
                if entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
                    removed += 1
            except FileNotFoundError:
                continue  # another gc or the build itself got there first
            except OSError as exc:
                raise _store_error("remove", entry, exc) from None
        return removed


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
