"""Numbers that judge a model through its inputs and outputs only."""

from __future__ import annotations

import numpy as np


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error over every pixel of every image."""
    return float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))


def pca_reconstruction_mse(train: np.ndarray, test: np.ndarray, components: int) -> float:
    """Test MSE of the best rank-k linear reconstruction fitted on `train` (PCA with k components):
    x̂ = μ + W Wᵀ (x − μ), W the top-k eigenvectors of the training covariance."""
    x = train.reshape(len(train), -1).astype(np.float64)
    mean = x.mean(axis=0)
    cov = np.cov(x - mean, rowvar=False)
    eigvals, eigvecs = np.linalg.eigh(cov)
    w = eigvecs[:, np.argsort(eigvals)[::-1][:components]]
    t = test.reshape(len(test), -1).astype(np.float64) - mean
    recon = t @ w @ w.T
    return float(np.mean((recon - t) ** 2))


def dead_units(codes: np.ndarray) -> int:
    """Code units that are exactly zero for every input (dead ReLUs)."""
    return int(np.sum(np.all(codes == 0, axis=0)))


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (float64, unbiased) of a feature set, one row a sample."""
    x = np.asarray(features, np.float64)
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
    """Fréchet distance between Gaussians fitted to two feature sets (rows are samples)."""
    return frechet_distance_from_statistics(*feature_statistics(features_a), *feature_statistics(features_b))


def fid(images_a: np.ndarray, images_b: np.ndarray, classifier, *,
        value_range_a: tuple[float, float] = (0.0, 1.0), value_range_b: tuple[float, float] = (0.0, 1.0),
        batch_size: int = 500) -> float:
    """FID on the classifier's 128 features (`gen_keras.classifier`), each image set with its pixel range,
    e.g. `fid(generated, test_images, clf, value_range_a=(-1, 1))` for tanh samples against data."""
    from gen_keras.classifier import extract_features

    return frechet_distance(
        extract_features(classifier, images_a, value_range=value_range_a, batch_size=batch_size),
        extract_features(classifier, images_b, value_range=value_range_b, batch_size=batch_size))


def real_fid_floor(classifier, dataset: str = "fashion_mnist", num_images: int = 10_000) -> float:
    """FID between the first `num_images` training and test images: what a perfect generator would score."""
    from gen_keras.classifier import dataset_features

    return frechet_distance(dataset_features(classifier, dataset, "train", num_images),
                            dataset_features(classifier, dataset, "test", num_images))


def class_histogram(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """How many labels fall in each class, int64 (num_classes,)."""
    labels = np.asarray(labels, np.int64).ravel()
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got {labels.min()}..{labels.max()}")
    return np.bincount(labels, minlength=num_classes)


def class_entropy(histogram: np.ndarray) -> float:
    """Entropy in nats of the class distribution a histogram (counts or shares) describes: log K when
    uniform over K classes (log 10 ≈ 2.303), 0 when every sample is one class."""
    counts = np.asarray(histogram, np.float64)
    shares = counts[counts > 0] / counts.sum()
    return float(-np.sum(shares * np.log(shares))) + 0.0  # + 0.0 turns -0.0 into 0.0


def max_class_share(histogram: np.ndarray) -> float:
    """The largest class's share of the samples (1 / K when uniform, 1 under total mode collapse)."""
    counts = np.asarray(histogram, np.float64)
    return float(counts.max() / counts.sum())


def importance_weighted_estimates(log_weights, images: np.ndarray, num_samples: int = 100,
                                  batch_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-image (ELBO estimate, IWAE estimate of log p(x)) in nats (Burda et al.).

    `log_weights(x, K)` returns log w_k = log p(x|z_k) + log p(z_k) − log q(z_k|x) for K draws
    z_k ~ q(z|x), shape (K, batch). ELBO ≈ mean_k log w_k; IWAE_K = log (1/K) Σ_k w_k ≤ log p(x), rising with K.
    """
    batch_size = batch_size or max(1, 10_000 // num_samples)
    elbo, iwae = [], []
    for i in range(0, len(images), batch_size):
        lw = np.asarray(log_weights(images[i:i + batch_size], num_samples), np.float64)
        elbo.append(lw.mean(axis=0))
        peak = lw.max(axis=0)  # log-mean-exp without overflow
        iwae.append(peak + np.log(np.exp(lw - peak).mean(axis=0)))
    return np.concatenate(elbo), np.concatenate(iwae)
