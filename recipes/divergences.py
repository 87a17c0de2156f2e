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
import pathlib

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
    from gen_keras import divergences, plots

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
    plots.kl_fits(x, p, labels, mu_grid, sigma_grid,
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
    plots.mmd_shift([t["shift"] for t in tests], [t["mmd2_unbiased"] for t in tests],
                    [t["null_95th_percentile"] for t in tests], [t["p_value"] for t in tests], PERMUTATIONS,
                    out / "mmd_shift.png",
                    title=f"Two samples of N(0, I), {SAMPLE_SIZE} points each in {FEATURES}-D, the second shifted "
                          "by δ: unbiased MMD² (RBF kernel, median-heuristic bandwidth)")

    results = {"seed": args.seed, "mixture": [dict(zip(("weight", "mean", "std"), c)) for c in MIXTURE],
               "kl_fits": table, "mmd": tests, "mmd_sample_size": SAMPLE_SIZE, "mmd_permutations": PERMUTATIONS}
    (out / "metrics.json").write_text(json.dumps(results, indent=2))
    print(f"figures and metrics.json in {out}/")
    return results


if __name__ == "__main__":
    cli.run(main)
