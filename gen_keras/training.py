"""Training shared by every recipe: devices and strategy, seeds, precision, and a resumable `fit`.

`setup(args)` fixes seeds, precision and the batch size and returns a `TrainingSetup` whose `strategy`
scope the recipe builds and compiles its model in; `fit(...)` trains with a progress bar, TensorBoard
logs, a best-weights checkpoint and a backup that a re-run of the same command resumes from.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import shutil
from pathlib import Path

import keras
import numpy as np

from gen_keras.errors import TrainingDiverged  # noqa: F401 (re-exported)
import tensorflow as tf

from gen_keras import data as data_lib

GPU_BATCH_PER_REPLICA = 1024
GPU_STEPS_PER_EXECUTION = 32


@dataclasses.dataclass
class TrainingSetup:
    """What a recipe needs to build, compile and train its model."""

    strategy: tf.distribute.Strategy
    batch_size: int  # global batch
    learning_rate_scale: float  # multiply the recipe's base learning rate by this
    steps_per_execution: int
    jit_compile: bool
    out: Path
    seed: int
    fresh: bool = False

    def compile_options(self) -> dict:
        """Keyword arguments for `model.compile`."""
        return {"steps_per_execution": self.steps_per_execution, "jit_compile": self.jit_compile}


def gpu_count() -> int:
    return len(tf.config.list_logical_devices("GPU"))


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """`default` (one device), `mirrored` (every local GPU, or every logical CPU when there are none),
    or `auto`: mirrored when more than one GPU is visible."""
    if name == "auto":
        name = "mirrored" if gpu_count() > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    raise ValueError(f"unknown strategy '{name}': use auto, default or mirrored")


def set_seed(seed: int) -> None:
    """Seeds Python, numpy and TensorFlow, and makes TensorFlow's ops deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def setup(args, base_batch_size: int | None = None) -> TrainingSetup:
    """Seeds, precision policy, strategy and batch size from the common flags."""
    set_seed(args.seed)
    gpus = gpu_count()
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16" if gpus else "mixed_bfloat16")
    strategy = make_strategy(args.strategy)
    base = base_batch_size or args.default_batch_size
    if args.batch_size:
        batch_size = args.batch_size
    elif gpus:
        batch_size = GPU_BATCH_PER_REPLICA * strategy.num_replicas_in_sync
    else:
        batch_size = base
    if args.limit and not args.batch_size:
        batch_size = min(batch_size, args.limit)
    # Adam-style optimisers: scale the step with the square root of the batch growth.
    lr_scale = math.sqrt(batch_size / base)
    spe = args.steps_per_execution or (GPU_STEPS_PER_EXECUTION if gpus else 1)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise SystemExit(f"error: --out {out} cannot be written ({e.strerror}). Choose a folder you can write to.")
    return TrainingSetup(strategy, batch_size, lr_scale, spe, bool(args.jit), out, args.seed,
                         getattr(args, "fresh", False))


class StopOnNonFinite(keras.callbacks.Callback):
    """Raises `TrainingDiverged` naming the epoch and step as soon as a loss (`loss` or any `*_loss`, e.g. a
    GAN's `d_loss` and `g_loss`) is NaN or infinite."""

    def __init__(self):
        super().__init__()
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        bad = [(name, float(value)) for name, value in (logs or {}).items()
               if (name == "loss" or name.endswith("_loss")) and not math.isfinite(float(value))]
        if bad:
            name, value = bad[0]
            raise TrainingDiverged(
                f"the training {name} became {value} in epoch {self.epoch + 1}, step {batch + 1}. "
                "Training stopped; the last good state is kept (best checkpoint and backup), nothing was "
                "exported. Try a lower learning rate.")


def read_history(path: Path) -> dict[str, list[float]]:
    """The per-epoch logs written by `CSVLogger`, across resumed runs."""
    if not path.exists():
        return {}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    history: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue  # CSVLogger writes "NA" for a metric missing that epoch
            if key != "epoch":
                history.setdefault(key, []).append(number)
    return history


def _truncate_history(path: Path, epochs: int) -> None:
    if path.exists():
        lines = path.read_text().splitlines(keepends=True)
        if len(lines) > epochs + 1:
            path.write_text("".join(lines[: epochs + 1]))


def _resume_epoch(backup_dir: Path) -> int:
    meta = backup_dir / "training_metadata.json"
    if not meta.exists():
        return 0
    try:
        return int(json.loads(meta.read_text())["epoch"])
    except (ValueError, KeyError, OSError) as e:
        raise SystemExit(f"error: the saved training state {meta} is unreadable ({e}); "
                         "delete it or pass --fresh to start over.")


def steps_per_epoch(num_images: int, setup_: TrainingSetup) -> int:
    """Full batches per epoch, a whole number of executions (so epochs stay aligned with the data)."""
    bs = setup_.batch_size
    steps = num_images // bs
    if steps < 1:
        raise data_lib.DataError(f"{num_images} training images are fewer than one batch of {bs}: "
                                 "lower --batch-size or raise --limit.")
    spe = min(setup_.steps_per_execution, steps)
    return steps - steps % spe


