"""Image-to-image translation: the U-Net's skips, the PatchGAN's receptive field, the cycle loss, the
losses falling on a tiny batch, clear errors for bad images (fast); the three recipes' quick runs, their
metrics and their `translate` exports through the C API (slow)."""

import json

import numpy as np
import pytest

from tests.conftest import ROOT, assert_signatures_describe_themselves, run_python

PNG = b"\x89PNG\r\n\x1a\n"


def _images(n=8, seed=0, shape=(28, 28, 1)):
    return np.random.default_rng(seed).random((n, *shape)).astype(np.float32)


def test_unet_output_depends_on_the_input_through_the_shallowest_skip():
    """With the deep path cut (the first stride-2 convolution zeroed, so everything below 28×28 is constant),
    the U-Net's output still follows its input through the 28×28 skip; the same network without skips
    then returns one image for every input."""
    from gen_keras.models.translation_networks import unet_generator

    a, b = _images(2, seed=1)[:1], _images(2, seed=2)[:1]
    for skips in (True, False):
        unet = unet_generator(filters=4, dropout=0.0, skips=skips)
        kernel = unet.get_layer("down_conv_14").kernel
        kernel.assign(np.zeros(kernel.shape, np.float32))
        difference = float(np.abs(unet(a, training=False) - unet(b, training=False)).max())
        if skips:
            assert difference > 1e-4
        else:
            assert difference < 1e-6


def test_patch_discriminator_sees_12_by_12_patches():
    """One logit of the PatchGAN depends on a 12×12 window of each input and on nothing outside it, as the
    receptive-field formula says; the logits form a 14×14 grid."""
    import tensorflow as tf

    from gen_keras.models.translation_networks import patch_discriminator, receptive_field

    d = patch_discriminator(filters=4)
    assert receptive_field(d) == 12 and tuple(d.output.shape[1:]) == (14, 14, 1)
    source, image = tf.Variable(_images(1, 3)), tf.Variable(_images(1, 4))
    with tf.GradientTape() as tape:
        logit = d([source, image], training=False)[0, 7, 7, 0]
    for gradient in tape.gradient(logit, [source, image]):
        rows, cols = np.nonzero(np.abs(gradient.numpy()[0, :, :, 0]) > 0)
        assert rows.max() - rows.min() + 1 == 12 and cols.max() - cols.min() + 1 == 12


def test_cyclegan_discriminator_downsampling_twice_sees_26_by_26_patches():
    """CycleGAN's default judge: a second stride-2 convolution widens each logit's window to 26×26 (the
    shoe's outline, not only its texture) on a 7×7 grid; any other count is a clear error."""
    import tensorflow as tf

    from gen_keras.models.translation_networks import patch_discriminator, receptive_field

    d = patch_discriminator(filters=4, conditional=False, batch_norm=False, downsamplings=2)
    assert receptive_field(d) == 26 and tuple(d.output.shape[1:]) == (7, 7, 1)
    image = tf.Variable(_images(1, 7))
    with tf.GradientTape() as tape:
        logit = d(image, training=False)[0, 3, 3, 0]
    rows, cols = np.nonzero(np.abs(tape.gradient(logit, image).numpy()[0, :, :, 0]) > 0)
    assert rows.max() - rows.min() + 1 == 26 and cols.max() - cols.min() + 1 == 26
    with pytest.raises(ValueError, match="downsamplings must be 1 or 2"):
        patch_discriminator(downsamplings=3)


def test_cycle_loss_is_zero_for_inverse_maps():
    from gen_keras.models.translation import cycle_loss

    x, y = _images(4, 5), _images(4, 6)
    negative = lambda t: 1.0 - t  # noqa: E731 - its own inverse
    np.testing.assert_allclose(cycle_loss(x, y, negative, negative).numpy(), 0.0, atol=1e-6)
    darker = lambda t: 0.5 * t  # noqa: E731 - F(G(x)) = x / 4
    expected = np.abs(0.25 * x - x).mean(axis=(1, 2, 3)) + np.abs(0.25 * y - y).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(cycle_loss(x, y, darker, darker).numpy(), expected, rtol=1e-5)


