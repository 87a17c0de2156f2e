"""The GAN recipes end to end on small data, their outputs, and the generator as TF Serving runs it."""

import contextlib
import csv
import io
import json
import os
import runpy

import numpy as np
import pytest

from tests.conftest import ROOT, assert_keras_files_reload, assert_signatures_describe_themselves, run_python

PNG = b"\x89PNG\r\n\x1a\n"
SMALL = ["--quick", "--limit", "512", "--batch-size", "64", "--fid-samples", "256"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """An empty classifier cache for all runs: the recipes score with the shipped classifier and train none."""
    saved = os.environ.get("GEN_KERAS_CACHE")
    os.environ["GEN_KERAS_CACHE"] = str(tmp_path_factory.mktemp("classifier_cache"))
    yield
    if saved is None:
        del os.environ["GEN_KERAS_CACHE"]
    else:
        os.environ["GEN_KERAS_CACHE"] = saved


def run_recipe(recipe, tmp, *flags):
    """Runs the recipe's `main` in this process (TensorFlow is imported once for all of them; the
    command line itself is tested below and by the conv autoencoder's tests); returns (tmp, stdout)."""
    module = runpy.run_path(str(ROOT / "recipes" / f"{recipe}.py"), run_name=f"{recipe}_under_test")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        module["main"]([*SMALL, *flags, "--out", str(tmp / "out"), "--export-dir", str(tmp / "sm")])
    return tmp, stdout.getvalue()


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory, cache):
    return run_recipe("gan", tmp_path_factory.mktemp("gan"), "--k", "2", "--generator-loss", "minimax")


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory, cache, gan_run):
    return run_recipe("dcgan", tmp_path_factory.mktemp("dcgan"))


def check_outputs(tmp, recipe, figures):
    out = tmp / "out"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 1 and metrics["num_samples"] == 256 and sum(metrics["class_histogram"]) == 256
    assert metrics["fid"] > metrics["fid_real_floor"] >= 0 and 0 <= metrics["sample_entropy"] <= np.log(10)
    assert np.isfinite(metrics["kid"]) and metrics["kid_std"] >= 0  # KID beside FID, same features
    assert np.isfinite(metrics["last_epoch_d_loss"]) and np.isfinite(metrics["last_epoch_g_loss"])
    assert metrics["classifier"] == "shipped" and len(metrics["classifier_sha256"]) == 64
    assert not os.listdir(os.environ["GEN_KERAS_CACHE"])  # nothing trained or cached
    assert len(metrics["class_shares"]) == 10 and 0 <= metrics["confident_share"] <= 1
    for figure in ("samples.png", "gan_curves.png", "samples/epoch_001.png", *figures):
        assert (out / figure).read_bytes()[:8] == PNG, figure
    with open(out / "history.csv") as f:
        row = next(csv.DictReader(f))
    assert {"d_loss", "g_loss", "d_real", "d_fake", "sample_entropy", "max_class_share"} <= set(row)
    for part in ("generator", "discriminator"):
        version = tmp / "sm" / recipe / part / "1"
        assert (version / "saved_model.pb").exists() and (version / f"{part}.keras").exists()
    assert len(assert_signatures_describe_themselves(tmp / "sm")) == 2
    return metrics


@pytest.mark.slow
def test_gan_quick_run(gan_run):
    tmp, stdout = gan_run
    metrics = check_outputs(tmp, "gan", ["generator_losses.png"])
    assert (metrics["k"], metrics["generator_loss"], metrics["batch_size"]) == (2, "minimax", 64)
    assert "FID" in stdout and "k = 2" in stdout


