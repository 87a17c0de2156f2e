"""The sample-quality instrument: one fixed classifier, and the numbers every generative recipe is judged by.

The classifier is a small Fashion-MNIST network whose weights ship with the package
(`gen_keras/assets/fashion_mnist_classifier.weights.h5`, with its card beside it: test accuracy, the
real-vs-real floor, the file's sha256 and the command that trained it), so every machine scores samples
with the same weights: Conv2D(32,3,relu) → MaxPool(2) → Conv2D(64,3,relu) → MaxPool(2) → Flatten →
Dense(128,relu) (the layer named "features") → Dropout(0.3) → Dense(10) (logits); Adam 1e-3, batch 128,
3 epochs, seed 0. Another data set, or `retrain=True`, trains one with the same recipe on this machine
(once, cached), and the scores say so.

On its 128 features:
- FID: the Fréchet distance between Gaussians fitted to the two feature sets;
- KID: the unbiased MMD² with the cubic kernel k(x, y) = (xᵀy / d + 1)³, mean and spread over subsets
  (Bińkowski et al., 2018);
- the floor: both, for as many real training images against the test images (a perfect generator's score);
and on its softmax, class shares among the *confident* predictions (max probability ≥ 0.9) and the classes
a model drops (a share below a quarter of the real test images' share of that class).

`score(images)` returns all of it in one dict; `SampleQuality` measures it during training; `Judge` holds a
generator's fixed inputs and the test features for both. Images go in as float NHWC arrays whose pixel
range the caller states with `value_range`: (0, 1) for data and sigmoid outputs, (-1, 1) for tanh outputs.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import keras
import numpy as np

from gen_keras import data as data_lib
from gen_keras import divergences, inference
from gen_keras.cli import FID_SAMPLES, QUICK_FID_SAMPLES  # noqa: F401  (the instrument's sample counts)
from gen_keras.errors import GenKerasError
from gen_keras.files import atomic_path, write_atomically
from gen_keras.inference import Latents, sample_in_batches, to_unit_range

# Bump when the network or its training changes: a cached file's name carries it, so old files are ignored.
ARCHITECTURE_VERSION = 1
DEFAULT_SEED = 0
DEFAULT_EPOCHS = 3
FEATURES_LAYER = "features"
FEATURE_DIM = 128
CACHE_ENV = "GEN_KERAS_CACHE"
ASSETS = Path(__file__).resolve().parent / "assets"
SHIPPED = {"fashion_mnist": "fashion_mnist_classifier"}  # data set → file stem in ASSETS (.weights.h5, .json)
CONFIDENCE = 0.9  # a prediction counts towards the class shares when its softmax maximum reaches this
DROPPED_FRACTION = 0.25  # a class is dropped when its confident share is below this fraction of 1 / K
KID_SUBSET_SIZE = 1000
KID_SUBSETS = 100


@dataclasses.dataclass(frozen=True, eq=False)  # compared and hashed by identity
class Classifier:
    """The instrument's classifier and where its weights come from.

    Args:
        model: (batch, H, W, C) float32 in [0, 1] → (batch, num_classes) logits (`build_classifier`).
        dataset: the data set it classifies.
        sha256: the sha256 of the weights file it was loaded from (written into every metrics.json).
        source: "shipped" or how it was trained on this machine.
    """

    model: keras.Model
    dataset: str
    sha256: str
    source: str

    @property
    def num_classes(self) -> int:
        """The number of classes (logits)."""
        return int(self.model.output_shape[-1])

    @property
    def shipped(self) -> bool:
        """Whether these are the weights that ship with the package."""
        return self.source == "shipped"


# --- the classifier -------------------------------------------------------------------------------------


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
                          seed: int = DEFAULT_SEED, epochs: int = DEFAULT_EPOCHS, limit: int | None = None) -> Path:
    """Where `load_classifier` keeps a classifier trained on this machine with these settings.

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
    if epochs != DEFAULT_EPOCHS or limit:
        name += f"_epochs{epochs}" + (f"_limit{limit}" if limit else "")
    return Path(cache_dir or default_cache_dir()) / f"{name}.keras"


