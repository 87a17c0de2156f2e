"""Adversarial autoencoder (Makhzani et al., 2016): an autoencoder whose codes a GAN's discriminator
forces to follow a prior p(z), built on `GAN` (the encoder plays the generator).

The prior needs only to be sampled, never evaluated: besides N(0, I), a mixture of ten 2-D Gaussians on a
circle and a swiss roll, priors whose KL divergence to q(z|x) has no closed form. In the supervised
variant the image's label picks the mixture component (or the stretch of the roll), and the discriminator
sees the label beside the code.
"""

from __future__ import annotations

import numpy as np
import keras
import tensorflow as tf
from keras import layers

from gen_keras.layers import GaussianSampler
from gen_keras.models.saving import with_deserialized_parts
from gen_keras.models.gan import GAN, IMAGE_SHAPE, SERIALIZATION_PACKAGE, global_batch_mean

PRIORS = ("gaussian", "mixture", "swiss_roll")
POSTERIORS = ("deterministic", "gaussian")
ENCODERS = ("dense", "conv")
RECONSTRUCTION_LOSSES = ("mse", "bce")
MIXTURE_RADIUS, MIXTURE_RADIAL_STD, MIXTURE_TANGENTIAL_STD = 3.0, 0.5, 0.15
ROLL_TURNS, ROLL_NOISE = (1.5 * np.pi, 4.5 * np.pi), 0.1  # angle range t of the roll, and its noise std



def prior_from_noise(prior: str, normal, uniform, labels=None, num_classes: int = 10):
    """Samples of an AAE prior made from standard noise, in-graph or eagerly (the same formula for training
    and for drawing samples to decode).

    - gaussian: z = n ~ N(0, I).
    - mixture: component k = ⌊u K⌋ (or the label), angle θ_k = 2πk/K, z = R(θ_k) (r + s_r n₁, s_t n₂) with
      r = 3, s_r = 0.5, s_t = 0.15: K petals on a circle.
    - swiss_roll: v = u (or (label + u) / K), angle t = t₀ + v (t₁ − t₀) over [1.5π, 4.5π],
      z = (t cos t, t sin t) · 3 / t₁ + 0.1 n: a spiral whose position v runs from the centre outwards.

    Args:
        prior: one of `PRIORS`.
        normal: standard normal noise n, (batch, code_dim) (mixture and swiss_roll: code_dim 2).
        uniform: u ~ U(0, 1), (batch,).
        labels: (batch,) integer classes for the supervised variant, or None.
        num_classes: K, the mixture's components (the supervised variant: the number of classes).

    Returns:
        float32 (batch, code_dim).
    """
    normal = tf.cast(normal, tf.float32)
    uniform = tf.cast(tf.reshape(uniform, [-1]), tf.float32)
    if prior not in PRIORS:
        raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
    if prior == "gaussian":
        return normal
    if normal.shape[-1] != 2:
        raise ValueError(f"the {prior} prior is 2-d; got codes of size {normal.shape[-1]}")
    if prior == "mixture":
        if labels is None:
            k = tf.minimum(tf.floor(uniform * num_classes), num_classes - 1.0)
        else:
            k = tf.cast(tf.reshape(labels, [-1]), tf.float32)
        theta = 2.0 * np.pi * k / num_classes
        radial = MIXTURE_RADIUS + MIXTURE_RADIAL_STD * normal[:, 0]
        tangential = MIXTURE_TANGENTIAL_STD * normal[:, 1]
        return tf.stack([radial * tf.cos(theta) - tangential * tf.sin(theta),
                         radial * tf.sin(theta) + tangential * tf.cos(theta)], axis=1)
    v = uniform if labels is None else (tf.cast(tf.reshape(labels, [-1]), tf.float32) + uniform) / num_classes
    t0, t1 = ROLL_TURNS
    t = t0 + v * (t1 - t0)
    return tf.stack([t * tf.cos(t), t * tf.sin(t)], axis=1) * (3.0 / t1) + ROLL_NOISE * normal


def sample_prior(prior: str, count: int, code_dim: int, seed: int, labels=None, num_classes: int = 10) -> np.ndarray:
    """`count` draws of an AAE prior from a numpy seed (e.g. the fixed inputs a decoder is judged on).

    Args:
        prior: one of `PRIORS`.
        count: how many.
        code_dim: the code's size.
        seed: seed of the numpy generator.
        labels: (count,) classes for the supervised variant, or None.
        num_classes: K.

    Returns:
        float32 (count, code_dim).
    """
    rng = np.random.default_rng(seed)
    normal, uniform = rng.standard_normal((count, code_dim)), rng.random(count)
    return prior_from_noise(prior, normal, uniform, labels, num_classes).numpy().astype(np.float32)


