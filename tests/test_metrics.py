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