@pytest.mark.slow
def test_dcgan_quick_run_and_its_served_generator(dcgan_run):
    """The exported generator, run by TF Serving's C++ loader, gives what its .keras file gives in Keras."""
    tmp, _ = dcgan_run
    metrics = check_outputs(tmp, "dcgan", ["interpolation.png"])
    assert metrics["generator_parameters"] == 558_849 and metrics["batch_norm_layers_recalibrated"] == 2
    version = tmp / "sm" / "dcgan" / "generator" / "1"
    z = np.random.default_rng(0).normal(size=(6, 64)).astype(np.float32)
    np.save(tmp / "z.npy", z)
    script = ("import sys, numpy as np\n"
              "from gen_keras.serving.capi import SavedModelSession\n"
              "with SavedModelSession(sys.argv[1]) as s:\n"
              "    np.save(sys.argv[3], s.run({'z': np.load(sys.argv[2])})['image'])\n"
              "assert 'tensorflow' not in sys.modules\n")
    result = run_python(["-c", script, str(version), str(tmp / "z.npy"), str(tmp / "served.npy")], timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    import keras

    generator = keras.saving.load_model(version / "generator.keras")  # safe mode
    want = np.asarray(generator(z, training=False))
    served = np.load(tmp / "served.npy")
    assert served.shape == (6, 28, 28, 1) and np.max(np.abs(served - want)) <= 1e-5
    assert 0.0 <= served.min() and served.max() <= 1.0 and served.std() > 0.01  # images, not a constant
    from gen_keras.serving.capi import SavedModelSession

    with SavedModelSession(tmp / "sm" / "dcgan" / "discriminator" / "1") as session:
        logit = session.run({"image": served})["logit"]
    assert logit.shape == (6, 1) and np.all(np.isfinite(logit))


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["dcgan", "cgan"])
def test_the_export_alone_rescored_gives_the_recipes_fid(recipe, dcgan_run, cgan_run):
    """`python -m gen_keras.evaluate` draws the recipe's z (and classes) from the export's record: same FID."""
    from gen_keras import evaluate

    tmp, _ = {"dcgan": dcgan_run, "cgan": cgan_run}[recipe]
    metrics = json.loads((tmp / "out" / "metrics.json").read_text())
    result = evaluate.evaluate(tmp / "sm" / recipe / "generator")
    (row,) = result["rows"]
    assert row["kind"] == "generator" and row["num_samples"] == metrics["num_samples"] == 256
    assert row["fid"] == pytest.approx(metrics["fid"], rel=0.05) and evaluate.check(row, 0.05) == []
    assert result["classifier_sha256"] == metrics["classifier_sha256"]
    if recipe == "cgan":
        assert row["label_accuracy"] == pytest.approx(metrics["label_accuracy"], abs=0.02)


@pytest.fixture(scope="module")
def cgan_run(tmp_path_factory, cache, gan_run):
    return run_recipe("cgan", tmp_path_factory.mktemp("cgan"))


@pytest.mark.slow
def test_cgan_quick_run_serves_a_class_on_request(cgan_run):
    tmp, stdout = cgan_run
    metrics = check_outputs(tmp, "cgan", ["interpolation.png"])
    assert 0 <= metrics["label_accuracy"] <= 1 and "class asked for" in stdout
    from gen_keras.serving.capi import SavedModelSession

    z = np.random.default_rng(0).normal(size=(4, 64)).astype(np.float32)
    with SavedModelSession(tmp / "sm" / "cgan" / "generator" / "1") as session:
        images = {y: session.run({"z": z, "label": np.full(4, y, np.int32)})["image"] for y in (0, 7)}
    assert images[0].shape == (4, 28, 28, 1) and np.abs(images[0] - images[7]).max() > 1e-4  # the label counts


@pytest.mark.slow
def test_gan_dcgan_and_cgan_keras_files_load_after_a_plain_import(gan_run, dcgan_run, cgan_run):
    loaded = assert_keras_files_reload(*(tmp / "sm" for tmp, _ in (gan_run, dcgan_run, cgan_run)))
    assert {"gan/generator/1/generator.keras", "cgan/discriminator/1/discriminator.keras"} <= set(loaded)


@pytest.mark.parametrize("recipe, flags, parts", [
    ("wgan", ["--gradient-penalty", "10", "--n-critic", "1"], ("generator", "discriminator")),
    ("aae", ["--prior", "mixture", "--supervised"], ("encoder", "decoder", "discriminator")),
])
@pytest.mark.slow
def test_wgan_gp_and_aae_quick_runs(recipe, flags, parts, tmp_path, cache, gan_run):
    run_recipe(recipe, tmp_path, *flags)
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert np.isfinite(metrics["fid"]) and metrics["epochs"] == 1
    for part in parts:
        assert (tmp_path / "sm" / recipe / part / "1" / "saved_model.pb").exists()
    assert len(assert_keras_files_reload(tmp_path / "sm")) == len(parts)
    assert len(assert_signatures_describe_themselves(tmp_path / "sm")) == len(parts)
    figures = ["gan_curves.png", "samples.png"] + (["latent_space.png", "reconstructions.png"] if recipe == "aae" else [])
    if recipe == "aae":  # codes against the prior: MMD² and the permutation test's p-value, beside prior vs prior
        assert np.isfinite(metrics["codes_vs_prior_mmd2"]) and 0 < metrics["codes_vs_prior_p_value"] <= 1
        # the lecture's property, stated: the codes match the prior when the permutation test does not reject
        assert metrics["match_level"] == 0.05
        assert metrics["codes_match_prior"] == (metrics["codes_vs_prior_p_value"] > 0.05)
        assert metrics["codes_match_prior"] is False  # one epoch on 2,048 images: not there yet
        assert (metrics["prior"], metrics["supervised"]) == ("mixture", True)
        assert metrics["adversarial_rate"] == 5.0 and 0 <= metrics["codes_in_label_component"] <= 1
        assert (metrics["encoder"], metrics["reconstruction_rate"]) == ("conv", 1e-3)
        assert metrics["prior_vs_prior_mmd2"] < metrics["codes_vs_prior_mmd2"]  # one epoch: codes not there yet
        # the decoder's export records its prior and score: `gen_keras.evaluate` draws the same z and agrees
        from gen_keras import evaluate

        (row,) = evaluate.evaluate(tmp_path / "sm" / "aae" / "decoder")["rows"]
        assert row["recorded"]["fid"] == pytest.approx(metrics["fid"])
        assert row["comparable"] and evaluate.check(row, evaluate.DEFAULT_TOLERANCE) == []
    for figure in figures:
        assert (tmp_path / "out" / figure).read_bytes()[:8] == PNG
    if recipe == "wgan":
        assert metrics["model"] == "wgan_gp" and np.isfinite(metrics["last_epoch_wasserstein"])
    else:
        assert metrics["test_reconstruction_mse"] < 0.2 and len(metrics["code_std"]) == 2


