"""Training shared by every recipe: devices and strategy, seeds, precision, and a resumable `fit`.

`setup(args)` fixes seeds, precision and the batch size and returns a `TrainingSetup` whose `strategy`
scope the recipe builds and compiles its model in; `fit(...)` trains with a progress bar, TensorBoard
logs, a best-weights checkpoint and a backup that a re-run of the same command resumes from.

Every file `fit` keeps for resuming is written whole or not at all (a temporary name, then a rename), so
a process killed at any moment (SIGKILL, a pre-empted job) leaves the last finished epoch's state.
"""

from __future__ import annotations

import atexit
import csv
import dataclasses
import json
import math
import os
import shutil
import time
from pathlib import Path

import keras
import numpy as np

from gen_keras.errors import GenKerasError, TrainingDiverged  # noqa: F401 (re-exported)
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
    recipe: str = ""  # with `flags`, the identity stored beside a backup (see `fit`)
    flags: dict = dataclasses.field(default_factory=dict)
    is_chief: bool = True  # False on the other workers of a multi-worker run: they write to a temporary `out`
    time_budget: float | None = None  # seconds of training after which `fit` stops

    def compile_options(self) -> dict:
        """Keyword arguments for `model.compile`."""
        return {"steps_per_execution": self.steps_per_execution, "jit_compile": self.jit_compile}


def gpu_count() -> int:
    return len(tf.config.list_logical_devices("GPU"))


TF_CONFIG_EXAMPLE = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                     '"task": {"type": "worker", "index": 0}}')


class _MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
    """`MultiWorkerMirroredStrategy` whose `reduce` also takes nested values and per-replica scalars with
    `axis=0`: Keras 3's `fit` passes both (keras-team/keras#20585) and the stock strategy raises."""

    def reduce(self, reduce_op, value, axis):
        def one(v):
            t = v.values[0] if isinstance(v, tf.distribute.DistributedValues) else v
            rank = getattr(getattr(t, "shape", None), "rank", None)
            return super(_MultiWorkerMirroredStrategy, self).reduce(reduce_op, v, None if rank == 0 else axis)

        return tf.nest.map_structure(one, value)


def tf_config() -> dict:
    """The cluster and this process's task from `$TF_CONFIG`, checked; `GenKerasError` saying how to set
    it when it is missing or wrong."""
    how = (f"Set it on every machine to the same cluster and that machine's own task, e.g. "
           f"TF_CONFIG='{TF_CONFIG_EXAMPLE}' on the first and index 1 on the second; or use --strategy "
           "mirrored for the GPUs of one machine.")
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        raise GenKerasError("--strategy multiworker reads the cluster from the TF_CONFIG environment "
                            f"variable, which is not set. {how}")
    try:
        config = json.loads(raw)
    except ValueError as e:
        raise GenKerasError(f"TF_CONFIG is not valid JSON ({e}). {how}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise GenKerasError(f"TF_CONFIG needs a \"cluster\" and a \"task\" object; it is {raw}. {how}")
    for job, hosts in cluster.items():
        if job not in ("chief", "worker"):
            raise GenKerasError(f"TF_CONFIG's cluster has a '{job}' job; --strategy multiworker takes only "
                                f"'worker' (and optionally one 'chief'). {how}")
        if (not isinstance(hosts, list) or not hosts
                or not all(isinstance(h, str) and h.rpartition(":")[2].isdigit() for h in hosts)):
            raise GenKerasError(f"TF_CONFIG's '{job}' list must hold \"host:port\" strings; it is {hosts!r}. {how}")
    kind, index = task.get("type"), task.get("index")
    if kind not in cluster or not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
        raise GenKerasError(f"TF_CONFIG's task {task} is not one of its cluster's tasks {cluster}: the type "
                            "must name a job there and the index count from 0. " + how)
    return config


