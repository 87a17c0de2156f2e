"""Convolutional autoencoders: the lecture's network exactly, and an improved one with the same 49-d code."""

from __future__ import annotations

from typing import NamedTuple

import keras
import numpy as np
from keras import layers

IMAGE_SHAPE = (28, 28, 1)
CODE_DIM = 49


class AutoencoderParts(NamedTuple):
    """The three models of a convolutional autoencoder; they share weights.

    Args:
        encoder: image → code, (batch, H, W, C) → (batch, code_dim), e.g. (batch, 28, 28, 1).
        decoder: code → image, (batch, code_dim) → (batch, H, W, C).
        autoencoder: image → image, the two composed.
    """
    encoder: keras.Model  # image -> code
    decoder: keras.Model  # code -> image
    autoencoder: keras.Model  # image -> image, the two composed


def lecture_encoder(image_shape=IMAGE_SHAPE, code_dim: int = CODE_DIM) -> keras.Model:
    """The lecture's encoder: Conv(32)-pool-Conv(64)-pool-Conv(64) (valid padding, ReLU) → Dense(49, relu).

    Shapes for 28×28×1: 26×26×32 → 13×13×32 → 11×11×64 → 5×5×64 → 3×3×64 → 576 → code_dim.

    Args:
        image_shape: (H, W, C) of the input.
        code_dim: the code's size.

    Returns:
        A `keras.Model` "encoder": (batch, 28, 28, 1) float32 in [0, 1] → `code` (batch, code_dim) float32,
        ≥ 0 (ReLU: a unit can die).
    """
    image = keras.Input(image_shape, name="image")
    x = layers.Conv2D(32, 3, activation="relu")(image)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.Flatten()(x)
    code = layers.Dense(code_dim, activation="relu", name="code", dtype="float32")(x)
    return keras.Model(image, code, name="encoder")


