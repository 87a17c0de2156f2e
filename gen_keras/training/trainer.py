"""The trainer every recipe shares: seeds, precision and batch size from the common flags, and a resumable `fit`.

`setup(args)` fixes seeds, precision and the batch size and returns a `TrainingSetup` whose `strategy`
scope the recipe builds and compiles its model in; `fit(...)` trains with a progress bar, TensorBoard
logs, a best-weights checkpoint and a backup that a re-run of the same command resumes from
(`gen_keras.training.checkpoints`).
"""

from __future__ import annotations

import atexit
import dataclasses
import math
import os
import shutil
import time
from pathlib import Path

import keras
import tensorflow as tf

from gen_keras import data as data_lib
from gen_keras.errors import DataError, GenKerasError, TrainingDiverged
from gen_keras.training.checkpoints import (BestCheckpoint, EpochLog, TrainingBackup, check_backup_fits,
                                            model_identity, read_backup, read_history, truncate_history)
from gen_keras.training.distribution import gpu_count, is_chief_task, make_strategy, tf_config

GPU_BATCH_PER_REPLICA = 1024
GPU_STEPS_PER_EXECUTION = 32


@dataclasses.dataclass
class TrainingSetup:
    """What a recipe needs to build, compile and train its model (made by `setup`).

    Args:
        strategy: the `tf.distribute.Strategy` to build and compile the model in.
        batch_size: the global batch.
        learning_rate_scale: multiply the recipe's base learning rate by this (√(batch / default batch)).
        steps_per_execution: training steps per call into TensorFlow.
        jit_compile: compile the training step with XLA.
        out: the run's output folder.
        seed: the run's seed.
        fresh: discard a saved state instead of resuming.
        recipe: the recipe's name; with `flags`, the identity stored beside a backup (see `fit`).
        flags: the run's flags, {"flag-name": value}.
        is_chief: False on the other workers of a multi-worker run: they write to a temporary `out`.
        time_budget: seconds of training after which `fit` stops; None for no limit.
        export_dir: the export root the run writes to; None when it exports nothing (--no-export).
    """

    strategy: tf.distribute.Strategy
    batch_size: int  # global batch
    learning_rate_scale: float  # multiply the recipe's base learning rate by this
    steps_per_execution: int
    jit_compile: bool
    out: Path
    seed: int
    fresh: bool = False
    recipe: str = ""  # with `flags`, the identity stored beside a backup (see `fit`)
    flags: dict = dataclasses.field(default_factory=dict)
    is_chief: bool = True  # False on the other workers of a multi-worker run: they write to a temporary `out`
    time_budget: float | None = None  # seconds of training after which `fit` stops
    export_dir: Path | None = None  # the export root; None: nothing is exported (--no-export)

    def compile_options(self) -> dict:
        """Keyword arguments for `model.compile`: `steps_per_execution` and `jit_compile`."""
        return {"steps_per_execution": self.steps_per_execution, "jit_compile": self.jit_compile}



