"""What a run keeps so that it can resume, and what it logs: per-epoch history, the best weights, backups.

Every file written here is written whole or not at all (a temporary name, then a rename), so a process
killed at any moment (SIGKILL, a pre-empted job) leaves the last finished epoch's state.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
from pathlib import Path

import keras
import numpy as np

from gen_keras.errors import GenKerasError
from gen_keras.files import atomic_path, write_atomically

class EpochLog(keras.callbacks.CSVLogger):
    """Keras's CSVLogger appending to `path`, without the `val_*` columns it adds when there is no validation data.

    Those columns would be all "NA"; a resumed run keeps the columns of the file it appends to.

    Args:
        path: the CSV file, e.g. `<out>/history.csv`.
        validation: whether `fit` has validation data.
    """

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


def read_history(path: Path) -> dict[str, list[float]]:
    """The per-epoch logs written by `CSVLogger`, across resumed runs.

    Args:
        path: the CSV file.

    Returns:
        {key: [value per epoch]} (the `epoch` column and "NA" cells left out); {} when the file is missing.
    """
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


def truncate_history(path: Path, epochs: int) -> None:
    """Drops the rows of `path` after the first `epochs` (an epoch logged after the last backup).

    Args:
        path: the CSV file (header line plus one row per epoch); nothing happens when it is missing.
        epochs: the rows to keep.
    """
    if path.exists():
        lines = path.read_text().splitlines(keepends=True)
        if len(lines) > epochs + 1:
            path.write_text("".join(lines[: epochs + 1]))


BACKUP_METADATA = "training_metadata.json"
# Flags that change how a run trains or where it writes, not the model a backup holds.
RUN_FLAGS = {"out", "export-dir", "no-export", "fresh", "quick", "epochs", "limit", "batch-size", "seed",
             "steps-per-execution", "strategy", "jit", "mixed-precision", "learning-rate", "time-budget"}



def read_backup(backup_dir: Path) -> dict | None:
    """The metadata of the state an interrupted run left in `backup_dir`.

    Args:
        backup_dir: the run's backup folder, `<out>/backup`.

    Returns:
        {"epoch": finished epochs, "weights": file name, "identity": …, "random_states": …}, or None when
        there is no saved state.

    Raises:
        GenKerasError: the metadata file is unreadable.
    """
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


def model_identity(model: keras.Model, recipe: str, flags: dict) -> dict:
    """What a backup must match to be resumed.

    Args:
        model: the model being trained.
        recipe: the recipe's name.
        flags: the run's flags (kept to explain a mismatch).

    Returns:
        {"recipe": …, "shapes": [shape of each model variable], "flags": …}.
    """
    return {"recipe": recipe, "shapes": [list(w.shape) for w in model.weights], "flags": flags}


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
    """Checks that the saved state in `backup_dir` is this model's (same recipe and variable shapes).

    Args:
        state: `read_backup`'s result.
        identity: this run's `model_identity`.
        backup_dir: the backup folder (named in the message).

    Raises:
        GenKerasError: the state is another model's; the message names the flags that differ and the fix.
    """
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
    """The model's random-number generator states, which `save_weights` leaves out.

    Args:
        model: a Keras model.

    Returns:
        The variables named "seed_generator_state" (`keras.random.SeedGenerator`, e.g. a VAE's z draws).
    """
    return [v for v in model.variables if v.name == "seed_generator_state"]


class TrainingBackup(keras.callbacks.Callback):
    """The state a re-run resumes from, saved after each epoch and restored when training begins.

    After each epoch: the model's and optimizer's variables, the random generators' states and the epoch
    number in `backup_dir`; restored when training begins, deleted when it ends.

    Each epoch's weights go to a file of their own and the metadata naming them is replaced atomically
    afterwards, so a process killed at any moment leaves the previous epoch's state or the new one, whole.
    (Keras's `BackupAndRestore` overwrites one weights file in place: a kill while it writes loses both.)

    Args:
        backup_dir: the backup folder, `<out>/backup`.
        identity: the `model_identity` stored with each backup.

    Raises:
        GenKerasError: at the start of training, the saved weights or random states do not fit the model.
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
        write_atomically(self.backup_dir / BACKUP_METADATA, json.dumps(state))
        for old in self.backup_dir.glob("*.weights.h5"):
            if old.name != name:
                old.unlink(missing_ok=True)

    def on_train_end(self, logs=None):
        shutil.rmtree(self.backup_dir, ignore_errors=True)


class BestCheckpoint(keras.callbacks.Callback):
    """Saves the weights to `path` whenever `monitor` (lower is better) beats every value so far, `best` included.

    Written through a temporary file and a rename, so a kill never leaves half a checkpoint; NaN and
    infinite values are never best.

    Args:
        path: the weights file, `*.weights.h5`.
        monitor: the log key, e.g. "val_loss".
        best: the best value of earlier (resumed) epochs; None for none.
    """

    def __init__(self, path: str | os.PathLike, monitor: str = "val_loss", best: float | None = None):
        super().__init__()
        self.path, self.monitor, self.best = Path(path), monitor, best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)) or (self.best is not None and value >= self.best):
            return
        self.best = float(value)
        with atomic_path(self.path) as tmp:  # still *.weights.h5, as Keras requires
            self.model.save_weights(str(tmp), overwrite=True)

