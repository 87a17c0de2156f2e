"""Transposed convolution is the transpose of the convolution's matrix; the checkerboard it can leave.

The lecture: a convolution is linear, so on a single-channel image x (H × W pixels, flattened row-major)
it is a matrix product
    y = W x,   W[(i, j), (i·s + a, j·s + b)] = k[a, b]   (Keras's Conv2D is a cross-correlation)
one row per output pixel, holding the kernel where that pixel's window lies: a 3×3 kernel on a 4×4 image
(stride 1, no padding) gives a 2×2 output and a 4 × 16 matrix W. Running the matrix backwards,
    x′ = Wᵀ y′            (2×2 → 4×4),
is the transposed convolution, keras.layers.Conv2DTranspose with the same kernel. It is a direct
convolution too: pad y′ with k − 1 = 2 zeros on every side and convolve with the kernel turned by 180°,
    x′ = pad₂(y′) ⋆ rot180(k).
With stride s it up-samples; the lecture's 2×2 → 5×5 (s = 2, k = 3) in four steps: 1. insert s − 1 zeros
between pixels (3×3), 2. pad by k − 1 (7×7), 3. rotate the kernel, 4. convolve (5×5).
Because the k×k footprints written every s pixels overlap unevenly when s does not divide k, a
transposed convolution with k = 3, s = 2 turns a constant image into a period-2 checkerboard (Odena,
Dumoulin and Olah, "Deconvolution and checkerboard artifacts", 2016); resizing first and then convolving
with stride 1 does not. The pattern's size is measured as
    ratio = √(a² + b² + c²) / |μ|,  x = μ + a(−1)^row + b(−1)^col + c(−1)^(row+col) + …
(the Nyquist-frequency amplitudes over the mean, on the image's interior; gen_keras.convolution).

    python recipes/transposed_convolution.py                 # no training
    python recipes/transposed_convolution.py --decoder saved_models/conv_autoencoder/decoder/1/decoder.keras
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gen_keras import cli

RECIPE = "transposed_convolution"
BORDER = 2  # pixels on each side the checkerboard ratio ignores (zero padding bends them)


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=f"runs/{RECIPE}",
                        help="folder for the figures and metrics.json (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the random kernels and images (default: %(default)s)")
    parser.add_argument("--decoder", default=None, metavar="PATH",
                        help="a trained conv autoencoder decoder (.keras file, or the export version folder "
                             "holding it, e.g. saved_models/conv_autoencoder/decoder/1/decoder.keras) whose "
                             "first Conv2DTranspose is checked for the checkerboard; skipped if not given")
    return parser.parse_args(argv)


def keras_layer(layer_class, kernel, strides, padding, input_shape):
    """A one-channel Conv2D / Conv2DTranspose (no bias) holding `kernel`, built for an (H, W) input."""
    layer = layer_class(1, kernel.shape, strides=strides, padding=padding, use_bias=False)
    layer.build((1, *input_shape, 1))
    layer.set_weights([kernel[:, :, None, None]])
    return layer


def run_image(layer, image):
    """Applies a layer to one (H, W) image: (1, H, W, 1) in, (H, W) out."""
    return np.asarray(layer(image[None, :, :, None]))[0, :, :, 0]


def first_transposed_convolution(model):
    """The first Conv2DTranspose layer of a model, looking inside nested models; None if it has none."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2DTranspose):
            return layer
        if isinstance(layer, keras.Model):
            found = first_transposed_convolution(layer)
            if found is not None:
                return found
    return None