def load_classifier(dataset: str = "fashion_mnist", *, retrain: bool = False,
                    cache_dir: str | os.PathLike | None = None, seed: int = DEFAULT_SEED,
                    epochs: int = DEFAULT_EPOCHS, limit: int | None = None, verbose: int | str = 0) -> Classifier:
    """The instrument's classifier for `dataset`: the shipped weights, or one trained on this machine.

    Fashion-MNIST with the standard recipe loads the weights that ship with the package and trains
    nothing. `retrain=True`, another data set, or other settings (tests) train the classifier once with
    `train_classifier` and cache the `.keras` file (written atomically under a lock, so processes asking at
    once train it once; a cache file that does not load as this network is retrained with a warning).

    Args:
        dataset: the data set it classifies ("fashion_mnist", "mnist" or "tfds:<name>").
        retrain: use a classifier trained on this machine instead of the shipped weights.
        cache_dir: the cache folder for trained ones; None for `default_cache_dir()`.
        seed: the training seed.
        epochs: training epochs.
        limit: training images (for tests); None for all.
        verbose: Keras's `fit` verbosity when it trains.

    Returns:
        The `Classifier` (its `sha256` names the weights file, its `source` where it came from).

    Raises:
        GenKerasError: the shipped weights do not match their card, or the cache folder cannot be created.
        DataError: training was needed and the data set cannot be loaded.
    """
    shipped = shipped_weights_path(dataset)
    standard = seed == DEFAULT_SEED and epochs == DEFAULT_EPOCHS and limit is None
    if shipped is not None and standard and not retrain:
        return _load_shipped(dataset, shipped)
    path = classifier_cache_path(dataset, cache_dir, seed=seed, epochs=epochs, limit=limit)
    model = _load_or_train(dataset, path, seed=seed, epochs=epochs, limit=limit, verbose=verbose)
    settings = f"seed {seed}, {epochs} epoch{'s' * (epochs != 1)}" + (f", {limit} images" if limit else "")
    return Classifier(model, dataset, file_sha256(path), f"trained on this machine ({settings}): {path}")


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
                   verbose: int | str) -> keras.Model:
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
        model = train_classifier(dataset, seed=seed, epochs=epochs, limit=limit, verbose=verbose)
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


# --- what the classifier sees ---------------------------------------------------------------------------


def feature_extractor(classifier: Classifier) -> keras.Model:
    """A model sharing the classifier's layers that outputs its 128 features.

    Args:
        classifier: the instrument's classifier.

    Returns:
        A `keras.Model`: (batch, H, W, C) float32 in [0, 1] → (batch, 128), the Dense(128, relu) layer's output.
    """
    model = classifier.model
    return keras.Model(model.input, model.get_layer(FEATURES_LAYER).output, name="classifier_features")


def features(classifier: Classifier, images, *, value_range: tuple[float, float] = (0.0, 1.0),
             batch_size: int = 500) -> np.ndarray:
    """The classifier's 128 features of each image (inference mode).

    Args:
        classifier: the instrument's classifier.
        images: (N, H, W, C) with pixels in `value_range`, e.g. (N, 28, 28, 1).
        value_range: the images' pixel range (see `gen_keras.inference.to_unit_range`).
        batch_size: images per forward pass.

    Returns:
        `np.ndarray` of float32, (N, 128).

    Raises:
        ValueError: pixels outside the stated range.
    """
    return inference.predict_in_batches(feature_extractor(classifier), to_unit_range(images, value_range),
                                        batch_size)


def class_probabilities(classifier: Classifier, images, *, value_range: tuple[float, float] = (0.0, 1.0),
                        batch_size: int = 500) -> np.ndarray:
    """The classifier's softmax over the classes for each image.

    Args:
        classifier: the instrument's classifier.
        images: (N, H, W, C) with pixels in `value_range`.
        value_range: the images' pixel range.
        batch_size: images per forward pass.

    Returns:
        `np.ndarray` of float64, (N, num_classes), rows summing to 1.

    Raises:
        ValueError: pixels outside the stated range.
    """
    return _softmax(inference.predict_in_batches(classifier.model, to_unit_range(images, value_range), batch_size))


def _softmax(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, np.float64)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def predict_classes(classifier: Classifier, images, *, value_range: tuple[float, float] = (0.0, 1.0),
                    batch_size: int = 500) -> np.ndarray:
    """The most likely class of each image.

    Args:
        classifier: the instrument's classifier.
        images: (N, H, W, C) with pixels in `value_range`.
        value_range: the images' pixel range.
        batch_size: images per forward pass.

    Returns:
        `np.ndarray` of int64, (N,): the argmax of the logits.

    Raises:
        ValueError: pixels outside the stated range.
    """
    logits = inference.predict_in_batches(classifier.model, to_unit_range(images, value_range), batch_size)
    return np.argmax(logits, axis=-1).astype(np.int64)