def set_seed(seed: int) -> None:
    """Seeds Python, numpy and TensorFlow, and makes TensorFlow's ops deterministic.

    Args:
        seed: the seed.
    """
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def setup(args, base_batch_size: int | None = None) -> TrainingSetup:
    """Seeds, precision policy, strategy and batch size from the common flags.

    Call it first: `--strategy multiworker` must start before TensorFlow runs anything. The batch is
    --batch-size, else 1024 per replica on GPUs, else the recipe's default (capped at --limit); the learning
    rate scale is √(batch / default batch). On a multi-worker run's other workers (not the chief), `out`
    and `export_dir` point into `<--out>/workertemp_<index>`, which is deleted when the run ends
    without leaving a backup to resume from (TensorFlow's advice: every worker writes, only the chief's
    files are kept).

    Args:
        args: the parsed common flags (`gen_keras.cli.parse_args`); read, never changed.
        base_batch_size: the batch the recipe's learning rate is tuned for; None: `args.default_batch_size`.

    Returns:
        A `TrainingSetup`.

    Raises:
        GenKerasError: --out (or --export-dir, unless --no-export) cannot be written, or `$TF_CONFIG` is
            missing or wrong for --strategy multiworker.
    """
    # MultiWorkerMirroredStrategy configures collective ops, which TensorFlow allows only at startup.
    strategy = make_strategy("multiworker") if args.strategy == "multiworker" else None
    set_seed(args.seed)
    gpus = gpu_count()
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16" if gpus else "mixed_bfloat16")
    strategy = strategy or make_strategy(args.strategy)
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
    exports = not getattr(args, "no_export", True)
    export_dir = Path(args.export_dir) if exports else None
    is_chief = True
    if args.strategy == "multiworker":
        config = tf_config()
        is_chief = is_chief_task(config)
        if not is_chief:
            out = out / f"workertemp_{config['task']['index']}"
            export_dir = out / "saved_models" if exports else None
            atexit.register(_remove_worker_temp, out)
    _check_writable(out, "--out", "Choose a folder you can write to.")
    if export_dir is not None:  # found out now, not after hours of training
        _check_writable(export_dir, "--export-dir",
                        "Choose a folder you can write to, or add --no-export to skip the exports.")
    flags = {k.replace("_", "-"): v for k, v in vars(args).items()
             if isinstance(v, (bool, int, float, str)) and k not in ("recipe", "default_batch_size", "quick_fid_samples")}
    return TrainingSetup(strategy, batch_size, lr_scale, spe, bool(args.jit), out, args.seed,
                         getattr(args, "fresh", False), getattr(args, "recipe", ""), flags, is_chief,
                         getattr(args, "time_budget", None), export_dir)


def _check_writable(folder: Path, flag: str, advice: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise GenKerasError(f"{flag} {folder} cannot be written ({e.strerror or e}). {advice}") from None


def _remove_worker_temp(folder: Path) -> None:
    if not (folder / "backup").exists():  # kept while it holds the state an interrupted run resumes from
        shutil.rmtree(folder, ignore_errors=True)


class StopOnNonFinite(keras.callbacks.Callback):
    """Raises `TrainingDiverged` as soon as a loss is NaN or infinite, naming the epoch and step.

    Watches `loss` and any `*_loss` (e.g. a GAN's `d_loss` and `g_loss`) after every training step.
    """

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


class TimeBudget(keras.callbacks.Callback):
    """Stops training after the first step that ends `seconds` after training began.

    The epoch in progress ends there (its logs, checkpoint and backup are written as for a whole one);
    `stopped_at` holds the (epoch, step), 1-based, where it stopped.

    Args:
        seconds: the training time allowed.
    """

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds
        self.stopped_at: tuple[int, int] | None = None  # (epoch, step), 1-based, when the budget ran out

    def on_train_begin(self, logs=None):
        self.start, self.epoch = time.perf_counter(), 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.stopped_at is None and time.perf_counter() - self.start >= self.seconds:
            self.model.stop_training = True
            self.stopped_at = (self.epoch + 1, batch + 1)
            print(f"\nTime budget of {self.seconds:g} s reached in epoch {self.epoch + 1}, step {batch + 1}: "
                  "training stops here.")


def steps_per_epoch(num_images: int, setup_: TrainingSetup) -> int:
    """Full batches per epoch, a whole number of executions (so epochs stay aligned with the data).

    Formula: steps = ⌊N / batch⌋ − (⌊N / batch⌋ mod min(steps_per_execution, ⌊N / batch⌋)).

    Args:
        num_images: N, the training images.
        setup_: the run's `TrainingSetup` (batch size, steps per execution).

    Returns:
        The number of steps per epoch, ≥ 1.

    Raises:
        DataError: fewer images than one batch.
    """
    bs = setup_.batch_size
    steps = num_images // bs
    if steps < 1:
        raise DataError(f"{num_images} training images are fewer than one batch of {bs}: "
                                 "lower --batch-size or raise --limit.")
    spe = min(setup_.steps_per_execution, steps)
    return steps - steps % spe


def sub_run(setup_: TrainingSetup, name: str, **changes) -> TrainingSetup:
    """The same run with its outputs (logs, checkpoints, history) in `<out>/<name>/`, for a recipe that
    trains several models; the folder is created.

    Args:
        setup_: the recipe's `TrainingSetup`.
        name: the model's subfolder, e.g. "linear" or "contractive".
        **changes: other fields to replace, e.g. `batch_size=` for a small training set.

    Returns:
        A new `TrainingSetup`.
    """
    sub = dataclasses.replace(setup_, out=setup_.out / name, **changes)
    sub.out.mkdir(parents=True, exist_ok=True)
    return sub


def cosine_adam(learning_rate: float, num_images: int, setup_: TrainingSetup, epochs: int) -> keras.optimizers.Adam:
    """Adam whose step decays to 0 along a cosine over a run of `epochs` epochs on `num_images` images.

    Formula: η_t = η_0 · s · ½(1 + cos(π t / T)), T = epochs × steps per epoch, s the run's learning-rate
    scale for its batch size.

    Args:
        learning_rate: η_0, Adam's first step at the reference batch size.
        num_images: the training images (for the steps per epoch).
        setup_: the run's `TrainingSetup`.
        epochs: the epochs of the run.

    Returns:
        A `keras.optimizers.Adam` (create it in the strategy's scope).
    """
    decay_steps = epochs * steps_per_epoch(num_images, setup_)
    return keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(
        learning_rate * setup_.learning_rate_scale, decay_steps=decay_steps))


