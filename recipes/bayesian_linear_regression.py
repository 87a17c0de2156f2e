"""Bayesian linear regression: sequential learning and the predictive distribution (PRML Figures 3.7, 3.8).

The lecture (Bishop, PRML §3.3): put a Gaussian prior on the weights of a linear model and a Gaussian
likelihood on the targets,
    p(w) = N(w | 0, α⁻¹ I),        p(t | x, w) = N(t | wᵀφ(x), β⁻¹).
The posterior after the data (Φ, t) is Gaussian too,
    S_N⁻¹ = S_0⁻¹ + β ΦᵀΦ,        m_N = S_N (S_0⁻¹ m_0 + β Φᵀ t),
and it serves as the prior for the next point, so the model learns one point at a time (Figure 3.7).
Predictions average over the remaining uncertainty in w,
    p(t | x, data) = N(t | m_Nᵀφ(x), 1/β + φ(x)ᵀ S_N φ(x)),
whose band narrows near the data and never below the noise 1/β (Figure 3.8). The evidence
ln p(t | α, β) (PRML 3.86) scores the model with w integrated out.

The math lives in `gen_keras/bayes.py`; this script draws the lecture's two figures and trains no network.

    python recipes/bayesian_linear_regression.py                 # α = 2, β = 25 as in PRML Figure 3.7
    python recipes/bayesian_linear_regression.py --alpha 0.1     # a weaker prior: data take over sooner
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
from collections.abc import Sequence

import numpy as np

from gen_keras import cli

RECIPE = "bayesian_linear_regression"
TRUE_WEIGHTS = (-0.3, 0.5)  # a0, a1 of Figure 3.7: t = a0 + a1 x + noise
LINE_SNAPSHOTS = (0, 1, 2, 20)  # Figure 3.7's rows: after this many points
SINE_SNAPSHOTS = (1, 2, 4, 25)  # Figure 3.8's panels
BASIS_WIDTH = 0.1  # s of the 9 Gaussian basis functions on [0, 1]


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", default=f"runs/{RECIPE}", help="folder for the figures and metrics.json")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and of the weight draws")
    parser.add_argument("--alpha", type=cli.positive_float, default=2.0,
                        help="prior precision α: p(w) = N(0, α⁻¹ I)")
    parser.add_argument("--beta", type=cli.positive_float, default=25.0,
                        help="noise precision β: the data are drawn with noise σ = β^-½ (25: σ = 0.2) and the "
                             "model assumes it")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse(argv)
    from gen_keras import bayes

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    noise_std = args.beta ** -0.5

    # Figure 3.7: a straight line y = w0 + w1 x, learned one point at a time.
    # Data: x ~ U(−1, 1), t = −0.3 + 0.5 x + ε, ε ~ N(0, β⁻¹).
    x, t = bayes.linear_data(max(LINE_SNAPSHOTS), intercept=TRUE_WEIGHTS[0], slope=TRUE_WEIGHTS[1],
                             noise_std=noise_std, seed=args.seed)
    phi = bayes.polynomial_features(x, degree=1)  # φ(x) = [1, x]

    # A grid over weight space (w0, w1) on which to draw the densities.
    w0, w1 = np.meshgrid(np.linspace(-1, 1, 201), np.linspace(-1, 1, 201))
    grid = np.stack([w0, w1], axis=-1)  # (201, 201, 2)
    x_line = np.linspace(-1, 1, 50)

    belief = bayes.isotropic_prior(num_features=2, alpha=args.alpha)  # N(0, α⁻¹ I)
    rows = {"likelihoods": [], "densities": [], "lines": [], "points": []}
    for n in range(max(LINE_SNAPSHOTS) + 1):
        if n > 0:  # the posterior after n − 1 points is the prior for point n
            belief = bayes.update(belief, phi[n - 1:n], t[n - 1:n], beta=args.beta)
        if n not in LINE_SNAPSHOTS:
            continue
        # p(t_n | w) = N(t_n | w0 + w1 x_n, β⁻¹) as a function of w: a ridge along the lines through (x_n, t_n)
        rows["likelihoods"].append(
            np.exp(bayes.log_likelihood(grid, phi[n - 1:n], t[n - 1:n], beta=args.beta)) if n else None)
        density = belief.distribution()  # tfp MultivariateNormalTriL(m_N, cholesky(S_N))
        rows["densities"].append(density.prob(grid).numpy())
        w = density.sample(6, seed=(args.seed, n)).numpy()  # six weight vectors drawn from it
        rows["lines"].append(w[:, :1] + w[:, 1:] * x_line)  # y = w0 + w1 x for each
        rows["points"].append((x[:n], t[:n]))
    sequential_bayes(w0[0], w1[:, 0], rows["likelihoods"], rows["densities"], TRUE_WEIGHTS,
                     x_line, rows["lines"], rows["points"], LINE_SNAPSHOTS, out / "sequential_learning.png",
                     title=f"Sequential Bayesian learning of y = w0 + w1 x (PRML Fig. 3.7): α = {args.alpha:g}, "
                           f"β = {args.beta:g}; true (w0, w1) = {TRUE_WEIGHTS}")

    # The same posterior in one batch: the order and grouping of the points does not matter.
    batch = bayes.posterior(phi, t, alpha=args.alpha, beta=args.beta)
    gap = float(np.max(np.abs(batch.mean - belief.mean)))
    std = np.sqrt(np.diag(belief.covariance))
    evidence = bayes.log_evidence(phi, t, alpha=args.alpha, beta=args.beta)
    print(f"after {len(x)} points: posterior mean m_N = [{belief.mean[0]:+.4f}, {belief.mean[1]:+.4f}] "
          f"(true [{TRUE_WEIGHTS[0]:+.1f}, {TRUE_WEIGHTS[1]:+.1f}]), std [{std[0]:.4f}, {std[1]:.4f}]")
    print("posterior covariance S_N =\n" + np.array2string(belief.covariance, precision=6, suppress_small=False))
    print(f"point by point vs one batch: largest difference in m_N {gap:.1e}")
    print(f"log evidence ln p(t | α, β) of the {len(x)} points: {evidence:.3f} nats")

    # Figure 3.8: t = sin(2πx) + ε fitted with 9 Gaussian basis functions (and a constant).
    xs, ts = bayes.sinusoidal_data(max(SINE_SNAPSHOTS), noise_std=noise_std, seed=args.seed)
    x_plot = np.linspace(0, 1, 201)  # x_plot[100] = 0.5
    phi_plot = bayes.gaussian_features(x_plot, width=BASIS_WIDTH)
    panels = {"points": [], "means": [], "stds": [], "samples": []}
    sine_evidence = {}
    for n in SINE_SNAPSHOTS:
        phi_n = bayes.gaussian_features(xs[:n], width=BASIS_WIDTH)
        post = bayes.posterior(phi_n, ts[:n], alpha=args.alpha, beta=args.beta)
        mean, variance = bayes.predictive_moments(post, phi_plot, beta=args.beta)  # m_Nᵀφ(x), 1/β + φᵀS_Nφ
        w = post.distribution().sample(5, seed=(args.seed, 100 + n)).numpy()
        panels["points"].append((xs[:n], ts[:n]))
        panels["means"].append(mean)
        panels["stds"].append(np.sqrt(variance))
        panels["samples"].append(w @ phi_plot.T)  # y(x, w) = wᵀφ(x) for each drawn w
        sine_evidence[n] = bayes.log_evidence(phi_n, ts[:n], alpha=args.alpha, beta=args.beta)
    predictive_bands(x_plot, np.sin(2 * np.pi * x_plot), SINE_SNAPSHOTS, panels["points"], panels["means"],
                     panels["stds"], panels["samples"], out / "predictive_distribution.png",
                     noise_std=noise_std,
                     title=f"Predictive distribution with 9 Gaussian basis functions (PRML Fig. 3.8): "
                           f"α = {args.alpha:g}, β = {args.beta:g}, s = {BASIS_WIDTH:g}")
    print("sin(2πx): predictive std at x = 0.5 after N points: " + ", ".join(
        f"N={n}: {s[100]:.3f}" for n, s in zip(SINE_SNAPSHOTS, panels["stds"])) + f" (noise alone {noise_std:.3f})")

    results = {
        "alpha": args.alpha, "beta": args.beta, "seed": args.seed,
        "true_weights": list(TRUE_WEIGHTS), "num_points": len(x),
        "posterior_mean": belief.mean.tolist(), "posterior_covariance": belief.covariance.tolist(),
        "log_evidence": evidence,
        "sequential_vs_batch_max_difference": gap,
        "sine_log_evidence": {str(n): v for n, v in sine_evidence.items()},
        "sine_predictive_std_at_0.5": {str(n): float(s[100]) for n, s in zip(SINE_SNAPSHOTS, panels["stds"])},
    }
    (out / "metrics.json").write_text(json.dumps(results, indent=2))
    print(f"figures and metrics.json in {out}/")
    return results


# --- Figures: PRML Figures 3.7 and 3.8 ---------------------------------------------------------------------


def _mark_truth(ax, point: Sequence[float]) -> None:
    import matplotlib.patheffects

    ax.plot(*point, marker="+", color="white", markersize=11, markeredgewidth=1.8, linestyle="none",
            path_effects=[matplotlib.patheffects.withStroke(linewidth=3, foreground="black")])


def sequential_bayes(w0: np.ndarray, w1: np.ndarray, likelihoods: Sequence[np.ndarray | None],
                     densities: Sequence[np.ndarray], true_weights: Sequence[float], x_line: np.ndarray,
                     lines: Sequence[np.ndarray], points: Sequence[tuple[np.ndarray, np.ndarray]],
                     counts: Sequence[int], path: str | os.PathLike, title: str = "") -> str:
    """Draws PRML Figure 3.7: one row per stage of sequential learning of y = w0 + w1 x.

    Left: the likelihood p(t_n | w) of the latest point over weight space (none in the first row); middle:
    the prior or posterior density over (w0, w1) with the true weights as a white cross; right: lines
    y = w0 + w1 x for weights drawn from that density, with the points seen so far.

    Args:
        w0: the grid's w0 axis, (J,).
        w1: the grid's w1 axis, (I,).
        likelihoods: per row, an (I, J) array or None (the first row).
        densities: per row, the prior or posterior density, (I, J).
        true_weights: (w0, w1) of the data.
        x_line: x values of the drawn lines, (L,).
        lines: per row, (draws, L) values of y.
        points: per row, the (x, t) arrays seen so far.
        counts: per row, the number of points seen (0 for the prior).
        path: the PNG to write.
        title: the figure's title.

    Returns:
        `path` as a string.
    """
    from gen_keras import plots

    extent = (w0[0], w0[-1], w1[0], w1[-1])
    fig, axes = plots.plt.subplots(len(counts), 3, figsize=(11.5, 3.5 * len(counts)), squeeze=False)
    for row, (n, likelihood, density, ys, (x, t)) in enumerate(zip(counts, likelihoods, densities, lines, points)):
        left, middle, right = axes[row]
        if likelihood is None:
            left.text(0.5, 0.5, "no data yet", ha="center", va="center", fontsize=12, transform=left.transAxes)
            left.set_aspect("equal")
            left.set_xticks([])
            left.set_yticks([])
        else:
            left.imshow(likelihood, origin="lower", extent=extent, cmap="viridis", aspect="equal")
            _mark_truth(left, true_weights)
            left.set_title(f"likelihood of point {n}: p(t_{n} | x_{n}, w)", fontsize=10)
        middle.imshow(density, origin="lower", extent=extent, cmap="viridis", aspect="equal")
        _mark_truth(middle, true_weights)
        middle.set_title("prior p(w) = N(0, α⁻¹I)" if n == 0 else f"posterior after {n} point{'s' * (n > 1)}",
                         fontsize=10)
        for ax in (left, middle):
            if likelihood is not None or ax is middle:
                ax.set_xlabel("w0")
                ax.set_ylabel("w1")
        for y in ys:
            right.plot(x_line, y, color="C3", linewidth=1.2)
        right.plot(x, t, "o", markerfacecolor="none", markeredgecolor="C0", markersize=7, markeredgewidth=1.5)
        if n:
            right.plot(x[-1:], t[-1:], "o", color="C0", markersize=7, label=f"point {n}, the latest")
            right.legend(loc="upper left", fontsize=8)
        right.set_xlim(x_line[0], x_line[-1])
        right.set_ylim(-1, 1)
        right.set_aspect("equal")
        right.set_xlabel("x")
        right.set_ylabel("y")
        right.set_title(f"{len(ys)} lines y = w0 + w1 x, w ~ {'prior' if n == 0 else 'posterior'}", fontsize=10)
        right.grid(True, alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return plots.save_figure(fig, path)


def predictive_bands(x: np.ndarray, truth: np.ndarray, counts: Sequence[int],
                     points: Sequence[tuple[np.ndarray, np.ndarray]], means: Sequence[np.ndarray],
                     stds: Sequence[np.ndarray], samples: Sequence[np.ndarray], path: str | os.PathLike,
                     noise_std: float | None = None, title: str = "") -> str:
    """Draws PRML Figures 3.8 and 3.9: the predictive distribution as the data arrive, one panel per count.

    Each panel: the data seen so far, the true function, the predictive mean with a ±1 standard-deviation
    band, and functions y(x, w) for weights drawn from the posterior.

    Args:
        x: the x grid, (L,).
        truth: the true function on it, (L,).
        counts: the number of points per panel.
        points: per panel, the (x, t) arrays seen.
        means: per panel, the predictive mean, (L,).
        stds: per panel, the predictive standard deviation, (L,).
        samples: per panel, (draws, L) functions y(x, w).
        path: the PNG to write.
        noise_std: β^-½, written in the legend as the floor the band never goes below; None to leave it out.
        title: the figure's title.

    Returns:
        `path` as a string.
    """
    from gen_keras import plots

    columns = 2 if len(counts) > 1 else 1
    rows = -(-len(counts) // columns)
    fig, axes = plots.plt.subplots(rows, columns, figsize=(6.2 * columns, 4.2 * rows), squeeze=False)
    for ax, n, (xn, tn), mean, std, ys in zip(axes.ravel(), counts, points, means, stds, samples):
        band = "predictive mean ± 1 std" + (f" (never below ±{noise_std:.2g}, the noise)" if noise_std else "")
        ax.fill_between(x, mean - std, mean + std, color="C3", alpha=0.2, linewidth=0, label=band)
        for i, y in enumerate(ys):
            ax.plot(x, y, color="C1", linewidth=0.8, alpha=0.8,
                    label=f"{len(ys)} functions y(x, w), w drawn from the posterior" if i == 0 else None)
        ax.plot(x, truth, color="C2", linewidth=2, label="true function sin(2πx)")
        ax.plot(x, mean, color="C3", linewidth=2, label="predictive mean m_Nᵀφ(x)")
        ax.plot(xn, tn, "o", markerfacecolor="none", markeredgecolor="C0", markersize=7, markeredgewidth=1.5,
                label="data")
        ax.set_title(f"N = {n}")
        ax.set_xlim(x[0], x[-1])
        ax.set_ylim(-1.6, 1.6)
        ax.set_xlabel("x")
        ax.set_ylabel("t")
        ax.grid(True, alpha=0.3)
    for ax in axes.ravel()[len(counts):]:
        ax.axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=9, bbox_to_anchor=(0.5, -0.06))
    fig.tight_layout()
    if title:
        fig.suptitle(title, y=1.02)
    return plots.save_figure(fig, path)


if __name__ == "__main__":
    cli.run(main)