def test_sobel_edges_mark_a_step_and_nothing_on_flat_ground():
    from gen_keras.models.translation_tasks import SobelEdges

    step = np.zeros((1, 28, 28, 1), np.float32)
    step[:, :, 14:] = 1.0
    edges = SobelEdges()(step).numpy()[0, :, :, 0]
    assert edges[:, 13:15].min() == 1.0 and edges[:, :12].max() < 1e-5 and edges[:, 16:].max() < 1e-5
    assert SobelEdges.from_config(SobelEdges(scale=3.0).get_config()).scale == 3.0


def test_psnr_of_a_known_error():
    from gen_keras.metrics import psnr

    a = np.zeros((2, 4, 4, 1))
    assert psnr(a, a + 0.1) == pytest.approx(20.0) and psnr(a, a) == 100.0


def test_stack_domains_uses_every_image_of_the_smaller_domain_before_repeating():
    from gen_keras.models.translation_tasks import stack_domains

    x = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1) * np.ones((1, 2, 2, 1), np.uint8)
    y = (100 + np.arange(4, dtype=np.uint8)).reshape(4, 1, 1, 1) * np.ones((1, 2, 2, 1), np.uint8)
    pairs = stack_domains(x, y, seed=0)
    assert pairs.shape == (10, 2, 2, 2)
    assert sorted(pairs[:, 0, 0, 0]) == list(range(10))
    drawn = pairs[:, 0, 0, 1]
    assert sorted(drawn[:4]) == [100, 101, 102, 103] and sorted(drawn[4:8]) == [100, 101, 102, 103]


def _fall(model, batch, key, steps=20):
    """The loss `key` on `batch` (training mode, batch statistics) before and after `steps` training steps."""
    def loss():
        return float(np.mean(model.losses_on(batch)[key]))

    first = loss()
    for _ in range(steps):
        model.train_on_batch(batch)
    return first, loss()


def test_pix2pix_and_super_resolution_losses_fall_on_a_tiny_batch(tmp_path):
    import keras

    from gen_keras.models.gan import dcgan_discriminator
    from gen_keras.models.translation import ImageTranslator
    from gen_keras.models.translation_networks import patch_discriminator, super_resolution_generator, unet_generator
    from gen_keras.models.translation_tasks import SobelEdges, low_resolution

    keras.utils.set_random_seed(0)
    y = _images(8, 7)
    pix2pix = ImageTranslator(unet_generator(filters=4, dropout=0.0), SobelEdges(), patch_discriminator(filters=4))
    sr = ImageTranslator(super_resolution_generator(4, filters=8, blocks=1), low_resolution(4),
                         dcgan_discriminator(filters=4), conditional=False, content_loss="mse", content_weight=1.0,
                         adversarial_weight=1e-3)
    for model in (pix2pix, sr):
        model.compile(keras.optimizers.Adam(2e-3), keras.optimizers.Adam(2e-3))
        first, last = _fall(model, y, "content")
        assert last < 0.7 * first, (model.name, first, last)
        losses = model.losses_on(y, training=False)
        assert {"content", "g_adversarial", "d_loss"} <= set(losses) and losses["d_loss"].shape == (8,)
    pix2pix.save(tmp_path / "pix2pix.keras")
    reloaded = keras.saving.load_model(tmp_path / "pix2pix.keras")
    assert (reloaded.content_weight, reloaded.adversarial_weight, reloaded.conditional) == (100.0, 1.0, True)
    np.testing.assert_allclose(reloaded(SobelEdges()(y)), pix2pix(SobelEdges()(y)), atol=1e-6)


