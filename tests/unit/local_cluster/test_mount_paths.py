"""Args and env values that name a path in a volume are rewritten to the volume's local folder."""

from __future__ import annotations

import pytest
from localcluster.podspec import MountMap

MOUNTS = MountMap.of({
    "/var/lib/classroom/engines": "/state/volumes/default/engines",
    "/var/lib/classroom/engines/timing-cache": "/state/pods/u/volumes/cache",
    "/etc/classroom/assignment/": "/state/pods/u/volumes/assignment",
    "/dev/termination-log": "/state/pods/u/containers/build/termination-log",
})


@pytest.mark.parametrize(("value", "local"), [
    ("/var/lib/classroom/engines", "/state/volumes/default/engines"),
    ("/var/lib/classroom/engines/0123/engine.onnx",
     "/state/volumes/default/engines/0123/engine.onnx"),
    ("/var/lib/classroom/engines/timing-cache/a100.cache",
     "/state/pods/u/volumes/cache/a100.cache"),
    ("/etc/classroom/assignment/assignment.json",
     "/state/pods/u/volumes/assignment/assignment.json"),
    ("/dev/termination-log", "/state/pods/u/containers/build/termination-log"),
    ("--store=/var/lib/classroom/engines", "--store=/state/volumes/default/engines"),
    ("-o=/etc/classroom/assignment", "-o=/state/pods/u/volumes/assignment"),
])
def test_paths_in_volumes_are_rewritten(value: str, local: str) -> None:
    assert MOUNTS.rewrite(value) == local


@pytest.mark.parametrize("value", [
    "/var/lib/classroom/engines-old/x",  # a sibling, not inside the mount
    "var/lib/classroom/engines",
    "--store",
    "http://host/var/lib/classroom/engines",
    "prefix/dev/termination-log",
    "--store=relative/path",
])
def test_other_values_are_left_alone(value: str) -> None:
    assert MOUNTS.rewrite(value) == value


def test_local_is_none_outside_every_mount() -> None:
    assert MOUNTS.local("/srv/site") is None
