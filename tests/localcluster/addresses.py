"""Loopback addresses for pods and agent nodes.

Linux routes all of 127.0.0.0/8 to the loopback interface, so every pod can bind its own
127.x.y.z without any setup: ports never clash and the operator reaches pods by IP, as in a
cluster. Pods take 127.42.0.1 onwards, agent nodes 127.41.0.1 onwards; 127.0.0.1 (where the
control plane listens) is never handed out. A claim is a file named after the address holding
the pod's uid, created exclusively, so claims survive an agent restart and never collide.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

POD_FIRST_OCTET = 42
NODE_FIRST_OCTET = 41
PER_OCTET = 256 * 254  # last octet 1..254


def address(index: int, second_octet: int = POD_FIRST_OCTET) -> str:
    """The index-th address of a range: 127.<second>.0.1, 127.<second>.0.2, ... skipping .0/.255."""
    if index < 0:
        raise ValueError("index must not be negative")
    second = second_octet + index // PER_OCTET
    if second > 254:
        raise ValueError("loopback addresses exhausted")
    rest = index % PER_OCTET
    return f"127.{second}.{rest // 254}.{rest % 254 + 1}"


class PodAddresses:
    """Claims of pod addresses under one folder, shared by every node of the agent."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._next = 0

    def owner(self, ip: str) -> str | None:
        with contextlib.suppress(OSError):
            return (self.folder / ip).read_text()
        return None

    def claim(self, uid: str, wanted: str | None = None) -> str:
        """The pod's address: `wanted` if it is already the pod's (an agent restart), else the
        next free one."""
        with self._lock:
            if wanted and self.owner(wanted) == uid:
                return wanted
            for _ in range(PER_OCTET * 4):
                candidate = address(self._next)
                self._next += 1
                try:
                    descriptor = os.open(self.folder / candidate,
                                         os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                except FileExistsError:
                    continue
                with os.fdopen(descriptor, "w") as handle:
                    handle.write(uid)
                return candidate
            raise RuntimeError(f"no free pod address left in {self.folder}")

    def release(self, uid: str, ip: str) -> None:
        with self._lock:
            if self.owner(ip) == uid:
                (self.folder / ip).unlink(missing_ok=True)

    def release_uid(self, uid: str) -> None:
        """Free whatever a pod that no longer exists still holds (after an agent restart)."""
        with self._lock:
            for claim in self.folder.iterdir():
                with contextlib.suppress(OSError):
                    if claim.read_text() == uid:
                        claim.unlink()
