"""How far apart two distributions are: KL divergences in closed form, and MMD from samples.

KL(p‖q) = E_p[ln p − ln q] needs both densities; it is not symmetric, and the direction decides what a
fitted q does (forward KL(p‖q) covers every mode of p, reverse KL(q‖p) picks one). MMD needs only
samples: with a kernel k, MMD²(p, q) = E k(x, x') + E k(y, y') − 2 E k(x, y) (x, x' ~ p; y, y' ~ q),
zero exactly when p = q for a characteristic kernel such as the RBF. KID, MMD² with a cubic polynomial
kernel on a classifier's features (Bińkowski et al., 2018), is `gen_keras.evaluation.kernel_inception_distance`.

numpy only, float64: these run on feature vectors, not inside a model.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


def kl_discrete(p: np.ndarray, q: np.ndarray) -> float:
    """KL(p‖q) = Σ_i p_i ln(p_i / q_i) in nats between two discrete distributions over the same K outcomes.

    Both are normalised to sum to 1 first (counts are fine). Terms with p_i = 0 add 0; an outcome with
    p_i > 0 but q_i = 0 makes the divergence infinite.

    Args:
        p: probabilities (or counts) of shape (K,), non-negative, not all 0.
        q: probabilities (or counts) of shape (K,), non-negative, not all 0.

    Returns:
        KL(p‖q) ≥ 0, `inf` when q misses an outcome p has.
    """
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    if p.ndim != 1 or p.shape != q.shape:
        raise ValueError(f"p and q must be vectors over the same outcomes, got shapes {p.shape} and {q.shape}")
    for name, v in (("p", p), ("q", q)):
        if not np.all(np.isfinite(v)) or np.any(v < 0) or not v.sum() > 0:
            raise ValueError(f"{name} must be finite, non-negative and not all zero")
    p, q = p / p.sum(), q / q.sum()
    support = p > 0
    if np.any(q[support] == 0):
        return float("inf")
    return max(float(np.sum(p[support] * np.log(p[support] / q[support]))), 0.0)


def _probabilities(p, name: str, sub_normalised: bool = False) -> np.ndarray:
    """p as float64 after checking it is a (sub-)probability vector."""
    p = np.asarray(p, np.float64)
    if p.ndim != 1 or not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError(f"{name} must be a vector of finite, non-negative probabilities, got {p!r}")
    total = p.sum()
    if not (0 < total <= 1 + 1e-9 if sub_normalised else abs(total - 1) <= 1e-6):
        raise ValueError(f"{name} must sum to {'at most ' if sub_normalised else ''}1, got {total:.6g}")
    return p


def entropy(p: np.ndarray, base: float = np.e) -> float:
    """Shannon entropy H(p) = −Σ_i p_i log p_i: the shortest mean code length for outcomes drawn from p.

    Args:
        p: probabilities of shape (K,), summing to 1.
        base: the logarithm's base: 2 for bits, e for nats.

    Returns:
        H(p) ≥ 0 in the chosen unit (terms with p_i = 0 add 0).
    """
    p = _probabilities(p, "p")
    support = p > 0
    return float(-np.sum(p[support] * np.log(p[support]))) / np.log(base) + 0.0


def cross_entropy(p: np.ndarray, q: np.ndarray, base: float = np.e) -> float:
    """Cross-entropy H(p, q) = −Σ_i p_i log q_i: the mean code length when outcomes come from p but the code
    was made for q (a code with lengths ℓ_i stands for q_i = 2^−ℓ_i, see `code_distribution`).

    H(p, q) − H(p) is the cost of the wrong code; it equals KL(p‖q) when q sums to 1. q may sum to less
    than 1, as a prefix code whose Kraft sum Σ 2^−ℓ_i is below 1 does; it is not normalised here.

    Args:
        p: probabilities of shape (K,), summing to 1.
        q: probabilities of shape (K,), summing to at most 1.
        base: the logarithm's base: 2 for bits, e for nats.

    Returns:
        H(p, q) in the chosen unit, `inf` when q_i = 0 < p_i.
    """
    p, q = _probabilities(p, "p"), _probabilities(q, "q", sub_normalised=True)
    if p.shape != q.shape:
        raise ValueError(f"p and q must be vectors over the same outcomes, got shapes {p.shape} and {q.shape}")
    support = p > 0
    if np.any(q[support] == 0):
        return float("inf")
    return float(-np.sum(p[support] * np.log(q[support]))) / np.log(base)


def code_distribution(code_lengths) -> np.ndarray:
    """The distribution a binary prefix code is optimal for: q_i = 2^−ℓ_i (summing to the Kraft sum ≤ 1).

    Args:
        code_lengths: ℓ_i, the bits of each outcome's code word, (K,).

    Returns:
        float64 (K,) q.
    """
    return np.power(2.0, -np.asarray(code_lengths, np.float64))


def _gaussian(mean, covariance, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = np.atleast_1d(np.asarray(mean, np.float64))
    covariance = np.atleast_2d(np.asarray(covariance, np.float64))
    if mean.ndim != 1 or covariance.shape != (len(mean), len(mean)):
        raise ValueError(f"{name}: mean must be (k,) and covariance (k, k), got {mean.shape} and {covariance.shape}")
    try:
        factor = np.linalg.cholesky((covariance + covariance.T) / 2)
    except np.linalg.LinAlgError:
        raise ValueError(f"{name}: the covariance must be symmetric positive definite") from None
    return mean, covariance, factor


def kl_gaussians(mean_1: np.ndarray, covariance_1: np.ndarray,
                 mean_2: np.ndarray, covariance_2: np.ndarray) -> float:
    """KL(N(μ₁, Σ₁) ‖ N(μ₂, Σ₂)) between two k-dimensional Gaussians with full covariances:

        ½ [ tr(Σ₂⁻¹ Σ₁) + (μ₂ − μ₁)ᵀ Σ₂⁻¹ (μ₂ − μ₁) − k + ln det Σ₂ − ln det Σ₁ ]

    computed with Cholesky factors Σ = L Lᵀ: tr(Σ₂⁻¹ Σ₁) = ‖L₂⁻¹ L₁‖²_F, ln det Σ = 2 Σ_i ln L_ii.

    Args:
        mean_1: μ₁, shape (k,).
        covariance_1: Σ₁, shape (k, k), symmetric positive definite.
        mean_2: μ₂, shape (k,).
        covariance_2: Σ₂, shape (k, k), symmetric positive definite.

    Returns:
        The divergence in nats, ≥ 0; 0 only for identical Gaussians.
    """
    mean_1, _, factor_1 = _gaussian(mean_1, covariance_1, "the first Gaussian")
    mean_2, _, factor_2 = _gaussian(mean_2, covariance_2, "the second Gaussian")
    if mean_1.shape != mean_2.shape:
        raise ValueError(f"the Gaussians have different dimensions: {len(mean_1)} and {len(mean_2)}")
    k = len(mean_1)
    whitened = np.linalg.solve(factor_2, factor_1)  # L₂⁻¹ L₁
    offset = np.linalg.solve(factor_2, mean_2 - mean_1)  # L₂⁻¹ (μ₂ − μ₁)
    log_det_ratio = 2 * np.sum(np.log(np.diag(factor_2))) - 2 * np.sum(np.log(np.diag(factor_1)))
    return max(0.5 * float(np.sum(whitened ** 2) + offset @ offset - k + log_det_ratio), 0.0)


def _sample_sets(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    x = x[:, None] if x.ndim == 1 else x
    y = y[:, None] if y.ndim == 1 else y
    if x.ndim != 2 or y.ndim != 2:
        raise ValueError(f"samples must be (n, d) arrays, one row a point; got shapes {x.shape} and {y.shape}")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"the two sample sets have different feature sizes: {x.shape[1]} and {y.shape[1]}")
    if len(x) < 2 or len(y) < 2:
        raise ValueError(f"each sample set needs at least 2 points, got {len(x)} and {len(y)}")
    return x, y


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = np.sum(a ** 2, axis=1)[:, None] + np.sum(b ** 2, axis=1)[None, :] - 2 * a @ b.T
    return np.maximum(d, 0.0)


def median_bandwidth(x: np.ndarray, y: np.ndarray) -> float:
    """The median heuristic: σ = the median distance ‖z_i − z_j‖ between distinct points of x ∪ y.

    Args:
        x: samples of shape (n, d) (or (n,) for 1-D).
        y: samples of shape (m, d).

    Returns:
        The RBF bandwidth σ > 0 (1.0 if every point coincides).
    """
    x, y = _sample_sets(x, y)
    z = np.concatenate([x, y])
    d = _squared_distances(z, z)[np.triu_indices(len(z), k=1)]
    sigma = float(np.sqrt(np.median(d)))
    return sigma if sigma > 0 else 1.0


def rbf_kernel(a: np.ndarray, b: np.ndarray, bandwidth: float) -> np.ndarray:
    """The Gaussian (RBF) kernel matrix k(a_i, b_j) = exp(−‖a_i − b_j‖² / (2σ²)).

    Args:
        a: points of shape (n, d).
        b: points of shape (m, d).
        bandwidth: σ > 0.

    Returns:
        The kernel matrix, shape (n, m).
    """
    if not bandwidth > 0:
        raise ValueError(f"the bandwidth must be positive, got {bandwidth}")
    return np.exp(-_squared_distances(np.asarray(a, np.float64), np.asarray(b, np.float64)) / (2 * bandwidth ** 2))


def polynomial_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """KID's cubic polynomial kernel k(a, b) = (aᵀb / d + 1)³, d the feature size.

    Args:
        a: features of shape (n, d).
        b: features of shape (m, d).

    Returns:
        The kernel matrix, shape (n, m).
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    g = a @ b.T / a.shape[1] + 1.0
    return g * g * g  # cheaper than g ** 3 (a general power) on a million entries


