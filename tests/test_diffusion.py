"""Diffusion: the schedule, the forward process's closed form against the iterated one-step noise, DDIM's
step (deterministic at η = 0, exact with the true noise), the loss falling, save/reload, the exports through
the C API (a seeded sampler repeats; bad requests are clear errors), and a quick run of the recipe."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from gen_keras.models.diffusion import (Diffusion, Sampler, alpha_bars, build_diffusion, chain_seed, loss_weights,
                                        noise_schedule, noise_seed, sampling_timesteps)
from tests.conftest import assert_signatures_describe_themselves, load_recipe, run_recipe_quick

RECIPE = "recipes/diffusion.py"
TINY = dict(widths=(8, 16), blocks=1, attention=False)


@pytest.fixture(scope="module")
def tiny_model():
    return build_diffusion(**TINY, timesteps=100, seed=3)


@pytest.mark.parametrize("schedule", ["cosine", "linear"])
@pytest.mark.parametrize("steps", [10, 1000])
def test_alpha_bar_is_monotone_in_the_unit_interval(schedule, steps):
    betas = noise_schedule(schedule, steps)
    a = alpha_bars(betas)
    assert betas.shape == (steps,) and np.all((betas > 0) & (betas < 1))
    assert np.all((a > 0) & (a < 1)) and np.all(np.diff(a) < 0)
    assert a[0] > 0.95 and a[-1] < 0.01  # starts near the data, ends near pure noise


def test_unknown_schedule_and_bad_steps_are_refused():
    with pytest.raises(ValueError, match="schedule must be one of"):
        noise_schedule("quadratic", 10)
    with pytest.raises(ValueError, match="at least 1"):
        noise_schedule("cosine", 0)


def test_forward_closed_form_matches_iterating_the_one_step_noise(tiny_model):
    """x_t = √(1 − β_t) x_{t−1} + √β_t ε iterated t times has mean √ᾱ_t x_0 and variance 1 − ᾱ_t: exactly (the
    recursion on the two moments) and in 20,000 draws; `diffuse` is the closed form with the given ε."""
    betas = tiny_model.betas.numpy().astype(np.float64)
    a = tiny_model.alpha_bars.numpy()
    mean_coefficient, variance = 1.0, 0.0
    for t, beta in enumerate(betas):
        mean_coefficient, variance = np.sqrt(1 - beta) * mean_coefficient, (1 - beta) * variance + beta
        assert mean_coefficient == pytest.approx(np.sqrt(a[t]), rel=1e-5)
        assert variance == pytest.approx(1 - a[t], rel=1e-4, abs=1e-6)
    rng = np.random.default_rng(0)
    x0 = np.array([-0.8, 0.1, 0.9])
    t = 40
    x = np.tile(x0, (20_000, 1))
    for beta in betas[:t + 1]:
        x = np.sqrt(1 - beta) * x + np.sqrt(beta) * rng.standard_normal(x.shape)
    np.testing.assert_allclose(x.mean(0), np.sqrt(a[t]) * x0, atol=0.03)
    np.testing.assert_allclose(x.var(0), 1 - a[t], rtol=0.05)
    noise = rng.standard_normal((2, 28, 28, 1)).astype(np.float32)
    clean = rng.uniform(-1, 1, (2, 28, 28, 1)).astype(np.float32)
    np.testing.assert_allclose(tiny_model.diffuse(clean, tf.constant([t, t]), noise).numpy(),
                               np.sqrt(a[t]) * clean + np.sqrt(1 - a[t]) * noise, rtol=1e-5, atol=1e-5)


def test_sampling_timesteps_are_evenly_spaced_and_end_at_T():
    assert sampling_timesteps(4, 100).numpy().tolist() == [24, 49, 74, 99]
    assert sampling_timesteps(1, 100).numpy().tolist() == [99]
    assert sampling_timesteps(100, 100).numpy().tolist() == list(range(100))


def test_ddim_step_with_the_true_noise_lands_on_the_forward_process(tiny_model):
    """Given the ε that made x_t, a DDIM step (η = 0) to any earlier s gives exactly q's x_s with that ε, and
    the step to the end gives x_0: the update inverts the closed form."""
    rng = np.random.default_rng(1)
    x0 = rng.uniform(-1, 1, (3, 28, 28, 1)).astype(np.float32)
    eps = rng.standard_normal(x0.shape).astype(np.float32)
    x_t = tiny_model.diffuse(x0, tf.fill([3], 80), eps)
    x_s = tiny_model.ddim_step(x_t, tf.constant(80), tf.constant(30), eps)
    np.testing.assert_allclose(x_s.numpy(), tiny_model.diffuse(x0, tf.fill([3], 30), eps).numpy(), atol=1e-4)
    np.testing.assert_allclose(tiny_model.ddim_step(x_t, tf.constant(80), tf.constant(-1), eps).numpy(), x0,
                               atol=1e-4)


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_step_to_the_end_with_the_true_noise_returns_x0_exactly(tiny_model, eta):
    """t_prev = −1 (ᾱ = 1, so σ = 0 whatever η): with the ε that made x_t the step returns x_0, from a
    lightly noised x_t (t = 0) to almost pure noise (t = T − 1)."""
    rng = np.random.default_rng(4)
    x0 = rng.uniform(-1, 1, (2, 28, 28, 1)).astype(np.float32)
    eps = rng.standard_normal(x0.shape).astype(np.float32)
    z = rng.standard_normal(x0.shape).astype(np.float32)
    for t in (0, 37, 99):
        x_t = tiny_model.diffuse(x0, tf.fill([2], t), eps)
        x_prev = tiny_model.ddim_step(x_t, tf.constant(t), tf.constant(-1), eps, eta, z)
        np.testing.assert_allclose(x_prev.numpy(), x0, atol=1e-5 if t < 99 else 1e-3, err_msg=f"t = {t}")


def test_ddim_step_clips_x0_and_moves_along_the_line_through_the_clipped_x0(tiny_model):
    """An ε̂ whose x̂_0 leaves [−1, 1]: the step uses the clipped x̂_0 and the noise it implies,
    ε̃ = (x_t − √ᾱ_t x̂_0)/√(1 − ᾱ_t), not the network's ε̂."""
    rng = np.random.default_rng(2)
    x_t = rng.standard_normal((2, 28, 28, 1)).astype(np.float32)
    eps = (-3.0 * x_t).astype(np.float32)  # x̂_0 = (x_t + 3√(1 − ᾱ) x_t)/√ᾱ: far outside [−1, 1]
    a_t, a_s = tiny_model.alpha_bars.numpy()[[60, 20]]
    x0 = np.clip((x_t - np.sqrt(1 - a_t) * eps) / np.sqrt(a_t), -1, 1)
    assert np.mean(np.abs(x0) == 1) > 0.5
    implied = (x_t - np.sqrt(a_t) * x0) / np.sqrt(1 - a_t)
    expected = np.sqrt(a_s) * x0 + np.sqrt(1 - a_s) * implied
    x_s = tiny_model.ddim_step(tf.constant(x_t), tf.constant(60), tf.constant(20), tf.constant(eps))
    np.testing.assert_allclose(x_s.numpy(), expected, atol=1e-4)
    assert np.abs(expected - (np.sqrt(a_s) * x0 + np.sqrt(1 - a_s) * eps)).max() > 0.1


