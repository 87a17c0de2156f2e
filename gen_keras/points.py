"""Toy data sets of 2-d points: two moons (the flows lecture) and a ring of Gaussians (the mode-collapse
picture), made by numpy from a seed."""

from __future__ import annotations

import numpy as np


def two_moons(num_points: int = 3000, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """Two interleaving half circles in 2-D (scikit-learn's `make_moons`), shuffled, with Gaussian noise.

    The upper moon is (cos t, sin t), the lower (1 − cos t, ½ − sin t), t evenly spaced over [0, π];
    half the points on each.

    Args:
        num_points: the number of points.
        noise: the standard deviation of the Gaussian noise added to each coordinate.
        seed: seed of the numpy generator (noise and shuffle).

    Returns:
        A float32 (num_points, 2) array.
    """
    rng = np.random.default_rng(seed)
    n_upper = num_points // 2
    t_upper = np.linspace(0, np.pi, n_upper)
    t_lower = np.linspace(0, np.pi, num_points - n_upper)
    points = np.concatenate([np.stack([np.cos(t_upper), np.sin(t_upper)], 1),
                             np.stack([1 - np.cos(t_lower), 0.5 - np.sin(t_lower)], 1)])
    points = points + rng.normal(scale=noise, size=points.shape)
    return points[rng.permutation(num_points)].astype(np.float32)


def standardized(points: np.ndarray) -> np.ndarray:
    """Each column shifted and scaled to mean 0 and standard deviation 1 (scikit-learn's `StandardScaler`).

    Args:
        points: an (N, D) array.

    Returns:
        The standardized float32 (N, D) array.
    """
    return ((points - points.mean(0)) / points.std(0)).astype(np.float32)


def ring_of_gaussians(num_points: int = 2500, modes: int = 8, radius: float = 2.0, std: float = 0.02,
                      seed: int = 0) -> np.ndarray:
    """Points of the mode-collapse benchmark: an equal mixture of Gaussians on a circle (Metz et al. 2017).

    Mode j sits at radius · (cos 2πj/modes, sin 2πj/modes); each point is its mode plus N(0, std² I).

    Args:
        num_points: the number of points.
        modes: the number of Gaussians on the ring.
        radius: the ring's radius.
        std: each Gaussian's standard deviation per coordinate.
        seed: seed of the numpy generator.

    Returns:
        A float32 (num_points, 2) array.
    """
    rng = np.random.default_rng(seed)
    which = rng.integers(modes, size=num_points)
    points = ring_centres(modes, radius)[which] + rng.normal(scale=std, size=(num_points, 2))
    return points.astype(np.float32)


def ring_centres(modes: int = 8, radius: float = 2.0) -> np.ndarray:
    """The means of `ring_of_gaussians`: radius · (cos 2πj/modes, sin 2πj/modes), (modes, 2) float64."""
    angles = 2 * np.pi * np.arange(modes) / modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
