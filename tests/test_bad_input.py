"""Bad input (the README's "When things go wrong" table): each case is one paragraph saying what was wrong and
what to do, a non-zero exit and no traceback, and leaves what is already on disk as it was."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from gen_keras import data
from gen_keras.errors import GenKerasError
from tests.conftest import ROOT
from tests.test_faults import one_paragraph_error, run_all, tree_state

RECIPE = "recipes/conv_autoencoder.py"
SMALL = ["--model", "improved", "--limit", "256", "--epochs", "1", "--batch-size", "32"]


def previous_run(folder):
    """An --out holding a finished run's files, to check that a failed run leaves them alone."""
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "checkpoints" / "best.weights.h5").write_bytes(b"weights of an earlier run")
    (folder / "metrics.json").write_text('{"test_mse": 0.02}')
    (folder / "history.csv").write_text("epoch,loss\n0,0.1\n")
    return tree_state(folder)


def test_recipe_refuses_bad_data_and_folders_before_touching_anything(tmp_path):
    """A TFDS name that does not exist, a truncated Fashion-MNIST file (found first, in $KERAS_HOME), and an
    --export-dir that cannot be written (found before training, not after it)."""
    cache = tmp_path / "keras" / "datasets" / "fashion-mnist"
    cache.mkdir(parents=True)
    for name in (*data.FASHION_MNIST_FILES["train"], *data.FASHION_MNIST_FILES["test"]):
        shutil.copy(data.DEBIAN_FASHION_MNIST_DIR / name, cache / name)
    truncated = cache / "train-images-idx3-ubyte.gz"
    truncated.write_bytes(truncated.read_bytes()[:100_000])
    truncated_bytes = truncated.read_bytes()
    (tmp_path / "a_file").write_text("")
    outs = {name: tmp_path / name for name in ("tfds", "truncated", "export_dir")}
    before = {name: previous_run(out) for name, out in outs.items()}
    results = run_all({
        "tfds": ([RECIPE, *SMALL, "--dataset", "tfds:no_such_set_xyz", "--out", str(outs["tfds"])], {}),
        "truncated": ([RECIPE, *SMALL, "--out", str(outs["truncated"])], {"KERAS_HOME": str(tmp_path / "keras")}),
        "export_dir": ([RECIPE, *SMALL, "--out", str(outs["export_dir"]),
                        "--export-dir", str(tmp_path / "a_file" / "saved_models")], {}),
    })
    message = one_paragraph_error(results["tfds"])
    assert "TFDS has no data set named 'no_such_set_xyz'" in message and "catalog" in message
    message = one_paragraph_error(results["truncated"])
    assert str(truncated) in message and "truncated or corrupt" in message and "delete it" in message.lower()
    message = one_paragraph_error(results["export_dir"])
    assert "--export-dir" in message and "cannot be written" in message and "--no-export" in message
    assert "Epoch" not in results["export_dir"].stdout  # refused before any training
    for name, out in outs.items():
        assert tree_state(out) == before[name], name
    assert truncated.read_bytes() == truncated_bytes  # named, never deleted or rewritten by the loader


