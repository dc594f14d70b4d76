"""A CPU stand-in for `cuda.bindings.runtime`, for unit tests of the GPU runners' logic.

Its public names are exactly those our code reads off the runtime module (test_cuda_names.py
checks both that and that each exists in the real cuda-python). The device behind it is
fake_device's: streams that run only when waited on, so missing event ordering shows up as wrong
heads. Pinned memory is read when the copy runs, pageable memory when the copy is queued, as
the real driver does.
"""

from __future__ import annotations

import ctypes
from typing import Any

from unit.gpu_runners.fake_device import Stream
from unit.gpu_runners.fake_device import device as _device


class cudaError_t:  # the runtime's own spelling
    cudaSuccess = 0


class cudaMemcpyKind:
    cudaMemcpyHostToDevice = 1
    cudaMemcpyDeviceToHost = 2


cudaStreamNonBlocking = 1
cudaEventDisableTiming = 2

_ERROR_MEMORY_ALLOCATION = 2
_ERROR_NO_DEVICE = 100
_ERROR_INVALID_VALUE = 1
_ERROR_NAMES = {
    _ERROR_MEMORY_ALLOCATION: (b"cudaErrorMemoryAllocation", b"out of memory"),
    _ERROR_NO_DEVICE: (b"cudaErrorNoDevice", b"no CUDA-capable device is detected"),
    _ERROR_INVALID_VALUE: (b"cudaErrorInvalidValue", b"invalid argument"),
}


def _result(call: str, *values: Any) -> tuple[Any, ...]:
    if call in _device.failing:
        return (_ERROR_MEMORY_ALLOCATION, *([None] * len(values)))
    return (cudaError_t.cudaSuccess, *values)


def cudaGetDeviceCount() -> tuple[Any, ...]:
    if _device.devices == 0:
        return (_ERROR_NO_DEVICE, 0)
    return _result("cudaGetDeviceCount", _device.devices)


def cudaGetErrorName(err: int) -> tuple[Any, ...]:
    return (cudaError_t.cudaSuccess, _ERROR_NAMES[err][0])


def cudaGetErrorString(err: int) -> tuple[Any, ...]:
    return (cudaError_t.cudaSuccess, _ERROR_NAMES[err][1])


def cudaMallocHost(nbytes: int) -> tuple[Any, ...]:
    return _result("cudaMallocHost", _device.allocate(nbytes, device=False))


def cudaMalloc(nbytes: int) -> tuple[Any, ...]:
    return _result("cudaMalloc", _device.allocate(nbytes, device=True))


def _free(address: int, *, device: bool) -> tuple[Any, ...]:
    if address not in _device.memory or (address in _device.device_addresses) != device:
        return (_ERROR_INVALID_VALUE,)
    del _device.memory[address]
    _device.device_addresses.discard(address)
    return (cudaError_t.cudaSuccess,)


def cudaFreeHost(address: int) -> tuple[Any, ...]:
    return _free(address, device=False)


def cudaFree(address: int) -> tuple[Any, ...]:
    return _free(address, device=True)


def cudaMemcpyAsync(dst: int, src: int, nbytes: int, kind: int,
                    stream: int) -> tuple[Any, ...]:
    to_device = kind == cudaMemcpyKind.cudaMemcpyHostToDevice
    if not (_device.check_range(dst, nbytes, device=to_device)
            and _device.check_range(src, nbytes, device=not to_device)):
        return (_ERROR_INVALID_VALUE,)
    if to_device and _device.owner(src) is None:
        staged = ctypes.string_at(src, nbytes)  # pageable: staged before the call returns
        _device.enqueue(stream, lambda: ctypes.memmove(dst, staged, nbytes))
    else:
        _device.enqueue(stream, lambda: ctypes.memmove(dst, src, nbytes))
    return _result("cudaMemcpyAsync")


def cudaMemsetAsync(address: int, value: int, nbytes: int,
                    stream: int) -> tuple[Any, ...]:
    if not _device.check_range(address, nbytes, device=True):
        return (_ERROR_INVALID_VALUE,)
    _device.enqueue(stream, lambda: ctypes.memset(address, value, nbytes))
    return _result("cudaMemsetAsync")


def cudaStreamCreateWithFlags(flags: int) -> tuple[Any, ...]:
    handle = _device.handle()
    _device.streams[handle] = Stream()
    return _result("cudaStreamCreateWithFlags", handle)


def cudaStreamSynchronize(stream: int) -> tuple[Any, ...]:
    queue = _device.streams[int(stream)]
    queue.run_until(queue.total)
    return _result("cudaStreamSynchronize")


def cudaStreamDestroy(stream: int) -> tuple[Any, ...]:
    del _device.streams[int(stream)]
    return _result("cudaStreamDestroy")


def cudaStreamWaitEvent(stream: int, event: int, flags: int) -> tuple[Any, ...]:
    target = _device.events[event]  # the record current now, as in CUDA
    _device.enqueue(stream, lambda: _device.run_to(target))
    return _result("cudaStreamWaitEvent")


def cudaEventCreateWithFlags(flags: int) -> tuple[Any, ...]:
    handle = _device.handle()
    _device.events[handle] = None
    return _result("cudaEventCreateWithFlags", handle)


def cudaEventRecord(event: int, stream: int) -> tuple[Any, ...]:
    _device.events[event] = (int(stream), _device.streams[int(stream)].total)
    return _result("cudaEventRecord")


def cudaEventSynchronize(event: int) -> tuple[Any, ...]:
    _device.run_to(_device.events[event])
    return _result("cudaEventSynchronize")


def cudaEventDestroy(event: int) -> tuple[Any, ...]:
    del _device.events[event]
    return _result("cudaEventDestroy")
