"""The GAN family's shared figures: training curves of every adversarial recipe (`gen_keras.gan_recipe`, used by
`recipes/gan.py`, `dcgan.py`, `cgan.py`, `wgan.py`) and the generator's costs against D(G(z)) (`recipes/gan.py`,
`recipes/gan_theory.py`)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib.ticker
import numpy as np

from gen_keras import plots


def training_curves(history: Mapping[str, Sequence[float]], path: str | os.PathLike, title: str = "",
                    scores: Sequence[str] = ("d_real", "d_fake"), equilibrium: float | None = 0.5) -> str:
    """Plots a GAN's training per epoch: losses, mean discriminator (or critic) outputs, and the FID when logged.

    Panels: d_loss and g_loss; the `scores` (mean D(x) and D(G(z)), with the game's equilibrium value when
    D outputs probabilities; a critic's mean f(x), f(G(z)) and the Wasserstein estimate); the FID (log
    scale) when the history has finite values of it.

    Args:
        history: per-epoch values by key (`d_loss`, `g_loss`, the `scores`, optionally `fid`).
        path: the PNG to write.
        title: the figure's title.
        scores: the history keys of the middle panel, e.g. ("d_real", "d_fake", "wasserstein") for a WGAN.
        equilibrium: a dashed line at this value (1/2 for a GAN's D); None for a critic, whose outputs are
            scores, not probabilities.

    Returns:
        `path` as a string.
    """
    fid = [(i + 1, v) for i, v in enumerate(history.get("fid", [])) if np.isfinite(v)]
    fig, axes = plots.plt.subplots(1, 3 if fid else 2, figsize=(16 if fid else 11, 4))
    plots.draw_curves(axes[0], plots.per_epoch(history, ("d_loss", "g_loss")), xlabel="epoch", ylabel="loss")
    critic = equilibrium is None
    plots.draw_curves(axes[1], plots.per_epoch(history, scores), xlabel="epoch",
                      ylabel="mean critic output f(·)" if critic else "mean discriminator output D(·)",
                      baselines=None if critic else {f"equilibrium {equilibrium:g}": equilibrium})
    if fid:
        plots.draw_curves(axes[2], {"FID (classifier features)": (*zip(*fid), {"color": "C3"})}, xlabel="epoch",
                          ylabel="FID", log_y=True)
        plain = matplotlib.ticker.FormatStrFormatter("%g")  # "40", not the wider "4×10¹" that hid the label
        axes[2].yaxis.set_major_formatter(plain)
        axes[2].yaxis.set_minor_formatter(plain)
    if title:
        fig.suptitle(title)
    return plots.save_figure(fig, path)


def generator_costs(d: np.ndarray, curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | os.PathLike,
                    title: str = "The generator's costs against D(G(z)) and their slopes") -> str:
    """Draws the generator's costs against D(G(z)) and their slopes with respect to D's logit.

    Left: each cost J(D) (Goodfellow 2016, Fig. 16); right: |∂J/∂l| on a log scale, which says how hard
    the generator is pushed when the discriminator rejects its samples (D near 0, shaded) or accepts them.

    Args:
        d: D(G(z)) on a grid in (0, 1), (L,).
        curves: legend label → (J, ∂J/∂l) on the grid, as `losses.generator_cost_curves` gives them.
        path: the PNG to write.
        title: the figure's title.

    Returns:
        `path` as a string.
    """
    fig, (left, right) = plots.plt.subplots(1, 2, figsize=(12, 4.5))
    for i, (name, (cost, slope)) in enumerate(curves.items()):
        left.plot(d, cost, color=f"C{i}", linewidth=2, label=name)
        right.plot(d, np.abs(slope), color=f"C{i}", linewidth=2, label=name)
    left.set_ylim(-10, 10)
    left.set_ylabel("generator cost J")
    right.set_yscale("log")
    right.set_ylabel("|∂J / ∂l|, l = σ⁻¹(D) the discriminator's logit")
    for ax in (left, right):
        ax.axvspan(0, 0.1, color="grey", alpha=0.15, label="early training: D rejects G's samples")
        ax.set_xlabel("D(G(z))")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    return plots.save_figure(fig, path)