# --- the distances --------------------------------------------------------------------------------------


def feature_statistics(feature_set: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a feature set, one row a sample.

    Args:
        feature_set: (N, d), N ≥ 2.

    Returns:
        (mean (d,), covariance (d, d)), float64; the covariance unbiased (divided by N − 1).

    Raises:
        ValueError: `feature_set` is not 2-D or has fewer than 2 rows.
    """
    x = np.asarray(feature_set, np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"features must be (samples ≥ 2, dims), got shape {x.shape}")
    return x.mean(axis=0), np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])


def _symmetric_psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The square root of a symmetric positive semi-definite matrix; round-off negative eigenvalues become 0."""
    eigvals, eigvecs = np.linalg.eigh((matrix + matrix.T) / 2)
    return (eigvecs * np.sqrt(np.clip(eigvals, 0.0, None))) @ eigvecs.T


def frechet_distance_from_statistics(mean_a: np.ndarray, cov_a: np.ndarray,
                                     mean_b: np.ndarray, cov_b: np.ndarray) -> float:
    """Fréchet distance between N(μa, Σa) and N(μb, Σb): ‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa Σb)^½).

    Σa Σb is not symmetric, but it is similar to √Σa Σb √Σa, which is symmetric PSD and has the same
    eigenvalues, so Tr((Σa Σb)^½) = Σᵢ √λᵢ(√Σa Σb √Σa), computed with two symmetric eigen-decompositions.

    Args:
        mean_a: μa, (d,).
        cov_a: Σa, (d, d).
        mean_b: μb, (d,).
        cov_b: Σb, (d, d).

    Returns:
        The distance, ≥ 0.

    Raises:
        ValueError: the two Gaussians have different dimensions.
    """
    mean_a, mean_b = np.asarray(mean_a, np.float64), np.asarray(mean_b, np.float64)
    cov_a, cov_b = np.asarray(cov_a, np.float64), np.asarray(cov_b, np.float64)
    if mean_a.shape != mean_b.shape or cov_a.shape != cov_b.shape:
        raise ValueError(f"the two feature sets have different sizes: {mean_a.shape} and {mean_b.shape}")
    sqrt_a = _symmetric_psd_sqrt(cov_a)
    middle = sqrt_a @ cov_b @ sqrt_a
    eigvals = np.linalg.eigvalsh((middle + middle.T) / 2)
    trace_sqrt_product = float(np.sum(np.sqrt(np.clip(eigvals, 0.0, None))))
    distance = float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt_product)
    return max(distance, 0.0)  # round-off can leave -1e-12 for identical sets


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (rows are samples): the FID on features.

    Args:
        features_a: (N, d), N ≥ 2.
        features_b: (M, d), M ≥ 2.

    Returns:
        The distance, ≥ 0 (see `frechet_distance_from_statistics`).
    """
    return frechet_distance_from_statistics(*feature_statistics(features_a), *feature_statistics(features_b))


class KID(NamedTuple):
    """The result of `kernel_inception_distance`: mean and standard deviation over the subsets.

    Args:
        mean: the mean of the subsets' unbiased MMD² values.
        std: their (population) standard deviation.
    """

    mean: float
    std: float


def kernel_inception_distance(features_a: np.ndarray, features_b: np.ndarray, subset_size: int = KID_SUBSET_SIZE,
                              num_subsets: int = KID_SUBSETS, seed: int = 0) -> KID:
    """KID (Bińkowski et al., 2018): the unbiased MMD² with the cubic kernel k(x, y) = (xᵀy / d + 1)³,
    averaged over `num_subsets` random subsets of `subset_size` points from each set (drawn without
    replacement, independently each time). It is MMD², not its square root, so it can dip below 0 when
    the sets come from one distribution; unlike FID it is unbiased, so small sets compare fairly.

    Args:
        features_a: features of the first set, shape (n, d), n ≥ 2 (e.g. generated images).
        features_b: features of the second set, shape (m, d), m ≥ 2 (e.g. test images).
        subset_size: points per subset (≥ 2); capped at min(n, m) (as clean-fid does).
        num_subsets: how many subsets to average over.
        seed: seed of the numpy generator drawing the subsets.

    Returns:
        `KID(mean, std)` over the subsets' MMD² values.

    Raises:
        ValueError: the sets are not (n ≥ 2, d) arrays of one d, or a count is below its least value.
    """
    a, b = np.asarray(features_a, np.float64), np.asarray(features_b, np.float64)
    divergences.mmd2(a[:2], b[:2], kernel="cubic")  # the sets' shapes checked, with that function's messages
    for name, value, least in (("subset_size", subset_size, 2), ("num_subsets", num_subsets, 1)):
        if int(value) != value or value < least:
            raise ValueError(f"{name} must be a whole number ≥ {least}, got {value}")
    size = min(int(subset_size), len(a), len(b))
    rng = np.random.default_rng(seed)
    values = [divergences.mmd2(a[rng.choice(len(a), size, replace=False)],
                               b[rng.choice(len(b), size, replace=False)], kernel="cubic")
              for _ in range(int(num_subsets))]
    return KID(float(np.mean(values)), float(np.std(values)))


# --- which classes ----------------------------------------------------------------------------------------


def class_histogram(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """How many labels fall in each class.

    Args:
        labels: integer labels, any shape (flattened).
        num_classes: K.

    Returns:
        int64 (K,) counts.

    Raises:
        ValueError: a label lies outside [0, K).
    """
    labels = np.asarray(labels, np.int64).ravel()
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got {labels.min()}..{labels.max()}")
    return np.bincount(labels, minlength=num_classes)


def class_entropy(histogram: np.ndarray) -> float:
    """Entropy in nats of the class distribution a histogram (counts or shares) describes.

    Formula: H = −Σ_k p_k log p_k: log K when uniform over K classes (log 10 ≈ 2.303), 0 when every sample
    is one class.

    Args:
        histogram: (K,) counts or shares, not all 0.

    Returns:
        H in nats.
    """
    counts = np.asarray(histogram, np.float64)
    shares = counts[counts > 0] / counts.sum()
    return float(-np.sum(shares * np.log(shares))) + 0.0  # + 0.0 turns -0.0 into 0.0


def max_class_share(histogram: np.ndarray) -> float:
    """The largest class's share of the samples (1 / K when uniform, 1 under total mode collapse).

    Args:
        histogram: (K,) counts or shares, not all 0.

    Returns:
        max_k p_k.
    """
    counts = np.asarray(histogram, np.float64)
    return float(counts.max() / counts.sum())


class ConfidentShares(NamedTuple):
    """The result of `confident_class_shares`.

    Args:
        confident: the share of all samples whose top probability reached the threshold.
        shares: (K,) each class's share of the confident samples (all 0 when none is confident).
        counts: (K,) how many confident samples each class has.
    """

    confident: float
    shares: np.ndarray
    counts: np.ndarray


def confident_class_shares(probabilities: np.ndarray, threshold: float = CONFIDENCE) -> ConfidentShares:
    """Class shares among the samples the classifier is sure of (softmax maximum ≥ `threshold`).

    An unrecognisable sample (noise, a blend of two garments) lands in some class under argmax; here it
    counts for none, so the shares describe what a model draws recognisably.

    Args:
        probabilities: (N, K) softmax rows.
        threshold: the least top probability that counts, in (0, 1].

    Returns:
        `ConfidentShares(confident, shares, counts)`.

    Raises:
        ValueError: `probabilities` is not 2-D, or `threshold` is outside (0, 1].
    """
    p = np.asarray(probabilities, np.float64)
    if p.ndim != 2:
        raise ValueError(f"probabilities must be (samples, classes), got shape {p.shape}")
    if not 0 < threshold <= 1:
        raise ValueError(f"the confidence threshold must lie in (0, 1], got {threshold}")
    sure = p.max(axis=1) >= threshold
    counts = class_histogram(np.argmax(p[sure], axis=1), p.shape[1]) if sure.any() else np.zeros(p.shape[1], np.int64)
    shares = counts / counts.sum() if counts.sum() else np.zeros(p.shape[1])
    return ConfidentShares(float(sure.mean()) if len(p) else 0.0, shares, counts)


def dropped_classes(shares: np.ndarray, real_shares: np.ndarray | None = None,
                    fraction: float = DROPPED_FRACTION) -> list[int]:
    """The classes a model (nearly) never draws: a confident share below `fraction` of the real images' share
    of that class (of the uniform 1 / K when `real_shares` is None).

    The classifier is surer of some classes than of others (on the Fashion-MNIST test images, 2.7% of the
    confident predictions are shirts, not 10%), so the real images' own confident shares are the fair
    yardstick.

    Args:
        shares: (K,) the samples' class shares (`confident_class_shares(...).shares`).
        real_shares: (K,) the same for real images; None: uniform.
        fraction: the share, as a fraction of the yardstick, below which a class counts as dropped.

    Returns:
        The dropped classes' indices, ascending (every class when no sample was confident).
    """
    shares = np.asarray(shares, np.float64)
    yardstick = np.full(len(shares), 1 / len(shares)) if real_shares is None else np.asarray(real_shares, np.float64)
    return [int(k) for k in np.flatnonzero(shares < fraction * yardstick)]


# --- the reference, the floor and the score -------------------------------------------------------------


@dataclasses.dataclass
class Reference:
    """The classifier's features of the real images samples are compared with (the test split).

    Args:
        features: (M, 128) features of the first M images of `split`.
        dataset: the data set.
        split: "test" (or "train").
    """

    features: np.ndarray
    dataset: str = "fashion_mnist"
    split: str = "test"

    def __len__(self) -> int:
        return len(self.features)

    def statistics(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance of the first `count` features, computed once per count."""
        cache = self.__dict__.setdefault("_statistics", {})
        if count not in cache:
            cache[count] = feature_statistics(self.features[:count])
        return cache[count]

    def class_probabilities(self, classifier: Classifier, count: int) -> np.ndarray:
        """The classifier's softmax for the first `count` real images, from their features (its last layer).

        Args:
            classifier: the classifier whose features these are.
            count: how many.

        Returns:
            float64 (count, K).
        """
        kernel, bias = classifier.model.get_layer("logits").get_weights()
        logits = self.features[:count].astype(np.float64) @ kernel + bias
        return _softmax(logits)