def nearest_component(codes: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """The mixture prior's component nearest in angle to each 2-d code: k = round(atan2(z₂, z₁) K / 2π) mod K.

    Args:
        codes: (N, 2) codes.
        num_classes: K, the mixture's components (centred at angles 2πk/K).

    Returns:
        int64 (N,) component indices; in the supervised variant, the share equal to the labels says how
        many codes reached their label's component.
    """
    codes = np.asarray(codes, np.float64)
    angle = np.arctan2(codes[:, 1], codes[:, 0]) % (2 * np.pi)
    return np.round(angle * num_classes / (2 * np.pi)).astype(np.int64) % num_classes


@keras.saving.register_keras_serializable(package=SERIALIZATION_PACKAGE)
class AdversarialAutoencoder(GAN):
    """The adversarial autoencoder: an autoencoder whose codes a discriminator pushes towards the prior p(z).

    Each batch: a reconstruction phase (encoder q(z|x) and decoder minimise ‖x − dec(enc(x))‖², or the VAE's
    Bernoulli −[x log x̂ + (1 − x) log(1 − x̂)], mean over pixels), then a regularization phase: D learns to
    tell prior samples z ~ p(z) = N(0, I) ("real") from codes enc(x) ("fake"), and the encoder, as the
    generator, learns to fool it:
        min_enc max_D E_{z~p(z)} [log D(z)] + E_x [log(1 − D(enc(x)))].
    Calling the model reconstructs: (batch, 28, 28, 1) → (batch, 28, 28, 1). Logs `reconstruction` beside
    `GAN`'s `d_loss`, `g_loss`, `d_real`, `d_fake`.

    Args:
        encoder: image → code, (batch, 28, 28, 1) → (batch, code_dim) (plays the generator).
        decoder: code → image, (batch, code_dim) → (batch, 28, 28, 1) in [0, 1].
        discriminator: code → logit, (batch, code_dim) → (batch, 1).
        latent_dim: the code's size; None: the encoder's output size.
        prior: one of `PRIORS` (`prior_from_noise`); mixture and swiss_roll need a 2-d code.
        supervised: batches are (images, labels); the label picks the prior's component and the
            discriminator, [code, `label`] → logit, sees it beside the code.
        num_classes: the mixture's components, and the classes in the supervised variant.
        reconstruction_loss: "mse" (squared error) or "bce" (binary cross-entropy, a Bernoulli decoder).
        **kwargs: `GAN` arguments (`seed`, `name`, …).
    """

    METRICS = (*GAN.METRICS, "reconstruction")

    def __init__(self, encoder: keras.Model, decoder: keras.Model, discriminator: keras.Model,
                 latent_dim: int | None = None, prior: str = "gaussian", supervised: bool = False,
                 num_classes: int = 10, reconstruction_loss: str = "mse", **kwargs):
        super().__init__(encoder, discriminator, latent_dim=latent_dim or encoder.outputs[0].shape[-1], **kwargs)
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
        if prior != "gaussian" and self.latent_dim != 2:
            raise ValueError(f"the {prior} prior is 2-d; the code has {self.latent_dim} dimensions")
        if reconstruction_loss not in RECONSTRUCTION_LOSSES:
            raise ValueError(f"reconstruction_loss must be one of {RECONSTRUCTION_LOSSES}, "
                             f"got {reconstruction_loss!r}")
        if supervised and prior == "gaussian":
            raise ValueError("the supervised variant needs a prior with a part per class: mixture or swiss_roll")
        self.decoder = decoder
        self.prior = prior
        self.supervised = bool(supervised)
        self.num_classes = int(num_classes)
        self.reconstruction_loss = reconstruction_loss
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
        config.update(prior=self.prior, supervised=self.supervised, num_classes=self.num_classes,
                      reconstruction_loss=self.reconstruction_loss)
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

    def unpack(self, data):
        """Splits a batch into (images, int32 labels) in the supervised variant, (images, None) otherwise."""
        if not self.supervised:
            return super().unpack(data)
        images, labels = data
        return images, tf.cast(labels, tf.int32)

    def run_discriminator(self, x, condition=None, training: bool = True):
        """D(z), or D(z, y) in the supervised variant: logits (batch, 1)."""
        if self.supervised:
            return self.discriminator([x, condition], training=training)
        return self.discriminator(x, training=training)

    def prior_samples(self, local_batch, labels=None):
        """z ~ p(z) for one discriminator step, from the stateless noise streams (see `prior_from_noise`)."""
        counter = self.d_optimizer.iterations
        normal = self.latent_noise(local_batch, "discriminator_z", counter)
        if self.prior == "gaussian":
            return normal
        uniform = self.uniform_noise(local_batch, "prior_position", counter)
        return prior_from_noise(self.prior, normal, uniform, labels, self.num_classes)

    def train_step(self, data):
        """One batch: a reconstruction step, then one discriminator step on (z ~ p(z), enc(x)) and one encoder step.

        Args:
            data: a batch of images (labels, if any, are ignored).

        Returns:
            The logged metrics: `d_loss`, `g_loss`, `d_real`, `d_fake`, `reconstruction`.
        """
        x, labels = self.unpack(data)
        # Reconstruction phase: min over encoder and decoder of ‖x − dec(enc(x))‖² (or the cross-entropy).
        with tf.GradientTape() as tape:
            reconstruction = tf.reshape(tf.cast(self(x, training=True), tf.float32), [tf.shape(x)[0], -1])
            target = tf.reshape(tf.cast(x, tf.float32), [tf.shape(x)[0], -1])
            if self.reconstruction_loss == "bce":
                per_example = tf.reduce_mean(keras.ops.binary_crossentropy(target, reconstruction), axis=1)
            else:
                per_example = tf.reduce_mean(tf.square(target - reconstruction), axis=1)
            scaled = self.ae_optimizer.scale_loss(global_batch_mean(per_example))
        weights = self.encoder.trainable_variables + self.decoder.trainable_variables
        self.ae_optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights))
        self.trackers["reconstruction"].update_state(tf.reduce_mean(per_example))
        # Regularization phase: D tells z ~ p(z) from enc(x); then the encoder learns to fool D.
        prior = self.prior_samples(tf.shape(x)[0], labels)
        self.discriminator_step(prior, tf.stop_gradient(self.encoder(x, training=True)), labels)
        self.generator_step(lambda: self.encoder(x, training=True), labels)
        return {m.name: m.result() for m in self.metrics}


