"""What an exported signature takes and returns: tensor names, dtypes (types.proto numbering) and shapes.

Shared by the C API loader and the TF Serving client; imports numpy only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
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
    """A signature's named inputs and outputs, and the defaults of the inputs a request may leave out.

    Args:
        inputs: input name → `TensorInfo`.
        outputs: output name → `TensorInfo`.
        method: the method name, e.g. "tensorflow/serving/predict".
        defaults: input name → its default (`SignatureDef.defaults`), e.g. {"steps": array(50, int32)}.
    """

    inputs: dict[str, TensorInfo] = field(default_factory=dict)
    outputs: dict[str, TensorInfo] = field(default_factory=dict)
    method: str = ""
    defaults: dict[str, np.ndarray] = field(default_factory=dict)


def with_defaults(signature: Signature, inputs: Mapping[str, object]) -> dict[str, object]:
    """A request's inputs with every input it leaves out that has a default filled in, as TF Serving does.

    Inputs without a default that are left out stay missing, and unknown names stay: the caller says which.

    Args:
        signature: the signature the request is for.
        inputs: input name → value, as given.

    Returns:
        The inputs and the defaults of the missing ones, e.g. {"num_samples": 4, "seed": array(0), "steps": array(50)}.
    """
    return {**{name: value for name, value in signature.defaults.items()
               if name in signature.inputs and name not in inputs}, **inputs}


def describe_inputs(signature: Signature) -> str:
    """The signature's inputs for a message, each with its default, e.g. "num_samples, seed (default 0)".

    Args:
        signature: the signature.

    Returns:
        The input names, sorted, each defaulted one followed by its default.
    """
    return ", ".join(name + (f" (default {np.asarray(signature.defaults[name]).tolist()!r})"
                             if name in signature.defaults else "") for name in sorted(signature.inputs))


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

