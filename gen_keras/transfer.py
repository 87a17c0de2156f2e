"""Transfer learning: exported encoders reused as the first layers of a classifier.

An encoder exported by a recipe (`<root>/<recipe>/encoder/<version>/`) loads two ways: the `.keras` file
beside the SavedModel (`how="keras"`, the Keras layers themselves) or the SavedModel through
`keras.layers.TFSMLayer` (`how="savedmodel"`, a graph with weights, no Keras layers inside). Both are
fine-tunable; `classifier_on_encoder` puts a small head on either, and `fit_classifier` trains it with
early stopping on a small labelled validation split.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from gen_keras import data as data_lib
from gen_keras import register_keras_objects
from gen_keras.errors import EncoderNotFound
from gen_keras.inference import predict_in_batches
from gen_keras.serving.export import versions


def latest_export(root: str | os.PathLike, recipe: str, part: str = "encoder", hint: str = "") -> Path:
    """The newest version folder of `<root>/<recipe>/<part>/`.

    Args:
        root: the export root, e.g. "saved_models".
        recipe: the recipe that exported it, e.g. "conv_autoencoder".
        part: the exported model, e.g. "encoder".
        hint: appended to the error message (what to run to export one).

    Returns:
        `Path` of `<root>/<recipe>/<part>/<highest version>`.

    Raises:
        EncoderNotFound: there is no numbered version folder.
    """
    part_dir = Path(root) / recipe / part
    found = versions(part_dir)
    if not found:
        raise EncoderNotFound(f"no exported {recipe} {part} in {part_dir} (no numbered version folder). {hint}".strip())
    return part_dir / str(found[-1])


class FineTunableTFSMLayer(keras.layers.TFSMLayer):
    """`keras.layers.TFSMLayer` whose weights an optimizer with slots (Adam, momentum SGD) can train.

    TFSMLayer names its weights after the SavedModel's variables, e.g. `conv2d_kernel:0`; Adam names each
    slot `<weight path>_momentum`, and `:` is not allowed in a TensorFlow name scope, so the first step
    fails with "'conv2d_kernel:0_momentum' is not a valid scope name" (Keras 3.15.1, TF 2.21). This
    subclass drops the `:0`; the weights are still the loaded variables that the graph reads.

    Args:
        filepath: a SavedModel folder (an export's version folder).
        call_endpoint: the signature called in inference mode, e.g. "serving_default".
        call_training_endpoint: the signature called with `training=True`, e.g. "serve_training"; None
            for none.
        **kwargs: the other `keras.layers.TFSMLayer` arguments (`trainable`, `name`, …).
    """

    def _add_existing_weight(self, weight):
        variable = keras.Variable(initializer=weight, trainable=weight.trainable, dtype=weight.dtype,
                                  shape=weight.shape, name=weight.name.split(":")[0].replace("/", "_"))
        self._track_variable(variable)


def _pick_output(names: Sequence[str], output: str | None, where: str) -> str:
    if output is None:
        if len(names) != 1:
            raise ValueError(f"{where} has outputs {list(names)}: say which one with output=...")
        return names[0]
    if output not in names:
        raise ValueError(f"{where} has no output '{output}'; its outputs are {list(names)}")
    return output


def load_encoder(path: str | os.PathLike, how: str = "keras", output: str | None = None, *,
                 training_endpoint: str | None = None) -> keras.Model:
    """An exported encoder as a Keras model image → features (one output, e.g. `code` or `mean`).

    `how="keras"` loads the `.keras` file with `keras.saving.load_model` (safe mode); `how="savedmodel"`
    wraps the SavedModel's `serving_default` in a `FineTunableTFSMLayer`, with `training_endpoint` run
    when it is called with `training=True` (needed for batch norm to use batch statistics).

    Args:
        path: a version folder (or, for `how="keras"`, the `.keras` file itself).
        how: "keras" or "savedmodel".
        output: the output to keep when the encoder has several (e.g. "mean" of a VAE's mean and log_var);
            None when it has one.
        training_endpoint: `how="savedmodel"` only: the signature run in training mode (e.g. "serve_training").

    Returns:
        A `keras.Model`: (batch, 28, 28, 1) float32 in [0, 1] → (batch, code_dim) for the recipes' encoders.

    Raises:
        EncoderNotFound: `how="keras"` and there is no `.keras` file.
        ValueError: `how` is unknown, or `output` is missing or not one of the outputs.
    """
    path = Path(path)
    if how == "keras":
        file = path if path.suffix == ".keras" else next(iter(sorted(path.glob("*.keras"))), None)
        if file is None or not file.exists():
            raise EncoderNotFound(f"no .keras file in {path}: the export was written with save_keras=False")
        register_keras_objects()  # the encoder may hold gen_keras layers (e.g. the VAE's sampler)
        model = keras.saving.load_model(file)
        name = _pick_output(model.output_names, output, str(file))
        if len(model.outputs) == 1:
            return model
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
        return keras.Model(inputs, model.outputs[model.output_names.index(name)], name=model.name)
    if how == "savedmodel":
        layer = FineTunableTFSMLayer(str(path), call_endpoint="serving_default",
                                     call_training_endpoint=training_endpoint, name="saved_encoder")
        (spec,) = layer.call_endpoint_fn.input_signature  # the export's one named input
        outputs = layer.call_endpoint_fn.concrete_functions[0].structured_outputs
        name = _pick_output(sorted(outputs), output, str(path))
        image = keras.Input(spec.shape[1:], dtype=spec.dtype, name=spec.name)
        return keras.Model(image, layer(image)[name], name="encoder")
    raise ValueError(f"how must be 'keras' or 'savedmodel', got {how!r}")


def fresh_copy(encoder: keras.Model) -> keras.Model:
    """The same architecture with newly initialised weights (the from-scratch baseline).

    Args:
        encoder: a Keras model.

    Returns:
        A `keras.Model` clone with fresh weights.
    """
    return keras.models.clone_model(encoder)


def classifier_on_encoder(encoder: keras.Model, num_classes: int, *, trainable: bool = False,
                          hidden: int = 128, dropout: float = 0.5) -> keras.Model:
    """Puts a classification head on an encoder: image → encoder → Dense(hidden, relu) → Dropout → Dense(num_classes).

    The head is a sub-model named `head` (features → logits), so it can be trained on precomputed
    features while the encoder is frozen. The encoder runs in inference mode even when trainable, as
    Keras's fine-tuning guide advises (batch norm, if any, keeps its statistics).

    Args:
        encoder: image → features, (batch, H, W, C) → (batch, d); its `trainable` is set here.
        num_classes: the number of logits.
        trainable: fine-tune the encoder (True) or freeze it (False).
        hidden: units of the head's hidden layer.
        dropout: the head's dropout rate.

    Returns:
        A `keras.Model` "classifier": (batch, H, W, C) images → (batch, num_classes) logits.
    """
    encoder.trainable = trainable
    features = keras.Input(encoder.outputs[0].shape[1:], name="features")
    h = keras.layers.Dense(hidden, activation="relu")(features)
    h = keras.layers.Dropout(dropout)(h)
    head = keras.Model(features, keras.layers.Dense(num_classes, name="logits")(h), name="head")
    image = keras.Input(encoder.inputs[0].shape[1:], name="image")
    return keras.Model(image, head(encoder(image, training=False)), name="classifier")


def balanced_indices(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Draws n indices without replacement, as equally from every class as the classes allow (seeded).

    Args:
        labels: class labels, (N,).
        n: how many, 1 ≤ n ≤ N.
        seed: seed of the numpy generator.

    Returns:
        `np.ndarray` of n distinct indices into `labels`, in random order.

    Raises:
        ValueError: n is not in [1, N].
    """
    labels = np.asarray(labels)
    if not 0 < n <= len(labels):
        raise ValueError(f"cannot draw {n} labelled examples from {len(labels)}")
    rng = np.random.default_rng(seed)
    pools = {c: rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)}
    quota = dict.fromkeys(pools, 0)
    left = n
    while left:  # share what is left equally among the classes that still have examples
        open_classes = [c for c in pools if quota[c] < len(pools[c])]
        share, extra = divmod(left, len(open_classes))
        lucky = set(rng.choice(open_classes, extra, replace=False).tolist()) if extra else set()
        for c in open_classes:
            take = min(share + (c in lucky), len(pools[c]) - quota[c])
            quota[c] += take
            left -= take
    return rng.permutation(np.concatenate([pools[c][:quota[c]] for c in pools]))


def labelled_split(labels: np.ndarray, n: int, seed: int, val_fraction: float = 0.2,
                   max_val: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Indices of n class-balanced labelled examples, split class-balanced into (train, validation).

    Args:
        labels: class labels, (N,).
        n: labelled examples in all (≥ 2).
        seed: seed of the draws (the validation split uses seed + 1).
        val_fraction: the share of the n that validate.
        max_val: at most this many validate (and at least one; at least one trains).

    Returns:
        (train indices, validation indices), int arrays into `labels`.

    Raises:
        ValueError: n is not in [2, N].
    """
    chosen = balanced_indices(labels, n, seed)
    n_val = min(max(1, round(n * val_fraction)), max_val, n - 1)
    val_pos = balanced_indices(np.asarray(labels)[chosen], n_val, seed + 1)
    return np.delete(chosen, val_pos), chosen[val_pos]


def labelled_subset(arrays: data_lib.ImageArrays, n: int, seed: int) -> data_lib.ImageArrays:
    """n labelled images, class-balanced where the classes allow, the same for the same seed.

    Args:
        arrays: the images and labels to draw from.
        n: how many.
        seed: seed of the draw.

    Returns:
        A new `ImageArrays` of n images.
    """
    idx = balanced_indices(arrays.labels, n, seed)
    return dataclasses.replace(arrays, images=arrays.images[idx], labels=arrays.labels[idx])


def _batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int) -> tf.data.Dataset:
    """An endless stream of shuffled batches; uint8 images become float32 in [0, 1]."""
    x_t, y_t = tf.constant(x), tf.constant(y)
    scale = 1 / 255 if x.dtype == np.uint8 else 1.0
    ds = (tf.data.Dataset.range(len(x)).shuffle(len(x), seed=seed, reshuffle_each_iteration=True).repeat()
          .batch(batch_size, drop_remainder=True))
    return ds.map(lambda i: (tf.cast(tf.gather(x_t, i), tf.float32) * scale, tf.gather(y_t, i))).prefetch(2)


@dataclasses.dataclass
class FitResult:
    """What `fit_classifier` reports.

    Args:
        steps: optimizer steps taken.
        best_step: the step whose weights were kept (best validation loss).
        seconds: wall-clock time of the training.
    """
    steps: int  # optimizer steps taken
    best_step: int  # the step whose weights were kept (best validation loss)
    seconds: float


def fit_classifier(model: keras.Model, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray, *,
                   learning_rate: float, batch_size: int, max_steps: int = 600, check_every: int = 50,
                   patience: int = 5, seed: int = 0, compile_options: Mapping | None = None,
                   callbacks: Sequence[keras.callbacks.Callback] = ()) -> FitResult:
    """Trains a classifier with Adam on the cross-entropy, with early stopping on the validation loss.

    Up to `max_steps` steps; every `check_every` steps the validation loss is measured, training stops
    after `patience` checks without improvement, and the weights with the best validation loss are kept.

    Args:
        model: images or features → logits (e.g. `classifier_on_encoder`, or its `head`).
        x: training inputs, (n, …): uint8 images (scaled to [0, 1] here), float images or features.
        y: integer labels, (n,).
        x_val: validation inputs, as `x` (uint8 images are scaled too).
        y_val: validation labels.
        learning_rate: Adam's step.
        batch_size: examples per step (at most n).
        max_steps: optimizer steps at most.
        check_every: steps between validation checks.
        patience: checks without improvement before stopping.
        seed: seed of the batches' shuffle.
        compile_options: extra `model.compile` arguments (e.g. `TrainingSetup.compile_options()`).
        callbacks: Keras callbacks, run before the early stopping, at every check.

    Returns:
        A `FitResult` (steps, best_step, seconds).
    """
    batch_size, check_every = min(batch_size, len(x)), min(check_every, max_steps)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), **(compile_options or {}))
    stop = keras.callbacks.EarlyStopping("val_loss", patience=patience, restore_best_weights=True)
    start = time.perf_counter()
    history = model.fit(_batches(x, y, batch_size, seed), steps_per_epoch=check_every,
                        epochs=max(1, math.ceil(max_steps / check_every)),
                        validation_data=(data_lib.float_images(x_val), y_val), validation_batch_size=500,
                        callbacks=[*callbacks, stop], verbose=0)
    checks = len(history.history["val_loss"])
    best = int(np.argmin(history.history["val_loss"])) + 1
    return FitResult(checks * check_every, best * check_every, time.perf_counter() - start)


def accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    """The fraction of `x` whose largest logit is the label.

    Args:
        model: inputs → logits.
        x: inputs, (n, …); uint8 images are scaled to [0, 1].
        y: integer labels, (n,).

    Returns:
        The accuracy in [0, 1].
    """
    return float(np.mean(np.argmax(predict_in_batches(model, x), axis=-1) == np.asarray(y)))


def summarize(records: Sequence[Mapping], key: str = "test_accuracy") -> dict[tuple, dict]:
    """Per (encoder, method, labels): mean, sample standard deviation and count of `key` over the seeds.

    Args:
        records: one mapping per run with keys "encoder", "method", "labels" and `key`.
        key: the value to summarize.

    Returns:
        `{(encoder, method, labels): {"mean": …, "std": … (0.0 for one run), "n": …}}`.
    """
    groups: dict[tuple, list[float]] = {}
    for r in records:
        groups.setdefault((r["encoder"], r["method"], r["labels"]), []).append(float(r[key]))
    return {k: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, "n": len(v)}
            for k, v in groups.items()}


def markdown_table(summary: Mapping[tuple, Mapping], label_counts: Sequence[int],
                   label_names: Mapping[int, str] | None = None) -> str:
    """A Markdown table: rows (encoder, method), columns the label counts, test accuracy in %, mean ± std over seeds.

    Args:
        summary: `summarize`'s result.
        label_counts: the columns, in order.
        label_names: column headings for some counts (e.g. {0: "all labels"}); default "<n> labels".

    Returns:
        The table as a string (an empty cell where a combination was not run).
    """
    label_names = label_names or {}
    header = ["encoder", "method", *(label_names.get(n, f"{n:,} labels") for n in label_counts)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    rows = dict.fromkeys((enc, method) for enc, method, _ in summary)
    for enc, method in rows:
        cells = []
        for n in label_counts:
            s = summary.get((enc, method, n))
            cells.append("" if s is None else f"{100 * s['mean']:.1f} ± {100 * s['std']:.1f}")
        lines.append(f"| {enc} | {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
