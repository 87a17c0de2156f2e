"""Divergences: the asymmetry of KL (mode covering vs mode seeking) and a two-sample MMD test.

The lecture, part 1: fit one Gaussian q = N(μ, σ²) to a bimodal mixture p by minimising a KL divergence.
    forward KL(p‖q) = E_p[ln p − ln q]: q pays wherever p has mass and q has none, so it stretches over
        both modes. Minimising it over a Gaussian q is moment matching: μ = E_p[x], σ² = Var_p[x].
    reverse KL(q‖p) = E_q[ln q − ln p]: q pays wherever it puts mass and p has none, so it shrinks onto
        one mode. It has no closed form here; we minimise it by gradient descent over (μ, ln σ), with
        E_q[f(x)] = E_ε[f(μ + σε)], ε ~ N(0, 1) (reparameterization), computed by quadrature over ε.
KL(p‖q) ≠ KL(q‖p): each fit is good by its own criterion and poor by the other one.

Part 2: MMD²(p, q) = E k(x, x') + E k(y, y') − 2 E k(x, y) compares two distributions through samples
only. Two samples of one distribution give an unbiased MMD² near 0; a mean shift makes it grow, and a
permutation test (relabel the pooled points at random) turns it into a p-value.

The divergences live in `gen_keras/divergences.py`; this script trains no network.

    python recipes/divergences.py
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
from collections.abc import Mapping, Sequence

import numpy as np

from gen_keras import cli

RECIPE = "divergences"
MIXTURE = ((0.35, -2.0, 0.5), (0.65, 2.0, 0.7))  # p(x) = Σ_j π_j N(x | μ_j, σ_j²): (π_j, μ_j, σ_j)
LEARNING_RATE = 0.05  # of the gradient descent on KL(q‖p) over (μ, ln σ)
MAX_STEPS = 3000
SHIFTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)  # mean shifts of the second sample, in standard deviations
SAMPLE_SIZE = 200  # points per sample in the MMD test
FEATURES = 2  # dimensions of the MMD samples
PERMUTATIONS = 500


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", default=f"runs/{RECIPE}", help="folder for the figures and metrics.json")
    parser.add_argument("--seed", type=int, default=0, help="seed of the MMD samples and permutations")
    return parser.parse_args(argv)


def log_normal(x, mean, std):
    """ln N(x | μ, σ²)."""
    return -0.5 * ((x - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi)


def log_p(x):
    """ln p(x) of the mixture, by log-sum-exp over its components."""
    return np.logaddexp.reduce([np.log(w) + log_normal(x, m, s) for w, m, s in MIXTURE], axis=0)


def score_p(x):
    """d ln p(x) / dx = Σ_j r_j(x) (μ_j − x) / σ_j², r_j(x) the responsibility of component j."""
    logs = np.array([np.log(w) + log_normal(x, m, s) for w, m, s in MIXTURE])
    r = np.exp(logs - np.logaddexp.reduce(logs, axis=0))
    return sum(r[j] * (m - x) / s ** 2 for j, (_, m, s) in enumerate(MIXTURE))


def main(argv=None) -> dict:
    args = parse(argv)
    from gen_keras import divergences

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # Part 1. Forward KL: moment matching, μ = Σ π_j μ_j, σ² = Σ π_j (σ_j² + μ_j²) − μ².
    forward_mean = sum(w * m for w, m, _ in MIXTURE)
    forward_std = float(np.sqrt(sum(w * (s ** 2 + m ** 2) for w, m, s in MIXTURE) - forward_mean ** 2))

    # Reverse KL(q‖p) = −H(q) − E_q[ln p] = −½ ln(2πe) − ln σ − E_ε[ln p(μ + σε)], ε ~ N(0, 1),
    # with E_ε[f(ε)] ≈ Σ_k N(ε_k | 0, 1) Δε f(ε_k) on a fine grid of ε (ln p bends sharply between the
    # modes, which a coarse quadrature rule can miss).
    eps = np.linspace(-8, 8, 1601)
    eps_weights = np.exp(-eps ** 2 / 2) / np.sqrt(2 * np.pi) * (eps[1] - eps[0])

    def reverse_kl(mean: float, log_std: float) -> float:
        return float(-0.5 * np.log(2 * np.pi * np.e) - log_std
                     - np.sum(eps_weights * log_p(mean + np.exp(log_std) * eps)))

    def reverse_kl_gradient(mean: float, log_std: float) -> np.ndarray:
        # ∂/∂μ = −E_ε[s(x)],  ∂/∂ln σ = −1 − E_ε[s(x) σ ε],  x = μ + σε, s = d ln p/dx (the score of p)
        s = score_p(mean + np.exp(log_std) * eps)
        return np.array([-np.sum(eps_weights * s), -1.0 - np.sum(eps_weights * s * np.exp(log_std) * eps)])

    # Gradient descent from several starts at the forward fit's width: each slides into one mode.
    descents = []
    for start in (-3.0, -1.5, forward_mean, 3.0):
        theta = np.array([start, np.log(forward_std)])  # (μ, ln σ)
        path = [theta.copy()]
        for _ in range(MAX_STEPS):
            gradient = reverse_kl_gradient(*theta)
            theta = theta - LEARNING_RATE * gradient
            path.append(theta.copy())
            if np.max(np.abs(gradient)) < 1e-6:
                break
        descents.append(np.array(path))
        print(f"gradient descent on KL(q‖p) from μ = {start:+.2f}, σ = {forward_std:.2f}: {len(path) - 1} steps "
              f"to μ = {theta[0]:+.3f}, σ = {np.exp(theta[1]):.3f}, KL(q‖p) = {reverse_kl(*theta):.3f}")
    minima = {}  # the distinct end points, the lowest first
    for path in sorted(descents, key=lambda d: reverse_kl(*d[-1])):
        minima.setdefault(round(float(path[-1, 0]), 2), path[-1])

    # Both divergences of every fit, by quadrature on a fine grid: the grid's masses p(x_i)Δx and
    # q(x_i)Δx are two discrete distributions, and their discrete KL is the integral's Riemann sum.
    x = np.linspace(-10, 10, 20001)
    p = np.exp(log_p(x))
    fits = {"forward": ("forward KL(p‖q) fit: moment matching", forward_mean, forward_std)}
    for i, (mean, log_std) in enumerate(minima.values()):
        kind = "global" if i == 0 else "local"
        fits[f"reverse_{kind}"] = (f"reverse KL(q‖p) fit, {kind} minimum near μ = {mean:+.0f}",
                                   float(mean), float(np.exp(log_std)))
    table = {}
    for key, (label, mean, std) in fits.items():
        q = np.exp(log_normal(x, mean, std))
        table[key] = {"label": label, "mean": mean, "std": std,
                      "kl_pq": divergences.kl_discrete(p, q), "kl_qp": divergences.kl_discrete(q, p)}
        print(f"{label:<52} μ = {mean:+.3f}, σ = {std:.3f}:  KL(p‖q) = {table[key]['kl_pq']:.3f}, "
              f"KL(q‖p) = {table[key]['kl_qp']:.3f} nats")

    # The reverse-KL landscape over (μ, σ), to see its two valleys.
    mu_grid = np.linspace(-4, 4, 81)
    sigma_grid = np.exp(np.linspace(np.log(0.2), np.log(4.0), 61))
    landscape = np.array([[reverse_kl(m, np.log(sd)) for m in mu_grid] for sd in sigma_grid])  # (σ, μ)
    labels = {f"{v['label']}\nKL(p‖q) = {v['kl_pq']:.2f}, KL(q‖p) = {v['kl_qp']:.2f}": (v["mean"], v["std"])
              for v in table.values()}
    kl_fits(x, p, labels, mu_grid, sigma_grid,
            landscape, [np.stack([d[:, 0], np.exp(d[:, 1])], axis=1) for d in descents],
            out / "kl_fits.png",
            title="Fitting one Gaussian q to a bimodal p: forward KL covers both modes, reverse KL picks one")

    # Part 2. MMD² between two samples of N(0, I), the second one shifted by δ along the first axis.
    rng = np.random.default_rng(args.seed)
    first = rng.standard_normal((SAMPLE_SIZE, FEATURES))
    second = rng.standard_normal((SAMPLE_SIZE, FEATURES))
    tests = []
    for i, shift in enumerate(SHIFTS):
        moved = second + np.eye(FEATURES)[0] * shift
        test = divergences.mmd_permutation_test(first, moved, num_permutations=PERMUTATIONS, seed=args.seed + i)
        tests.append({"shift": shift, "mmd2_unbiased": test.mmd2,
                      "mmd2_biased": divergences.mmd2(first, moved, bandwidth=test.bandwidth, unbiased=False),
                      "p_value": test.p_value, "null_95th_percentile": float(np.quantile(test.null_mmd2, 0.95)),
                      "bandwidth": test.bandwidth})
        print(f"MMD² with shift δ = {shift:.2f}: unbiased {test.mmd2:+.5f}, biased {tests[-1]['mmd2_biased']:.5f}, "
              f"permutation p-value {test.p_value:.3f} ({PERMUTATIONS} permutations)")
    mmd_shift([t["shift"] for t in tests], [t["mmd2_unbiased"] for t in tests],
              [t["null_95th_percentile"] for t in tests], [t["p_value"] for t in tests], PERMUTATIONS,
              out / "mmd_shift.png",
              title=f"Two samples of N(0, I), {SAMPLE_SIZE} points each in {FEATURES}-D, the second shifted "
                    "by δ: unbiased MMD² (RBF kernel, median-heuristic bandwidth)")

    results = {"seed": args.seed, "mixture": [dict(zip(("weight", "mean", "std"), c)) for c in MIXTURE],
               "kl_fits": table, "mmd": tests, "mmd_sample_size": SAMPLE_SIZE, "mmd_permutations": PERMUTATIONS}
    (out / "metrics.json").write_text(json.dumps(results, indent=2))
    print(f"figures and metrics.json in {out}/")
    return results


# --- Figures ----------------------------------------------------------------------------------------------


def kl_fits(x: np.ndarray, p: np.ndarray, fits: Mapping[str, tuple[float, float]], mu_grid: np.ndarray,
            sigma_grid: np.ndarray, reverse_kl: np.ndarray, descents: Sequence[np.ndarray],
            path: str | os.PathLike, title: str = "") -> str:
    """Draws Gaussian fits to a density and the reverse-KL landscape over (μ, σ).

    Left: a density p(x) and Gaussian fits q = N(μ, σ²) to it. Right: KL(q‖p) over (μ, σ), with
    gradient-descent paths and the fits marked.

    Args:
        x: the x grid, (L,).
        p: p(x) on it, (L,).
        fits: legend label → (μ, σ) of each fit.
        mu_grid: the landscape's μ axis, (A,).
        sigma_grid: the landscape's σ axis, (B,) (drawn on a log scale).
        reverse_kl: KL(q‖p) on the grid, (B, A).
        descents: gradient-descent paths, each (steps, 2) of (μ, σ).
        path: the PNG to write.
        title: the figure's title.

    Returns:
        `path` as a string.
    """
    import matplotlib.ticker

    from gen_keras import plots

    fig, (left, right) = plots.plt.subplots(1, 2, figsize=(14, 5), gridspec_kw={"width_ratios": (1.25, 1)})
    left.fill_between(x, p, color="grey", alpha=0.35, label="p(x): mixture of two Gaussians")
    styles = ("-", "--", ":")
    for i, (name, (mean, std)) in enumerate(fits.items()):
        q = np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * np.sqrt(2 * np.pi))
        left.plot(x, q, color=f"C{i}", linestyle=styles[i % 3], linewidth=2, label=name)
    left.set_xlim(-5, 5)
    left.set_ylim(0, 1.5 * left.get_ylim()[1])  # room for the legend above the curves
    left.set_xlabel("x")
    left.set_ylabel("density")
    left.legend(fontsize=8.5, loc="upper right")
    left.grid(True, alpha=0.3)
    left.set_title("p and three Gaussian fits q")

    levels = np.quantile(reverse_kl, np.linspace(0, 1, 25)[:-1] ** 2)
    filled = right.contourf(mu_grid, sigma_grid, reverse_kl, levels=np.unique(levels), cmap="viridis_r",
                            extend="max")
    fig.colorbar(filled, ax=right, label="KL(q‖p) in nats", format="%.2f")
    for descent in descents:
        right.plot(descent[:, 0], descent[:, 1], color="white", linewidth=1.5)
        right.plot(*descent[0], "o", color="white", markersize=5)
    for i, (mean, std) in enumerate(fits.values()):
        right.plot(mean, std, marker="*X"[i > 0], color=f"C{i}", markersize=13, markeredgecolor="black",
                   linestyle="none")
    right.set_yscale("log")
    plain = matplotlib.ticker.FormatStrFormatter("%g")
    right.yaxis.set_major_formatter(plain)
    right.yaxis.set_minor_formatter(plain)
    right.set_xlabel("μ of q")
    right.set_ylabel("σ of q (log scale)")
    right.set_title("reverse KL(q‖p) over (μ, σ): two valleys, one per mode;\n"
                    "white: gradient descent on (μ, ln σ) from four starts (dots);\n"
                    "markers: the fits, coloured as on the left", fontsize=10)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return plots.save_figure(fig, path)


def mmd_shift(shifts: Sequence[float], mmd2: Sequence[float], null_95: Sequence[float],
              p_values: Sequence[float], num_permutations: int, path: str | os.PathLike, title: str = "") -> str:
    """Draws a two-sample test against the size of a mean shift.

    Left: the unbiased MMD² per shift and the 95th percentile of its permutation null (above it the test
    rejects at 5%); right: the permutation p-values on a log scale, with the 0.05 level and the smallest
    p-value B = `num_permutations` allow, 1 / (B + 1).

    Args:
        shifts: the mean shifts δ, in standard deviations.
        mmd2: the unbiased MMD² per shift.
        null_95: the 95th percentile of the permuted MMD² per shift.
        p_values: the permutation test's p-value per shift.
        num_permutations: B.
        path: the PNG to write.
        title: the figure's title.

    Returns:
        `path` as a string.
    """
    import matplotlib.ticker

    from gen_keras import plots

    fig, (left, right) = plots.plt.subplots(1, 2, figsize=(12, 4.5))
    left.axhline(0, color="black", linewidth=0.8)
    left.plot(shifts, null_95, linestyle="--", color="grey", marker=".",
              label="95th percentile of MMD² under H0 (from the permutations)")
    left.plot(shifts, mmd2, marker="o", color="C0", linewidth=2, label="unbiased MMD² of the two samples")
    left.set_ylabel("MMD²")
    left.set_title("MMD² grows with the shift; near 0 (even below) without one", fontsize=10)
    right.plot(shifts, p_values, marker="o", color="C3", linewidth=2, label="permutation-test p-value")
    right.axhline(0.05, linestyle="--", color="grey", label="0.05: reject H0 (p = q) below")
    right.axhline(1 / (num_permutations + 1), linestyle=":", color="black",
                  label=f"1 / (B + 1): the smallest p-value with B = {num_permutations} permutations")
    for s, pv in zip(shifts, p_values):
        right.annotate(f"{pv:.3f}", (s, pv), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
    right.set_yscale("log")
    right.set_ylim(0.5 / (num_permutations + 1), 2.0)
    right.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    right.set_ylabel("p-value (log scale)")
    right.set_title("p-value of the permutation test", fontsize=10)
    for ax in (left, right):
        ax.set_xlabel("mean shift δ of the second sample (in standard deviations)")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left" if ax is left else "upper right", fontsize=8.5)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return plots.save_figure(fig, path)


if __name__ == "__main__":
    cli.run(main)
