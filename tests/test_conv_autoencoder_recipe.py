"""The recipe end to end (--quick), its flags and its errors, as a student runs it."""

import json

import pytest

from tests.conftest import (assert_keras_files_reload, assert_signatures_describe_themselves, run_python,
                            run_recipe_quick)

RECIPE = "recipes/conv_autoencoder.py"


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("quick")
    return tmp, run_recipe_quick(RECIPE, tmp)


@pytest.mark.slow
def test_keras_files_load_after_a_plain_import(quick_run):
    tmp, _ = quick_run
    assert len(assert_keras_files_reload(tmp / "sm")) >= 2


@pytest.mark.slow
def test_quick_run_leaves_metrics_figures_and_exports(quick_run):
    tmp, result = quick_run
    metrics = json.loads((tmp / "out" / "metrics.json").read_text())
    assert metrics["model"] == "lecture" and metrics["epochs"] == 1 and metrics["code_dim"] == 49
    assert 0 < metrics["test_mse"] < 0.2 and 0.005 < metrics["pca_test_mse"] < 0.03
    assert 0 <= metrics["dead_code_units"] <= 49 and metrics["batch_norm_layers_recalibrated"] == 2
    # recalibrated inference mode agrees with training mode; the raw moving averages do not
    assert metrics["test_mse"] < 1.1 * metrics["test_mse_training_mode"]
    assert metrics["test_mse_moving_averages"] > metrics["test_mse"]
    for figure in ("reconstructions.png", "loss_curves.png", "latent_interpolation.png"):
        assert (tmp / "out" / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for part in ("encoder", "decoder", "autoencoder"):
        assert (tmp / "sm" / "conv_autoencoder" / part / "1" / "saved_model.pb").exists()
    assert len(assert_signatures_describe_themselves(tmp / "sm")) == 3
    assert "test MSE" in result.stdout and "PCA-49" in result.stdout


@pytest.mark.slow
def test_exported_decoder_serves_the_recipes_model(quick_run):
    """The served decoder (through the C API) reproduces the recipe's own reconstructions."""
    tmp, _ = quick_run
    script = (
        "import sys, numpy as np\n"
        "from gen_keras.serving.capi import SavedModelSession\n"
        "from gen_keras.data import load_images\n"
        "x = load_images('fashion_mnist', 'test', 8).as_float()\n"
        "root = sys.argv[1] + '/conv_autoencoder/'\n"
        "with SavedModelSession(root + 'encoder/1') as e, SavedModelSession(root + 'decoder/1') as d, \\\n"
        "     SavedModelSession(root + 'autoencoder/1') as a:\n"
        "    code = e.run({'image': x})['code']\n"
        "    two_step = d.run({'code': code})['image']\n"
        "    one_step = a.run({'image': x})['image']\n"
        "print(float(np.abs(two_step - one_step).max()), float(((one_step - x) ** 2).mean()))\n")
    result = run_python(["-c", script, str(tmp / "sm")], timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    gap, mse = map(float, result.stdout.split())
    assert gap <= 1e-5  # decoder(encoder(x)) == autoencoder(x), as served
    metrics = json.loads((tmp / "out" / "metrics.json").read_text())
    assert mse < 2 * metrics["test_mse"] + 0.01  # the served model is the trained one, not a fresh one


@pytest.mark.parametrize("flags, message", [
    (["--epochs", "0"], "--epochs: must be at least 1"),
    (["--batch-size", "-3"], "--batch-size: must be at least 1"),
    (["--dataset", "cifar"], "unknown data set 'cifar'"),
    (["--model", "huge"], "invalid choice: 'huge'"),
    (["--limit", "ten"], "expected a whole number"),
    (["--learning-rate", "0"], "--learning-rate: must be positive"),
])
def test_bad_flags_exit_2_with_a_reason(flags, message):
    result = run_python([RECIPE, *flags], timeout=60)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr


def test_help_lists_the_common_flags():
    result = run_python([RECIPE, "--help"], timeout=60)
    assert result.returncode == 0
    for flag in ("--epochs", "--batch-size", "--limit", "--dataset", "--seed", "--out", "--export-dir",
                 "--jit", "--mixed-precision", "--quick", "--model", "--steps-per-execution"):
        assert flag in result.stdout
    assert "no speed-up" in " ".join(result.stdout.split())  # why --jit is off on CPU
    assert "cuda" not in result.stderr.lower()  # --help answers before TensorFlow is imported


def test_unwritable_out_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("kept")  # a file where --out's parent folder should be
    result = run_python([RECIPE, "--quick", "--out", str(tmp_path / "file" / "out")], timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: --out") and "cannot be written" in result.stderr
    assert "Traceback" not in result.stderr and (tmp_path / "file").read_text() == "kept"


@pytest.mark.slow
def test_sigterm_then_rerun_resumes(tmp_path):
    """A run stopped by SIGTERM after its first epoch resumes at epoch 2 when the same command runs again."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    cmd = [sys.executable, RECIPE, "--limit", "1024", "--epochs", "3", "--batch-size", "64", "--no-export",
           "--out", str(tmp_path / "out")]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    meta = tmp_path / "out" / "backup" / "training_metadata.json"
    deadline = time.time() + 240
    while not meta.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert meta.exists(), "no backup was written during the first epoch"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Run the same command again" in err and "Traceback" not in err
    assert meta.exists()
    result = run_python(cmd[1:], timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Resuming from the saved state" in result.stdout
    history = (tmp_path / "out" / "history.csv").read_text().splitlines()
    assert len(history) == 1 + 3  # header and one row per epoch, across both runs
    assert not (tmp_path / "out" / "backup").exists()
    assert os.path.exists(tmp_path / "out" / "metrics.json")