def reference_features(classifier: Classifier, num_images: int | None = FID_SAMPLES, *, split: str = "test",
              dataset: str | None = None) -> Reference:
    """The classifier's features of the first `num_images` real images of a split.

    Args:
        classifier: the instrument's classifier.
        num_images: how many (all of the split when None or more than it holds).
        split: "test" (what samples are scored against) or "train".
        dataset: the data set; None for the classifier's.

    Returns:
        A `Reference`.

    Raises:
        DataError: the data set cannot be loaded.
    """
    dataset = dataset or classifier.dataset
    images = data_lib.load_images(dataset, split, num_images)
    return Reference(features(classifier, images.as_float()), dataset, split)


@functools.lru_cache(maxsize=8)
def _floor(classifier: Classifier, num_images: int) -> dict:
    train = features(classifier, data_lib.load_images(classifier.dataset, "train", num_images).as_float())
    test = features(classifier, data_lib.load_images(classifier.dataset, "test", num_images).as_float())
    kid = kernel_inception_distance(train, test, subset_size=min(KID_SUBSET_SIZE, len(train)))
    return {"fid": frechet_distance(train, test), "kid": kid.mean, "kid_std": kid.std, "num_images": len(train)}


def real_floor(classifier: Classifier, num_images: int = FID_SAMPLES) -> dict:
    """FID and KID of the first `num_images` training images against as many test images: what a perfect
    generator would score with that many samples (computed once per process and size).

    Args:
        classifier: the instrument's classifier (its data set's splits are used).
        num_images: images taken from each split.

    Returns:
        `{"fid", "kid", "kid_std", "num_images"}`.
    """
    return dict(_floor(classifier, int(num_images)))


