"""GAN theory in 1-D: the generator costs' slopes, the one-sided gradient penalty, a discriminator trained
against a fixed p_g reaching D* = p_data / (p_data + p_g), and recipes/gan_theory.py end to end."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import run_python

RECIPE = "recipes/gan_theory.py"


def test_generator_costs_and_their_slopes_against_d():
    """minimax log(1 − D): ∂/∂l = −D; non-saturating −log D: −(1 − D); maximum likelihood −½ exp(l) = −½ D/(1 − D),
    whose slope is the same; the slopes come from autodiff through the library's losses."""
    from gen_keras import losses

    d = np.array([0.001, 0.01, 0.3, 0.5, 0.9, 0.99])
    curves = losses.generator_cost_curves(d)
    want = {"minimax": (np.log1p(-d), -d), "non-saturating": (-np.log(d), -(1 - d)),
            "maximum likelihood": (-0.5 * d / (1 - d), -0.5 * d / (1 - d))}
    assert [name.split(":")[0] for name in curves] == list(want)
    for name, (cost, slope) in curves.items():
        want_cost, want_slope = want[name.split(":")[0]]
        np.testing.assert_allclose(cost, want_cost, rtol=1e-4)
        np.testing.assert_allclose(slope, want_slope, rtol=1e-4)


@pytest.mark.parametrize("slope", [0.25, 1.0, 3.0])
def test_one_sided_penalty_only_charges_slopes_above_one(slope):
    """f(x) = s·x has ‖∇f‖ = |s| everywhere: two-sided (|s| − 1)², one-sided max(0, |s| − 1)²."""
    from gen_keras import losses

    real, fake = tf.random.normal([16, 3]), tf.random.normal([16, 3])
    direction = tf.constant([[0.6], [0.8], [0.0]])  # a unit vector: ‖∇f‖ = |s|

    def critic(x):
        return slope * tf.matmul(x, direction)

    two = losses.gradient_penalty(critic, real, fake).numpy()
    one = losses.gradient_penalty(critic, real, fake, one_sided=True).numpy()
    np.testing.assert_allclose(two, (slope - 1) ** 2, atol=1e-5)
    np.testing.assert_allclose(one, max(0.0, slope - 1) ** 2, atol=1e-5)


def test_discriminator_against_a_fixed_generator_reaches_the_optimum():
    """A small discriminator trained on samples of p_data (two modes) and p_g (one wide Gaussian) is
    D*(x) = p_data / (p_data + p_g) where the data lie; its value V(D) is within 0.01 nats of V(D*).
    With 2,000 steps, seeds 0, 1, 2 gave a weighted mean |D − D*| of 0.009, 0.011, 0.012 and a V gap of
    0.003 to 0.005 nats (1,000 steps: 0.026 and 0.013)."""
    import runpy

    import keras

    recipe = runpy.run_path(RECIPE)
    grid, density = recipe["GRID"], recipe["density"]
    disc = recipe["train_critic"]("cross_entropy", recipe["DATA_MIXTURE"], recipe["GENERATOR_GAUSSIAN"],
                                  steps=2000, seed=0)
    p_data, p_g = density(grid, recipe["DATA_MIXTURE"]), density(grid, recipe["GENERATOR_GAUSSIAN"])
    d_star = p_data / (p_data + p_g)
    d = keras.ops.convert_to_numpy(keras.ops.sigmoid(disc.predict(grid[:, None], verbose=0)))[:, 0]
    mass = (p_data + p_g) / 2
    assert np.sum(np.abs(d - d_star) * mass) / np.sum(mass) < 0.025
    dx = grid[1] - grid[0]
    value = lambda v: np.sum(p_data * np.log(v) + p_g * np.log1p(-v)) * dx  # noqa: E731
    assert value(d_star) - 0.01 < value(np.clip(d, 1e-7, 1 - 1e-7)) <= value(d_star) + 1e-6  # D* maximises V


def test_sample_critic_saves_and_reloads(tmp_path):
    import keras

    from gen_keras.models.critics import SampleCritic, mlp_critic

    critic = SampleCritic(mlp_critic(1, units=(8,)), objective="wasserstein_one_sided_gp", gp_weight=3.0, seed=4)
    x = np.linspace(-2, 2, 7, dtype=np.float32)[:, None]
    want = critic.predict(x, verbose=0)
    critic.save(tmp_path / "critic.keras")
    loaded = keras.saving.load_model(tmp_path / "critic.keras")
    assert (loaded.objective, loaded.gp_weight, loaded.seed) == ("wasserstein_one_sided_gp", 3.0, 4)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), want, atol=1e-6)
    with pytest.raises(ValueError, match="objective must be one of"):
        SampleCritic(mlp_critic(1), objective="hinge")


