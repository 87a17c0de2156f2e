"""The shared trainer: it learns, it is repeatable, it resumes, it stops on NaN, and BN is recalibrated."""

import keras
import numpy as np
import pytest

from gen_keras import cli, data, errors, inference, metrics, training
from gen_keras.training import checkpoints
from gen_keras.models.autoencoders import conv_autoencoder


def make_setup(out, *flags):
    args = cli.parse_args(cli.recipe_parser("test", epochs=1), ["--out", str(out), *flags], "test")
    return training.setup(args)


def test_setup_reads_the_flags_and_changes_none_of_them(tmp_path):
    """The run's export folder comes back in the `TrainingSetup` (None with --no-export); the namespace is
    left exactly as parsed."""
    parser = cli.recipe_parser("test", epochs=1)
    args = cli.parse_args(parser, ["--out", str(tmp_path / "out"), "--export-dir", str(tmp_path / "sm")], "test")
    before = dict(vars(args))
    run = training.setup(args)
    assert vars(args) == before
    assert run.export_dir == tmp_path / "sm" and run.out == tmp_path / "out"
    silent = cli.parse_args(parser, ["--out", str(tmp_path / "out"), "--no-export"], "test")
    assert training.setup(silent).export_dir is None


def build(run, variant="improved", lr=1e-3):
    with run.strategy.scope():
        parts = conv_autoencoder(variant)
        parts.autoencoder.compile(optimizer=keras.optimizers.Adam(lr), loss="mse", **run.compile_options())
    return parts


def train_weights(out, train, epochs, *flags, callbacks=None):
    run = make_setup(out, "--seed", "3", "--batch-size", "64", *flags)
    parts = build(run)
    history = training.fit(parts.autoencoder, train, None, run, epochs, callbacks=callbacks, verbose=0)
    return [w.numpy() for w in parts.autoencoder.weights], history


@pytest.fixture(scope="module")
def small(fashion_train):
    train, val = data.hold_out(fashion_train)
    return train, val


@pytest.fixture(scope="module")
def lecture_trained(small, tmp_path_factory):
    """The lecture network after 3 epochs on 1,877 images (shared by the tests below)."""
    train, val = small
    run = make_setup(tmp_path_factory.mktemp("lecture"), "--seed", "0", "--batch-size", "64")
    parts = build(run, "lecture")
    x = train.as_float()
    history = {"untrained": parts.autoencoder.evaluate(x, x, batch_size=500, verbose=0)}
    history.update(training.fit(parts.autoencoder, train, val, run, 3, verbose=0))
    return parts, history, run


@pytest.mark.slow
def test_loss_falls_by_half(lecture_trained):
    _, history, run = lecture_trained
    assert len(history["loss"]) == 3 and len(history["val_loss"]) == 3
    # measured here: 0.143 over the first epoch, 0.075 over the third
    assert history["loss"][-1] < 0.5 * history["untrained"]
    assert history["loss"][-1] < history["loss"][0]
    assert (run.out / "checkpoints" / "best.weights.h5").exists()
    assert any((run.out / "logs").rglob("events.out.tfevents.*"))
    assert not (run.out / "backup").exists()  # a finished run leaves no resume state behind


@pytest.mark.slow
def test_batch_norm_recalibration_fixes_inference_mode(lecture_trained, small, fashion_test):
    parts, _, _ = lecture_trained
    ae = parts.autoencoder
    x = fashion_test.as_float()[:500]
    before = metrics.mse(inference.predict_in_batches(ae, x), x)
    training_mode = metrics.mse(ae(x, training=True), x)
    assert inference.recalibrate_batch_norm(ae, small[0].as_float()) == 2
    after = metrics.mse(inference.predict_in_batches(ae, x), x)
    # the trap: moving averages make inference far worse than training mode; recomputed stats close the gap
    assert before > 1.5 * training_mode
    assert after < 1.1 * training_mode
    bn = parts.decoder.layers[3]
    assert abs(bn.momentum - 0.99) < 1e-12  # restored after the pass


@pytest.mark.slow
def test_same_seed_same_weights(small, tmp_path):
    train, _ = small
    first, _ = train_weights(tmp_path / "a", train, 2)
    second, _ = train_weights(tmp_path / "b", train, 2)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


class Interrupt(Exception):
    pass


class InterruptAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.at = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            raise Interrupt()


@pytest.mark.slow
def test_resume_after_interruption_matches_an_uninterrupted_run(small, tmp_path):
    train, _ = small
    reference, ref_history = train_weights(tmp_path / "whole", train, 3)
    with pytest.raises(Interrupt):
        train_weights(tmp_path / "cut", train, 3, callbacks=[InterruptAt(2)])
    assert (tmp_path / "cut" / "backup" / "training_metadata.json").exists()
    resumed, history = train_weights(tmp_path / "cut", train, 3)
    assert history["loss"] == pytest.approx(ref_history["loss"])  # all three epochs, across both runs
    for a, b in zip(reference, resumed):
        np.testing.assert_array_equal(a, b)


