"""PCA vs autoencoders: the linear autoencoder learns PCA, the linear algebra and k-NN by hand, the centring
layer saved and loaded, and recipes/pca_vs_autoencoder.py end to end (--quick), its exports and bad flags."""

import contextlib
import io
import json
import os
import runpy

import numpy as np
import pytest

from tests.conftest import ROOT, assert_keras_files_reload, assert_signatures_describe_themselves, run_python

RECIPE = "recipes/pca_vs_autoencoder.py"
PNG = b"\x89PNG\r\n\x1a\n"
FIGURES = ("linear_vs_pca.png", "codes_pca_vs_deep.png", "reconstructions.png", "deep_loss_curves.png",
           "grids_ae_vs_vae.png", "samples_ae_vs_vae.png")
PARTS = {"linear_encoder": ("image", "code"), "linear_decoder": ("code", "image"),
         "deep_encoder": ("image", "code"), "deep_decoder": ("code", "image")}


def test_linear_autoencoder_learns_the_pca_subspace_and_its_error(fashion_train, fashion_test):
    """z = W (x − μ), x* = μ + W′ z trained on ‖x − x*‖²: the rows of W′ span PCA's top-p subspace and
    the test error is PCA-p's. The thresholds leave a margin over what these settings reached with seeds 0,
    1 and 2 (docs/results/autoencoders.md, "PCA vs autoencoders")."""
    import keras

    from gen_keras import linear, metrics
    from gen_keras.models.autoencoders import decoder_directions, linear_autoencoder

    x, x_test = fashion_train.as_float(), fashion_test.as_float()
    p, epochs, batch = 8, 30, 128
    pca = linear.pca(x, p)
    keras.utils.set_random_seed(0)
    parts = linear_autoencoder(p, mean=x.mean(axis=0))
    before = linear.principal_angle_cosines(decoder_directions(parts.decoder), pca.components)
    steps = -(-len(x) // batch)
    parts.autoencoder.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-2, epochs * steps)),
                              "mse")
    parts.autoencoder.fit(x, x, batch_size=batch, epochs=epochs, verbose=0)

    cosines = linear.principal_angle_cosines(decoder_directions(parts.decoder), pca.components)
    assert before.min() < 0.5 < 0.999 <= cosines.min()  # random directions at first, PCA's span at the end
    ratio = metrics.mse(parts.autoencoder.predict(x_test, verbose=0), x_test) / metrics.pca_reconstruction_mse(
        x, x_test, p)
    assert 0.99 < ratio <= 1.01
    # the rotated decoder rows are the principal components themselves
    rotated = linear.align_to_basis(decoder_directions(parts.decoder), pca.components)
    assert np.abs(rotated - pca.components).max() < 0.02


def test_pca_helper_matches_the_closed_form_baseline(fashion_train, fashion_test):
    from gen_keras import linear, metrics

    x, x_test = fashion_train.as_float(), fashion_test.as_float()
    pca = linear.pca(x, 5)
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(5), atol=1e-10)
    assert np.all(np.diff(pca.variances) <= 0)
    recon = pca.decode(pca.encode(x_test))
    assert metrics.mse(recon, x_test.reshape(len(x_test), -1)) == pytest.approx(
        metrics.pca_reconstruction_mse(x, x_test, 5), rel=1e-9)


