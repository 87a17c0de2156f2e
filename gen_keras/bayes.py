"""Conjugate Bayesian linear regression (Bishop, PRML §3.3), in closed form.

The model: targets are a linear function of fixed basis functions φ(x) plus Gaussian noise,

    prior       p(w)      = N(w | m_0, S_0),  usually m_0 = 0, S_0 = α⁻¹ I   (α: prior precision)
    likelihood  p(t | w)  = N(t | wᵀφ(x), β⁻¹)                             (β: noise precision)

Gaussian prior times Gaussian likelihood is Gaussian, so the posterior after N points, with the
design matrix Φ (N × M, row n = φ(x_n)ᵀ), is again N(w | m_N, S_N) with (PRML 3.50, 3.51)

    S_N⁻¹ = S_0⁻¹ + β ΦᵀΦ,        m_N = S_N (S_0⁻¹ m_0 + β Φᵀ t),

and the posterior after one batch is the prior of the next: updating point by point ends where one
update with all the points does. A new input's target has the predictive distribution (PRML 3.58, 3.59)

    p(t | x, data) = N(t | m_Nᵀφ(x), σ_N²(x)),    σ_N²(x) = 1/β + φ(x)ᵀ S_N φ(x),

noise plus the uncertainty left in w, which shrinks where data arrive but never below 1/β.

Everything here is numpy (float64, tiny matrices); `WeightBelief.distribution()` and
`predictive_distribution()` hand the same numbers over as `tfp.distributions` objects.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np


def _tfd():
    import tensorflow_probability as tfp  # imported on first use: it takes a few seconds

    return tfp.distributions


def _positive(name: str, value: float) -> float:
    value = float(value)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive finite number (a precision, 1 / variance), got {value}")
    return value


def _symmetric(matrix: np.ndarray) -> np.ndarray:
    return (matrix + matrix.T) / 2  # inverses of symmetric matrices are symmetric only up to round-off


def _inverse_spd(matrix: np.ndarray, name: str) -> np.ndarray:
    """The inverse of a symmetric positive definite matrix, through its Cholesky factor."""
    try:
        factor_inv = np.linalg.inv(np.linalg.cholesky(matrix))
    except np.linalg.LinAlgError:
        raise ValueError(f"{name} must be symmetric positive definite") from None
    return factor_inv.T @ factor_inv


@dataclasses.dataclass(frozen=True)
class WeightBelief:
    """A Gaussian belief N(w | m, S) over the M weights: the prior before any data, a posterior after.

    Args:
        mean: m, shape (M,).
        covariance: S, shape (M, M), symmetric positive definite.
    """

    mean: np.ndarray
    covariance: np.ndarray

    def __post_init__(self):
        mean = np.asarray(self.mean, np.float64)
        covariance = np.asarray(self.covariance, np.float64)
        if mean.ndim != 1 or covariance.shape != (len(mean), len(mean)):
            raise ValueError(f"mean must be (M,) and covariance (M, M), got {mean.shape} and {covariance.shape}")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "covariance", _symmetric(covariance))

    @property
    def num_features(self) -> int:
        """M, the number of weights (basis functions)."""
        return len(self.mean)

    def distribution(self):
        """The belief as `tfp.distributions.MultivariateNormalTriL(loc=m, scale_tril=cholesky(S))` (float64).

        Returns:
            A TFP distribution over weight vectors: `.prob(w)`, `.log_prob(w)`, `.sample(n, seed=(s, 0))`.
        """
        return _tfd().MultivariateNormalTriL(loc=self.mean, scale_tril=np.linalg.cholesky(self.covariance))


def isotropic_prior(num_features: int, alpha: float) -> WeightBelief:
    """The zero-mean isotropic prior of PRML (3.52): p(w) = N(w | 0, α⁻¹ I).

    Args:
        num_features: M, the number of weights (≥ 1).
        alpha: α > 0, the prior precision; larger α pulls the weights harder towards 0.

    Returns:
        The prior as a `WeightBelief`.
    """
    if int(num_features) != num_features or num_features < 1:
        raise ValueError(f"num_features must be a whole number ≥ 1, got {num_features}")
    alpha = _positive("alpha", alpha)
    return WeightBelief(np.zeros(int(num_features)), np.eye(int(num_features)) / alpha)


def _design(features, targets, num_features: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    phi = np.asarray(features, np.float64)
    t = np.asarray(targets, np.float64)
    if phi.ndim != 2:
        raise ValueError(f"features must be a design matrix Φ of shape (N, M), got shape {phi.shape}")
    if t.shape != (phi.shape[0],):
        raise ValueError(f"targets must be (N,) with N = {phi.shape[0]} rows of Φ, got shape {t.shape}")
    if num_features is not None and phi.shape[1] != num_features:
        raise ValueError(f"Φ has {phi.shape[1]} columns but the belief is over {num_features} weights")
    return phi, t


def update(belief: WeightBelief, features: np.ndarray, targets: np.ndarray, beta: float) -> WeightBelief:
    """One Bayesian update, PRML (3.50, 3.51): the posterior after seeing (Φ, t) from the prior `belief`.

        S_N⁻¹ = S_0⁻¹ + β ΦᵀΦ,    m_N = S_N (S_0⁻¹ m_0 + β Φᵀ t)

    Pass the result back in as `belief` with the next points to learn sequentially; any split of the
    data into batches ends at the same posterior. N = 0 points (Φ of shape (0, M)) returns the prior.

    Args:
        belief: the prior N(m_0, S_0) over the M weights.
        features: Φ, shape (N, M), row n = φ(x_n)ᵀ (see `polynomial_features`, `gaussian_features`).
        targets: t, shape (N,).
        beta: β > 0, the noise precision (1 / noise variance).

    Returns:
        The posterior N(m_N, S_N) as a `WeightBelief`.
    """
    beta = _positive("beta", beta)
    phi, t = _design(features, targets, belief.num_features)
    prior_precision = _inverse_spd(belief.covariance, "the prior covariance")
    precision = _symmetric(prior_precision + beta * phi.T @ phi)
    covariance = _inverse_spd(precision, "the posterior precision")
    mean = covariance @ (prior_precision @ belief.mean + beta * phi.T @ t)
    return WeightBelief(mean, covariance)


def posterior(features: np.ndarray, targets: np.ndarray, alpha: float, beta: float) -> WeightBelief:
    """The posterior from the isotropic prior N(0, α⁻¹ I) in one batch, PRML (3.53, 3.54):

        S_N⁻¹ = α I + β ΦᵀΦ,    m_N = β S_N Φᵀ t

    Args:
        features: Φ, shape (N, M).
        targets: t, shape (N,).
        alpha: α > 0, the prior precision.
        beta: β > 0, the noise precision.

    Returns:
        N(m_N, S_N) as a `WeightBelief`.
    """
    phi, _ = _design(features, targets)
    return update(isotropic_prior(phi.shape[1], alpha), features, targets, beta)


def predictive_moments(belief: WeightBelief, features: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the predictive distribution at new inputs, PRML (3.58, 3.59):

        mean(x) = m_Nᵀ φ(x),    σ_N²(x) = 1/β + φ(x)ᵀ S_N φ(x)

    Args:
        belief: the posterior N(m_N, S_N) (or the prior, for predictions before any data).
        features: Φ of the new inputs, shape (K, M).
        beta: β > 0, the noise precision.

    Returns:
        (mean, variance), each of shape (K,); variance ≥ 1/β everywhere.
    """
    beta = _positive("beta", beta)
    phi = np.asarray(features, np.float64)
    if phi.ndim != 2 or phi.shape[1] != belief.num_features:
        raise ValueError(f"features must be (K, {belief.num_features}), got shape {phi.shape}")
    mean = phi @ belief.mean
    variance = 1.0 / beta + np.einsum("km,mn,kn->k", phi, belief.covariance, phi)
    return mean, variance


