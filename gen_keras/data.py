"""Image data sets, offline first: Fashion-MNIST (default), MNIST, any TFDS image data set, a folder of images.

`load_images` returns numpy arrays (uint8 NHWC images, int labels); `make_dataset` turns them into a
batched, shuffled, prefetched `tf.data.Dataset` of float32 images in [0, 1]; `load_dataset` does both.
A folder (`folder:PATH`) is read by `scan_folder` and streamed from disk by `folder_dataset`, decoded,
centre-cropped and resized to one size and channel count; `load_images` reads it through that stream.
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
# The suffixes read as images (TensorFlow decodes them: `tf.io.decode_image`); other files are left out.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp")
# A folder's test split: this share of its images, picked by a fixed permutation (the rest trains).
FOLDER_TEST_FRACTION = 0.1
# A decoded folder is cached in memory when it takes at most this many bytes (else read from disk each epoch).
MEMORY_CACHE_BYTES = 1 << 30
# Set to "1" (the tests do) to forbid any download: a missing data set then fails at once.
NO_DOWNLOAD_ENV = "GEN_KERAS_NO_DOWNLOAD"


@dataclasses.dataclass
class ImageArrays:
    """A split of an image data set held in memory.

    Args:
        images: uint8 pixels (0 … 255), (N, H, W, C), e.g. (60000, 28, 28, 1) for Fashion-MNIST's training split.
        labels: int64 class indices, (N,).
        name: the data set's name, e.g. "fashion_mnist" or "tfds:cifar10".
        class_names: one name per class (empty when unknown).
        source: where the data came from (a folder, a file, a TFDS data folder).
    """

    images: np.ndarray  # uint8, (N, H, W, C)
    labels: np.ndarray  # int64, (N,)
    name: str
    class_names: tuple[str, ...] = ()
    source: str = ""  # where the data came from (a folder, a file, TFDS)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def num_classes(self) -> int:
        """The number of classes: `len(class_names)`, else the largest label + 1."""
        return len(self.class_names) or int(self.labels.max()) + 1

    def as_float(self) -> np.ndarray:
        """Images as float32 in [0, 1], (N, H, W, C)."""
        return float_images(self.images)

    def head(self, n: int) -> "ImageArrays":
        """The first `n` images and their labels.

        Args:
            n: how many to keep.

        Returns:
            A new `ImageArrays` (views of the same arrays) with the other fields unchanged.
        """
        return dataclasses.replace(self, images=self.images[:n], labels=self.labels[:n])


def float_images(images: np.ndarray) -> np.ndarray:
    """Pixels as float32 in [0, 1]: uint8 bytes divided by 255; float arrays are returned as float32.

    Args:
        images: an array of uint8 pixels (0 … 255) or of floats already in [0, 1].

    Returns:
        `np.ndarray` of float32, the same shape.
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images.astype(np.float32) / np.float32(255.0)
    return images.astype(np.float32, copy=False)


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