def test_principal_angles_by_hand():
    from gen_keras import linear

    t = 0.3
    xy_plane = np.array([[2.0, 0.0, 0.0], [1.0, 1.0, 0.0]])  # not orthonormal: only the span counts
    tilted = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(t), np.sin(t)]])
    np.testing.assert_allclose(linear.principal_angle_cosines(xy_plane, tilted), [1.0, np.cos(t)], atol=1e-12)
    np.testing.assert_allclose(linear.principal_angle_cosines(xy_plane, xy_plane[::-1] * 5), [1.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(linear.principal_angle_cosines([[0.0, 0.0, 1.0]], xy_plane), [0.0], atol=1e-12)
    with pytest.raises(ValueError, match="different spaces"):
        linear.principal_angle_cosines(np.eye(3), np.eye(4))


def test_procrustes_rotates_another_basis_of_the_same_span_onto_the_basis():
    from gen_keras import linear

    rng = np.random.default_rng(0)
    basis = linear.orthonormal_basis(rng.normal(size=(4, 20)))
    mixed = rng.normal(size=(4, 4)) @ basis  # same span, another (non-orthonormal) basis
    np.testing.assert_allclose(linear.align_to_basis(mixed, basis), basis, atol=1e-10)
    rotation = linear.orthogonal_procrustes(mixed, basis)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(4), atol=1e-12)
    # a 90° turn in the plane of the first two axes, undone
    turn = np.array([[0.0, -1.0], [1.0, 0.0]])
    np.testing.assert_allclose(linear.orthogonal_procrustes(turn @ np.eye(2), np.eye(2)), turn.T, atol=1e-12)


def test_knn_by_hand():
    from gen_keras import metrics

    reference = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [10.0, 0.0], [11.0, 0.0]])
    labels = np.array([0, 0, 1, 1, 1])
    queries = np.array([[0.4, 0.0], [10.5, 0.0], [1.4, 0.0], [1.6, 0.0], [2.1, 5.0]])
    # k = 3: [0.4] → 0, 1, 2 → labels 0, 0, 1 → 0; [10.5] → 1; [2.1, 5] → 2, 1, 0 → 1, 0, 0 → 0
    np.testing.assert_array_equal(metrics.knn_predict(reference, labels, queries[[0, 1, 4]], 3), [0, 1, 0])
    # k = 2, one vote each: the tie goes to the nearer neighbour's class
    np.testing.assert_array_equal(metrics.knn_predict(reference, labels, queries[2:4], 2), [0, 1])
    for batch_size in (1, 2, 100):
        np.testing.assert_array_equal(metrics.knn_predict(reference, labels, queries, 1, batch_size=batch_size),
                                      [0, 1, 0, 1, 1])
    assert metrics.knn_accuracy(reference, labels, queries, [0, 1, 0, 0, 0], 1) == pytest.approx(0.6)
    with pytest.raises(ValueError, match="k must be"):
        metrics.knn_predict(reference, labels, queries, 6)


def test_occupied_grid_cells_by_hand():
    from gen_keras import metrics

    axis = np.array([0.0, 1.0, 2.0])  # cells [-0.5, 0.5), [0.5, 1.5), [1.5, 2.5] on each axis
    codes = np.array([[0.1, 0.1], [0.2, -0.2], [1.9, 1.2], [7.0, 7.0]])  # two cells; the last is outside
    assert metrics.occupied_grid_cells(codes, axis, axis) == pytest.approx(2 / 9)


def test_centring_layer_and_linear_autoencoder_round_trip_through_save_and_load(tmp_path):
    """The mean is a non-trainable weight: saved, loaded, and used so that encoder(x) = W (x − μ) on the
    image as stored and decoder(z) = μ + W′ z in the same units."""
    import keras

    from gen_keras.layers import Centring
    from gen_keras.models.autoencoders import decoder_directions, linear_autoencoder

    rng = np.random.default_rng(0)
    images = rng.random((16, 28, 28, 1), dtype=np.float32)
    layer = Centring()
    layer.adapt(images)
    assert not layer.trainable_weights and len(layer.non_trainable_weights) == 1
    np.testing.assert_allclose(layer(images).numpy().mean(axis=0), 0.0, atol=1e-6)

    parts = linear_autoencoder(4, mean=images.mean(axis=0))
    z = np.asarray(parts.encoder(images))
    w = np.asarray(parts.encoder.get_layer("code").kernel)  # (784, 4)
    np.testing.assert_allclose(z, (images - images.mean(axis=0)).reshape(16, -1) @ w, atol=1e-5)
    np.testing.assert_allclose(np.asarray(parts.decoder(z)).reshape(16, -1),
                               z @ decoder_directions(parts.decoder) + images.mean(axis=0).reshape(-1), atol=1e-5)
    for model in (parts.encoder, parts.decoder, parts.autoencoder):
        path = tmp_path / f"{model.name}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)  # safe mode
        batch = images if model.name != "linear_decoder" else z
        np.testing.assert_allclose(np.asarray(loaded(batch)), np.asarray(model(batch)), atol=1e-6)
    loaded = keras.saving.load_model(tmp_path / "linear_decoder.keras")
    assert loaded.get_layer("image").invert and not loaded.get_layer("image").trainable_weights
    np.testing.assert_allclose(np.asarray(loaded.get_layer("image").mean), images.mean(axis=0), atol=1e-7)


