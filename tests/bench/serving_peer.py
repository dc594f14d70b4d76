"""The peer a user could pick instead of the pod's engine: the same model in PyTorch, compiled.

MobileNetV3-small (torchvision, random weights: speed does not depend on them) in fp16,
channels-last, behind `torch.compile(mode="reduce-overhead")` (CUDA graphs), taking uint8 NHWC
crops and normalising them on the GPU, as the pod's engine does. It is fed the same crops as the
pod's runner: a batch in pinned host memory copied to the GPU each time, the heads copied back.
Also measured: the same with the batch already on the GPU (compute alone).

    PYTHONPATH=inference_pod:tests python tests/bench/serving_peer.py --batch 256

Needs torch with CUDA; prints one JSON line and writes bench-results/serving_peer.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench.gpu_runners import EMOTIONS

ROOT = Path(__file__).resolve().parents[2]
SIZE = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def measure(batch: int, seconds: float, crops: np.ndarray | None = None) -> dict[str, Any]:
    """Crops/s of the compiled peer at `batch`, from pinned host memory and on the GPU."""
    import torch
    import torchvision

    if not torch.cuda.is_available():
        raise RuntimeError("torch has no CUDA device here")
    torch.manual_seed(0)
    device = torch.device("cuda")
    net = torchvision.models.mobilenet_v3_small(weights=None, num_classes=EMOTIONS).eval().half()
    net = net.to(device, memory_format=torch.channels_last)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)

    def forward(x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 3, 1, 2).float().div(255.0).sub(mean).div(std)
        return net(x.half().contiguous(memory_format=torch.channels_last)).float()

    compiled = torch.compile(forward, mode="reduce-overhead")
    if crops is None:
        crops = np.random.default_rng(1).integers(0, 256, (batch, SIZE, SIZE, 3), np.uint8)
    host = torch.empty((batch, SIZE, SIZE, 3), dtype=torch.uint8).pin_memory()
    host.numpy()[:] = crops[:batch]
    on_gpu = torch.empty_like(host, device=device)
    started = time.perf_counter()
    with torch.inference_mode():
        for _ in range(5):  # compile, then record the CUDA graph
            on_gpu.copy_(host, non_blocking=True)
            compiled(on_gpu).to("cpu")
        torch.cuda.synchronize()
        compile_seconds = time.perf_counter() - started

        def rate(copy: bool) -> float:
            done, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                if copy:
                    on_gpu.copy_(host, non_blocking=True)
                heads = compiled(on_gpu)
                if copy:
                    heads = heads.to("cpu", non_blocking=True)
                done += batch
            torch.cuda.synchronize()
            return done / (time.perf_counter() - start)

        pinned = rate(copy=True)
        resident = rate(copy=False)
    return {"peer": "PyTorch torch.compile(mode='reduce-overhead'), fp16 channels-last, "
                    "uint8 NHWC normalised on the GPU",
            "model": f"torchvision {torchvision.__version__} mobilenet_v3_small, "
                     f"{EMOTIONS}-class emotion head",
            "torch": torch.__version__, "device": torch.cuda.get_device_name(0),
            "batch": batch, "cropsPerSecond": round(pinned, 1),
            "onDeviceCropsPerSecond": round(resident, 1),
            "compileSeconds": round(compile_seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "serving_peer.json")
    args = parser.parse_args(argv)
    result = measure(args.batch, args.seconds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