def test_cyclegan_cycle_loss_falls_on_a_tiny_batch_and_it_round_trips_through_keras_files(tmp_path):
    import keras

    from gen_keras.models.translation import CycleGAN
    from gen_keras.models.translation_networks import patch_discriminator, resnet_generator

    keras.utils.set_random_seed(0)
    batch = _images(8, 8, (28, 28, 2))
    model = CycleGAN(resnet_generator(filters=4, blocks=1, name="G"), resnet_generator(filters=4, blocks=1, name="F"),
                     patch_discriminator(filters=4, conditional=False, batch_norm=False),
                     patch_discriminator(filters=4, conditional=False, batch_norm=False))
    model.compile(keras.optimizers.Adam(2e-3), keras.optimizers.Adam(2e-3))
    first, last = _fall(model, batch, "cycle", steps=40)
    assert last < 0.7 * first, (first, last)
    model.save(tmp_path / "cyclegan.keras")
    reloaded = keras.saving.load_model(tmp_path / "cyclegan.keras")
    assert (reloaded.cycle_weight, reloaded.identity_weight) == (10.0, 5.0)
    np.testing.assert_allclose(reloaded.f(batch[..., 1:]), model.f(batch[..., 1:]), atol=1e-6)


def test_translator_arguments_and_bad_images_are_clear_errors():
    from gen_keras import translation_recipe
    from gen_keras.models.translation import ImageTranslator
    from gen_keras.models.translation_networks import super_resolution_generator, unet_generator
    from gen_keras.models.translation_tasks import SobelEdges

    unet = unet_generator(filters=4)
    with pytest.raises(ValueError, match=r"must be \(batch, 28, 28, 1\) arrays, got shape \(2, 32, 32, 1\)"):
        translation_recipe.translate(unet, _images(2, shape=(32, 32, 1)))
    with pytest.raises(ValueError, match=r"must be \(batch, 28, 28, 1\) arrays, got shape \(28, 28\)"):
        translation_recipe.translate(unet, np.zeros((28, 28)))
    with pytest.raises(ValueError, match=r"pixels in \[0, 1\], got \[0, 255\].*divide bytes by 255"):
        translation_recipe.translate(unet, 255 * _images(2).round())
    with pytest.raises(ValueError, match="NaN or infinite"):
        translation_recipe.translate(unet, np.full((1, 28, 28, 1), np.nan))
    assert translation_recipe.translate(unet, _images(3)).shape == (3, 28, 28, 1)
    with pytest.raises(ValueError, match="needs a discriminator"):
        ImageTranslator(unet, SobelEdges())
    with pytest.raises(ValueError, match="content_loss must be one of"):
        ImageTranslator(unet, SobelEdges(), content_loss="l2", adversarial_weight=0.0)
    with pytest.raises(ValueError, match="scale must be a power of 2"):
        super_resolution_generator(3)
    assert tuple(super_resolution_generator(2, filters=4, blocks=1).inputs[0].shape[1:]) == (14, 14, 1)


def test_measure_paired_scores_each_translator_beside_the_targets_own_agreement(capsys):
    """A translator that returns the targets agrees with the classifier exactly as often as the targets do, with
    no L1 error; training facts stay with the translator they belong to; each line printed has FID and KID."""
    from gen_keras import translation_recipe

    targets, labels = _images(12, 12), np.arange(12) % 10
    results = translation_recipe.measure_paired({"copy": targets, "blank": np.zeros_like(targets)}, targets=targets,
                                                labels=labels, dataset="fashion_mnist", facts={"copy": {"steps": 3}})
    assert results["copy"]["class_agreement"] == results["real_class_agreement"]
    assert results["copy"]["l1"] == 0.0 and results["blank"]["l1"] > 0.1 and results["copy"]["steps"] == 3
    assert "steps" not in results["blank"] and len(results["classifier_sha256"]) == 64
    lines = [line for line in capsys.readouterr().out.splitlines() if ": L1 " in line]
    assert len(lines) == 2 and all("FID" in line and "KID" in line for line in lines)


