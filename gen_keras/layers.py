"""Keras 3 layers of the lectures that Keras does not have, each serializable without `safe_mode=False`.

TFP's own `tfp.layers` are Keras 2 (tf-keras) layers and do not mix with Keras 3 models, so the
sampling layer here is a Keras 3 layer that calls `tfp.distributions` inside.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from gen_keras.losses import gaussian_kl


def _tfd():
    import tensorflow_probability as tfp  # imported on first use: it takes a second or two

    return tfp.distributions


def gaussian_posterior(mean, log_var):
    """q_φ(z|x) = N(μ, diag σ²) with σ = exp(½ log σ²), as a `tfp.distributions.Normal` (one per code unit).

    Args:
        mean: μ, shape (batch, latent_dim).
        log_var: log σ², the same shape.

    Returns:
        A `tfp.distributions.Normal` with batch shape (batch, latent_dim).
    """
    return _tfd().Normal(loc=mean, scale=ops.exp(0.5 * log_var))


@keras.saving.register_keras_serializable(package="gen_keras")
class GaussianSampler(keras.layers.Layer):
    """Draws z ~ q(z|x) = N(μ, diag σ²) by reparameterization and adds β · KL(q(z|x) ‖ N(0, I)) to the loss.

    Formula: z = μ + σ ⊙ ε, ε ~ N(0, I), σ = exp(½ log σ²) (drawn with `tfp.distributions.Normal`); the
    added loss is β · mean over the batch of ½ Σ_j (σ_j² + μ_j² − 1 − log σ_j²).

    Input: `[mean, log_var]`, each (batch, latent_dim). Output: z, (batch, latent_dim). It samples in
    inference mode too (a VAE's forward pass is stochastic) unless `sample_in_inference` is False, when
    inference returns μ (an adversarial autoencoder's served encoder).

    Args:
        beta: β, the KL term's weight; 0 adds no loss.
        seed: seed of the layer's `keras.random.SeedGenerator` (its state is saved with the model); None
            for a random one.
        sample_in_inference: False: return μ when not training.
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`, …).
    """

    def __init__(self, beta: float = 1.0, seed: int | None = None, sample_in_inference: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.beta = float(beta)
        self.seed = seed
        self.sample_in_inference = bool(sample_in_inference)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        mean, log_var = inputs
        if not training and not self.sample_in_inference:
            return mean
        q = gaussian_posterior(mean, log_var)
        # A stateless draw whose seed comes from a tracked variable: repeatable, and saved with the model.
        z = q.sample(seed=tf.cast(self.seed_generator.next(), tf.int32))
        if self.beta:
            self.add_loss(self.beta * ops.mean(gaussian_kl(ops.cast(mean, "float32"),
                                                           ops.cast(log_var, "float32"))))
        return z

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "beta": self.beta, "seed": self.seed,
                "sample_in_inference": self.sample_in_inference}


@keras.saving.register_keras_serializable(package="gen_keras")
class PixelLogScale(keras.layers.Layer):
    """Appends a learned per-pixel log σ to a decoder's mean image: (batch, H, W, C) → (batch, H, W, 2C).

    Formula: σ = σ_min + softplus(s), one trainable s per pixel and channel, shared by all images (the
    lecture's Gaussian decoder with learned variance), initialised so that σ = 0.1; σ_min keeps the
    likelihood bounded on pixels that never vary. Output channels: [μ, log σ].

    Args:
        min_scale: σ_min > 0.
        **kwargs: `keras.layers.Layer` arguments.
    """

    def __init__(self, min_scale: float = 0.01, **kwargs):
        super().__init__(**kwargs)
        self.min_scale = float(min_scale)

    def build(self, input_shape):
        # softplus(s) + σ_min = 0.1 at the start: a broad likelihood while the mean is still poor.
        init = float(ops.convert_to_numpy(ops.log(ops.exp(0.1 - self.min_scale) - 1.0)))
        self.raw_scale = self.add_weight(name="raw_scale", shape=tuple(input_shape[1:]),
                                         initializer=keras.initializers.Constant(init))

    def call(self, mean):
        log_scale = ops.log(self.min_scale + ops.softplus(ops.cast(self.raw_scale, mean.dtype)))
        return ops.concatenate([mean, ops.broadcast_to(log_scale, ops.shape(mean))], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 2 * input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "min_scale": self.min_scale}


@keras.saving.register_keras_serializable(package="gen_keras")
class SoftplusLogScale(keras.layers.Layer):
    """log σ from an unconstrained output: σ = σ_min + softplus(r), so σ > σ_min > 0 (a decoder's σ(z)).

    Input: r, any shape; output: log σ, the same shape.

    Args:
        min_scale: σ_min, which keeps the Gaussian likelihood bounded where a pixel never varies.
        **kwargs: `keras.layers.Layer` arguments.
    """

    def __init__(self, min_scale: float = 0.01, **kwargs):
        super().__init__(**kwargs)
        self.min_scale = float(min_scale)

    def call(self, raw):
        return ops.log(self.min_scale + ops.softplus(raw))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "min_scale": self.min_scale}


@keras.saving.register_keras_serializable(package="gen_keras")
class LikelihoodMean(keras.layers.Layer):
    """The mean image E[x|z] from a decoder's output.

    Bernoulli: sigmoid(logits), (batch, H, W, C) → (batch, H, W, C). Gaussian (σ per pixel or σ(z)): the
    first half of the channels (μ) clipped to [0, 1], (batch, H, W, 2C) → (batch, H, W, C).

    Args:
        likelihood: "bernoulli", "gaussian" or "gaussian_z".
        **kwargs: `keras.layers.Layer` arguments.

    Raises:
        ValueError: an unknown `likelihood`.
    """

    def __init__(self, likelihood: str = "bernoulli", **kwargs):
        super().__init__(**kwargs)
        if likelihood not in ("bernoulli", "gaussian", "gaussian_z"):
            raise ValueError(f"likelihood must be 'bernoulli', 'gaussian' or 'gaussian_z', got {likelihood!r}")
        self.likelihood = likelihood

    def call(self, params):
        if self.likelihood == "bernoulli":
            return ops.sigmoid(params)
        channels = params.shape[-1] // 2
        return ops.clip(params[..., :channels], 0.0, 1.0)

    def compute_output_shape(self, input_shape):
        if self.likelihood == "bernoulli":
            return input_shape
        return (*input_shape[:-1], input_shape[-1] // 2)

    def get_config(self):
        return {**super().get_config(), "likelihood": self.likelihood}


@keras.saving.register_keras_serializable(package="gen_keras")
class Centring(keras.layers.Layer):
    """Subtracts a fixed data mean, x − μ, or with `invert=True` adds it back, x + μ.

    μ is a non-trainable weight of the input's shape (batch axis left out), zero until `adapt` sets it
    from data (or a caller assigns `layer.mean`); it is saved and exported with the model, so a model
    that centres inside takes its inputs in the units they are stored in. PCA and the linear autoencoder
    work on x − μ: the best affine reconstruction of centred data needs no bias.

    Input and output: (batch, *shape), the same shape (e.g. (batch, 28, 28, 1)).

    Args:
        invert: False: x ↦ x − μ (an encoder's first step); True: x ↦ x + μ (a decoder's last).
    """

    def __init__(self, invert: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.invert = bool(invert)

    def build(self, input_shape):
        self.mean = self.add_weight(name="mean", shape=tuple(input_shape[1:]), initializer="zeros",
                                    trainable=False)

    def adapt(self, data) -> None:
        """Sets μ to the mean of `data` over its batch axis, computed in float64 (builds the layer if needed).

        Args:
            data: (N, *input_shape[1:]), e.g. the training images (N, 28, 28, 1).
        """
        data = np.asarray(data, np.float64)
        if not self.built:
            self.build((None, *data.shape[1:]))
        self.mean.assign(data.mean(axis=0).reshape(self.mean.shape).astype(self.mean.dtype))

    def call(self, x):
        mean = ops.cast(self.mean, x.dtype)
        return x + mean if self.invert else x - mean

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "invert": self.invert}


@keras.saving.register_keras_serializable(package="gen_keras")
class TiedDense(keras.layers.Layer):
    """A sigmoid (or other) dense layer whose decoder direction reuses the encoder's weights transposed.

    Formula: encoding h = s(W x + b); decoding, the same layer called with `transpose=True`,
    x̂ = s(Wᵀ h + b′): one weight matrix W, two biases (the tied-weight autoencoder of the lecture). Call the
    one layer object in the encoder and in the decoder, so both use (and train) the same W.

    Args:
        units: the hidden layer's width (h's size).
        input_dim: x's size (the pixels), so the layer can be built from either direction.
        activation: s, the same both ways (sigmoid in the lecture).
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`).
    """

    def __init__(self, units: int, input_dim: int, activation: str = "sigmoid", **kwargs):
        super().__init__(**kwargs)
        self.units, self.input_dim = int(units), int(input_dim)
        self.activation = keras.activations.get(activation)

    def build(self, input_shape=None):
        self.kernel = self.add_weight(name="kernel", shape=(self.input_dim, self.units),
                                      initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
        self.transposed_bias = self.add_weight(name="transposed_bias", shape=(self.input_dim,),
                                               initializer="zeros")
        self.built = True

    def call(self, inputs, transpose: bool = False):
        if transpose:
            return self.activation(ops.matmul(inputs, ops.transpose(self.kernel)) + self.transposed_bias)
        return self.activation(ops.matmul(inputs, self.kernel) + self.bias)

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "input_dim": self.input_dim,
                "activation": keras.activations.serialize(self.activation)}
