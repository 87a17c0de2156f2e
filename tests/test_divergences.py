"""KL and MMD (gen_keras.divergences) against hand computations and TFP, and the divergences recipe run once."""

import json
import math
import runpy

import numpy as np
import pytest

from gen_keras import divergences
from tests.conftest import ROOT


def _random_spd(rng, k):
    a = rng.normal(size=(k, k))
    return a @ a.T + 0.5 * np.eye(k)


def test_discrete_kl_by_hand_and_its_asymmetry():
    p, q = [0.9, 0.1], [0.5, 0.5]
    assert divergences.kl_discrete(p, q) == pytest.approx(0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5))
    assert divergences.kl_discrete(q, p) == pytest.approx(0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1))
    assert divergences.kl_discrete(p, q) != pytest.approx(divergences.kl_discrete(q, p))  # 0.368 vs 0.511
    assert divergences.kl_discrete([3, 1], [2, 2]) == pytest.approx(divergences.kl_discrete([0.75, 0.25], [0.5, 0.5]))
    assert divergences.kl_discrete([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0
    # p_i = 0 adds nothing; q_i = 0 where p_i > 0 is infinite
    assert divergences.kl_discrete([0.0, 1.0], [0.5, 0.5]) == pytest.approx(math.log(2))
    assert divergences.kl_discrete([0.5, 0.5], [0.0, 1.0]) == float("inf")


# The weather-station example of the entropy lecture (after Géron's "entropy, cross-entropy and KL"):
# eight kinds of weather, a fixed-length code needs 3 bits, the station's p needs 2.23 on average.
WEATHER = np.array([0.35, 0.35, 0.10, 0.10, 0.04, 0.04, 0.01, 0.01])
CODE_LENGTHS = np.array([2, 2, 3, 3, 4, 4, 5, 5])  # the station's prefix code: short words for likely weather


def test_entropy_cross_entropy_and_kl_of_the_weather_example_in_bits():
    """H(p) = 2.23 bits; the station's code averages 2.42 bits on its own weather; on the reversed weather
    (a rainy place, the likely and the rare outcomes swapped) it averages H(p′, q) = 4.58 bits, so the wrong
    code costs D_KL = H(p′, q) − H(p′) = 2.35 bits. The code's q = 2^−ℓ sums to 15/16 (its Kraft sum), so
    with q normalised the KL is 2.35 − log₂(16/15) = 2.26 bits."""
    q = divergences.code_distribution(CODE_LENGTHS)
    assert q.sum() == pytest.approx(15 / 16)
    assert divergences.entropy(WEATHER, base=2) == pytest.approx(2.23, abs=0.005)
    assert divergences.cross_entropy(WEATHER, q, base=2) == pytest.approx(2.42, abs=1e-9)  # Σ p ℓ exactly
    assert divergences.entropy(np.full(8, 1 / 8), base=2) == pytest.approx(3.0)  # the fixed-length code
    rainy = WEATHER[::-1]
    h, h_cross = divergences.entropy(rainy, base=2), divergences.cross_entropy(rainy, q, base=2)
    assert h == pytest.approx(2.23, abs=0.005) and h_cross == pytest.approx(4.58, abs=1e-9)
    assert h_cross - h == pytest.approx(2.35, abs=0.005)
    kl_normalised = divergences.kl_discrete(rainy, q) / math.log(2)
    assert kl_normalised == pytest.approx(h_cross - h - math.log2(16 / 15), abs=1e-9)
    # in nats the same numbers times ln 2, and KL(p‖q) = H(p, q) − H(p) for a q that sums to 1
    uniform = np.full(8, 1 / 8)
    assert divergences.cross_entropy(rainy, uniform) - divergences.entropy(rainy) == pytest.approx(
        divergences.kl_discrete(rainy, uniform), abs=1e-12)
    assert divergences.cross_entropy(WEATHER, np.r_[q[:-1], 0.0]) == float("inf")
    with pytest.raises(ValueError, match="sum to 1"):
        divergences.entropy(WEATHER * 2)


def test_gaussian_kl_matches_tfp_and_is_asymmetric():
    import tensorflow_probability as tfp

    tfd = tfp.distributions
    rng = np.random.default_rng(0)
    for k in (1, 2, 5):
        mu1, mu2 = rng.normal(size=k), rng.normal(size=k)
        cov1, cov2 = _random_spd(rng, k), _random_spd(rng, k)
        ours = divergences.kl_gaussians(mu1, cov1, mu2, cov2)
        q1 = tfd.MultivariateNormalTriL(mu1, np.linalg.cholesky(cov1))
        q2 = tfd.MultivariateNormalTriL(mu2, np.linalg.cholesky(cov2))
        assert ours == pytest.approx(float(tfd.kl_divergence(q1, q2).numpy()), rel=1e-9)
        assert ours != pytest.approx(divergences.kl_gaussians(mu2, cov2, mu1, cov1), rel=1e-3)
    # 1-D by hand: ln(σ2/σ1) + (σ1² + (μ1 − μ2)²) / (2σ2²) − ½
    assert divergences.kl_gaussians([0.0], [[1.0]], [1.0], [[4.0]]) == pytest.approx(
        math.log(2) + (1 + 1) / 8 - 0.5)
    assert divergences.kl_gaussians(mu1, cov1, mu1, cov1) == pytest.approx(0.0, abs=1e-12)


def test_mmd_by_explicit_sums_and_the_median_bandwidth():
    x = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    y = np.array([[1.0, 1.0], [2.0, 0.0]])
    sigma = 1.3

    def k(a, b):
        return math.exp(-np.sum((a - b) ** 2) / (2 * sigma ** 2))

    xx = sum(k(x[i], x[j]) for i in range(3) for j in range(3) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(2) for j in range(2) if i != j)
    xy = sum(k(a, b) for a in x for b in y)
    unbiased = xx / (3 * 2) + yy / (2 * 1) - 2 * xy / (3 * 2)
    biased = (xx + 3) / 9 + (yy + 2) / 4 - 2 * xy / 6  # k(a, a) = 1 on the diagonal
    assert divergences.mmd2(x, y, bandwidth=sigma) == pytest.approx(unbiased, rel=1e-12)
    assert divergences.mmd2(x, y, bandwidth=sigma, unbiased=False) == pytest.approx(biased, rel=1e-12)
    # distances among [0], [1], [3], [7]: 1, 3, 7, 2, 6, 4 → median (3 + 4) / 2
    assert divergences.median_bandwidth([0.0, 1.0], [3.0, 7.0]) == pytest.approx(math.sqrt(12.5))
    assert divergences.median_bandwidth([[0.0], [1.0]], [[3.0], [7.0]]) == pytest.approx(math.sqrt(12.5))


def test_unbiased_mmd_averages_to_zero_for_one_distribution_and_grows_with_a_shift():
    rng = np.random.default_rng(1)
    unbiased, biased = [], []
    for _ in range(200):
        x, y = rng.normal(size=(40, 2)), rng.normal(size=(40, 2))
        unbiased.append(divergences.mmd2(x, y))
        biased.append(divergences.mmd2(x, y, unbiased=False))
    error = np.std(unbiased) / np.sqrt(len(unbiased))
    assert abs(np.mean(unbiased)) < 3 * error  # mean within noise of 0
    assert min(unbiased) < 0 < max(unbiased)
    assert np.mean(biased) > 10 * error  # the V-statistic is biased upwards
    x, y = rng.normal(size=(300, 3)), rng.normal(size=(300, 3))
    shifted = [divergences.mmd2(x, y + [s, 0, 0], bandwidth=1.5) for s in (0.0, 0.25, 0.5, 1.0, 2.0)]
    assert np.all(np.diff(shifted) > 0) and shifted[-1] > 0.2


def test_permutation_test_p_values():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(100, 2)), rng.normal(size=(100, 2))
    same = divergences.mmd_permutation_test(x, y, num_permutations=200, seed=0)
    shifted = divergences.mmd_permutation_test(x, y + [1.0, 0.0], num_permutations=200, seed=0)
    assert same.p_value > 0.1
    assert shifted.p_value == pytest.approx(1 / 201)  # no permutation reaches the observed MMD²
    assert shifted.mmd2 > np.quantile(shifted.null_mmd2, 0.999)
    assert same.mmd2 == pytest.approx(divergences.mmd2(x, y))
    assert len(same.null_mmd2) == 200 and same.bandwidth == pytest.approx(divergences.median_bandwidth(x, y))
    again = divergences.mmd_permutation_test(x, y, num_permutations=200, seed=0)
    np.testing.assert_array_equal(again.null_mmd2, same.null_mmd2)  # seeded
    # under H0 the p-value is (nearly) uniform: over 60 pairs about 5% fall below 0.05
    p_values = [divergences.mmd_permutation_test(rng.normal(size=(30, 2)), rng.normal(size=(30, 2)),
                                                 num_permutations=99, seed=i).p_value for i in range(60)]
    assert sum(p < 0.05 for p in p_values) <= 9 and 0.3 < np.mean(p_values) < 0.7


@pytest.mark.parametrize("call, message", [
    (lambda: divergences.kl_discrete([0.5, 0.5], [1.0]), "same outcomes"),
    (lambda: divergences.kl_discrete([-0.1, 1.1], [0.5, 0.5]), "non-negative"),
    (lambda: divergences.kl_discrete([0.0, 0.0], [0.5, 0.5]), "not all zero"),
    (lambda: divergences.kl_gaussians([0, 0], np.eye(2), [0, 0, 0], np.eye(3)), "different dimensions"),
    (lambda: divergences.kl_gaussians([0, 0], np.eye(3), [0, 0], np.eye(2)), "covariance \\(k, k\\)"),
    (lambda: divergences.kl_gaussians([0, 0], -np.eye(2), [0, 0], np.eye(2)), "positive definite"),
    (lambda: divergences.mmd2(np.ones((5, 3)), np.ones((5, 4))), "different feature sizes"),
    (lambda: divergences.mmd2(np.ones((1, 3)), np.ones((5, 3))), "at least 2 points"),
    (lambda: divergences.mmd2(np.ones((4, 3)), np.zeros((4, 3)), bandwidth=0.0), "bandwidth must be positive"),
    (lambda: divergences.mmd_permutation_test(np.ones((5, 2)), np.ones((5, 3))), "different feature sizes"),
    (lambda: divergences.mmd_permutation_test(np.ones((5, 2)), np.ones((5, 2)), num_permutations=0), "≥ 1"),
    (lambda: divergences.mmd2(np.ones((2, 2, 2)), np.ones((2, 2))), "\\(n, d\\) arrays"),
    (lambda: divergences.mmd2(np.ones((4, 2)), np.ones((4, 2)), kernel="linear"), "'rbf' or 'cubic'"),
])
def test_bad_inputs_raise_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_recipe_writes_figures_and_metrics(tmp_path):
    recipe = runpy.run_path(str(ROOT / "recipes" / "divergences.py"), run_name="divergences_under_test")
    results = recipe["main"](["--out", str(tmp_path)])
    for figure in ("kl_fits.png", "mmd_shift.png"):
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics == json.loads(json.dumps(results))
    fits = metrics["kl_fits"]
    forward, reverse, local = fits["forward"], fits["reverse_global"], fits["reverse_local"]
    # each fit wins by its own criterion and loses by the other one
    assert forward["kl_pq"] < reverse["kl_pq"] and reverse["kl_qp"] < forward["kl_qp"]
    assert local["kl_qp"] > reverse["kl_qp"]  # the lighter mode is a worse local minimum
    assert forward["mean"] == pytest.approx(0.6) and abs(reverse["mean"] - 2) < 0.05 and abs(local["mean"] + 2) < 0.05
    assert reverse["kl_qp"] == pytest.approx(-math.log(0.65), abs=0.01)  # q ≈ the heavier component: −ln π
    tests = metrics["mmd"]
    assert tests[0]["shift"] == 0.0 and tests[0]["p_value"] > 0.05
    assert tests[-1]["p_value"] < 0.01 and tests[-1]["mmd2_unbiased"] > tests[-1]["null_95th_percentile"]
