"""What keeps an over-complete autoencoder from copying its input: the sparse, denoising and contractive penalties.

- Sparse: β Σ_j KL(ρ ‖ ρ̂_j), ρ̂_j the mean activation of hidden unit j over a batch (`sparse_kl`,
  the layer `KLSparsity`).
- Denoising: train on a corrupted x̃ → x, with x̃ masked (each pixel zeroed with probability ν) or
  x̃ = x + σ ε (`corrupt`, the layer `Corruption`, active only in training).
- Contractive: λ ‖J_f(x)‖²_F, the squared Frobenius norm of the encoder's Jacobian; for a sigmoid layer
  h = σ(W x + b) in closed form, Σ_j (h_j (1 − h_j))² Σ_i W_ij² (`sigmoid_jacobian_norm_sq`, the layer
  `ContractiveDense`), for any encoder by autodiff (`jacobian_norm_sq`).

The sparse penalty is a layer rather than a `keras.regularizers.Regularizer` used as an activity
regularizer: Keras 3 divides an activity regularizer's loss by the batch size, which suits a sum over
examples but not a KL of the batch's mean activation.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

NOISE_KINDS = ("masking", "gaussian")
_EPS = 1e-7


def sparse_kl(rho: float, rho_hat):
    """Σ_j KL(ρ ‖ ρ̂_j) between Bernoulli(ρ) and Bernoulli(ρ̂_j), the sparse autoencoder's penalty without β.

    Formula: KL(ρ ‖ ρ̂) = ρ log(ρ / ρ̂) + (1 − ρ) log((1 − ρ) / (1 − ρ̂)), summed over the hidden units j.

    Args:
        rho: ρ, the target mean activation, 0 < ρ < 1.
        rho_hat: ρ̂, the units' mean activations, (units,), each in (0, 1) (clipped to [1e-7, 1 − 1e-7]).

    Returns:
        A scalar tensor ≥ 0, zero when every ρ̂_j = ρ.
    """
    rho_hat = ops.clip(ops.cast(rho_hat, "float32"), _EPS, 1.0 - _EPS)
    return ops.sum(rho * ops.log(rho / rho_hat) + (1.0 - rho) * ops.log((1.0 - rho) / (1.0 - rho_hat)))


def _check_rate(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be between 0 and 1 (exclusive), got {value}")
    return value


def _check_non_negative(name: str, value: float) -> float:
    value = float(value)
    if not value >= 0.0:
        raise ValueError(f"{name} must be zero or more, got {value}")
    return value


@keras.saving.register_keras_serializable(package="gen_keras")
class KLSparsity(keras.layers.Layer):
    """Passes its input through and, in training, adds β Σ_j KL(ρ ‖ ρ̂_j) to the loss.

    ρ̂_j is unit j's mean activation over the batch; the input must be a sigmoid layer's output, in (0, 1).

    Args:
        rho: ρ, the target mean activation, 0 < ρ < 1 (e.g. 0.05).
        beta: β ≥ 0, the penalty's weight.
        **kwargs: `keras.layers.Layer` arguments.

    Raises:
        ValueError: ρ outside (0, 1) or β < 0.
    """

    def __init__(self, rho: float = 0.05, beta: float = 3.0, **kwargs):
        super().__init__(**kwargs)
        self.rho = _check_rate("rho", rho)
        self.beta = _check_non_negative("beta", beta)

    def call(self, hidden, training=False):
        if training and self.beta:
            self.add_loss(self.beta * sparse_kl(self.rho, ops.mean(hidden, axis=0)))
        return hidden

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "beta": self.beta}


def corrupt(x, kind: str, level: float, seed=None):
    """The denoising autoencoder's corruption x̃ of a batch x.

    Formula: masking, x̃ = x ⊙ m with m_i ~ Bernoulli(1 − ν) (each pixel zeroed with probability ν);
    gaussian, x̃ = x + σ ε, ε ~ N(0, I) (not clipped).

    Args:
        x: a batch, any shape.
        kind: "masking" or "gaussian".
        level: ν (0 < ν < 1) for masking, σ > 0 for gaussian.
        seed: an int or a `keras.random.SeedGenerator`.

    Returns:
        x̃, the shape and dtype of x.

    Raises:
        ValueError: an unknown kind or a level outside its range.
    """
    kind, level = _check_noise(kind, level)
    x = ops.convert_to_tensor(x)
    if kind == "masking":
        keep = keras.random.uniform(ops.shape(x), seed=seed) >= level
        return ops.where(keep, x, ops.zeros_like(x))
    return x + ops.cast(level * keras.random.normal(ops.shape(x), seed=seed), x.dtype)


def _check_noise(kind: str, level: float) -> tuple[str, float]:
    if kind not in NOISE_KINDS:
        raise ValueError(f"unknown noise '{kind}': use one of {NOISE_KINDS}")
    level = float(level)
    if kind == "masking":
        _check_rate("the masking probability", level)
    elif not level > 0:
        raise ValueError(f"the Gaussian noise's sigma must be positive, got {level}")
    return kind, level


@keras.saving.register_keras_serializable(package="gen_keras")
class Corruption(keras.layers.Layer):
    """The denoising autoencoder's corruption (`corrupt`), applied in training only; the identity otherwise.

    Args:
        kind: "masking" (each input zeroed with probability `level`) or "gaussian" (x + level · ε).
        level: ν in (0, 1), or σ > 0.
        seed: seed of the layer's `keras.random.SeedGenerator`.
        **kwargs: `keras.layers.Layer` arguments.

    Raises:
        ValueError: an unknown kind or a level outside its range.
    """

    def __init__(self, kind: str = "masking", level: float = 0.3, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.kind, self.level = _check_noise(kind, level)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=False):
        if training:
            return corrupt(x, self.kind, self.level, self.seed_generator)
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "level": self.level, "seed": self.seed}


def sigmoid_jacobian_norm_sq(hidden, kernel):
    """‖J_f(x)‖²_F of a sigmoid layer h = σ(W x + b) in closed form, one value per example.

    Formula: ∂h_j/∂x_i = h_j (1 − h_j) W_ij, so ‖J‖²_F = Σ_j (h_j (1 − h_j))² Σ_i W_ij².

    Args:
        hidden: h, the layer's outputs, (batch, units).
        kernel: W, Keras's kernel, (inputs, units).

    Returns:
        (batch,) float32.
    """
    hidden = ops.cast(hidden, "float32")
    slope_sq = ops.square(hidden * (1.0 - hidden))
    return ops.sum(slope_sq * ops.sum(ops.square(ops.cast(kernel, "float32")), axis=0), axis=-1)


def jacobian_norm_sq(function, x) -> tf.Tensor:
    """‖J_f(x)‖²_F of any differentiable `function` by autodiff, one value per example.

    Formula: ‖J‖²_F = Σ_j Σ_i (∂f_j/∂x_i)², with J from `tf.GradientTape.batch_jacobian` (the examples
    of a batch must not interact, e.g. no batch norm in training mode).

    Args:
        function: x ↦ f(x), (batch, …) → (batch, units), e.g. an encoder in inference mode.
        x: the inputs, (batch, …).

    Returns:
        (batch,) float32.
    """
    x = tf.convert_to_tensor(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.cast(function(x), tf.float32)
    jac = tape.batch_jacobian(y, x)
    return tf.reduce_sum(tf.reshape(tf.square(jac), [tf.shape(x)[0], -1]), axis=-1)


def jacobian_norms(function, x: np.ndarray, batch_size: int = 100) -> np.ndarray:
    """‖J_f(x)‖_F (not squared) of each example, by autodiff in batches.

    Args:
        function: x ↦ f(x), as `jacobian_norm_sq`.
        x: (N, …) inputs.
        batch_size: examples per Jacobian.

    Returns:
        float64 (N,).
    """
    step = tf.function(lambda b: jacobian_norm_sq(function, b), reduce_retracing=True)
    parts = [step(tf.constant(x[i:i + batch_size], tf.float32)).numpy() for i in range(0, len(x), batch_size)]
    return np.sqrt(np.concatenate(parts).astype(np.float64))


@keras.saving.register_keras_serializable(package="gen_keras")
class ContractiveDense(keras.layers.Dense):
    """A sigmoid `Dense` layer that, in training, adds λ · mean over the batch of ‖J_f(x)‖²_F to the loss.

    The Jacobian is the layer's own, ∂h/∂x, in closed form (`sigmoid_jacobian_norm_sq`); as the encoder's
    only layer on a flat input, it is the encoder's Jacobian.

    Args:
        units: hidden units.
        lam: λ ≥ 0, the penalty's weight.
        **kwargs: `keras.layers.Dense` arguments other than `activation` (always sigmoid).

    Raises:
        ValueError: λ < 0.
    """

    def __init__(self, units: int, lam: float = 0.1, **kwargs):
        kwargs.pop("activation", None)
        super().__init__(units, activation="sigmoid", **kwargs)
        self.lam = _check_non_negative("lambda", lam)

    def call(self, inputs, training=False):
        hidden = super().call(inputs)
        if training and self.lam:
            self.add_loss(self.lam * ops.mean(sigmoid_jacobian_norm_sq(hidden, self.kernel)))
        return hidden

    def get_config(self):
        config = super().get_config()
        config.pop("activation", None)
        return {**config, "lam": self.lam}


@keras.saving.register_keras_serializable(package="gen_keras")
def sum_squared_error(y_true, y_pred):
    """‖x − x̂‖², summed over an image's pixels (the lectures' reconstruction term), one value per image.

    Args:
        y_true: x, (batch, …).
        y_pred: x̂, the same shape.

    Returns:
        (batch,) float32.
    """
    diff = ops.cast(y_true, "float32") - ops.cast(y_pred, "float32")
    return ops.sum(ops.reshape(ops.square(diff), (ops.shape(diff)[0], -1)), axis=-1)


def sum_binary_cross_entropy(y_true, y_pred):
    """−Σ_pixels [x log x̂ + (1 − x) log(1 − x̂)], one value per image: the cross-entropy reconstruction loss of
    a sigmoid decoder (for grey levels x in [0, 1] the Bernoulli form used as a loss, not a density).

    Args:
        y_true: x in [0, 1], (batch, …).
        y_pred: x̂ in (0, 1), the same shape (clipped to [1e-7, 1 − 1e-7]).

    Returns:
        (batch,) float32.
    """
    x = ops.reshape(ops.cast(y_true, "float32"), (ops.shape(y_true)[0], -1))
    x_hat = ops.clip(ops.reshape(ops.cast(y_pred, "float32"), (ops.shape(y_pred)[0], -1)), 1e-7, 1 - 1e-7)
    return -ops.sum(x * ops.log(x_hat) + (1 - x) * ops.log(1 - x_hat), axis=-1)
