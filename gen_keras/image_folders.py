"""A folder of images as a data set (`--dataset folder:PATH`): flat (unlabelled) or one subfolder per class,
decoded by a `tf.data` pipeline that streams from disk, centre-cropped and resized to one size and channel
count, grey and colour converted; unreadable files are skipped and counted. `gen_keras.data.load_images`
reads `folder:PATH` through `load_folder`.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from gen_keras.errors import DataError
from gen_keras.image_arrays import ImageArrays

# The suffixes read as images (TensorFlow decodes them: `tf.io.decode_image`); other files are left out.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp")
# A folder's test split: this share of its images, picked by a fixed permutation (the rest trains).
FOLDER_TEST_FRACTION = 0.1
# A decoded folder is cached in memory when it takes at most this many bytes (else read from disk each epoch).
MEMORY_CACHE_BYTES = 1 << 30


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


def load_folder(path: str, split: str, limit: int | None = None, image_size: int | None = None,
                channels: int | None = None) -> ImageArrays:
    """One split of a folder of images, decoded into memory through `folder_dataset` (the last scan is reused
    while the folder's files are unchanged).

    Args:
        path: the folder.
        split: "train" or "test" (a fixed `FOLDER_TEST_FRACTION` of the images).
        limit: keep the first `limit` images of the split; None for all.
        image_size: the square's side; None: the images' own size (see `scan_folder`).
        channels: 1 or 3; None: what the images are.

    Returns:
        `ImageArrays` of uint8 (N, H, W, C) images, labels from the subfolders (0 when flat).

    Raises:
        DataError: as `scan_folder`, or the split holds no image.
    """
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
