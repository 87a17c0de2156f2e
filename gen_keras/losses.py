"""Loss terms of the lectures, per example, in nats (natural logarithms).

VAE: the negative ELBO of one image is  −log p_θ(x|z) + KL(q_φ(z|x) ‖ p(z)),  z ~ q_φ(z|x),
with the reconstruction term summed over pixels and the KL term summed over latent dimensions.

GANs: from discriminator logits l, D = σ(l), with log σ(l) = −softplus(−l) and log(1 − σ(l)) = −softplus(l),
so no loss takes the log of a probability rounded to 0 or 1. Under a `tf.distribute` strategy, average
per-example values with `tf.nn.compute_average_loss` (it divides by the global batch).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from keras import ops


def gaussian_kl(mean, log_var):
    """KL(N(μ, diag σ²) ‖ N(0, I)) per example, in nats.

    Formula: ½ Σ_j (σ_j² + μ_j² − 1 − log σ_j²).

    Args:
        mean: μ, (batch, latent_dim).
        log_var: log σ², (batch, latent_dim).

    Returns:
        (batch,), ≥ 0.
    """
    return 0.5 * ops.sum(ops.exp(log_var) + ops.square(mean) - 1.0 - log_var, axis=-1)


def bernoulli_nll(x, logits):
    """−log p(x|z) per image for a Bernoulli decoder, in nats.

    Formula: Σ_pixels [softplus(l) − x·l], l the logits. The same as the summed binary cross-entropy; for x
    in [0, 1] that is not binary it is the usual (improper) grey-level reconstruction term.

    Args:
        x: images, (batch, H, W, C) in [0, 1].
        logits: l, the same shape.

    Returns:
        float32 (batch,).
    """
    logits = ops.cast(logits, "float32")
    x = ops.cast(x, "float32")
    per_pixel = ops.softplus(logits) - x * logits
    return ops.sum(ops.reshape(per_pixel, (ops.shape(per_pixel)[0], -1)), axis=-1)


def gaussian_nll(x, mean, log_scale):
    """−log N(x; μ, σ²) per image, in nats.

    Formula: Σ_pixels [½ log 2π + log σ + (x − μ)² / (2σ²)].

    Args:
        x: images, (batch, H, W, C).
        mean: μ, the same shape.
        log_scale: log σ, the same shape.

    Returns:
        float32 (batch,).
    """
    mean, log_scale, x = (ops.cast(t, "float32") for t in (mean, log_scale, x))
    per_pixel = (0.5 * math.log(2.0 * math.pi) + log_scale
                 + 0.5 * ops.square(x - mean) * ops.exp(-2.0 * log_scale))
    return ops.sum(ops.reshape(per_pixel, (ops.shape(per_pixel)[0], -1)), axis=-1)


def _scores(t):
    """float32, one value per example (a [batch, 1] logit becomes [batch])."""
    return ops.reshape(ops.cast(t, "float32"), (-1,))


def discriminator_loss(real_logits, fake_logits):
    """The discriminator's binary cross-entropy per example, real = 1, fake = 0.

    Formula: −log D(x) − log(1 − D(G(z))) = softplus(−l_real) + softplus(l_fake), D = σ(l).

    Args:
        real_logits: D's logits on real images, (batch,) or (batch, 1).
        fake_logits: D's logits on generated images, the same shape.

    Returns:
        float32 (batch,).
    """
    return ops.softplus(-_scores(real_logits)) + ops.softplus(_scores(fake_logits))


def minimax_generator_loss(fake_logits):
    """The original game's generator loss, minimised by G; its gradient vanishes as D(G(z)) → 0.

    Formula: log(1 − D(G(z))) = −softplus(l).

    Args:
        fake_logits: D's logits on generated images, (batch,) or (batch, 1).

    Returns:
        float32 (batch,).
    """
    return -ops.softplus(_scores(fake_logits))


def non_saturating_generator_loss(fake_logits):
    """The non-saturating generator loss (minimised by G): the same fixed point, a strong gradient at small D(G(z)).

    Formula: −log D(G(z)) = softplus(−l).

    Args:
        fake_logits: D's logits on generated images, (batch,) or (batch, 1).

    Returns:
        float32 (batch,).
    """
    return ops.softplus(-_scores(fake_logits))


def maximum_likelihood_generator_loss(fake_logits):
    """The maximum-likelihood generator cost (Goodfellow 2016): with the optimal discriminator its expected
    gradient is that of KL(p_data ‖ p_g); flat at small D(G(z)), steep near D = 1.

    Formula: −½ exp(σ⁻¹(D(G(z)))) = −½ exp(l), since σ⁻¹(D) = l; note exp(l) = D / (1 − D).

    Args:
        fake_logits: D's logits on generated images, (batch,) or (batch, 1).

    Returns:
        float32 (batch,).
    """
    return -0.5 * ops.exp(_scores(fake_logits))


GENERATOR_LOSSES: dict[str, Callable] = {
    "minimax": minimax_generator_loss,
    "non_saturating": non_saturating_generator_loss,
}


def generator_cost_curves(d) -> dict[str, tuple]:
    """Each generator cost J and its slope ∂J/∂l (by autodiff) against D(G(z)), for the lecture's figure.

    Args:
        d: values of D(G(z)) in (0, 1), (L,).

    Returns:
        legend label → (J, ∂J/∂l), numpy arrays (L,), for minimax, non-saturating and maximum likelihood.
    """
    import numpy as np
    import tensorflow as tf

    d = np.asarray(d, np.float64)
    logits = tf.constant(np.log(d / (1 - d)), tf.float32)  # l = σ⁻¹(D)
    curves = {}
    for name, loss in (("minimax: log(1 − D)", minimax_generator_loss),
                       ("non-saturating: −log D", non_saturating_generator_loss),
                       ("maximum likelihood: −½ exp(σ⁻¹(D))", maximum_likelihood_generator_loss)):
        with tf.GradientTape() as tape:
            tape.watch(logits)
            cost = loss(logits)
            total = tf.reduce_sum(cost)  # each J depends on its own l only: the gradient is ∂J/∂l per point
        curves[name] = (cost.numpy(), tape.gradient(total, logits).numpy())
    return curves


def wasserstein_critic_loss(real_scores, fake_scores):
    """The WGAN critic's loss per example: minimising it makes E f(x) − E f(G(z)) the critic's estimate of W.

    Formula: f(G(z)) − f(x).

    Args:
        real_scores: f(x), (batch,) or (batch, 1).
        fake_scores: f(G(z)), the same shape.

    Returns:
        float32 (batch,).
    """
    return _scores(fake_scores) - _scores(real_scores)


def wasserstein_generator_loss(fake_scores):
    """The WGAN generator's loss per example: G moves its samples up the critic's slope.

    Formula: −f(G(z)).

    Args:
        fake_scores: f(G(z)), (batch,) or (batch, 1).

    Returns:
        float32 (batch,).
    """
    return -_scores(fake_scores)


def gradient_penalty(critic: Callable, real, fake, epsilon=None, eps: float = 1e-12, one_sided: bool = False):
    """WGAN-GP's gradient penalty per example, at points between real and generated images.

    Formula: (‖∇f(x̂)‖ − 1)², x̂ = ε x + (1 − ε) x̃, ε ~ U[0, 1], one draw per example; one-sided:
    max(0, ‖∇f(x̂)‖ − 1)², which only stops the slope exceeding 1 (a 1-D critic whose slope starts the wrong
    way cannot cross slope 0 under the two-sided penalty, whose value there is 1 per point).

    The norm is sqrt(Σ g² + eps): plain sqrt has an infinite derivative at 0, so a zero gradient (a flat
    critic, dead ReLUs) would turn the weights into NaN. Differentiable again (the penalty is trained through).

    Args:
        critic: f, images → one score per example, (batch,) or (batch, 1).
        real: x, (batch, H, W, C).
        fake: x̃, the same shape.
        epsilon: ε, (batch,); None draws it from U[0, 1].
        eps: added under the square root.
        one_sided: penalise only norms above 1.

    Returns:
        float32 (batch,).
    """
    import tensorflow as tf

    real, fake = tf.cast(real, tf.float32), tf.cast(fake, tf.float32)
    if epsilon is None:
        epsilon = tf.random.uniform(tf.shape(real)[:1])
    epsilon = tf.reshape(tf.cast(epsilon, tf.float32), [-1] + [1] * (len(real.shape) - 1))
    x_hat = epsilon * real + (1.0 - epsilon) * fake
    with tf.GradientTape() as tape:
        tape.watch(x_hat)
        scores = _scores(critic(x_hat))
    grads = tf.reshape(tape.gradient(scores, x_hat), [tf.shape(real)[0], -1])
    norm = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=1) + eps)
    excess = tf.nn.relu(norm - 1.0) if one_sided else norm - 1.0
    return tf.square(excess)


def per_replica_share(loss):
    """The loss one replica contributes under `tf.distribute`: loss / replicas (gradients are summed
    over replicas), unchanged on one device. Keras scales its compiled losses this way, but not a loss
    a model computes itself.

    Args:
        loss: a scalar, the replica's mean loss.

    Returns:
        `loss / num_replicas_in_sync`.
    """
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss if replicas == 1 else loss * ops.cast(1.0 / replicas, loss.dtype)
