"""The reference model with fused preprocessing, small, and crops to feed it."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from classroom_inference.builder.preprocess import fuse_preprocessing
from classroom_inference.builder.reference_model import reference_model, reference_spec
from classroom_inference.builder.samples import synthetic_faces
from classroom_inference.builder.spec import parse_spec

SIZE = 32


@pytest.fixture(scope="module")
def fused() -> onnx.ModelProto:
    spec = parse_spec({"model": reference_spec("file:///m.onnx", "0" * 64, SIZE)}).model
    return fuse_preprocessing(reference_model(SIZE), spec)


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    return synthetic_faces(64, (SIZE, SIZE, 3), seed=21)
