"""The score of a set of generated images: FID and KID against as many real test images, the floor at that
count, and the classes among confident predictions."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from gen_keras import data as data_lib
from gen_keras.errors import CannotScore, GenKerasError
from gen_keras.evaluation.classes import (CONFIDENCE, class_entropy, class_histogram, confident_class_shares,
                                          dropped_classes, max_class_share)
from gen_keras.evaluation.classifier import Classifier, load_classifier
from gen_keras.evaluation.distances import (KID_SUBSET_SIZE, feature_statistics, frechet_distance,
                                            frechet_distance_from_statistics, kernel_inception_distance)
from gen_keras.evaluation.predictions import class_probabilities, features, softmax
from gen_keras.inference import to_unit_range


FID_SAMPLES = 10_000  # samples scored against as many test images: the whole Fashion-MNIST test set
QUICK_FID_SAMPLES = 2_000  # a quick look (the recipes' --quick)


def kid_subset_size(num_samples: int) -> int:
    """KID's subset size for N samples: 1,000 (Bińkowski et al.), at most half of N so that the subsets differ
    and their spread means something (subsets of all N would all be the same set, with spread 0).

    Args:
        num_samples: N, the images in each set.

    Returns:
        min(1000, max(2, N // 2)).
    """
    return min(KID_SUBSET_SIZE, max(2, num_samples // 2))


@dataclasses.dataclass
class Reference:
    """The classifier's features of the real images samples are compared with (the test split).

    Args:
        features: (M, 128) features of the first M images of `split`.
        dataset: the data set.
        split: "test" (or "train").
    """

    features: np.ndarray
    dataset: str = "fashion_mnist"
    split: str = "test"
    _statistics: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.features)

    def statistics(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance of the first `count` features, computed once per count."""
        if count not in self._statistics:
            self._statistics[count] = feature_statistics(self.features[:count])
        return self._statistics[count]

    def class_probabilities(self, classifier: Classifier, count: int) -> np.ndarray:
        """The classifier's softmax for the first `count` real images, from their features (its last layer).

        Args:
            classifier: the classifier whose features these are.
            count: how many.

        Returns:
            float64 (count, K).
        """
        kernel, bias = classifier.model.get_layer("logits").get_weights()
        logits = self.features[:count].astype(np.float64) @ kernel + bias
        return softmax(logits)


def reference_features(classifier: Classifier, num_images: int | None = FID_SAMPLES, *, split: str = "test",
                       dataset: str | None = None) -> Reference:
    """The classifier's features of the first `num_images` real images of a split.

    Args:
        classifier: the instrument's classifier.
        num_images: how many (all of the split when None or more than it holds).
        split: "test" (what samples are scored against) or "train".
        dataset: the data set; None for the classifier's.

    Returns:
        A `Reference`.

    Raises:
        DataError: the data set cannot be loaded.
    """
    dataset = dataset or classifier.dataset
    images = data_lib.load_images(dataset, split, num_images, image_size=classifier.image_size,
                                  channels=classifier.channels)
    return Reference(features(classifier, images.as_float()), dataset, split)


@functools.lru_cache(maxsize=8)
def _floor(classifier: Classifier, num_images: int) -> dict:
    train = features(classifier, classifier.load_split("train", num_images).as_float())
    test = features(classifier, classifier.load_split("test", num_images).as_float())
    kid = kernel_inception_distance(train, test, subset_size=kid_subset_size(len(train)))
    return {"fid": frechet_distance(train, test), "kid": kid.mean, "kid_std": kid.std, "num_images": len(train)}


def real_floor(classifier: Classifier, num_images: int = FID_SAMPLES) -> dict:
    """FID and KID of the first `num_images` training images against as many test images: what a perfect
    generator would score with that many samples (computed once per process and size).

    Args:
        classifier: the instrument's classifier (its data set's splits are used).
        num_images: images taken from each split.

    Returns:
        `{"fid", "kid", "kid_std", "num_images"}`.
    """
    return dict(_floor(classifier, int(num_images)))


def score(images: np.ndarray, *, classifier: Classifier | None = None, value_range: tuple[float, float] = (0.0, 1.0),
          reference: Reference | None = None, floor: bool = True, requested_labels: np.ndarray | None = None,
          confidence: float = CONFIDENCE, batch_size: int = 500) -> dict:
    """Scores generated images with the instrument: FID and KID against as many real test images, the
    floor at that count, class shares among confident predictions and the classes dropped.

    Args:
        images: (N, H, W, C) generated images with pixels in `value_range`, N ≥ 2.
        classifier: the instrument's classifier; None: `load_classifier()` (the shipped Fashion-MNIST one).
        value_range: the images' pixel range, e.g. (-1, 1) for tanh outputs.
        reference: the real images' features; None: the first N test images of the classifier's data set.
            A longer reference is cut to its first N, so the two sets are always the same size.
        floor: add the real train-vs-test FID and KID for N images (`real_floor`).
        requested_labels: (N,) the classes a conditional model was asked for; adds `label_accuracy`.
        confidence: the softmax maximum from which a prediction counts towards the class shares.
        batch_size: images per forward pass.

    Returns:
        A dict: `fid`, `kid`, `kid_std` (over 100 subsets of `kid_subset_size(N)`), `num_samples` (N, also the
        real images compared with), `confident_share`, `confidence_threshold`, `class_shares` (K shares
        of the confident samples), `dropped_classes`, `sample_entropy` (nats) and `max_class_share` of
        all N predicted classes, `class_histogram` (K counts), `classifier_sha256`, `classifier`
        (its source); with `floor`, `fid_real_floor` and `kid_real_floor`; with `requested_labels`,
        `label_accuracy`.

    Raises:
        ValueError: pixels outside `value_range`, or fewer than 2 images.
        GenKerasError: more images than the reference (or the test split) holds.
    """
    classifier = classifier or load_classifier()
    n = len(images)
    if n < 2:
        raise ValueError(f"scoring needs at least 2 images, got {n}")
    if reference is None:
        reference = reference_features(classifier, n)
    if len(reference) < n:
        raise GenKerasError(f"{n} samples are more than the {len(reference)} real {reference.split} images they "
                            "are compared with; score fewer (e.g. lower --fid-samples).")
    unit = to_unit_range(images, value_range)
    sample_features = features(classifier, unit, batch_size=batch_size)
    probabilities = class_probabilities(classifier, unit, batch_size=batch_size)
    predicted = np.argmax(probabilities, axis=1)
    histogram = class_histogram(predicted, classifier.num_classes)
    confident = confident_class_shares(probabilities, confidence)
    real = confident_class_shares(reference.class_probabilities(classifier, n), confidence)
    kid = kernel_inception_distance(sample_features, reference.features[:n], subset_size=kid_subset_size(n))
    results = {
        "fid": frechet_distance_from_statistics(*feature_statistics(sample_features), *reference.statistics(n)),
        "kid": kid.mean, "kid_std": kid.std, "num_samples": n,
        "confident_share": confident.confident, "confidence_threshold": confidence,
        "class_shares": [round(float(s), 6) for s in confident.shares],
        "real_class_shares": [round(float(s), 6) for s in real.shares],
        "dropped_classes": dropped_classes(confident.shares, real.shares),
        "sample_entropy": class_entropy(histogram), "max_class_share": max_class_share(histogram),
        "class_histogram": histogram.tolist(),
        "classifier_sha256": classifier.sha256, "classifier": classifier.source,
    }
    if floor:
        real = real_floor(classifier, n)
        results.update(fid_real_floor=real["fid"], kid_real_floor=real["kid"])
    if requested_labels is not None:
        results["label_accuracy"] = float(np.mean(predicted == np.asarray(requested_labels).ravel()))
    return results


def score_sampler(sample_fn: Callable[[int, int], Any], count: int = FID_SAMPLES, *, seed: int = 0,
                  batch_size: int = 500, **kwargs) -> dict:
    """Draws `count` images from a sampler and scores them (`score`): for models whose samples are not a
    function of fixed latents the caller holds (a diffusion model's `sample`, a served `sample` signature).

    Args:
        sample_fn: `(count, seed) → images`, called in batches of at most `batch_size` with seeds `seed`,
            `seed + 1`, …
        count: the images to draw and score.
        seed: the first batch's seed.
        batch_size: images per call.
        **kwargs: passed to `score` (`classifier`, `value_range`, `reference`, `floor`, …).

    Returns:
        `score`'s dict.
    """
    batches = [np.asarray(sample_fn(min(batch_size, count - start), seed + i))
               for i, start in enumerate(range(0, count, batch_size))]
    return score(np.concatenate(batches), **kwargs)


def classifier_for(dataset: str, *, retrain: bool = False, image_size: int | None = None,
                   channels: int | None = None) -> tuple[Classifier | None, str]:
    """The instrument's classifier for a data set at the shape a model sees it, or why there is none.

    `load_classifier`, except that data it cannot score (no labels, one class) give (None, the reason),
    with the reason printed, so a recipe trains, draws and exports all the same.

    Args:
        dataset: the data set's name.
        retrain: use a classifier trained on this machine even where weights ship.
        image_size: the side the model's images have (None: the data's own).
        channels: the channels the model's images have (None: the data's own).

    Returns:
        (the `Classifier`, "") or (None, the reason, one paragraph).

    Raises:
        GenKerasError, DataError: as `load_classifier`.
    """
    try:
        return load_classifier(dataset, retrain=retrain, image_size=image_size, channels=channels), ""
    except CannotScore as e:
        print(f"note: {e}")
        return None, str(e)


def export_record(results: dict, *, seed: int, **facts) -> dict:
    """What an export records of the score its recipe measured, so that `python -m gen_keras.evaluate` can
    draw the same samples and compare: FID, KID, the sample count, the seed of the samples' inputs and the
    classifier's hash.

    Args:
        results: `score`'s dict.
        seed: the seed the samples' inputs were drawn from (z ~ N(0, I) by numpy's `default_rng(seed)`, or the
            first `sample` call's seed).
        **facts: how else the samples were drawn, e.g. `num_classes` (a conditional generator's classes in
            turn), `batch` and `inputs` (a `sample` signature's batch size and scalar knobs).

    Returns:
        A JSON-serialisable dict for the export's `metadata["evaluation"][signature]`.
    """
    return {"fid": float(results["fid"]), "kid": float(results["kid"]), "kid_std": float(results["kid_std"]),
            "num_samples": int(results["num_samples"]), "seed": int(seed),
            "classifier_sha256": results["classifier_sha256"], **facts}


def summary_line(results: dict) -> str:
    """One line for a person: FID, KID, the sample count, the floor, the classes.

    Args:
        results: `score`'s dict.

    Returns:
        E.g. "FID 12.37 (real: 0.11), KID 0.3400 ± 0.0560 on 10000 samples; 91% confident, none of …".
    """
    floor = f" (real: {results['fid_real_floor']:.2f})" if "fid_real_floor" in results else ""
    dropped = results["dropped_classes"]
    return (f"FID {results['fid']:.2f}{floor}, KID {results['kid']:.4f} ± {results['kid_std']:.4f} on "
            f"{results['num_samples']} samples; {results['confident_share']:.0%} classified with confidence ≥ "
            f"{results['confidence_threshold']:g}, largest class {results['max_class_share']:.0%}, dropped classes: "
            f"{', '.join(map(str, dropped)) if dropped else 'none'}")