def score(images: np.ndarray, *, classifier: Classifier | None = None, value_range: tuple[float, float] = (0.0, 1.0),
          reference: Reference | None = None, floor: bool = True, requested_labels: np.ndarray | None = None,
          confidence: float = CONFIDENCE, batch_size: int = 500) -> dict:
    """Scores generated images with the instrument: FID and KID against as many real test images, the
    floor at that count, class shares among confident predictions and the classes dropped.

    Args:
        images: (N, H, W, C) generated images with pixels in `value_range`, N ≥ 2.
        classifier: the instrument's classifier; None: `load_classifier()` (the shipped Fashion-MNIST one).
        value_range: the images' pixel range, e.g. (-1, 1) for tanh outputs.
        reference: the real images' features; None: the first N test images of the classifier's data set.
            A longer reference is cut to its first N, so the two sets are always the same size.
        floor: add the real train-vs-test FID and KID for N images (`real_floor`).
        requested_labels: (N,) the classes a conditional model was asked for; adds `label_accuracy`.
        confidence: the softmax maximum from which a prediction counts towards the class shares.
        batch_size: images per forward pass.

    Returns:
        A dict: `fid`, `kid`, `kid_std` (over 100 subsets of at most 1,000), `num_samples` (N, also the
        real images compared with), `confident_share`, `confidence_threshold`, `class_shares` (K shares
        of the confident samples), `dropped_classes`, `sample_entropy` (nats) and `max_class_share` of
        all N predicted classes, `class_histogram` (K counts), `classifier_sha256`, `classifier`
        (its source); with `floor`, `fid_real_floor` and `kid_real_floor`; with `requested_labels`,
        `label_accuracy`.

    Raises:
        ValueError: pixels outside `value_range`, or fewer than 2 images.
        GenKerasError: more images than the reference (or the test split) holds.
    """
    classifier = classifier or load_classifier()
    n = len(images)
    if n < 2:
        raise ValueError(f"scoring needs at least 2 images, got {n}")
    if reference is None:
        reference = reference_features(classifier, n)
    if len(reference) < n:
        raise GenKerasError(f"{n} samples are more than the {len(reference)} real {reference.split} images they "
                            "are compared with; score fewer (e.g. lower --fid-samples).")
    unit = to_unit_range(images, value_range)
    sample_features = features(classifier, unit, batch_size=batch_size)
    probabilities = class_probabilities(classifier, unit, batch_size=batch_size)
    predicted = np.argmax(probabilities, axis=1)
    histogram = class_histogram(predicted, classifier.num_classes)
    confident = confident_class_shares(probabilities, confidence)
    real = confident_class_shares(reference.class_probabilities(classifier, n), confidence)
    kid = kernel_inception_distance(sample_features, reference.features[:n], subset_size=min(KID_SUBSET_SIZE, n))
    results = {
        "fid": frechet_distance_from_statistics(*feature_statistics(sample_features), *reference.statistics(n)),
        "kid": kid.mean, "kid_std": kid.std, "num_samples": n,
        "confident_share": confident.confident, "confidence_threshold": confidence,
        "class_shares": [round(float(s), 6) for s in confident.shares],
        "real_class_shares": [round(float(s), 6) for s in real.shares],
        "dropped_classes": dropped_classes(confident.shares, real.shares),
        "sample_entropy": class_entropy(histogram), "max_class_share": max_class_share(histogram),
        "class_histogram": histogram.tolist(),
        "classifier_sha256": classifier.sha256, "classifier": classifier.source,
    }
    if floor:
        real = real_floor(classifier, n)
        results.update(fid_real_floor=real["fid"], kid_real_floor=real["kid"])
    if requested_labels is not None:
        results["label_accuracy"] = float(np.mean(predicted == np.asarray(requested_labels).ravel()))
    return results