def decoder_checkerboard(path: str | None, out: Path, seed: int) -> dict | None:
    """The checkerboard ratio of a trained decoder's first Conv2DTranspose on a constant input of ones,
    against a freshly initialised (Glorot) copy of the layer; None, said in one line, when there is none."""
    if path is None:
        print("decoder: no --decoder given; skipped (train one with recipes/conv_autoencoder.py)")
        return None
    path = Path(path)
    if path.is_dir():
        candidates = sorted(path.glob("*.keras"))
        path = candidates[0] if candidates else path / "decoder.keras"
    if not path.is_file():
        print(f"decoder: {path} does not exist; skipped (train one with recipes/conv_autoencoder.py)")
        return None

    import keras

    from gen_keras import convolution
    from gen_keras.errors import GenKerasError

    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as e:  # a truncated or foreign file: say which, without a traceback
        raise GenKerasError(f"cannot load the decoder {path} ({type(e).__name__}: {e}); "
                            "pass a .keras file written by recipes/conv_autoencoder.py") from e
    layer = first_transposed_convolution(model)
    if layer is None:
        print(f"decoder: {path} has no Conv2DTranspose layer (the 'improved' decoder is dense); skipped")
        return None

    # Probe: a constant input of ones (the lecture decoder's 7×7 code image when the code is all ones).
    ones = np.ones((1, *layer.input.shape[1:]), np.float32)
    trained = np.asarray(layer(ones))[0]  # (2H, 2W, channels): kernel, bias and activation as trained
    keras.utils.set_random_seed(seed)
    fresh = layer.__class__.from_config(layer.get_config())
    fresh.build(ones.shape)
    untrained = np.asarray(fresh(ones))[0]

    def summary(maps):
        per_channel = [convolution.checkerboard_ratio(maps[..., c], BORDER) for c in range(maps.shape[-1])]
        live = [r for r in per_channel if np.isfinite(r)]
        return {"ratio": convolution.checkerboard_ratio(maps, BORDER),
                "median_channel_ratio": float(np.median(live)) if live else float("nan"),
                "dead_channels": int(sum(not np.any(maps[..., c]) for c in range(maps.shape[-1]))),
                "busiest_channel": int(np.argmax(maps.mean(axis=(0, 1))))}

    result = {"path": str(path), "layer": layer.name, "kernel_size": list(layer.kernel_size),
              "strides": list(layer.strides), "padding": layer.padding, "input_shape": list(ones.shape[1:]),
              "output_shape": list(trained.shape), "saved": summary(trained),
              "freshly_initialised": summary(untrained)}
    t, u = result["saved"], result["freshly_initialised"]
    print(f"decoder: {layer.name} ({layer.kernel_size[0]}×{layer.kernel_size[1]}, stride {layer.strides[0]}) "
          f"on a constant input of ones: checkerboard ratio {t['ratio']:.3f} (median channel "
          f"{t['median_channel_ratio']:.3f}, {t['dead_channels']} dead channels); a freshly initialised "
          f"copy of the layer: {u['ratio']:.3f}")
    panels = [(f"{path.name}, channel {t['busiest_channel']}\n(all channels: ratio {t['ratio']:.3f})",
               trained[..., t["busiest_channel"]]),
              (f"freshly initialised, channel {u['busiest_channel']}\n(all channels: ratio {u['ratio']:.3f})",
               untrained[..., u["busiest_channel"]])]
    checkerboard_comparison(panels, out / "decoder_checkerboard.png", border=BORDER, annotate=False,
                            title=f"{path.name}: {layer.name} on a constant input of ones "
                                  "(the channel with the largest mean)")
    return result


