"""Which classes the samples fall in: histograms, entropy, shares among confident predictions, dropped classes."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

CONFIDENCE = 0.9  # a prediction counts towards the class shares when its softmax maximum reaches this
DROPPED_FRACTION = 0.25  # a class is dropped when its confident share is below this fraction of the real share


def class_histogram(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """How many labels fall in each class.

    Args:
        labels: integer labels, any shape (flattened).
        num_classes: K.

    Returns:
        int64 (K,) counts.

    Raises:
        ValueError: a label lies outside [0, K).
    """
    labels = np.asarray(labels, np.int64).ravel()
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got {labels.min()}..{labels.max()}")
    return np.bincount(labels, minlength=num_classes)


def class_entropy(histogram: np.ndarray) -> float:
    """Entropy in nats of the class distribution a histogram (counts or shares) describes.

    Formula: H = −Σ_k p_k log p_k: log K when uniform over K classes (log 10 ≈ 2.303), 0 when every sample
    is one class.

    Args:
        histogram: (K,) counts or shares, not all 0.

    Returns:
        H in nats.
    """
    counts = np.asarray(histogram, np.float64)
    shares = counts[counts > 0] / counts.sum()
    return float(-np.sum(shares * np.log(shares))) + 0.0  # + 0.0 turns -0.0 into 0.0


def max_class_share(histogram: np.ndarray) -> float:
    """The largest class's share of the samples (1 / K when uniform, 1 under total mode collapse).

    Args:
        histogram: (K,) counts or shares, not all 0.

    Returns:
        max_k p_k.
    """
    counts = np.asarray(histogram, np.float64)
    return float(counts.max() / counts.sum())


class ConfidentShares(NamedTuple):
    """The result of `confident_class_shares`.

    Args:
        confident: the share of all samples whose top probability reached the threshold.
        shares: (K,) each class's share of the confident samples (all 0 when none is confident).
        counts: (K,) how many confident samples each class has.
    """

    confident: float
    shares: np.ndarray
    counts: np.ndarray


def confident_class_shares(probabilities: np.ndarray, threshold: float = CONFIDENCE) -> ConfidentShares:
    """Class shares among the samples the classifier is sure of (softmax maximum ≥ `threshold`).

    An unrecognisable sample (noise, a blend of two garments) lands in some class under argmax; here it
    counts for none, so the shares describe what a model draws recognisably.

    Args:
        probabilities: (N, K) softmax rows.
        threshold: the least top probability that counts, in (0, 1].

    Returns:
        `ConfidentShares(confident, shares, counts)`.

    Raises:
        ValueError: `probabilities` is not 2-D, or `threshold` is outside (0, 1].
    """
    p = np.asarray(probabilities, np.float64)
    if p.ndim != 2:
        raise ValueError(f"probabilities must be (samples, classes), got shape {p.shape}")
    if not 0 < threshold <= 1:
        raise ValueError(f"the confidence threshold must lie in (0, 1], got {threshold}")
    sure = p.max(axis=1) >= threshold
    counts = class_histogram(np.argmax(p[sure], axis=1), p.shape[1]) if sure.any() else np.zeros(p.shape[1], np.int64)
    shares = counts / counts.sum() if counts.sum() else np.zeros(p.shape[1])
    return ConfidentShares(float(sure.mean()) if len(p) else 0.0, shares, counts)


def dropped_classes(shares: np.ndarray, real_shares: np.ndarray | None = None,
                    fraction: float = DROPPED_FRACTION) -> list[int]:
    """The classes a model (nearly) never draws: a confident share below `fraction` of the real images' share
    of that class (of the uniform 1 / K when `real_shares` is None).

    The classifier is surer of some classes than of others (on the Fashion-MNIST test images, 2.7% of the
    confident predictions are shirts, not 10%), so the real images' own confident shares are the fair
    yardstick.

    Args:
        shares: (K,) the samples' class shares (`confident_class_shares(...).shares`).
        real_shares: (K,) the same for real images; None: uniform.
        fraction: the share, as a fraction of the yardstick, below which a class counts as dropped.

    Returns:
        The dropped classes' indices, ascending (every class when no sample was confident).
    """
    shares = np.asarray(shares, np.float64)
    yardstick = np.full(len(shares), 1 / len(shares)) if real_shares is None else np.asarray(real_shares, np.float64)
    return [int(k) for k in np.flatnonzero(shares < fraction * yardstick)]
