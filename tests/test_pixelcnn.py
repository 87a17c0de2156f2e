"""PixelCNN: causal masks (and the plain stack's blind spot), an exact and normalised likelihood, sampling
from it, exports served through the C API (log_prob, sample, bad requests), and the recipe on MNIST's path."""

import itertools
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from gen_keras import data
from gen_keras.models.pixelcnn import (MaskedConv2D, build_pixelcnn, causal_dependence, causal_mask,
                                       log_prob_in_batches)
from tests.conftest import assert_signatures_describe_themselves, load_recipe, run_python, run_recipe_quick

RECIPE = "recipes/pixelcnn.py"


def causality_failures(dependence, row, column, reach):
    """(leaks, blind): input pixels at or after (row, column) in raster order that the output there depends
    on, and earlier pixels within `reach` rows above / columns either side (or to the left in the same row)
    that it does not depend on."""
    height, width = dependence.shape
    order = np.arange(height * width).reshape(height, width)
    leaks = [tuple(p) for p in np.argwhere((order >= row * width + column) & (dependence != 0))]
    field = [(r, c) for r in range(max(0, row - reach), row) for c in range(max(0, column - reach),
                                                                          min(width, column + reach + 1))]
    field += [(row, c) for c in range(max(0, column - reach), column)]
    blind = [p for p in field if dependence[p] == 0]
    return leaks, blind


