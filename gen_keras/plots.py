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


def _per_epoch(ax) -> None:
    """An axis of per-epoch curves: epochs along x, a light grid, the legend."""
    ax.set_xlabel("epoch")
    ax.grid(True, alpha=0.3)
    ax.legend()


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
    return _save(fig, path)


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
    return _save(fig, path)


def loss_curves(history: Mapping[str, Sequence[float]], path: str | os.PathLike,
                keys: Sequence[str] = ("loss", "val_loss"), title: str = "", log_scale: bool = True,
                baselines: Mapping[str, float] | None = None) -> str:
    """Plots training (and validation) loss per epoch, with optional horizontal reference lines.

    Args:
        history: per-epoch values by key, e.g. `training.fit`'s result.
        path: the PNG to write.
        keys: the history keys to plot (missing or empty ones are skipped).
        title: the plot's title.
        log_scale: a logarithmic loss axis.
        baselines: dashed horizontal lines, label → value (e.g. a PCA baseline's test MSE).

    Returns:
        `path` as a string.
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    for key in keys:
        if history.get(key):
            values = history[key]
            ax.plot(range(1, len(values) + 1), values, marker="o", label=key)
    for i, (name, value) in enumerate((baselines or {}).items()):
        ax.axhline(value, linestyle="--", color=f"C{i + len(keys)}", label=name)
    ax.set_ylabel("loss")
    if log_scale:
        ax.set_yscale("log")
    _per_epoch(ax)
    if title:
        ax.set_title(title)
    return _save(fig, path)


def latent_scatters(panels: Sequence[tuple], labels: np.ndarray | None, path: str | os.PathLike,
                    class_names: Sequence[str] = (), title: str = "") -> str:
    """Side-by-side scatters of 2-D codes, points coloured by class; one panel per entry.

    Args:
        panels: (panel title, codes (N, 2)) pairs, or (title, codes, labels) triples whose own labels (None:
            grey points, e.g. unlabelled prior draws) replace `labels` for that panel.
        labels: class labels of the N points, integers in 0 … 9 (None: grey).
        path: the PNG to write.
        class_names: names for the colour bar's ten ticks.
        title: the figure's title.

    Returns:
        `path` as a string.
    """
    fig, axes = plt.subplots(1, len(panels), figsize=(5.6 * len(panels) + 1.5, 5), squeeze=False)
    fig.subplots_adjust(wspace=0.35)
    points = None
    for ax, (name, codes, *own) in zip(axes[0], panels):
        colours = own[0] if own else labels
        if colours is None:
            ax.scatter(codes[:, 0], codes[:, 1], color="grey", s=3, alpha=0.5)
        else:
            points = ax.scatter(codes[:, 0], codes[:, 1], c=colours, cmap="tab10", s=3, vmin=-0.5, vmax=9.5)
        ax.set_title(name)
        ax.set_xlabel("z[0]")
        ax.set_ylabel("z[1]")
        ax.grid(True, alpha=0.3)
    if points is not None:
        bar = fig.colorbar(points, ax=list(axes[0]), ticks=range(10))
        if class_names:
            bar.ax.set_yticklabels(class_names)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def gan_curves(history: Mapping[str, Sequence[float]], path: str | os.PathLike, title: str = "",
               scores: Sequence[str] = ("d_real", "d_fake"), equilibrium: float | None = 0.5) -> str:
    """Plots a GAN's training per epoch: losses, mean discriminator outputs, and the FID when logged.

    Panels: d_loss and g_loss; the `scores` (mean D(x) and D(G(z)), with the game's equilibrium value when
    D outputs probabilities); the FID (log scale) when the history has finite values of it.

    Args:
        history: per-epoch values by key (`d_loss`, `g_loss`, the `scores`, optionally `fid`).
        path: the PNG to write.
        title: the figure's title.
        scores: the history keys of the middle panel, e.g. ("d_real", "d_fake", "wasserstein") for a WGAN.
        equilibrium: a dashed line at this value (1/2 for a GAN's D); None for none (a critic).

    Returns:
        `path` as a string.
    """
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
        _per_epoch(ax)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


# Transposed convolution (recipes/transposed_convolution.py): small matrices drawn cell by cell.

import matplotlib.colors  # noqa: E402
import matplotlib.patches  # noqa: E402


def _cells(ax, values: np.ndarray, title: str = "", *, cmap: str = "RdBu_r", vmin: float | None = None,
           vmax: float | None = None, fmt: str = "{:g}", annotate: bool = True, blank_zeros: bool = False,
           shades: Sequence[tuple[np.ndarray, str]] = (), fontsize: float = 9,
           xlabels: Sequence[str] = (), ylabels: Sequence[str] = ()):
    """A small matrix as a grid of coloured cells, each value written in its cell. `shades` paints the
    cells of each boolean mask in a flat colour (zeros put there by hand: inserted, padding);
    `blank_zeros` leaves zero cells without a number. Returns the image (for a colour bar)."""
    values = np.asarray(values, np.float64)
    h, w = values.shape
    if vmax is None:
        vmax = float(np.abs(values).max()) or 1.0
    if vmin is None:
        vmin = -vmax
    image = ax.imshow(values, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    shaded = np.zeros(values.shape, bool)
    for mask, colour in shades:
        mask = np.asarray(mask, bool)
        overlay = np.zeros((h, w, 4))
        overlay[mask] = matplotlib.colors.to_rgba(colour)
        ax.imshow(overlay, interpolation="nearest")
        shaded |= mask
    ax.set_xticks(np.arange(-0.5, w, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, h, 1), minor=True)
    ax.grid(which="minor", color="0.55", linewidth=0.6)
    ax.tick_params(which="both", length=0)
    ax.set_xticks(range(w) if xlabels else [])
    ax.set_yticks(range(h) if ylabels else [])
    if xlabels:
        ax.set_xticklabels(xlabels, fontsize=7, rotation=90)
        ax.xaxis.tick_top()
    if ylabels:
        ax.set_yticklabels(ylabels, fontsize=7)
    if annotate:
        cmap_ = matplotlib.colormaps[cmap]
        for (r, c), v in np.ndenumerate(values):
            if shaded[r, c]:
                ax.text(c, r, fmt.format(v), ha="center", va="center", fontsize=fontsize, color="0.45")
            elif not (blank_zeros and v == 0):
                level = (v - vmin) / (vmax - vmin) if vmax > vmin else 0.5
                luminance = np.dot(cmap_(np.clip(level, 0, 1))[:3], (0.299, 0.587, 0.114))
                ax.text(c, r, fmt.format(v), ha="center", va="center", fontsize=fontsize,
                        color="white" if luminance < 0.5 else "black")
    if title:
        ax.set_title(title, fontsize=10)
    return image


def convolution_as_matrix(kernel: np.ndarray, matrix: np.ndarray, input_shape: Sequence[int],
                          output_shape: Sequence[int], path: str | os.PathLike, title: str = "") -> str:
    """Draws a kernel k and the matrix W of its convolution (y = W x, x flattened row-major).

    One row of W per output pixel y[i, j], holding k's weights under the input pixels x[r, c] its window covers.

    Args:
        kernel: k, (kh, kw).
        matrix: W, (Hₒ·Wₒ, H·W) (`gen_keras.convolution.convolution_matrix`).
        input_shape: (H, W) of x.
        output_shape: (Hₒ, Wₒ) of y.
        path: the PNG to write.
        title: the figure's title (a default explains W).

    Returns:
        `path` as a string.
    """
    kernel, matrix = np.asarray(kernel, np.float64), np.asarray(matrix, np.float64)
    height, width = input_shape
    out_w = output_shape[1]
    vmax = float(np.abs(kernel).max()) or 1.0
    cell = 0.5
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(cell * (kernel.shape[1] + matrix.shape[1]) + 2.5,
                       cell * max(kernel.shape[0], matrix.shape[0]) + 1.9),
        gridspec_kw={"width_ratios": [kernel.shape[1], matrix.shape[1]], "wspace": 0.25})
    _cells(left, kernel, "kernel k", vmin=-vmax, vmax=vmax, fmt="{:.1f}")
    _cells(right, matrix, f"W: {matrix.shape[0]} × {matrix.shape[1]} (blank = 0)", vmin=-vmax, vmax=vmax,
           fmt="{:.1f}", blank_zeros=True, fontsize=8,
           xlabels=[f"x[{r},{c}]" for r in range(height) for c in range(width)],
           ylabels=[f"y[{i // out_w},{i % out_w}]" for i in range(matrix.shape[0])])
    fig.suptitle(title or "y = W x: each row of W is the kernel, laid where that output's window sits on x",
                 fontsize=11)
    return _save(fig, path)


def transposed_convolution_steps(steps, path: str | os.PathLike, strides: int = 2, title: str = "") -> str:
    """Draws a transposed convolution done as a direct one, step by step.

    Panels: y′; 1. zeros inserted between pixels; 2. padded by k − 1; the kernel; 3. the kernel turned by
    180°; 4. the convolution's output.

    Args:
        steps: an object with the fields of `gen_keras.convolution.TransposedSteps` (input, dilated, padded,
            kernel, rotated_kernel, output).
        path: the PNG to write.
        strides: s, the stride the steps were made with (marks the inserted zeros).
        title: the figure's title.

    Returns:
        `path` as a string.
    """
    y, dilated, padded = (np.asarray(a, np.float64) for a in (steps.input, steps.dilated, steps.padded))
    kernel, rotated, output = (np.asarray(a, np.float64) for a in (steps.kernel, steps.rotated_kernel, steps.output))
    kh, kw = kernel.shape
    inserted_d = np.ones(dilated.shape, bool)
    inserted_d[::strides, ::strides] = False
    padding = np.ones(padded.shape, bool)
    padding[kh - 1:kh - 1 + dilated.shape[0], kw - 1:kw - 1 + dilated.shape[1]] = False
    inserted_p = np.zeros(padded.shape, bool)
    inserted_p[kh - 1:kh - 1 + dilated.shape[0], kw - 1:kw - 1 + dilated.shape[1]] = inserted_d
    inserted_colour, padding_colour = "#f6dcb4", "#dddddd"
    top = max(float(np.abs(y).max()), 1e-12)
    ktop = max(float(np.abs(kernel).max()), 1e-12)
    otop = max(float(np.abs(output).max()), 1e-12)
    panels = [
        (y, f"y′ ({y.shape[0]}×{y.shape[1]})", "Blues", top, ()),
        (dilated, f"1. insert s − 1 = {strides - 1} zero{'s' if strides > 2 else ''}\nbetween pixels "
                  f"({dilated.shape[0]}×{dilated.shape[1]})", "Blues", top, ((inserted_d, inserted_colour),)),
        (padded, f"2. pad by k − 1 = {kh - 1} on every side\n({padded.shape[0]}×{padded.shape[1]}); "
                 f"the box: first window", "Blues", top,
         ((inserted_p, inserted_colour), (padding, padding_colour))),
        (kernel, "kernel k\n(as Conv2DTranspose holds it)", "Oranges", ktop, ()),
        (rotated, "3. rotate k by 180°\nrot180(k)", "Oranges", ktop, ()),
        (output, f"4. convolve: x′ = (2) ⋆ (3)\n({output.shape[0]}×{output.shape[1]}); the box: x′[0,0]",
         "Greens", otop, ()),
    ]
    cell = 0.55
    widths = [p[0].shape[1] for p in panels]
    fig, axes = plt.subplots(1, len(panels), figsize=(cell * sum(widths) + 0.5 * len(panels),
                                                       0.75 * cell * max(p[0].shape[0] for p in panels) + 1.4),
                             gridspec_kw={"width_ratios": widths, "wspace": 0.35})
    for ax, (values, name, cmap, vmax, shades) in zip(axes, panels):
        _cells(ax, values, name, cmap=cmap, vmin=min(0.0, float(values.min())), vmax=vmax, shades=shades,
               fontsize=9 if values.size < 30 else 8)
    box = dict(fill=False, edgecolor="crimson", linewidth=2.2)
    axes[2].add_patch(matplotlib.patches.Rectangle((-0.5, -0.5), kw, kh, **box))
    axes[5].add_patch(matplotlib.patches.Rectangle((-0.5, -0.5), 1, 1, **box))
    axes[2].legend(handles=[matplotlib.patches.Patch(color=inserted_colour, label="inserted zeros"),
                            matplotlib.patches.Patch(color=padding_colour, label="padding zeros")],
                   loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=2, fontsize=9, frameon=False)
    fig.suptitle(title or f"Transposed convolution, stride {strides}, as a direct convolution", fontsize=12)
    return _save(fig, path)


def checkerboard_comparison(panels: Sequence[tuple[str, np.ndarray]], path: str | os.PathLike, border: int = 2,
                            title: str = "", annotate: bool = True, fmt: str = "{:.3g}") -> str:
    """Draws up-sampled images side by side and their middle rows, to show a checkerboard pattern.

    Each image (H, W) gets its own colour scale, with the interior the checkerboard ratio reads boxed
    (`border` pixels in, cut to an even size); a last panel plots each image's middle row divided by its
    interior mean: a flat line has no pattern, a zig-zag is the checkerboard.

    Args:
        panels: (name, image (H, W)) pairs.
        path: the PNG to write.
        border: pixels left out on each side.
        title: the figure's title.
        annotate: write each pixel's value in its cell (else a colour bar).
        fmt: the format of those values.

    Returns:
        `path` as a string.
    """
    fig, axes = plt.subplots(1, len(panels) + 1, figsize=(4.6 * (len(panels) + 1), 5.0),
                             gridspec_kw={"width_ratios": [1] * len(panels) + [1.2],
                                          "wspace": 0.3 if annotate else 0.45})
    for i, (ax, (name, image)) in enumerate(zip(axes, panels)):
        image = np.asarray(image, np.float64)
        h, w = image.shape
        lo, hi = float(image.min()), float(image.max())
        shown = _cells(ax, image, name, cmap="viridis", vmin=lo, vmax=hi if hi > lo else lo + 1, fmt=fmt,
                       annotate=annotate, fontsize=6.5)
        if not annotate:
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
        ih, iw = h - 2 * border, w - 2 * border
        ih, iw = ih - ih % 2, iw - iw % 2
        ax.add_patch(matplotlib.patches.Rectangle((border - 0.5, border - 0.5), iw, ih, fill=False,
                                                  edgecolor="red", linestyle="--", linewidth=2.4))
        row = h // 2
        interior = image[border:border + ih, border:border + iw]
        mean = float(interior.mean()) if interior.size and interior.mean() != 0 else 1.0
        axes[-1].plot(range(w), image[row] / mean, marker="o", markersize=4, label=name.split("\n")[0],
                      color=f"C{i}")
    axes[-1].axvspan(-0.5, border - 0.5, color="grey", alpha=0.15, label="border (not measured)")
    axes[-1].axvspan(w - border - 0.5, w - 0.5, color="grey", alpha=0.15)
    axes[-1].set_xlabel("column")
    axes[-1].set_ylabel("middle row ÷ interior mean")
    axes[-1].set_title(f"row {h // 2}, through the middle", fontsize=10)
    axes[-1].grid(True, alpha=0.3)
    axes[-1].legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False)
    if title:
        fig.suptitle(title, fontsize=12)
    return _save(fig, path)


# --- Probability lectures: Bayesian linear regression (PRML §3.3) and divergences -------------------------


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
    extent = (w0[0], w0[-1], w1[0], w1[-1])
    fig, axes = plt.subplots(len(counts), 3, figsize=(11.5, 3.5 * len(counts)), squeeze=False)
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
    return _save(fig, path)


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
    columns = 2 if len(counts) > 1 else 1
    rows = -(-len(counts) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6.2 * columns, 4.2 * rows), squeeze=False)
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
    return _save(fig, path)


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
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5), gridspec_kw={"width_ratios": (1.25, 1)})
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
    return _save(fig, path)


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
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
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
    return _save(fig, path)


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


# PCA vs autoencoders (recipes/pca_vs_autoencoder.py): directions in image space, and decoded grids side by side.

import matplotlib.gridspec  # noqa: E402


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
    return _save(fig, path)


def subspace_directions(cosines: np.ndarray, rows: Sequence[tuple[str, np.ndarray]], image_shape: Sequence[int],
                        path: str | os.PathLike, title: str = "", *, threshold: float | None = 0.99) -> str:
    """Two subspaces of image space compared. Left: the cosines of their principal angles, largest first
    (all 1 when the subspaces are equal). Right: rows of directions drawn as images, e.g. a linear
    autoencoder's decoder rows, the principal components, and the former rotated onto the latter.

    Each direction has its own colour scale, symmetric about 0 (red positive, blue negative): a direction's
    sign and length carry no meaning, only its pattern does.

    Args:
        cosines: cos θ_1 ≥ … ≥ cos θ_p (`gen_keras.linear.principal_angle_cosines`).
        rows: (label, directions) pairs, directions (n, d) with d = prod(image_shape); the first n drawn.
        image_shape: the images' (H, W) or (H, W, 1).
        path: the PNG to write.
        title: the figure's title.
        threshold: a dashed reference line on the cosines (None: none).

    Returns:
        `path` as a string.
    """
    cosines = np.asarray(cosines, np.float64)
    h, w = int(image_shape[0]), int(image_shape[1])
    n = max(len(directions) for _, directions in rows)
    fig = plt.figure(figsize=(4.2 + 1.05 * n, 0.3 + 1.2 * len(rows)))
    grid = matplotlib.gridspec.GridSpec(len(rows), n + 1, figure=fig, width_ratios=[3.6] + [1.0] * n,
                                        wspace=0.08, hspace=0.25)
    left = fig.add_subplot(grid[:, 0])
    k = np.arange(1, len(cosines) + 1)
    left.plot(k, cosines, marker="o", markersize=3, color="C0", label="cos θ_i")
    if threshold is not None:
        left.axhline(threshold, linestyle="--", color="grey", label=f"{threshold:g}")
    low = float(min(cosines.min(), threshold if threshold is not None else 1.0))
    left.set_ylim(low - 0.05 * max(1.0 - low, 1e-3), 1.0 + 0.05 * max(1.0 - low, 1e-3))
    left.set_xlabel("principal angle i (largest cosine first)")
    left.set_ylabel("cos θ_i")
    left.set_title(f"{len(cosines)} principal angles: smallest cosine {cosines.min():.4f}", fontsize=10)
    left.grid(True, alpha=0.3)
    left.legend(fontsize=8, loc="lower left")
    for r, (label, directions) in enumerate(rows):
        directions = np.asarray(directions, np.float64)
        for j in range(n):
            ax = fig.add_subplot(grid[r, j + 1])
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(directions):
                image = directions[j].reshape(h, w)
                top = float(np.abs(image).max()) or 1.0
                ax.imshow(image, cmap="RdBu_r", vmin=-top, vmax=top, interpolation="nearest")
            else:
                ax.axis("off")
            if j == 0:
                ax.set_ylabel(label, fontsize=9)
            if r == 0:
                ax.set_title(str(j + 1), fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def marginal_likelihood_estimates(curves: Mapping[str, Sequence[float]], path: str | os.PathLike) -> str:
    """Two Monte Carlo estimates of log p(x) against the number of samples K (log axis).

    Naive: log (1/K) Σ p(x|z_k), z_k ~ p(z); importance sampling: log (1/K) Σ p(x|z_k) p(z_k)/q(z_k|x),
    z_k ~ q(z|x). Both are means over the same test images, nats per image.

    Args:
        curves: `{"samples": [K, …], "prior": [...], "importance": [...]}` (as
            `gen_keras.models.vae.marginal_likelihood_by_samples` returns), optionally with `images`.
        path: the PNG to write.

    Returns:
        `path` as a string.
    """
    fig, ax = plt.subplots(figsize=(6.5, 4))
    k = curves["samples"]
    ax.plot(k, curves["importance"], "o-", label="importance sampling, z ~ q(z|x)")
    ax.plot(k, curves["prior"], "s-", label="naive Monte Carlo, z ~ p(z)")
    ax.set_xscale("log")
    ax.set_xlabel("samples K per image")
    ax.set_ylabel("estimate of log p(x) (nats/image)")
    images = f" on {curves['images']} test images" if "images" in curves else ""
    ax.set_title(f"log (1/K) Σ_k w_k{images}")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


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
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
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
    return _save(fig, path)


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
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.fill_between(x, p_data, color="C0", alpha=0.25, label="p_data(x)")
    ax.fill_between(x, p_g, color="C1", alpha=0.25, label="p_g(x)")
    ax.plot(x, d_formula, "k-", linewidth=2, label="D*(x) = p_data / (p_data + p_g)")
    ax.plot(x, d_learned, "C3--", linewidth=2, label="trained discriminator D(x)")
    ax.set_xlabel("x")
    ax.set_ylim(0, 1.05)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title)
    return _save(fig, path)


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
    fig, ax = plt.subplots(figsize=(9, 4.5))
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
    return _save(fig, path)


def nll_per_step(losses: Sequence[float], path: str | os.PathLike, *, steps_per_epoch: int = 0,
                 validation: Sequence[float] | None = None, title: str = "") -> str:
    """The training NLL of every step (light), its moving average over 50 steps, and the validation NLL
    at each epoch's last step, on a logarithmic axis.

    Args:
        losses: one training loss per step (e.g. `callbacks.StepLosses.losses`).
        path: the PNG to write.
        steps_per_epoch: steps in an epoch, to place the validation points (0: no validation points).
        validation: one validation loss per epoch.
        title: the plot's title.

    Returns:
        `path` as a string.
    """
    losses = np.asarray(losses, np.float64)
    steps = np.arange(1, len(losses) + 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(steps, losses, color="C0", alpha=0.25, linewidth=0.8, label="training, per step")
    window = min(50, len(losses))
    if window > 1:
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1:], smooth, color="C0", label=f"training, mean of {window} steps")
    if validation and steps_per_epoch:
        ax.plot(steps_per_epoch * np.arange(1, len(validation) + 1), validation, "o-", color="C1",
                label="validation")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("nats per image")
    ax.grid(True, alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return _save(fig, path)


def flow_2d(scatters: Sequence[tuple[str, np.ndarray]], density: tuple[np.ndarray, np.ndarray, np.ndarray],
            path: str | os.PathLike, title: str = "") -> str:
    """A 2-D flow at a glance: point clouds (data, samples, data mapped to z, a Gaussian) beside the learned
    density as a heat map.

    Args:
        scatters: (panel title, (N, 2) points) pairs, one panel each.
        density: (xs, ys, p) with p of shape (len(ys), len(xs)): the density on a grid.
        path: the PNG to write.
        title: the figure's title.

    Returns:
        `path` as a string.
    """
    n = len(scatters) + 1
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.2 * rows), squeeze=False)
    flat = list(axes.ravel())
    for i, (ax, (name, points)) in enumerate(zip(flat, scatters)):
        ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.5, color=f"C{i}")
        ax.set_title(name, fontsize=10)
        ax.set_aspect("equal", adjustable="datalim")
    xs, ys, p = density
    ax = flat[len(scatters)]
    mesh = ax.pcolormesh(xs, ys, p, shading="auto", cmap="viridis")
    fig.colorbar(mesh, ax=ax, fraction=0.046)
    ax.set_title("learned density p(x)", fontsize=10)
    ax.set_aspect("equal")
    for ax in flat[n:]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def curves_per_step(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], path: str | os.PathLike,
                    ylabel: str, baselines: Mapping[str, float] | None = None, title: str = "", *,
                    xlabel: str = "training step", log_y: bool = False) -> str:
    """Curves against the training step, with dashed reference lines (e.g. a baseline's value).

    Args:
        curves: label → (steps, values), e.g. several GAN runs' FID against their generator steps.
        path: the PNG to write.
        ylabel: the y axis's label, e.g. "bits/dim".
        baselines: label → value, drawn as dashed horizontal lines.
        title: the plot's title.
        xlabel: the x axis's label, e.g. "generator steps".
        log_y: a logarithmic y axis (for values that fall by orders of magnitude, such as the FID).

    Returns:
        `path` as a string.
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, (steps, values) in curves.items():
        ax.plot(steps, values, marker="." if len(steps) < 60 else None, label=label)
    for i, (name, value) in enumerate((baselines or {}).items()):
        ax.axhline(value, linestyle="--", color=f"C{i + len(curves)}", label=name)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both" if log_y else "major", alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return _save(fig, path)


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
    return _save(fig, path)


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
    return _save(fig, path)


def curves(x: Sequence[float], series: Mapping[str, Sequence[float]], path: str | os.PathLike, *, xlabel: str,
           ylabel: str, title: str = "") -> str:
    """Several curves over the same x values, with markers; series i and i + 1 share a colour (solid, dashed).

    Args:
        x: the x values.
        series: label → one y value per x.
        path: the PNG to write.
        xlabel: what x is.
        ylabel: what y is.
        title: the plot's title.

    Returns:
        `path` as a string.
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (name, y) in enumerate(series.items()):
        ax.plot(x, y, marker="o", linestyle="-" if i % 2 == 0 else "--", color=f"C{i // 2}", label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    return _save(fig, path)


def class_shares_over_steps(runs: Mapping[str, tuple[Sequence[float], np.ndarray]], path: str | os.PathLike,
                            class_names: Sequence[str] = (), title: str = "") -> str:
    """Stacked class shares of each run's samples against its generator steps, one panel per run: a healthy
    run keeps ten bands of about a tenth, a collapsing one lets a few bands swallow the rest.

    Args:
        runs: run label → (generator steps (E,), class counts per measured epoch (E, K)).
        path: the PNG to write.
        class_names: the K classes' names for the legend.
        title: the figure's title.

    Returns:
        `path` as a string.
    """
    fig, axes = plt.subplots(1, len(runs), figsize=(5.5 * len(runs) + 2, 4), squeeze=False, sharey=True)
    for ax, (name, (steps, counts)) in zip(axes[0], runs.items()):
        counts = np.asarray(counts, np.float64)
        shares = counts / counts.sum(axis=1, keepdims=True)
        labels = list(class_names) or [str(k) for k in range(shares.shape[1])]
        ax.stackplot(steps, shares.T, labels=labels, colors=plt.cm.tab10(np.arange(shares.shape[1]) % 10))
        ax.set_title(name)
        ax.set_xlabel("generator steps")
        ax.set_ylim(0, 1)
    axes[0][0].set_ylabel("share of 1,000 samples by predicted class")
    axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)
