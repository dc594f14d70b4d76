"""A container is a real process group run through the shim: exit codes, signals, start errors
and termination messages come back as kubelet reports them."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from localcluster.containers import ContainerProcess, Ending


def run(tmp_path: Path, argv: list[str], *, fallback: bool = False) -> Ending:
    process = ContainerProcess(tmp_path / "c")
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    process.start(argv, env, tmp_path, tmp_path / "c.log")
    while process.running():
        time.sleep(0.02)
    return process.ending(tmp_path / "c.log" if fallback else None)


def test_exit_code_and_termination_message(tmp_path: Path) -> None:
    code = ("import sys; open(sys.argv[1], 'w').write('{\"state\": \"Ready\"}'); "
            "print('done'); sys.exit(0)")
    ending = run(tmp_path, ["python", "-c", code, str(tmp_path / "c" / "termination-log")])
    assert (ending.exit_code, ending.reason) == (0, "Completed")
    assert ending.message == '{"state": "Ready"}'
    assert (tmp_path / "c.log").read_text() == "done\n"


def test_failure_with_message_capped_at_4_kib(tmp_path: Path) -> None:
    code = "import sys; open(sys.argv[1], 'w').write('e' * 5000); sys.exit(2)"
    ending = run(tmp_path, ["python", "-c", code, str(tmp_path / "c" / "termination-log")])
    assert (ending.exit_code, ending.reason) == (2, "Error")
    assert ending.message == "e" * 4096


def test_fallback_to_logs_on_error(tmp_path: Path) -> None:
    code = "import sys; print('\\n'.join(f'line {i}' for i in range(100))); sys.exit(1)"
    ending = run(tmp_path, ["python", "-c", code], fallback=True)
    assert ending.message.splitlines()[-1] == "line 99"
    assert "line 19\n" not in ending.message  # only the last 80 lines


def test_command_not_found_is_a_start_error(tmp_path: Path) -> None:
    ending = run(tmp_path, ["classroom-no-such-command"])
    assert (ending.exit_code, ending.reason) == (128, "StartError")
    assert ending.message == 'exec: "classroom-no-such-command": executable file not found in $PATH'


def test_sigterm_then_sigkill_ends_the_group(tmp_path: Path) -> None:
    process = ContainerProcess(tmp_path / "c")
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    process.start(["python", "-c", code], {"PATH": f"{Path(sys.executable).parent}:/usr/bin"},
                  tmp_path, tmp_path / "c.log")
    time.sleep(0.5)  # let it install its handler
    process.stop(grace=0.5)
    ending = process.ending(None)
    assert ending.exit_code == 128 + signal.SIGKILL
    assert not process.running()


def test_a_new_agent_adopts_a_running_container(tmp_path: Path) -> None:
    first = ContainerProcess(tmp_path / "c")
    first.start(["python", "-c", "import time; time.sleep(60)"],
                {"PATH": f"{Path(sys.executable).parent}:/usr/bin"}, tmp_path, tmp_path / "c.log")
    adopted = ContainerProcess(tmp_path / "c")
    assert adopted.adopt() and adopted.running() and adopted.pid == first.pid
    time.sleep(0.5)  # let the shim set its signal handlers
    adopted.signal(signal.SIGTERM)
    while adopted.running() or first.running():
        time.sleep(0.02)
    assert adopted.ending(None).exit_code == 128 + signal.SIGTERM
    assert first.pid is not None
    try:
        os.killpg(first.pid, 0)
        group_alive = True
    except ProcessLookupError:
        group_alive = False
    assert not group_alive
