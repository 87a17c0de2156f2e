"""Figures a student wants to look at, written as PNG files."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path: str | os.PathLike) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return str(path)


def _show(ax, image: np.ndarray) -> None:
    image = np.clip(np.asarray(image, np.float32), 0.0, 1.0)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0.0, vmax=1.0)
    ax.set_xticks([])
    ax.set_yticks([])


def image_rows(rows: Sequence[np.ndarray], row_titles: Sequence[str], path: str | os.PathLike,
               title: str = "") -> str:
    """Rows of images (each an array N×H×W×C in [0, 1]), one title per row."""
    n = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), n, figsize=(n * 1.1, len(rows) * 1.25), squeeze=False)
    for i, (row, name) in enumerate(zip(rows, row_titles)):
        for j in range(n):
            ax = axes[i][j]
            if j < len(row):
                _show(ax, row[j])
            else:
                ax.axis("off")
        axes[i][0].set_ylabel(name, rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def image_grid(images: np.ndarray, path: str | os.PathLike, columns: int = 10, title: str = "") -> str:
    """A grid of images (N×H×W×C in [0, 1]), `columns` wide, drawn as one mosaic with white gaps: one
    image for matplotlib, so a grid of hundreds takes a fraction of a second, not one axes each."""
    images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    n, h, w = images.shape[:3]
    columns = max(1, min(columns, n))
    rows = -(-n // columns)
    canvas = np.ones((rows * (h + 1) - 1, columns * (w + 1) - 1, *images.shape[3:]), np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        canvas[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = image
    fig, ax = plt.subplots(figsize=(0.7 * columns + 0.3, 0.7 * rows + (0.5 if title else 0.2)))
    ax.imshow(canvas, cmap="gray" if canvas.ndim == 2 else None, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return _save(fig, path)


def loss_curves(history: Mapping[str, Sequence[float]], path: str | os.PathLike,
                keys: Sequence[str] = ("loss", "val_loss"), title: str = "", log_scale: bool = True,
                baselines: Mapping[str, float] | None = None) -> str:
    """Training (and validation) loss per epoch, with optional horizontal reference lines."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for key in keys:
        if history.get(key):
            values = history[key]
            ax.plot(range(1, len(values) + 1), values, marker="o", label=key)
    for i, (name, value) in enumerate((baselines or {}).items()):
        ax.axhline(value, linestyle="--", color=f"C{i + len(keys)}", label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if log_scale:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return _save(fig, path)


def latent_scatters(panels: Sequence[tuple[str, np.ndarray]], labels: np.ndarray, path: str | os.PathLike,
                    class_names: Sequence[str] = (), title: str = "") -> str:
    """Side-by-side scatters of 2-D codes (each (N, 2)), points coloured by class; one panel per entry."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels) + 1.5, 5), squeeze=False)
    fig.subplots_adjust(wspace=0.35)
    for ax, (name, codes) in zip(axes[0], panels):
        points = ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", s=3, vmin=-0.5, vmax=9.5)
        ax.set_title(name)
        ax.set_xlabel("z[0]")
        ax.set_ylabel("z[1]")
        ax.grid(True, alpha=0.3)
    bar = fig.colorbar(points, ax=list(axes[0]), ticks=range(10))
    if class_names:
        bar.ax.set_yticklabels(class_names)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def generator_losses(path: str | os.PathLike) -> str:
    """The lecture's point about G's loss, as functions of D(G(z)): minimax log(1 − D) against
    non-saturating −log D, and the gradient each sends back through the discriminator's logit l
    (D = σ(l)): ∂ log(1 − σ(l))/∂l = −D, which vanishes where D rejects the samples, and
    ∂(−log σ(l))/∂l = −(1 − D), which is strongest there."""
    d = np.linspace(1e-3, 1 - 1e-3, 999)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(d, np.log1p(-d), label="minimax: log(1 − D(G(z)))")
    left.plot(d, -np.log(d), label="non-saturating: −log D(G(z))")
    left.set_ylabel("generator loss (minimised)")
    right.plot(d, d, label="minimax: |∂/∂l| = D")
    right.plot(d, 1 - d, label="non-saturating: |∂/∂l| = 1 − D")
    right.set_ylabel("|gradient| through the logit l")
    for ax in (left, right):
        ax.axvspan(0, 0.1, color="grey", alpha=0.15, label="early training: D rejects G's samples")
        ax.set_xlabel("D(G(z))")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Minimax vs non-saturating generator loss: the minimax gradient vanishes as D(G(z)) → 0")
    return _save(fig, path)


def gan_curves(history: Mapping[str, Sequence[float]], path: str | os.PathLike, title: str = "",
               scores: Sequence[str] = ("d_real", "d_fake"), equilibrium: float | None = 0.5) -> str:
    """A GAN's training per epoch: d_loss and g_loss; mean D(x) and D(G(z)) (with the game's equilibrium
    value, 1/2, when D outputs probabilities); and the FID when the history has it."""
    fid = [(i + 1, v) for i, v in enumerate(history.get("fid", [])) if np.isfinite(v)]
    fig, axes = plt.subplots(1, 3 if fid else 2, figsize=(16 if fid else 11, 4))
    for ax, keys in zip(axes, (("d_loss", "g_loss"), scores)):
        for key in keys:
            if history.get(key):
                ax.plot(range(1, len(history[key]) + 1), history[key], marker="o", label=key)
    axes[0].set_ylabel("loss")
    axes[1].set_ylabel("mean discriminator output")
    if equilibrium is not None:
        axes[1].axhline(equilibrium, linestyle="--", color="grey", label=f"equilibrium {equilibrium:g}")
    if fid:
        axes[2].plot(*zip(*fid), marker="o", color="C3", label="FID (classifier features)")
        axes[2].set_yscale("log")
        plain = matplotlib.ticker.FormatStrFormatter("%g")  # "40", not the wider "4×10¹" that hid the label
        axes[2].yaxis.set_major_formatter(plain)
        axes[2].yaxis.set_minor_formatter(plain)
        axes[2].set_ylabel("FID")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _save(fig, path)
