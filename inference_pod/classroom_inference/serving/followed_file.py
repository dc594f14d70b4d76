"""A file mounted from a ConfigMap or Secret, followed by polling instead of restarting the pod.

The kubelet updates such a volume by swapping a symlink (`..data`), so the file is followed by
its (device, inode, mtime, size) through the link; the content's digest then tells a real change
from a touch or a re-link. The assignment and the stream credentials are followed this way.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def _signature(path: Path) -> tuple[int, int, int, int] | None:
    try:
        st = os.stat(path)  # follows the volume's ..data symlink to the current file
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


class FollowedFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._signature: tuple[int, int, int, int] | None = None
        self._digest: str | None = None
        self._pending: str | None = None

    def changed(self) -> bytes | None:
        """The new content when the file changed since it was last accepted, else None.

        Raises OSError when it cannot be read. Call `accept()` once the content is in use,
        `refuse()` when it is not.
        """
        signature = _signature(self.path)
        if signature is not None and signature == self._signature:
            return None
        self._signature = signature
        data = self.path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest == self._digest:
            return None  # touched or re-linked, same content
        self._pending = digest
        return data

    def accept(self) -> None:
        self._digest = self._pending

    def refuse(self) -> None:
        # Forget the content digest so that restoring the previous good file re-applies it.
        self._digest = None