def test_deep_autoencoder_shapes():
    from gen_keras.models.autoencoders import deep_autoencoder

    parts = deep_autoencoder()
    widths = [layer.units for layer in parts.encoder.layers if hasattr(layer, "units")]
    assert widths == [1000, 500, 250, 2] and parts.encoder.layers[-1].activation.__name__ == "linear"
    assert [layer.units for layer in parts.decoder.layers if hasattr(layer, "units")] == [250, 500, 1000, 784]
    image = np.asarray(parts.autoencoder(np.zeros((2, 28, 28, 1), np.float32)))
    assert image.shape == (2, 28, 28, 1) and 0 < image.min() and image.max() < 1  # sigmoid
    shallow = deep_autoencoder(hidden=())  # the shallow one beside it: 784-2-784
    assert [layer.units for layer in shallow.autoencoder.layers[1].layers if hasattr(layer, "units")] == [2]
    assert shallow.autoencoder.count_params() == 784 * 2 + 2 + 2 * 784 + 784


# The recipe, in this process (TensorFlow is imported once), on a few hundred images.

QUICK = ["--quick", "--limit", "512", "--batch-size", "64", "--fid-samples", "256", "--code-size", "6"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pca_vs_autoencoder")
    saved = os.environ.get("GEN_KERAS_CACHE")
    os.environ["GEN_KERAS_CACHE"] = str(tmp / "cache")  # empty: the shipped classifier is used
    try:
        module = runpy.run_path(str(ROOT / RECIPE), run_name="pca_vs_autoencoder_under_test")
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            module["main"]([*QUICK, "--out", str(tmp / "out"), "--export-dir", str(tmp / "sm")])
    finally:
        if saved is None:
            del os.environ["GEN_KERAS_CACHE"]
        else:
            os.environ["GEN_KERAS_CACHE"] = saved
    return tmp, stdout.getvalue()


@pytest.mark.slow
def test_quick_run_metrics_figures_and_exports(quick_run):
    tmp, stdout = quick_run
    m = json.loads((tmp / "out" / "metrics.json").read_text())
    assert m["code_size"] == 6 and m["linear_epochs"] == m["deep_epochs"] == m["vae_epochs"] == 1
    assert len(m["linear_principal_angle_cosines"]) == 6 and 0 <= m["linear_min_cosine"] <= 1
    assert 0.01 < m["pca_test_mse"] < m["pca2_test_mse"] < 0.1 and 0 < m["linear_test_mse"] < 0.2
    assert m["linear_mse_ratio_to_pca"] == pytest.approx(m["linear_test_mse"] / m["pca_test_mse"])
    assert 0 < m["deep_test_mse"] < 0.2 and m["knn_k"] == 5
    assert 0.1 <= m["deep_knn_accuracy"] <= 1 and 0.1 <= m["pca2_knn_accuracy"] <= 1  # above chance
    assert m["shallow_epochs"] == 1 and 0 < m["shallow_test_mse"] < 0.3 and 0 <= m["shallow_knn_accuracy"] <= 1
    assert m["num_samples"] == 256 and m["grid_points"] == 225 and m["classifier"] == "shipped"
    assert min(m["fid_deep_uniform"], m["fid_deep_gaussian"], m["fid_vae_prior"]) > m["fid_real_floor"] >= 0
    assert all(np.isfinite(m[f"kid_{name}"]) for name in ("deep_uniform", "deep_gaussian", "vae_prior"))
    assert 0 < m["deep_grid_cells_with_test_codes"] <= 1 and 0 <= m["vae_grid_cells_with_test_codes"] <= 1
    for figure in FIGURES:
        assert (tmp / "out" / figure).read_bytes()[:8] == PNG, figure
    for part in PARTS:
        version = tmp / "sm" / "pca_vs_autoencoder" / part / "1"
        assert (version / "saved_model.pb").exists() and (version / f"{part}.keras").exists()
    assert "PCA-6" in stdout and "FID" in stdout
    # The deep decoder's export records the Gaussian fitted to its codes and its score on it: re-scored alike.
    from gen_keras import evaluate

    result = evaluate.evaluate(tmp / "sm" / "pca_vs_autoencoder" / "deep_decoder")
    (row,) = result["rows"]
    assert row["recorded"]["fid"] == pytest.approx(m["fid_deep_gaussian"]) and row["num_samples"] == 256
    assert row["comparable"] and evaluate.check(row, evaluate.DEFAULT_TOLERANCE) == []


@pytest.mark.slow
def test_exports_serve_through_the_c_api_and_reload_after_a_plain_import(quick_run):
    """Each export, run by TF Serving's C++ loader in a process without TensorFlow's Python, takes images
    as stored and gives what its .keras file gives; the linear pair reconstructs in pixel units."""
    tmp, _ = quick_run
    assert len(assert_keras_files_reload(tmp / "sm")) == 4
    assert len(assert_signatures_describe_themselves(tmp / "sm")) == 4
    script = (
        "import sys, numpy as np\n"
        "from gen_keras.serving.capi import SavedModelSession\n"
        "from gen_keras.data import load_images\n"
        "x = load_images('fashion_mnist', 'test', 32).as_float()\n"
        "root = sys.argv[1] + '/pca_vs_autoencoder/'\n"
        "out = {'x': x}\n"
        "for kind in ('linear', 'deep'):\n"
        "    with SavedModelSession(root + kind + '_encoder/1') as e:\n"
        "        out[kind + '_code'] = e.run({'image': x})['code']\n"
        "    with SavedModelSession(root + kind + '_decoder/1') as d:\n"
        "        out[kind + '_image'] = d.run({'code': out[kind + '_code']})['image']\n"
        "assert 'tensorflow' not in sys.modules\n"
        "np.savez(sys.argv[2], **out)\n")
    served = tmp / "served.npz"
    result = run_python(["-c", script, str(tmp / "sm"), str(served)], timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    import keras

    s = np.load(served)
    root = tmp / "sm" / "pca_vs_autoencoder"
    for kind, code_size in (("linear", 6), ("deep", 2)):
        encoder = keras.saving.load_model(root / f"{kind}_encoder" / "1" / f"{kind}_encoder.keras")
        decoder = keras.saving.load_model(root / f"{kind}_decoder" / "1" / f"{kind}_decoder.keras")
        assert s[f"{kind}_code"].shape == (32, code_size) and s[f"{kind}_image"].shape == (32, 28, 28, 1)
        np.testing.assert_allclose(s[f"{kind}_code"], np.asarray(encoder(s["x"])), atol=1e-5)
        np.testing.assert_allclose(s[f"{kind}_image"], np.asarray(decoder(s[f"{kind}_code"])), atol=1e-5)
    m = json.loads((tmp / "out" / "metrics.json").read_text())
    # pixel units in and out: the served pair's error is the recipe's test error, not that of centred data
    assert np.mean((s["linear_image"] - s["x"]) ** 2) < 2 * m["linear_test_mse"] + 0.01


@pytest.mark.parametrize("flags, message", [
    (["--code-size", "0"], "--code-size: must be at least 1, got 0"),
    (["--code-size", "785"], "--code-size: must be at most 784"),
    (["--dataset", "cifar"], "unknown data set 'cifar'"),
])
def test_bad_flags_exit_2_with_one_line(flags, message):
    result = run_python([RECIPE, *flags], timeout=60)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and message in errors[0] and "Traceback" not in result.stderr
