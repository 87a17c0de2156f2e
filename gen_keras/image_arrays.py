"""A split of an image data set as numpy arrays: uint8 NHWC images, int labels, the class names and where they
came from (`gen_keras.data` loads them)."""

from __future__ import annotations

import dataclasses

import numpy as np


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