def predictive_distribution(belief: WeightBelief, features: np.ndarray, beta: float):
    """The predictive distribution p(t | x, data) at K new inputs as a batch of K
    `tfp.distributions.Normal(loc=m_Nᵀφ(x), scale=σ_N(x))` (see `predictive_moments`).

    Args:
        belief: the posterior N(m_N, S_N).
        features: Φ of the new inputs, shape (K, M).
        beta: β > 0, the noise precision.

    Returns:
        A TFP `Normal` of batch shape (K,).
    """
    mean, variance = predictive_moments(belief, features, beta)
    return _tfd().Normal(loc=mean, scale=np.sqrt(variance))


def log_evidence(features: np.ndarray, targets: np.ndarray, alpha: float, beta: float) -> float:
    """The log marginal likelihood ln p(t | α, β) of the data under the isotropic prior, PRML (3.86):

        ln p(t | α, β) = M/2 ln α + N/2 ln β − E(m_N) − ½ ln |A| − N/2 ln 2π,
        E(m_N) = β/2 ‖t − Φ m_N‖² + α/2 m_Nᵀ m_N,    A = S_N⁻¹ = α I + β ΦᵀΦ.

    It equals ln N(t | 0, β⁻¹ I + α⁻¹ ΦΦᵀ), the density of the targets with w integrated out; comparing
    it across α, β or basis sets is Bayesian model selection.

    Args:
        features, targets, alpha, beta: Φ (N, M), t (N,), the prior precision α > 0 and the noise
            precision β > 0, as for `posterior`.

    Returns:
        ln p(t | α, β) in nats (0.0 for N = 0 points).
    """
    alpha, beta = _positive("alpha", alpha), _positive("beta", beta)
    phi, t = _design(features, targets)
    n, m = phi.shape
    post = posterior(phi, t, alpha, beta)
    misfit = beta / 2 * np.sum((t - phi @ post.mean) ** 2) + alpha / 2 * post.mean @ post.mean
    _, log_det_a = np.linalg.slogdet(alpha * np.eye(m) + beta * phi.T @ phi)
    return float(m / 2 * np.log(alpha) + n / 2 * np.log(beta) - misfit - log_det_a / 2 - n / 2 * np.log(2 * np.pi))