def score_sampler(sample_fn: Callable[[int, int], Any], count: int = FID_SAMPLES, *, seed: int = 0,
                  batch_size: int = 500, **kwargs) -> dict:
    """Draws `count` images from a sampler and scores them (`score`): for models whose samples are not a
    function of fixed latents the caller holds (a diffusion model's `sample`, a served `sample` signature).

    Args:
        sample_fn: `(count, seed) → images`, called in batches of at most `batch_size` with seeds `seed`,
            `seed + 1`, …
        count: the images to draw and score.
        seed: the first batch's seed.
        batch_size: images per call.
        **kwargs: passed to `score` (`classifier`, `value_range`, `reference`, `floor`, …).

    Returns:
        `score`'s dict.
    """
    batches = [np.asarray(sample_fn(min(batch_size, count - start), seed + i))
               for i, start in enumerate(range(0, count, batch_size))]
    return score(np.concatenate(batches), **kwargs)


def summary_line(results: dict) -> str:
    """One line for a person: FID, KID, the sample count, the floor, the classes.

    Args:
        results: `score`'s dict.

    Returns:
        E.g. "FID 12.37 (real: 0.11), KID 0.3400 ± 0.0560 on 10000 samples; 91% confident, none of …".
    """
    floor = f" (real: {results['fid_real_floor']:.2f})" if "fid_real_floor" in results else ""
    dropped = results["dropped_classes"]
    return (f"FID {results['fid']:.2f}{floor}, KID {results['kid']:.4f} ± {results['kid_std']:.4f} on "
            f"{results['num_samples']} samples; {results['confident_share']:.0%} classified with confidence ≥ "
            f"{results['confidence_threshold']:g}, largest class {results['max_class_share']:.0%}, dropped classes: "
            f"{', '.join(map(str, dropped)) if dropped else 'none'}")