def test_ddim_with_eta_zero_is_deterministic_and_eta_one_is_not(tiny_model):
    x_T = tiny_model.initial_noise(3, 4)
    step = tiny_model.ddim_step(x_T, tf.constant(99), tf.constant(49), tiny_model.predict_noise(x_T, 99))
    again = tiny_model.ddim_step(x_T, tf.constant(99), tf.constant(49), tiny_model.predict_noise(x_T, 99))
    np.testing.assert_array_equal(step.numpy(), again.numpy())
    a = tiny_model.denoise_from(x_T, 5, eta=0.0).numpy()
    np.testing.assert_array_equal(a, tiny_model.denoise_from(x_T, 5, eta=0.0).numpy())
    c = tiny_model.denoise_from(x_T, 5, eta=1.0).numpy()  # σ z added at each step but the last
    assert not np.allclose(a, c)
    assert a.shape == (3, 28, 28, 1) and a.min() >= 0.0 and a.max() <= 1.0
    images, snapshots = tiny_model.denoise_from(x_T, 6, snapshots=3)
    assert snapshots.shape == (3, 3, 28, 28, 1)
    np.testing.assert_allclose(np.clip(snapshots[-1].numpy(), 0, 1), images.numpy(), atol=1e-6)


def test_a_stochastic_sampler_repeats_for_the_same_x_T_and_draws_anew_for_another(tiny_model):
    """With η = 1 the Sampler seeds the steps' noise from x_T: the same batch twice gives the same images; a
    batch whose first image differs gives its other images other noise."""
    sampler = Sampler(tiny_model, 5, eta=1.0)
    x_T = tiny_model.initial_noise(3, 7).numpy()
    np.testing.assert_array_equal(sampler(x_T).numpy(), sampler(x_T).numpy())
    other = x_T.copy()
    other[0] = tiny_model.initial_noise(1, 8).numpy()[0]
    assert np.abs(sampler(other).numpy()[1:] - sampler(x_T).numpy()[1:]).max() > 1e-3


