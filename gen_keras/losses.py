"""Loss terms of the lectures, per example, in nats (natural logarithms).

VAE: the negative ELBO of one image is  −log p_θ(x|z) + KL(q_φ(z|x) ‖ p(z)),  z ~ q_φ(z|x),
with the reconstruction term summed over pixels and the KL term summed over latent dimensions.
"""

from __future__ import annotations

import math

from keras import ops


def gaussian_kl(mean, log_var):
    """KL(N(μ, diag σ²) ‖ N(0, I)) per example: ½ Σ_j (σ_j² + μ_j² − 1 − log σ_j²)."""
    return 0.5 * ops.sum(ops.exp(log_var) + ops.square(mean) - 1.0 - log_var, axis=-1)


def bernoulli_nll(x, logits):
    """−log p(x|z) per image for a Bernoulli decoder: Σ_pixels [softplus(l) − x·l], l the logits.

    The same as the summed binary cross-entropy; for x in [0, 1] that is not binary it is the usual
    (improper) grey-level reconstruction term."""
    logits = ops.cast(logits, "float32")
    x = ops.cast(x, "float32")
    per_pixel = ops.softplus(logits) - x * logits
    return ops.sum(ops.reshape(per_pixel, (ops.shape(per_pixel)[0], -1)), axis=-1)


def gaussian_nll(x, mean, log_scale):
    """−log N(x; μ, σ²) per image: Σ_pixels [½ log 2π + log σ + (x − μ)² / (2σ²)]."""
    mean, log_scale, x = (ops.cast(t, "float32") for t in (mean, log_scale, x))
    per_pixel = (0.5 * math.log(2.0 * math.pi) + log_scale
                 + 0.5 * ops.square(x - mean) * ops.exp(-2.0 * log_scale))
    return ops.sum(ops.reshape(per_pixel, (ops.shape(per_pixel)[0], -1)), axis=-1)
