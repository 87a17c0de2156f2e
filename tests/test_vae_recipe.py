"""recipes/vae.py end to end (--quick): metrics, figures, exports served through the C API, bad flags."""

import json

import numpy as np
import pytest

from tests.conftest import (assert_keras_files_reload, assert_signatures_describe_themselves, run_python,
                            run_recipe_quick)

RECIPE = "recipes/vae.py"
FIGURES = ("loss_curves.png", "latent_space.png", "manifold.png", "prior_samples.png", "reconstructions.png",
           "interpolation.png", "latent_arithmetic.png", "likelihood_samples.png", "log_px_estimates.png")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("vae")
    return tmp, run_recipe_quick(RECIPE, tmp)


@pytest.mark.slow
def test_keras_files_load_after_a_plain_import(quick_run):
    tmp, _ = quick_run
    assert len(assert_keras_files_reload(tmp / "sm")) >= 2


@pytest.mark.slow
def test_quick_run_leaves_metrics_figures_and_exports(quick_run):
    tmp, result = quick_run
    m = json.loads((tmp / "out" / "metrics.json").read_text())
    assert m["latent_dim"] == 2 and m["likelihood"] == "bernoulli" and m["epochs"] == 1
    # nats per image, summed over 784 pixels: between a good model (~250) and logits 0 (784 log 2 = 543)
    assert 250 < m["test_negative_elbo"] < 543
    assert m["test_negative_elbo"] == pytest.approx(m["test_reconstruction"] + m["test_kl"], rel=1e-4)
    assert m["iwae_samples"] == 100 and m["iwae_images"] == 100
    assert m["iwae_negative_log_likelihood"] < m["iwae_negative_elbo"]
    est = m["log_px_estimates"]  # --quick: 20 images, K up to 500
    assert est["images"] == 20 and est["samples"] == [1, 10, 100, 500]
    assert all(-543 < v < 0 for v in est["prior"] + est["importance"])
    assert est["importance"][-1] >= est["importance"][0]  # the bound rises with K (the same draws, nested)
    assert m["prior_samples"] == 2000 and m["prior_samples_fid"] > 0 and np.isfinite(m["prior_samples_kid"])
    # latent arithmetic on held-out codes, judged by the instrument (one epoch: blurry, so no level is asserted
    # here; tests/test_latent.py checks the measurement on a model whose answer is known)
    moved = m["attribute_transfer"]
    assert list(moved) == ["Sneaker → Ankle boot", "T-shirt/top → Dress", "Pullover → Coat"]
    assert all(r["images"] > 50 and 0 <= r["target_share_before"] <= 1 and 0 <= r["target_share"] <= 1
               for r in moved.values())
    for figure in FIGURES:
        assert (tmp / "out" / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", figure
    for part in ("encoder", "decoder"):
        assert (tmp / "sm" / "vae" / part / "1" / "saved_model.pb").exists()
        assert (tmp / "sm" / "vae" / part / "1" / f"{part}.keras").exists()
    assert len(assert_signatures_describe_themselves(tmp / "sm")) == 2
    assert (tmp / "out" / "vae.keras").exists()
    assert "nats/image" in result.stdout


@pytest.mark.slow
def test_exports_serve_through_the_c_api_like_the_keras_models(quick_run):
    """Encoder (image → mean, log_var) and decoder (z → image) run in TF's C++ loader, no TF Python,
    and match the reloaded Keras models to 1e-5."""
    tmp, _ = quick_run
    script = (
        "import sys, numpy as np\n"
        "from gen_keras.serving.capi import SavedModelSession\n"
        "from gen_keras.data import load_images\n"
        "x = load_images('fashion_mnist', 'test', 16).as_float()\n"
        "z = np.random.default_rng(0).normal(size=(16, 2)).astype(np.float32)\n"
        "root = sys.argv[1] + '/vae/'\n"
        "with SavedModelSession(root + 'encoder/1') as e, SavedModelSession(root + 'decoder/1') as d:\n"
        "    codes = e.run({'image': x})\n"
        "    images = d.run({'z': z})['image']\n"
        "assert 'tensorflow' not in sys.modules\n"
        "np.savez(sys.argv[2], mean=codes['mean'], log_var=codes['log_var'], image=images, x=x, z=z)\n")
    served = tmp / "served.npz"
    result = run_python(["-c", script, str(tmp / "sm"), str(served)], timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    check = (
        "import sys, numpy as np, keras\n"
        "import gen_keras.models.vae\n"
        "s = np.load(sys.argv[2])\n"
        "enc = keras.saving.load_model(sys.argv[1] + '/vae/encoder/1/encoder.keras')\n"
        "dec = keras.saving.load_model(sys.argv[1] + '/vae/decoder/1/decoder.keras')\n"
        "mean, log_var = enc(s['x'])\n"
        "gaps = [np.abs(mean - s['mean']).max(), np.abs(log_var - s['log_var']).max(),\n"
        "        np.abs(dec(s['z']) - s['image']).max()]\n"
        "print(*map(float, gaps), float(s['image'].min()), float(s['image'].max()))\n")
    result = run_python(["-c", check, str(tmp / "sm"), str(served)], timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    *gaps, low, high = map(float, result.stdout.split())
    assert max(gaps) <= 1e-5
    assert 0.0 <= low < high <= 1.0  # Bernoulli means


@pytest.mark.slow
def test_decoder_and_encoder_rescored_from_the_export_alone(quick_run):
    """The decoder's prior samples give the recipe's FID again; the encoder's codes get a linear probe."""
    from gen_keras import evaluate

    tmp, _ = quick_run
    metrics = json.loads((tmp / "out" / "metrics.json").read_text())
    (row,) = evaluate.evaluate(tmp / "sm" / "vae" / "decoder")["rows"]
    assert row["num_samples"] == metrics["prior_samples"]
    assert row["fid"] == pytest.approx(metrics["prior_samples_fid"], rel=0.05) and evaluate.check(row, 0.05) == []
    (row,) = evaluate.evaluate(tmp / "sm" / "vae" / "encoder", samples=1000)["rows"]
    # a linear probe on the quick run's 2-d codes: 0.29 measured, chance 0.1
    assert row["kind"] == "encoder" and row["output"] == "mean" and row["probe_accuracy"] > 0.2


@pytest.mark.slow
def test_the_whole_vae_reloads_and_samples(quick_run):
    tmp, _ = quick_run
    script = (
        "import sys, numpy as np, keras\n"
        "import gen_keras.models.vae\n"
        "from gen_keras.data import load_images\n"
        "vae = keras.saving.load_model(sys.argv[1])\n"
        "x = load_images('fashion_mnist', 'test', 64).as_float()\n"
        "a, b = vae(x), vae(x)\n"  # two forward passes draw two different z
        "print(type(vae).__name__, type(vae.sampler).__name__, float(np.abs(a - b).max()), vae.losses[0].shape)\n")
    result = run_python(["-c", script, str(tmp / "out" / "vae.keras")], timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    name, sampler, gap, _ = result.stdout.split(maxsplit=3)
    assert (name, sampler) == ("VAE", "GaussianSampler") and float(gap) > 0


@pytest.mark.slow
def test_ablation_draws_three_latent_spaces(tmp_path):
    result = run_python([RECIPE, "--ablation", "--quick", "--limit", "640", "--out", str(tmp_path)])
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "ablation.png").read_bytes()[:4] == b"\x89PNG"
    runs = json.loads((tmp_path / "ablation.json").read_text())
    assert list(runs) == ["reconstruction only", "KL only", "reconstruction + KL"]
    # the KL-only model's loss is the KL alone: it collapses q(z|x) onto the prior, far below the others
    assert runs["KL only"]["val_loss"] < 5 < runs["reconstruction + KL"]["val_loss"]


@pytest.mark.slow
def test_latent_sizes_draw_one_sample_grid_per_size(tmp_path):
    """--latent-sizes 2 8: two VAEs trained identically, one panel of prior samples each, and their test −ELBO."""
    result = run_python([RECIPE, "--latent-sizes", "2", "8", "--quick", "--limit", "640", "--out", str(tmp_path)])
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "latent_sizes.png").read_bytes()[:4] == b"\x89PNG"
    runs = json.loads((tmp_path / "latent_sizes.json").read_text())
    assert list(runs) == ["2", "8"] and all(0 < r["test_negative_elbo"] < 784 * 0.7 for r in runs.values())


@pytest.mark.parametrize("flags, message", [
    (["--latent-dim", "0"], "--latent-dim: must be at least 1"),
    (["--latent-sizes", "2", "0"], "--latent-sizes: must be at least 1"),
    (["--ablation", "--latent-sizes", "2", "8"], "--latent-sizes and --ablation are two separate comparisons"),
    (["--manifold", "spiral"], "--manifold: invalid choice"),
    (["--beta", "-1"], "--beta: must be zero or more"),
    (["--beta", "nan"], "--beta: must be a finite number"),
    (["--likelihood", "poisson"], "--likelihood: invalid choice"),
    (["--ablation", "--latent-dim", "8"], "--ablation draws 2-d latent spaces"),
])
def test_bad_flags_exit_2_with_a_reason(flags, message):
    result = run_python([RECIPE, *flags], timeout=60)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
