"""The distances between two sets of classifier features: FID and KID."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from gen_keras import divergences

KID_SUBSET_SIZE = 1000
KID_SUBSETS = 100


def feature_statistics(feature_set: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a feature set, one row a sample.

    Args:
        feature_set: (N, d), N ≥ 2.

    Returns:
        (mean (d,), covariance (d, d)), float64; the covariance unbiased (divided by N − 1).

    Raises:
        ValueError: `feature_set` is not 2-D or has fewer than 2 rows.
    """
    x = np.asarray(feature_set, np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"features must be (samples ≥ 2, dims), got shape {x.shape}")
    return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def _symmetric_psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The square root of a symmetric positive semi-definite matrix; round-off negative eigenvalues become 0."""
    eigvals, eigvecs = np.linalg.eigh((matrix + matrix.T) / 2)
    return (eigvecs * np.sqrt(np.clip(eigvals, 0.0, None))) @ eigvecs.T


def frechet_distance_from_statistics(mean_a: np.ndarray, cov_a: np.ndarray,
                                     mean_b: np.ndarray, cov_b: np.ndarray) -> float:
    """Fréchet distance between N(μa, Σa) and N(μb, Σb): ‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa Σb)^½).

    Σa Σb is not symmetric, but it is similar to √Σa Σb √Σa, which is symmetric PSD and has the same
    eigenvalues, so Tr((Σa Σb)^½) = Σᵢ √λᵢ(√Σa Σb √Σa), computed with two symmetric eigen-decompositions.

    Args:
        mean_a: μa, (d,).
        cov_a: Σa, (d, d).
        mean_b: μb, (d,).
        cov_b: Σb, (d, d).

    Returns:
        The distance, ≥ 0.

    Raises:
        ValueError: the two Gaussians have different dimensions.
    """
    mean_a, mean_b = np.asarray(mean_a, np.float64), np.asarray(mean_b, np.float64)
    cov_a, cov_b = np.asarray(cov_a, np.float64), np.asarray(cov_b, np.float64)
    if mean_a.shape != mean_b.shape or cov_a.shape != cov_b.shape:
        raise ValueError(f"the two feature sets have different sizes: {mean_a.shape} and {mean_b.shape}")
    sqrt_a = _symmetric_psd_sqrt(cov_a)
    middle = sqrt_a @ cov_b @ sqrt_a
    eigvals = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_sqrt_product = float(np.sum(np.sqrt(np.clip(eigvals, 0.0, None))))
    distance = float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt_product)
    return max(distance, 0.0)  # round-off can leave -1e-12 for identical sets


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (rows are samples): the FID on features.

    Args:
        features_a: (N, d), N ≥ 2.
        features_b: (M, d), M ≥ 2.

    Returns:
        The distance, ≥ 0 (see `frechet_distance_from_statistics`).
    """
    return frechet_distance_from_statistics(*feature_statistics(features_a), *feature_statistics(features_b))


class KID(NamedTuple):
    """The result of `kernel_inception_distance`: mean and standard deviation over the subsets.

    Args:
        mean: the mean of the subsets' unbiased MMD² values.
        std: their (population) standard deviation.
    """

    mean: float
    std: float


def kernel_inception_distance(features_a: np.ndarray, features_b: np.ndarray, subset_size: int = KID_SUBSET_SIZE,
                              num_subsets: int = KID_SUBSETS, seed: int = 0) -> KID:
    """KID (Bińkowski et al., 2018): the unbiased MMD² with the cubic kernel k(x, y) = (xᵀy / d + 1)³,
    averaged over `num_subsets` random subsets of `subset_size` points from each set (drawn without
    replacement, independently each time). It is MMD², not its square root, so it can dip below 0 when
    the sets come from one distribution; unlike FID it is unbiased, so small sets compare fairly.

    Args:
        features_a: features of the first set, shape (n, d), n ≥ 2 (e.g. generated images).
        features_b: features of the second set, shape (m, d), m ≥ 2 (e.g. test images).
        subset_size: points per subset (≥ 2); capped at min(n, m) (as clean-fid does).
        num_subsets: how many subsets to average over.
        seed: seed of the numpy generator drawing the subsets.

    Returns:
        `KID(mean, std)` over the subsets' MMD² values.

    Raises:
        ValueError: the sets are not (n ≥ 2, d) arrays of one d, or a count is below its least value.
    """
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    divergences.mmd2(a[:2], b[:2], kernel="cubic")  # the sets' shapes checked, with that function's messages
    for name, value, least in (("subset_size", subset_size, 2), ("num_subsets", num_subsets, 1)):
        if int(value) != value or value < least:
            raise ValueError(f"{name} must be a whole number ≥ {least}, got {value}")
    size = min(int(subset_size), len(a), len(b))
    rng = np.random.default_rng(seed)
    values = [divergences.mmd2(a[rng.choice(len(a), size, replace=False)],
                               b[rng.choice(len(b), size, replace=False)], kernel="cubic")
              for _ in range(int(num_subsets))]
    return KID(float(np.mean(values)), float(np.std(values)))
