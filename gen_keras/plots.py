"""Generic figures, written as PNG files: image grids, one curve helper, scatters of codes, histograms, bars.

Where a lecture's own figures live: a figure only one recipe draws is a function in that recipe (e.g.
`recipes/transposed_convolution.py: transposed_convolution_steps`); a figure several recipes (or a recipe and
a benchmark) draw lives in `gen_keras/figures/<family>.py` (e.g. `gen_keras.figures.gan.training_curves`).
Both build on the pieces here: `curves` (any curves, axis labels, title and scales as arguments; `draw_curves`
draws them on an axes of a larger figure), `per_epoch`, `per_step`, and `save_figure`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gen_keras.files import atomic_path  # noqa: E402


def save_figure(fig, path: str | os.PathLike) -> str:
    """Writes `fig` as a PNG (100 dpi, tight) whole or not at all, creating its folder, and closes it.

    Args:
        fig: a matplotlib figure.
        path: the PNG to write.

    Returns:
        `path` as a string.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=100, bbox_inches="tight", format="png")
    finally:
        plt.close(fig)
    return str(path)


def _show(ax, image: np.ndarray) -> None:
    image = np.clip(np.asarray(image, np.float32), 0.0, 1.0)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0.0, vmax=1.0)
    ax.set_xticks([])
    ax.set_yticks([])


# --- Images ---------------------------------------------------------------------------------------------


def image_rows(rows: Sequence[np.ndarray], row_titles: Sequence[str], path: str | os.PathLike,
               title: str = "") -> str:
    """Draws rows of images, one title per row, and saves the PNG.

    Args:
        rows: one array per row, each (N, H, W, C) (or (N, H, W)) in [0, 1]; shorter rows leave blanks.
        row_titles: one label per row, drawn left of it.
        path: the PNG to write (its folder is created).
        title: the figure's title.

    Returns:
        `path` as a string.
    """
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
    return save_figure(fig, path)