@dataclasses.dataclass
class ImageFolder:
    """The images found in a folder, checked once, with the size and channels they are read at.

    Args:
        root: the folder.
        files: the readable image files, in a fixed order (sorted, then a seed-0 permutation).
        labels: int64 class index per file (all 0 for a flat folder), (N,).
        class_names: the subfolders' names, sorted (empty for a flat folder).
        image_size: (height, width) every image is read at.
        channels: 1 (grey) or 3 (colour) every image is read with.
        skipped: files with an image suffix that could not be decoded (corrupt or not images), left out.
        ignored: files without an image suffix, left out.
    """

    root: Path
    files: list[str]
    labels: np.ndarray
    class_names: tuple[str, ...]
    image_size: tuple[int, int]
    channels: int
    skipped: list[str] = dataclasses.field(default_factory=list)
    ignored: int = 0

    def __len__(self) -> int:
        return len(self.files)

    @property
    def labelled(self) -> bool:
        """Whether the images come in one subfolder per class."""
        return bool(self.class_names)

    def split(self, split: str) -> "ImageFolder":
        """The files of one split: "test" is the last `FOLDER_TEST_FRACTION` of `files`, "train" the rest.

        Args:
            split: "train" or "test".

        Returns:
            A new `ImageFolder` holding that split's files and labels.
        """
        n_test = max(1, int(round(len(self.files) * FOLDER_TEST_FRACTION))) if len(self.files) > 1 else 0
        cut = len(self.files) - n_test
        part = slice(cut, None) if split == "test" else slice(None, cut)
        return dataclasses.replace(self, files=self.files[part], labels=self.labels[part])

    def summary(self) -> str:
        """One line: how many images, labelled or not, read at which shape, what was left out."""
        kind = f"{len(self.class_names)} classes" if self.labelled else "no labels"
        line = (f"{self.root}: {len(self)} images ({kind}), read at {self.image_size[0]}x{self.image_size[1]}"
                f"x{self.channels}")
        if self.skipped:
            line += f"; {len(self.skipped)} unreadable files skipped (e.g. {self.skipped[0]})"
        if self.ignored:
            line += f"; {self.ignored} files without an image suffix ignored"
        return line


def _image_files(folder: Path) -> tuple[list[Path], int]:
    files, ignored = [], 0
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith("."):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                files.append(path)
            else:
                ignored += 1
    return files, ignored


def _decode(contents):
    """Encoded bytes → uint8 (H, W, C) with C in 1 … 4 (a GIF's first frame)."""
    import tensorflow as tf

    return tf.io.decode_image(contents, expand_animations=False, dtype=tf.uint8)


def _decoded_shapes(files: list[Path]) -> dict[str, tuple[int, int, int]]:
    """Decodes every file once; returns {path: (H, W, C)} for those that decode (the others are left out)."""
    import tensorflow as tf

    paths = [str(f) for f in files]
    ds = (tf.data.Dataset.from_tensor_slices(paths)
          .map(lambda p: (p, tf.shape(_decode(tf.io.read_file(p)))), num_parallel_calls=tf.data.AUTOTUNE,
               deterministic=True)
          .ignore_errors())
    return {p.decode(): tuple(int(v) for v in shape) for p, shape in ds.as_numpy_iterator()}


