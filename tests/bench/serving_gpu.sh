#!/usr/bin/env bash
# The serving benchmark on a GPU node, in one command (at most 5 minutes: each part has a limit):
#
#   tests/bench/serving_gpu.sh [stream counts]        # default 250,500,1000,2000,3000
#
# Needs, besides the pod's own packages (numpy, opencv, aiohttp, prometheus-client): cuda-python,
# onnxruntime-gpu (the CUDA execution provider), torch and torchvision (the MobileNetV3-small
# export and the torch.compile peer); matplotlib for the plot (skipped without it). PyAV is not
# needed: the benchmark's streams are synthetic.
#
# Each part is its own process, under its own time limit, and rewrites its JSON after every
# measurement, so a part that fails or overruns keeps what it measured and the others still run:
#   bench-results/serving_gpu_copy_only.json  the pod's ceiling: the whole pipeline with the
#                                             copy-only runner (upload + download, no model),
#                                             against the copies alone; latency near it
#   bench-results/serving_gpu_ort.json        ONNX Runtime CUDA, MobileNetV3-small fp16, batch
#                                             256: raw runner, efficiency, the stream sweep
#                                             (p50/p99), latency at 50%/90% of capacity, and the
#                                             torch.compile peer fed the same crops (+ .png)
set -u
cd "$(dirname "$0")/../.."
export PYTHONPATH="inference_pod:tests${PYTHONPATH:+:$PYTHONPATH}"
python=${PYTHON:-python3}
streams=${1:-250,500,1000,2000,3000}
mkdir -p bench-results
"$python" - <<'PY'
import importlib
for name in ("numpy", "cv2", "aiohttp", "prometheus_client", "cuda.bindings", "onnxruntime",
             "torch", "torchvision", "matplotlib"):
    try:
        importlib.import_module(name)
    except ImportError as exc:
        print(f"missing {name}: {exc}")
import onnxruntime
print("onnxruntime", onnxruntime.__version__, onnxruntime.get_available_providers())
PY
failed=0
timeout 90 "$python" tests/bench/serving_pipeline.py --backend copy-only --model reference \
    --batch 256 --streams "" --seconds 3 --rounds 2 \
    --out bench-results/serving_gpu_copy_only.json || failed=1
timeout 210 "$python" tests/bench/serving_pipeline.py --backend onnxruntime-cuda \
    --model mobilenet-v3-small --precision fp16 --batch 256 --streams "$streams" --seconds 3 \
    --rounds 2 --peer --out bench-results/serving_gpu_ort.json || failed=1
exit $failed
