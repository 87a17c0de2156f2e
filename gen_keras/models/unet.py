"""The noise predictor ε_θ(x_t, t) of the diffusion lecture: a small time-conditioned U-Net sized for a CPU.

Residual blocks (GroupNorm → swish → conv, the time step's sinusoidal embedding added through a Dense layer),
stride-2 convolutions down, nearest-neighbour upsampling + convolution up, the skips concatenated, and
self-attention at the coarsest resolution (Ho et al., 2020, smaller). `gen_keras.models.diffusion` trains it.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf
from keras import layers

IMAGE_SHAPE = (28, 28, 1)
SERIALIZATION_PACKAGE = "gen_keras"


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class SinusoidalEmbedding(layers.Layer):
    """The transformer's position encoding of the time step: [sin(t ω_k), cos(t ω_k)], ω_k = P^(−k/(d/2)).

    Args:
        dim: the embedding's size (even).
        max_period: P, the slowest frequency's period.
        **kwargs: `keras.layers.Layer` arguments.
    """

    def __init__(self, dim: int, max_period: float = 10_000.0, **kwargs):
        super().__init__(**kwargs)
        if dim % 2:
            raise ValueError(f"dim must be even, got {dim}")
        self.dim, self.max_period = int(dim), float(max_period)

    def call(self, t):
        half = self.dim // 2
        frequencies = tf.exp(-math.log(self.max_period) * tf.range(half, dtype=tf.float32) / half)
        angles = tf.cast(tf.reshape(t, [-1, 1]), tf.float32) * frequencies[None, :]
        return tf.cast(tf.concat([tf.sin(angles), tf.cos(angles)], axis=-1), self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.dim)

    def get_config(self) -> dict:
        return {**super().get_config(), "dim": self.dim, "max_period": self.max_period}


def _groups(width: int) -> int:
    return math.gcd(width, 8)


def _residual_block(x, time_embedding, width: int, name: str):
    """GroupNorm → swish → conv → + Dense(time) → GroupNorm → swish → conv, plus the (1×1-projected) input."""
    skip = x if x.shape[-1] == width else layers.Conv2D(width, 1, name=f"{name}_skip")(x)
    h = layers.GroupNormalization(_groups(x.shape[-1]), name=f"{name}_norm1")(x)
    h = layers.Activation("swish")(h)
    h = layers.Conv2D(width, 3, padding="same", name=f"{name}_conv1")(h)
    t = layers.Dense(width, name=f"{name}_time")(time_embedding)
    h = layers.Add()([h, layers.Reshape((1, 1, width))(t)])
    h = layers.GroupNormalization(_groups(width), name=f"{name}_norm2")(h)
    h = layers.Activation("swish")(h)
    h = layers.Conv2D(width, 3, padding="same", name=f"{name}_conv2")(h)
    return layers.Add(name=f"{name}_out")([h, skip])


def _attention_block(x, name: str, heads: int = 4):
    """Self-attention over the H·W positions, with a residual connection."""
    height, width, channels = x.shape[1:]
    h = layers.GroupNormalization(_groups(channels), name=f"{name}_norm")(x)
    h = layers.Reshape((height * width, channels))(h)
    h = layers.MultiHeadAttention(heads, channels // heads, name=f"{name}_mha")(h, h)
    h = layers.Reshape((height, width, channels))(h)
    return layers.Add(name=f"{name}_out")([x, h])


def build_unet(image_shape=IMAGE_SHAPE, widths=(32, 64, 128), blocks: int = 1, attention: bool = True,
               name: str = "unet") -> keras.Model:
    """The noise predictor ε_θ(x_t, t): a small U-Net sized for a CPU.

    Each resolution has `blocks` residual blocks (which add the time embedding) going down and as many,
    after concatenating the skip, going up; between resolutions a stride-2 convolution down and a
    nearest-neighbour upsampling + convolution up; self-attention at the coarsest resolution (7×7 for 28×28).

    Args:
        image_shape: (H, W, C) of x_t, H and W divisible by 2^(len(widths) − 1).
        widths: channels at each resolution, finest first.
        blocks: residual blocks per resolution on each side.
        attention: self-attention in the middle.
        name: the model's name.

    Returns:
        A functional `keras.Model`, inputs `[x_t (batch, H, W, C), t (batch,)]` (t: 0-based step index, float),
        output ε̂ (batch, H, W, C), float32.

    Raises:
        ValueError: the image's size cannot be halved len(widths) − 1 times.
    """
    height, width_px, channels = image_shape
    factor = 2 ** (len(widths) - 1)
    if height % factor or width_px % factor:
        raise ValueError(f"a {height}x{width_px} image cannot be halved {len(widths) - 1} times; use fewer widths")
    x_in = keras.Input(image_shape, name="x_t")
    t_in = keras.Input((), name="t")
    embedding_dim = 4 * widths[0]
    temb = SinusoidalEmbedding(widths[0], name="time_sinusoid")(t_in)
    temb = layers.Dense(embedding_dim, activation="swish", name="time_dense1")(temb)
    temb = layers.Dense(embedding_dim, name="time_dense2")(temb)

    h = layers.Conv2D(widths[0], 3, padding="same", name="stem")(x_in)
    skips = []
    for level, w in enumerate(widths):  # down: 28 → 14 → 7
        for b in range(blocks):
            h = _residual_block(h, temb, w, f"down{level}_{b}")
        skips.append(h)
        if level < len(widths) - 1:
            h = layers.Conv2D(w, 3, strides=2, padding="same", name=f"down{level}_stride")(h)
    h = _residual_block(h, temb, widths[-1], "middle_0")
    if attention:
        h = _attention_block(h, "middle_attention")
    h = _residual_block(h, temb, widths[-1], "middle_1")
    for level in reversed(range(len(widths))):  # up: 7 → 14 → 28, each level joined with its skip
        h = layers.Concatenate()([h, skips[level]])
        for b in range(blocks):
            h = _residual_block(h, temb, widths[level], f"up{level}_{b}")
        if level > 0:
            h = layers.UpSampling2D(2, interpolation="nearest")(h)
            h = layers.Conv2D(widths[level - 1], 3, padding="same", name=f"up{level}_conv")(h)
    h = layers.GroupNormalization(_groups(widths[0]), name="out_norm")(h)
    h = layers.Activation("swish")(h)
    eps = layers.Conv2D(channels, 3, padding="same", kernel_initializer="zeros", dtype="float32", name="epsilon")(h)
    return keras.Model([x_in, t_in], eps, name=name)
