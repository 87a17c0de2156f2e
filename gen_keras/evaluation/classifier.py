"""The instrument's classifier: its network, the weights that ship with the package, and training one on this
machine (cached); what it sees in images (features, class probabilities) is `gen_keras.evaluation.predictions`.

The shipped weights are `gen_keras/assets/fashion_mnist_classifier.weights.h5`, with their card beside
them (`fashion_mnist_classifier.json`: test accuracy, the real-vs-real floor, the file's sha256, the
command that trained them, `benchmarks/train_classifier.py`). Images go in as float NHWC arrays whose
pixel range the caller states with `value_range`: (0, 1) for data and sigmoid outputs, (-1, 1) for tanh.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np

from gen_keras import data as data_lib
from gen_keras import image_folders, inference
from gen_keras.errors import CannotScore, GenKerasError
from gen_keras.files import atomic_path, write_atomically

# Bump when the network or its training changes: a cached file's name carries it, so old files are ignored.
# 2: a small data set trains for at least MIN_STEPS steps (at 3 epochs of 1,290 images it took 30 and
# learned nothing but the largest class).
ARCHITECTURE_VERSION = 2
DEFAULT_SEED = 0
DEFAULT_EPOCHS = 3
MIN_STEPS = 1404  # what DEFAULT_EPOCHS of Fashion-MNIST's 60,000 images take at batch 128 (3 × 468)
FEATURES_LAYER = "features"
FEATURE_DIM = 128
CACHE_ENV = "GEN_KERAS_CACHE"
ASSETS = Path(__file__).resolve().parent.parent / "assets"
SHIPPED = {"fashion_mnist": "fashion_mnist_classifier"}  # data set → file stem in ASSETS (.weights.h5, .json)


@dataclasses.dataclass(frozen=True, eq=False)  # compared and hashed by identity
class Classifier:
    """The instrument's classifier and where its weights come from.

    Args:
        model: (batch, H, W, C) float32 in [0, 1] → (batch, num_classes) logits (`build_classifier`).
        dataset: the data set it classifies.
        sha256: the sha256 of the weights file it was loaded from (written into every metrics.json).
        source: "shipped" or how it was trained on this machine.
        image_size: the side its images are brought to (`gen_keras.data.load_images`); None: their own.
        channels: the channels its images are brought to; None: their own.
    """

    model: keras.Model
    dataset: str
    sha256: str
    source: str
    image_size: int | None = None
    channels: int | None = None

    def load_split(self, split: str = "test", limit: int | None = None) -> data_lib.ImageArrays:
        """A split of its data set, at the shape it classifies (`gen_keras.data.load_images`).

        Args:
            split: "train" or "test".
            limit: the first `limit` images; None for all.

        Returns:
            The `ImageArrays`.

        Raises:
            DataError: the data set cannot be loaded.
        """
        return data_lib.load_images(self.dataset, split, limit, image_size=self.image_size, channels=self.channels)

    @property
    def num_classes(self) -> int:
        """The number of classes (logits)."""
        return int(self.model.output_shape[-1])

    @property
    def shipped(self) -> bool:
        """Whether these are the weights that ship with the package."""
        return self.source == "shipped"


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


def train_classifier(dataset: str = "fashion_mnist", *, seed: int = DEFAULT_SEED, epochs: int = DEFAULT_EPOCHS,
                     limit: int | None = None, batch_size: int = 128, verbose: int | str = 0,
                     image_size: int | None = None, channels: int | None = None,
                     min_steps: int = MIN_STEPS) -> keras.Model:
    """Builds and trains the classifier (Adam 1e-3, cross-entropy) on the training split, in an order fixed by `seed`.

    A data set smaller than Fashion-MNIST trains for more epochs, so that it takes at least `min_steps` steps
    (Fashion-MNIST's 3 epochs take 1,404; 3 epochs of a folder of 1,290 images took 30, and the classifier
    learned only to name the largest class).

    Seeds are passed to the layers and the data order, not set globally: the caller's random state is
    left as it was.

    Args:
        dataset: "fashion_mnist", "mnist", "tfds:<name>" or "folder:<path>" (one subfolder per class).
        seed: seeds the weights and the data order.
        epochs: training epochs.
        limit: train on the first `limit` images only (tests); None for all.
        batch_size: images per step (at most the training images); the last partial batch is left out.
        verbose: Keras's `fit` verbosity.
        image_size: bring the images to this square side; None: their own.
        channels: bring the images to 1 or 3 channels; None: their own.
        min_steps: train for at least this many steps (more epochs on a small data set); not applied with
            `limit` (a quick classifier, for tests) or 0.

    Returns:
        The trained, compiled `keras.Model` (see `build_classifier`).

    Raises:
        DataError: the data set cannot be loaded, or holds fewer images than one batch.
        CannotScore: the data set has fewer than two classes (e.g. a folder without class subfolders).
    """
    train = data_lib.load_images(dataset, "train", limit, image_size=image_size, channels=channels)
    if train.num_classes < 2:
        raise CannotScore(
            f"the instrument cannot score samples of {dataset}: "
            + ("its images have no labels (no class subfolders)" if not train.class_names else
               f"its images are all of one class ({train.class_names[0]})")
            + ", and its classifier learns the features FID and KID compare from labels. No feature network "
            "that needs no labels is available offline (Inception's weights are a download). Put the images "
            "in one subfolder per class (two or more) to have samples scored.")
    batch_size = min(batch_size, len(train))
    model = build_classifier(train.images.shape[1:], train.num_classes, seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    steps = len(train) // batch_size
    if steps < 1:
        raise data_lib.DataError(f"{len(train)} images are fewer than one batch of {batch_size}.")
    stream = data_lib.make_dataset(train, batch_size, targets="labels", seed=seed, repeat=True,
                                   steps_per_epoch=steps)
    if limit or epochs * steps >= min_steps:
        model.fit(stream, epochs=epochs, steps_per_epoch=steps, shuffle=False, verbose=verbose)
    else:  # a small data set: min_steps steps through the repeated stream, as one long epoch
        model.fit(stream, epochs=1, steps_per_epoch=min_steps, shuffle=False, verbose=verbose)
    return model


def held_out_accuracy(model: keras.Model, dataset: str, *, limit: int | None = None,
                      image_size: int | None = None, channels: int | None = None) -> tuple[float, float, int]:
    """The classifier's accuracy on the data set's test split, beside what always guessing its largest class gets.

    Args:
        model: the classifier (`build_classifier`).
        dataset: the data set it was trained on.
        limit: the first `limit` test images only; None for all.
        image_size: the side its images are brought to; None: their own.
        channels: the channels they are brought to; None: their own.

    Returns:
        (accuracy, the largest class's share of the test images, the number of test images).
    """
    test = data_lib.load_images(dataset, "test", limit, image_size=image_size, channels=channels)
    if len(test) == 0:
        raise data_lib.DataError(f"{dataset} has no test images to measure the classifier on.")
    predicted = np.argmax(inference.predict_in_batches(model, test.images), axis=-1)
    labels = np.asarray(test.labels)
    return float(np.mean(predicted == labels)), float(np.bincount(labels).max() / len(labels)), len(labels)


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes, as 64 hex digits (what `sha256sum` prints).

    Args:
        path: the file.

    Returns:
        The hex digest.
    """
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def shipped_weights_path(dataset: str = "fashion_mnist") -> Path | None:
    """Where the shipped classifier's weights for `dataset` are, or None when none ship for it.

    Args:
        dataset: the data set's name.

    Returns:
        `Path` of `gen_keras/assets/<name>.weights.h5`, or None.
    """
    stem = SHIPPED.get(dataset)
    return ASSETS / f"{stem}.weights.h5" if stem else None


def classifier_card(dataset: str = "fashion_mnist") -> dict:
    """The shipped classifier's card: how it was trained, its test accuracy, the floor, its weights' sha256.

    Args:
        dataset: the data set whose shipped classifier is asked for.

    Returns:
        The card's dict (`gen_keras/assets/<name>.json`).

    Raises:
        GenKerasError: no classifier ships for `dataset`, or its card is missing.
    """
    weights = shipped_weights_path(dataset)
    card = weights and weights.with_name(weights.name.replace(".weights.h5", ".json"))
    if card is None or not card.exists():
        raise GenKerasError(f"no classifier ships for {dataset}; train one with load_classifier({dataset!r}).")
    return json.loads(card.read_text(encoding="utf-8"))


def default_cache_dir() -> Path:
    """Where classifiers trained on this machine are cached.

    Returns:
        `Path` of `$GEN_KERAS_CACHE`, else `~/.cache/gen_keras`.
    """
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "gen_keras")


