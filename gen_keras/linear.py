"""Linear algebra of the lecture "an autoencoder without activations learns PCA" (numpy only).

PCA with k components: μ the data's mean, V (k × d) the top-k eigenvectors of the covariance
    C = 1/(N − 1) Σ_i (x_i − μ)(x_i − μ)ᵀ,
codes z = V (x − μ) and reconstructions x̂ = μ + Vᵀ z. A linear autoencoder z = W x, x* = W′ z trained on
‖x − x*‖² reaches the same error, but its directions (the rows of W′) are any basis of the same subspace,
not V itself: `principal_angle_cosines` says how close two subspaces are, and `align_to_basis` turns one
basis onto another to show that they span the same images.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class PCA(NamedTuple):
    """A fitted PCA (made by `pca`).

    Args:
        mean: μ, (d,).
        components: V, (k, d), orthonormal rows, largest variance first.
        variances: (k,), the covariance's top-k eigenvalues.
    """

    mean: np.ndarray
    components: np.ndarray
    variances: np.ndarray

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Codes z = V (x − μ) of the rows of `x`.

        Args:
            x: the data, batch axis first (any shape that flattens to (N, d)).

        Returns:
            float64 (N, k).
        """
        return (np.asarray(x, np.float64).reshape(len(x), -1) - self.mean) @ self.components.T

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Reconstructions x̂ = μ + Vᵀ z, flat.

        Args:
            z: codes, (N, k).

        Returns:
            float64 (N, d).
        """
        return np.asarray(z, np.float64) @ self.components + self.mean


def pca(x: np.ndarray, components: int) -> PCA:
    """Fits PCA with `components` directions to the rows of `x`.

    Each direction's sign is fixed so that its entry of largest magnitude is positive: the same data give
    the same basis on any machine.

    Args:
        x: the data, batch axis first (e.g. images (N, 28, 28, 1)); flattened to (N, d).
        components: k, between 1 and d.

    Returns:
        A `PCA` (float64).
    """
    x = np.asarray(x, np.float64).reshape(len(x), -1)
    if not 1 <= components <= x.shape[1]:
        raise ValueError(f"components must be between 1 and {x.shape[1]}, got {components}")
    mean = x.mean(axis=0)
    centred = x - mean
    cov = centred.T @ centred / max(len(x) - 1, 1)
    eigvals, eigvecs = np.linalg.eigh(cov)
    order = np.argsort(eigvals)[::-1][:components]
    v = eigvecs[:, order].T
    v *= np.sign(v[np.arange(len(v)), np.argmax(np.abs(v), axis=1)])[:, None]
    return PCA(mean, v, eigvals[order])


def orthonormal_basis(directions: np.ndarray) -> np.ndarray:
    """An orthonormal basis (as rows) of the span of the rows of `directions`, via QR.

    Args:
        directions: (k, d), k ≤ d, linearly independent rows.

    Returns:
        float64 (k, d) with orthonormal rows.
    """
    q, _ = np.linalg.qr(np.asarray(directions, np.float64).T)
    return q.T


def principal_angle_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """cos θ_1 ≥ … ≥ cos θ_m of the principal angles between the spans of the rows of `a` and of `b`.

    With Q_a, Q_b orthonormal bases of the two spans (as columns), the cosines are the singular values of
    Q_aᵀ Q_b (Björck & Golub): all 1 when the spans are equal, 0 for a direction of one span orthogonal to
    the other.

    Args:
        a: (p, d), p directions in d dimensions (e.g. a decoder's weight rows).
        b: (q, d) (e.g. PCA's top-q components).

    Returns:
        float64 (min(p, q),), descending, in [0, 1].
    """
    qa, qb = orthonormal_basis(a), orthonormal_basis(b)
    if qa.shape[1] != qb.shape[1]:
        raise ValueError(f"the directions live in different spaces: {qa.shape[1]} and {qb.shape[1]} dimensions")
    return np.clip(np.linalg.svd(qa @ qb.T, compute_uv=False), 0.0, 1.0)


def orthogonal_procrustes(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The orthogonal R (k × k) that minimises ‖R A − B‖_F, with A = `source` and B = `target`.

    Formula: with U S Vᵀ = B Aᵀ, R = U Vᵀ (Schönemann): the rotation (or reflection) of A's rows that best
    matches B's, in the least-squares sense.

    Args:
        source: A, (k, d).
        target: B, (k, d).

    Returns:
        R, float64 (k, k).
    """
    u, _, vt = np.linalg.svd(np.asarray(target, np.float64) @ np.asarray(source, np.float64).T)
    return u @ vt


def align_to_basis(directions: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """`directions`' span, written in the orthonormal basis closest to `basis`.

    The rows of `directions` (k, d) are orthonormalised (QR) and rotated by `orthogonal_procrustes` onto
    the rows of `basis` (k, d, orthonormal, e.g. PCA's components). When the two spans are equal the result
    is `basis` itself, up to round-off; the gap that remains is what the spans do not share.

    Args:
        directions: (k, d), e.g. a linear decoder's rows (`decoder_directions`).
        basis: (k, d) with orthonormal rows.

    Returns:
        float64 (k, d).
    """
    q = orthonormal_basis(directions)
    return orthogonal_procrustes(q, basis) @ q
