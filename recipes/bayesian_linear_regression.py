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
import pathlib

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
    from gen_keras import bayes, plots

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
    plots.sequential_bayes(w0[0], w1[:, 0], rows["likelihoods"], rows["densities"], TRUE_WEIGHTS,
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
    plots.predictive_bands(x_plot, np.sin(2 * np.pi * x_plot), SINE_SNAPSHOTS, panels["points"], panels["means"],
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


if __name__ == "__main__":
    cli.run(main)
