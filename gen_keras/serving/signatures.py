"""What an exported signature takes and returns: tensor names, dtypes (types.proto numbering) and shapes.

Shared by the C API loader and the TF Serving client; imports numpy only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

# tensorflow/core/framework/types.proto
DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 9: np.int64,
           10: np.bool_, 17: np.uint16}
DTYPE_CODES = {np.dtype(v): k for k, v in DTYPES.items()}
DTYPE_NAMES = {"DT_FLOAT": 1, "DT_DOUBLE": 2, "DT_INT32": 3, "DT_UINT8": 4, "DT_INT16": 5, "DT_INT8": 6,
               "DT_INT64": 9, "DT_BOOL": 10, "DT_UINT16": 17}
# Where TF Serving looks for a version's warm-up requests (TFRecords of tensorflow.serving.PredictionLog).
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")


@dataclass
class TensorInfo:
    """One input or output of a signature.

    Args:
        name: the graph tensor, e.g. "serving_default_code:0".
        dtype: the types.proto code, e.g. 1 for float32 (`DTYPES`).
        shape: the dimensions, -1 for an unknown size, e.g. [-1, 49]; None for an unknown rank.
    """

    name: str  # graph tensor, e.g. "serving_default_code:0"
    dtype: int
    shape: list[int] | None  # -1 for an unknown dimension; None for unknown rank


def fits(info: TensorInfo, shape: tuple[int, ...]) -> bool:
    """Whether an array of `shape` fits the tensor's shape (-1 matches any size).

    Args:
        info: the signature's tensor.
        shape: the array's shape.

    Returns:
        True when the ranks agree and every known size matches, or the rank is unknown.
    """
    return info.shape is None or (len(info.shape) == len(shape) and all(
        d in (-1, s) for d, s in zip(info.shape, shape)))


@dataclass
class Signature:
    """A signature's named inputs and outputs.

    Args:
        inputs: input name → `TensorInfo`.
        outputs: output name → `TensorInfo`.
        method: the method name, e.g. "tensorflow/serving/predict".
    """

    inputs: dict[str, TensorInfo] = field(default_factory=dict)
    outputs: dict[str, TensorInfo] = field(default_factory=dict)
    method: str = ""


@dataclass
class PredictRequest:
    """A decoded tensorflow.serving.PredictRequest.

    Args:
        model_name: the served model's name (`<recipe>_<part>`).
        signature_name: the signature to run ("" for the default).
        inputs: input name → array.
    """

    model_name: str
    signature_name: str
    inputs: dict[str, np.ndarray]

