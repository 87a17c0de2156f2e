"""Image data sets, offline first: Fashion-MNIST (default), MNIST, any TFDS image data set, a folder of images.

`load_images` returns numpy arrays (uint8 NHWC images, int labels); `make_dataset` turns them into a
batched, shuffled, prefetched `tf.data.Dataset` of float32 images in [0, 1]; `load_dataset` does both.
A folder (`folder:PATH`) is read by `gen_keras.image_folders` (`scan_folder`, streamed from disk by
`folder_dataset`, decoded, centre-cropped and resized to one size and channel count); `load_images` reads it
through that stream.
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from gen_keras.errors import DataError  # noqa: F401 (re-exported)
from gen_keras.image_arrays import ImageArrays, float_images  # noqa: F401 (importable here)
from gen_keras.image_folders import fit_arrays, load_folder

FASHION_MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
MNIST_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
KNOWN_DATASETS = ("fashion_mnist", "mnist", "tfds:<name>", "folder:<path>")
FOLDER_PREFIX = "folder:"
# Set to "1" (the tests do) to forbid any download: a missing data set then fails at once.
NO_DOWNLOAD_ENV = "GEN_KERAS_NO_DOWNLOAD"


def keras_cache_dir() -> Path:
    """Keras's download cache folder.

    Returns:
        `Path` of `$KERAS_HOME/datasets`, default `~/.keras/datasets`.
    """
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def fashion_mnist_dirs() -> list[Path]:
    """Folders searched for Fashion-MNIST's IDX files, in order.

    Returns:
        `[<keras cache>/fashion-mnist, /usr/share/datasets/fashion-mnist]` as `Path`s.
    """
    return [keras_cache_dir() / "fashion-mnist", DEBIAN_FASHION_MNIST_DIR]


def read_idx(path: str | os.PathLike, expected_dims: int) -> np.ndarray:
    """Reads a gzipped IDX file of unsigned bytes, checking its magic number and size.

    Args:
        path: the `.gz` file, e.g. `train-images-idx3-ubyte.gz`.
        expected_dims: the number of dimensions its header must declare (3 for images, 1 for labels).

    Returns:
        `np.ndarray` of uint8 with the header's shape, e.g. (60000, 28, 28) or (60000,).

    Raises:
        DataError: the file is not readable gzip, has the wrong magic number or dimensions, or is truncated.
    """
    path = Path(path)
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(
            f"{path} is not a readable gzip file ({e}). It is truncated or corrupt: delete it and "
            "reinstall or re-download the data set."
        ) from e
    if len(raw) < 4:
        raise DataError(f"{path} is too short to be an IDX file ({len(raw)} bytes): delete it.")
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08 or ndim != expected_dims:
        raise DataError(
            f"{path} has IDX magic number {raw[:4].hex()}, expected 0000080{expected_dims} "
            f"(unsigned bytes, {expected_dims} dimensions): it is not the file its name says."
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} is truncated inside its IDX header: delete it.")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape))
    if len(raw) - header != expected:
        raise DataError(
            f"{path} holds {len(raw) - header} bytes of data but its header {shape} needs {expected}: "
            "the file is truncated or corrupt. Delete it and reinstall or re-download the data set."
        )
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


def _find_fashion_mnist(split: str, download: bool) -> tuple[Path, Path]:
    names = FASHION_MNIST_FILES[split]
    for folder in fashion_mnist_dirs():
        paths = [folder / n for n in names]
        if all(p.exists() for p in paths):
            return paths[0], paths[1]
    if download:
        try:
            import keras

            paths = [
                Path(keras.utils.get_file(n, origin=FASHION_MNIST_URL + n,
                                          cache_subdir=os.path.join("datasets", "fashion-mnist")))
                for n in names
            ]
            return paths[0], paths[1]
        except Exception as e:  # noqa: BLE001 - any download failure ends in the same advice
            reason = f"the download failed ({type(e).__name__}: {e})"
    else:
        reason = f"downloads are disabled (${NO_DOWNLOAD_ENV}=1)"
    searched = ", ".join(str(d) for d in fashion_mnist_dirs())
    raise DataError(
        f"Fashion-MNIST ({split}) was not found in {searched}, and {reason}. "
        "Install Debian's package (`apt-get install dataset-fashion-mnist`) or put the four "
        f"*-ubyte.gz files from {FASHION_MNIST_URL} into {fashion_mnist_dirs()[0]}."
    )


def _load_fashion_mnist(split: str, download: bool) -> ImageArrays:
    images_path, labels_path = _find_fashion_mnist(split, download)
    images = read_idx(images_path, 3)
    labels = read_idx(labels_path, 1)
    if len(images) != len(labels):
        raise DataError(f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels.")
    return ImageArrays(images[..., None], labels.astype(np.int64), "fashion_mnist",
                       FASHION_MNIST_CLASSES, str(images_path.parent))


def _load_mnist(split: str, download: bool) -> ImageArrays:
    path = keras_cache_dir() / "mnist.npz"
    if not path.exists():
        if not download:
            raise DataError(
                f"MNIST was not found at {path} and downloads are disabled (${NO_DOWNLOAD_ENV}=1). "
                f"Download {MNIST_URL} to {path}."
            )
        try:
            import keras

            keras.datasets.mnist.load_data()
        except Exception as e:  # noqa: BLE001
            raise DataError(
                f"MNIST was not found at {path} and the download failed ({type(e).__name__}: {e}). "
                f"Download {MNIST_URL} to {path} by hand."
            ) from e
    prefix = "x_train" if split == "train" else "x_test"
    try:
        with np.load(path, allow_pickle=False) as f:
            images, labels = f[prefix], f["y" + prefix[1:]]
    except Exception as e:  # noqa: BLE001 - zip, key and format errors all mean the same
        raise DataError(f"{path} is not a readable MNIST archive ({e}): delete it and download again.") from e
    if images.ndim != 3 or images.dtype != np.uint8 or len(images) != len(labels):
        raise DataError(f"{path} has unexpected contents {images.shape} {images.dtype}: delete it.")
    return ImageArrays(images[..., None], labels.astype(np.int64), "mnist",
                       tuple(str(i) for i in range(10)), str(path))


def _load_tfds(name: str, split: str, limit: int | None, download: bool,
               data_dir: str | None = None) -> ImageArrays:
    import tensorflow_datasets as tfds

    data_dir = data_dir or os.environ.get("TFDS_DATA_DIR")  # read now, not when TFDS was imported
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError as e:
        raise DataError(
            f"TFDS has no data set named '{name}'. See https://www.tensorflow.org/datasets/catalog "
            "for the names, e.g. --dataset tfds:cifar10."
        ) from e
    features = builder.info.features
    image_key = next((k for k, f in features.items() if isinstance(f, tfds.features.Image)), None)
    if image_key is None:
        raise DataError(f"TFDS data set '{name}' has no image feature; its features are {list(features)}.")
    shape = features[image_key].shape
    if None in shape:
        raise DataError(f"TFDS data set '{name}' has images of varying size {shape}; only fixed-size images work.")
    label_key = next((k for k, f in features.items() if isinstance(f, tfds.features.ClassLabel)), None)
    if not builder.is_prepared():
        if not download:
            raise DataError(
                f"TFDS data set '{name}' is not prepared in {builder.data_dir} and downloads are disabled "
                f"(${NO_DOWNLOAD_ENV}=1). Run `python -c \"import tensorflow_datasets as tfds; "
                f"tfds.builder('{name}').download_and_prepare()\"` with internet access."
            )
        try:
            builder.download_and_prepare()
        except Exception as e:  # noqa: BLE001
            raise DataError(f"TFDS could not download and prepare '{name}' ({type(e).__name__}: {e}).") from e
    tfds_split = "test" if split == "test" and "test" in builder.info.splits else split
    if builder.info.splits and tfds_split not in builder.info.splits:  # (unknown splits: as_dataset says)
        raise DataError(f"TFDS data set '{name}' has no split '{split}'; it has {list(builder.info.splits)}.")
    if limit:
        tfds_split = f"{tfds_split}[:{limit}]"
    ds = builder.as_dataset(split=tfds_split)
    images, labels = [], []
    for ex in tfds.as_numpy(ds):
        images.append(ex[image_key])
        labels.append(ex[label_key] if label_key else 0)
    class_names = tuple(features[label_key].names) if label_key else ()
    return ImageArrays(np.stack(images).astype(np.uint8), np.asarray(labels, np.int64), f"tfds:{name}",
                       class_names, str(builder.data_dir))


def load_images(name: str = "fashion_mnist", split: str = "train", limit: int | None = None,
                download: bool | None = None, *, image_size: int | None = None,
                channels: int | None = None) -> ImageArrays:
    """Loads a split of a data set as uint8 NHWC arrays, the first `limit` images if given.

    Fashion-MNIST is read from the Keras cache or Debian's folder (`fashion_mnist_dirs`), MNIST from the
    Keras cache, `tfds:<name>` through TensorFlow Datasets; missing data are downloaded unless downloads are
    off. `folder:PATH` is read from disk through `folder_dataset` (see `scan_folder`): its test split is a
    fixed 10 % of its images, the training split the rest. With `image_size` or `channels`, every data
    set's images are brought to that shape (`fit_images`: centre-crop, resize, grey ↔ colour).

    Args:
        name: "fashion_mnist", "mnist", "tfds:<name>" or "folder:<path>".
        split: "train" or "test".
        limit: keep only the first `limit` images (≥ 1); None for all.
        download: whether a missing data set may be downloaded; None: yes unless `$GEN_KERAS_NO_DOWNLOAD`
            is "1", "true" or "yes".
        image_size: the side of the square images to return; None: the data's own size.
        channels: 1 (grey) or 3 (colour); None: the data's own.

    Returns:
        `ImageArrays`: images uint8 (N, H, W, C), e.g. (N, 28, 28, 1); labels int64 (N,).

    Raises:
        DataError: an unknown name or split, a bad `limit`, `image_size` or `channels`, data that are
            missing (and not downloadable) or corrupt, a folder without readable images.
    """
    if split not in ("train", "test"):
        raise DataError(f"Unknown split '{split}': use 'train' or 'test'.")
    if limit is not None and limit < 1:
        raise DataError(f"limit must be a positive number of images, got {limit}.")
    if download is None:
        download = os.environ.get(NO_DOWNLOAD_ENV, "") not in ("1", "true", "yes")
    if name.startswith(FOLDER_PREFIX) and len(name) > len(FOLDER_PREFIX):
        return load_folder(name[len(FOLDER_PREFIX):], split, limit, image_size, channels)
    if name == "fashion_mnist":
        arrays = _load_fashion_mnist(split, download)
    elif name == "mnist":
        arrays = _load_mnist(split, download)
    elif name.startswith("tfds:") and len(name) > 5:
        arrays = _load_tfds(name[5:], split, limit, download)
    else:
        raise DataError(f"Unknown data set '{name}'. Known: {', '.join(KNOWN_DATASETS)}.")
    if limit:
        arrays.images, arrays.labels = arrays.images[:limit], arrays.labels[:limit]
    return fit_arrays(arrays, image_size, channels)


def make_dataset(arrays: ImageArrays, batch_size: int = 128, *, targets: str | None = None,
                 shuffle: bool = True, seed: int = 0, repeat: bool = False, start_epoch: int = 0,
                 steps_per_epoch: int | None = None):
    """A batched, prefetched `tf.data.Dataset` of float32 images in [0, 1].

    Elements are `images`, or `(images, labels)` with `targets="labels"`, or `(images, images)` with
    `targets="images"` (an autoencoder's input and target). Epoch e is read in the order
    `stateless_shuffle(range(N), seed=[seed, e])`, a function of (seed, e) alone, so a resumed run sees
    the same data as an uninterrupted one. With `repeat=True` the stream is endless, epoch after epoch
    from `start_epoch`, each epoch exactly `steps_per_epoch` full batches (default N // batch_size; no
    batch straddles two epochs), and the iterator is never rebuilt between epochs. Without it, one pass
    with a last partial batch. Batches are gathered by index: no shuffle buffer to fill at an epoch's start.

    Args:
        arrays: the images (uint8 (N, H, W, C)) and labels (N,).
        batch_size: images per batch (≥ 1).
        targets: None, "labels" or "images" (see above).
        shuffle: shuffle each epoch (False: the stored order).
        seed: the shuffle's seed.
        repeat: an endless stream of whole epochs (for `fit` with `steps_per_epoch`).
        start_epoch: the first epoch's number e (a resumed run's), which fixes its order.
        steps_per_epoch: batches per epoch with `repeat`; default N // batch_size.

    Returns:
        A `tf.data.Dataset` of float32 (batch, H, W, C) images in [0, 1] (with int64 (batch,) labels or
        the images again as targets).

    Raises:
        ValueError: `targets` is not None, "labels" or "images", or `batch_size` < 1.
        DataError: with `repeat`, the images do not fill `steps_per_epoch` batches.
    """
    import tensorflow as tf

    if targets not in (None, "labels", "images"):
        raise ValueError(f"targets must be None, 'labels' or 'images', got {targets!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    n = len(arrays)
    images = tf.constant(arrays.images)
    labels = tf.constant(arrays.labels)

    def epoch_order(epoch):
        if not shuffle:
            return tf.range(n, dtype=tf.int64)
        return tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), epoch]))

    if repeat:
        steps = steps_per_epoch or n // batch_size
        if steps < 1 or steps * batch_size > n:
            raise DataError(f"{n} images do not fill {max(steps, 1)} batches of {batch_size}: "
                            "lower --batch-size or raise --limit.")
        index_ds = (tf.data.Dataset.counter(start_epoch)
                    .map(lambda e: tf.reshape(epoch_order(e)[: steps * batch_size], [steps, batch_size]))
                    .unbatch())
    else:
        index_ds = tf.data.Dataset.from_tensor_slices(epoch_order(tf.constant(start_epoch, tf.int64)))
        index_ds = index_ds.batch(batch_size)

    def gather(idx):
        x = tf.cast(tf.gather(images, idx), tf.float32) / 255.0
        if targets == "labels":
            return x, tf.gather(labels, idx)
        if targets == "images":
            return x, x
        return x

    return index_ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def load_dataset(name: str = "fashion_mnist", split: str = "train", batch_size: int = 128, *,
                 limit: int | None = None, targets: str | None = None, with_labels: bool = False,
                 shuffle: bool | None = None, seed: int = 0):
    """One call: a batched, prefetched dataset of float32 NHWC images in [0, 1] (`load_images` + `make_dataset`).

    Args:
        name: "fashion_mnist", "mnist" or "tfds:<name>".
        split: "train" or "test".
        batch_size: images per batch.
        limit: keep only the first `limit` images.
        targets: None, "labels" or "images", as in `make_dataset`.
        with_labels: shorthand for `targets="labels"` (it overrides `targets`).
        shuffle: shuffle each epoch; None: for the training split only.
        seed: the shuffle's seed.

    Returns:
        A one-pass `tf.data.Dataset` of float32 (batch, H, W, C) images, with labels or targets if asked.

    Raises:
        DataError: as `load_images`.
    """
    arrays = load_images(name, split, limit)
    if with_labels:
        targets = "labels"
    return make_dataset(arrays, batch_size, targets=targets,
                        shuffle=(split == "train") if shuffle is None else shuffle, seed=seed)


def load_splits(name: str = "fashion_mnist", limit: int | None = None, *,
                image_shape: tuple[int, ...] | None = None, image_size: int | None = None,
                channels: int | None = None) -> tuple[ImageArrays, ImageArrays, ImageArrays]:
    """The (train, validation, test) splits of a data set: the training split's last 1/12 validates.

    Args:
        name: "fashion_mnist", "mnist", "tfds:<name>" or "folder:<path>".
        limit: caps the training images (before the validation images are split off) and the test images.
        image_shape: the (H, W, C) the caller's model takes; None accepts any.
        image_size: bring the images to this square side (`load_images`); None: their own.
        channels: bring the images to 1 or 3 channels; None: their own.

    Returns:
        (train, validation, test), each an `ImageArrays` of uint8 (N, H, W, C) images; for Fashion-MNIST
        55,000, 5,000 and 10,000 images.

    Raises:
        DataError: as `load_images`, or the images are not of `image_shape` (the message names the fix).
    """
    shape = {"image_size": image_size, "channels": channels}
    train, val = hold_out(load_images(name, "train", limit, **shape))
    test = load_images(name, "test", limit, **shape)
    if image_shape is not None and tuple(train.images.shape[1:]) != tuple(image_shape):
        raise DataError(f"this model takes images of shape {tuple(image_shape)}; {train.name} has "
                        f"{tuple(train.images.shape[1:])}. Use --dataset fashion_mnist or mnist, or "
                        f"--image-size {image_shape[0]} --channels {image_shape[2]}.")
    return train, val, test


def image_shape_divisible(arrays: ImageArrays, factor: int, network: str) -> tuple[int, int, int]:
    """The images' (H, W, C), checked to suit a network that halves (or doubles) them: H and W divisible by `factor`.

    Args:
        arrays: the images.
        factor: what H and W must be divisible by, e.g. 4 for two stride-2 steps.
        network: the network, for the message, e.g. "the lecture's decoder (x4 upsampling)".

    Returns:
        (H, W, C).

    Raises:
        DataError: H or W is not divisible by `factor` (the message names a size that works).
    """
    height, width, channels = arrays.images.shape[1:]
    if height % factor or width % factor:
        raise DataError(f"{network} needs image sides divisible by {factor}; {arrays.name} has {height}x{width}: "
                        f"use e.g. --image-size {max(factor, 32 // factor * factor)}.")
    return height, width, channels


def binarized(arrays: ImageArrays, seed: int = 0) -> ImageArrays:
    """The images drawn once as Bernoulli(pixel / 255), stored as 0 or 255 (a fixed binarization).

    Args:
        arrays: uint8 images (N, H, W, C).
        seed: seed of the numpy generator drawing the bits.

    Returns:
        A new `ImageArrays` of the same shape, every pixel 0 or 255, named "<name> (binarized)".
    """
    rng = np.random.default_rng(seed)
    bits = rng.random(arrays.images.shape, dtype=np.float32) < arrays.images / np.float32(255.0)
    return dataclasses.replace(arrays, images=bits.astype(np.uint8) * np.uint8(255),
                               name=f"{arrays.name} (binarized)")


def thresholded(arrays: ImageArrays, level: float = 0.5) -> ImageArrays:
    """The images thresholded: 255 where pixel / 255 ≥ `level`, else 0 (a deterministic binarization).

    Args:
        arrays: uint8 images (N, H, W, C).
        level: the threshold in [0, 1].

    Returns:
        A new `ImageArrays` of the same shape, every pixel 0 or 255, named "<name> (thresholded)".
    """
    bits = arrays.images / np.float32(255.0) >= np.float32(level)
    return dataclasses.replace(arrays, images=bits.astype(np.uint8) * np.uint8(255),
                               name=f"{arrays.name} (thresholded)")


def binarized_splits(splits: list[ImageArrays] | tuple[ImageArrays, ...], binarize: str,
                     seed: int = 0) -> list[ImageArrays]:
    """Evaluation splits binarized once, as likelihood numbers on binary images are reported.

    Args:
        splits: e.g. (validation, test), uint8 images.
        binarize: "stochastic" (each pixel ~ Bernoulli(pixel / 255), drawn once with `seed`: the usual
            protocol) or "threshold" (pixel / 255 ≥ 0.5).
        seed: the stochastic draw's seed (the same seed gives the same test bits in every recipe).

    Returns:
        The binarized splits, in order.

    Raises:
        ValueError: an unknown binarization.
    """
    if binarize == "stochastic":
        return [binarized(a, seed=seed) for a in splits]
    if binarize == "threshold":
        return [thresholded(a) for a in splits]
    raise ValueError(f"binarize must be 'stochastic' or 'threshold', got {binarize!r}")


def hold_out(arrays: ImageArrays, fraction: float = 1 / 12) -> tuple[ImageArrays, ImageArrays]:
    """Splits off the last `fraction` of a training split as validation data.

    Args:
        arrays: the training split, N images.
        fraction: the share held out (default 1/12: 5,000 of Fashion-MNIST's 60,000); at least one image.

    Returns:
        (train, validation): the first N − n_val and the last n_val = max(1, round(N · fraction)) images.
    """
    n_val = max(1, int(round(len(arrays) * fraction)))
    cut = len(arrays) - n_val
    tail = dataclasses.replace(arrays, images=arrays.images[cut:], labels=arrays.labels[cut:])
    return arrays.head(cut), tail