# --- during training --------------------------------------------------------------------------------------


class SampleQuality(keras.callbacks.Callback):
    """Labels generated samples with the instrument's classifier and logs how diverse they are, optionally the FID.

    Every `every` epochs the first `num_samples` latents are generated and classified, and the logs get
    `sample_entropy` (entropy in nats of the class histogram: log 10 ≈ 2.30 when uniform, falling under
    mode collapse) and `max_class_share`. With `fid_every=N` (every N-th epoch) and/or `fid_at_end` (the
    last epoch), the logs also get `fid`: all of `latents` against the reference (default: the test split
    of the classifier's data set, computed once). On epochs when a key is not measured it is logged as NaN,
    so CSVLogger, which fixes its columns at the first epoch, keeps them. FID over 10,000 samples costs
    seconds, not milliseconds: measure it sparingly.

    Args:
        generate_fn: latents → images in `value_range`, e.g. `lambda z: generator(z, training=False)`.
        classifier: the instrument's classifier (`load_classifier`).
        latents: fixed generator inputs, an array (N, latent_dim) or a tuple of arrays, e.g. (z, labels).
        every: measure the diversity every `every` epochs (≥ 1).
        num_samples: samples classified for the diversity (≥ 2; at most N are used).
        value_range: the generated pixels' range, e.g. (-1, 1) for tanh outputs.
        fid_every: measure the FID every N-th epoch; 0: never (but see `fid_at_end`).
        fid_at_end: measure the FID at the last epoch of `fit`.
        reference: the real images' features; None: the test split of the classifier's data set.
        batch_size: samples per forward pass.

    Raises:
        ValueError: `every` < 1, `fid_every` < 0 or `num_samples` < 2.
    """

    def __init__(self, generate_fn: Callable[[Latents], Any], classifier: Classifier, latents: Latents, *,
                 every: int = 1, num_samples: int = 1000, value_range: tuple[float, float] = (0.0, 1.0),
                 fid_every: int = 0, fid_at_end: bool = False, reference: Reference | None = None,
                 batch_size: int = 500):
        super().__init__()
        if every < 1 or fid_every < 0 or num_samples < 2:
            raise ValueError("every must be ≥ 1, fid_every ≥ 0 (0: never) and num_samples ≥ 2")
        self.generate_fn, self.classifier, self.latents = generate_fn, classifier, latents
        self.every, self.num_samples, self.value_range = every, num_samples, value_range
        self.fid_every, self.fid_at_end = fid_every, fid_at_end
        self.batch_size = batch_size
        self.reference = reference
        self.last_histogram: np.ndarray | None = None  # class counts at the last measured epoch
        self.histograms: dict[int, list[int]] = {}  # epoch (1-based) → class counts, every measured epoch
        self.last_fid: float | None = None

    def measure_diversity(self) -> dict[str, float]:
        """Generates and classifies the first `num_samples` samples now; keeps their histogram in `last_histogram`.

        Returns:
            `{"sample_entropy": nats, "max_class_share": share in [0, 1]}`.
        """
        images = sample_in_batches(self.generate_fn, self.latents, self.num_samples, self.batch_size)
        classes = predict_classes(self.classifier, images, value_range=self.value_range, batch_size=self.batch_size)
        self.last_histogram = class_histogram(classes, self.classifier.num_classes)
        return {"sample_entropy": class_entropy(self.last_histogram),
                "max_class_share": max_class_share(self.last_histogram)}

    def measure_fid(self) -> float:
        """The FID of the samples of all `latents` against the whole reference, now (kept in `last_fid`).

        Returns:
            The Fréchet distance between Gaussians fitted to the two sets of 128 features.
        """
        if self.reference is None:
            self.reference = reference_features(self.classifier, None)
        images = sample_in_batches(self.generate_fn, self.latents, batch_size=self.batch_size)
        sample_features = features(self.classifier, images, value_range=self.value_range, batch_size=self.batch_size)
        self.last_fid = frechet_distance_from_statistics(*feature_statistics(sample_features),
                                                         *self.reference.statistics(len(self.reference)))
        return self.last_fid

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        if (epoch + 1) % self.every == 0:
            logs.update(self.measure_diversity())
            self.histograms[epoch + 1] = [int(c) for c in self.last_histogram]
        else:
            logs.update(sample_entropy=float("nan"), max_class_share=float("nan"))
        if self.fid_every or self.fid_at_end:
            last = epoch + 1 == (self.params or {}).get("epochs")
            due = (self.fid_every and (epoch + 1) % self.fid_every == 0) or (self.fid_at_end and last)
            logs["fid"] = self.measure_fid() if due else float("nan")
        steps = getattr(self.model, "generator_steps", None)
        if steps is not None:  # a GAN's (or a diffusion model's) updates of its sampler so far: the x axis
            logs["generator_steps"] = int(steps)  # that compares runs


