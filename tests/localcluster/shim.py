"""Runs one container's command and records how it ended, as a container runtime's shim does.

The node agent starts this (with the standard library only, so it starts fast) as the leader of a
new process group; the command runs as its child in that group. The shim outlives a restart of the
agent, which then adopts the group by its pid file and still learns the exit code from `exit.json`.

    python shim.py <exit.json> -- <command> [args...]
"""

from __future__ import annotations

import datetime
import json
import signal
import subprocess
import sys
from pathlib import Path

START_ERROR = 128


def _record(path: Path, **ending: object) -> None:
    ending["finishedAt"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(ending))
    temporary.replace(path)


def main(argv: list[str]) -> int:
    exit_file, separator, command = Path(argv[0]), argv[1], argv[2:]
    if separator != "--" or not command:
        print("usage: shim.py <exit.json> -- <command> [args...]", file=sys.stderr)
        return 2
    # The agent signals the whole group; the command decides how to end, the shim waits for it.
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, lambda *_: None)
    try:
        child = subprocess.Popen(command)
    except FileNotFoundError:
        _record(exit_file, exitCode=START_ERROR, reason="StartError",
                message=f'exec: "{command[0]}": executable file not found in $PATH')
        return START_ERROR
    except PermissionError:
        _record(exit_file, exitCode=START_ERROR, reason="StartError",
                message=f'exec: "{command[0]}": permission denied')
        return START_ERROR
    code = child.wait()
    if code < 0:
        _record(exit_file, exitCode=128 - code, signal=-code)
    else:
        _record(exit_file, exitCode=code)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
