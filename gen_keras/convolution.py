"""Convolution as a matrix, and transposed convolution as that matrix's transpose (numpy only, no TensorFlow).

A convolution is linear, so for a single-channel image x of H × W pixels, flattened row-major into a vector
of length H·W, it is a matrix product
    y = W x,   W[(i, j), (i·s + a − p_top, j·s + b − p_left)] = k[a, b]
(one row per output pixel (i, j), holding the kernel's weights where that pixel's window lies). Keras's
`Conv2D` is a cross-correlation, y[i, j] = Σ_a Σ_b k[a, b] · x_padded[i·s + a, j·s + b], and so is W here.
The transposed convolution (`keras.layers.Conv2DTranspose`, the gradient of `Conv2D` with respect to its
input) runs the same matrix backwards,
    x′ = Wᵀ y′,
and is a direct convolution too: insert s − 1 zeros between the pixels of y′, pad by k − 1 on every side,
and cross-correlate with the kernel turned by 180°:
    x′ = pad_{k−1}(dilate_s(y′)) ⋆ rot180(k).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

PADDINGS = ("valid", "same")


def _pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in pair):
        raise ValueError(f"{name} must be a whole number ≥ 1 or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def _kernel(kernel: np.ndarray) -> np.ndarray:
    kernel = np.asarray(kernel)
    if kernel.ndim == 4 and kernel.shape[2:] == (1, 1):  # Keras's (kh, kw, in, out) layout, one channel
        kernel = kernel[:, :, 0, 0]
    if kernel.ndim != 2:
        raise ValueError(f"expected a 2-D kernel (kh, kw), got shape {kernel.shape}")
    return kernel.astype(np.result_type(kernel, np.float32))


def _padding(padding: str) -> str:
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}")
    return padding


def output_length(input_length: int, kernel_size: int, stride: int = 1, padding: str = "valid") -> int:
    """Length of one axis of `Conv2D`'s output, as Keras computes it.

    Formula: valid: ⌊(n − k) / s⌋ + 1;  same: ⌈n / s⌉.

    Args:
        input_length: n, the input's length along the axis.
        kernel_size: k.
        stride: s.
        padding: "valid" (no padding) or "same".

    Returns:
        The output's length along the axis.
    """
    if _padding(padding) == "same":
        return -(-input_length // stride)
    if input_length < kernel_size:
        raise ValueError(f"a 'valid' convolution needs an input of at least the kernel's size "
                         f"({kernel_size}), got {input_length}")
    return (input_length - kernel_size) // stride + 1


def same_padding(input_length: int, kernel_size: int, stride: int = 1) -> tuple[int, int]:
    """The zeros `padding="same"` adds before and after one axis (TensorFlow's rule, which Keras uses).

    Formula: m = ⌈n / s⌉, total = max((m − 1)·s + k − n, 0), before = ⌊total / 2⌋, after = total − before:
    an odd total puts the extra zero after (below, right of) the image.

    Args:
        input_length: n, the input's length along the axis.
        kernel_size: k.
        stride: s.

    Returns:
        (before, after).
    """
    total = max((-(-input_length // stride) - 1) * stride + kernel_size - input_length, 0)
    return total // 2, total - total // 2


def transposed_output_length(input_length: int, kernel_size: int, stride: int = 1,
                             padding: str = "valid") -> int:
    """Length of one axis of `Conv2DTranspose`'s output, as Keras computes it (no `output_padding`).

    Formula: valid: n·s + max(k − s, 0) (= (n − 1)·s + k when k ≥ s);  same: n·s.
    A `Conv2D` with the same kernel, stride and padding maps this length back to n.

    Args:
        input_length: n, the transposed convolution's input length along the axis.
        kernel_size: k.
        stride: s.
        padding: "valid" or "same".

    Returns:
        The output's length along the axis.
    """
    if _padding(padding) == "same":
        return input_length * stride
    return input_length * stride + max(kernel_size - stride, 0)


def convolution_matrix(kernel: np.ndarray, input_shape: Sequence[int], strides: int | Sequence[int] = 1,
                       padding: str = "valid") -> np.ndarray:
    """The matrix W of a single-channel `keras.layers.Conv2D` (no bias): y = W x for row-major flattening.

    Formula: W[i·Wₒ + j, r·W + c] = k[a, b] where r = i·s_h + a − p_top and c = j·s_w + b − p_left lie
    inside the H × W image (a window's taps on the zero padding drop out); every other entry is 0.
    For a 3×3 kernel on a 4×4 image, stride 1, "valid": W is 4 × 16.

    Args:
        kernel: the kernel k, shape (kh, kw) (or Keras's (kh, kw, 1, 1)).
        input_shape: (H, W) of the input image.
        strides: s, an int or (s_h, s_w).
        padding: "valid" or "same" (as Keras defines them, see `same_padding`).

    Returns:
        W, shape (Hₒ·Wₒ, H·W), in the kernel's float dtype (at least float32).
    """
    kernel = _kernel(kernel)
    (kh, kw), (sh, sw) = kernel.shape, _pair(strides, "strides")
    height, width = (int(n) for n in input_shape)
    out_h, out_w = output_length(height, kh, sh, padding), output_length(width, kw, sw, padding)
    top = same_padding(height, kh, sh)[0] if padding == "same" else 0
    left = same_padding(width, kw, sw)[0] if padding == "same" else 0
    matrix = np.zeros((out_h * out_w, height * width), kernel.dtype)
    for i in range(out_h):
        for j in range(out_w):
            for a in range(kh):
                r = i * sh + a - top
                if not 0 <= r < height:
                    continue
                for b in range(kw):
                    c = j * sw + b - left
                    if 0 <= c < width:
                        matrix[i * out_w + j, r * width + c] = kernel[a, b]
    return matrix


def conv2d(x: np.ndarray, kernel: np.ndarray, strides: int | Sequence[int] = 1,
           padding: str = "valid") -> np.ndarray:
    """A single-channel `keras.layers.Conv2D` (no bias), computed directly: a cross-correlation.

    Formula: y[i, j] = Σ_a Σ_b k[a, b] · x_padded[i·s_h + a, j·s_w + b], x_padded = x with
    `same_padding` zeros ("same") or as it is ("valid").

    Args:
        x: the image, shape (H, W).
        kernel: k, shape (kh, kw).
        strides: s, an int or (s_h, s_w).
        padding: "valid" or "same".

    Returns:
        y, shape (Hₒ, Wₒ).
    """
    kernel, x = _kernel(kernel), np.asarray(x)
    (kh, kw), (sh, sw) = kernel.shape, _pair(strides, "strides")
    if _padding(padding) == "same":
        x = np.pad(x, (same_padding(x.shape[0], kh, sh), same_padding(x.shape[1], kw, sw)))
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw))[::sh, ::sw]
    return np.einsum("ijab,ab->ij", windows, kernel)


def transposed_convolution(y: np.ndarray, kernel: np.ndarray, strides: int | Sequence[int] = 1,
                           padding: str = "valid", output_shape: Sequence[int] | None = None) -> np.ndarray:
    """The transposed convolution through the convolution's matrix: x′ = Wᵀ y′.

    Formula: x′ = Wᵀ y′, with W = `convolution_matrix(kernel, output_shape, strides, padding)`, the
    convolution that maps an `output_shape` image to y′'s shape. This is `keras.layers.Conv2DTranspose`
    with the same kernel (not rotated), stride and padding.

    Args:
        y: y′, shape (h, w).
        kernel: k, shape (kh, kw).
        strides: s, an int or (s_h, s_w).
        padding: "valid" or "same".
        output_shape: x′'s (H, W); default: Keras's (see `transposed_output_length`).

    Returns:
        x′, shape (H, W).
    """
    kernel, y = _kernel(kernel), np.asarray(y)
    (sh, sw), (kh, kw) = _pair(strides, "strides"), kernel.shape
    if output_shape is None:
        output_shape = (transposed_output_length(y.shape[0], kh, sh, padding),
                        transposed_output_length(y.shape[1], kw, sw, padding))
    matrix = convolution_matrix(kernel, output_shape, (sh, sw), padding)
    if matrix.shape[0] != y.size:
        raise ValueError(f"a convolution of a {tuple(output_shape)} image gives {matrix.shape[0]} pixels, "
                         f"not y′'s {y.shape}")
    return (matrix.T @ y.reshape(-1)).reshape(tuple(output_shape))


def dilate(y: np.ndarray, strides: int | Sequence[int] = 2) -> np.ndarray:
    """Inserts s − 1 zeros between neighbouring pixels: (h, w) becomes ((h − 1)·s_h + 1, (w − 1)·s_w + 1).

    Args:
        y: the image, shape (h, w).
        strides: s, an int or (s_h, s_w).

    Returns:
        The dilated image; y's pixels sit at the multiples of s.
    """
    y = np.asarray(y)
    sh, sw = _pair(strides, "strides")
    out = np.zeros(((y.shape[0] - 1) * sh + 1, (y.shape[1] - 1) * sw + 1), y.dtype)
    out[::sh, ::sw] = y
    return out


class TransposedSteps(NamedTuple):
    """The four steps of a transposed convolution done as a direct one (padding "valid").

    Args:
        input: y′, (h, w).
        dilated: step 1, s − 1 zeros between pixels, ((h − 1)·s + 1, (w − 1)·s + 1).
        padded: step 2, k − 1 zeros on every side.
        kernel: k as given (the one Conv2DTranspose holds), (kh, kw).
        rotated_kernel: step 3, rot180(k).
        output: step 4, padded ⋆ rot180(k), ((h − 1)·s + kh, (w − 1)·s + kw).
    """

    input: np.ndarray  # y′, (h, w)
    dilated: np.ndarray  # step 1: s − 1 zeros between pixels, ((h − 1)·s + 1, (w − 1)·s + 1)
    padded: np.ndarray  # step 2: k − 1 zeros on every side
    kernel: np.ndarray  # k as given (the one Conv2DTranspose holds)
    rotated_kernel: np.ndarray  # step 3: rot180(k)
    output: np.ndarray  # step 4: padded ⋆ rot180(k), ((h − 1)·s + k_h, (w − 1)·s + k_w)


def transposed_convolution_steps(y: np.ndarray, kernel: np.ndarray,
                                 strides: int | Sequence[int] = 1) -> TransposedSteps:
    """A transposed convolution ("valid") as a direct one, keeping every intermediate step.

    Formula: 1. d = dilate_s(y′) (s − 1 zeros between pixels); 2. p = pad_{k−1}(d); 3. r = rot180(k);
    4. x′ = p ⋆ r (a "valid" cross-correlation, i.e. a Keras `Conv2D`). With y′ of 2×2, k of 3×3 and s = 2:
    2×2 → 3×3 → 7×7 → 5×5.

    Args:
        y: y′, shape (h, w).
        kernel: k, shape (kh, kw).
        strides: s, an int or (s_h, s_w).

    Returns:
        A `TransposedSteps` (input, dilated, padded, kernel, rotated_kernel, output).
    """
    kernel, y = _kernel(kernel), np.asarray(y)
    kh, kw = kernel.shape
    dilated = dilate(y, strides)
    padded = np.pad(dilated, ((kh - 1, kh - 1), (kw - 1, kw - 1)))
    rotated = kernel[::-1, ::-1]
    return TransposedSteps(y, dilated, padded, kernel, rotated, conv2d(padded, rotated))


def transposed_as_direct_convolution(y: np.ndarray, kernel: np.ndarray, strides: int | Sequence[int] = 1,
                                     padding: str = "valid") -> np.ndarray:
    """`keras.layers.Conv2DTranspose` (one channel, no bias) as a direct convolution with the rotated kernel.

    Formula: x_full = pad_{k−1}(dilate_s(y′)) ⋆ rot180(k), of length (n − 1)·s + k per axis (stride 1:
    the input zero-padded by k − 1, no zeros inserted). "valid" keeps x_full; "same" crops the zeros
    the convolution would pad with, x′ = x_full[p_top : p_top + n·s] (and likewise across). Where Keras's
    output is longer than x_full (k < s) the extra pixels, which no window reaches, are 0.

    Args:
        y: y′, shape (h, w).
        kernel: k, shape (kh, kw).
        strides: s, an int or (s_h, s_w).
        padding: "valid" or "same".

    Returns:
        x′, the same array as `transposed_convolution(y, kernel, strides, padding)`.
    """
    kernel, y = _kernel(kernel), np.asarray(y)
    (sh, sw), (kh, kw) = _pair(strides, "strides"), kernel.shape
    full = transposed_convolution_steps(y, kernel, (sh, sw)).output
    out_h = transposed_output_length(y.shape[0], kh, sh, padding)
    out_w = transposed_output_length(y.shape[1], kw, sw, padding)
    top, bottom = same_padding(out_h, kh, sh) if padding == "same" else (0, 0)
    left, right = same_padding(out_w, kw, sw) if padding == "same" else (0, 0)
    canvas = np.zeros((out_h + top + bottom, out_w + left + right), full.dtype)
    canvas[:full.shape[0], :full.shape[1]] = full[:canvas.shape[0], :canvas.shape[1]]
    return canvas[top:top + out_h, left:left + out_w]


def upsample(image: np.ndarray, factor: int = 2, interpolation: str = "nearest") -> np.ndarray:
    """Resizes an image by a whole factor as `keras.layers.UpSampling2D` does.

    Formula: nearest: u[i, j] = x[⌊i / f⌋, ⌊j / f⌋]; bilinear (half-pixel centres): output pixel i reads
    the source position t = (i + ½)/f − ½, u = (1 − λ)·x[⌊t⌋] + λ·x[⌊t⌋ + 1] with λ = t − ⌊t⌋, indices
    clamped to the image (per axis, rows then columns).

    Args:
        image: shape (H, W) or (H, W, C).
        factor: f, a whole number ≥ 1.
        interpolation: "nearest" or "bilinear".

    Returns:
        The image, shape (f·H, f·W[, C]).
    """
    image = np.asarray(image)
    if interpolation == "nearest":
        return image.repeat(factor, axis=0).repeat(factor, axis=1)
    if interpolation != "bilinear":
        raise ValueError(f"interpolation must be 'nearest' or 'bilinear', got {interpolation!r}")
    out = image.astype(np.result_type(image, np.float32))
    for axis in (0, 1):
        n = out.shape[axis]
        t = (np.arange(n * factor) + 0.5) / factor - 0.5
        low = np.floor(t)
        weight = (t - low).reshape((-1,) + (1,) * (out.ndim - 1 - axis))  # broadcast along `axis`
        low = low.astype(int)
        a = np.take(out, np.clip(low, 0, n - 1), axis=axis)
        b = np.take(out, np.clip(low + 1, 0, n - 1), axis=axis)
        out = (1 - weight) * a + weight * b
    return out.astype(np.result_type(image, np.float32))


class CheckerboardExperiment(NamedTuple):
    """A constant image up-sampled ×s two ways, with the same constant kernel.

    Args:
        image: the constant input, (n, n).
        kernel: the constant kernel, (k, k).
        transposed: Conv2DTranspose(k, strides=s, padding="same")(image), (s·n, s·n).
        resized: UpSampling2D(s, interpolation)(image), (s·n, s·n).
        resize_conv: Conv2D(k, padding="same")(resized), (s·n, s·n).
    """

    image: np.ndarray  # the constant input, (n, n)
    kernel: np.ndarray  # the constant kernel, (k, k)
    transposed: np.ndarray  # Conv2DTranspose(k, strides=s, padding="same")(image), (s·n, s·n)
    resized: np.ndarray  # UpSampling2D(s, interpolation)(image), (s·n, s·n)
    resize_conv: np.ndarray  # Conv2D(k, padding="same")(resized), (s·n, s·n)


def checkerboard_experiment(image_size: int = 6, kernel_size: int = 3, stride: int = 2,
                            interpolation: str = "nearest", value: float = 1.0) -> CheckerboardExperiment:
    """Up-samples a constant image by a transposed convolution and by resize-then-convolve.

    Both use the same constant kernel of ones and padding "same". The transposed convolution writes a
    k×k footprint every s pixels; with k = 3, s = 2 the footprints overlap unevenly: along one axis, output
    pixels at even positions are written by 2 input pixels and odd ones by 1, so a constant image of ones
    comes out as the period-2 tile [[4, 2], [2, 1]] (the checkerboard of Odena, Dumoulin and Olah, 2016).
    Resizing first and then convolving stride 1 reads k×k pixels everywhere: a constant k²·value inside.

    Args:
        image_size: n, the constant input's side.
        kernel_size: k.
        stride: s, the up-sampling factor of both paths.
        interpolation: "nearest" or "bilinear", the resize's.
        value: the input's constant value.

    Returns:
        A `CheckerboardExperiment`.
    """
    image = np.full((image_size, image_size), value, np.float32)
    kernel = np.ones((kernel_size, kernel_size), np.float32)
    transposed = transposed_as_direct_convolution(image, kernel, stride, "same")
    resized = upsample(image, stride, interpolation)
    return CheckerboardExperiment(image, kernel, transposed, resized, conv2d(resized, kernel, 1, "same"))


def checkerboard_ratio(image: np.ndarray, border: int = 2) -> float:
    """The amplitude of an image's period-2 (checkerboard) pattern relative to its mean, away from the borders.

    Formula: on the interior (`border` pixels dropped on every side, then cut to an even size), with
    ε_r = (−1)^row and ε_c = (−1)^column, per channel
        μ = mean(x),  a = mean(ε_r·x),  b = mean(ε_c·x),  c = mean(ε_r·ε_c·x),
    the coefficients of x = μ + a·ε_r + b·ε_c + c·ε_r·ε_c + (everything else): the DC term and the three
    Nyquist-frequency terms of the 2-D Fourier transform, each divided by the pixel count. Over channels,
        ratio = √(Σ_c a² + b² + c²) / √(Σ_c μ²).
    The tile [[4, 2], [2, 1]] gives μ = 2.25, a = b = 0.75, c = 0.25: ratio ≈ 0.484; a constant gives 0.

    Args:
        image: shape (H, W) or (H, W, C).
        border: pixels ignored on each side, where zero padding bends the values.

    Returns:
        The ratio (≥ 0; NaN for an all-zero interior).
    """
    x = np.asarray(image, np.float64)
    if x.ndim == 2:
        x = x[..., None]
    if x.ndim != 3:
        raise ValueError(f"expected an image (H, W) or (H, W, C), got shape {x.shape}")
    h, w = x.shape[0] - 2 * border, x.shape[1] - 2 * border
    h, w = h - h % 2, w - w % 2
    if h < 2 or w < 2:
        raise ValueError(f"a {x.shape[0]}×{x.shape[1]} image has no interior of at least 2×2 "
                         f"inside a border of {border}")
    x = x[border:border + h, border:border + w]
    rows = (-1.0) ** np.arange(h)[:, None, None]
    cols = (-1.0) ** np.arange(w)[None, :, None]
    mean = x.mean(axis=(0, 1))
    nyquist = sum((term * x).mean(axis=(0, 1)) ** 2 for term in (rows, cols, rows * cols))
    dc = float(np.sum(mean ** 2))
    pattern = float(np.sum(nyquist))
    if dc == 0.0:
        return float("nan") if pattern == 0.0 else float("inf")
    return math.sqrt(pattern / dc)
