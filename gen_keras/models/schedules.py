"""The diffusion lecture's schedules: β_t, ᾱ_t = Π_{s ≤ t} (1 − β_s), the min-SNR loss weights and DDIM's
sub-sequence of steps (`gen_keras.models.diffusion` trains and samples with them).
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

SCHEDULES = ("cosine", "linear")
PREDICTIONS = ("epsilon", "velocity")


def noise_schedule(name: str = "cosine", steps: int = 1000) -> np.ndarray:
    """β_1 … β_T of a named schedule.

    cosine (Nichol & Dhariwal, 2021): ᾱ(t) = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s) · π/2), s = 0.008,
    β_t = min(1 − ᾱ_t/ᾱ_{t−1}, 0.999); linear (Ho et al.): β from 1e-4 to 0.02 (scaled by 1000/T).

    Args:
        name: "cosine" or "linear".
        steps: T.

    Returns:
        float64 (T,) betas in (0, 1).

    Raises:
        ValueError: an unknown name, or steps < 1.
    """
    if name not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {name!r}")
    if int(steps) < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if name == "linear":
        scale = 1000.0 / steps
        return np.linspace(scale * 1e-4, min(scale * 0.02, 0.999), steps, dtype=np.float64)
    s = 0.008
    t = np.arange(steps + 1, dtype=np.float64) / steps
    f = np.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    alpha_bar = f / f[0]
    return np.clip(1.0 - alpha_bar[1:] / alpha_bar[:-1], 1e-8, 0.999)


def alpha_bars(betas: np.ndarray) -> np.ndarray:
    """ᾱ_t = Π_{s ≤ t} (1 − β_s), each t.

    Args:
        betas: (T,) β_t.

    Returns:
        float64 (T,), falling from near 1 to near 0.
    """
    return np.cumprod(1.0 - np.asarray(betas, np.float64))


def loss_weights(alpha_bar: np.ndarray, prediction: str = "epsilon", min_snr_gamma: float | None = None) -> np.ndarray:
    """Per-step weights of the regression loss.

    Formula: SNR_t = ᾱ_t/(1 − ᾱ_t); min-SNR-γ (Hang et al., 2023) weighs the ε loss by min(SNR_t, γ)/SNR_t
    and the v loss by min(SNR_t, γ)/(SNR_t + 1): both are the x_0 error's weight min(SNR_t, γ), so the
    nearly clean steps, easy and many, stop dominating the gradient. None: 1 at every step.

    Args:
        alpha_bar: (T,) ᾱ_t.
        prediction: what the network predicts, "epsilon" or "velocity".
        min_snr_gamma: γ > 0, or None for the unweighted loss.

    Returns:
        float64 (T,) weights in (0, 1].

    Raises:
        ValueError: an unknown prediction, or γ ≤ 0.
    """
    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction must be one of {PREDICTIONS}, got {prediction!r}")
    alpha_bar = np.asarray(alpha_bar, np.float64)
    if min_snr_gamma is None:
        return np.ones_like(alpha_bar)
    if not min_snr_gamma > 0:
        raise ValueError(f"min_snr_gamma must be positive, got {min_snr_gamma}")
    snr = alpha_bar / (1.0 - alpha_bar)
    return np.minimum(snr, min_snr_gamma) / (snr if prediction == "epsilon" else snr + 1.0)


def sampling_timesteps(steps, total: int):
    """The DDIM sub-sequence τ of `steps` time-step indices out of `total`, evenly spaced, ending at T − 1.

    Args:
        steps: how many network evaluations (a scalar tensor or int, 1 … total).
        total: T.

    Returns:
        int32 (steps,), increasing: ⌊(i + 1)·T/steps⌋ − 1 for i = 0 … steps − 1 (every index when steps = T;
        the chain starts at the last, x_T's).
    """
    steps = tf.cast(steps, tf.int64)
    return tf.cast((tf.range(steps) + 1) * total // steps - 1, tf.int32)