def test_every_sampler_draws_the_same_chain_from_the_same_x_T(tiny_model):
    """One seeding rule: x_T = initial_noise(n, seed), and the steps' z seeded from x_T, so `sample`,
    `denoise_from` and `Sampler` give the same images for the same start, with η = 1 too."""
    x_T = tiny_model.initial_noise(3, 5)
    for eta in (0.0, 1.0):
        sampled = tf.function(tiny_model.sample)(tf.constant(3), tf.constant(5), tf.constant(4), tf.constant(eta))
        np.testing.assert_array_equal(sampled.numpy(), Sampler(tiny_model, 4, eta=eta)(x_T).numpy())
        np.testing.assert_allclose(tiny_model.denoise_from(x_T, 4, eta).numpy(), sampled.numpy(), atol=1e-4)
    z_first = tf.random.stateless_normal(x_T.shape, noise_seed(chain_seed(x_T), "step", 0))
    z_other = tf.random.stateless_normal(x_T.shape, noise_seed(chain_seed(x_T[1:]), "step", 0))
    assert np.abs(z_first.numpy() - z_other.numpy()).max() > 1.0  # another start, other noise


def test_min_snr_weights_cap_the_x0_weight_at_gamma():
    """ε loss weight × SNR = v loss weight × (SNR + 1) = min(SNR, γ): the implied x_0 error's weight."""
    a = alpha_bars(noise_schedule("cosine", 1000))
    snr = a / (1 - a)
    eps, v = loss_weights(a, "epsilon", 5.0), loss_weights(a, "velocity", 5.0)
    np.testing.assert_allclose(eps * snr, np.minimum(snr, 5.0), rtol=1e-9)
    np.testing.assert_allclose(v * (snr + 1), np.minimum(snr, 5.0), rtol=1e-9)
    assert np.all((eps > 0) & (eps <= 1)) and eps[0] < 0.01 and eps[-1] == 1.0  # clean steps weigh little
    assert np.all(loss_weights(a, "velocity") == 1.0)
    with pytest.raises(ValueError, match="positive"):
        loss_weights(a, "epsilon", 0.0)
    with pytest.raises(ValueError, match="prediction must be one of"):
        build_diffusion(**TINY, timesteps=10, prediction="x0")
    config = build_diffusion(**TINY, timesteps=10, prediction="velocity", min_snr_gamma=5.0).get_config()
    rebuilt = Diffusion.from_config(config)
    assert (rebuilt.prediction, rebuilt.min_snr_gamma) == ("velocity", 5.0)


@pytest.mark.parametrize("options, factor", [({}, 0.6), ({"prediction": "velocity", "min_snr_gamma": 5.0}, 0.8)],
                         ids=["epsilon", "velocity_min_snr"])