def classifier_cache_path(dataset: str = "fashion_mnist", cache_dir: str | os.PathLike | None = None, *,
                          seed: int = DEFAULT_SEED, epochs: int = DEFAULT_EPOCHS, limit: int | None = None,
                          image_size: int | None = None, channels: int | None = None) -> Path:
    """Where `load_classifier` keeps a classifier trained on this machine with these settings.

    Args:
        dataset: the data set's name (characters unsafe in a file name become "-").
        cache_dir: the cache folder; None for `default_cache_dir()`.
        seed: the training seed.
        epochs: training epochs; a value other than 3 is added to the file name.
        limit: training images; when set, added to the file name.
        image_size: the images' side when brought to one; added to the file name.
        channels: the images' channels when brought to a number; added to the file name.

    Returns:
        `Path` of `<cache_dir>/classifier_<dataset>_seed<seed>_v<ARCHITECTURE_VERSION>[_epochs…_limit…]
        [_<size>px][_<channels>ch].keras`; a folder's name also carries a digest of its files' names, sizes
        and times, so a changed folder trains a new classifier.
    """
    name = f"classifier_{re.sub(r'[^A-Za-z0-9_.-]', '-', dataset)}_seed{seed}_v{ARCHITECTURE_VERSION}"
    if epochs != DEFAULT_EPOCHS or limit:
        name += f"_epochs{epochs}" + (f"_limit{limit}" if limit else "")
    if image_size:
        name += f"_{image_size}px"
    if channels:
        name += f"_{channels}ch"
    if dataset.startswith(data_lib.FOLDER_PREFIX):
        listing = repr(image_folders.folder_listing(Path(dataset[len(data_lib.FOLDER_PREFIX):]).expanduser()))
        name += "_" + hashlib.sha256(listing.encode()).hexdigest()[:12]
    return Path(cache_dir or default_cache_dir()) / f"{name}.keras"


