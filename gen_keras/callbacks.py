"""Keras callbacks that watch a generative model through its samples, epoch by epoch.

Both take `generate_fn`, which maps a batch of generator inputs to images (e.g.
`lambda z: generator(z, training=False)`, or `lambda zl: generator(list(zl))` for (z, label) pairs), and
fixed `latents`: an array, or a tuple of arrays, whose first axis indexes samples. The callbacks feed
`latents` to `generate_fn` in batches, so the same inputs are judged every epoch.

Keys written into the epoch's `logs` reach `CSVLogger`, `TensorBoard` and `History` only if this callback
comes before them in the list handed to `fit` (Keras calls the callbacks in list order with one dict).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from gen_keras import metrics, plots
from gen_keras.classifier import dataset_features, extract_features, predict_classes, to_unit_range

Latents = Any  # an array, or a tuple/list of arrays, first axis = samples


def num_latents(latents: Latents) -> int:
    """How many samples `latents` describes.

    Args:
        latents: an array (N, …) or a tuple/list of arrays whose first axes are N, e.g. (z, labels).

    Returns:
        N.
    """
    return len(latents[0]) if isinstance(latents, (tuple, list)) else len(latents)


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


class SampleQuality(keras.callbacks.Callback):
    """Labels generated samples with the feature classifier and logs how diverse they are, optionally the FID.

    Every `every` epochs the first `num_samples` latents are generated and classified, and the logs get
    `sample_entropy` (entropy in nats of the class histogram: log 10 ≈ 2.30 when uniform, falling under
    mode collapse) and `max_class_share`. With `fid_every=N` (every N-th epoch) and/or `fid_at_end` (the
    last epoch), the logs also get `fid`: all of `latents` against `reference_features` (default: the
    classifier's features of the whole test split of `dataset`, computed once). On epochs when a key is not
    measured it is logged as NaN, so CSVLogger, which fixes its columns at the first epoch, keeps them.
    FID over 10,000 samples costs seconds, not milliseconds: measure it sparingly.

    Args:
        generate_fn: latents → images in `value_range`, e.g. `lambda z: generator(z, training=False)`.
        classifier: the feature classifier (`gen_keras.classifier`).
        latents: fixed generator inputs, an array (N, latent_dim) or a tuple of arrays, e.g. (z, labels).
        every: measure the diversity every `every` epochs (≥ 1).
        num_samples: samples classified for the diversity (≥ 2; at most N are used).
        value_range: the generated pixels' range, e.g. (-1, 1) for tanh outputs.
        fid_every: measure the FID every N-th epoch; 0: never (but see `fid_at_end`).
        fid_at_end: measure the FID at the last epoch of `fit`.
        reference_features: the classifier's features of the reference images, (M, 128); None: the test
            split of `dataset`.
        dataset: the data set whose test split is the default reference.
        batch_size: samples per forward pass.

    Raises:
        ValueError: `every` < 1, `fid_every` < 0 or `num_samples` < 2.
    """

    def __init__(self, generate_fn: Callable[[Latents], Any], classifier: keras.Model, latents: Latents, *,
                 every: int = 1, num_samples: int = 1000, value_range: tuple[float, float] = (0.0, 1.0),
                 fid_every: int = 0, fid_at_end: bool = False, reference_features: np.ndarray | None = None,
                 dataset: str = "fashion_mnist", batch_size: int = 500):
        super().__init__()
        if every < 1 or fid_every < 0 or num_samples < 2:
            raise ValueError("every must be ≥ 1, fid_every ≥ 0 (0: never) and num_samples ≥ 2")
        self.generate_fn, self.classifier, self.latents = generate_fn, classifier, latents
        self.every, self.num_samples, self.value_range = every, num_samples, value_range
        self.fid_every, self.fid_at_end = fid_every, fid_at_end
        self.dataset, self.batch_size = dataset, batch_size
        self._reference_features = reference_features
        self._reference_statistics: tuple[np.ndarray, np.ndarray] | None = None
        self.num_classes = int(classifier.output_shape[-1])
        self.last_histogram: np.ndarray | None = None  # class counts at the last measured epoch
        self.histograms: dict[int, list[int]] = {}  # epoch (1-based) → class counts, every measured epoch
        self.last_fid: float | None = None

    def measure_diversity(self) -> dict[str, float]:
        """Generates and classifies the first `num_samples` samples now; keeps their histogram in `last_histogram`.

        Returns:
            `{"sample_entropy": nats, "max_class_share": share in [0, 1]}`.
        """
        images = sample_in_batches(self.generate_fn, self.latents, self.num_samples, self.batch_size)
        classes = predict_classes(self.classifier, images, value_range=self.value_range, batch_size=self.batch_size)
        self.last_histogram = metrics.class_histogram(classes, self.num_classes)
        return {"sample_entropy": metrics.class_entropy(self.last_histogram),
                "max_class_share": metrics.max_class_share(self.last_histogram)}

    def measure_fid(self) -> float:
        """The FID of the samples of all `latents` against the reference features, now (kept in `last_fid`).

        Returns:
            The Fréchet distance between Gaussians fitted to the two sets of 128 features.
        """
        if self._reference_statistics is None:
            reference = self._reference_features
            if reference is None:
                reference = dataset_features(self.classifier, self.dataset, "test")
            self._reference_statistics = metrics.feature_statistics(reference)
        images = sample_in_batches(self.generate_fn, self.latents, batch_size=self.batch_size)
        features = extract_features(self.classifier, images, value_range=self.value_range,
                                    batch_size=self.batch_size)
        self.last_fid = metrics.frechet_distance_from_statistics(
            *metrics.feature_statistics(features), *self._reference_statistics)
        return self.last_fid

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        if (epoch + 1) % self.every == 0:
            logs.update(self.measure_diversity())
            self.histograms[epoch + 1] = [int(c) for c in self.last_histogram]
        else:
            logs.update(sample_entropy=float("nan"), max_class_share=float("nan"))
        if self.fid_every or self.fid_at_end:
            last = epoch + 1 == (self.params or {}).get("epochs")
            due = (self.fid_every and (epoch + 1) % self.fid_every == 0) or (self.fid_at_end and last)
            logs["fid"] = self.measure_fid() if due else float("nan")
        steps = getattr(self.model, "generator_steps", None)
        if steps is not None:  # a GAN's (or a diffusion model's) updates of its sampler so far: the x axis
            logs["generator_steps"] = int(steps)  # that compares runs


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
    l_t = t · m_t − (t − 1) · m_{t−1}.

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
        mean, count = float(logs[self.key]), batch + 1
        self.losses.append(count * mean - self._count * self._mean)
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
        self._step = 0

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self._step % self.every == 0:
            self._record()

    def on_train_end(self, logs=None):
        if not self.steps or self.steps[-1] != self._step:
            self._record()

    def _record(self):
        self.steps.append(self._step)
        self.values.append(float(self.evaluate()))
