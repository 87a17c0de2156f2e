"""Conjugate Bayesian linear regression (gen_keras.bayes) against brute force and TFP, and its recipe run once."""

import json
import runpy

import numpy as np
import pytest

from gen_keras import bayes
from tests.conftest import ROOT

ALPHA, BETA = 2.0, 25.0


def _line_data(n=20, seed=0):
    x, t = bayes.linear_data(n, seed=seed)
    return bayes.polynomial_features(x), t


def test_sequential_updates_equal_the_batch_posterior():
    phi, t = _line_data(20)
    batch = bayes.posterior(phi, t, alpha=ALPHA, beta=BETA)
    one_by_one = bayes.isotropic_prior(2, ALPHA)
    for n in range(20):
        one_by_one = bayes.update(one_by_one, phi[n:n + 1], t[n:n + 1], beta=BETA)
    uneven = bayes.isotropic_prior(2, ALPHA)
    for start, stop in ((0, 3), (3, 4), (4, 4), (4, 20)):  # batches of 3, 1, 0 and 16 points
        uneven = bayes.update(uneven, phi[start:stop], t[start:stop], beta=BETA)
    for belief in (one_by_one, uneven):
        np.testing.assert_allclose(belief.mean, batch.mean, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(belief.covariance, batch.covariance, rtol=1e-10, atol=1e-14)
    # PRML (3.53, 3.54) by hand: S_N⁻¹ = αI + βΦᵀΦ, m_N = β S_N Φᵀt
    s_n = np.linalg.inv(ALPHA * np.eye(2) + BETA * phi.T @ phi)
    np.testing.assert_allclose(batch.covariance, s_n, rtol=1e-10)
    np.testing.assert_allclose(batch.mean, BETA * s_n @ phi.T @ t, rtol=1e-10)
    # no data: the posterior is the prior
    prior = bayes.isotropic_prior(2, ALPHA)
    empty = bayes.update(prior, np.zeros((0, 2)), np.zeros(0), beta=BETA)
    np.testing.assert_allclose(empty.mean, 0.0)
    np.testing.assert_allclose(empty.covariance, np.eye(2) / ALPHA)


def test_closed_form_posterior_equals_a_brute_force_grid_posterior():
    phi, t = _line_data(5, seed=3)
    closed = bayes.posterior(phi, t, alpha=ALPHA, beta=BETA)
    # ln p(w | t) = ln p(w) + ln p(t | w) + const on a fine grid, written out without the library
    axis = np.linspace(-2.0, 2.0, 801)  # spacing 0.005; the posterior's std is ≈ 0.1
    w0, w1 = np.meshgrid(axis, axis, indexing="ij")
    log_post = -ALPHA / 2 * (w0 ** 2 + w1 ** 2)
    for (_, x), target in zip(phi, t):
        log_post = log_post - BETA / 2 * (target - w0 - w1 * x) ** 2
    weights = np.exp(log_post - log_post.max())
    weights /= weights.sum()
    mean = np.array([np.sum(weights * w0), np.sum(weights * w1)])
    d0, d1 = w0 - mean[0], w1 - mean[1]
    cov = np.array([[np.sum(weights * d0 * d0), np.sum(weights * d0 * d1)],
                    [np.sum(weights * d0 * d1), np.sum(weights * d1 * d1)]])
    np.testing.assert_allclose(closed.mean, mean, atol=1e-6)
    np.testing.assert_allclose(closed.covariance, cov, rtol=1e-3, atol=1e-7)
    # the library's likelihood on the grid agrees with the hand-written one
    grid = np.stack([w0, w1], axis=-1)[::40, ::40]
    hand = sum(-BETA / 2 * (target - grid[..., 0] - grid[..., 1] * x) ** 2 + 0.5 * np.log(BETA / (2 * np.pi))
               for (_, x), target in zip(phi, t))
    np.testing.assert_allclose(bayes.log_likelihood(grid, phi, t, beta=BETA), hand, rtol=1e-12)


def test_predictive_variance_never_below_the_noise_and_shrinks_where_data_arrive():
    x, t = bayes.sinusoidal_data(25, noise_std=BETA ** -0.5, seed=1)
    left = x < 0.4  # data only on the left of [0, 1]
    x, t = x[left], t[left]
    x_new = np.linspace(0, 1, 101)
    phi_new = bayes.gaussian_features(x_new)
    variances = []
    for n in range(len(x) + 1):
        belief = bayes.posterior(bayes.gaussian_features(x[:n]), t[:n], alpha=ALPHA, beta=BETA)
        mean, variance = bayes.predictive_moments(belief, phi_new, beta=BETA)
        assert np.all(variance >= 1 / BETA)
        variances.append(variance)
    variances = np.array(variances)
    assert np.all(np.diff(variances, axis=0) <= 1e-12)  # one more point never widens the band
    prior, last = variances[0], variances[-1]
    near, far = x_new <= 0.35, x_new >= 0.8
    assert np.all(last[near] < 0.15 * prior[near])  # where the data are, the band is nearly the noise
    assert last[near].max() < 2.0 / BETA
    kept = last / prior  # the share of the prior's predictive variance left after the data
    assert kept[near].max() < 0.25 * kept[far].min()  # far from the data, most of it is left
    # the same numbers as a TFP Normal
    normal = bayes.predictive_distribution(belief, phi_new, beta=BETA)
    np.testing.assert_allclose(normal.mean().numpy(), mean)
    np.testing.assert_allclose(normal.stddev().numpy(), np.sqrt(last))


@pytest.mark.parametrize("features", ["line", "gaussian"])
def test_log_evidence_matches_the_marginal_likelihood_from_tfp(features):
    import tensorflow_probability as tfp

    if features == "line":
        phi, t = _line_data(20)
    else:
        x, t = bayes.sinusoidal_data(12, seed=2)
        phi = bayes.gaussian_features(x, width=0.1)
    # t ~ N(0, β⁻¹I + α⁻¹ΦΦᵀ): w integrated out
    covariance = np.eye(len(t)) / BETA + phi @ phi.T / ALPHA
    marginal = tfp.distributions.MultivariateNormalTriL(loc=np.zeros(len(t)),
                                                        scale_tril=np.linalg.cholesky(covariance))
    expected = float(marginal.log_prob(t).numpy())
    assert bayes.log_evidence(phi, t, alpha=ALPHA, beta=BETA) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert bayes.log_evidence(np.zeros((0, phi.shape[1])), np.zeros(0), alpha=ALPHA, beta=BETA) == 0.0


def test_posterior_as_a_tfp_distribution_and_basis_functions():
    phi, t = _line_data(20)
    belief = bayes.posterior(phi, t, alpha=ALPHA, beta=BETA)
    dist = belief.distribution()
    assert type(dist).__name__ == "MultivariateNormalTriL"
    np.testing.assert_allclose(dist.covariance().numpy(), belief.covariance, rtol=1e-10)
    draws = dist.sample(20_000, seed=(1, 2)).numpy()
    np.testing.assert_allclose(draws.mean(axis=0), belief.mean, atol=4 * np.sqrt(belief.covariance.max() / 20_000))
    np.testing.assert_array_equal(draws[:3], dist.sample(20_000, seed=(1, 2)).numpy()[:3])  # seeded
    x = np.array([0.0, 0.5, 2.0])
    np.testing.assert_allclose(bayes.polynomial_features(x, degree=2), [[1, 0, 0], [1, 0.5, 0.25], [1, 2, 4]])
    phi_g = bayes.gaussian_features(x, width=0.1)
    assert phi_g.shape == (3, 10) and np.all(phi_g[:, 0] == 1)
    assert phi_g[1, 5] == 1.0 and phi_g[0, 1] == 1.0  # x = 0.5 and 0 sit on centres 0.5 and 0
    assert bayes.gaussian_features(x, bias=False).shape == (3, 9)
    # the first k points of a longer data set are the shorter one
    np.testing.assert_array_equal(bayes.linear_data(5, seed=4)[1], bayes.linear_data(9, seed=4)[1][:5])


@pytest.mark.parametrize("call, message", [
    (lambda: bayes.isotropic_prior(2, alpha=0.0), "alpha must be a positive"),
    (lambda: bayes.isotropic_prior(2, alpha=-1.0), "alpha must be a positive"),
    (lambda: bayes.isotropic_prior(0, alpha=1.0), "num_features"),
    (lambda: bayes.posterior(np.ones((3, 2)), np.ones(3), alpha=float("nan"), beta=1.0), "alpha"),
    (lambda: bayes.posterior(np.ones((3, 2)), np.ones(3), alpha=1.0, beta=0.0), "beta must be a positive"),
    (lambda: bayes.log_evidence(np.ones((3, 2)), np.ones(3), alpha=1.0, beta=-2.0), "beta"),
    (lambda: bayes.predictive_moments(bayes.isotropic_prior(2, 1.0), np.ones((4, 2)), beta=0), "beta"),
    (lambda: bayes.linear_data(-1), "N must be a whole number ≥ 0"),
    (lambda: bayes.sinusoidal_data(2.5), "N must be a whole number ≥ 0"),
    (lambda: bayes.posterior(np.ones((3, 2)), np.ones(4), alpha=1.0, beta=1.0), "targets must be"),
    (lambda: bayes.posterior(np.ones(3), np.ones(3), alpha=1.0, beta=1.0), "design matrix"),
    (lambda: bayes.update(bayes.isotropic_prior(3, 1.0), np.ones((2, 2)), np.ones(2), beta=1.0), "3 weights"),
    (lambda: bayes.predictive_moments(bayes.isotropic_prior(3, 1.0), np.ones((4, 2)), beta=1.0), "(K, 3)"),
    (lambda: bayes.WeightBelief(np.zeros(2), np.eye(3)), "covariance (M, M)"),
    (lambda: bayes.update(bayes.WeightBelief(np.zeros(2), -np.eye(2)), np.ones((1, 2)), np.ones(1), 1.0),
     "positive definite"),
    (lambda: bayes.gaussian_features(np.ones(3), width=0), "width"),
])
def test_bad_arguments_raise_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_recipe_writes_figures_and_metrics(tmp_path):
    recipe = runpy.run_path(str(ROOT / "recipes" / "bayesian_linear_regression.py"), run_name="blr_under_test")
    results = recipe["main"](["--out", str(tmp_path), "--seed", "0"])
    for figure in ("sequential_learning.png", "predictive_distribution.png"):
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics == json.loads(json.dumps(results))
    assert metrics["num_points"] == 20 and metrics["alpha"] == 2.0 and metrics["beta"] == 25.0
    mean, cov = np.array(metrics["posterior_mean"]), np.array(metrics["posterior_covariance"])
    assert np.all(np.abs(mean - [-0.3, 0.5]) < 3 * np.sqrt(np.diag(cov)))  # the truth within 3 std
    assert np.all(np.diag(cov) < 0.01) and metrics["sequential_vs_batch_max_difference"] < 1e-12
    assert np.isfinite(metrics["log_evidence"])
    stds = list(metrics["sine_predictive_std_at_0.5"].values())
    assert stds[-1] < stds[0] and stds[-1] >= 0.2  # narrows with N, never below the noise σ = 0.2