def lecture_decoder(code_dim: int = CODE_DIM, image_shape=None) -> keras.Model:
    """The lecture's decoder: the code read as a small image, upsampled ×4 by strided transposed convolutions.

    Reshape(H/4, W/4, 1) → Conv2DTranspose(64, 3, stride 2, relu) → BN → Conv2DTranspose(64, 3, stride 2,
    relu) → BN → Conv2DTranspose(32, 3, relu) → Conv2D(C, 3), all "same": 7×7 → 14×14 → 28×28 for the
    lecture's 49-d code. When the code's size is not (H/4)·(W/4) (e.g. a 49-d code for 32×32 images), a
    linear Dense((H/4)·(W/4)) maps it to that small image first. The output is linear (no sigmoid).

    Args:
        code_dim: the code's size.
        image_shape: (H, W, C) of the output, H and W divisible by 4; None: a square of side
            4·round(√code_dim) with one channel (49 gives 28×28×1, the lecture's).

    Returns:
        A `keras.Model` "decoder": (batch, code_dim) → `image` (batch, H, W, C) float32.

    Raises:
        ValueError: H or W not divisible by 4.
    """
    if image_shape is None:
        side = int(round(code_dim ** 0.5))
        image_shape = (4 * side, 4 * side, 1)
    height, width, channels = image_shape
    if height % 4 or width % 4:
        raise ValueError(f"the lecture's decoder upsamples x4: the image's sides must be divisible by 4, "
                         f"got {height}x{width}")
    code = keras.Input((code_dim,), name="code")
    x = code
    if code_dim != (height // 4) * (width // 4):
        x = layers.Dense((height // 4) * (width // 4), name="code_to_map")(x)
    x = layers.Reshape((height // 4, width // 4, 1))(x)
    x = layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Conv2DTranspose(32, 3, padding="same", activation="relu")(x)
    image = layers.Conv2D(channels, 3, padding="same", name="image", dtype="float32")(x)
    return keras.Model(code, image, name="decoder")


def improved_encoder(image_shape=IMAGE_SHAPE, code_dim: int = CODE_DIM) -> keras.Model:
    """Two stride-2 convolutions straight to a *linear* code: no code unit can die.

    Conv2D(32, 3, stride 2, relu) → Conv2D(64, 3, stride 2, relu) ("same") → Flatten → Dense(code_dim):
    28×28 → 14×14×32 → 7×7×64 → 3136 → code_dim. Design choices: see docs/results/autoencoders.md.

    Args:
        image_shape: (H, W, C) of the input.
        code_dim: the code's size.

    Returns:
        A `keras.Model` "encoder": (batch, 28, 28, 1) float32 in [0, 1] → `code` (batch, code_dim) float32.
    """
    image = keras.Input(image_shape, name="image")
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(image)
    x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Flatten()(x)
    code = layers.Dense(code_dim, name="code", dtype="float32")(x)
    return keras.Model(image, code, name="encoder")


def improved_decoder(code_dim: int = CODE_DIM, image_shape=IMAGE_SHAPE) -> keras.Model:
    """A dense decoder: every output pixel sees the whole code, and a sigmoid keeps pixels in [0, 1].

    Dense(512, relu) → Dense(1024, relu) → Dense(H·W·C, sigmoid) → Reshape. (The lecture's 7×7×1 reshape
    keeps each pixel local.) Dense layers are also the cheapest on a CPU.

    Args:
        code_dim: the code's size.
        image_shape: (H, W, C) of the output.

    Returns:
        A `keras.Model` "decoder": (batch, code_dim) → `image` (batch, H, W, C) float32 in [0, 1].
    """
    code = keras.Input((code_dim,), name="code")
    x = layers.Dense(512, activation="relu")(code)
    x = layers.Dense(1024, activation="relu")(x)
    x = layers.Dense(int(np.prod(image_shape)), activation="sigmoid", dtype="float32")(x)
    image = layers.Reshape(image_shape, name="image", dtype="float32")(x)
    return keras.Model(code, image, name="decoder")


VARIANTS = {
    "lecture": (lecture_encoder, lecture_decoder),
    "improved": (improved_encoder, improved_decoder),
}


def conv_autoencoder(variant: str = "lecture", code_dim: int = CODE_DIM, image_shape=IMAGE_SHAPE) -> AutoencoderParts:
    """Builds encoder, decoder and the autoencoder that composes them (they share weights).

    Args:
        variant: "lecture" (`lecture_encoder` + `lecture_decoder`) or "improved" (`improved_encoder` +
            `improved_decoder`).
        code_dim: the code's size.
        image_shape: (H, W, C) of the images, e.g. (28, 28, 1) or (32, 32, 3); H and W divisible by 4 for
            "lecture".

    Returns:
        `AutoencoderParts(encoder, decoder, autoencoder)`; the autoencoder maps (batch, H, W, C) → the same.

    Raises:
        ValueError: an unknown variant, or an image shape the lecture's decoder cannot make.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown autoencoder '{variant}': use one of {sorted(VARIANTS)}")
    make_encoder, make_decoder = VARIANTS[variant]
    encoder = make_encoder(image_shape=tuple(image_shape), code_dim=code_dim)
    decoder = make_decoder(code_dim=code_dim, image_shape=tuple(image_shape))
    image = keras.Input(encoder.input_shape[1:], name="image")
    autoencoder = keras.Model(image, decoder(encoder(image)), name=f"conv_autoencoder_{variant}")
    return AutoencoderParts(encoder, decoder, autoencoder)


# The lecture "PCA vs autoencoders" (recipes/pca_vs_autoencoder.py): a linear autoencoder, which learns
# PCA's subspace, and Hinton & Salakhutdinov's deep autoencoder with a 2-d code.

DEEP_HIDDEN = (1000, 500, 250)


def linear_autoencoder(code_dim: int, image_shape=IMAGE_SHAPE, mean: np.ndarray | None = None) -> AutoencoderParts:
    """The autoencoder that learns PCA: one hidden layer, no activation, no bias.

    Encoder z = W (x − μ), decoder x* = μ + W′ z, with W (p × d) and W′ (d × p; its p rows in Keras's
    kernel, shape (p, d), are the decoder's directions in image space). Trained on ‖x − x*‖², the best
    W′ W is the projection onto the top-p principal subspace, so the error equals PCA-p's (Baldi & Hornik):
    "z = Wx, x* = W′z … PCA!". The rows of W′ span that subspace but are not the principal components
    themselves: any invertible A gives the same error with W′A⁻¹ and AW.

    The mean μ sits inside the model (`gen_keras.layers.Centring`, a non-trainable weight on each side), so
    the encoder takes an image as stored (pixels in [0, 1]) and the decoder returns one in the same units.
    Every layer computes in float32, whatever the global precision policy.

    Args:
        code_dim: p, the code's size, 1 ≤ p ≤ d.
        image_shape: the images' shape; d is its product.
        mean: μ, the training images' mean (image-shaped or flat); zeros when None (set it later with
            each `Centring` layer's `adapt`).

    Returns:
        `AutoencoderParts`: encoder `image` → `code` (p,), decoder `code` → `image`, and the two composed.
    """
    from gen_keras.layers import Centring

    d = int(np.prod(image_shape))
    if not 1 <= code_dim <= d:
        raise ValueError(f"code_dim must be between 1 and {d}, got {code_dim}")
    f32 = {"dtype": "float32"}
    image = keras.Input(image_shape, name="image")
    x = Centring(name="centre", **f32)(image)
    x = layers.Flatten(**f32)(x)
    code = layers.Dense(code_dim, use_bias=False, name="code", **f32)(x)
    encoder = keras.Model(image, code, name="linear_encoder")

    code_in = keras.Input((code_dim,), name="code")
    y = layers.Dense(d, use_bias=False, name="directions", **f32)(code_in)
    y = layers.Reshape(image_shape, **f32)(y)
    out = Centring(invert=True, name="image", **f32)(y)
    decoder = keras.Model(code_in, out, name="linear_decoder")

    if mean is not None:
        mean = np.asarray(mean, np.float32).reshape(image_shape)
        encoder.get_layer("centre").mean.assign(mean)
        decoder.get_layer("image").mean.assign(mean)
    image_in = keras.Input(image_shape, name="image")
    return AutoencoderParts(encoder, decoder, keras.Model(image_in, decoder(encoder(image_in)),
                                                          name="linear_autoencoder"))


def decoder_directions(decoder: keras.Model) -> np.ndarray:
    """The rows of W′ in a `linear_autoencoder`'s decoder, x* = μ + W′ z: one direction in image space per code unit.

    Args:
        decoder: a `linear_autoencoder`'s decoder (its "directions" layer).

    Returns:
        float64 (p, d).
    """
    return np.asarray(decoder.get_layer("directions").kernel, np.float64)


def deep_autoencoder(code_dim: int = 2, hidden: tuple[int, ...] = DEEP_HIDDEN,
                     image_shape=IMAGE_SHAPE) -> AutoencoderParts:
    """Hinton & Salakhutdinov's deep autoencoder, 784-1000-500-250-2 with their sizes.

    Encoder: Dense layers of `hidden` units with ReLU, then a linear `code_dim`-d code (no unit can die);
    decoder: the mirror image, `hidden` reversed with ReLU, then the d pixels through a sigmoid, so images
    stay in [0, 1]. (They pre-trained each layer as an RBM; Adam trains it end to end.) With a 2-d code
    its codes keep classes far more apart than the first two principal components.

    Args:
        code_dim: the code's size.
        hidden: the encoder's hidden widths, input side first.
        image_shape: the images' shape.

    Returns:
        `AutoencoderParts`: encoder `image` → `code`, decoder `code` → `image`, and the two composed.
    """
    image = keras.Input(image_shape, name="image")
    x = layers.Flatten()(image)
    for width in hidden:
        x = layers.Dense(width, activation="relu")(x)
    code = layers.Dense(code_dim, name="code", dtype="float32")(x)
    encoder = keras.Model(image, code, name="deep_encoder")

    code_in = keras.Input((code_dim,), name="code")
    y = code_in
    for width in reversed(hidden):
        y = layers.Dense(width, activation="relu")(y)
    y = layers.Dense(int(np.prod(image_shape)), activation="sigmoid", dtype="float32")(y)
    out = layers.Reshape(image_shape, name="image", dtype="float32")(y)
    decoder = keras.Model(code_in, out, name="deep_decoder")

    image_in = keras.Input(image_shape, name="image")
    return AutoencoderParts(encoder, decoder, keras.Model(image_in, decoder(encoder(image_in)),
                                                          name="deep_autoencoder"))
