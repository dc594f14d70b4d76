"""The fake GPU behind fake_cudart and fake_tensorrt: host memory posing as device memory, and
streams that run only when waited on.

Streams are queues; their work runs when something waits for it (an event or stream
synchronisation, or another stream's queued wait on an event), so work that our code does not
order with events runs in the wrong order and reads stale bytes. Device memory starts as
garbage, as on a GPU.
"""

from __future__ import annotations

import ctypes
import sys
import types
from collections import deque
from collections.abc import Callable
from typing import Any

GARBAGE = 0xAB


class Stream:
    def __init__(self) -> None:
        self.queued: deque[Callable[[], object]] = deque()
        self.done = 0  # operations executed so far
        self.total = 0  # operations ever queued

    def run_until(self, position: int) -> None:
        while self.done < position:
            operation = self.queued.popleft()
            self.done += 1
            operation()


class FakeDevice:
    """All state of the fake GPU; `device.reset()` gives each test a fresh one."""

    def __init__(self) -> None:
        self.reset()

    def reset(self, devices: int = 1) -> None:
        self.devices = devices
        self.memory: dict[int, Any] = {}  # start address -> ctypes buffer
        self.device_addresses: set[int] = set()
        self.streams: dict[int, Stream] = {}
        self.events: dict[int, tuple[int, int] | None] = {}  # event -> (stream, position)
        self.failing: set[str] = set()
        self.handles = 1000

    def handle(self) -> int:
        self.handles += 1
        return self.handles

    def allocate(self, nbytes: int, *, device: bool) -> int:
        buffer = ctypes.create_string_buffer(max(nbytes, 1))
        address = ctypes.addressof(buffer)
        if device:
            ctypes.memset(address, GARBAGE, max(nbytes, 1))
            self.device_addresses.add(address)
        self.memory[address] = buffer
        return address

    def owner(self, address: int) -> int | None:
        """Start of the allocation containing `address`, if it is ours."""
        for start, buffer in self.memory.items():
            if start <= address < start + ctypes.sizeof(buffer):
                return start
        return None

    def check_range(self, address: int, nbytes: int, *, device: bool) -> bool:
        start = self.owner(address)
        if start is None:
            return not device  # pageable host memory is anywhere in the process
        inside = address + nbytes <= start + ctypes.sizeof(self.memory[start])
        return inside and (start in self.device_addresses) == device

    def enqueue(self, stream: int, operation: Callable[[], object]) -> None:
        queue = self.streams[int(stream)]
        queue.queued.append(operation)
        queue.total += 1

    def run_to(self, target: tuple[int, int] | None) -> None:
        """Run a stream up to a recorded point (an event record); None is a never-recorded event."""
        if target is not None:
            stream, position = target
            self.streams[stream].run_until(position)

    def read(self, address: int, nbytes: int) -> bytes:
        return ctypes.string_at(address, nbytes)

    def write(self, address: int, data: bytes) -> None:
        ctypes.memmove(address, data, len(data))


device = FakeDevice()


def install_fake_cuda(monkeypatch: Any) -> FakeDevice:
    """Make `from cuda.bindings import runtime` give fake_cudart, on a fresh fake device."""
    from unit.gpu_runners import fake_cudart

    device.reset()
    bindings = types.ModuleType("cuda.bindings")
    bindings.runtime = fake_cudart  # type: ignore[attr-defined]
    package = types.ModuleType("cuda")
    package.bindings = bindings  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cuda", package)
    monkeypatch.setitem(sys.modules, "cuda.bindings", bindings)
    monkeypatch.setitem(sys.modules, "cuda.bindings.runtime", fake_cudart)
    return device