def fit(model: keras.Model, train: data_lib.ImageArrays, val: data_lib.ImageArrays | None,
        setup_: TrainingSetup, epochs: int, *, targets: str | None = "images", monitor: str | None = "val_loss",
        callbacks: list | None = None, verbose: int | str = "auto") -> dict[str, list[float]]:
    """Trains `model` (built and compiled in `setup_.strategy.scope()`) and returns the history.

    Resumes from `<out>/backup` when a previous run of the same command was interrupted; keeps the
    best weights by `monitor` in `<out>/checkpoints/best.weights.h5` and loads them at the end; writes
    TensorBoard logs to `<out>/logs` and per-epoch metrics to `<out>/history.csv`. `monitor=None` keeps no
    best checkpoint and ends with the last epoch's weights (a GAN's losses do not say which epoch is best).
    """
    out = setup_.out
    backup_dir, best_path, history_path = out / "backup", out / "checkpoints" / "best.weights.h5", out / "history.csv"
    if setup_.fresh:
        for path in (backup_dir, best_path.parent, out / "logs"):
            shutil.rmtree(path, ignore_errors=True)
        history_path.unlink(missing_ok=True)
    start_epoch = _resume_epoch(backup_dir)
    if start_epoch == 0:
        history_path.unlink(missing_ok=True)  # a fresh start: no stale epochs in the curves
    else:
        _truncate_history(history_path, start_epoch)  # drop an epoch logged after the last backup
        if start_epoch < epochs:
            print(f"Resuming from the saved state in {backup_dir}: epoch {start_epoch + 1} of {epochs}.")
    best_path.parent.mkdir(parents=True, exist_ok=True)

    bs = setup_.batch_size
    steps = steps_per_epoch(len(train), setup_)
    train_ds = data_lib.make_dataset(train, bs, targets=targets, seed=setup_.seed, repeat=True,
                                     start_epoch=start_epoch, steps_per_epoch=steps)
    val_ds = data_lib.make_dataset(val, bs, targets=targets, shuffle=False) if val is not None else None
    if monitor and val_ds is None and monitor.startswith("val_"):
        monitor = monitor[4:]
    past = read_history(history_path).get(monitor, []) if monitor else []
    cbs = [  # the epoch's log row is written before its backup, so a resume never misses a row
        StopOnNonFinite(),
        keras.callbacks.CSVLogger(str(history_path), append=True),
        keras.callbacks.BackupAndRestore(str(backup_dir)),
        *([keras.callbacks.ModelCheckpoint(str(best_path), monitor=monitor, save_best_only=True,
                                           save_weights_only=True,
                                           initial_value_threshold=min(past) if past else None)]
          if monitor else []),
        keras.callbacks.TensorBoard(str(out / "logs"), write_graph=False, profile_batch=0),
        *(callbacks or []),
    ]
    if not model.built:
        raise ValueError("build the model (call it on a batch, or give it an Input) before fit")
    model.fit(train_ds, epochs=epochs, steps_per_epoch=steps, validation_data=val_ds,
              initial_epoch=start_epoch, callbacks=cbs, verbose=verbose, shuffle=False)
    if monitor and best_path.exists():
        model.load_weights(str(best_path))
    return read_history(history_path)


def predict(model: keras.Model, images: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Inference-mode outputs over an array, in batches, as float32 numpy."""
    outputs = [np.asarray(model(images[i:i + batch_size], training=False), np.float32)
               for i in range(0, len(images), batch_size)]
    return np.concatenate(outputs)


def recalibrate_batch_norm(model: keras.Model, images: np.ndarray | list, batch_size: int = 1000) -> int:
    """Sets every BatchNormalization layer's moving mean and variance to their average over `images` (an
    array, or a list of arrays for a model with several inputs, e.g. a conditional generator's [z, labels]).

    The moving averages (momentum 0.99, variance initialised to 1) lag far behind the true statistics
    when a layer's input variance is tiny, which breaks inference mode. Here each batch k is folded in
    with momentum k/(k+1), so after the pass the statistics are the plain average over all batches
    (large batches keep the between-batch part of the variance negligible). Returns the number of layers.
    """
    bn_layers = [l for l in _all_layers(model) if isinstance(l, keras.layers.BatchNormalization)]
    if not bn_layers:
        return 0
    saved = [l.momentum for l in bn_layers]
    try:
        parts = list(images) if isinstance(images, (list, tuple)) else None
        for k, start in enumerate(range(0, len(parts[0] if parts else images), batch_size)):
            for layer in bn_layers:
                layer.momentum = k / (k + 1)
            batch = [p[start:start + batch_size] for p in parts] if parts else images[start:start + batch_size]
            model(batch, training=True)  # eager: reads the momentum each call
    finally:
        for layer, m in zip(bn_layers, saved):
            layer.momentum = m
    return len(bn_layers)


def _all_layers(model: keras.Layer):
    for layer in getattr(model, "layers", []):
        yield layer
        yield from _all_layers(layer)