def is_chief_task(config: dict) -> bool:
    """TensorFlow's rule: the `chief` task if the cluster has one, else worker 0."""
    kind, index = config["task"]["type"], config["task"]["index"]
    return kind == "chief" or (kind == "worker" and index == 0 and "chief" not in config["cluster"])


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """`default` (one device), `mirrored` (every local GPU, or every logical CPU when there are none),
    `multiworker` (`MultiWorkerMirroredStrategy` over the machines in `$TF_CONFIG`, each machine's GPUs or
    its CPU), or `auto`: mirrored when more than one GPU is visible."""
    if name == "multiworker":
        tf_config()
        try:
            return _MultiWorkerMirroredStrategy()
        except (RuntimeError, ValueError) as e:
            if "startup" not in str(e):
                raise
            raise GenKerasError("--strategy multiworker must be set up before TensorFlow runs anything "
                                f"({e}): call training.setup(args) before loading data or building models.") from e
    if name == "auto":
        name = "mirrored" if gpu_count() > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    raise ValueError(f"unknown strategy '{name}': use auto, default, mirrored or multiworker")


def set_seed(seed: int) -> None:
    """Seeds Python, numpy and TensorFlow, and makes TensorFlow's ops deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def setup(args, base_batch_size: int | None = None) -> TrainingSetup:
    """Seeds, precision policy, strategy and batch size from the common flags.

    Call it first: `--strategy multiworker` must start before TensorFlow runs anything. On a multi-worker
    run's other workers (not the chief), `out` and `args.export_dir` point into `<--out>/workertemp_<index>`,
    which is deleted when the run ends without leaving a backup to resume from (TensorFlow's advice:
    every worker writes, only the chief's files are kept).
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
    is_chief = True
    if args.strategy == "multiworker":
        config = tf_config()
        is_chief = is_chief_task(config)
        if not is_chief:
            out = out / f"workertemp_{config['task']['index']}"
            args.export_dir = str(out / "saved_models")
            atexit.register(_remove_worker_temp, out)
    _check_writable(out, "--out", "Choose a folder you can write to.")
    if not getattr(args, "no_export", True):  # found out now, not after hours of training
        _check_writable(Path(args.export_dir), "--export-dir",
                        "Choose a folder you can write to, or add --no-export to skip the exports.")
    flags = {k.replace("_", "-"): v for k, v in vars(args).items()
             if isinstance(v, (bool, int, float, str)) and k not in ("recipe", "default_batch_size")}
    return TrainingSetup(strategy, batch_size, lr_scale, spe, bool(args.jit), out, args.seed,
                         getattr(args, "fresh", False), getattr(args, "recipe", ""), flags, is_chief,
                         getattr(args, "time_budget", None))


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


class EpochLog(keras.callbacks.CSVLogger):
    """Keras's CSVLogger appending to `path`, without the `val_*` columns (all "NA") it adds when there is
    no validation data; a resumed run keeps the columns of the file it appends to."""

    def __init__(self, path: str | os.PathLike, validation: bool):
        super().__init__(str(path), append=True)
        self.validation = validation

    def on_train_begin(self, logs=None):
        header = None
        if os.path.exists(self.filename) and os.path.getsize(self.filename):
            with open(self.filename, newline="") as f:
                header = next(csv.reader(f), None)
        super().on_train_begin(logs)
        self.append_header = not header  # a file without a header line gets one
        if header:
            self.keys = header[1:]

    def on_epoch_end(self, epoch, logs=None):
        if self.keys is None and not self.validation:
            self.keys = sorted(logs or {})
        super().on_epoch_end(epoch, logs)


class TimeBudget(keras.callbacks.Callback):
    """Stops training after the first step that ends `seconds` after training began; the epoch in
    progress ends there (its logs, checkpoint and backup are written as for a whole one)."""

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


BACKUP_METADATA = "training_metadata.json"
# Flags that change how a run trains or where it writes, not the model a backup holds.
RUN_FLAGS = {"out", "export-dir", "no-export", "fresh", "quick", "epochs", "limit", "batch-size", "seed",
             "steps-per-execution", "strategy", "jit", "mixed-precision", "learning-rate", "time-budget"}


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".tmp-{path.name}")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_backup(backup_dir: Path) -> dict | None:
    """The metadata of the state an interrupted run left in `backup_dir` (epoch, weights file, identity),
    or None when there is none."""
    meta = backup_dir / BACKUP_METADATA
    if not meta.exists():
        return None
    try:
        state = json.loads(meta.read_text())
        state["epoch"] = int(state["epoch"])
    except (ValueError, KeyError, TypeError, OSError) as e:
        raise GenKerasError(f"the saved training state {meta} is unreadable ({e}): delete {backup_dir} or "
                            "pass --fresh to start over.") from None
    state.setdefault("weights", "latest.weights.h5")  # written by keras.callbacks.BackupAndRestore
    return state