def load_classifier(dataset: str = "fashion_mnist", *, retrain: bool = False,
                    cache_dir: str | os.PathLike | None = None, seed: int = DEFAULT_SEED,
                    epochs: int = DEFAULT_EPOCHS, limit: int | None = None, verbose: int | str = 0,
                    image_size: int | None = None, channels: int | None = None) -> Classifier:
    """The instrument's classifier for `dataset`: the shipped weights, or one trained on this machine.

    Fashion-MNIST with the standard recipe (at its own 28×28×1) loads the weights that ship with the package
    and trains nothing. `retrain=True`, another data set, or other settings (tests) train the classifier once with
    `train_classifier` and cache the `.keras` file (written atomically under a lock, so processes asking at
    once train it once; a cache file that does not load as this network is retrained with a warning).

    Args:
        dataset: the data set it classifies ("fashion_mnist", "mnist", "tfds:<name>" or "folder:<path>" with
            one subfolder per class).
        retrain: use a classifier trained on this machine instead of the shipped weights.
        cache_dir: the cache folder for trained ones; None for `default_cache_dir()`.
        seed: the training seed.
        epochs: training epochs.
        limit: training images (for tests); None for all.
        verbose: Keras's `fit` verbosity when it trains.
        image_size: the side the data's images are brought to (as the model being judged sees them); None:
            their own.
        channels: the channels they are brought to; None: their own.

    Returns:
        The `Classifier` (its `sha256` names the weights file, its `source` where it came from).

    Raises:
        GenKerasError: the shipped weights do not match their card, or the cache folder cannot be created.
        DataError: training was needed and the data set cannot be loaded.
        CannotScore: the data set has fewer than two classes, so no classifier can be trained on it.
    """
    shipped = shipped_weights_path(dataset)
    standard = seed == DEFAULT_SEED and epochs == DEFAULT_EPOCHS and limit is None
    if shipped is not None and standard and not retrain and _fits_card(dataset, image_size, channels):
        return _load_shipped(dataset, shipped)
    shape = {"image_size": image_size, "channels": channels}
    path = classifier_cache_path(dataset, cache_dir, seed=seed, epochs=epochs, limit=limit, **shape)
    model = _load_or_train(dataset, path, seed=seed, epochs=epochs, limit=limit, verbose=verbose, **shape)
    settings = f"seed {seed}, {epochs} epoch{'s' * (epochs != 1)}" + (
        f", {limit} images" if limit else f" and at least {MIN_STEPS:,} steps")
    return Classifier(model, dataset, file_sha256(path), f"trained on this machine ({settings}): {path}", **shape)