def test_nan_loss_stops_with_epoch_and_step(small, tmp_path):
    train, _ = small
    run = make_setup(tmp_path, "--batch-size", "64")
    parts = build(run, lr=1e9)  # a learning rate that must blow up
    with pytest.raises(errors.TrainingDiverged, match=r"epoch \d+, step \d+"):
        training.fit(parts.autoencoder, train, None, run, 3, verbose=0)


def test_time_budget_ends_training_early(small, tmp_path, capsys):
    train, _ = small
    _, history = train_weights(tmp_path, train, 5, "--time-budget", "0.001")
    assert len(history["loss"]) == 1  # stopped after the first step of five epochs
    assert "Time budget of 0.001 s reached in epoch 1, step 1" in capsys.readouterr().out
    assert not (tmp_path / "backup").exists()  # a finished run: nothing to resume


def test_batch_larger_than_data_is_refused(small, tmp_path):
    train, _ = small
    run = make_setup(tmp_path, "--batch-size", "4096")
    parts = build(run)
    with pytest.raises(data.DataError, match="fewer than one batch"):
        training.fit(parts.autoencoder, train, None, run, 1, verbose=0)


def test_steps_per_execution_keeps_epochs_aligned(small, tmp_path):
    train, _ = small
    weights, history = train_weights(tmp_path, train, 1, "--steps-per-execution", "4")
    assert len(history["loss"]) == 1 and np.isfinite(history["loss"][0])


def test_several_steps_a_call_train_the_same_weights_and_callbacks_count_steps(small, tmp_path):
    """`--steps-per-execution 12` on an epoch of 24 steps: the weights equal a run with one step a call bit
    for bit, and the per-step callbacks still count steps, not calls."""
    from gen_keras.callbacks import EvaluateEverySteps, StepLosses

    train = small[0].head(24 * 64)
    calls = {}
    for per_call in ("1", "12"):
        run = make_setup(tmp_path / per_call, "--seed", "3", "--batch-size", "64", "--steps-per-execution", per_call)
        parts = build(run)
        losses, curve = StepLosses(), EvaluateEverySteps(lambda: 0.0, every=5)
        training.fit(parts.autoencoder, train, None, run, 2, callbacks=[losses, curve], verbose=0)
        calls[per_call] = ([w.numpy() for w in parts.autoencoder.weights], losses.losses, curve.steps)
    for one, twelve in zip(calls["1"][0], calls["12"][0]):
        np.testing.assert_array_equal(one, twelve)
    assert len(calls["12"][1]) == len(calls["1"][1]) == 48
    # a call's steps share its mean loss: the same sum as the one-step losses
    np.testing.assert_allclose(np.sum(calls["12"][1][:12]), np.sum(calls["1"][1][:12]), rtol=1e-4)
    assert calls["1"][2] == [5, 10, 15, 20, 25, 30, 35, 40, 45, 48]
    assert calls["12"][2] == [12, 24, 36, 48]


def test_epoch_log_has_no_empty_validation_columns_and_keeps_its_files_columns(tmp_path):
    """Without validation data no `val_*` columns; a resumed run appends in the file's own columns (a key
    new to this run is left out rather than shifting the row), and an empty file gets a header."""

    def log(path, rows, validation=False):
        logger = checkpoints.EpochLog(path, validation=validation)
        logger.on_train_begin()
        for epoch, logs in rows:
            logger.on_epoch_end(epoch, logs)
        logger.on_train_end()
        return path.read_text().splitlines()

    path = tmp_path / "history.csv"
    assert log(path, [(0, {"loss": 1.0, "g_loss": 2.0})]) == ["epoch,g_loss,loss", "0,2.0,1.0"]
    assert log(path, [(1, {"loss": 0.5, "g_loss": 1.5, "fid": 9.0})]) == ["epoch,g_loss,loss", "0,2.0,1.0",
                                                                          "1,1.5,0.5"]
    assert training.read_history(path) == {"g_loss": [2.0, 1.5], "loss": [1.0, 0.5]}
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert log(empty, [(0, {"loss": 1.0})]) == ["epoch,loss", "0,1.0"]
    with_val = tmp_path / "val.csv"
    assert log(with_val, [(0, {"loss": 1.0, "val_loss": 2.0})], validation=True)[0] == "epoch,loss,val_loss"


@pytest.mark.parametrize("n", [2, 43, 127, 128, 129, 5001])
def test_validation_batches_give_every_replica_a_share(n):
    """A multi-replica run splits each validation batch between the replicas: no replica may get an empty
    share (some CPUs' kernels reject it), whatever the set's size, also below one global batch."""
    from gen_keras.training.trainer import validation_dataset

    arrays = data.ImageArrays(np.zeros((n, 28, 28, 1), np.uint8), np.zeros(n, np.int64), "zeros")
    for replicas in (1, 2, 3):
        if n < replicas:
            with pytest.raises(errors.DataError, match="replicas"):
                validation_dataset(arrays, 128, replicas)
            continue
        sizes = [int(x.shape[0]) for x, _ in validation_dataset(arrays, 128, replicas)]
        if replicas == 1:
            assert sum(sizes) == n  # one device: every image, the last batch partial
            continue
        assert len(set(sizes)) == 1 and sizes[0] % replicas == 0 and sizes[0] <= 128
        assert 0 <= n - sum(sizes) < sizes[0]  # at most a partial batch is left out
