"""Start, watch and stop the control plane's processes; each in its own process group."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


class ComponentFailed(RuntimeError):
    """A component exited or never became healthy; the message carries its log tail."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class Component:
    name: str
    argv: Sequence[str]
    log: Path
    pidfile: Path
    env: dict[str, str] | None = None
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                list(self.argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                start_new_session=True,
            )
        self.pidfile.write_text(str(self.process.pid))

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def failure(self, why: str) -> ComponentFailed:
        tail = log_tail(self.log)
        return ComponentFailed(f"{self.name} {why}; last lines of {self.log}:\n{tail}")

    def port_clash(self) -> bool:
        return "address already in use" in log_tail(self.log, 60).lower()


def stop_pidfile(pidfile: Path, grace: float = 10.0,
                 first: signal.Signals = signal.SIGTERM) -> None:
    """Signal the process group named by a pid file (`first`), then SIGKILL what is left
    after `grace` seconds."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, first)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _group_alive(pid):
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    pidfile.unlink(missing_ok=True)


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group is still running. Zombies do not count: ours are reaped
    here, and an orphan's zombie waits for init, which may take its time."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pgid, os.WNOHANG)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