def _fits_card(dataset: str, image_size: int | None, channels: int | None) -> bool:
    """Whether images brought to (image_size, channels) are the shape the shipped classifier takes."""
    height, width, depth = classifier_card(dataset)["input_shape"]
    return (image_size is None or image_size == height == width) and (channels is None or channels == depth)


def _load_shipped(dataset: str, path: Path) -> Classifier:
    card = classifier_card(dataset)
    digest = file_sha256(path)
    if digest != card["sha256"]:
        raise GenKerasError(f"the shipped classifier weights {path} do not match their card (sha256 {digest[:12]}… "
                            f"instead of {card['sha256'][:12]}…); reinstall gen_keras.")
    model = build_classifier(tuple(card["input_shape"]), card["num_classes"])
    model.load_weights(path)
    return Classifier(model, dataset, digest, "shipped")


def _load_or_train(dataset: str, path: Path, *, seed: int, epochs: int, limit: int | None,
                   verbose: int | str, image_size: int | None = None, channels: int | None = None) -> keras.Model:
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
                          "replacing the file.", stacklevel=3)
        print(f"training the classifier for {dataset} on this machine (once; cached in {path})")
        model = train_classifier(dataset, seed=seed, epochs=epochs, limit=limit, verbose=verbose,
                                 image_size=image_size, channels=channels)
        try:
            accuracy, largest, count = held_out_accuracy(model, dataset, limit=limit, image_size=image_size,
                                                         channels=channels)
            print(f"the classifier for {dataset}: test accuracy {accuracy:.1%} on {count} held-out images "
                  f"(always guessing the largest class: {largest:.1%})")
        except data_lib.DataError as e:
            print(f"the classifier for {dataset}: no held-out accuracy ({e})")
        with atomic_path(path) as tmp:
            model.save(tmp)
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


def write_shipped_classifier(model: keras.Model, folder: str | os.PathLike, dataset: str = "fashion_mnist",
                             **card) -> tuple[Path, dict]:
    """Writes a trained classifier's weights (float32 `.weights.h5`) and its card (JSON) beside them.

    Args:
        model: the trained classifier.
        folder: where to write, e.g. `gen_keras/assets`.
        dataset: the data set it classifies (names the files).
        **card: what the card records besides the file's sha256 and the network's shapes (test accuracy,
            floor, the command, …).

    Returns:
        (the weights file's `Path`, the card written).
    """
    stem = SHIPPED.get(dataset, f"{re.sub(r'[^A-Za-z0-9_.-]', '-', dataset)}_classifier")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    weights = folder / f"{stem}.weights.h5"
    bare = build_classifier(model.input_shape[1:], int(model.output_shape[-1]))  # no optimizer state to save
    bare.set_weights(model.get_weights())
    with atomic_path(weights) as tmp:
        bare.save_weights(tmp)
    full = {"dataset": dataset, "weights_file": weights.name, "sha256": file_sha256(weights),
            "size_bytes": weights.stat().st_size, "input_shape": list(model.input_shape[1:]),
            "num_classes": int(model.output_shape[-1]), "parameters": int(model.count_params()),
            "architecture_version": ARCHITECTURE_VERSION, **card}
    write_atomically(folder / f"{stem}.json", json.dumps(full, indent=2) + "\n")
    return weights, full
