"""gen_keras.convolution against Keras's own Conv2D / Conv2DTranspose / UpSampling2D, and the
transposed-convolution recipe run once end to end."""

import json
import math
import runpy
import zlib

import keras
import numpy as np
import pytest

from gen_keras import convolution
from tests.conftest import ROOT

ATOL = 1e-5  # float32 round-off
# (kernel, strides, padding, input shape): odd and even sizes, stride 1 and 2, a kernel smaller than the
# stride, an even kernel, a non-square kernel with unequal strides.
CASES = [
    ((3, 3), 1, "valid", (4, 4)),
    ((3, 3), 1, "same", (5, 5)),
    ((3, 3), 2, "valid", (5, 5)),
    ((3, 3), 2, "valid", (6, 6)),
    ((3, 3), 2, "same", (5, 5)),
    ((3, 3), 2, "same", (6, 7)),
    ((2, 2), 2, "same", (5, 4)),
    ((4, 4), 2, "same", (7, 8)),
    ((1, 1), 2, "valid", (5, 6)),
    ((3, 2), (2, 1), "same", (6, 5)),
]


def keras_layer(layer_class, kernel, strides, padding, input_shape):
    layer = layer_class(1, kernel.shape, strides=strides, padding=padding, use_bias=False)
    layer.build((1, *input_shape, 1))
    layer.set_weights([kernel[:, :, None, None]])
    return layer


def apply(layer, image):
    return np.asarray(layer(image[None, :, :, None]))[0, :, :, 0]


@pytest.fixture
def rng(request):
    return np.random.default_rng(zlib.crc32(request.node.name.encode()))  # fixed per test, any process


def test_lecture_matrix_is_4_by_16_with_the_kernel_in_each_row(rng):
    kernel = rng.normal(size=(3, 3)).astype(np.float32)
    W = convolution.convolution_matrix(kernel, (4, 4))
    assert W.shape == (4, 16)
    for row, (i, j) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        window = W[row].reshape(4, 4)
        np.testing.assert_array_equal(window[i:i + 3, j:j + 3], kernel)
        assert np.count_nonzero(window) == np.count_nonzero(kernel)


@pytest.mark.parametrize("kernel_shape, strides, padding, input_shape", CASES)
def test_matrix_and_direct_convolution_equal_conv2d(rng, kernel_shape, strides, padding, input_shape):
    kernel = rng.normal(size=kernel_shape).astype(np.float32)
    x = rng.normal(size=input_shape).astype(np.float32)
    reference = apply(keras_layer(keras.layers.Conv2D, kernel, strides, padding, input_shape), x)
    W = convolution.convolution_matrix(kernel, input_shape, strides, padding)
    assert W.shape == (reference.size, x.size)
    np.testing.assert_allclose((W @ x.ravel()).reshape(reference.shape), reference, atol=ATOL)
    np.testing.assert_allclose(convolution.conv2d(x, kernel, strides, padding), reference, atol=ATOL)


@pytest.mark.parametrize("kernel_shape, strides, padding, input_shape", CASES)
def test_transpose_and_rotated_kernel_equal_conv2d_transpose(rng, kernel_shape, strides, padding, input_shape):
    """x′ = Wᵀ y′ = pad(dilate(y′)) ⋆ rot180(k) = Conv2DTranspose(y′), where W is the Conv2D that maps
    Conv2DTranspose's output shape back to y′'s; and ⟨W x, y′⟩ = ⟨x, Wᵀ y′⟩ through Keras's two layers."""
    kernel = rng.normal(size=kernel_shape).astype(np.float32)
    y = rng.normal(size=input_shape).astype(np.float32)
    reference = apply(keras_layer(keras.layers.Conv2DTranspose, kernel, strides, padding, input_shape), y)
    through_matrix = convolution.transposed_convolution(y, kernel, strides, padding)
    direct = convolution.transposed_as_direct_convolution(y, kernel, strides, padding)
    assert through_matrix.shape == direct.shape == reference.shape
    np.testing.assert_allclose(through_matrix, reference, atol=ATOL)
    np.testing.assert_allclose(direct, reference, atol=ATOL)
    x = rng.normal(size=reference.shape).astype(np.float32)
    forward = apply(keras_layer(keras.layers.Conv2D, kernel, strides, padding, reference.shape), x)
    assert forward.shape == y.shape
    assert math.isclose(float(np.sum(forward * y)), float(np.sum(x * reference)), rel_tol=1e-4, abs_tol=ATOL)