def image_grid(images: np.ndarray, path: str | os.PathLike, columns: int = 10, title: str = "") -> str:
    """Draws a grid of images, `columns` wide, as one mosaic with white gaps, and saves the PNG.

    One image for matplotlib, so a grid of hundreds takes a fraction of a second, not one axes each.

    Args:
        images: (N, H, W, C) (C = 1 drawn grey) or (N, H, W), pixels in [0, 1] (clipped).
        path: the PNG to write.
        columns: images per row (at most N).
        title: the figure's title.

    Returns:
        `path` as a string.
    """
    columns = max(1, min(columns, len(images)))
    rows = -(-len(images) // columns)
    canvas = _mosaic(images, columns)
    fig, ax = plt.subplots(figsize=(0.7 * columns + 0.3, 0.7 * rows + (0.5 if title else 0.2)))
    ax.imshow(canvas, cmap="gray" if canvas.ndim == 2 else None, vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return save_figure(fig, path)


def _mosaic(images: np.ndarray, columns: int) -> np.ndarray:
    """Images (N, H, W[, 1]) in [0, 1] tiled `columns` wide with 1-pixel white gaps, as one (rows·(H+1) − 1,
    columns·(W+1) − 1) array."""
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
    return canvas


def image_grids(panels: Sequence[tuple[str, np.ndarray]], path: str | os.PathLike, columns: int = 10,
                title: str = "") -> str:
    """Several image grids side by side, each a mosaic `columns` wide under its own title: e.g. what two
    decoders make of the same number of codes.

    Args:
        panels: (title, images) pairs, images (N, H, W, C) or (N, H, W) with pixels in [0, 1] (clipped).
        path: the PNG to write.
        columns: images per row of each grid.
        title: the figure's title.

    Returns:
        `path` as a string.
    """
    canvases = [_mosaic(images, columns) for _, images in panels]
    cols = max(1, min(columns, max(len(images) for _, images in panels)))
    rows = max(-(-len(images) // cols) for _, images in panels)
    cell = 0.32  # inches an image: about its own 28 pixels at the saved 100 dpi
    fig, axes = plt.subplots(1, len(panels), figsize=((max(cell * cols, 4.2) + 0.3) * len(panels), cell * rows + 1.2),
                             squeeze=False, layout="constrained")  # room for two-line titles and the suptitle
    for ax, (name, _), canvas in zip(axes[0], panels, canvases):
        ax.imshow(canvas, cmap="gray" if canvas.ndim == 2 else None, vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(name, fontsize=10)
        ax.axis("off")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def unit_range(images: np.ndarray) -> np.ndarray:
    """Each image scaled on its own to [0, 1] (min → 0, max → 1), e.g. a layer's weights drawn as images.

    Args:
        images: (N, …) any real values.

    Returns:
        float32, the same shape; a constant image becomes 0.5 everywhere.
    """
    images = np.asarray(images, np.float32)
    flat = images.reshape(len(images), -1)
    low, span = flat.min(axis=1, keepdims=True), np.ptp(flat, axis=1, keepdims=True)
    scaled = np.where(span > 0, (flat - low) / np.where(span > 0, span, 1.0), 0.5)
    return scaled.reshape(images.shape)


def latent_interpolation(decode, codes: np.ndarray, images: np.ndarray, path: str | os.PathLike, title: str, *,
                         pairs: Sequence[tuple[int, int]] = ((0, 1), (2, 3), (4, 5)), steps: int = 9) -> str:
    """Rows that walk the code space between two images: g((1 − t) z_a + t z_b) for t = 0 … 1, with the
    images a and b themselves at the ends.

    Args:
        decode: codes (n, d) → images (n, H, W, C) in [0, 1], e.g. a decoder in inference mode.
        codes: the images' codes, (N, d).
        images: the images, (N, H, W, C) in [0, 1].
        path: the PNG to write.
        title: the figure's title.
        pairs: (a, b) index pairs, one row each.
        steps: decoded codes per row, t from 0 to 1.

    Returns:
        The path written, as a string.
    """
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
    rows = [np.concatenate([images[a:a + 1], np.asarray(decode((1 - t) * codes[a] + t * codes[b])), images[b:b + 1]])
            for a, b in pairs]
    return image_rows(rows, [""] * len(rows), path, title)


# --- Codes --------------------------------------------------------------------------------------------


def latent_scatters(panels: Sequence[tuple], labels: np.ndarray | None, path: str | os.PathLike,
                    class_names: Sequence[str] = (), title: str = "") -> str:
    """Side-by-side scatters of 2-D codes, points coloured by class; one panel per entry.

    Args:
        panels: (panel title, codes (N, 2)) pairs, or (title, codes, labels) triples whose own labels (None:
            grey points, e.g. unlabelled prior draws) replace `labels` for that panel.
        labels: class labels of the N points, integers in 0 … K − 1 (None: grey).
        path: the PNG to write.
        class_names: names for the colour bar's K ticks (K: their number, else the largest label + 1).
        title: the figure's title.

    Returns:
        `path` as a string.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels) + 1.5, 5), squeeze=False)
    fig.subplots_adjust(wspace=0.35)
    points = None
    given = [np.asarray(own[0] if own else labels) for _, _, *own in panels if (own[0] if own else labels) is not None]
    k = len(class_names) or max([int(g.max()) + 1 for g in given if g.size] or [10])
    cmap = "tab10" if k <= 10 else "tab20" if k <= 20 else "viridis"
    for ax, (name, codes, *own) in zip(axes[0], panels):
        colours = own[0] if own else labels
        if colours is None:
            ax.scatter(codes[:, 0], codes[:, 1], color="grey", s=3, alpha=0.5)
        else:
            points = ax.scatter(codes[:, 0], codes[:, 1], c=colours, cmap=cmap, s=3, vmin=-0.5, vmax=k - 0.5)
        ax.set_title(name)
        ax.set_xlabel("z[0]")
        ax.set_ylabel("z[1]")
        ax.grid(True, alpha=0.3)
    if points is not None:
        bar = fig.colorbar(points, ax=list(axes[0]), ticks=range(k))
        if class_names:
            bar.ax.set_yticklabels(class_names)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


# --- Curves -------------------------------------------------------------------------------------------

# A curve is (x, y) or (x, y, style): `style` holds matplotlib's `plot` options (color, linestyle, marker, …)
# for that curve alone. Every curve figure goes through `draw_curves`, which takes its labels as arguments.


def per_epoch(history: Mapping[str, Sequence[float]], keys: Sequence[str]) -> dict[str, tuple]:
    """The per-epoch curves of a training history, epochs 1, 2, … along x.

    Args:
        history: per-epoch values by key, e.g. `training.fit`'s result.
        keys: the keys to draw, in order (missing or empty ones are left out).

    Returns:
        key → (epochs, values), as `curves` takes them.
    """
    return {key: (np.arange(1, len(history[key]) + 1), history[key])
            for key in keys if key in history and len(history[key])}


def per_step(losses: Sequence[float], *, steps_per_epoch: int = 0, validation: Sequence[float] | None = None,
             window: int = 50, name: str = "training", validation_name: str = "validation") -> dict[str, tuple]:
    """A training loss of every step as curves: each step (light), their moving average, and the validation
    loss at each epoch's last step.

    Args:
        losses: one training loss per step (e.g. `callbacks.StepLosses.losses`).
        steps_per_epoch: steps in an epoch, to place the validation points (0: none).
        validation: one validation loss per epoch (None: none).
        window: steps in the moving average.
        name: the training curves' legend name.
        validation_name: the validation curve's legend name.

    Returns:
        label → (steps, values, style), as `curves` takes them.
    """
    losses = np.asarray(losses, np.float64)
    steps = np.arange(1, len(losses) + 1)
    series = {f"{name}, per step": (steps, losses, {"color": "C0", "alpha": 0.25, "linewidth": 0.8, "marker": None})}
    window = min(window, len(losses))
    if window > 1:
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        series[f"{name}, mean of {window} steps"] = (steps[window - 1:], smooth, {"color": "C0", "marker": None})
    if validation is not None and len(validation) and steps_per_epoch:
        series[validation_name] = (steps_per_epoch * np.arange(1, len(validation) + 1), validation,
                                   {"color": "C1", "marker": "o"})
    return series


def draw_curves(ax, series: Mapping[str, tuple], *, xlabel: str, ylabel: str, title: str = "",
                log_x: bool = False, log_y: bool = False, baselines: Mapping[str, float] | None = None) -> None:
    """Draws curves on one axes of a figure, with dashed horizontal reference lines, a light grid and a legend.

    Args:
        ax: the matplotlib axes.
        series: legend label → (x, y) or (x, y, style), `style` a dict of `Axes.plot` options; a curve of
            fewer than 60 points gets markers unless its style says otherwise.
        xlabel: what x is, e.g. "epoch", "training step".
        ylabel: what y is, with its unit, e.g. "−ELBO, nats per image".
        title: the axes' title.
        log_x: a logarithmic x axis.
        log_y: a logarithmic y axis (for values that fall by orders of magnitude, such as the FID).
        baselines: legend label → y of a dashed horizontal line (e.g. a baseline's value).
    """
    for label, (x, y, *style) in series.items():
        ax.plot(x, y, label=label, **{"marker": "o" if len(x) < 60 else None, "markersize": 4,
                                      **(style[0] if style else {})})
    for i, (name, value) in enumerate((baselines or {}).items()):
        ax.axhline(value, linestyle="--", color=f"C{i + len(series)}", label=name)
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, which="both" if log_x or log_y else "major", alpha=0.3)
    if series or baselines:
        ax.legend(fontsize=8)


def curves(series: Mapping[str, tuple], path: str | os.PathLike, *, xlabel: str, ylabel: str, title: str = "",
           log_x: bool = False, log_y: bool = False, baselines: Mapping[str, float] | None = None,
           size: tuple[float, float] = (6, 4)) -> str:
    """Curves in one plot, saved as a PNG: losses per epoch (`per_epoch`) or per step (`per_step`), FIDs
    against training steps, anything against anything.

    Args:
        series: legend label → (x, y) or (x, y, style), as `draw_curves` takes them.
        path: the PNG to write.
        xlabel: what x is.
        ylabel: what y is, with its unit.
        title: the plot's title.
        log_x: a logarithmic x axis.
        log_y: a logarithmic y axis.
        baselines: legend label → y of a dashed horizontal line.
        size: the figure's (width, height) in inches.

    Returns:
        `path` as a string.
    """
    fig, ax = plt.subplots(figsize=size)
    draw_curves(ax, series, xlabel=xlabel, ylabel=ylabel, title=title, log_x=log_x, log_y=log_y,
                baselines=baselines)
    return save_figure(fig, path)


# --- Distributions and groups ---------------------------------------------------------------------------


def histograms(series: Mapping[str, np.ndarray], path: str | os.PathLike, *, xlabel: str, title: str = "",
               lines: Mapping[str, float] | None = None, log_x: bool = False, bins: int = 50) -> str:
    """Overlaid histograms of several sets of values on shared bins, with optional vertical lines.

    Args:
        series: label → values (1-d).
        path: the PNG to write.
        xlabel: what the values are.
        title: the plot's title.
        lines: label → x of a dashed vertical line (e.g. a target or a threshold).
        log_x: logarithmic bins and axis (positive values only).
        bins: the number of bins.

    Returns:
        `path` as a string.
    """
    values = np.concatenate([np.asarray(v, np.float64).ravel() for v in series.values()])
    marks = list((lines or {}).values())
    low, high = min(values.min(), *marks), max(values.max(), *marks)
    if log_x:
        low = max(low, 1e-6)
        edges = np.geomspace(low, max(high, low * 1.01), bins + 1)
    else:
        edges = np.linspace(low, high if high > low else low + 1, bins + 1)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, v in series.items():
        ax.hist(np.clip(np.asarray(v, np.float64).ravel(), edges[0], edges[-1]), bins=edges, alpha=0.5, label=name)
    for i, (name, x) in enumerate((lines or {}).items()):
        ax.axvline(x, linestyle="--", color=f"C{i + len(series)}", label=name)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    ax.legend()
    if title:
        ax.set_title(title)
    return save_figure(fig, path)


def grouped_bars(categories: Sequence[str], series: Mapping[str, Sequence[float]], path: str | os.PathLike, *,
                 ylabel: str, title: str = "", ylim: tuple[float, float] | None = None) -> str:
    """Bars grouped by category, one colour per series (e.g. a number per class for two models).

    Args:
        categories: the groups' names, along x.
        series: label → one value per category.
        path: the PNG to write.
        ylabel: what the values are.
        title: the plot's title.
        ylim: the y axis's range; None for matplotlib's.

    Returns:
        `path` as a string.
    """
    x = np.arange(len(categories))
    width = 0.8 / max(1, len(series))
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(categories)), 4))
    for i, (name, values) in enumerate(series.items()):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=name)
    ax.set_xticks(x, categories, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return save_figure(fig, path)
