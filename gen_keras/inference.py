"""Running a trained model over arrays: batched inference, generator inputs in batches, pixel ranges, and
batch-norm statistics fixed after training."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from gen_keras.data import float_images

Latents = Any  # an array, or a tuple/list of arrays, first axis = samples
RANGE_TOLERANCE = 0.05  # fraction of the value range that pixels may overshoot before it is an error


def predict_in_batches(model: keras.Model, images: np.ndarray, batch_size: int = 500, *,
                       training: bool = False) -> np.ndarray:
    """Runs `model` over an array in batches and returns its outputs as one float32 array.

    Args:
        model: a Keras model (or any callable taking a batch and `training`).
        images: the inputs, batch axis first, e.g. (N, 28, 28, 1); uint8 images are scaled to float32 in
            [0, 1] batch by batch, float inputs are passed as they are.
        batch_size: inputs per call.
        training: False (inference mode, as a served model runs) or True (batch norm uses each batch's
            statistics).

    Returns:
        `np.ndarray` of float32, the outputs concatenated along the batch axis, e.g. (N, 10) for logits.
    """
    outputs = [np.asarray(model(_scaled(images[i:i + batch_size]), training=training), np.float32)
               for i in range(0, len(images), batch_size)]
    return np.concatenate(outputs)


def num_latents(latents: Latents) -> int:
    """How many samples `latents` describes.

    Args:
        latents: an array (N, …) or a tuple/list of arrays whose first axes are N, e.g. (z, labels).

    Returns:
        N.
    """
    return len(latents[0]) if isinstance(latents, (tuple, list)) else len(latents)


def head(latents: Latents, count: int) -> Latents:
    """The first `count` samples of `latents` (an array, or a tuple/list of arrays cut alike).

    Args:
        latents: an array (N, …) or a tuple/list of arrays with N rows.
        count: how many to keep.

    Returns:
        The same kind of object with min(count, N) rows.
    """
    if isinstance(latents, (tuple, list)):
        return type(latents)(part[:count] for part in latents)
    return latents[:count]


def sample_in_batches(generate_fn: Callable[[Latents], Any], latents: Latents, count: int | None = None,
                      batch_size: int = 500) -> np.ndarray:
    """Runs `generate_fn` over the first `count` samples of `latents`, in batches, and returns numpy images.

    Args:
        generate_fn: maps a batch of latents (an array, or a tuple/list of arrays of the same type as
            `latents`) to images, e.g. `lambda z: generator(z, training=False)`.
        latents: an array (N, latent_dim), or a tuple/list of arrays with N rows, e.g. (z, labels).
        count: how many samples (at most N); None for all N.
        batch_size: samples per call.

    Returns:
        `np.ndarray`, the outputs concatenated along the first axis, e.g. (count, 28, 28, 1).
    """
    count = num_latents(latents) if count is None else min(count, num_latents(latents))

    def rows(start, stop):
        if isinstance(latents, (tuple, list)):
            return type(latents)(part[start:stop] for part in latents)
        return latents[start:stop]

    return np.concatenate([np.asarray(generate_fn(rows(i, min(i + batch_size, count))))
                           for i in range(0, count, batch_size)])


def to_unit_range(images, value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """Maps images with pixels in `value_range` to float32 in [0, 1].

    Formula: x' = clip((x − low) / (high − low), 0, 1).

    Args:
        images: an array of any shape, e.g. (N, 28, 28, 1), with pixels in `value_range`.
        value_range: (low, high) of the pixels: (0, 1) for data and sigmoid outputs, (-1, 1) for tanh
            outputs, (0, 255) for bytes.

    Returns:
        `np.ndarray` of float32 in [0, 1], the same shape.

    Raises:
        ValueError: `value_range` is not (low, high) with low < high, or pixels lie more than 5% of the
            range outside it (e.g. tanh outputs in [-1, 1] passed with the default (0, 1)); smaller
            overshoots are clipped.
    """
    low, high = (float(v) for v in value_range)
    if not high > low:
        raise ValueError(f"value_range must be (low, high) with low < high, got {value_range}")
    x = np.asarray(images, np.float32)
    if x.size:
        slack = RANGE_TOLERANCE * (high - low)
        lowest, highest = float(x.min()), float(x.max())
        if lowest < low - slack or highest > high + slack:
            raise ValueError(
                f"the images' pixels span [{lowest:.3g}, {highest:.3g}], outside value_range ({low:g}, {high:g}). "
                "Pass the range the images are in: value_range=(-1, 1) for tanh outputs, (0, 255) for bytes.")
    return np.clip((x - low) / (high - low), 0.0, 1.0)


def _scaled(batch):
    return float_images(batch) if getattr(batch, "dtype", None) == np.uint8 else batch


def recalibrate_batch_norm(model: keras.Model, images: np.ndarray | list, batch_size: int = 1000) -> int:
    """Sets every BatchNormalization layer's moving mean and variance to their average over `images`.

    The moving averages (momentum 0.99, variance initialised to 1) lag far behind the true statistics
    when a layer's input variance is tiny, which breaks inference mode. Here each batch k = 0, 1, … is
    folded in with momentum k/(k+1), moving ← k/(k+1) · moving + 1/(k+1) · batch statistic, so after the
    pass the statistics are the plain average over all batches (large batches keep the between-batch part
    of the variance negligible). Nested models are searched too; the layers' momenta are restored after.

    Args:
        model: a Keras model holding BatchNormalization layers (runs eagerly, in training mode).
        images: the model's input as it takes it (not rescaled here: uint8 stays uint8), batch axis first,
            e.g. float32 (N, 28, 28, 1) in [0, 1]; or a list of arrays for a model with several inputs,
            e.g. a conditional generator's [z (N, latent_dim), labels (N,)].
        batch_size: inputs per forward pass.

    Returns:
        The number of BatchNormalization layers recalibrated (0 when there are none).
    """
    bn_layers = [l for l in _all_layers(model) if isinstance(l, keras.layers.BatchNormalization)]
    if not bn_layers:
        return 0
    saved = [l.momentum for l in bn_layers]
    try:
        parts = list(images) if isinstance(images, (list, tuple)) else None
        for k, start in enumerate(range(0, len(parts[0] if parts else images), batch_size)):
            for layer in bn_layers:
                layer.momentum = k / (k + 1)
            batch = [p[start:start + batch_size] for p in parts] if parts else images[start:start + batch_size]
            model(batch, training=True)  # eager: reads the momentum each call
    finally:
        for layer, m in zip(bn_layers, saved):
            layer.momentum = m
    return len(bn_layers)


def _all_layers(model: keras.Layer):
    for layer in getattr(model, "layers", []):
        yield layer
        yield from _all_layers(layer)
