"""Image-to-image translation's tasks: the images the translators take, and how their inputs are made.

- `check_images`: float32 (N, H, W, C) images with pixels in [0, 1], or a message saying what is wrong;
- `SobelEdges`: Pix2Pix's paired task, edges → garment: x = min(1, √(g_x² + g_y²) / scale) of y;
- `low_resolution`: super-resolution's paired task: x = the mean of each scale × scale block of y;
- `stack_domains`: CycleGAN's unpaired examples, an image of X beside a randomly drawn image of Y.

Images are float32 in [0, 1], like every image in gen_keras.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from gen_keras.models.gan import SERIALIZATION_PACKAGE

IMAGE_SHAPE = (28, 28, 1)


def check_images(images, shape=IMAGE_SHAPE, name: str = "images") -> np.ndarray:
    """The images as float32, after checking their shape and pixel range.

    Args:
        images: an array (N, H, W, C) with pixels in [0, 1].
        shape: the expected (H, W, C).
        name: what the images are, for the message.

    Returns:
        `np.ndarray` float32 (N, H, W, C).

    Raises:
        ValueError: another shape, pixels outside [0, 1] (e.g. bytes 0 … 255 or tanh's [−1, 1]), or NaN.
    """
    x = np.asarray(images, np.float32)
    expected = "(batch, " + ", ".join(str(d) for d in shape) + ")"
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(f"{name} must be {expected} arrays, got shape {tuple(x.shape)}")
    if x.size and not np.isfinite(x).all():
        raise ValueError(f"{name} hold NaN or infinite pixels")
    if x.size and (x.min() < 0.0 or x.max() > 1.0):
        raise ValueError(f"{name} must have pixels in [0, 1], got [{x.min():.3g}, {x.max():.3g}]; "
                         "divide bytes by 255, map tanh outputs with (x + 1) / 2")
    return x


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class SobelEdges(keras.layers.Layer):
    """The edges of an image, as Pix2Pix's edges → shoes task draws them: the Sobel gradient's magnitude.

    Formula: e = min(1, √(g_x² + g_y²) / scale), g_x, g_y the 3×3 Sobel responses (edges padded by reflection).

    Args:
        scale: the gradient magnitude drawn white (1); the Sobel response of a 0 → 1 step is 4.
        **kwargs: `keras.layers.Layer` arguments.
    """

    def __init__(self, scale: float = 2.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, images):
        gradients = tf.image.sobel_edges(tf.cast(images, tf.float32))  # (batch, H, W, C, [g_y, g_x])
        magnitude = tf.sqrt(tf.reduce_sum(tf.square(gradients), axis=-1) + 1e-12)
        return tf.minimum(magnitude / self.scale, 1.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale}


def low_resolution(scale: int) -> keras.layers.Layer:
    """The low-resolution image of a high-resolution one: the mean of each scale × scale block.

    Args:
        scale: the factor, e.g. 4 (28×28 → 7×7).

    Returns:
        An `AveragePooling2D(scale)` layer.
    """
    return layers.AveragePooling2D(scale, name=f"average_{scale}x{scale}")


def stack_domains(x_images: np.ndarray, y_images: np.ndarray, seed: int = 0) -> np.ndarray:
    """Unpaired training examples: each image of X beside a randomly drawn image of Y, as two channels.

    Args:
        x_images: (N_x, H, W, 1) images of X.
        y_images: (N_y, H, W, 1) images of Y.
        seed: the draw's seed.

    Returns:
        (max(N_x, N_y), H, W, 2) of the inputs' dtype: each domain in its own random order, the smaller
        one's images each used once before any repeats.
    """
    n = max(len(x_images), len(y_images))
    rng = np.random.default_rng(seed)

    def draw(images):
        order = np.concatenate([rng.permutation(len(images)) for _ in range(-(-n // len(images)))])[:n]
        return images[order] if len(images) < n else images[rng.permutation(n)]

    return np.concatenate([draw(x_images), draw(y_images)], axis=-1)
