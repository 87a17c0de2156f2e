"""The fixed Fashion-MNIST classifier that labels generated images and gives the features behind the FID.

Every recipe scores its samples with this one network, so FIDs and class histograms compare across
recipes: Conv2D(32,3,relu) → MaxPool(2) → Conv2D(64,3,relu) → MaxPool(2) → Flatten → Dense(128,relu)
(the layer named "features") → Dropout(0.3) → Dense(10) (logits); Adam 1e-3, batch 128, 3 epochs, fixed
seed. `load_or_train_classifier` trains it once and caches the `.keras` file.

Images go in as float NHWC arrays whose pixel range the caller states with `value_range`: (0, 1), the
default, for data and sigmoid outputs; (-1, 1) for tanh outputs (GANs). Values clearly outside the stated
range raise a ValueError rather than being guessed at; values within 5% of it are clipped.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np

from gen_keras import data as data_lib
from gen_keras import inference
from gen_keras.errors import GenKerasError
from gen_keras.files import atomic_path
from gen_keras.metrics import FID_SAMPLES, QUICK_FID_SAMPLES  # noqa: F401  (the FID's sample counts, also importable here)

# Bump when the network or its training changes: the cache file's name carries it, so old files are ignored.
ARCHITECTURE_VERSION = 1
DEFAULT_SEED = 0
FEATURES_LAYER = "features"
FEATURE_DIM = 128
QUICK_CLASSIFIER = {"limit": 2048, "epochs": 1}  # trained in seconds, used only when the real one is not cached
CACHE_ENV = "GEN_KERAS_CACHE"
RANGE_TOLERANCE = 0.05  # fraction of the value range that pixels may overshoot before it is an error


def build_classifier(input_shape: tuple[int, ...] = (28, 28, 1), num_classes: int = 10,
                     seed: int = DEFAULT_SEED) -> keras.Model:
    """Builds the feature classifier, uncompiled, float32 whatever the global precision policy.

    Conv2D(32, 3, relu) → MaxPool(2) → Conv2D(64, 3, relu) → MaxPool(2) → Flatten → Dense(128, relu)
    ("features") → Dropout(0.3) → Dense(num_classes) (logits); every initializer and the dropout seeded
    from `seed`.

    Args:
        input_shape: (H, W, C) of the images, e.g. (28, 28, 1).
        num_classes: the number of logits.
        seed: seeds the layers' initializers (seed … seed + 4) and the dropout.

    Returns:
        A `keras.Model` "feature_classifier": (batch, H, W, C) float32 in [0, 1] → (batch, num_classes) logits.
    """
    L = keras.layers
    init = keras.initializers.GlorotUniform
    f32 = {"dtype": "float32"}
    image = keras.Input(input_shape, dtype="float32", name="image")
    h = L.Conv2D(32, 3, activation="relu", kernel_initializer=init(seed), name="conv1", **f32)(image)
    h = L.MaxPooling2D(2, name="pool1", **f32)(h)
    h = L.Conv2D(64, 3, activation="relu", kernel_initializer=init(seed + 1), name="conv2", **f32)(h)
    h = L.MaxPooling2D(2, name="pool2", **f32)(h)
    h = L.Flatten(name="flatten", **f32)(h)
    h = L.Dense(FEATURE_DIM, activation="relu", kernel_initializer=init(seed + 2), name=FEATURES_LAYER, **f32)(h)
    h = L.Dropout(0.3, seed=seed + 3, name="dropout", **f32)(h)
    logits = L.Dense(num_classes, kernel_initializer=init(seed + 4), name="logits", **f32)(h)
    return keras.Model(image, logits, name="feature_classifier")


def train_classifier(dataset: str = "fashion_mnist", *, seed: int = DEFAULT_SEED, epochs: int = 3,
                     limit: int | None = None, batch_size: int = 128, verbose: int | str = 0) -> keras.Model:
    """Builds and trains the classifier (Adam 1e-3, cross-entropy) on the training split, in an order fixed by `seed`.

    Seeds are passed to the layers and the data order, not set globally: the caller's random state is
    left as it was.

    Args:
        dataset: "fashion_mnist", "mnist" or "tfds:<name>".
        seed: seeds the weights and the data order.
        epochs: training epochs.
        limit: train on the first `limit` images only (tests); None for all.
        batch_size: images per step; the last partial batch of an epoch is left out.
        verbose: Keras's `fit` verbosity.

    Returns:
        The trained, compiled `keras.Model` (see `build_classifier`).

    Raises:
        DataError: the data set cannot be loaded, or holds fewer images than one batch.
    """
    train = data_lib.load_images(dataset, "train", limit)
    model = build_classifier(train.images.shape[1:], train.num_classes, seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    steps = len(train) // batch_size
    if steps < 1:
        raise data_lib.DataError(f"{len(train)} images are fewer than one batch of {batch_size}.")
    stream = data_lib.make_dataset(train, batch_size, targets="labels", seed=seed, repeat=True,
                                   steps_per_epoch=steps)
    model.fit(stream, epochs=epochs, steps_per_epoch=steps, shuffle=False, verbose=verbose)
    return model


def default_cache_dir() -> Path:
    """Where trained classifiers are cached.

    Returns:
        `Path` of `$GEN_KERAS_CACHE`, else `~/.cache/gen_keras`.
    """
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "gen_keras")


def classifier_cache_path(dataset: str = "fashion_mnist", cache_dir: str | os.PathLike | None = None, *,
                          seed: int = DEFAULT_SEED, epochs: int = 3, limit: int | None = None) -> Path:
    """Where `load_or_train_classifier` keeps the classifier trained with these settings.

    Args:
        dataset: the data set's name (characters unsafe in a file name become "-").
        cache_dir: the cache folder; None for `default_cache_dir()`.
        seed: the training seed.
        epochs: training epochs; a value other than 3 is added to the file name.
        limit: training images; when set, added to the file name.

    Returns:
        `Path` of `<cache_dir>/classifier_<dataset>_seed<seed>_v<ARCHITECTURE_VERSION>[_epochs…_limit…].keras`.
    """
    name = f"classifier_{re.sub(r'[^A-Za-z0-9_.-]', '-', dataset)}_seed{seed}_v{ARCHITECTURE_VERSION}"
    if epochs != 3 or limit:
        name += f"_epochs{epochs}" + (f"_limit{limit}" if limit else "")
    return Path(cache_dir or default_cache_dir()) / f"{name}.keras"


def load_or_train_classifier(dataset: str = "fashion_mnist", cache_dir: str | os.PathLike | None = None, *,
                             seed: int = DEFAULT_SEED, epochs: int = 3, limit: int | None = None,
                             verbose: int | str = 0) -> keras.Model:
    """The classifier from the cache, trained and cached first if it is not there.

    The file is written atomically (a temporary file renamed into place) under a lock, so processes that
    ask at the same time train it once. A cache file that does not load as the expected network is
    retrained and replaced, with a warning.

    Args:
        dataset: the data set it classifies ("fashion_mnist", "mnist" or "tfds:<name>").
        cache_dir: the cache folder; None for `default_cache_dir()`.
        seed: the training seed.
        epochs: training epochs (for tests; changes the file name).
        limit: training images (for tests; changes the file name).
        verbose: Keras's `fit` verbosity when it trains.

    Returns:
        The classifier `keras.Model`: (batch, H, W, C) float32 in [0, 1] → (batch, num_classes) logits.

    Raises:
        GenKerasError: the cache folder cannot be created.
        DataError: training was needed and the data set cannot be loaded.
    """
    path = classifier_cache_path(dataset, cache_dir, seed=seed, epochs=epochs, limit=limit)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GenKerasError(f"the classifier cache folder {path.parent} cannot be created ({e.strerror}); "
                            f"set ${CACHE_ENV} to a folder you can write to.") from e
    with _file_lock(path.with_name(path.name + ".lock")):
        if path.exists():
            model, problem = _load_checked(path)
            if model is not None:
                return model
            warnings.warn(f"The cached classifier {path} is unusable ({problem}); training it again and "
                          "replacing the file.", stacklevel=2)
        model = train_classifier(dataset, seed=seed, epochs=epochs, limit=limit, verbose=verbose)
        _save_atomically(model, path)
    return model


def _load_checked(path: Path) -> tuple[keras.Model | None, str]:
    """The model in `path` and "", or None and what is wrong with the file."""
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as e:  # noqa: BLE001 - a bad zip, bad JSON or missing weights all mean "unusable"
        return None, f"{type(e).__name__}: {e}"
    try:
        units = model.get_layer(FEATURES_LAYER).units
    except (ValueError, AttributeError):
        units = None
    if units != FEATURE_DIM:
        return None, f"it has no {FEATURE_DIM}-unit '{FEATURES_LAYER}' layer"
    return model, ""


def _save_atomically(model: keras.Model, path: Path) -> None:
    with atomic_path(path) as tmp:
        model.save(tmp)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, the atomic rename still keeps the file whole
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def fid_classifier(dataset: str = "fashion_mnist", *, quick: bool = False) -> tuple:
    """The fixed feature classifier the FID is measured on, and a note on which one it is.

    The standard classifier is trained once (3 epochs on the training split) and cached.

    Args:
        dataset: the data set it classifies.
        quick: when the standard classifier is not cached yet, train a small one instead (2,048 images,
            1 epoch; its FIDs do not compare with others).

    Returns:
        (classifier `keras.Model`, note `str`).
    """
    if quick and not classifier_cache_path(dataset).exists():
        return (load_or_train_classifier(dataset, **QUICK_CLASSIFIER),
                f"quick ({QUICK_CLASSIFIER['limit']} images, {QUICK_CLASSIFIER['epochs']} epoch): "
                "FIDs not comparable")
    print("loading the feature classifier (trained and cached on first use)")
    return load_or_train_classifier(dataset), "standard (3 epochs on the training set)"


def to_unit_range(images, value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """Maps images with pixels in `value_range` to float32 in [0, 1], the classifier's input range.

    Formula: x' = clip((x − low) / (high − low), 0, 1).

    Args:
        images: an array of any shape, e.g. (N, 28, 28, 1), with pixels in `value_range`.
        value_range: (low, high) of the pixels: (0, 1) for data and sigmoid outputs, (-1, 1) for tanh
            outputs, (0, 255) for bytes.

    Returns:
        `np.ndarray` of float32 in [0, 1], the same shape.

    Raises:
        ValueError: `value_range` is not (low, high) with low < high, or pixels lie more than 5% of the
            range outside it (e.g. tanh outputs in [-1, 1] passed with the default (0, 1)); smaller
            overshoots are clipped.
    """
    low, high = (float(v) for v in value_range)
    if not high > low:
        raise ValueError(f"value_range must be (low, high) with low < high, got {value_range}")
    x = np.asarray(images, np.float32)
    if x.size:
        slack = RANGE_TOLERANCE * (high - low)
        lowest, highest = float(x.min()), float(x.max())
        if lowest < low - slack or highest > high + slack:
            raise ValueError(
                f"the images' pixels span [{lowest:.3g}, {highest:.3g}], outside value_range ({low:g}, {high:g}). "
                "Pass the range the images are in: value_range=(-1, 1) for tanh outputs, (0, 255) for bytes.")
    return np.clip((x - low) / (high - low), 0.0, 1.0)


def feature_extractor(classifier: keras.Model) -> keras.Model:
    """A model sharing the classifier's layers that outputs its 128 features.

    Args:
        classifier: the feature classifier (`build_classifier`).

    Returns:
        A `keras.Model`: (batch, H, W, C) float32 in [0, 1] → (batch, 128), the Dense(128, relu) layer's output.
    """
    return keras.Model(classifier.input, classifier.get_layer(FEATURES_LAYER).output,
                       name="classifier_features")


def extract_features(classifier: keras.Model, images, *, value_range: tuple[float, float] = (0.0, 1.0),
                     batch_size: int = 500) -> np.ndarray:
    """The classifier's 128 features of each image (inference mode).

    Args:
        classifier: the feature classifier.
        images: (N, H, W, C) with pixels in `value_range`, e.g. (N, 28, 28, 1).
        value_range: the images' pixel range (see `to_unit_range`).
        batch_size: images per forward pass.

    Returns:
        `np.ndarray` of float32, (N, 128).

    Raises:
        ValueError: as `to_unit_range`.
    """
    return inference.predict_in_batches(feature_extractor(classifier), to_unit_range(images, value_range), batch_size)


def predict_classes(classifier: keras.Model, images, *, value_range: tuple[float, float] = (0.0, 1.0),
                    batch_size: int = 500) -> np.ndarray:
    """The most likely class of each image.

    Args:
        classifier: the feature classifier.
        images: (N, H, W, C) with pixels in `value_range`.
        value_range: the images' pixel range (see `to_unit_range`).
        batch_size: images per forward pass.

    Returns:
        `np.ndarray` of int64, (N,): the argmax of the logits.

    Raises:
        ValueError: as `to_unit_range`.
    """
    logits = inference.predict_in_batches(classifier, to_unit_range(images, value_range), batch_size)
    return np.argmax(logits, axis=-1).astype(np.int64)


def dataset_features(classifier: keras.Model, dataset: str = "fashion_mnist", split: str = "test",
                     limit: int | None = None) -> np.ndarray:
    """The classifier's features of a data set's images (the first `limit` of the split if given).

    Args:
        classifier: the feature classifier.
        dataset: "fashion_mnist", "mnist" or "tfds:<name>".
        split: "train" or "test".
        limit: the first `limit` images; None for the whole split.

    Returns:
        `np.ndarray` of float32, (N, 128).

    Raises:
        DataError: as `gen_keras.data.load_images`.
    """
    return extract_features(classifier, data_lib.load_images(dataset, split, limit).as_float())