@pytest.mark.slow
def test_recipe_quick_run_shows_saturation_and_an_informative_critic(tmp_path):
    """--quick (600 steps): the minimax generator's gradient at the fakes is < 1% of the non-saturating one,
    the one-sided critic rises towards the data with a slope near 1 and estimates W₁ = 6 within a factor
    of two. Seen with these settings: 1.9e-4 vs 1.0; slope +1.28; W₁ estimate 7.81. On the ring (1,200 steps,
    seed 0) the covering setting already holds more modes than the collapsing one (seen: 4 vs 1); the bilinear
    game's simultaneous steps double the distance to (0, 0), the alternating ones keep it."""
    result = run_python([RECIPE, "--quick", "--out", str(tmp_path)], timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("generator_costs.png", "optimal_discriminator.png", "discriminator_vs_critic.png", "ring_modes.png",
                 "bilinear_game.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    slopes = metrics["slope_at_d_0.01"]
    assert slopes["minimax"] == pytest.approx(0.01, rel=1e-3) and slopes["non-saturating"] == pytest.approx(0.99, rel=1e-3)
    s = metrics["saturation"]
    assert s["mean_d_at_fakes"] < 1e-2
    assert s["minimax_gradient_at_fakes"] < 0.01 * s["non_saturating_gradient_at_fakes"]
    one_sided = s["wasserstein_one_sided_gp"]
    assert 0.7 < one_sided["mean_slope_at_fakes"] < 2.0
    assert 3.0 < one_sided["w1_estimate"] < 12.0
    ring = metrics["ring"]
    covers, collapses = (ring[name]["snapshots"][-1] for name in ("covers", "collapses"))
    assert ring["steps"] == 1200 and covers["step"] == collapses["step"] == 1200
    assert covers["modes_covered"] > collapses["modes_covered"] and collapses["modes_covered"] <= 2
    game = metrics["bilinear"]
    start = float(np.hypot(*game["start"]))
    assert game["simultaneous_final_distance"] > 2 * start and game["alternating_max_distance"] < 1.1 * start
    bad = run_python([RECIPE, "--steps", "0"], timeout=60)
    assert bad.returncode == 2 and "--steps" in bad.stderr and "Traceback" not in bad.stderr


def test_ring_of_gaussians_has_eight_modes_of_the_given_width():
    from gen_keras import points as toy

    points = toy.ring_of_gaussians(8000, modes=8, radius=2.0, std=0.02, seed=3)
    centres = toy.ring_centres(8, 2.0)
    assert points.shape == (8000, 2) and points.dtype == np.float32
    np.testing.assert_allclose(centres[2], [0.0, 2.0], atol=1e-12)  # mode j at angle 2πj/8
    offsets = points - centres[np.argmin(np.linalg.norm(points[:, None] - centres[None], axis=-1), axis=1)]
    assert offsets.std(axis=0) == pytest.approx([0.02, 0.02], rel=0.05)
    assert np.all(np.bincount(np.argmin(np.linalg.norm(points[:, None] - centres[None], axis=-1), axis=1)) > 850)


def test_mode_coverage_counts_modes_and_high_quality_samples_by_hand():
    """Samples within 3σ of a mode are high quality; a mode is covered when it holds at least min_share of all
    samples as high-quality ones. Points between modes, or a cloud of noise, cover nothing."""
    from gen_keras import metrics
    from gen_keras import points as toy

    centres, std = toy.ring_centres(8, 2.0), 0.02
    at = lambda j, n, dx=0.0: np.repeat(centres[j][None] + [dx, 0.0], n, axis=0)  # noqa: E731
    samples = np.concatenate([at(0, 50), at(1, 30, 2.9 * std), at(2, 5),  # 3 modes hit, one with 5% of samples
                              at(3, 10, 3.1 * std),  # just outside 3σ: not high quality
                              np.zeros((5, 2))])  # the ring's centre: far from every mode
    counted = metrics.mode_coverage(samples, centres, std, min_share=0.05)
    assert counted["modes_covered"] == 3 and counted["high_quality_share"] == pytest.approx(0.85)
    np.testing.assert_allclose(counted["mode_shares"], [0.5, 0.3, 0.05, 0, 0, 0, 0, 0])
    assert metrics.mode_coverage(samples, centres, std, min_share=0.06)["modes_covered"] == 2
    one_mode = metrics.mode_coverage(at(5, 100) + np.random.default_rng(0).normal(0, std, (100, 2)), centres, std)
    assert one_mode["modes_covered"] == 1 and one_mode["high_quality_share"] > 0.95  # collapse: good samples, one mode
    noise = np.random.default_rng(1).uniform(-2.8, 2.8, size=(2000, 2))
    counted = metrics.mode_coverage(noise, centres, std)
    assert counted["modes_covered"] == 0 and counted["high_quality_share"] < 0.01  # noise is neither
    with pytest.raises(ValueError, match="must share D"):
        metrics.mode_coverage(np.zeros((3, 3)), centres, std)