def scan_folder(path: str | os.PathLike, image_size: int | None = None, channels: int | None = None,
                seed: int = 0) -> ImageFolder:
    """Finds and checks the images of a folder: flat (unlabelled) or one subfolder per class (labelled).

    Every file with an image suffix (PNG, JPEG, GIF, BMP) is decoded once; those that do not decode are
    skipped and counted (`ImageFolder.skipped`), files without an image suffix are ignored and counted.
    Hidden files (".name") are neither.

    Args:
        path: the folder: images directly in it, or in subfolders named after their classes (not both).
        image_size: the side of the square the images are read at (centre-cropped to a square, then
            resized); None: the images' own size when they all share one, else the most common size's
            shorter side.
        channels: 1 (grey) or 3 (colour); None: 3 if any image is in colour, else 1.
        seed: the permutation that orders the files (and so picks the test split).

    Returns:
        An `ImageFolder`.

    Raises:
        DataError: the folder is missing or not a folder, holds both images and class subfolders, holds no
            image that decodes, or `image_size`/`channels` are out of range.
    """
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"no folder at {root}: check the path after 'folder:'.")
    if not root.is_dir():
        raise DataError(f"{root} is a file, not a folder: give the folder that holds the images.")
    if channels not in (None, 1, 3):
        raise DataError(f"channels must be 1 (grey) or 3 (colour), got {channels}.")
    if image_size is not None and image_size < 4:
        raise DataError(f"image size must be at least 4 pixels, got {image_size}.")
    top_files, ignored = _image_files(root)
    subfolders = [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")]
    per_class = {}
    for d in subfolders:
        files, n_ignored = _image_files(d)
        ignored += n_ignored
        if files:
            per_class[d.name] = files
    if top_files and per_class:
        raise DataError(f"{root} holds both images and class subfolders ({', '.join(list(per_class)[:3])}): put "
                        "every image in a subfolder named after its class, or all of them directly in the folder.")
    if per_class:
        class_names = tuple(per_class)
        files = [f for name in class_names for f in per_class[name]]
        labels = [i for i, name in enumerate(class_names) for _ in per_class[name]]
    else:
        class_names, files, labels = (), top_files, [0] * len(top_files)
    if not files:
        raise DataError(f"{root} holds no image files ({', '.join(IMAGE_SUFFIXES)}), neither directly nor in "
                        "class subfolders.")
    shapes = _decoded_shapes(files)
    skipped = [str(f) for f in files if str(f) not in shapes]
    kept = [i for i, f in enumerate(files) if str(f) in shapes]
    if not kept:
        raise DataError(f"none of the {len(files)} image files in {root} could be decoded (e.g. {files[0]}): "
                        "they are corrupt or not images.")
    order = np.random.default_rng(seed).permutation(len(kept))
    files = [str(files[kept[i]]) for i in order]
    labels = np.asarray([labels[kept[i]] for i in order], np.int64)
    sizes = [shapes[f][:2] for f in files]
    if image_size is None:
        values, counts = np.unique(np.asarray(sizes), axis=0, return_counts=True)
        common = tuple(int(v) for v in values[np.argmax(counts)])
        size = common if len(values) == 1 else (min(common),) * 2
    else:
        size = (image_size, image_size)
    if channels is None:
        channels = 3 if any(shapes[f][2] >= 3 for f in files) else 1
    return ImageFolder(root, files, labels, class_names, size, channels, skipped, ignored)


def fit_images(images, size: tuple[int, int], channels: int):
    """Images brought to one shape: alpha laid on white, grey ↔ colour converted, centre-cropped, resized.

    An image whose shape differs from `size` is centre-cropped to `size`'s aspect ratio, then resized
    (area averaging when shrinking, bilinear when enlarging).

    Args:
        images: uint8 (H, W, C) or (N, H, W, C), C in 1 … 4 (grey, grey + alpha, RGB, RGBA).
        size: (height, width) to give them.
        channels: 1 or 3.

    Returns:
        A uint8 tensor (height, width, channels) (or with the leading N).
    """
    import tensorflow as tf

    x = tf.cast(images, tf.float32)
    n = tf.shape(x)[-1]  # may be known only when the graph runs (a decoded file)
    alpha = tf.cond(tf.equal(n % 2, 0), lambda: x[..., -1:] / 255.0, lambda: tf.ones_like(x[..., :1]))
    colour = x[..., : n - 1 + n % 2]  # without the alpha channel: 1 or 3 channels
    rgb = tf.cond(tf.equal(tf.shape(colour)[-1], 1), lambda: tf.concat([colour] * 3, -1), lambda: colour)
    rgb = tf.ensure_shape(rgb, [*([None] * (len(x.shape) - 1)), 3])
    x = rgb * alpha + 255.0 * (1.0 - alpha)  # transparent pixels become white
    if channels == 1:
        x = tf.image.rgb_to_grayscale(x)
    height, width = size
    in_h, in_w = tf.shape(x)[-3], tf.shape(x)[-2]
    # The largest centred window with the target's aspect ratio, then a resize to the target.
    crop_h = tf.minimum(in_h, tf.cast(tf.round(tf.cast(in_w * height, tf.float32) / width), tf.int32))
    crop_w = tf.minimum(in_w, tf.cast(tf.round(tf.cast(in_h * width, tf.float32) / height), tf.int32))
    top, left = (in_h - crop_h) // 2, (in_w - crop_w) // 2
    x = x[..., top:top + crop_h, left:left + crop_w, :]
    shrink = crop_h >= height
    x = tf.cond(tf.logical_and(tf.equal(crop_h, height), tf.equal(crop_w, width)), lambda: x,
                lambda: tf.cond(shrink, lambda: tf.image.resize(x, size, method="area", antialias=True),
                                lambda: tf.image.resize(x, size, method="bilinear")))
    x = tf.ensure_shape(x, [*x.shape[:-3], height, width, channels])
    return tf.cast(tf.clip_by_value(tf.round(x), 0.0, 255.0), tf.uint8)


def folder_dataset(folder: ImageFolder, batch_size: int | None = None, *, with_labels: bool = False,
                   shuffle: bool = False, seed: int = 0, cache: bool | None = None, as_float: bool = True):
    """A `tf.data.Dataset` streaming a folder's images from disk: read, decode, fit to one shape, batch.

    Nothing but the current batches is held in memory unless `cache`, so a folder larger than memory
    streams; a decoded folder that fits (`MEMORY_CACHE_BYTES`) is cached in memory after the first pass.

    Args:
        folder: from `scan_folder` (or one of its splits).
        batch_size: images per batch; None for single images.
        with_labels: yield (images, labels).
        shuffle: shuffle the files each pass (a buffer of all file names: names are small).
        seed: the shuffle's seed.
        cache: keep the decoded images in memory after the first pass; None: when they fit.
        as_float: float32 in [0, 1] (True) or the uint8 pixels.

    Returns:
        A `tf.data.Dataset` of (batch, H, W, C) images (with int64 (batch,) labels if asked).
    """
    import tensorflow as tf

    height, width = folder.image_size
    if cache is None:
        cache = len(folder) * height * width * folder.channels <= MEMORY_CACHE_BYTES
    ds = tf.data.Dataset.from_tensor_slices((folder.files, folder.labels))
    ds = ds.map(lambda p, y: (fit_images(_decode(tf.io.read_file(p)), folder.image_size, folder.channels), y),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if cache:
        ds = ds.cache()
    if shuffle:
        ds = ds.shuffle(len(folder), seed=seed, reshuffle_each_iteration=True)
    if as_float:
        ds = ds.map(lambda x, y: (tf.cast(x, tf.float32) / 255.0, y))
    if not with_labels:
        ds = ds.map(lambda x, y: x)
    if batch_size:
        ds = ds.batch(batch_size)
    return ds.prefetch(tf.data.AUTOTUNE)


_SCANS: dict = {}  # (folder, its listing, image_size, channels) → ImageFolder: train and test share one scan


def folder_listing(root: Path) -> tuple:
    """(path, size, modification time) of every entry under `root`, sorted: changes when the folder does.

    Args:
        root: the folder.

    Returns:
        A tuple of (str, int, int); empty when the folder cannot be read.
    """
    try:
        return tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*")))
    except OSError:
        return ()


def _load_folder(path: str, split: str, limit: int | None, image_size: int | None,
                 channels: int | None) -> ImageArrays:
    root = Path(path).expanduser()
    key = (str(root.resolve()), folder_listing(root) if root.is_dir() else (), image_size, channels)
    folder = _SCANS.get(key) or scan_folder(root, image_size, channels)
    _SCANS.clear()
    _SCANS[key] = folder
    part = folder.split(split)
    if limit:
        part = dataclasses.replace(part, files=part.files[:limit], labels=part.labels[:limit])
    if not len(part):
        raise DataError(f"{folder.root} has {len(folder)} readable image(s): too few to hold out a test split.")
    height, width = folder.image_size
    images = np.empty((len(part), height, width, folder.channels), np.uint8)
    start = 0
    for batch in folder_dataset(part, 256, cache=False, as_float=False).as_numpy_iterator():
        images[start:start + len(batch)] = batch
        start += len(batch)
    return ImageArrays(images, part.labels, f"folder:{folder.root.name}", folder.class_names, folder.summary())


def fit_arrays(arrays: ImageArrays, image_size: int | None = None, channels: int | None = None) -> ImageArrays:
    """The images brought to `image_size`×`image_size`×`channels` as `fit_images` does (unchanged if they are).

    Args:
        arrays: uint8 images (N, H, W, C).
        image_size: the square's side; None keeps the size.
        channels: 1 or 3; None keeps the channels (alpha, if any, laid on white).

    Returns:
        An `ImageArrays` with the new images and everything else unchanged.

    Raises:
        DataError: `channels` is not 1 or 3, or `image_size` < 4.
    """
    if channels not in (None, 1, 3):
        raise DataError(f"channels must be 1 (grey) or 3 (colour), got {channels}.")
    if image_size is not None and image_size < 4:
        raise DataError(f"image size must be at least 4 pixels, got {image_size}.")
    n, height, width, c = arrays.images.shape
    size = (image_size, image_size) if image_size else (height, width)
    target = channels or (1 if c <= 2 else 3)
    if size == (height, width) and target == c:
        return arrays
    out = np.empty((n, *size, target), np.uint8)
    for i in range(0, n, 1024):
        out[i:i + 1024] = fit_images(arrays.images[i:i + 1024], size, target).numpy()
    return dataclasses.replace(arrays, images=out)


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
        return _load_folder(name[len(FOLDER_PREFIX):], split, limit, image_size, channels)
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


def two_moons(num_points: int = 3000, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """Two interleaving half circles in 2-D (scikit-learn's `make_moons`), shuffled, with Gaussian noise.

    The upper moon is (cos t, sin t), the lower (1 − cos t, ½ − sin t), t evenly spaced over [0, π];
    half the points on each.

    Args:
        num_points: the number of points.
        noise: the standard deviation of the Gaussian noise added to each coordinate.
        seed: seed of the numpy generator (noise and shuffle).

    Returns:
        A float32 (num_points, 2) array.
    """
    rng = np.random.default_rng(seed)
    n_upper = num_points // 2
    t_upper = np.linspace(0, np.pi, n_upper)
    t_lower = np.linspace(0, np.pi, num_points - n_upper)
    points = np.concatenate([np.stack([np.cos(t_upper), np.sin(t_upper)], 1),
                             np.stack([1 - np.cos(t_lower), 0.5 - np.sin(t_lower)], 1)])
    points = points + rng.normal(scale=noise, size=points.shape)
    return points[rng.permutation(num_points)].astype(np.float32)


def standardized(points: np.ndarray) -> np.ndarray:
    """Each column shifted and scaled to mean 0 and standard deviation 1 (scikit-learn's `StandardScaler`).

    Args:
        points: an (N, D) array.

    Returns:
        The standardized float32 (N, D) array.
    """
    return ((points - points.mean(0)) / points.std(0)).astype(np.float32)


def ring_of_gaussians(num_points: int = 2500, modes: int = 8, radius: float = 2.0, std: float = 0.02,
                      seed: int = 0) -> np.ndarray:
    """Points of the mode-collapse benchmark: an equal mixture of Gaussians on a circle (Metz et al. 2017).

    Mode j sits at radius · (cos 2πj/modes, sin 2πj/modes); each point is its mode plus N(0, std² I).

    Args:
        num_points: the number of points.
        modes: the number of Gaussians on the ring.
        radius: the ring's radius.
        std: each Gaussian's standard deviation per coordinate.
        seed: seed of the numpy generator.

    Returns:
        A float32 (num_points, 2) array.
    """
    rng = np.random.default_rng(seed)
    which = rng.integers(modes, size=num_points)
    points = ring_centres(modes, radius)[which] + rng.normal(scale=std, size=(num_points, 2))
    return points.astype(np.float32)


def ring_centres(modes: int = 8, radius: float = 2.0) -> np.ndarray:
    """The means of `ring_of_gaussians`: radius · (cos 2πj/modes, sin 2πj/modes), (modes, 2) float64."""
    angles = 2 * np.pi * np.arange(modes) / modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