def main(argv=None) -> dict:
    args = parse(argv)
    import keras

    from gen_keras import convolution

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    np.set_printoptions(precision=3, suppress=True, linewidth=120)
    Conv2D, Conv2DTranspose = keras.layers.Conv2D, keras.layers.Conv2DTranspose
    results = {"seed": args.seed}

    # 1. The convolution as a matrix: a 3×3 kernel on a 4×4 image, stride 1, "valid" → y is 2×2, W is 4 × 16.
    kernel = rng.normal(size=(3, 3)).round(1).astype(np.float32)
    x = rng.normal(size=(4, 4)).astype(np.float32)
    W = convolution.convolution_matrix(kernel, x.shape)  # W[(i, j), (i + a, j + b)] = k[a, b]
    print(f"kernel k (3×3):\n{kernel}")
    names = [f"x{r}{c}" for r in range(4) for c in range(4)]
    print(f"\nW ({W.shape[0]} × {W.shape[1]}): row (i, j) = k laid over y[i, j]'s window on x "
          f"(x flattened row-major; · = 0)")
    print("       " + "".join(f"{n:>6}" for n in names))
    for row, values in enumerate(W):
        cells = "".join(f"{v:6.1f}" if v else f"{'·':>6}" for v in values)
        print(f"y[{row // 2},{row % 2}]" + " " + cells)

    y = (W @ x.reshape(-1)).reshape(2, 2)  # y = W x
    y_keras = run_image(keras_layer(Conv2D, kernel, 1, "valid", x.shape), x)
    y_prime = rng.normal(size=(2, 2)).astype(np.float32)  # a 2×2 gradient / code to run backwards
    x_prime = (W.T @ y_prime.reshape(-1)).reshape(4, 4)  # x′ = Wᵀ y′
    x_keras = run_image(keras_layer(Conv2DTranspose, kernel, 1, "valid", y_prime.shape), y_prime)
    x_direct = convolution.transposed_as_direct_convolution(y_prime, kernel)  # pad₂(y′) ⋆ rot180(k)
    errors = {"Wx_vs_Conv2D": float(np.abs(y - y_keras).max()),
              "WTy_vs_Conv2DTranspose": float(np.abs(x_prime - x_keras).max()),
              "rotated_kernel_direct_vs_Conv2DTranspose": float(np.abs(x_direct - x_keras).max())}
    print()
    for text, error in zip(("y = W x vs Conv2D(x)", "x′ = Wᵀ y′ vs Conv2DTranspose(y′)",
                            "pad₂(y′) ⋆ rot180(k) vs Conv2DTranspose(y′)"), errors.values()):
        print(f"{text:<46} max |error| {error:.2e}")
    print(f"x′ = Wᵀ y′ (4×4):\n{x_prime}")
    results.update({"kernel": kernel.tolist(), "x": x.tolist(), "W_shape": list(W.shape), "W": W.tolist(),
                    "y": y.tolist(), "y_prime": y_prime.tolist(), "x_prime": x_prime.tolist(),
                    "max_abs_error": errors})
    convolution_as_matrix(kernel, W, x.shape, y.shape, out / "convolution_matrix.png",
                          title="y = W x for a 3×3 kernel on a 4×4 image: W is 4 × 16; "
                                "the transposed convolution is x′ = Wᵀ y′")

    # 2. Stride 2: the lecture's 2×2 → 5×5 up-sampling in four steps (small integers, to check by hand).
    small = (rng.permutation(4) + 1).reshape(2, 2).astype(np.float32)  # 1…4, each pixel told apart
    digits = (rng.permutation(9) + 1).reshape(3, 3).astype(np.float32)  # 1…9: the rotation is easy to see
    steps = convolution.transposed_convolution_steps(small, digits, strides=2)
    up_keras = run_image(keras_layer(Conv2DTranspose, digits, 2, "valid", small.shape), small)
    up_matrix = convolution.transposed_convolution(small, digits, strides=2)  # Wᵀ y′, W: 5×5 → 2×2, 4 × 25
    for name, value in (("y′ (2×2)", steps.input), ("1. zeros inserted between pixels (3×3)", steps.dilated),
                        ("2. padded by k − 1 = 2 (7×7)", steps.padded), ("kernel k", steps.kernel),
                        ("3. rot180(k)", steps.rotated_kernel), ("4. padded ⋆ rot180(k) (5×5)", steps.output)):
        print(f"\n{name}:\n{value.astype(int)}")
    stride2 = {"Conv2DTranspose": float(np.abs(steps.output - up_keras).max()),
               "WT": float(np.abs(steps.output - up_matrix).max())}
    print(f"four steps vs Conv2DTranspose(k, strides=2): max |error| {stride2['Conv2DTranspose']:.2e}; "
          f"vs Wᵀ y′ (W: {convolution.convolution_matrix(digits, (5, 5), 2).shape[0]} × 25): "
          f"{stride2['WT']:.2e}")
    results["stride2_example"] = {**{f: getattr(steps, f).tolist() for f in steps._fields},
                                  "max_abs_error": stride2}
    transposed_steps_figure(steps, out / "transposed_convolution_steps.png", strides=2,
                            title="Conv2DTranspose(k, strides=2) on a 2×2 input: 2×2 → 5×5 "
                                  "as a direct convolution, in four steps")

    # 3. The checkerboard: a constant 6×6 image up-sampled ×2, kernel of ones, padding "same", two ways.
    experiment = convolution.checkerboard_experiment(image_size=6, kernel_size=3, stride=2)
    ones_kernel = experiment.kernel
    transposed = run_image(keras_layer(Conv2DTranspose, ones_kernel, 2, "same", (6, 6)), experiment.image)
    ratios = {"transposed": convolution.checkerboard_ratio(transposed, BORDER)}  # √(a² + b² + c²) / |μ|
    resize_conv = {}
    for interpolation in ("nearest", "bilinear"):
        resized = np.asarray(keras.layers.UpSampling2D(2, interpolation=interpolation)(
            experiment.image[None, :, :, None]))[0, :, :, 0]
        resize_conv[interpolation] = run_image(keras_layer(Conv2D, ones_kernel, 1, "same", resized.shape), resized)
        ratios[f"resize_{interpolation}_conv"] = convolution.checkerboard_ratio(resize_conv[interpolation], BORDER)
    library_error = max(float(np.abs(transposed - experiment.transposed).max()),
                        float(np.abs(resize_conv["nearest"] - experiment.resize_conv).max()))
    interior = transposed[BORDER:-BORDER, BORDER:-BORDER]
    print(f"\ncheckerboard: a constant 6×6 image of ones, up-sampled ×2 with a 3×3 kernel of ones "
          f"(padding 'same'); interior = {BORDER} pixels in from each side")
    print(f"Conv2DTranspose(strides=2): interior values {sorted(set(interior.ravel().tolist()))} "
          f"(tile [[4, 2], [2, 1]]), checkerboard ratio {ratios['transposed']:.3f}")
    print(f"UpSampling2D(nearest) + Conv2D: checkerboard ratio {ratios['resize_nearest_conv']:.3f}; "
          f"UpSampling2D(bilinear) + Conv2D: {ratios['resize_bilinear_conv']:.3f}")
    print(f"(gen_keras.convolution's numpy versions agree with the Keras layers: max |error| {library_error:.2e})")
    results["checkerboard"] = {
        "image_size": 6, "kernel": "3×3 ones", "stride": 2, "padding": "same", "border": BORDER,
        "ratio": ratios, "transposed": transposed.tolist(), "resize_nearest_conv": resize_conv["nearest"].tolist(),
        "interior_values_transposed": sorted(set(interior.ravel().tolist())),
        "library_vs_keras_max_abs_error": library_error}
    checkerboard_comparison(
        [(f"Conv2DTranspose(3, strides=2)\ncheckerboard ratio {ratios['transposed']:.3f}", transposed),
         (f"UpSampling2D(2) + Conv2D(3)\ncheckerboard ratio {ratios['resize_nearest_conv']:.3f}",
          resize_conv["nearest"])],
        out / "checkerboard.png", border=BORDER,
        title="A constant 6×6 image of ones up-sampled to 12×12 with a 3×3 kernel of ones "
              "(dashed: the interior measured)")

    # 4. Optional: the same measurement on a trained decoder's first transposed convolution.
    results["decoder"] = decoder_checkerboard(args.decoder, out, args.seed)

    (out / "metrics.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(f"\nfigures and metrics.json in {out}/")
    return results


# --- Figures: small matrices drawn cell by cell --------------------------------------------------------


def _cells(ax, values: np.ndarray, title: str = "", *, cmap: str = "RdBu_r", vmin: float | None = None,
           vmax: float | None = None, fmt: str = "{:g}", annotate: bool = True, blank_zeros: bool = False,
           shades: Sequence[tuple[np.ndarray, str]] = (), fontsize: float = 9,
           xlabels: Sequence[str] = (), ylabels: Sequence[str] = ()):
    """A small matrix as a grid of coloured cells, each value written in its cell. `shades` paints the
    cells of each boolean mask in a flat colour (zeros put there by hand: inserted, padding);
    `blank_zeros` leaves zero cells without a number. Returns the image (for a colour bar)."""
    import matplotlib.colors

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
    from gen_keras import plots

    kernel, matrix = np.asarray(kernel, np.float64), np.asarray(matrix, np.float64)
    height, width = input_shape
    out_w = output_shape[1]
    vmax = float(np.abs(kernel).max()) or 1.0
    cell = 0.5
    fig, (left, right) = plots.plt.subplots(
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
    return plots.save_figure(fig, path)


def transposed_steps_figure(steps, path: str | os.PathLike, strides: int = 2, title: str = "") -> str:
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
    import matplotlib.patches

    from gen_keras import plots

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
    fig, axes = plots.plt.subplots(1, len(panels), figsize=(cell * sum(widths) + 0.5 * len(panels),
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
    return plots.save_figure(fig, path)


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
    import matplotlib.patches

    from gen_keras import plots

    fig, axes = plots.plt.subplots(1, len(panels) + 1, figsize=(4.6 * (len(panels) + 1), 5.0),
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
    return plots.save_figure(fig, path)


if __name__ == "__main__":
    cli.run(main)
