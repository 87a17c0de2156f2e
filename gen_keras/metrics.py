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