@pytest.mark.slow
def test_the_loss_falls_on_a_tiny_batch_and_the_moving_average_follows(fashion_train, options, factor):
    """40 steps on 64 images: the held-out-noise loss ‖ε − ε̂‖² (fixed t and ε, moving-average weights) falls
    below `factor` of its start: 1.0 for ε (the last layer starts at zero, ε̂ = 0); for a
    v-predicting network ε̂ = √(1 − ᾱ_t) x_t + √ᾱ_t v̂ starts at 0.50 (measured 0.34 after, 0.68 ×). The
    average differs from the weights."""
    model = build_diffusion(**TINY, timesteps=100, ema_decay=0.9, seed=0, **options)
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    x = fashion_train.head(64).as_float()
    before = model.evaluate(x, batch_size=64, verbose=0)
    model.fit(tf.data.Dataset.from_tensor_slices(x).batch(32).repeat(), steps_per_epoch=40, epochs=1, verbose=0)
    after = model.evaluate(x, batch_size=64, verbose=0)
    if not options:
        assert before == pytest.approx(1.0, abs=0.05)
    assert after < factor * before, (before, after)
    assert int(model.generator_steps) == 40
    weights, averaged = model.network.get_weights(), model.ema_network.get_weights()
    assert any(not np.allclose(w, e) for w, e in zip(weights, averaged))


def test_saved_and_reloaded_model_samples_the_same(tiny_model, tmp_path):
    path = tmp_path / "diffusion.keras"
    tiny_model.save(path)
    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded, Diffusion) and reloaded.timesteps == 100 and reloaded.schedule == "cosine"
    x_T = tiny_model.initial_noise(2, 0)
    np.testing.assert_allclose(Sampler(reloaded, 4)(x_T).numpy(), Sampler(tiny_model, 4)(x_T).numpy(), atol=1e-5)


@pytest.fixture(scope="module")
def exported(tiny_model, tmp_path_factory):
    return load_recipe("diffusion").export(tiny_model, tmp_path_factory.mktemp("diffusion_sm"))


@pytest.mark.slow
def test_exported_sample_and_denoise_through_the_c_api(tiny_model, exported):
    """`sample` with a fixed seed returns the same images twice (another seed others); `denoise` equals the
    model's ε̂; warm-up asks for one image with 2 steps; bad requests are clear errors and change nothing."""
    from gen_keras.errors import CApiError
    from gen_keras.serving.capi import SavedModelSession, warmup_requests
    from gen_keras.serving.export import read_export_metadata

    assert [(r.signature_name, sorted(r.inputs)) for r in warmup_requests(exported)] == [
        ("sample", ["eta", "num_samples", "seed", "steps"]), ("denoise", ["t", "x_t"])]
    assert warmup_requests(exported)[0].inputs["steps"] == 2
    import tensorflow as tf

    # the moving average's weights alone: the raw network's are not what sampling reads
    stored = sum(int(np.prod(shape)) for name, shape in tf.train.list_variables(str(exported / "variables" / "variables"))
                 if name.endswith("VARIABLE_VALUE"))
    assert stored == tiny_model.ema_network.count_params()
    metadata = read_export_metadata(exported)
    assert metadata["metadata"]["timesteps"] == 100 and len(metadata["metadata"]["alpha_bars"]) == 100
    request = {"num_samples": np.int32(3), "seed": np.int32(7), "steps": np.int32(5)}
    x_t = np.random.default_rng(0).standard_normal((2, 28, 28, 1)).astype(np.float32)
    t = np.array([10, 90], np.int32)
    with SavedModelSession(exported) as session:
        first = session.run(request, "sample")["image"]
        assert first.shape == (3, 28, 28, 1) and first.dtype == np.float32
        assert 0.0 <= first.min() and first.max() <= 1.0
        np.testing.assert_allclose(first, tiny_model.sample(3, 7, 5).numpy(), atol=1e-4)
        served = session.run({"x_t": x_t, "t": t}, "denoise")["epsilon"]
        np.testing.assert_allclose(served, tiny_model.predict_noise(x_t, t).numpy(), atol=1e-5)
        bad = [({**request, "steps": np.int32(0)}, "sample", "steps must be at least 1"),
               ({**request, "steps": np.int32(101)}, "sample", "steps must be at most T = 100"),
               ({**request, "num_samples": np.int32(0)}, "sample", "num_samples must be at least 1"),
               ({**request, "num_samples": np.int32(10**6)}, "sample", "num_samples must be at most 256"),
               ({**request, "eta": np.float32(1.5)}, "sample", r"eta must lie in \[0, 1\]"),
               ({"x_t": x_t[:, :27], "t": t}, "denoise", r"input 'x_t' must have shape \[-1, 28, 28, 1\]"),
               ({"x_t": x_t, "t": t[:1]}, "denoise", "one t per image"),
               ({"x_t": x_t, "t": np.array([10, 100], np.int32)}, "denoise", r"step index in 0 … 99"),
               ({"x_t": np.full_like(x_t, np.nan), "t": t}, "denoise", "x_t must be finite")]
        for inputs, signature, message in bad:
            with pytest.raises(CApiError, match=message):
                session.run(inputs, signature)
        np.testing.assert_array_equal(session.run(request, "sample")["image"], first)
        assert not np.array_equal(session.run({**request, "seed": np.int32(8)}, "sample")["image"], first)
        # every knob of `sample` has a default: 16 images, seed 0, min(50, T) steps, η = 0
        assert {k: v.tolist() for k, v in session.signatures["sample"].defaults.items()} == {
            "num_samples": 16, "seed": 0, "steps": 50, "eta": 0.0}
        np.testing.assert_array_equal(session.run({**request, "eta": np.float32(0.0)}, "sample")["image"], first)
        stochastic = session.run({**request, "eta": np.float32(1.0)}, "sample")["image"]
        assert not np.array_equal(stochastic, first)
        np.testing.assert_allclose(stochastic, tiny_model.sample(3, 7, 5, 1.0).numpy(), atol=1e-4)
        np.testing.assert_array_equal(session.run({"num_samples": np.int32(3), "steps": np.int32(5)})["image"],
                                      session.run({**request, "seed": np.int32(0)}, "sample")["image"])
    assert_signatures_describe_themselves(exported)


