"""RealNVP from TFP bijectors: invertibility, the log-determinant against autodiff, every Jacobian of the
dequantization and logit maps counted, a density that integrates to 1, bits/dim, save/reload, the recipe
end to end and its exports through TensorFlow's C API loader."""

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from gen_keras import data, metrics
from gen_keras import points as toy
from gen_keras.models.flows import RealNVPFlow, bits_per_dim, image_flow, moons_flow
from tests.conftest import assert_signatures_describe_themselves, run_python, run_recipe_quick

RECIPE = "recipes/flows.py"


def randomized(flow, seed=0, scale=0.3):
    """Every weight drawn at random, so no coupling or ActNorm is the identity it starts as."""
    rng = np.random.default_rng(seed)
    for v in flow.weights:
        if "seed_generator" not in v.path:
            v.assign(rng.normal(scale=scale, size=v.shape).astype(np.float32))
    return flow


def small_image_flow(shape=(4, 4, 1), scales=1):
    return randomized(RealNVPFlow(shape, num_couplings=2, units=8, layers=1, scales=scales, pixel_levels=256))


def test_bits_per_dim_and_the_per_pixel_baseline_on_hand_cases():
    # 3 bits per dimension on 784 dimensions is 784 · 3 · ln 2 nats
    assert bits_per_dim(784 * 3 * math.log(2), 784) == pytest.approx(3.0)
    assert bits_per_dim(2 * math.log(2), 2) == pytest.approx(1.0)
    # one pixel, training levels {0, 255}, pseudo-count 1: P(0) = 2 / 258, so a test 0 costs log2(129) bits
    train = np.array([[0], [255]], np.uint8)
    assert metrics.per_pixel_bits_per_dim(train, np.array([[0]], np.uint8)) == pytest.approx(math.log2(129))
    assert metrics.per_pixel_bits_per_dim(train, np.array([[7]], np.uint8)) == pytest.approx(math.log2(258))
    # a level never seen anywhere costs log2(256 + N) bits: the baseline can be beaten but is never infinite
    assert metrics.per_pixel_bits_per_dim(np.zeros((10, 4), np.uint8), np.full((1, 4), 9, np.uint8)) == \
        pytest.approx(math.log2(266))


def test_flows_invert_to_1e_4_on_random_inputs():
    rng = np.random.default_rng(1)
    flow = randomized(moons_flow(num_couplings=8, units=32))
    x = rng.normal(size=(64, 2)).astype(np.float32) * 2
    np.testing.assert_allclose(flow.decode(flow.encode(x)).numpy(), x, atol=1e-4)
    z = rng.normal(size=(64, 2)).astype(np.float32)
    np.testing.assert_allclose(flow.encode(flow.decode(z)).numpy(), z, atol=1e-4)
    images = randomized(image_flow(units=8, layers=1, num_couplings=2), seed=2)
    x = rng.integers(0, 256, size=(4, 28, 28, 1)).astype(np.float32) / 255
    z = images.encode(x)
    assert z.shape == (4, 7, 7, 16) and np.std(z) > 0.1
    np.testing.assert_allclose(images.decode(z).numpy(), x, atol=1e-4)
    # the bijector on continuous v (dequantized values, not bin centres) inverts too
    v = rng.uniform(0, 256, size=(4, 28, 28, 1)).astype(np.float32)
    f = images.bijector()
    np.testing.assert_allclose(f.inverse(f.forward(v)).numpy(), v, atol=1e-4 * 256)


def autodiff_log_det(function, x):
    """log |det ∂f(x)/∂xᵀ| per example, from the full Jacobian tf.GradientTape builds."""
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = function(x)
    jacobian = tape.batch_jacobian(y, x)
    n = int(np.prod(x.shape[1:]))
    jacobian = tf.reshape(jacobian, [x.shape[0], -1, n])
    return np.linalg.slogdet(jacobian.numpy().astype(np.float64))[1]


def test_log_det_matches_the_autodiff_jacobian_on_2d_points():
    flow = randomized(moons_flow(num_couplings=8, units=16), seed=3)
    x = np.random.default_rng(3).normal(size=(16, 2)).astype(np.float32)
    f = flow.bijector()
    expected = autodiff_log_det(f.forward, x)
    assert np.abs(expected).max() > 0.5  # a coupling stack that changes volume, not the identity
    np.testing.assert_allclose(f.forward_log_det_jacobian(x, event_ndims=1).numpy(), expected, atol=1e-3)
    # the distribution's log p(x) is log N(f(x); 0, I) + log |det|
    z = f.forward(x).numpy()
    np.testing.assert_allclose(flow.log_prob(x).numpy(),
                               -0.5 * (z ** 2).sum(1) - math.log(2 * math.pi) + expected, atol=1e-3)