def validation_dataset(val: data_lib.ImageArrays, batch_size: int, replicas: int = 1, *,
                       targets: str | None = "images"):
    """The validation data as `fit` reads it: in order, in batches that every replica gets a share of.

    With several replicas (a mirrored or multi-worker run) each batch is split between them, and a
    replica handed an empty share fails on some CPUs' kernels (and Keras all-reduces the first batch to
    learn its shapes). So every batch holds the same whole multiple of `replicas` images: the batch is
    `batch_size` (or the largest multiple of `replicas` that fits the set) and the last partial batch is
    left out, at most `batch_size - 1` images.

    Args:
        val: the validation images.
        batch_size: the global batch size.
        replicas: the strategy's `num_replicas_in_sync`.
        targets: as `gen_keras.data.make_dataset`.

    Returns:
        A `tf.data.Dataset`, one pass, of float32 (batch, H, W, C) images in [0, 1] (with their targets).

    Raises:
        DataError: fewer validation images than replicas.
    """
    if replicas <= 1:
        return data_lib.make_dataset(val, batch_size, targets=targets, shuffle=False)
    n = len(val)
    if n < replicas:
        raise DataError(f"{n} validation images cannot be shared between {replicas} replicas: "
                        "raise --limit or train on fewer devices.")
    batch = min(batch_size - batch_size % replicas or replicas, n - n % replicas)
    kept = n - n % batch
    return data_lib.make_dataset(val.head(kept), batch, targets=targets, shuffle=False)