@pytest.mark.parametrize("recipe, flags, message", [
    ("gan", ["--k", "0"], "--k: must be at least 1"),
    ("gan", ["--generator-loss", "wasserstein"], "invalid choice: 'wasserstein'"),
    ("dcgan", ["--fid-every", "-1"], "--fid-every: must be 0 or more"),
    ("dcgan", ["--learning-rate", "0"], "--learning-rate: must be positive"),
    ("cgan", ["--filters", "0"], "--filters: must be at least 1"),
    ("wgan", ["--clip", "0"], "--clip: must be positive"),
    ("wgan", ["--gradient-penalty", "-1"], "--gradient-penalty: must be"),
    ("aae", ["--prior", "swiss_roll", "--latent-dim", "8"], "is 2-d: use --latent-dim 2"),
    ("aae", ["--supervised", "--prior", "gaussian"], "--supervised needs --prior mixture or swiss_roll"),
    ("aae", ["--latent-dim", "8"], "--prior mixture is 2-d: use --latent-dim 2"),
    ("aae", ["--reconstruction-rate", "0"], "--reconstruction-rate: must be positive"),
    ("aae", ["--encoder", "resnet"], "invalid choice: 'resnet'"),
])
def test_bad_flags_exit_2_with_a_reason(recipe, flags, message):
    result = run_python([f"recipes/{recipe}.py", *flags], timeout=60)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_wgan_defaults_follow_the_lipschitz_method():
    """Clipping keeps the WGAN paper's RMSProp 5e-5, n_critic 5, 20 epochs; the gradient penalty gets the measured
    Adam 2e-4, n_critic 3, 16 epochs (4,992 generator steps); flags given still win."""
    wgan = runpy.run_path(str(ROOT / "recipes" / "wgan.py"))
    clip, gp = wgan["parse"]([]), wgan["parse"](["--gradient-penalty", "10"])
    assert (clip.k, clip.learning_rate, clip.epochs) == (5, 5e-5, 20)
    assert (gp.k, gp.learning_rate, gp.epochs) == (3, 2e-4, 16)
    given = wgan["parse"](["--gradient-penalty", "10", "--k", "5", "--epochs", "2", "--learning-rate", "1e-4"])
    assert (given.k, given.learning_rate, given.epochs) == (5, 1e-4, 2)
    assert wgan["parse"](["--gradient-penalty", "10", "--quick"]).epochs == 1


def test_aae_defaults_to_the_mixture_prior_with_the_encoder_against_d_at_5x():
    """The default command is the one measured to give codes the permutation test cannot tell from the prior
    (the mixture at 5×: p = 0.18); at 1× D wins N(0, I) and the swiss roll, and the mixture's samples are
    better but its codes leave the prior. A given flag wins."""
    aae = runpy.run_path(str(ROOT / "recipes" / "aae.py"))
    default = aae["parse"]([])
    assert (default.prior, default.supervised, default.adversarial_rate, default.latent_dim) == ("mixture", False, 5.0, 2)
    rate = {flags: aae["parse"](list(flags)).adversarial_rate for flags in [
        ("--prior", "gaussian"), ("--supervised",), ("--prior", "swiss_roll"), ("--adversarial-rate", "1")]}
    assert list(rate.values()) == [5.0, 5.0, 5.0, 1.0]
    assert aae["MATCH_LEVEL"] == 0.05