def _mmd2_from_kernels(k_xx: np.ndarray, k_yy: np.ndarray, k_xy: np.ndarray, unbiased: bool) -> float:
    n, m = len(k_xx), len(k_yy)
    if unbiased:  # U-statistic: leave out the i = j terms k(x_i, x_i)
        within_x = (k_xx.sum() - np.trace(k_xx)) / (n * (n - 1))
        within_y = (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    else:  # V-statistic: every pair, i = j included
        within_x, within_y = k_xx.mean(), k_yy.mean()
    return float(within_x + within_y - 2 * k_xy.mean())


def mmd2(x: np.ndarray, y: np.ndarray, bandwidth: float | None = None, unbiased: bool = True, *,
         kernel: str = "rbf") -> float:
    """The squared maximum mean discrepancy between samples x ~ p and y ~ q, with an RBF (or KID's cubic) kernel.

    Unbiased (U-statistic; can be slightly negative when p = q, its mean over repeats is 0):
        1/(n(n−1)) Σ_{i≠j} k(x_i, x_j) + 1/(m(m−1)) Σ_{i≠j} k(y_i, y_j) − 2/(nm) Σ_{i,j} k(x_i, y_j)
    Biased (V-statistic; ≥ 0, but > 0 on average even when p = q): the same with every pair and
    1/n², 1/m² in front.

    Args:
        x: samples of p, shape (n, d) (or (n,) for 1-D), n ≥ 2.
        y: samples of q, shape (m, d), m ≥ 2, the same d.
        bandwidth: the RBF's σ; default the median heuristic (`median_bandwidth(x, y)`).
        unbiased: the U-statistic (default) or the biased V-statistic.
        kernel: "rbf", or "cubic" for KID's k(x, y) = (xᵀy / d + 1)³ (`polynomial_kernel`; no bandwidth).

    Returns:
        The MMD² estimate.

    Raises:
        ValueError: the sets are not (n ≥ 2, d) arrays of one d, or `kernel` is unknown.
    """
    x, y = _sample_sets(x, y)
    if kernel == "cubic":
        return _mmd2_from_kernels(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y), unbiased)
    if kernel != "rbf":
        raise ValueError(f"kernel must be 'rbf' or 'cubic', got {kernel!r}")
    bandwidth = median_bandwidth(x, y) if bandwidth is None else bandwidth
    return _mmd2_from_kernels(rbf_kernel(x, x, bandwidth), rbf_kernel(y, y, bandwidth),
                              rbf_kernel(x, y, bandwidth), unbiased)


