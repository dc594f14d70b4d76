"""One container as a local process group: start it through the shim, adopt it after an agent
restart, signal it, and read how it ended (exit code, termination message).

Files in the container's folder:
    shim.json         pid and kernel start time of the shim (the group leader), start time
    exit.json         written by the shim when the command ends
    termination-log   where terminationMessagePath points; read after exit
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from localcluster.processes import log_tail

SHIM = Path(__file__).with_name("shim.py")
# kubelet's limits: a termination message is capped at 4 KiB; FallbackToLogsOnError takes the
# last 80 lines of the log, capped at 2 KiB.
MAX_MESSAGE_BYTES = 4096
FALLBACK_LINES = 80
FALLBACK_BYTES = 2048
BACKOFF_INITIAL, BACKOFF_MAX, BACKOFF_RESET = 10.0, 300.0, 600.0


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Ending:
    exit_code: int
    reason: str
    message: str
    started_at: str
    finished_at: str
    signal: int | None = None

    @property
    def ran_seconds(self) -> float:
        try:
            start = datetime.datetime.fromisoformat(self.started_at.replace("Z", "+00:00"))
            end = datetime.datetime.fromisoformat(self.finished_at.replace("Z", "+00:00"))
        except ValueError:
            return 0.0
        return (end - start).total_seconds()

    def terminated(self, container_id: str) -> dict[str, object]:
        """The API's `state.terminated` of this run."""
        terminated: dict[str, object] = {
            "exitCode": self.exit_code, "reason": self.reason,
            "startedAt": self.started_at, "finishedAt": self.finished_at}
        if self.message:
            terminated["message"] = self.message
        if self.signal:
            terminated["signal"] = self.signal
        if container_id:
            terminated["containerID"] = container_id
        return terminated


def crash_backoff(previous: float | None, ran_seconds: float) -> float:
    """kubelet's crash-loop back-off: 10 s, doubling to 5 min, back to 10 s after a container
    ran for 10 min."""
    if previous is None or ran_seconds >= BACKOFF_RESET:
        return BACKOFF_INITIAL
    return min(previous * 2, BACKOFF_MAX)


def _start_ticks(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat: tells a live process from a later one with the same pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return fields[19]


class ContainerProcess:
    """The process group of one run of one container."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.shim_file = folder / "shim.json"
        self.exit_file = folder / "exit.json"
        self.termination_log = folder / "termination-log"
        self._popen: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None
        self._ticks: str | None = None
        self.started_at = ""

    def start(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.exit_file.unlink(missing_ok=True)
        self.termination_log.write_bytes(b"")
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            self._popen = subprocess.Popen(
                [sys.executable, "-S", str(SHIM), str(self.exit_file), "--", *argv],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, cwd=cwd, start_new_session=True,
            )
        self.pid = self._popen.pid
        self.started_at = now_rfc3339()
        self._ticks = _start_ticks(self.pid)
        self.shim_file.write_text(
            json.dumps({"pid": self.pid, "ticks": self._ticks, "startedAt": self.started_at})
        )

    def adopt(self) -> bool:
        """Take over a shim left running by an earlier agent; False if there is none alive."""
        try:
            record = json.loads(self.shim_file.read_text())
        except (OSError, ValueError):
            return False
        self.pid, self.started_at = int(record["pid"]), str(record["startedAt"])
        self._ticks = record["ticks"]
        return self.running() or self.exit_file.exists()

    def running(self) -> bool:
        if self.pid is None:
            return False
        if self._popen is not None:
            return self._popen.poll() is None
        return self._ticks is not None and _start_ticks(self.pid) == self._ticks

    def ending(self, fallback_log: Path | None) -> Ending:
        """How the run ended; call once `running()` is False. No exit.json: it was killed."""
        try:
            record = json.loads(self.exit_file.read_text())
        except (OSError, ValueError):
            # The shim itself was killed (a signal before it set its handlers, or SIGKILL).
            returned = self._popen.poll() if self._popen is not None else None
            number = -returned if returned is not None and returned < 0 else signal.SIGKILL
            record = {"exitCode": 128 + number, "signal": number, "finishedAt": now_rfc3339()}
        self._sweep()
        code = int(record["exitCode"])
        reason = record.get("reason") or ("Completed" if code == 0 else "Error")
        message = record.get("message") or self._message(code, fallback_log)
        return Ending(code, reason, message, self.started_at or record["finishedAt"],
                      record["finishedAt"], record.get("signal"))

    def _message(self, code: int, fallback_log: Path | None) -> str:
        try:
            with self.termination_log.open("rb") as handle:
                data = handle.read(MAX_MESSAGE_BYTES)
        except OSError:
            data = b""
        if not data and code != 0 and fallback_log is not None:
            data = log_tail(fallback_log, FALLBACK_LINES).encode()[-FALLBACK_BYTES:]
        return data.decode(errors="replace")

    def signal(self, number: int) -> None:
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, number)

    def stop(self, grace: float) -> None:
        """SIGTERM the group, SIGKILL what is left after `grace` seconds."""
        self.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.signal(signal.SIGKILL)
        while self.running():
            time.sleep(0.02)

    def _sweep(self) -> None:
        """Kill what the command left behind in its group, as a runtime tears down a container."""
        self.signal(signal.SIGKILL)
        if self._popen is not None:
            with contextlib.suppress(OSError):
                self._popen.wait(timeout=1)


def kill_leftovers(pods_dir: Path) -> int:
    """SIGKILL every container group recorded under the agent's pods folder; returns how many."""
    killed = 0
    for shim_file in pods_dir.glob("**/containers/*/shim.json"):
        try:
            record = json.loads(shim_file.read_text())
        except (OSError, ValueError):
            continue
        pid = int(record["pid"])
        if _start_ticks(pid) == record.get("ticks"):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
                killed += 1
    return killed