@pytest.mark.slow
def test_label_accuracy_is_agreement_with_the_requested_class(cache, gan_run, fashion_test):
    """A stand-in generator that returns real test images of class `shift(y)`: label accuracy is the
    classifier's agreement with y, high for shift 0 and near zero when every image is of another class."""
    from gen_keras import evaluation

    module = runpy.run_path(str(ROOT / "recipes" / "cgan.py"), run_name="cgan_under_test")
    args = module["parse"]([*SMALL, "--fid-samples", "200"])
    images, classes = fashion_test.as_float(), fashion_test.labels
    z = np.zeros((200, args.latent_dim), np.float32)
    requested = (np.arange(200) % 10).astype(np.int32)
    by_class = [images[classes == c][:20] for c in range(10)]

    def real_images_of(shift):
        def generate(zy):
            _, y = zy
            rank = np.arange(len(y)) // 10  # the n-th request of a class gets that class's n-th image
            return np.stack([by_class[(c + shift) % 10][r % 20] for c, r in zip(y, rank)])
        return generate

    judge = evaluation.Judge(real_images_of(0), (z, requested), classifier=evaluation.load_classifier(args.dataset),
                             test=fashion_test)
    right = judge.evaluate()
    predicted = evaluation.predict_classes(judge.classifier, real_images_of(0)((z, requested)))
    assert right["label_accuracy"] == pytest.approx(np.mean(predicted == requested))
    assert right["label_accuracy"] > 0.7  # the classifier on real images of the asked-for class
    judge.generate_fn = real_images_of(3)
    assert judge.evaluate()["label_accuracy"] < 0.25


def test_slerp_keeps_the_norm_where_a_line_loses_it():
    """Two independent N(0, I) draws in 64-d are nearly orthogonal: the line's midpoint has norm ≈ √(d/2), the
    slerp path keeps ≈ √d all the way; both start at z_a and end at z_b."""
    from gen_keras.gan_recipe import interpolate_latents

    rng = np.random.default_rng(0)
    z_a, z_b = rng.standard_normal(64), rng.standard_normal(64)
    for spherical in (True, False):
        path = interpolate_latents(z_a, z_b, 9, spherical=spherical)
        assert path.shape == (9, 64)
        np.testing.assert_allclose(path[[0, -1]], [z_a, z_b], atol=1e-5)
    norms = np.linalg.norm(interpolate_latents(z_a, z_b, 9), axis=1)
    ends = np.linalg.norm([z_a, z_b], axis=1)
    assert norms.min() > 0.9 * ends.min()
    assert np.linalg.norm(interpolate_latents(z_a, z_b, 9, spherical=False)[4]) < 0.8 * ends.min()
    np.testing.assert_allclose(interpolate_latents(z_a, 2 * z_a, 3)[1], 1.5 * z_a, rtol=1e-5)  # parallel: a line



@pytest.mark.slow
def test_runs_compared_by_generator_steps_and_class_shares(gan_run, dcgan_run, tmp_path):
    """history.csv logs the generator's steps (k = 2 for the GAN: its steps are those of the generator, not
    of D) and metrics.json the classes per epoch; benchmarks/compare_gan_runs.py draws both figures."""
    (gan_tmp, _), (dcgan_tmp, _) = gan_run, dcgan_run
    with open(gan_tmp / "out" / "history.csv") as f:
        row = next(csv.DictReader(f))
    gan_metrics = json.loads((gan_tmp / "out" / "metrics.json").read_text())
    assert float(row["generator_steps"]) == gan_metrics["train_images"] // (2 * gan_metrics["batch_size"])
    assert sum(gan_metrics["class_histogram_per_epoch"]["1"]) == 256
    runs = ["--run", f"GAN={gan_tmp / 'out'}", "--run", f"DCGAN={dcgan_tmp / 'out'}"]
    summaries = {}
    recorded = ["--curve", "DCGAN, full run=docs/results/data/dcgan_full_fid.csv"]
    for flags, png in ((recorded, "fid.png"), (["--classes"], "classes.png")):
        result = run_python(["benchmarks/compare_gan_runs.py", *runs, *flags, "--out", str(tmp_path / png)])
        assert result.returncode == 0, result.stderr[-2000:]
        assert (tmp_path / png).read_bytes()[:8] == PNG
        summaries[png] = json.loads(result.stdout[:result.stdout.rindex("wrote")])
    assert summaries["fid.png"]["DCGAN, full run"]["steps"][-1] == 5148  # 11 epochs of 468 steps
    assert set(summaries["classes.png"]) == {"GAN", "DCGAN"}
    bad = run_python(["benchmarks/compare_gan_runs.py", "--run", f"x={tmp_path}", "--out", str(tmp_path / "x.png")])
    assert bad.returncode != 0 and "is missing" in bad.stderr and "Traceback" not in bad.stderr
