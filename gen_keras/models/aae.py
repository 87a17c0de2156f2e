"""Adversarial autoencoder (Makhzani et al., 2016): an autoencoder whose codes a GAN's discriminator
forces to follow a prior p(z), built on `GAN` (the encoder plays the generator)."""

from __future__ import annotations

import numpy as np
import keras
import tensorflow as tf
from keras import layers

from gen_keras.models.saving import with_deserialized_parts
from gen_keras.models.gan import GAN, IMAGE_SHAPE, SERIALIZATION_PACKAGE, global_batch_mean


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class AdversarialAutoencoder(GAN):
    """The adversarial autoencoder: an autoencoder whose codes a discriminator pushes towards the prior p(z).

    Each batch: a reconstruction phase (encoder q(z|x) and decoder minimise ‖x − dec(enc(x))‖², mean over
    pixels), then a regularization phase: D learns to tell prior samples z ~ p(z) = N(0, I) ("real") from
    codes enc(x) ("fake"), and the encoder, as the generator, learns to fool it:
        min_enc max_D E_{z~p(z)} [log D(z)] + E_x [log(1 − D(enc(x)))].
    Calling the model reconstructs: (batch, 28, 28, 1) → (batch, 28, 28, 1). Logs `reconstruction` beside
    `GAN`'s `d_loss`, `g_loss`, `d_real`, `d_fake`.

    Args:
        encoder: image → code, (batch, 28, 28, 1) → (batch, code_dim) (plays the generator).
        decoder: code → image, (batch, code_dim) → (batch, 28, 28, 1) in [0, 1].
        discriminator: code → logit, (batch, code_dim) → (batch, 1).
        latent_dim: the code's size; None: the encoder's output size.
        **kwargs: `GAN` arguments (`seed`, `name`, …).
    """

    METRICS = (*GAN.METRICS, "reconstruction")

    def __init__(self, encoder: keras.Model, decoder: keras.Model, discriminator: keras.Model,
                 latent_dim: int | None = None, **kwargs):
        super().__init__(encoder, discriminator, latent_dim=latent_dim or encoder.outputs[0].shape[-1], **kwargs)
        self.decoder = decoder
        self.ae_optimizer = None

    @property
    def encoder(self) -> keras.Model:
        """The encoder (stored as `generator`)."""
        return self.generator

    def call(self, inputs, training: bool = False):
        """Reconstructs: dec(enc(x)), (batch, 28, 28, 1) → (batch, 28, 28, 1)."""
        return self.decoder(self.encoder(inputs, training=training), training=training)

    def get_config(self) -> dict:
        config = super().get_config()
        config["encoder"] = config.pop("generator")
        config["decoder"] = keras.saving.serialize_keras_object(self.decoder)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**with_deserialized_parts(config, ("encoder", "decoder", "discriminator")))

    def compile(self, ae_optimizer="adam", d_optimizer="adam", g_optimizer="adam", **kwargs):
        """Sets the three optimizers and the other training options.

        Args:
            ae_optimizer: updates encoder and decoder on the reconstruction error.
            d_optimizer: updates the discriminator.
            g_optimizer: updates the encoder against the discriminator.
            **kwargs: as `GAN.compile` (`k`, `generator_loss`, `steps_per_execution`, `jit_compile`, …).
        """
        self.ae_optimizer = self._loss_scaled(keras.optimizers.get(ae_optimizer))
        super().compile(d_optimizer=d_optimizer, g_optimizer=g_optimizer, **kwargs)

    def build_optimizers(self) -> None:
        """Creates the three optimizers' slots now (see `GAN.build_optimizers`)."""
        super().build_optimizers()
        if not self.ae_optimizer.built:
            self.ae_optimizer.build(self.encoder.trainable_variables + self.decoder.trainable_variables)

    def get_compile_config(self) -> dict:
        config = super().get_compile_config()
        if config:
            config["ae_optimizer"] = keras.saving.serialize_keras_object(self.ae_optimizer)
        return config

    def compile_from_config(self, config: dict) -> None:
        config = dict(config)
        config["ae_optimizer"] = keras.saving.deserialize_keras_object(config["ae_optimizer"])
        super().compile_from_config(config)

    def train_step(self, data):
        """One batch: a reconstruction step, then one discriminator step on (z ~ p(z), enc(x)) and one encoder step.

        Args:
            data: a batch of images (labels, if any, are ignored).

        Returns:
            The logged metrics: `d_loss`, `g_loss`, `d_real`, `d_fake`, `reconstruction`.
        """
        x, _ = self.unpack(data)
        # Reconstruction phase: min over encoder and decoder of ‖x − dec(enc(x))‖² (mean over pixels).
        with tf.GradientTape() as tape:
            reconstruction = tf.cast(self(x, training=True), tf.float32)
            per_example = tf.reduce_mean(tf.square(tf.reshape(tf.cast(x, tf.float32) - reconstruction,
                                                              [tf.shape(x)[0], -1])), axis=1)
            scaled = self.ae_optimizer.scale_loss(global_batch_mean(per_example))
        weights = self.encoder.trainable_variables + self.decoder.trainable_variables
        self.ae_optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights))
        self.trackers["reconstruction"].update_state(tf.reduce_mean(per_example))
        # Regularization phase: D tells z ~ p(z) from enc(x); then the encoder learns to fool D.
        prior = self.latent_noise(tf.shape(x)[0], "discriminator_z", self.d_optimizer.iterations)
        self.discriminator_step(prior, tf.stop_gradient(self.encoder(x, training=True)))
        self.generator_step(lambda: self.encoder(x, training=True))
        return {m.name: m.result() for m in self.metrics}


def aae_networks(code_dim: int = 2, units: int = 512, image_shape=IMAGE_SHAPE) -> tuple[keras.Model, ...]:
    """The adversarial autoencoder's three networks, fully connected as in the paper (narrower).

    Encoder: Flatten → 2 × Dense(units, relu) → linear code; decoder: 2 × Dense(units, relu) → sigmoid
    pixels; discriminator: 2 × (Dense(units) → LeakyReLU(0.2)) → one logit.

    Args:
        code_dim: the code's size.
        units: the hidden layers' width.
        image_shape: (H, W, C) of the images.

    Returns:
        (encoder (batch, 28, 28, 1) → `code` (batch, code_dim); decoder `z` (batch, code_dim) → `image`
        (batch, 28, 28, 1) in [0, 1]; discriminator `code` (batch, code_dim) → `logit` (batch, 1)).
    """
    image = keras.Input(image_shape, name="image")
    h = layers.Flatten()(image)
    for _ in range(2):
        h = layers.Dense(units, activation="relu")(h)
    encoder = keras.Model(image, layers.Dense(code_dim, name="code", dtype="float32")(h), name="encoder")

    z = keras.Input((code_dim,), name="z")
    h = z
    for _ in range(2):
        h = layers.Dense(units, activation="relu")(h)
    pixels = layers.Dense(int(np.prod(image_shape)), activation="sigmoid", dtype="float32")(h)
    decoder = keras.Model(z, layers.Reshape(image_shape, name="image", dtype="float32")(pixels), name="decoder")

    code = keras.Input((code_dim,), name="code")
    h = code
    for _ in range(2):
        h = layers.LeakyReLU(0.2)(layers.Dense(units)(h))
    discriminator = keras.Model(code, layers.Dense(1, name="logit", dtype="float32")(h), name="discriminator")
    return encoder, decoder, discriminator
