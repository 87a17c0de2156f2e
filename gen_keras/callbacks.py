"""Keras callbacks that watch training: sample grids of fixed generator inputs, per-step losses, a held-out
number every N steps. (The callback that scores samples with the instrument is
`gen_keras.evaluation.SampleQuality`.)

`SampleGrid` takes `generate_fn`, which maps a batch of generator inputs to images (e.g.
`lambda z: generator(z, training=False)`, or `lambda zl: generator(list(zl))` for (z, label) pairs), and
fixed `latents`: an array, or a tuple of arrays, whose first axis indexes samples, so the same inputs are
drawn every epoch.

Keys written into the epoch's `logs` reach `CSVLogger`, `TensorBoard` and `History` only if this callback
comes before them in the list handed to `fit` (Keras calls the callbacks in list order with one dict).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import keras

from gen_keras import plots
from gen_keras.inference import Latents, sample_in_batches, to_unit_range

class SampleGrid(keras.callbacks.Callback):
    """Saves a PNG grid of the samples of fixed `latents` every `every` epochs.

    The written paths are kept in `paths`.

    Args:
        generate_fn: latents → images in `value_range`, (batch, H, W, C).
        path_pattern: formatted with `epoch` counted from 1, e.g. "runs/dcgan/samples/epoch_{epoch:03d}.png".
        latents: fixed generator inputs, an array (N, latent_dim) or a tuple of arrays, e.g. (z, labels).
        columns: images per row (for a per-class grid, order the latents row by row).
        value_range: the generated pixels' range, mapped to [0, 1] for drawing.
        every: save a grid every `every` epochs (≥ 1).
        title: the grid's title; " epoch <n>" is appended.

    Raises:
        ValueError: `every` < 1.
    """

    def __init__(self, generate_fn: Callable[[Latents], Any], path_pattern: str | os.PathLike, latents: Latents,
                 *, columns: int = 10, value_range: tuple[float, float] = (0.0, 1.0), every: int = 1,
                 title: str = ""):
        super().__init__()
        if every < 1:
            raise ValueError("every must be ≥ 1")
        self.generate_fn, self.path_pattern, self.latents = generate_fn, str(path_pattern), latents
        self.columns, self.value_range, self.every, self.title = columns, value_range, every, title
        self.paths: list[str] = []

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        images = to_unit_range(sample_in_batches(self.generate_fn, self.latents), self.value_range)
        title = f"{self.title} epoch {epoch + 1}".strip()
        self.paths.append(plots.image_grid(images, self.path_pattern.format(epoch=epoch + 1), self.columns, title))


class StepLosses(keras.callbacks.Callback):
    """Records the training loss of every step (not the epoch's running mean that Keras logs).

    Keras's batch logs hold the mean over the epoch so far, m_t; the step's own loss is
    l_t = t · m_t − (t − 1) · m_{t−1}. When one call into TensorFlow runs several steps (steps per
    execution), Keras logs only the call's last step: each of the call's steps gets the call's mean loss.

    Attributes:
        losses: one loss per training step, across epochs.
        steps_per_epoch: the steps of the first epoch (0 before training).
    """

    def __init__(self, key: str = "loss"):
        super().__init__()
        self.key = key
        self.losses: list[float] = []
        self.steps_per_epoch = 0
        self._mean, self._count = 0.0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._mean, self._count = 0.0, 0

    def on_train_batch_end(self, batch, logs=None):
        if not logs or self.key not in logs:
            return
        mean, count = float(logs[self.key]), batch + 1  # `batch`: the call's last step in the epoch
        steps = count - self._count
        self.losses.extend([(count * mean - self._count * self._mean) / steps] * steps)
        self._mean, self._count = mean, count

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0 or not self.steps_per_epoch:
            self.steps_per_epoch = self._count


class EvaluateEverySteps(keras.callbacks.Callback):
    """Calls `evaluate()` every `every` training steps (and after the last) and keeps the curve, e.g. a flow's
    held-out bits/dim per step, measured on fixed data rather than the epoch's running mean of the loss.

    Args:
        evaluate: a function of no arguments returning a float.
        every: steps between calls.

    Attributes:
        steps: the global step of each call.
        values: what `evaluate` returned then.
    """

    def __init__(self, evaluate: Callable[[], float], every: int):
        super().__init__()
        self.evaluate, self.every = evaluate, int(every)
        self.steps: list[int] = []
        self.values: list[float] = []
        self._step = self._epoch_start = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = self._step

    def on_train_batch_end(self, batch, logs=None):
        before, self._step = self._step, self._epoch_start + batch + 1  # `batch`: the call's last step
        if self._step // self.every > before // self.every:  # a multiple of `every` was passed in this call
            self._record()

    def on_train_end(self, logs=None):
        if not self.steps or self.steps[-1] != self._step:
            self._record()

    def _record(self):
        self.steps.append(self._step)
        self.values.append(float(self.evaluate()))
