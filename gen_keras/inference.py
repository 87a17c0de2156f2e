"""Running a trained model over arrays: batched inference, and batch-norm statistics fixed after training."""

from __future__ import annotations

import keras
import numpy as np

from gen_keras.data import float_images

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