def test_log_det_matches_autodiff_on_a_4x4_image_with_dequantization_and_logit_counted():
    """On a 4×4 image the whole map v → z (÷256, α + (1 − 2α)·, logit, squeeze, checkerboard couplings,
    ActNorm) has a 16 × 16 Jacobian; log p(v) must be log N(f(v)) + its log |det|."""
    flow = small_image_flow()
    v = np.random.default_rng(4).uniform(0, 256, size=(6, 4, 4, 1)).astype(np.float32)
    f = flow.bijector()
    expected = autodiff_log_det(f.forward, v)
    np.testing.assert_allclose(f.forward_log_det_jacobian(v, event_ndims=3).numpy(), expected, rtol=1e-4, atol=2e-3)
    z = f.forward(v).numpy().reshape(len(v), -1)
    log_p = flow.distribution().log_prob(v).numpy()
    np.testing.assert_allclose(log_p, -0.5 * (z ** 2).sum(1) - 8 * math.log(2 * math.pi) + expected, atol=2e-3)
    # two scales on 4×4 (checkerboard, then channel masks on 1×1×16) also match
    two = small_image_flow(scales=2)
    np.testing.assert_allclose(two.bijector().forward_log_det_jacobian(v, event_ndims=3).numpy(),
                               autodiff_log_det(two.bijector().forward, v), rtol=1e-4, atol=2e-3)


def test_identity_couplings_give_the_hand_computed_dequantized_logit_density():
    """A fresh flow's couplings and ActNorms are the identity, so log p(v) is the logit map's change of
    variables alone: Σ_i log N(h_i) + log|dh_i/dv_i|, h = logit(p), p = α + (1 − 2α) v / 256,
    dh/dv = (1 − 2α) / (256 p (1 − p)). Leaving out the 1/256 would be off by 16 ln 256 nats."""
    flow = RealNVPFlow((4, 4, 1), num_couplings=2, units=8, layers=1, scales=1, pixel_levels=256, alpha=0.05)
    k = np.random.default_rng(5).integers(0, 256, size=(3, 4, 4, 1))
    u = np.random.default_rng(6).random(size=k.shape).astype(np.float32)
    v = (k + u).astype(np.float64)
    p = 0.05 + 0.9 * v / 256
    h = np.log(p / (1 - p))
    expected = (-0.5 * h ** 2 - 0.5 * math.log(2 * math.pi) + np.log(0.9 / (256 * p * (1 - p)))).sum((1, 2, 3))
    got = flow.log_prob((k / 255).astype(np.float32), noise=u).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)
    # the bin centre (no noise given) is v = k + ½
    p = 0.05 + 0.9 * (k + 0.5) / 256
    centre = (-0.5 * np.log(p / (1 - p)) ** 2 - 0.5 * math.log(2 * math.pi) + np.log(0.9 / (256 * p * (1 - p))))
    np.testing.assert_allclose(flow.log_prob((k / 255).astype(np.float32)).numpy(), centre.sum((1, 2, 3)), atol=1e-3)
    assert flow.loss_units == "bits/dim"


@pytest.fixture(scope="module")
def trained_moons():
    """keras-io's two-moons RealNVP, trained 600 steps (batch 256, Adam 1e-3 decayed along a cosine), seed 0."""
    keras.utils.set_random_seed(0)
    points = toy.standardized(toy.two_moons(3000, 0.05, seed=0))
    train, held_out = points[:-600], points[-600:]
    flow = moons_flow()
    steps = 600
    flow.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, steps)))
    stream = tf.data.Dataset.from_tensor_slices(train).shuffle(2400, seed=0).repeat().batch(256)
    flow.fit(stream, epochs=1, steps_per_epoch=steps, verbose=0)
    return flow, held_out