@pytest.mark.parametrize("recipe, flags, message", [
    ("pix2pix", ["--l1-weight", "0"], "--l1-weight: must be positive"),
    ("cyclegan", ["--dataset", "mnist"], "translates Fashion-MNIST's sandals and sneakers"),
    ("cyclegan", ["--cycle-weight", "-1"], "--cycle-weight: must be zero or more"),
    ("super_resolution", ["--scale", "3"], "invalid choice: 3"),
    ("super_resolution", ["--adversarial-weight", "nan"], "--adversarial-weight: must be a finite number"),
])
def test_bad_flags_exit_2_with_a_reason(recipe, flags, message, capsys):
    from tests.conftest import load_recipe

    with pytest.raises(SystemExit) as exit_:
        load_recipe(recipe).parse(flags)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_defaults_are_the_papers_weights():
    from tests.conftest import load_recipe

    assert load_recipe("pix2pix").parse([]).l1_weight == 100.0
    cyclegan = load_recipe("cyclegan").parse([])
    assert (cyclegan.cycle_weight, cyclegan.identity_weight) == (10.0, 5.0)
    sr = load_recipe("super_resolution").parse([])
    assert (sr.scale, sr.adversarial_weight) == (4, 1e-3)


# --- the recipes' quick runs (slow) -----------------------------------------------------------------------

SMALL = ["--quick", "--limit", "512", "--batch-size", "32", "--fid-samples", "200"]


