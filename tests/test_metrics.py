"""Metrics against cases whose answers are known."""

import numpy as np

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