def test_image_flow_keeps_float32_under_mixed_precision():
    """`--mixed-precision` sets the global policy to mixed_bfloat16 on CPU: the flow (TFP bijectors, log-dets
    over 784 dimensions) keeps computing in float32 and trains."""
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        flow = image_flow((28, 28, 1), 2, 8, seed=0)
        x = np.random.default_rng(0).random((32, 28, 28, 1)).astype("float32")
        flow.initialize(x)
        flow.compile(optimizer=keras.optimizers.Adam(1e-3))
        loss = flow.fit(x, batch_size=16, epochs=1, verbose=0).history["loss"][0]
        assert np.isfinite(loss) and flow.log_prob(x[:2]).dtype == tf.float32
        assert {layer.compute_dtype for net in flow.nets for layer in net.hidden} == {"float32"}
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_two_moons_data_are_standardised_and_shaped_like_scikit_learns():
    points = toy.two_moons(3000, 0.05, seed=0)
    assert points.shape == (3000, 2) and points.dtype == np.float32
    # make_moons: x ∈ [−1, 2], y ∈ [−0.5, 1] before noise; half the points in each moon
    assert -1.3 < points[:, 0].min() < -0.8 and 1.8 < points[:, 0].max() < 2.3
    assert (points[:, 1] > 0.25).mean() == pytest.approx(0.5, abs=0.1)
    s = toy.standardized(points)
    np.testing.assert_allclose(s.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(s.std(0), 1, atol=1e-5)


@pytest.mark.slow
def test_trained_moons_flow_beats_a_gaussian_and_its_density_integrates_to_one(trained_moons):
    flow, held_out = trained_moons
    nll = float(-np.mean(flow.log_prob(held_out)))
    gaussian_nll = math.log(2 * math.pi) + 1 + 0.5 * np.linalg.slogdet(np.cov(held_out.T))[1]  # fitted N(μ, Σ)
    print(f"600 steps: held-out NLL {nll:.3f}, fitted Gaussian {gaussian_nll:.3f}")
    assert nll < 1.8 < gaussian_nll
    xs = np.linspace(-4, 4, 321, dtype=np.float32)
    grid = np.stack(np.meshgrid(xs, xs), -1).reshape(-1, 2)
    integral = np.exp(flow.log_prob(grid).numpy()).sum() * (xs[1] - xs[0]) ** 2
    assert integral == pytest.approx(1.0, abs=0.02)
    z = flow.encode(held_out).numpy()  # the data mapped to z look like N(0, I)
    np.testing.assert_allclose(z.mean(0), 0, atol=0.25)
    np.testing.assert_allclose(z.std(0), 1, atol=0.25)
    a, b = flow.sample(5, seed=3, temperature=0.7), flow.sample(5, seed=3, temperature=0.7)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.slow
def test_saved_and_reloaded_flows_give_the_same_log_prob(trained_moons, tmp_path):
    flow, held_out = trained_moons
    flow.save(tmp_path / "moons.keras")
    reloaded = keras.saving.load_model(tmp_path / "moons.keras")
    assert type(reloaded) is RealNVPFlow and reloaded.event_shape == (2,)
    np.testing.assert_allclose(reloaded.log_prob(held_out).numpy(), flow.log_prob(held_out).numpy(), atol=1e-5)
    images = small_image_flow((8, 8, 1), scales=2)
    images.save(tmp_path / "images.keras")
    again = keras.saving.load_model(tmp_path / "images.keras")
    x = np.random.default_rng(7).integers(0, 256, size=(3, 8, 8, 1)).astype(np.float32) / 255
    np.testing.assert_allclose(again.log_prob(x).numpy(), images.log_prob(x).numpy(), rtol=1e-6, atol=1e-3)
    assert len(again.trainable_weights) == len(images.trainable_weights) > 0


@pytest.fixture(scope="module")
def quick_images(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("flows_quick")
    result = run_recipe_quick(RECIPE, tmp, "--data", "fashion_mnist", "--limit", "1024", "--epochs", "2",
                              "--eval-every", "14")
    return tmp, result


@pytest.mark.slow
def test_quick_image_run_writes_the_bits_per_dim_curve_figures_and_metrics(quick_images):
    tmp, result = quick_images
    m = json.loads((tmp / "out" / "metrics.json").read_text())
    curve = m["validation_bits_per_dim_per_step"]
    # 939 training images // 64 = 14 steps an epoch, two epochs
    assert curve["steps"] == [0, 14, 28] and m["steps"] == 28 and m["epochs"] == 2
    assert curve["values"][-1] < curve["values"][0] - 0.3  # held-out bits/dim fall with training
    assert 3.0 < m["test_bits_per_dim"] < curve["values"][0] and 4.0 < m["per_pixel_baseline_bits_per_dim"] < 8
    for figure in ("bits_per_dim.png", "samples.png", "interpolation.png", "attribute.png"):
        assert (tmp / "out" / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "bits/dim" in result.stdout and "per-pixel baseline" in result.stdout
    print(f"quick run: {m['test_bits_per_dim']:.3f} bits/dim, curve {curve}, baseline "
          f"{m['per_pixel_baseline_bits_per_dim']:.3f}")


@pytest.mark.slow
def test_image_export_serves_log_prob_sample_and_encode_through_the_c_api(quick_images):
    """The C API loader (as TF Serving) runs the three signatures; log_prob equals the reloaded .keras
    model's; bad requests (non-finite or out-of-range pixels, temperature ≤ 0) are clear errors."""
    from gen_keras.errors import CApiError
    from gen_keras.serving.capi import SavedModelSession

    tmp, _ = quick_images
    version = tmp / "sm" / "flows" / "fashion_mnist" / "1"
    x = data.load_images("fashion_mnist", "test", 4).as_float()
    flow = keras.saving.load_model(version / "fashion_mnist.keras")
    with SavedModelSession(version) as session:
        assert {"log_prob", "sample", "encode", "serving_default"} <= set(session.signatures)
        served = session.run({"x": x}, "log_prob")["log_prob"]
        assert served.dtype == np.float32 and served.shape == (4,)
        np.testing.assert_allclose(served, flow.log_prob(x).numpy(), rtol=1e-5, atol=1e-2)
        z = session.run({"x": x}, "encode")["z"]
        np.testing.assert_allclose(flow.decode(z).numpy(), x, atol=1e-4)
        request = {"num_samples": np.int32(3), "seed": np.int32(5), "temperature": np.float32(0.7)}
        samples = session.run(request, "sample")["x"]
        assert samples.shape == (3, 28, 28, 1) and 0 <= samples.min() and samples.max() <= 1
        np.testing.assert_array_equal(samples, session.run(request, "sample")["x"])
        bad = x.copy()
        bad[0, 0, 0, 0] = np.nan
        with pytest.raises(CApiError, match="x must be finite"):
            session.run({"x": bad}, "log_prob")
        with pytest.raises(CApiError, match=r"pixels must be in \[0, 1\]"):
            session.run({"x": x * 255}, "log_prob")
        with pytest.raises(CApiError, match=r"pixels must be in \[0, 1\]"):
            session.run({"x": x - 0.5}, "encode")
        for t in (0.0, -1.0):
            with pytest.raises(CApiError, match="temperature must be positive"):
                session.run({**request, "temperature": np.float32(t)}, "sample")
        # a request may leave out any knob of `sample`: 16 samples, seed 0, temperature 1
        assert session.run({}, "sample")["x"].shape == (16, 28, 28, 1)
        np.testing.assert_array_equal(session.run({"num_samples": np.int32(3), "seed": np.int32(5)}, "sample")["x"],
                                      session.run({**request, "temperature": np.float32(1.0)}, "sample")["x"])
        with pytest.raises(CApiError, match=r"input 'x' must have shape \[-1, 28, 28, 1\]"):
            session.run({"x": x[:, :, :27]}, "encode")
    assert_signatures_describe_themselves(tmp / "sm")


@pytest.mark.slow
def test_image_export_log_prob_rescored_from_the_export_alone(quick_images):
    from gen_keras import evaluate

    tmp, _ = quick_images
    metrics = json.loads((tmp / "out" / "metrics.json").read_text())
    version = next((tmp / "sm").glob("flows/*/1"))
    (row,) = evaluate.evaluate(version, only="log_prob")["rows"]
    assert row["num_images"] == metrics["test_images"] and row["prepared"] == "bin_centres"
    assert row["nll_nats"] == pytest.approx(metrics["test_nll_nats_at_bin_centres"], rel=1e-3)


@pytest.mark.slow
def test_moons_export_is_the_first_seeds_flow_rescored_on_the_recorded_held_out_points(tmp_path):
    from gen_keras import evaluate

    run_recipe_quick(RECIPE, tmp_path, "--data", "moons", "--seeds", "2")
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    first = metrics["held_out_nll_per_seed"][0]
    assert metrics["exported_seed"] == first["seed"] == 0 and len(metrics["held_out_nll_per_seed"]) == 2
    (row,) = evaluate.evaluate(tmp_path / "sm" / "flows" / "moons", only="log_prob")["rows"]
    assert row["prepared"] == "two_moons" and row["num_points"] == metrics["held_out_points"] == 600
    assert row["nll_nats"] == pytest.approx(first["held_out_nll"], rel=1e-4)
    assert row["comparable"] and evaluate.check(row, evaluate.DEFAULT_TOLERANCE) == []


def test_unknown_data_and_dataset_flags_are_refused_with_exit_status_2():
    for flags, message in ((["--data", "cifar10"], "invalid choice: 'cifar10'"),
                           (["--dataset", "mnist"], "picks its data with --data")):
        result = run_python([RECIPE, *flags], timeout=60)
        assert result.returncode == 2 and message in result.stderr
        assert "Traceback" not in result.stderr