class PermutationTest(NamedTuple):
    """The result of `mmd_permutation_test`.

    Args:
        mmd2: the unbiased MMD² of the two samples as given.
        p_value: (1 + #{permuted MMD² ≥ observed}) / (1 + permutations).
        null_mmd2: the MMD² of each random relabelling, (permutations,): draws from its null distribution.
        bandwidth: the RBF's σ used throughout.
    """

    mmd2: float  # the unbiased MMD² of the two samples as given
    p_value: float  # (1 + #{permuted MMD² ≥ observed}) / (1 + permutations)
    null_mmd2: np.ndarray  # the MMD² of each random relabelling: draws from its null distribution
    bandwidth: float  # the RBF's σ used throughout


def mmd_permutation_test(x: np.ndarray, y: np.ndarray, num_permutations: int = 500,
                         bandwidth: float | None = None, seed: int = 0) -> PermutationTest:
    """A two-sample test of H0: p = q with the unbiased RBF MMD² as its statistic.

    Under H0 the labels "from p" / "from q" are exchangeable, so pooling the n + m points and splitting
    them at random into sets of n and m draws from the statistic's null distribution. The p-value is
    the share of those splits (counting the observed one) whose MMD² reaches the observed one:

        p = (1 + #{b : MMD²_b ≥ MMD²_obs}) / (1 + B),

    never 0, so p < 0.05 needs B ≥ 20. The bandwidth (median heuristic by default) is computed once
    on the pooled points, which every split shares.

    Args:
        x: samples of p, shape (n, d) (or (n,) for 1-D), n ≥ 2.
        y: samples of q, shape (m, d), m ≥ 2, the same d.
        num_permutations: B ≥ 1, the random splits.
        bandwidth: the RBF's σ; default the median heuristic.
        seed: seed of the numpy generator drawing the splits.

    Returns:
        A `PermutationTest` (mmd2, p_value, null_mmd2, bandwidth).
    """
    x, y = _sample_sets(x, y)
    if int(num_permutations) != num_permutations or num_permutations < 1:
        raise ValueError(f"num_permutations must be a whole number ≥ 1, got {num_permutations}")
    bandwidth = median_bandwidth(x, y) if bandwidth is None else float(bandwidth)
    n = len(x)
    kernel = rbf_kernel(np.concatenate([x, y]), np.concatenate([x, y]), bandwidth)  # once, then re-indexed

    def statistic(order: np.ndarray) -> float:
        a, b = order[:n], order[n:]
        return _mmd2_from_kernels(kernel[np.ix_(a, a)], kernel[np.ix_(b, b)], kernel[np.ix_(a, b)], True)

    observed = statistic(np.arange(len(kernel)))
    rng = np.random.default_rng(seed)
    null = np.array([statistic(rng.permutation(len(kernel))) for _ in range(int(num_permutations))])
    p_value = (1 + np.sum(null >= observed)) / (1 + len(null))
    return PermutationTest(observed, float(p_value), null, bandwidth)