@pytest.mark.parametrize("flags, message", [
    (["--batch-size", "0"], "--batch-size: must be at least 1, got 0"),
    (["--epochs", "-2"], "--epochs: must be at least 1, got -2"),
    (["--strategy", "parameter_server"], "--strategy: invalid choice"),
])
def test_more_bad_flags_exit_2_with_a_reason(flags, message):
    """(--epochs 0, --batch-size -3, --dataset cifar: tests/test_conv_autoencoder_recipe.py.)"""
    result = subprocess.run([sys.executable, RECIPE, *flags], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_wrong_request_dtype_is_a_clear_error(conv_autoencoder_exports):
    """TF Serving's gRPC API refuses a tensor of another type; so does the C API session, instead of
    casting silently. (The wrong shape: tests/test_export.py.)"""
    from gen_keras.errors import CApiError
    from gen_keras.serving.capi import SavedModelSession

    _, paths = conv_autoencoder_exports
    with SavedModelSession(paths["decoder"]) as session:
        with pytest.raises(CApiError, match=r"input 'code' must be float32, got float64: convert it first"):
            session.run({"code": np.zeros((2, 49))})
        with pytest.raises(CApiError, match="must be float32, got int32"):
            session.run({"code": np.zeros((2, 49), np.int32)})
        listed = session.run({"code": [[0.5] * 49]})["image"]  # plain numbers, as JSON sends them, are converted
        typed = session.run({"code": np.full((1, 49), 0.5, np.float32)})["image"]
        np.testing.assert_array_equal(listed, typed)


@pytest.mark.slow
def test_capi_command_line_reports_a_bad_request_in_one_line(conv_autoencoder_exports, tmp_path):
    _, paths = conv_autoencoder_exports
    np.save(tmp_path / "f64.npy", np.zeros((2, 49)))
    np.save(tmp_path / "short.npy", np.zeros((2, 48), np.float32))
    for feed, message in (("f64.npy", "must be float32, got float64"),
                          ("short.npy", "must have shape [-1, 49] (-1: any), got (2, 48)")):
        result = subprocess.run([sys.executable, "-m", "gen_keras.serving.capi", str(paths["decoder"]), "--input",
                                 f"code={tmp_path / feed}"], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert result.stderr.strip().splitlines()[-1].startswith("error: ") and message in result.stderr


def test_old_backup_of_another_model_is_a_clear_error(tmp_path):
    """A backup without the identity record (written by Keras's BackupAndRestore) whose weights do not fit:
    Keras's shape error becomes the same advice, and the backup is left as it was."""
    import keras

    from gen_keras import cli, training
    from gen_keras.models.autoencoders import conv_autoencoder

    backup = tmp_path / "out" / "backup"
    backup.mkdir(parents=True)
    other = conv_autoencoder("improved").autoencoder
    other.save_weights(str(backup / "latest.weights.h5"))
    (backup / "training_metadata.json").write_text(json.dumps({"epoch": 1, "batch": 0}))
    before = tree_state(backup)
    args = cli.parse_args(cli.recipe_parser("t", epochs=2),
                          ["--out", str(tmp_path / "out"), "--batch-size", "32", "--no-export"], "t")
    run = training.setup(args)
    parts = conv_autoencoder("lecture")
    parts.autoencoder.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    with pytest.raises(GenKerasError, match=r"does not fit this model .*--fresh.*another --out"):
        training.fit(parts.autoencoder, data.load_images(limit=64), None, run, 2, verbose=0)
    assert tree_state(backup) == before


def test_backup_identity_names_what_differs():
    """The message for the same recipe and flags whose model changed shape (e.g. the code was edited)."""
    from pathlib import Path

    from gen_keras.training.checkpoints import check_backup_fits

    saved = {"recipe": "vae", "shapes": [[3, 3, 1, 32], [32]], "flags": {"latent-dim": 2, "epochs": 5}}
    mine = {"recipe": "vae", "shapes": [[3, 3, 1, 16], [16]], "flags": {"latent-dim": 2, "epochs": 9}}
    check_backup_fits({"epoch": 3, "identity": saved}, dict(saved, flags={"latent-dim": 2, "epochs": 9}),
                      Path("runs/vae/backup"))  # other run flags only: resumable
    with pytest.raises(GenKerasError) as e:
        check_backup_fits({"epoch": 3, "identity": saved}, mine, Path("runs/vae/backup"))
    message = str(e.value)
    assert message.startswith("runs/vae holds the saved state of another model")
    assert "recipe 'vae', whose model has 2 variables, at epoch 3" in message
    assert "(3, 3, 1, 16) where the saved one has (3, 3, 1, 32)" in message and "--epochs" not in message