def test_masks_a_b_and_vertical():
    np.testing.assert_array_equal(causal_mask((3, 3), "A"), [[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(causal_mask((3, 3), "B"), [[1, 1, 1], [1, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(causal_mask((3, 3), "vertical"), [[1, 1, 1], [1, 1, 1], [0, 0, 0]])
    np.testing.assert_array_equal(causal_mask((1, 5), "A"), [[1, 1, 0, 0, 0]])
    with pytest.raises(ValueError, match="odd"):
        causal_mask((2, 3), "A")
    # The mask is applied in the computation: the stored kernel keeps its values, the output ignores them.
    layer = MaskedConv2D(1, 3, "A", use_bias=False, kernel_initializer="ones")
    x = np.zeros((1, 5, 5, 1), np.float32)
    x[0, 2, 2, 0] = x[0, 2, 3, 0] = x[0, 3, 1, 0] = 1.0  # the centre, its right and below-left: all masked
    assert float(layer(x)[0, 2, 2, 0]) == 0.0
    assert float(np.min(layer.kernel.numpy())) == 1.0


@pytest.mark.parametrize("position", [(14, 14), (5, 22)])
def test_causality_gated_has_no_blind_spot_plain_stack_has_one(position):
    """∂ logit(i, j) / ∂ x is zero at (i, j) and after it in raster order, for both networks; the gated
    network depends on every earlier pixel within 4 rows above and 4 columns either side, the plain masked
    stack misses the pixels up and to the right (its blind spot), e.g. (i − 1, j + 4)."""
    row, column = position
    keras.utils.set_random_seed(0)
    gated = build_pixelcnn(5, 8, binarize=None)
    conditional = build_pixelcnn(5, 8, num_classes=3, binarize=None)
    plain = build_pixelcnn(4, 8, gated=False, binarize=None)
    for model in (gated, conditional):
        leaks, blind = causality_failures(causal_dependence(model, row, column), row, column, reach=4)
        assert leaks == [] and blind == []
    leaks, blind = causality_failures(causal_dependence(plain, row, column), row, column, reach=4)
    assert leaks == []
    assert blind and (row - 1, column + 4) in blind
    assert all(r < row and c > column for r, c in blind)  # the blind spot lies up and to the right


def test_likelihood_is_normalised_and_sampling_draws_from_it():
    """On 2 × 3 images every one of the 64 binary images can be scored: Σ_x p(x) = 1 (and Σ_x p(x | y) = 1),
    which a leak from later pixels would break; 4,000 draws of `sample` match p(x) (total variation < 0.06)."""
    keras.utils.set_random_seed(1)
    every = np.array(list(itertools.product([0.0, 1.0], repeat=6)), np.float32).reshape(64, 2, 3, 1)
    for num_classes in (0, 2):
        model = build_pixelcnn(2, 8, num_classes=num_classes, image_shape=(2, 3, 1), binarize=None)
        for w in model.trainable_weights:  # far from uniform, so the check has something to see
            w.assign(w * 3.0)
        labels = np.ones(64, np.int32) if num_classes else None
        p = np.exp(log_prob_in_batches(model, every, labels))
        assert p.sum() == pytest.approx(1.0, abs=1e-4)
    draws = tf.function(model.sample)(tf.constant(4000), tf.constant(0), tf.ones(4000, tf.int32)).numpy()
    codes = draws.reshape(4000, 6).astype(int) @ (2 ** np.arange(5, -1, -1))
    frequencies = np.bincount(codes, minlength=64) / 4000
    assert 0.5 * np.abs(frequencies - p).sum() < 0.06
    again = tf.function(model.sample)(tf.constant(4000), tf.constant(0), tf.ones(4000, tf.int32)).numpy()
    np.testing.assert_array_equal(draws, again)


@pytest.fixture(scope="module")
def conditional_export(tmp_path_factory):
    recipe = load_recipe("pixelcnn")
    keras.utils.set_random_seed(2)
    model = build_pixelcnn(2, 8, num_classes=10, binarize=None)
    root = tmp_path_factory.mktemp("pixelcnn_sm")
    return model, recipe.export(model, root)


@pytest.mark.slow
def test_exported_log_prob_and_sample_through_the_c_api(conditional_export, fashion_test):
    """log_prob of a batch equals the model's; sample with a seed gives the same images twice; every bad
    request is one clear error and leaves the next good request's answer unchanged; warm-up asks for one image."""
    from gen_keras.errors import CApiError
    from gen_keras.serving.capi import SavedModelSession, warmup_requests

    model, version = conditional_export
    x = data.binarized(fashion_test.head(8)).as_float()
    y = fashion_test.labels[:8].astype(np.int32)
    expected = model.log_prob(x, y).numpy()
    assert [(r.signature_name, sorted(r.inputs)) for r in warmup_requests(version)] == [
        ("log_prob", ["image", "label"]), ("sample", ["label", "num_samples", "seed"])]
    assert warmup_requests(version)[1].inputs["num_samples"] == 1
    request = {"num_samples": np.int32(2), "seed": np.int32(5), "label": np.int32(3)}
    with SavedModelSession(version) as session:
        served = session.run({"image": x, "label": y}, "log_prob")["log_prob"]
        assert served.dtype == np.float32 and served.shape == (8,)
        np.testing.assert_allclose(served, expected, rtol=1e-5, atol=1e-3)
        first = session.run(request, "sample")["image"]
        assert first.shape == (2, 28, 28, 1) and set(np.unique(first)) <= {0.0, 1.0}
        bad = [({"image": x[:, :27], "label": y}, "log_prob", r"input 'image' must have shape \[-1, 28, 28, 1\]"),
               ({"image": x * 2.0, "label": y}, "log_prob", r"pixels must lie in \[0, 1\]"),
               ({"image": x - 0.5, "label": y}, "log_prob", r"pixels must lie in \[0, 1\]"),
               ({"image": x, "label": y + 10}, "log_prob", "class index below 10"),
               ({**request, "num_samples": np.int32(0)}, "sample", "num_samples must be at least 1"),
               ({**request, "num_samples": np.int32(10**6)}, "sample", "num_samples must be at most 64"),
               ({**request, "label": np.int32(10)}, "sample", "class index below 10"),
               ({**request, "label": np.int32(-1)}, "sample", "class index, 0 or more")]
        for inputs, signature, message in bad:
            with pytest.raises(CApiError, match=message):
                session.run(inputs, signature)
        np.testing.assert_array_equal(session.run(request, "sample")["image"], first)
        np.testing.assert_allclose(session.run({"image": x, "label": y}, "log_prob")["log_prob"], served)
        other = session.run({**request, "seed": np.int32(6)}, "sample")["image"]
        assert not np.array_equal(other, first)
        # num_samples and seed have defaults (16 and 0); the label has none
        assert {k: v.tolist() for k, v in session.signatures["sample"].defaults.items()} == {"num_samples": 16,
                                                                                               "seed": 0}
        left_out = session.run({"num_samples": np.int32(2), "label": np.int32(3)}, "sample")["image"]
        np.testing.assert_array_equal(left_out, session.run({**request, "seed": np.int32(0)}, "sample")["image"])
        with pytest.raises(CApiError, match=r"got \['num_samples'\]"):
            session.run({"num_samples": np.int32(2)}, "sample")
    assert_signatures_describe_themselves(version)


@pytest.mark.slow
def test_quick_run_on_mnist_from_the_keras_cache(tmp_path, fashion_train, fashion_test, monkeypatch):
    """--dataset mnist reads mnist.npz from the Keras cache (a small one written here); metrics, figures,
    the .keras file, and an export whose served log_prob reproduces the recipe's exact test NLL."""
    from gen_keras.serving.capi import SavedModelSession

    cache = tmp_path / "keras" / "datasets"
    cache.mkdir(parents=True)
    np.savez(cache / "mnist.npz", x_train=fashion_train.images[:1200, :, :, 0], y_train=fashion_train.labels[:1200],
             x_test=fashion_test.images[:300, :, :, 0], y_test=fashion_test.labels[:300])
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    result = run_recipe_quick(RECIPE, tmp_path, "--dataset", "mnist", "--batch-size", "32", timeout=240)
    m = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert m["dataset"] == "mnist" and m["test_images"] == 300 and m["blocks"] == 2 and m["filters"] == 16
    # 784 log 2 = 543.4 nats is a fair coin per pixel; 34 steps of a small model already do better
    assert m["test_nll_nats"] < 0.9 * 784 * np.log(2)
    assert m["test_bits_per_dim"] == pytest.approx(m["test_nll_nats"] / (784 * np.log(2)))
    assert m["steps"] == 34 and "bits/dim" in result.stdout  # 1,100 training images, batch 32
    for figure in ("nll_per_step.png", "samples.png", "completions.png"):
        assert (tmp_path / "out" / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", figure
    test = data.binarized(data.load_images("mnist", "test"), seed=0)
    assert len(test) == 300
    version = tmp_path / "sm" / "pixelcnn" / "pixelcnn" / "1"
    with SavedModelSession(version) as session:
        served = session.run({"image": test.as_float()}, "log_prob")["log_prob"]
        request = {"num_samples": np.int32(1), "seed": np.int32(0)}
        np.testing.assert_array_equal(session.run(request, "sample")["image"], session.run(request, "sample")["image"])
    assert -served.mean() == pytest.approx(m["test_nll_nats"], abs=1e-3)
    # The .keras file beside the export loads (safe mode) in a fresh process after a plain `import gen_keras`.
    np.save(tmp_path / "test.npy", test.as_float())
    result = run_python(["-c", RELOAD, str(version / "pixelcnn.keras"), str(tmp_path / "test.npy")], timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert float(result.stdout.split()[-1]) == pytest.approx(m["test_nll_nats"], abs=1e-3)


RELOAD = """
import sys
import gen_keras
import keras
import numpy as np
model = keras.saving.load_model(sys.argv[1])
print(float(-np.mean(model.log_prob(np.load(sys.argv[2])).numpy())))
"""


def test_bad_flags_exit_2_and_vae_binarize_values():
    result = run_python([RECIPE, "--binarize", "grey"], timeout=60)
    assert result.returncode == 2 and "invalid choice: 'grey'" in result.stderr
    vae = load_recipe("vae")
    assert vae.parse(["--binarize"]).binarize == "stochastic"
    assert vae.parse(["--binarize", "threshold"]).binarize == "threshold"
    assert vae.parse([]).binarize is None


def test_row_shift_moves_rows_down_and_its_gradient_moves_them_back_up():
    """The vertical stack's shift: row i of the output is row i − 1 of the input (zeros on top); the gradient
    is the upward shift (zeros in the last row), what the slice's cheap gradient (a pad) must give."""
    from gen_keras.models.pixelcnn import _shift_down

    x = tf.constant(np.random.default_rng(0).normal(size=(2, 5, 4, 3)).astype("float32"))
    w = tf.constant(np.random.default_rng(1).normal(size=(2, 5, 4, 3)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = _shift_down(x)
        loss = tf.reduce_sum(y * w)
    np.testing.assert_array_equal(y.numpy()[:, 1:], x.numpy()[:, :-1])
    np.testing.assert_array_equal(y.numpy()[:, 0], 0.0)
    grad = tape.gradient(loss, x).numpy()
    np.testing.assert_array_equal(grad[:, :-1], w.numpy()[:, 1:])
    np.testing.assert_array_equal(grad[:, -1], 0.0)
