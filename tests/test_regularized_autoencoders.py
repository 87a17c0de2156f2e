"""recipes/regularized_autoencoders.py end to end (--quick, the contractive penalty: its Jacobian norms, tangent
sensitivity, figures and exports served through the C API), a short sparse training that meets its target
activation, and bad flags."""

import json

import numpy as np
import pytest

from tests.conftest import assert_keras_files_reload, assert_signatures_describe_themselves, run_python, run_recipe_quick

RECIPE = "recipes/regularized_autoencoders.py"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_quick_contractive_run_measures_writes_and_exports(tmp_path):
    from gen_keras.serving.capi import SavedModelSession

    result = run_recipe_quick(RECIPE, tmp_path, "--penalty", "contractive", "--limit", "1024")
    assert "‖J_f(x)‖_F averaged over" in result.stdout
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert m["penalty"] == "contractive" and {"none", "contractive"} <= set(m) and "sparse" not in m
    assert (m["none"]["hidden_units"], m["none"]["decoder_units"]) == (256, 512) == \
        (m["contractive"]["hidden_units"], m["contractive"]["decoder_units"]) and m["contractive"]["plain"] == "none"
    c = m["contractive"]
    assert c["jacobian_norm"] > 0 and c["plain_jacobian_norm"] > 0
    assert c["jacobian_norm_ratio"] == pytest.approx(c["jacobian_norm"] / c["plain_jacobian_norm"])
    # along the data's tangent the reconstruction moves more than along a random direction, for both models
    for p in ("none", "contractive"):
        assert c["tangent_sensitivity"][p]["tangent"] > c["tangent_sensitivity"][p]["random"]
    for name in ("jacobian_norm_per_class.png", "tangent_vs_random.png", "reconstructions.png"):
        assert (tmp_path / "out" / name).read_bytes()[:8] == PNG, name
    assert len(assert_signatures_describe_themselves(tmp_path / "sm")) == 3  # the contractive network's parts
    root = tmp_path / "sm" / "regularized_autoencoders"
    x = np.random.default_rng(0).uniform(0, 1, (3, 28, 28, 1)).astype(np.float32)
    with SavedModelSession(root / "contractive_encoder" / "1") as enc, \
            SavedModelSession(root / "contractive_decoder" / "1") as dec, \
            SavedModelSession(root / "contractive_autoencoder" / "1") as ae:
        code = enc.run({"image": x})["code"]
        assert code.shape == (3, 256) and np.all((code > 0) & (code < 1))  # the contractive network's 256 units
        np.testing.assert_allclose(ae.run({"image": x})["image"], dec.run({"code": code})["image"], atol=1e-5)


def test_a_short_sparse_training_reaches_its_target_activation(fashion_train, fashion_test):
    """β Σ_j KL(ρ ‖ ρ̂_j) pulls the mean hidden activation onto ρ = 0.05 (the plain network sits near 0.5)
    within 8 epochs on 2,048 images: with β = 10, 0.0562, 0.0564 and 0.0566 for seeds 0, 1 and 2 (plain:
    0.50 with seed 0; β = 3 stays near 0.07 after so few steps)."""
    import keras

    from gen_keras.models.regularized import regularized_autoencoder
    from gen_keras.regularizers import sum_squared_error

    x, x_test = fashion_train.as_float(), fashion_test.as_float()
    means = {}
    for penalty in ("none", "sparse"):
        keras.utils.set_random_seed(0)
        parts = regularized_autoencoder(200, penalty=penalty, rho=0.05, beta=10.0)
        parts.autoencoder.compile(keras.optimizers.Adam(3e-3), sum_squared_error)
        parts.autoencoder.fit(x, x, batch_size=128, epochs=8, verbose=0)
        means[penalty] = float(parts.encoder.predict(x_test, verbose=0).mean())
    assert abs(means["sparse"] - 0.05) < 0.01 and means["none"] > 0.3


def test_each_penalty_gets_a_plain_network_of_its_shape():
    """--penalty all: one plain network for sparse and denoising (1,000 units, one-layer decoder), another for
    contractive (256 units, decoder 512 + 784); flags set one shape for all."""
    from tests.conftest import load_recipe

    recipe = load_recipe("regularized_autoencoders")
    shapes = recipe.network_shapes(recipe.parse(["--penalty", "all"]))
    assert shapes == {"sparse": (1000, 0), "denoising": (1000, 0), "contractive": (256, 512)}
    plain_of, shape_of = recipe.plain_partners(shapes)
    assert plain_of == {"sparse": "none", "denoising": "none", "contractive": "none_256_512"}
    assert list(shape_of) == ["none", "none_256_512", "sparse", "denoising", "contractive"]
    same = recipe.network_shapes(recipe.parse(["--penalty", "all", "--hidden-units", "300", "--decoder-units", "0"]))
    assert set(same.values()) == {(300, 0)} and set(recipe.plain_partners(same)[0].values()) == {"none"}
    assert recipe.plain_partners(recipe.network_shapes(recipe.parse(["--penalty", "none"]))) == \
        ({"none": "none"}, {"none": (1000, 0)})


@pytest.mark.slow
def test_quick_tied_weight_run_with_the_cross_entropy_exports_parts_that_reload(tmp_path):
    """--tied-weights --reconstruction-loss cross_entropy: the plain and the denoising network both decode with
    their encoder's W transposed, and every exported part, the served autoencoder included, reloads."""
    run_recipe_quick(RECIPE, tmp_path, "--penalty", "denoising", "--tied-weights", "--reconstruction-loss",
                     "cross_entropy", "--limit", "1024")
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert (m["tied_weights"], m["reconstruction_loss"]) == (True, "cross_entropy")
    assert 0 < m["none"]["test_mse"] < 0.2 and 0 < m["denoising"]["test_mse"] < 0.2
    loaded = assert_keras_files_reload(tmp_path / "sm")
    assert "regularized_autoencoders/denoising_autoencoder/1/denoising_autoencoder.keras" in loaded


@pytest.mark.parametrize("flags, message", [
    (["--rho", "1.5"], "--rho: must be between 0 and 1"),
    (["--rho", "0"], "--rho: must be positive"),
    (["--beta", "-1"], "--beta: must be zero or more"),
    (["--lambda", "-0.5"], "--lambda: must be zero or more"),
    (["--noise-level", "1.2"], "--noise-level: masking zeroes a pixel with probability"),
    (["--noise", "gaussian", "--noise-level", "3"], "--noise-level: σ must be at most 1"),
    (["--penalty", "l1"], "--penalty: invalid choice"),
    (["--tied-weights"], "--tied-weights: the tied decoder is"),
    (["--penalty", "sparse", "--reconstruction-loss", "l1"], "--reconstruction-loss: invalid choice"),
])
def test_bad_flags_exit_2_with_one_line(flags, message):
    result = run_python([RECIPE, *flags], timeout=60)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in result.stderr
