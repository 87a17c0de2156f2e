"""Convolutional autoencoders: the lecture's network exactly, and an improved one with the same 49-d code."""

from __future__ import annotations

from typing import NamedTuple

import keras
import numpy as np
from keras import layers

IMAGE_SHAPE = (28, 28, 1)
CODE_DIM = 49


class AutoencoderParts(NamedTuple):
    encoder: keras.Model  # image -> code
    decoder: keras.Model  # code -> image
    autoencoder: keras.Model  # image -> image, the two composed


def lecture_encoder(image_shape=IMAGE_SHAPE, code_dim: int = CODE_DIM) -> keras.Model:
    """Conv(32)-pool-Conv(64)-pool-Conv(64) (valid padding) -> Dense(49, relu): the lecture's encoder."""
    image = keras.Input(image_shape, name="image")
    x = layers.Conv2D(32, 3, activation="relu")(image)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    x = layers.Flatten()(x)
    code = layers.Dense(code_dim, activation="relu", name="code", dtype="float32")(x)
    return keras.Model(image, code, name="encoder")


def lecture_decoder(code_dim: int = CODE_DIM) -> keras.Model:
    """The code read as a 7x7x1 image, upsampled x4 by strided transposed convolutions (with batch norm)."""
    side = int(round(code_dim ** 0.5))
    code = keras.Input((code_dim,), name="code")
    x = layers.Reshape((side, side, 1))(code)
    x = layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Conv2DTranspose(32, 3, padding="same", activation="relu")(x)
    image = layers.Conv2D(1, 3, padding="same", name="image", dtype="float32")(x)
    return keras.Model(code, image, name="decoder")


def improved_encoder(image_shape=IMAGE_SHAPE, code_dim: int = CODE_DIM) -> keras.Model:
    """Two strided convolutions straight to a *linear* 49-d code: no code unit can die. (A Dense(512)
    before the code made a step a third slower and, in the same 280 s, ended at a higher test MSE.)"""
    image = keras.Input(image_shape, name="image")
    x = layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(image)
    x = layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Flatten()(x)
    code = layers.Dense(code_dim, name="code", dtype="float32")(x)
    return keras.Model(image, code, name="encoder")


def improved_decoder(code_dim: int = CODE_DIM, image_shape=IMAGE_SHAPE) -> keras.Model:
    """A dense decoder: every output pixel sees the whole code (the lecture's 7x7x1 reshape keeps each
    pixel local), and a sigmoid keeps pixels in [0, 1]. Dense layers are also the cheapest on a CPU."""
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


def conv_autoencoder(variant: str = "lecture", code_dim: int = CODE_DIM) -> AutoencoderParts:
    """Builds encoder, decoder and the autoencoder that composes them (they share weights)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown autoencoder '{variant}': use one of {sorted(VARIANTS)}")
    make_encoder, make_decoder = VARIANTS[variant]
    encoder, decoder = make_encoder(code_dim=code_dim), make_decoder(code_dim=code_dim)
    image = keras.Input(encoder.input_shape[1:], name="image")
    autoencoder = keras.Model(image, decoder(encoder(image)), name=f"conv_autoencoder_{variant}")
    return AutoencoderParts(encoder, decoder, autoencoder)