class Judge:
    """A generator's fixed inputs and the test images' features, for the per-epoch callback and the final score.

    The test images' features are computed once here, for as many test images as there are latents.

    Args:
        generate_fn: latents → images in `value_range`, the generator in inference mode.
        latents: the inputs the score samples: z (N, latent_dim), or a tuple (z, labels) for a conditional
            generator (then the score adds `label_accuracy`).
        classifier: the instrument's classifier.
        test: the test images (`ImageArrays`) the samples are compared with (the first N).
        value_range: the generated pixels' range.
        fid_every: measure the FID every N epochs during training (0: only at the end).
        epoch_samples: samples classified (and, for the per-epoch FID, scored) after each epoch.

    Raises:
        GenKerasError: there are more latents than test images.
    """

    def __init__(self, generate_fn: Callable[[Latents], Any], latents: Latents, *, classifier: Classifier,
                 test: data_lib.ImageArrays, value_range: tuple[float, float] = (0.0, 1.0), fid_every: int = 1,
                 epoch_samples: int = 1000):
        self.generate_fn, self.latents, self.classifier = generate_fn, latents, classifier
        self.value_range, self.fid_every, self.epoch_samples = value_range, fid_every, epoch_samples
        n = inference.num_latents(latents)
        if len(test) < n:
            raise GenKerasError(f"--fid-samples {n} is more than the {len(test)} test images; lower it")
        self.reference = Reference(features(classifier, test.as_float()[:n]), classifier.dataset, "test")
        self.quality: SampleQuality | None = None  # the per-epoch callback, once `callback` made it

    def callback(self) -> SampleQuality:
        """The per-epoch `SampleQuality` (class entropy, largest class share, the FID every `fid_every` epochs
        on all latents), to pass to `training.fit` before the loggers.

        Returns:
            The callback (also kept in `quality`).
        """
        self.quality = SampleQuality(self.generate_fn, self.classifier, self.latents, fid_every=self.fid_every,
                                     reference=self.reference, value_range=self.value_range,
                                     num_samples=min(self.epoch_samples, inference.num_latents(self.latents)))
        return self.quality

    def evaluate(self, images: np.ndarray | None = None) -> dict:
        """The final score (`score`) of the generator on all `latents`.

        Args:
            images: the generator's images of all `latents`, when the caller has made them already; None:
                generated here.

        Returns:
            `score`'s dict.
        """
        if images is None:
            images = sample_in_batches(self.generate_fn, self.latents)
        labels = self.latents[1] if isinstance(self.latents, tuple) else None
        return score(images, classifier=self.classifier, value_range=self.value_range, reference=self.reference,
                     requested_labels=labels)

    def report(self, out: str | os.PathLike, history: dict, **facts) -> dict:
        """Writes `facts`, the last epoch's logs, `evaluate()` and the per-epoch class counts to
        `out/metrics.json` and prints a summary line.

        Args:
            out: the run's output folder.
            history: the per-epoch logs (`training.fit`'s return value).
            **facts: extra entries for metrics.json, e.g. `train_seconds`, `train_images`.

        Returns:
            The dict written to metrics.json.
        """
        epochs = len(next(iter(history.values()), []))
        results = {**facts, "epochs": epochs, **{f"last_epoch_{key}": values[-1] for key, values in history.items()},
                   **self.evaluate()}
        if self.quality is not None:  # the classes of the per-epoch samples after each epoch
            results["class_histogram_per_epoch"] = {str(e): h for e, h in self.quality.histograms.items()}
        write_atomically(Path(out) / "metrics.json", json.dumps(results, indent=2))
        print(summary_line(results) + (f"; {facts['train_seconds']:.0f} s of training"
                                       if "train_seconds" in facts else ""))
        return results