def model_identity(model: keras.Model, setup_: TrainingSetup) -> dict:
    """What a backup must match to be resumed: the recipe, the shapes of the model's variables, and (to
    explain a mismatch) the flags of the run that wrote it."""
    return {"recipe": setup_.recipe, "shapes": [list(w.shape) for w in model.weights], "flags": setup_.flags}


def _describe(identity: dict, other: dict) -> str:
    """`recipe 'vae' (--latent-dim 16)`: the recipe and, against the same recipe, the model flags that differ."""
    text = f"recipe '{identity.get('recipe') or '?'}'"
    if identity.get("recipe") != other.get("recipe"):
        return text
    flags, other_flags = identity.get("flags", {}), other.get("flags", {})
    shown = [f"--{k}" if v is True else f"no --{k}" if v is False else f"--{k} {v}"
             for k, v in flags.items() if k not in RUN_FLAGS and v != other_flags.get(k)]
    return text + (f" ({', '.join(shown)})" if shown else "")


def check_backup_fits(state: dict, identity: dict, backup_dir: Path) -> None:
    """Raises `GenKerasError` when the saved state in `backup_dir` is another model's."""
    saved = state.get("identity")
    if not saved:
        return  # an older backup: its weights are checked when they are loaded
    if saved.get("recipe") == identity["recipe"] and saved.get("shapes") == identity["shapes"]:
        return
    theirs, mine = _describe(saved, identity), _describe(identity, saved)
    if theirs == mine:  # the same recipe and flags (e.g. the code changed): say which shapes differ
        gap = next(((a, b) for a, b in zip(saved.get("shapes", []), identity["shapes"]) if a != b), None)
        theirs += f", whose model has {len(saved.get('shapes', []))} variables"
        mine += f", whose model has {len(identity['shapes'])}" + (
            f" ({tuple(gap[1])} where the saved one has {tuple(gap[0])})" if gap else "")
    raise GenKerasError(
        f"{backup_dir.parent} holds the saved state of another model: an interrupted run of {theirs}, at "
        f"epoch {state['epoch']}, while this command builds {mine}. Its weights do not fit this model, so it "
        "cannot be resumed. Add --fresh to discard that state and start over, or choose another --out to "
        "keep it (running its own command again resumes it).")


def random_states(model: keras.Model) -> list:
    """The model's random-number generator states (`keras.random.SeedGenerator`, e.g. a VAE's z draws):
    variables that `save_weights` leaves out."""
    return [v for v in model.variables if v.name == "seed_generator_state"]