def log_likelihood(weights: np.ndarray, features: np.ndarray, targets: np.ndarray, beta: float) -> np.ndarray:
    """ln p(t | w) = Σ_n ln N(t_n | wᵀφ(x_n), β⁻¹) for many weight vectors at once (e.g. a grid over w).

    Args:
        weights: w, shape (..., M).
        features: Φ, shape (N, M).
        targets: t, shape (N,).
        beta: β > 0, the noise precision.

    Returns:
        The log-likelihood of the N points for each weight vector, shape (...).
    """
    beta = _positive("beta", beta)
    w = np.asarray(weights, np.float64)
    phi, t = _design(features, targets, w.shape[-1])
    residuals = t - w @ phi.T  # (..., N)
    return np.sum(0.5 * np.log(beta / (2 * np.pi)) - beta / 2 * residuals ** 2, axis=-1)


def polynomial_features(x: np.ndarray, degree: int = 1) -> np.ndarray:
    """Polynomial basis φ(x) = [1, x, x², …, x^degree]; degree 1 is the straight line y = w0 + w1 x.

    Args:
        x: inputs, shape (N,).
        degree: the highest power (≥ 0).

    Returns:
        Φ, shape (N, degree + 1).
    """
    if int(degree) != degree or degree < 0:
        raise ValueError(f"degree must be a whole number ≥ 0, got {degree}")
    x = np.asarray(x, np.float64)
    if x.ndim != 1:
        raise ValueError(f"x must be a vector of N inputs, got shape {x.shape}")
    return x[:, None] ** np.arange(int(degree) + 1)


def gaussian_features(x: np.ndarray, centres: np.ndarray | None = None, width: float = 0.1,
                      bias: bool = True) -> np.ndarray:
    """Gaussian basis functions, PRML (3.4): φ_j(x) = exp(−(x − μ_j)² / (2 s²)), with a constant φ_0 = 1.

    Args:
        x: inputs, shape (N,).
        centres: μ_j, shape (J,); default 9 centres evenly spaced on [0, 1] (PRML Figure 3.8).
        width: s > 0, the spatial scale of each bump.
        bias: put the constant basis function φ_0(x) = 1 (the weight w0, an offset) first.

    Returns:
        Φ, shape (N, J + 1) with `bias`, else (N, J).
    """
    width = _positive("width", width)
    x = np.asarray(x, np.float64)
    if x.ndim != 1:
        raise ValueError(f"x must be a vector of N inputs, got shape {x.shape}")
    centres = np.linspace(0.0, 1.0, 9) if centres is None else np.asarray(centres, np.float64).ravel()
    phi = np.exp(-((x[:, None] - centres[None, :]) ** 2) / (2 * width ** 2))
    return np.concatenate([np.ones((len(x), 1)), phi], axis=1) if bias else phi


def _num_points(num_points: int) -> int:
    if int(num_points) != num_points or num_points < 0:
        raise ValueError(f"the number of points N must be a whole number ≥ 0, got {num_points}")
    return int(num_points)


def _generators(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    # separate streams for x and the noise, so that a longer data set starts with the shorter one
    return tuple(np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))


def _inputs_and_noise(num_points: int, noise_std: float, seed: int, low: float) -> tuple[np.ndarray, np.ndarray]:
    """x ~ U(low, 1) and ε ~ N(0, σ²), N of each, from separate generators."""
    n = _num_points(num_points)
    noise_std = _positive("noise_std", noise_std)
    x_rng, noise_rng = _generators(seed)
    return x_rng.uniform(low, 1.0, size=n), noise_std * noise_rng.standard_normal(n)


def linear_data(num_points: int, intercept: float = -0.3, slope: float = 0.5, noise_std: float = 0.2,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """PRML Figure 3.7's data: x ~ U(−1, 1), t = a0 + a1 x + ε with ε ~ N(0, σ²).

    Args:
        num_points: N ≥ 0.
        intercept: a0, the true w0.
        slope: a1, the true w1.
        noise_std: σ > 0 (β = 1/σ²; σ = 0.2 is β = 25).
        seed: seed of the numpy generators; the first k points are the same for any N ≥ k.

    Returns:
        (x, t), each of shape (N,).
    """
    x, noise = _inputs_and_noise(num_points, noise_std, seed, low=-1.0)
    return x, intercept + slope * x + noise


def sinusoidal_data(num_points: int, noise_std: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """PRML §1.1's data: x ~ U(0, 1), t = sin(2πx) + ε with ε ~ N(0, σ²).

    Args:
        num_points: N ≥ 0.
        noise_std: σ > 0.
        seed: seed of the numpy generators; the first k points are the same for any N ≥ k.

    Returns:
        (x, t), each of shape (N,).
    """
    x, noise = _inputs_and_noise(num_points, noise_std, seed, low=0.0)
    return x, np.sin(2 * np.pi * x) + noise