@pytest.mark.slow
def test_quick_run_writes_figures_metrics_and_export(tmp_path):
    run_recipe_quick(RECIPE, tmp_path, "--limit", "640", "--timesteps", "100", "--fid-samples", "150",
                     "--sampling-steps", "4", "--fid-steps", "10", "--ddpm-samples", "1", "--fid-every", "1", timeout=600)
    out = tmp_path / "out"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["sampling_steps"] == 10 and sorted(metrics["sweep"], key=int) == ["4", "10"]
    assert metrics["sweep"]["10"]["fid"] == pytest.approx(metrics["fid"], rel=1e-6)
    steps = metrics["train_images"] // metrics["batch_size"]
    assert metrics["train_steps"] == steps and metrics["generator_steps_per_epoch"] == [steps]
    assert len(metrics["fid_per_epoch"]) == 1 and np.isfinite(metrics["fid_per_epoch"][0])
    assert all(v["seconds_per_image"] > 0 for v in metrics["sweep"].values())
    for name in ("forward_process.png", "reverse_process.png", "samples.png", "samples_ddpm.png",
                 "loss_per_step.png", "quality_vs_sampling_steps.png", "fid_vs_training_steps.png",
                 "diffusion.keras"):
        assert (out / name).is_file(), name
    assert (tmp_path / "sm" / "diffusion" / "diffusion" / "1" / "saved_model.pb").is_file()
    # The served `sample` signature, re-scored from the export alone, draws the very samples scored above.
    from gen_keras import evaluate

    (row,) = evaluate.evaluate(tmp_path / "sm" / "diffusion" / "diffusion" / "1")["rows"]
    assert row["kind"] == "sample" and row["num_samples"] == metrics["num_samples"] == 150
    assert row["fid"] == pytest.approx(metrics["fid"], rel=0.05) and evaluate.check(row, 0.05) == []


@pytest.mark.parametrize("flags, message", [
    (["--sampling-steps", "0"], "at least 1"),
    (["--sampling-steps", "2000"], "2000 sampling steps is more than --timesteps 1000"),
    (["--timesteps", "20"], "25 sampling steps is more than --timesteps 20"),
    (["--widths", "16"], "at least two resolutions"),
    (["--ema-decay", "1.5"], "between 0 and 1"),
    (["--schedule", "quadratic"], "invalid choice"),
    (["--eta", "1.5"], "--eta must lie in [0, 1]"),
    (["--prediction", "x0"], "invalid choice"),
    (["--min-snr-gamma", "-1"], "--min-snr-gamma"),
])
def test_bad_flags_exit_2(flags, message, capsys):
    recipe = load_recipe("diffusion")
    with pytest.raises(SystemExit) as stop:
        recipe.parse(flags)
    assert stop.value.code == 2 and message in capsys.readouterr().err

