"""GAN theory in one dimension: the generator's costs, the optimal discriminator, and why WGAN's critic helps.

The lecture's value function, for a generator G and a discriminator D = σ(l):
    V(D, G) = E_data log D(x) + E_z log(1 − D(G(z))).

1. The generator's costs against D(G(z)) (Goodfellow 2016, Fig. 16). Early in training D rejects the
   fakes, D(G(z)) ≈ 0, and the cost's slope is what moves G:
       minimax          J = log(1 − D),   ∂J/∂l = −D          → vanishes as D → 0
       non-saturating   J = −log D,       ∂J/∂l = −(1 − D)    → strongest when D → 0
       max. likelihood  J = −½ exp(l),    ∂J/∂l = −½ D/(1 − D) → flat at D → 0, steep near D = 1
   The slopes are taken by autodiff through `gen_keras.losses.generator_cost_curves`, not typed in.
2. For a fixed p_g the best discriminator is D*(x) = p_data(x) / (p_data(x) + p_g(x)), and at D* the value
   is V = −log 4 + 2·JSD(p_data ‖ p_g). A small discriminator trained on samples is drawn against it.
3. WGAN's Figure 2 (Arjovsky et al. 2017): two Gaussians far apart. A trained GAN discriminator saturates,
   so the minimax generator's gradient ∂ log(1 − D(x))/∂x at the fakes is almost 0; a WGAN-GP critic,
   trained to maximise E_data f − E_g f under a gradient penalty, keeps a slope of about 1 everywhere, and
   E_data f − E_g f estimates W₁ = |μ_data − μ_g| for two Gaussians of one width. In 1-D the two-sided
   penalty λ(‖∇f‖ − 1)² can trap a critic at slope −1 (the wrong way): both penalties are shown.
4. Mode collapse on the standard picture (Metz et al. 2017): a small MLP GAN on eight Gaussians on a ring
   (radius 2, σ 0.02). Its samples over training steps: with one discriminator step per generator step and
   the non-saturating cost it covers all eight; with k = 5 discriminator steps and the minimax cost (a
   discriminator that wins) it collapses onto one mode. Counted: the modes covered and the share of
   high-quality samples (within 3σ of a mode), `gen_keras.metrics.mode_coverage`.
5. Gradient play need not converge: in the bilinear game min_x max_y x·y, simultaneous gradient steps
   spiral away from the equilibrium (0, 0), alternating steps orbit it (`gen_keras.games.bilinear_game`).

The lecture's code: `gen_keras/losses.py: minimax_generator_loss, non_saturating_generator_loss,
maximum_likelihood_generator_loss, discriminator_loss, gradient_penalty`; the fixed-generator discriminator
and critic are `gen_keras/models/critics.py: SampleCritic`; the ring GAN is `gen_keras/models/gan.py: GAN` with
`point_generator` and `gen_keras/models/critics.py: mlp_critic`.

    python recipes/gan_theory.py            # all five figures (a few minutes)
    python recipes/gan_theory.py --quick    # fewer training steps, a try-out
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
from collections.abc import Mapping

import numpy as np

from gen_keras import cli

RECIPE = "gan_theory"
# p_data and p_g of part 2: a two-mode data density and a single wide Gaussian, as (weight, mean, std)
DATA_MIXTURE = ((0.5, -1.5, 0.5), (0.5, 1.5, 0.5))
GENERATOR_GAUSSIAN = ((1.0, 0.0, 1.2),)
# part 3: two Gaussians of one width, 6 apart (W₁ = 6)
FAR_DATA, FAR_FAKE = ((1.0, 3.0, 0.5),), ((1.0, -3.0, 0.5),)
BATCH = 256
LEARNING_RATE = 3e-3  # Adam, decayed to 0 along a cosine
GRID = np.linspace(-6.0, 6.0, 601)
# part 4: the ring of eight Gaussians, and the two GAN settings drawn over training
RING_MODES, RING_RADIUS, RING_STD = 8, 2.0, 0.02
RING_BATCH, RING_LATENT, RING_SAMPLES, RING_SNAPSHOTS = 512, 16, 2000, 6
RING_SETTINGS = {  # name → the game's options; the same networks (D 2 → 128 → 128 → 1), Adam 1e-3, β1 0.5
    "covers": {"k": 1, "generator_loss": "non_saturating"},  # one D step per G step, −log D(G(z))
    "collapses": {"k": 5, "generator_loss": "minimax"},  # a discriminator that wins, and log(1 − D(G(z)))
}
RING_DISCRIMINATOR_UNITS, RING_LEARNING_RATE = (128, 128), 1e-3
# part 5: the bilinear game
BILINEAR_START, BILINEAR_STEPS, BILINEAR_RATE = (1.0, 0.5), 150, 0.1


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--out", default=f"runs/{RECIPE}", help="folder for the figures and metrics.json")
    parser.add_argument("--seed", type=int, default=0, help="seed of the samples and the networks")
    parser.add_argument("--steps", type=cli.positive_int, default=3000,
                        help="training steps of each discriminator and critic (batch 256 real + 256 fake)")
    parser.add_argument("--ring-steps", type=cli.positive_int, default=4000,
                        help="generator steps of each GAN on the ring of Gaussians (minibatch 512)")
    parser.add_argument("--quick", action="store_true", help="a try-out: 600 steps, 1,200 on the ring")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.ring_steps = 600, 1200
    if args.ring_steps < RING_SNAPSHOTS:
        parser.error(f"argument --ring-steps: at least {RING_SNAPSHOTS}, one per snapshot drawn, got {args.ring_steps}")
    return args


def density(x: np.ndarray, mixture) -> np.ndarray:
    """p(x) = Σ_j π_j N(x | μ_j, σ_j²)."""
    return sum(w * np.exp(-0.5 * ((x - m) / s) ** 2) / (s * np.sqrt(2 * np.pi)) for w, m, s in mixture)


def draw(rng: np.random.Generator, mixture, n: int) -> np.ndarray:
    """n points of the mixture, (n, 1) float32."""
    weights = np.array([w for w, _, _ in mixture])
    which = rng.choice(len(mixture), size=n, p=weights / weights.sum())
    means, stds = np.array([m for _, m, _ in mixture]), np.array([s for _, _, s in mixture])
    return (means[which] + stds[which] * rng.standard_normal(n)).astype(np.float32)[:, None]


def train_critic(objective: str, real_mixture, fake_mixture, *, steps: int, seed: int):
    """Trains a `SampleCritic` on fresh batches of the two fixed distributions; returns it."""
    import keras
    import tensorflow as tf

    from gen_keras.models.critics import SampleCritic, mlp_critic

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    real, fake = draw(rng, real_mixture, steps * BATCH), draw(rng, fake_mixture, steps * BATCH)
    critic = SampleCritic(mlp_critic(1), objective=objective, seed=seed)
    critic.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(LEARNING_RATE, steps)))
    critic.fit(tf.data.Dataset.from_tensor_slices((real, fake)).batch(BATCH), epochs=1, verbose=0)
    return critic


def train_ring_gan(setting: str, *, steps: int, seed: int, snapshots: int = RING_SNAPSHOTS,
                   samples: int = RING_SAMPLES) -> list[tuple[int, np.ndarray]]:
    """Trains a GAN of `RING_SETTINGS[setting]` on the ring of Gaussians; returns its samples at `snapshots`
    evenly spaced steps, [(generator steps so far, (samples, 2) points of the same fixed z)]."""
    import keras
    import tensorflow as tf

    from gen_keras import points as points_lib
    from gen_keras.models.critics import mlp_critic
    from gen_keras.models.gan import GAN, point_generator

    options = RING_SETTINGS[setting]
    keras.utils.set_random_seed(seed)
    gan = GAN(point_generator(RING_LATENT), mlp_critic(2, RING_DISCRIMINATOR_UNITS, activation="relu"), seed=seed)
    gan.compile(d_optimizer=keras.optimizers.Adam(RING_LEARNING_RATE, beta_1=0.5),
                g_optimizer=keras.optimizers.Adam(RING_LEARNING_RATE, beta_1=0.5), **options)
    k = options["k"]  # each batch holds k minibatches, one per discriminator step
    points = points_lib.ring_of_gaussians(steps * k * RING_BATCH, RING_MODES, RING_RADIUS, RING_STD, seed=seed)
    batches = tf.data.Dataset.from_tensor_slices(points).batch(k * RING_BATCH)
    z = np.random.default_rng(seed + 1).standard_normal((samples, RING_LATENT)).astype(np.float32)
    ends = np.linspace(0, steps, snapshots + 1).astype(int)[1:]
    shots, done = [], 0
    for end in ends:
        gan.fit(batches.skip(done).take(end - done), epochs=1, verbose=0)
        done = end
        shots.append((int(end), gan.generator.predict(z, verbose=0)))
    return shots


def main(argv=None):
    args = parse(argv)
    import keras

    from gen_keras import losses
    from gen_keras.figures import gan as gan_figures
    from gen_keras.models.critics import input_gradients

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {"steps": args.steps, "batch": BATCH}

    # 1. The generator's costs and their slopes; at D(G(z)) = 0.01, a discriminator sure of the fakes.
    d = np.linspace(0.001, 0.999, 999)
    curves = losses.generator_cost_curves(d)
    at = int(np.argmin(np.abs(d - 0.01)))
    results["slope_at_d_0.01"] = {name.split(":")[0]: float(abs(slope[at])) for name, (_, slope) in curves.items()}
    gan_figures.generator_costs(d, curves, out / "generator_costs.png")
    print("|∂J/∂l| at D(G(z)) = 0.01: " + ", ".join(f"{k} {v:.4f}" for k, v in results["slope_at_d_0.01"].items()))

    # 2. D*(x) = p_data / (p_data + p_g), against a discriminator trained on samples of both.
    p_data, p_g = density(GRID, DATA_MIXTURE), density(GRID, GENERATOR_GAUSSIAN)
    d_star = p_data / (p_data + p_g)
    disc = train_critic("cross_entropy", DATA_MIXTURE, GENERATOR_GAUSSIAN, steps=args.steps, seed=args.seed)
    d_learned = keras.ops.convert_to_numpy(keras.ops.sigmoid(disc.predict(GRID[:, None], verbose=0)))[:, 0]
    mass = (p_data + p_g) / 2
    where = mass > 0.01 * mass.max()  # where either density has mass, D is determined by the data
    dx = GRID[1] - GRID[0]
    # V(D) = E_data log D + E_g log(1 − D) by quadrature; at D* it is −log 4 + 2 JSD
    value = lambda d: float(np.sum(p_data * np.log(d) + p_g * np.log1p(-d)) * dx)  # noqa: E731
    results["optimal_discriminator"] = {
        "max_abs_error": float(np.max(np.abs(d_learned - d_star)[where])),
        "mean_abs_error_weighted": float(np.sum(np.abs(d_learned - d_star) * mass) / np.sum(mass)),
        "value_at_formula": value(d_star), "value_at_learned": value(np.clip(d_learned, 1e-7, 1 - 1e-7)),
        "jsd_nats": (value(d_star) + np.log(4)) / 2,
    }
    optimal_discriminator(GRID, p_data, p_g, d_star, d_learned, out / "optimal_discriminator.png",
                          f"D* against a discriminator trained for {args.steps} steps")
    r = results["optimal_discriminator"]
    print(f"optimal discriminator: |D − D*| at most {r['max_abs_error']:.3f} where (p_data + p_g) / 2 is over 1% of "
          f"its peak (mean {r['mean_abs_error_weighted']:.4f}, weighted by it); V(D*) = {r['value_at_formula']:.4f}, V(D) = "
          f"{r['value_at_learned']:.4f} nats; JSD = {r['jsd_nats']:.4f} nats")

    # 3. WGAN's Figure 2: the discriminator saturates, the critic's slope stays about 1. The two-sided penalty
    #    λ(‖∇f‖ − 1)² is 1 per point at slope 0, a wall in 1-D that a critic whose slope starts the wrong way
    #    does not cross; the one-sided max(0, ‖∇f‖ − 1)² has none.
    disc = train_critic("cross_entropy", FAR_DATA, FAR_FAKE, steps=args.steps, seed=args.seed)
    fakes = draw(np.random.default_rng(args.seed + 1), FAR_FAKE, 2000)
    reals = draw(np.random.default_rng(args.seed + 2), FAR_DATA, 2000)
    logit_slope = input_gradients(disc.network, fakes).numpy()[:, 0]  # ∂l/∂x
    d_fake = keras.ops.convert_to_numpy(keras.ops.sigmoid(disc.predict(fakes, verbose=0)))[:, 0]
    results["saturation"] = {
        "mean_d_at_fakes": float(d_fake.mean()),
        # G moves a fake x by ∂J/∂x: minimax J = log(1 − D) → −D ∂l/∂x; non-saturating −log D → −(1 − D) ∂l/∂x
        "minimax_gradient_at_fakes": float(np.mean(np.abs(d_fake * logit_slope))),
        "non_saturating_gradient_at_fakes": float(np.mean(np.abs((1 - d_fake) * logit_slope))),
        "w1_true": abs(FAR_DATA[0][1] - FAR_FAKE[0][1]),
    }
    critic_curves = {}
    for objective, label in (("wasserstein_one_sided_gp", "critic, one-sided penalty"),
                             ("wasserstein_gp", "critic, two-sided penalty")):
        critic = train_critic(objective, FAR_DATA, FAR_FAKE, steps=args.steps, seed=args.seed)
        slope = input_gradients(critic.network, fakes).numpy()[:, 0]
        results["saturation"][objective] = {
            "mean_slope_at_fakes": float(np.mean(slope)),  # signed: f must rise towards the data
            "w1_estimate": float(critic.predict(reals, verbose=0).mean() - critic.predict(fakes, verbose=0).mean()),
        }
        critic_curves[label] = critic.predict(GRID[:, None], verbose=0)[:, 0]
    d_grid = keras.ops.convert_to_numpy(keras.ops.sigmoid(disc.predict(GRID[:, None], verbose=0)))[:, 0]
    discriminator_vs_critic(GRID, density(GRID, FAR_DATA), density(GRID, FAR_FAKE), d_grid, critic_curves,
                            out / "discriminator_vs_critic.png",
                            "A trained discriminator saturates; a WGAN-GP critic keeps its slope")
    s = results["saturation"]
    print(f"far-apart Gaussians: D at the fakes {s['mean_d_at_fakes']:.2e}; mean |∂J/∂x| at the fakes: minimax "
          f"{s['minimax_gradient_at_fakes']:.2e}, non-saturating {s['non_saturating_gradient_at_fakes']:.2e}")
    for objective in ("wasserstein_one_sided_gp", "wasserstein_gp"):
        print(f"  {objective}: slope at the fakes {s[objective]['mean_slope_at_fakes']:+.3f}, W1 estimate "
              f"{s[objective]['w1_estimate']:+.3f} (true {s['w1_true']:.1f})")

    # 4. Mode collapse on the ring: modes covered and high-quality share, snapshot by snapshot.
    from gen_keras import games, metrics
    from gen_keras import points as points_lib

    centres = points_lib.ring_centres(RING_MODES, RING_RADIUS)
    runs, results["ring"] = {}, {"steps": args.ring_steps, "batch": RING_BATCH, "samples": RING_SAMPLES,
                                 "modes": RING_MODES, "radius": RING_RADIUS, "std": RING_STD,
                                 "discriminator_units": list(RING_DISCRIMINATOR_UNITS),
                                 "learning_rate": RING_LEARNING_RATE}
    for setting in RING_SETTINGS:
        runs[setting] = train_ring_gan(setting, steps=args.ring_steps, seed=args.seed)
        counts = [{"step": step, **metrics.mode_coverage(points, centres, RING_STD)} for step, points in runs[setting]]
        results["ring"][setting] = {**RING_SETTINGS[setting], "snapshots": counts}
        print(f"ring, {setting}: modes covered " + ", ".join(f"{c['modes_covered']}" for c in counts)
              + "; high-quality share " + ", ".join(f"{c['high_quality_share']:.2f}" for c in counts)
              + " at steps " + ", ".join(str(c["step"]) for c in counts))
    ring_snapshots(runs, centres, RING_STD, out / "ring_modes.png",
                   f"A GAN on eight Gaussians (σ = {RING_STD}): samples of the same z over training")

    # 5. The bilinear game: simultaneous steps spiral out, alternating steps orbit.
    paths = {update: games.bilinear_game(*BILINEAR_START, steps=BILINEAR_STEPS, learning_rate=BILINEAR_RATE,
                                         update=update) for update in games.UPDATES}
    distance = {update: np.linalg.norm(path, axis=1) for update, path in paths.items()}
    results["bilinear"] = {"start": list(BILINEAR_START), "steps": BILINEAR_STEPS, "learning_rate": BILINEAR_RATE,
                           **{f"{u}_final_distance": float(d[-1]) for u, d in distance.items()},
                           **{f"{u}_max_distance": float(d.max()) for u, d in distance.items()}}
    bilinear_paths(paths, out / "bilinear_game.png", f"min_x max_y x·y, η = {BILINEAR_RATE}, {BILINEAR_STEPS} steps")
    print(f"bilinear game: distance to (0, 0) from {distance['simultaneous'][0]:.3f} to "
          f"{distance['simultaneous'][-1]:.3f} after {BILINEAR_STEPS} simultaneous steps; alternating steps stay "
          f"within {distance['alternating'].min():.3f} … {distance['alternating'].max():.3f}")

    (out / "metrics.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"figures and metrics.json in {out}")


# --- Figures ----------------------------------------------------------------------------------------------


def optimal_discriminator(x: np.ndarray, p_data: np.ndarray, p_g: np.ndarray, d_formula: np.ndarray,
                          d_learned: np.ndarray, path: str | os.PathLike, title: str = "") -> str:
    """Draws two 1-D densities, D*(x) = p_data / (p_data + p_g) and a trained discriminator's D(x).

    Args:
        x: the grid, (L,).
        p_data: p_data on it, (L,).
        p_g: p_g on it, (L,).
        d_formula: D*(x), (L,).
        d_learned: σ(l(x)) of the trained discriminator, (L,).
        path: the PNG to write.
        title: the figure's title.

    Returns:
        `path` as a string.
    """
    from gen_keras import plots

    fig, ax = plots.plt.subplots(figsize=(9, 4.5))
    ax.fill_between(x, p_data, color="C0", alpha=0.25, label="p_data(x)")
    ax.fill_between(x, p_g, color="C1", alpha=0.25, label="p_g(x)")
    ax.plot(x, d_formula, "k-", linewidth=2, label="D*(x) = p_data / (p_data + p_g)")
    ax.plot(x, d_learned, "C3--", linewidth=2, label="trained discriminator D(x)")
    ax.set_xlabel("x")
    ax.set_ylim(0, 1.05)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title)
    return plots.save_figure(fig, path)


def discriminator_vs_critic(x: np.ndarray, p_data: np.ndarray, p_g: np.ndarray, d: np.ndarray,
                            critics: Mapping[str, np.ndarray], path: str | os.PathLike, title: str = "") -> str:
    """WGAN's Figure 2: a trained discriminator D(x) saturates between two far-apart Gaussians, a trained
    critic f(x) keeps a slope everywhere.

    Args:
        x: the grid, (L,).
        p_data: p_data on it, (L,) (drawn scaled to the axis).
        p_g: p_g on it, (L,).
        d: the discriminator's D(x), (L,).
        critics: legend label → a critic's f(x), (L,) (drawn as is on the right axis).
        path: the PNG to write.
        title: the figure's title.

    Returns:
        `path` as a string.
    """
    from gen_keras import plots

    fig, ax = plots.plt.subplots(figsize=(9, 4.5))
    scale = 1.0 / max(p_data.max(), p_g.max())
    ax.fill_between(x, p_data * scale, color="C0", alpha=0.25, label="real density (scaled)")
    ax.fill_between(x, p_g * scale, color="C1", alpha=0.25, label="fake density (scaled)")
    ax.plot(x, d, "C3-", linewidth=2, label="GAN discriminator D(x)")
    ax.set_xlabel("x")
    ax.set_ylabel("D(x)")
    ax.set_ylim(-0.05, 1.05)
    right = ax.twinx()
    for i, (name, f) in enumerate(critics.items()):
        right.plot(x, f, color="C2", linestyle=("-", "--", ":")[i % 3], linewidth=2, label=name + " f(x)")
    right.set_ylabel("f(x)")
    lines = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], loc="center left", fontsize=8)
    ax.grid(True, alpha=0.3)
    ax.set_title(title)
    return plots.save_figure(fig, path)


def ring_snapshots(runs: Mapping[str, list[tuple[int, np.ndarray]]], centres: np.ndarray, std: float,
                   path: str | os.PathLike, title: str = "") -> str:
    """One row per GAN setting, one panel per snapshot: its samples over the ring's modes (3σ circles), each
    panel titled with the modes covered and the share of high-quality samples.

    Args:
        runs: setting name → [(step, (N, 2) samples)], the same steps in every row.
        centres: (K, 2) the modes.
        std: the modes' σ.
        path: the PNG to write.
        title: the figure's title.

    Returns:
        `path` as a string.
    """
    from gen_keras import metrics, plots

    rows, columns = len(runs), max(len(shots) for shots in runs.values())
    fig, axes = plots.plt.subplots(rows, columns, figsize=(2.6 * columns, 2.8 * rows), squeeze=False)
    limit = 1.4 * float(np.abs(centres).max())
    for r, (name, shots) in enumerate(runs.items()):
        for c, (step, points) in enumerate(shots):
            ax = axes[r][c]
            counted = metrics.mode_coverage(points, centres, std)
            ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.4, color="C0", rasterized=True)
            for x, y in centres:
                ax.add_patch(plots.plt.Circle((x, y), 3 * std, fill=False, color="C3", linewidth=1))
            ax.set_xlim(-limit, limit)
            ax.set_ylim(-limit, limit)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"step {step}: {counted['modes_covered']}/{len(centres)} modes, "
                         f"{counted['high_quality_share']:.0%} good", fontsize=8)
            if c == 0:
                ax.set_ylabel(name)
    if title:
        fig.suptitle(title)
    return plots.save_figure(fig, path)


def bilinear_paths(paths: Mapping[str, np.ndarray], path: str | os.PathLike, title: str = "") -> str:
    """The bilinear game's gradient play: left, each update's path in the (x, y) plane around the
    equilibrium (0, 0); right, its distance to the equilibrium against the step.

    Args:
        paths: update name → (steps + 1, 2) positions (`gen_keras.games.bilinear_game`).
        path: the PNG to write.
        title: the figure's title.

    Returns:
        `path` as a string.
    """
    from gen_keras import plots

    fig, (plane, distance) = plots.plt.subplots(1, 2, figsize=(11, 4.8))
    for i, (name, points) in enumerate(paths.items()):
        plane.plot(points[:, 0], points[:, 1], color=f"C{i}", linewidth=1.2, label=f"{name} steps")
        distance.plot(np.linalg.norm(points, axis=1), color=f"C{i}", linewidth=2, label=f"{name} steps")
    first = next(iter(paths.values()))[0]
    plane.plot(*first, "ko", label="start")
    plane.plot(0, 0, "k*", markersize=12, label="equilibrium (0, 0)")
    plane.set_xlabel("x (minimises x·y)")
    plane.set_ylabel("y (maximises x·y)")
    plane.set_aspect("equal")
    plane.legend(fontsize=8, loc="upper right")
    distance.set_xlabel("step")
    distance.set_ylabel("distance to the equilibrium")
    distance.legend(fontsize=8)
    for ax in (plane, distance):
        ax.grid(True, alpha=0.3)
    if title:
        fig.suptitle(title)
    return plots.save_figure(fig, path)


if __name__ == "__main__":
    cli.run(main)
