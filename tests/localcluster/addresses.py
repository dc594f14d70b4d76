"""Loopback addresses for pods and agent nodes.

Linux routes all of 127.0.0.0/8 to the loopback interface, so every pod can bind its own
127.x.y.z without any setup: ports never clash and the operator reaches pods by IP, as in a
cluster. Agent nodes take 127.41.0.1 onwards; 127.0.0.1 (where the control plane listens) is
never handed out. A claim is a file named after the address holding the pod's uid, created
exclusively, so claims survive an agent restart and never collide.

Several local clusters may run on one machine at once (`make cluster-up` beside a test session), so
each cluster's pods get a second octet of their own, 127.<block>.y.z with the block from 42 up,
held for the cluster by a marker file in the user's cache: two pods of two clusters never share
an address and a port.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

POD_FIRST_OCTET = 42
LAST_OCTET = 254
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


def cluster_block(state: Path, markers: Path) -> int:
    """The second octet of the pod addresses of the cluster rooted at `state`.

    One marker file per octet in `markers` names the state folder holding it. A cluster keeps
    its block across restarts; a block whose cluster is gone (folder removed, or no API server
    running from it) is taken over.
    """
    markers.mkdir(parents=True, exist_ok=True)
    owner_text = str(state.resolve())
    for octet in range(POD_FIRST_OCTET, LAST_OCTET + 1):
        marker = markers / str(octet)
        with contextlib.suppress(FileExistsError):
            with marker.open("x") as handle:
                handle.write(owner_text)
            return octet
        with contextlib.suppress(OSError):
            holder = marker.read_text()
            if holder == owner_text:
                return octet
            if not _cluster_alive(Path(holder)):
                marker.write_text(owner_text)
                return octet
    raise RuntimeError(f"every loopback block in {markers} is held by a running local cluster")


def _cluster_alive(state: Path) -> bool:
    try:
        os.kill(int((state / "kube-apiserver.pid").read_text().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


class PodAddresses:
    """Claims of pod addresses under one folder, shared by every node of the agent, all within
    the cluster's own block."""

    def __init__(self, folder: Path, block: int = POD_FIRST_OCTET) -> None:
        self.folder = folder
        self.block = block
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
            for _ in range(PER_OCTET):
                candidate = address(self._next % PER_OCTET, self.block)
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