def aae_networks(code_dim: int = 2, units: int = 512, image_shape=IMAGE_SHAPE,
                 num_classes: int = 0, posterior: str = "deterministic", encoder: str = "dense",
                 seed: int | None = None) -> tuple[keras.Model, ...]:
    """The adversarial autoencoder's three networks: fully connected as in the paper (narrower), or with
    the VAE recipe's convolutional encoder.

    Encoder: Flatten → 2 × Dense(units, relu) → linear code, or with `encoder="conv"` Conv2D(32, 3,
    stride 2) → Conv2D(64, 3, stride 2) → Flatten → Dense(256, relu) → linear code; decoder:
    2 × Dense(units, relu) → sigmoid pixels; discriminator: 2 × (Dense(units) → LeakyReLU(0.2)) → one
    logit. With a Gaussian posterior (the paper's second choice of q(z|x)) the encoder ends in two heads,
    μ and log σ², and draws z = μ + σ ⊙ ε in training (so the decoder learns to decode a neighbourhood of
    each code, and D matches the aggregated posterior's draws to p(z)); in inference it returns μ.

    Args:
        code_dim: the code's size.
        units: the hidden layers' width.
        image_shape: (H, W, C) of the images.
        num_classes: > 0 for the supervised variant: the discriminator also takes the `label` (one-hot
            beside the code).
        posterior: "deterministic" (z = enc(x)) or "gaussian" (z ~ N(μ(x), diag σ²(x)) in training).
        encoder: "dense" or "conv" (one of `ENCODERS`).
        seed: seed of the Gaussian posterior's draws.

    Returns:
        (encoder (batch, 28, 28, 1) → `code` (batch, code_dim); decoder `z` (batch, code_dim) → `image`
        (batch, 28, 28, 1) in [0, 1]; discriminator `code` (batch, code_dim) → `logit` (batch, 1)).
    """
    if posterior not in POSTERIORS:
        raise ValueError(f"posterior must be one of {POSTERIORS}, got {posterior!r}")
    if encoder not in ENCODERS:
        raise ValueError(f"encoder must be one of {ENCODERS}, got {encoder!r}")
    image = keras.Input(image_shape, name="image")
    h = image
    if encoder == "conv":
        for filters in (32, 64):
            h = layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(h)
        h = layers.Dense(256, activation="relu")(layers.Flatten()(h))
    else:
        h = layers.Flatten()(h)
        for _ in range(2):
            h = layers.Dense(units, activation="relu")(h)
    if posterior == "gaussian":
        mean = layers.Dense(code_dim, name="mean", dtype="float32")(h)
        log_var = layers.Dense(code_dim, name="log_var", dtype="float32")(h)
        code = GaussianSampler(beta=0.0, seed=seed, sample_in_inference=False, name="code", dtype="float32")(
            [mean, log_var])
    else:
        code = layers.Dense(code_dim, name="code", dtype="float32")(h)
    encoder = keras.Model(image, code, name="encoder")

    z = keras.Input((code_dim,), name="z")
    h = z
    for _ in range(2):
        h = layers.Dense(units, activation="relu")(h)
    pixels = layers.Dense(int(np.prod(image_shape)), activation="sigmoid", dtype="float32")(h)
    decoder = keras.Model(z, layers.Reshape(image_shape, name="image", dtype="float32")(pixels), name="decoder")

    code = keras.Input((code_dim,), name="code")
    inputs, h = code, code
    if num_classes:
        label = keras.Input((), dtype="int32", name="label")
        inputs = [code, label]
        h = layers.Concatenate()([code, layers.CategoryEncoding(num_classes, output_mode="one_hot")(label)])
    for _ in range(2):
        h = layers.LeakyReLU(0.2)(layers.Dense(units)(h))
    discriminator = keras.Model(inputs, layers.Dense(1, name="logit", dtype="float32")(h), name="discriminator")
    return encoder, decoder, discriminator
