"""Metrics against cases whose answers are known."""

import numpy as np
import pytest

from gen_keras import metrics


def test_pca_baseline_is_exact_on_low_rank_data_and_falls_with_k():
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(3, 20))
    train = rng.normal(size=(500, 3)) @ basis + 5.0  # rank 3 plus a mean
    test = rng.normal(size=(100, 3)) @ basis + 5.0
    assert metrics.pca_reconstruction_mse(train, test, 3) < 1e-20
    errors = [metrics.pca_reconstruction_mse(train, test, k) for k in (0, 1, 2)]
    assert errors[0] > errors[1] > errors[2] > 0
    # k = 0 reconstructs every image as the training mean
    assert np.isclose(errors[0], np.mean((test - train.mean(axis=0)) ** 2))


def test_mse_and_dead_units():
    assert metrics.mse(np.zeros((2, 3)), np.ones((2, 3))) == 1.0
    codes = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    assert metrics.dead_units(codes) == 1


def _gaussian_samples(mean, std, n=200_000, seed=0):
    rng = np.random.default_rng(seed)
    return mean + std * rng.standard_normal((n, len(mean)))


def test_frechet_distance_is_zero_for_identical_sets_and_grows_with_shift_and_scale():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(2000, 32)) @ rng.normal(size=(32, 32))  # correlated features
    assert metrics.frechet_distance(features, features) < 1e-8
    shifts = [metrics.frechet_distance(features, features + s) for s in (0.1, 0.5, 1.0)]
    assert 0 < shifts[0] < shifts[1] < shifts[2]
    assert np.isclose(shifts[2], 32 * 1.0 ** 2)  # a pure shift adds only ‖Δμ‖²
    scales = [metrics.frechet_distance(features, features * s) for s in (1.1, 1.5, 2.0)]
    assert 0 < scales[0] < scales[1] < scales[2]
    # scaling by s: Tr(Σ + s²Σ − 2sΣ) + ‖(1 − s)μ‖² = (1 − s)² (Tr Σ + ‖μ‖²)
    mean, cov = metrics.feature_statistics(features)
    assert np.isclose(scales[2], np.trace(cov) + mean @ mean, rtol=1e-9)


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    mean_a, var_a = np.array([0.0, 1.0, -2.0, 0.5]), np.array([1.0, 4.0, 0.25, 2.0])
    mean_b, var_b = np.array([1.0, 1.0, 0.0, 0.5]), np.array([2.0, 1.0, 1.0, 2.0])
    # diagonal covariances: ‖Δμ‖² + Σᵢ (√aᵢ − √bᵢ)²
    expected = np.sum((mean_a - mean_b) ** 2) + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
    exact = metrics.frechet_distance_from_statistics(mean_a, np.diag(var_a), mean_b, np.diag(var_b))
    assert np.isclose(exact, expected, rtol=1e-12)
    sampled = metrics.frechet_distance(_gaussian_samples(mean_a, np.sqrt(var_a)),
                                       _gaussian_samples(mean_b, np.sqrt(var_b), seed=1))
    assert abs(sampled - expected) < 0.05 * expected, (sampled, expected)


def test_frechet_distance_matches_the_closed_form_for_a_rotated_covariance():
    # Σa = R diag(a) Rᵀ and Σb = R diag(b) Rᵀ commute, so (ΣaΣb)^½ = R diag(√(ab)) Rᵀ
    rotation, _ = np.linalg.qr(np.random.default_rng(2).normal(size=(6, 6)))
    a, b = np.array([1.0, 2.0, 3.0, 0.5, 0.1, 4.0]), np.array([2.0, 2.0, 1.0, 0.5, 1.0, 0.0])
    cov_a, cov_b = rotation @ np.diag(a) @ rotation.T, rotation @ np.diag(b) @ rotation.T
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert np.isclose(metrics.frechet_distance_from_statistics(np.zeros(6), cov_a, np.zeros(6), cov_b), expected)


def test_frechet_distance_is_symmetric_and_survives_rank_deficient_features():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(300, 20))
    b = rng.normal(size=(400, 20)) * 1.5 + 0.2
    a[:, :5] = 0.0  # dead units: a singular covariance
    b[:, 10:] = b[:, :10] @ rng.normal(size=(10, 10))  # rank 10 of 20
    ab, ba = metrics.frechet_distance(a, b), metrics.frechet_distance(b, a)
    assert np.isfinite(ab) and ab > 0
    # The two orders differ only by round-off, which the square root magnifies on the zero eigenvalues of
    # √Σa Σb √Σa: each is computed to within n·ε·‖M‖ and its root to within √(n·ε·‖M‖); n of them, twice.
    n, eps = a.shape[1], np.finfo(np.float64).eps
    norm_m = np.linalg.norm(np.cov(a, rowvar=False), 2) * np.linalg.norm(np.cov(b, rowvar=False), 2)
    assert abs(ab - ba) <= 2 * n * np.sqrt(n * eps * norm_m)
    with pytest.raises(ValueError, match="different sizes"):
        metrics.frechet_distance(a, b[:, :10])
    with pytest.raises(ValueError, match="samples"):
        metrics.frechet_distance(a[:1], b[:1])


def test_class_histogram_entropy_and_largest_share():
    labels = np.repeat(np.arange(10), 7)
    histogram = metrics.class_histogram(labels, 10)
    np.testing.assert_array_equal(histogram, np.full(10, 7))
    assert np.isclose(metrics.class_entropy(histogram), np.log(10))  # nats
    assert np.isclose(metrics.max_class_share(histogram), 0.1)
    collapsed = metrics.class_histogram(np.full(50, 8), 10)
    assert collapsed[8] == 50 and collapsed.sum() == 50
    assert metrics.class_entropy(collapsed) == 0.0 and metrics.max_class_share(collapsed) == 1.0
    two = metrics.class_histogram([0, 0, 0, 1], 3)
    assert np.isclose(metrics.class_entropy(two), -(0.75 * np.log(0.75) + 0.25 * np.log(0.25)))
    assert np.isclose(metrics.class_entropy(two / two.sum()), metrics.class_entropy(two))  # shares work too
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        metrics.class_histogram([0, 10], 10)


def test_importance_weighted_estimates_are_log_mean_exp_and_mean():
    from gen_keras.metrics import importance_weighted_estimates

    rng = np.random.default_rng(0)
    table = rng.normal(loc=-300.0, scale=3.0, size=(50, 7))  # K = 50 log weights for 7 images

    def log_weights(x, k):
        assert k == 50
        return table[:, x[:, 0].astype(int)]

    images = np.arange(7, dtype=np.float32)[:, None]
    elbo, iwae = importance_weighted_estimates(log_weights, images, 50, batch_size=3)
    np.testing.assert_allclose(elbo, table.mean(axis=0))
    np.testing.assert_allclose(iwae, np.log(np.exp(table + 300.0).mean(axis=0)) - 300.0)  # no underflow
    assert np.all(iwae >= elbo)  # Jensen
    flat = importance_weighted_estimates(lambda x, k: np.full((k, len(x)), -5.0), images, 10)
    np.testing.assert_allclose(flat[0], flat[1])  # equal weights: the bound is the ELBO