def _quick_run(recipe, tmp, *flags):
    result = run_python([str(ROOT / "recipes" / f"{recipe}.py"), *SMALL, *flags, "--out", str(tmp / "out"),
                         "--export-dir", str(tmp / "sm")], timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp, json.loads((tmp / "out" / "metrics.json").read_text()), result.stdout


@pytest.fixture(scope="module")
def pix2pix_run(tmp_path_factory):
    return _quick_run("pix2pix", tmp_path_factory.mktemp("pix2pix"))


@pytest.fixture(scope="module")
def cyclegan_run(tmp_path_factory):
    return _quick_run("cyclegan", tmp_path_factory.mktemp("cyclegan"))


@pytest.fixture(scope="module")
def super_resolution_run(tmp_path_factory):
    return _quick_run("super_resolution", tmp_path_factory.mktemp("super_resolution"))


def _served_equals_keras(version, inputs):
    """The `translate` signature through the C API equals the `.keras` file beside it; bad pixels are refused."""
    import keras

    from gen_keras.errors import CApiError
    from gen_keras.serving.capi import SavedModelSession, warmup_requests
    from gen_keras.serving.export import read_export_metadata

    assert [r.signature_name for r in warmup_requests(version)] == ["translate"]
    signature = read_export_metadata(version)["signatures"]["translate"]
    assert signature["inputs"]["image"]["shape"] == [None, *inputs.shape[1:]]
    model = keras.saving.load_model(next(version.glob("*.keras")))
    with SavedModelSession(version) as session:
        served = session.run({"image": inputs}, "translate")["image"]
        np.testing.assert_allclose(served, model(inputs, training=False), atol=1e-5)
        assert 0.0 <= served.min() and served.max() <= 1.0
        with pytest.raises(CApiError, match=r"pixels must be in \[0, 1\]"):
            session.run({"image": inputs * 255.0 + 1.0}, "translate")
        with pytest.raises(CApiError):  # the declared shape: another size is refused, not resized
            session.run({"image": np.zeros((1, 5, 5, 1), np.float32)}, "translate")
    return served


def _rescored_as_recorded(version, measured):
    """`gen_keras.evaluate` makes the held-out inputs the export records, translates them and agrees with the
    recipe's own numbers."""
    from gen_keras import evaluate

    (row,) = evaluate.evaluate(version)["rows"]
    assert row["kind"] == "translate" and row["fid"] == pytest.approx(measured["fid"], rel=1e-3)
    assert row["comparable"] and evaluate.check(row, evaluate.DEFAULT_TOLERANCE) == []


@pytest.mark.slow
def test_pix2pix_quick_run_measures_both_networks_and_exports_translate(pix2pix_run):
    from gen_keras.models.translation_tasks import SobelEdges

    tmp, metrics, stdout = pix2pix_run
    for name in ("l1_only", "pix2pix"):
        m = metrics[name]
        assert m["num_samples"] == 200 and 0 < m["l1"] < 1 and np.isfinite(m["fid"]) and 0 <= m["class_agreement"] <= 1
        assert m["steps"] == 16 and m["steps_per_second"] > 0
        assert np.isfinite(m["kid"])
    assert metrics["l1_weight"] == 100.0 and "class agreement" in stdout and "KID" in stdout
    for figure in ("translations.png", "losses.png"):
        assert (tmp / "out" / figure).read_bytes()[:8] == PNG
    edges = SobelEdges()(_images(3, 9)).numpy()
    for part, name in (("generator", "pix2pix"), ("l1_only", "l1_only")):
        _served_equals_keras(tmp / "sm" / "pix2pix" / part / "1", edges)
        _rescored_as_recorded(tmp / "sm" / "pix2pix" / part / "1", metrics[name])
    assert len(assert_signatures_describe_themselves(tmp / "sm")) == 2


@pytest.mark.slow
def test_cyclegan_quick_run_measures_both_directions_and_exports_translate(cyclegan_run):
    tmp, metrics, stdout = cyclegan_run
    assert (metrics["x_class"], metrics["y_class"]) == (5, 7) and metrics["test_images"] > 10
    for key in ("g_x_called_y", "f_y_called_x", "real_x_called_x", "real_y_called_y"):
        assert 0 <= metrics[key] <= 1
    assert metrics["real_x_called_x"] > 0.8 and metrics["real_y_called_y"] > 0.8  # the instrument tells them apart
    assert 0 < metrics["cycle_error_x"] < 1 and 0 < metrics["cycle_error_y"] < 1
    assert np.isfinite(metrics["fid_g_x_vs_real_y"]) and metrics["fid_x_vs_real_y"] > metrics["fid_train_y_vs_real_y"]
    assert np.isfinite(metrics["kid_g_x_vs_real_y"]) and metrics["kid_x_vs_real_y"] > metrics["kid_train_y_vs_real_y"]
    assert "KID" in stdout
    for figure in ("sandals_to_sneakers.png", "sneakers_to_sandals.png", "losses.png"):
        assert (tmp / "out" / figure).read_bytes()[:8] == PNG
    for part, fid in (("g_sandal_to_sneaker", "fid_g_x_vs_real_y"), ("f_sneaker_to_sandal", "fid_f_y_vs_real_x")):
        _served_equals_keras(tmp / "sm" / "cyclegan" / part / "1", _images(2, 10))
        _rescored_as_recorded(tmp / "sm" / "cyclegan" / part / "1", {"fid": metrics[fid]})
    assert len(assert_signatures_describe_themselves(tmp / "sm")) == 2


@pytest.mark.slow
def test_super_resolution_quick_run_measures_three_upsamplers_and_exports_translate(super_resolution_run):
    tmp, metrics, stdout = super_resolution_run
    assert metrics["scale"] == 4 and metrics["adversarial_weight"] == 1e-3
    for name in ("bicubic", "content_only", "srgan"):
        assert metrics[name]["psnr"] > 10 and np.isfinite(metrics[name]["fid"]) and np.isfinite(metrics[name]["kid"])
    assert "steps" not in metrics["bicubic"] and metrics["srgan"]["steps"] == 16 and "KID" in stdout
    assert (tmp / "out" / "upsampled.png").read_bytes()[:8] == PNG
    for part in ("generator", "content_only"):
        served = _served_equals_keras(tmp / "sm" / "super_resolution" / part / "1", _images(2, 11, (7, 7, 1)))
        assert served.shape == (2, 28, 28, 1)
    _rescored_as_recorded(tmp / "sm" / "super_resolution" / "generator" / "1", metrics["srgan"])
    _rescored_as_recorded(tmp / "sm" / "super_resolution" / "content_only" / "1", metrics["content_only"])
    assert len(assert_signatures_describe_themselves(tmp / "sm")) == 2