def test_lecture_stride_2_example_in_four_steps(rng):
    y = rng.normal(size=(2, 2)).astype(np.float32)
    kernel = rng.normal(size=(3, 3)).astype(np.float32)
    steps = convolution.transposed_convolution_steps(y, kernel, strides=2)
    assert steps.dilated.shape == (3, 3) and steps.padded.shape == (7, 7) and steps.output.shape == (5, 5)
    np.testing.assert_array_equal(steps.dilated[::2, ::2], y)
    assert np.count_nonzero(steps.padded) == np.count_nonzero(y)
    np.testing.assert_array_equal(steps.padded[2:5, 2:5], steps.dilated)
    np.testing.assert_array_equal(steps.rotated_kernel, np.rot90(kernel, 2))
    reference = apply(keras_layer(keras.layers.Conv2DTranspose, kernel, 2, "valid", (2, 2)), y)
    np.testing.assert_allclose(steps.output, reference, atol=ATOL)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_upsample_equals_upsampling2d(rng, interpolation):
    image = rng.normal(size=(5, 6, 2)).astype(np.float32)
    reference = np.asarray(keras.layers.UpSampling2D(2, interpolation=interpolation)(image[None]))[0]
    np.testing.assert_allclose(convolution.upsample(image, 2, interpolation), reference, atol=ATOL)


def test_checkerboard_ratio_reads_the_period_2_amplitudes():
    rows, cols = np.meshgrid(np.arange(10), np.arange(12), indexing="ij")
    image = 3.0 + 0.6 * (-1.0) ** rows + 0.8 * (-1.0) ** cols
    assert math.isclose(convolution.checkerboard_ratio(image), 1.0 / 3.0, rel_tol=1e-9)
    assert convolution.checkerboard_ratio(np.full((8, 8), 5.0)) == 0.0
    assert convolution.checkerboard_ratio(np.full((8, 8, 3), 5.0) + 0.1 * (-1.0) ** rows[:8, :8, None]) > 0


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_transposed_convolution_checkerboards_a_constant_image_resize_conv_does_not(interpolation):
    experiment = convolution.checkerboard_experiment(image_size=6, kernel_size=3, stride=2,
                                                     interpolation=interpolation)
    ones = experiment.kernel
    transposed = apply(keras_layer(keras.layers.Conv2DTranspose, ones, 2, "same", (6, 6)), experiment.image)
    resized = np.asarray(keras.layers.UpSampling2D(2, interpolation=interpolation)(
        experiment.image[None, :, :, None]))[0, :, :, 0]
    resize_conv = apply(keras_layer(keras.layers.Conv2D, ones, 1, "same", (12, 12)), resized)
    np.testing.assert_allclose(experiment.transposed, transposed, atol=ATOL)
    np.testing.assert_allclose(experiment.resize_conv, resize_conv, atol=ATOL)
    np.testing.assert_array_equal(transposed[2:4, 2:4], [[4, 2], [2, 1]])  # the tile, away from the border
    # the tile [[4, 2], [2, 1]]: μ = 2.25, a = b = 0.75, c = 0.25
    assert math.isclose(convolution.checkerboard_ratio(transposed), math.sqrt(1.1875) / 2.25, rel_tol=1e-6)
    assert convolution.checkerboard_ratio(resize_conv) < 1e-6


@pytest.fixture(scope="module")
def recipe():
    return runpy.run_path(str(ROOT / "recipes" / "transposed_convolution.py"), run_name="transposed_convolution_test")


def test_recipe_prints_the_identities_draws_the_figures_and_measures_a_decoder(recipe, tmp_path, capsys):
    from gen_keras.models.autoencoders import conv_autoencoder

    decoder = conv_autoencoder("lecture").decoder  # untrained, the lecture's layers: enough to measure
    decoder.save(tmp_path / "decoder.keras")
    out = tmp_path / "out"
    results = recipe["main"](["--out", str(out), "--seed", "3", "--decoder", str(tmp_path / "decoder.keras")])
    printed = capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["W_shape"] == [4, 16] and metrics["seed"] == 3
    errors = list(metrics["max_abs_error"].values()) + list(metrics["stride2_example"]["max_abs_error"].values())
    assert len(errors) == 5 and max(errors) < ATOL
    assert np.shape(metrics["stride2_example"]["output"]) == (5, 5)
    ratio = metrics["checkerboard"]["ratio"]
    assert ratio["transposed"] > 0.4 and ratio["resize_nearest_conv"] < 1e-6 and ratio["resize_bilinear_conv"] < 1e-6
    assert metrics["decoder"]["output_shape"] == [14, 14, 64] and metrics["decoder"]["saved"]["ratio"] > 0
    assert results["checkerboard"]["ratio"] == ratio
    for figure in ("convolution_matrix", "transposed_convolution_steps", "checkerboard", "decoder_checkerboard"):
        assert (out / f"{figure}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "max |error|" in printed and "checkerboard ratio" in printed and "·" in printed


def test_recipe_without_a_decoder_says_so_and_bad_seed_exits_2(recipe, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        recipe["parse"](["--seed", "x"])
    assert stop.value.code == 2
    assert "invalid int value: 'x'" in capsys.readouterr().err
    assert recipe["decoder_checkerboard"](None, tmp_path, 0) is None
    assert recipe["decoder_checkerboard"](str(tmp_path / "missing.keras"), tmp_path, 0) is None
    said = capsys.readouterr().out.splitlines()
    assert len(said) == 2 and all("skipped" in line for line in said)
