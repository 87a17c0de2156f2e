"""The instrument during training: a callback that scores samples after each epoch, and a generator's judge
(fixed inputs, the test features, the final score and its metrics.json)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from gen_keras import data as data_lib
from gen_keras import inference
from gen_keras.errors import GenKerasError
from gen_keras.evaluation.classes import (CONFIDENCE, class_entropy, class_histogram, confident_class_shares,
                                          max_class_share)
from gen_keras.evaluation.classifier import Classifier
from gen_keras.evaluation.distances import feature_statistics, frechet_distance_from_statistics
from gen_keras.evaluation.predictions import class_probabilities, features
from gen_keras.evaluation.scoring import Reference, reference_features, score, summary_line
from gen_keras.files import write_atomically
from gen_keras.inference import Latents, sample_in_batches


class SampleQuality(keras.callbacks.Callback):
    """Labels generated samples with the instrument's classifier and logs how diverse they are, optionally the FID.

    Every `every` epochs the first `num_samples` latents are generated and classified, and the logs get
    `sample_entropy` (entropy in nats of the class histogram: log 10 ≈ 2.30 when uniform, falling under
    mode collapse) and `max_class_share` of the argmax classes, and `confident_share` (the share of samples
    the classifier is sure of, softmax maximum ≥ `confidence`) and `confident_max_class_share` (the largest
    class among those, NaN when none is sure). Argmax puts noise in some class too, so a high
    `max_class_share` with a low `confident_share` is a generator that draws nothing recognisable, not
    one that collapsed onto one class. With `fid_every=N` (every N-th epoch) and/or `fid_at_end` (the
    last epoch), the logs also get `fid`: all of `latents` against the reference (default: the test split
    of the classifier's data set, computed once). On epochs when a key is not measured it is logged as NaN,
    so CSVLogger, which fixes its columns at the first epoch, keeps them. FID over 10,000 samples costs
    seconds, not milliseconds: measure it sparingly.

    Args:
        generate_fn: latents → images in `value_range`, e.g. `lambda z: generator(z, training=False)`.
        classifier: the instrument's classifier (`load_classifier`).
        latents: fixed generator inputs, an array (N, latent_dim) or a tuple of arrays, e.g. (z, labels).
        every: measure the diversity every `every` epochs (≥ 1).
        num_samples: samples classified for the diversity (≥ 2; at most N are used).
        value_range: the generated pixels' range, e.g. (-1, 1) for tanh outputs.
        fid_every: measure the FID every N-th epoch; 0: never (but see `fid_at_end`).
        fid_at_end: measure the FID at the last epoch of `fit`.
        reference: the real images' features; None: the test split of the classifier's data set.
        batch_size: samples per forward pass.
        confidence: the softmax maximum from which a prediction counts as confident.

    Raises:
        ValueError: `every` < 1, `fid_every` < 0 or `num_samples` < 2.
    """

    def __init__(self, generate_fn: Callable[[Latents], Any], classifier: Classifier, latents: Latents, *,
                 every: int = 1, num_samples: int = 1000, value_range: tuple[float, float] = (0.0, 1.0),
                 fid_every: int = 0, fid_at_end: bool = False, reference: Reference | None = None,
                 batch_size: int = 500, confidence: float = CONFIDENCE):
        super().__init__()
        if every < 1 or fid_every < 0 or num_samples < 2:
            raise ValueError("every must be ≥ 1, fid_every ≥ 0 (0: never) and num_samples ≥ 2")
        self.generate_fn, self.classifier, self.latents = generate_fn, classifier, latents
        self.every, self.num_samples, self.value_range = every, num_samples, value_range
        self.fid_every, self.fid_at_end = fid_every, fid_at_end
        self.batch_size, self.confidence = batch_size, confidence
        self.reference = reference
        self.last_histogram: np.ndarray | None = None  # class counts at the last measured epoch
        self.histograms: dict[int, list[int]] = {}  # epoch (1-based) → class counts, every measured epoch
        self.last_fid: float | None = None

    def measure_diversity(self) -> dict[str, float]:
        """Generates and classifies the first `num_samples` samples now; keeps their histogram in `last_histogram`.

        Returns:
            `{"sample_entropy": nats, "max_class_share": share in [0, 1], "confident_share": share in [0, 1],
            "confident_max_class_share": share in [0, 1] or NaN}`.
        """
        images = sample_in_batches(self.generate_fn, self.latents, self.num_samples, self.batch_size)
        probabilities = class_probabilities(self.classifier, images, value_range=self.value_range,
                                            batch_size=self.batch_size)
        self.last_histogram = class_histogram(np.argmax(probabilities, axis=1), self.classifier.num_classes)
        sure = confident_class_shares(probabilities, self.confidence)
        return {"sample_entropy": class_entropy(self.last_histogram),
                "max_class_share": max_class_share(self.last_histogram), "confident_share": sure.confident,
                "confident_max_class_share": float(sure.shares.max()) if sure.counts.sum() else float("nan")}

    def measure_fid(self) -> float:
        """The FID of the samples of all `latents` against as many reference images (the first N), now (kept in
        `last_fid`): N against N, as `score` compares, so the number does not depend on the reference's size.

        Returns:
            The Fréchet distance between Gaussians fitted to the two sets of 128 features.
        """
        if self.reference is None:
            self.reference = reference_features(self.classifier, None)
        images = sample_in_batches(self.generate_fn, self.latents, batch_size=self.batch_size)
        sample_features = features(self.classifier, images, value_range=self.value_range, batch_size=self.batch_size)
        count = min(len(sample_features), len(self.reference))
        self.last_fid = frechet_distance_from_statistics(*feature_statistics(sample_features),
                                                         *self.reference.statistics(count))
        return self.last_fid

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        if (epoch + 1) % self.every == 0:
            logs.update(self.measure_diversity())
            self.histograms[epoch + 1] = [int(c) for c in self.last_histogram]
        else:
            logs.update(sample_entropy=float("nan"), max_class_share=float("nan"), confident_share=float("nan"),
                        confident_max_class_share=float("nan"))
        if self.fid_every or self.fid_at_end:
            last = epoch + 1 == (self.params or {}).get("epochs")
            due = (self.fid_every and (epoch + 1) % self.fid_every == 0) or (self.fid_at_end and last)
            logs["fid"] = self.measure_fid() if due else float("nan")
        steps = getattr(self.model, "generator_steps", None)
        if steps is not None:  # a GAN's (or a diffusion model's) updates of its sampler so far: the x axis
            logs["generator_steps"] = int(steps)  # that compares runs


class Judge:
    """A generator's fixed inputs and the test images' features, for the per-epoch callback and the final score.

    The test images' features are computed once here, for as many test images as there are latents.

    Args:
        generate_fn: latents → images in `value_range`, the generator in inference mode.
        latents: the inputs the score samples: z (N, latent_dim), or a tuple (z, labels) for a conditional
            generator (then the score adds `label_accuracy`).
        classifier: the instrument's classifier; None when the data cannot be scored (`classifier_for`):
            then nothing is measured and the report says why (`not_scored`).
        test: the test images (`ImageArrays`) the samples are compared with (the first N).
        value_range: the generated pixels' range.
        fid_every: measure the FID every N epochs during training (0: only at the end).
        epoch_samples: samples classified after each epoch (the per-epoch FID scores all latents).
        not_scored: why there is no classifier, for the report.

    Raises:
        GenKerasError: there are more latents than test images.
    """

    def __init__(self, generate_fn: Callable[[Latents], Any], latents: Latents, *, classifier: Classifier | None,
                 test: data_lib.ImageArrays, value_range: tuple[float, float] = (0.0, 1.0), fid_every: int = 1,
                 epoch_samples: int = 1000, not_scored: str = ""):
        self.generate_fn, self.latents, self.classifier = generate_fn, latents, classifier
        self.value_range, self.fid_every, self.epoch_samples = value_range, fid_every, epoch_samples
        self.not_scored = not_scored or "no classifier was given"
        self.quality: SampleQuality | None = None  # the per-epoch callback, once `callback` made it
        self.reference: Reference | None = None
        if classifier is None:
            return
        n = inference.num_latents(latents)
        if len(test) < n:
            raise GenKerasError(f"{n} samples to score are more than the {len(test)} test images they are compared "
                                "with; score fewer (a recipe's --fid-samples)")
        self.reference = Reference(features(classifier, test.as_float()[:n]), classifier.dataset, "test")

    def callback(self) -> SampleQuality | None:
        """The per-epoch `SampleQuality` (class entropy, largest class share, the FID every `fid_every` epochs
        on all latents), to pass to `training.fit` before the loggers.

        Returns:
            The callback (also kept in `quality`); None without a classifier.
        """
        if self.classifier is None:
            return None
        self.quality = SampleQuality(self.generate_fn, self.classifier, self.latents, fid_every=self.fid_every,
                                     reference=self.reference, value_range=self.value_range,
                                     num_samples=min(self.epoch_samples, inference.num_latents(self.latents)))
        return self.quality

    def evaluate(self, images: np.ndarray | None = None) -> dict:
        """The final score (`score`) of the generator on all `latents`.

        Args:
            images: the generator's images of all `latents`, when the caller has made them already; None:
                generated here.

        Returns:
            `score`'s dict; without a classifier `{"scored": False, "not_scored": why}`.
        """
        if self.classifier is None:
            return {"scored": False, "not_scored": self.not_scored}
        if images is None:
            images = sample_in_batches(self.generate_fn, self.latents)
        labels = self.latents[1] if isinstance(self.latents, tuple) else None
        return score(images, classifier=self.classifier, value_range=self.value_range, reference=self.reference,
                     requested_labels=labels)

    def report(self, out: str | os.PathLike, history: dict, **facts) -> dict:
        """Writes `facts`, the last epoch's logs, `evaluate()` and the per-epoch class counts to
        `out/metrics.json` and prints a summary line.

        Args:
            out: the run's output folder.
            history: the per-epoch logs (`training.fit`'s return value).
            **facts: extra entries for metrics.json, e.g. `train_seconds`, `train_images`.

        Returns:
            The dict written to metrics.json.
        """
        epochs = len(next(iter(history.values()), []))
        results = {**facts, "epochs": epochs, **{f"last_epoch_{key}": values[-1] for key, values in history.items()},
                   **self.evaluate()}
        if self.quality is not None:  # the classes of the per-epoch samples after each epoch
            results["class_histogram_per_epoch"] = {str(e): h for e, h in self.quality.histograms.items()}
        write_atomically(Path(out) / "metrics.json", json.dumps(results, indent=2))
        line = summary_line(results) if self.classifier is not None else "samples not scored (see above)"
        print(line + (f"; {facts['train_seconds']:.0f} s of training" if "train_seconds" in facts else ""))
        return results