def fit(model: keras.Model, train: data_lib.ImageArrays, val: data_lib.ImageArrays | None,
        setup_: TrainingSetup, epochs: int, *, targets: str | None = "images", monitor: str | None = "val_loss",
        callbacks: list | None = None, verbose: int | str = "auto") -> dict[str, list[float]]:
    """Trains `model` (built and compiled in `setup_.strategy.scope()`) and returns the history.

    Resumes from `<out>/backup` when a previous run of the same command was interrupted; keeps the
    best weights by `monitor` in `<out>/checkpoints/best.weights.h5` and loads them at the end; writes
    TensorBoard logs to `<out>/logs` and per-epoch metrics to `<out>/history.csv`. `monitor=None` keeps no
    best checkpoint and ends with the last epoch's weights (a GAN's losses do not say which epoch is best).

    Args:
        model: a built, compiled Keras model.
        train: the training images; each epoch reads ⌊N / batch⌋ full batches (see `steps_per_epoch`).
        val: the validation images, or None.
        setup_: the run's `TrainingSetup`.
        epochs: the epoch to train up to (a resumed run starts after its last finished one).
        targets: what each batch pairs the images with: None, "labels" or "images" (`make_dataset`).
        monitor: the log key whose lowest value picks the best weights ("val_…" falls back to the training
            key without validation data); None for no best checkpoint.
        callbacks: extra Keras callbacks, run before the loggers (what they add to the logs is kept).
        verbose: Keras's `fit` verbosity.

    Returns:
        The per-epoch history from history.csv, across resumed runs: {key: [value per epoch]}.

    Raises:
        ValueError: the model is not built.
        GenKerasError: the saved state in `<out>/backup` is unreadable or another model's.
        TrainingDiverged: a loss became NaN or infinite.
        DataError: too few images for one batch.
    """
    out = setup_.out
    backup_dir, best_path, history_path = out / "backup", out / "checkpoints" / "best.weights.h5", out / "history.csv"
    if not model.built:
        raise ValueError("build the model (call it on a batch, or give it an Input) before fit")
    identity = model_identity(model, setup_.recipe, setup_.flags)
    if setup_.fresh:
        for path in (backup_dir, best_path.parent, out / "logs"):
            shutil.rmtree(path, ignore_errors=True)
        history_path.unlink(missing_ok=True)
    state = read_backup(backup_dir)
    if state is not None:
        check_backup_fits(state, identity, backup_dir)  # before anything in --out changes
    start_epoch = state["epoch"] if state else 0
    if start_epoch == 0:
        history_path.unlink(missing_ok=True)  # a fresh start: no stale epochs in the curves
    else:
        truncate_history(history_path, start_epoch)  # drop an epoch logged after the last backup
        if start_epoch < epochs:
            print(f"Resuming from the saved state in {backup_dir}: epoch {start_epoch + 1} of {epochs}.")
    if monitor:
        best_path.parent.mkdir(parents=True, exist_ok=True)

    bs = setup_.batch_size
    steps = steps_per_epoch(len(train), setup_)
    train_ds = data_lib.make_dataset(train, bs, targets=targets, seed=setup_.seed, repeat=True,
                                     start_epoch=start_epoch, steps_per_epoch=steps)
    val_ds = (validation_dataset(val, bs, setup_.strategy.num_replicas_in_sync, targets=targets)
              if val is not None else None)
    if monitor and val_ds is None and monitor.startswith("val_"):
        monitor = monitor[4:]
    past = read_history(history_path).get(monitor, []) if monitor else []
    cbs = [  # the epoch's log row and best checkpoint are written before its backup: a resume misses neither
        StopOnNonFinite(),
        *([TimeBudget(setup_.time_budget)] if setup_.time_budget else []),
        *(callbacks or []),  # before the loggers: what they add to an epoch's logs gets into history.csv
        EpochLog(history_path, validation=val_ds is not None),
        *([BestCheckpoint(best_path, monitor, min(past) if past else None)] if monitor else []),
        TrainingBackup(backup_dir, identity),
        keras.callbacks.TensorBoard(str(out / "logs"), write_graph=False, profile_batch=0),
    ]
    model.fit(train_ds, epochs=epochs, steps_per_epoch=steps, validation_data=val_ds,
              initial_epoch=start_epoch, callbacks=cbs, verbose=verbose, shuffle=False)
    if monitor and best_path.exists():
        model.load_weights(str(best_path))
    return read_history(history_path)