class TrainingBackup(keras.callbacks.Callback):
    """The state a re-run resumes from: after each epoch, the model's and optimizer's variables, the random
    generators' states and the epoch number in `backup_dir`; restored when training begins, deleted when
    it ends.

    Each epoch's weights go to a file of their own and the metadata naming them is replaced atomically
    afterwards, so a process killed at any moment leaves the previous epoch's state or the new one, whole.
    (Keras's `BackupAndRestore` overwrites one weights file in place: a kill while it writes loses both.)
    """

    def __init__(self, backup_dir: str | os.PathLike, identity: dict | None = None):
        super().__init__()
        self.backup_dir = Path(backup_dir)
        self.identity = identity

    def on_train_begin(self, logs=None):
        state = read_backup(self.backup_dir)
        if state is None:
            return
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        try:
            self.model.load_weights(str(self.backup_dir / state["weights"]))
        except Exception as e:  # noqa: BLE001 - a shape, layer-count or file error: the same advice
            lines = [line.strip() for line in str(e).splitlines() if line.strip()]
            reason = " ".join(lines[:2])[:300] or type(e).__name__  # Keras's own message runs to pages
            raise GenKerasError(
                f"the saved training state in {self.backup_dir} does not fit this model ({reason}); it is "
                "probably another model's. Add --fresh to discard it and start over, or choose another --out "
                "to keep it.") from None
        states, saved = random_states(self.model), state.get("random_states")
        if saved is not None:  # (absent from older backups: their runs resume with fresh generators)
            if len(saved) != len(states):
                raise GenKerasError(
                    f"the saved training state in {self.backup_dir} holds {len(saved)} random-generator states "
                    f"but this model has {len(states)}; it is another model's. Add --fresh to discard it and "
                    "start over, or choose another --out to keep it.")
            for variable, value in zip(states, saved):
                variable.assign(np.asarray(value, dtype=variable.dtype))

    def on_epoch_end(self, epoch, logs=None):
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        name = f"epoch-{epoch + 1}.weights.h5"
        self.model.save_weights(str(self.backup_dir / name), overwrite=True)
        state = {"epoch": epoch + 1, "batch": 0, "weights": name, "identity": self.identity,
                 "random_states": [np.asarray(v).tolist() for v in random_states(self.model)]}
        _write_atomically(self.backup_dir / BACKUP_METADATA, json.dumps(state))
        for old in self.backup_dir.glob("*.weights.h5"):
            if old.name != name:
                old.unlink(missing_ok=True)

    def on_train_end(self, logs=None):
        shutil.rmtree(self.backup_dir, ignore_errors=True)


class BestCheckpoint(keras.callbacks.Callback):
    """Saves the weights to `path` whenever `monitor` (lower is better) beats every value so far, `best`
    included; through a temporary file and a rename, so a kill never leaves half a checkpoint."""

    def __init__(self, path: str | os.PathLike, monitor: str = "val_loss", best: float | None = None):
        super().__init__()
        self.path, self.monitor, self.best = Path(path), monitor, best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)) or (self.best is not None and value >= self.best):
            return
        self.best = float(value)
        tmp = self.path.with_name(f".tmp-{self.path.name}")  # still *.weights.h5, as Keras requires
        self.model.save_weights(str(tmp), overwrite=True)
        os.replace(tmp, self.path)


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
    if not model.built:
        raise ValueError("build the model (call it on a batch, or give it an Input) before fit")
    identity = model_identity(model, setup_)
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
        _truncate_history(history_path, start_epoch)  # drop an epoch logged after the last backup
        if start_epoch < epochs:
            print(f"Resuming from the saved state in {backup_dir}: epoch {start_epoch + 1} of {epochs}.")
    if monitor:
        best_path.parent.mkdir(parents=True, exist_ok=True)

    bs = setup_.batch_size
    steps = steps_per_epoch(len(train), setup_)
    train_ds = data_lib.make_dataset(train, bs, targets=targets, seed=setup_.seed, repeat=True,
                                     start_epoch=start_epoch, steps_per_epoch=steps)
    val_bs = bs
    if val is not None and len(val) < bs and isinstance(setup_.strategy, tf.distribute.MultiWorkerMirroredStrategy):
        # Keras all-reduces the first batch to learn its shapes: every replica's share must be the same size
        replicas = setup_.strategy.num_replicas_in_sync
        val_bs = max(replicas, len(val) - len(val) % replicas)
    val_ds = data_lib.make_dataset(val, val_bs, targets=targets, shuffle=False) if val is not None else None
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
