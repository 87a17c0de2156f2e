"""How many floating-point operations does one DCGAN training step take, and how fast can this CPU do them?

The target "FID ≤ 5 within six minutes" was set on a reference machine where this DCGAN ran 70 ms a step
(11 epochs in six minutes). This script counts the step's multiply-adds from the layers' shapes, measures
this machine's float32 matrix-multiply rate (the best case for any dense op) and the recipe's step time, all in one run:
if 70 ms a step needs more GFLOP/s than the matmul rate, no implementation of this network reaches the bar
here.

Counting (per example; a multiply-add is 2 FLOPs): a Dense/Conv2D/Conv2DTranspose layer's forward pass is
its MACs, every kernel tap counted (also those on "same" padding: about 13% over the exact count here); its backward pass is two of those (gradients for the weights and for the input). Algorithm 1's
step, k = 1: D's step runs G forward, D forward on a real and a fake batch and D backward on both; G's step
runs G forward, D forward, D backward for the input only, and G backward.

    python benchmarks/dcgan_step_flops.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from gen_keras.models.gan import GAN, dcgan_discriminator, dcgan_generator
from _timing import machine


def _taps(n: int, k: int, s: int) -> int:
    """Kernel taps that land inside an input of length n, summed over a stride-s "same" convolution's
    outputs (the rest fall on the zero padding)."""
    m = -(-n // s)
    before = max((m - 1) * s + k - n, 0) // 2
    return sum(0 <= i * s - before + t < n for i in range(m) for t in range(k))


def forward_macs(model: keras.Model, exact: bool = False) -> int:
    """Multiply-adds of one example's forward pass through the Dense and (transposed) convolution layers:
    every kernel tap at every position, or with `exact` only those that do not fall on padding."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            total += int(np.prod(layer.kernel.shape))
            continue
        if not isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose)):
            continue
        k, s = layer.kernel_size, layer.strides
        channels = int(layer.kernel.shape[2] * layer.kernel.shape[3])
        if isinstance(layer, keras.layers.Conv2DTranspose):  # the gradient of a conv from its output to its input
            (h, w), big = layer.input.shape[1:3], layer.output.shape[1:3]
            taps = (_taps(big[0], k[0], s[0]) * _taps(big[1], k[1], s[1]) if exact
                    else h * w * k[0] * k[1])
        else:
            (h, w), out = layer.input.shape[1:3], layer.output.shape[1:3]
            taps = (_taps(h, k[0], s[0]) * _taps(w, k[1], s[1]) if exact
                    else out[0] * out[1] * k[0] * k[1])
        total += taps * channels
    return total


def step_macs(g: int, d: int, d_input_layer: int) -> int:
    """MACs per example of one Algorithm 1 step (k = 1); `d_input_layer` is D's first layer, whose input
    gradient D's own step does not need."""
    d_step = g + 2 * d + 2 * (2 * d) - 2 * d_input_layer
    g_step = g + d + d + 2 * g  # D backward for its input only (≈ one forward), G backward (weights + input)
    return d_step + g_step


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    """Median float32 GFLOP/s of an n×n matrix product in TensorFlow on this machine."""
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    times = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        tf.linalg.matmul(a, b).numpy()
        times.append(time.perf_counter() - start)
    return 2 * n ** 3 / statistics.median(times[1:]) / 1e9


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--reference-ms", type=float, default=70.0, help="the reference machine's step time")
    a = p.parse_args()
    keras.utils.set_random_seed(0)
    generator, discriminator = dcgan_generator(), dcgan_discriminator()
    first_conv = next(layer for layer in discriminator.layers if isinstance(layer, keras.layers.Conv2D))
    d_first_model = keras.Model(discriminator.inputs, first_conv.output)
    print(machine())
    gflops = {}
    for exact in (False, True):
        g, d = forward_macs(generator, exact), forward_macs(discriminator, exact)
        gflops[exact] = 2 * step_macs(g, d, forward_macs(d_first_model, exact)) * a.batch_size / 1e9
        print(f"{'exact (taps on padding left out)' if exact else 'every tap counted'}: forward MACs per "
              f"example: generator {g / 1e6:.2f} M, discriminator {d / 1e6:.2f} M; one training step at batch "
              f"{a.batch_size}: {gflops[exact]:.1f} GFLOP, at {a.reference_ms:g} ms a step "
              f"{gflops[exact] / a.reference_ms * 1e3:.0f} GFLOP/s")
    gflop = gflops[False]

    rate = matmul_gflops()
    print(f"this machine's float32 2048x2048 matmul in TensorFlow: {rate:.0f} GFLOP/s (median of 10)")
    steps_per_epoch = 60_000 // a.batch_size
    for exact, flop in gflops.items():
        ms = flop / rate * 1e3
        print(f"  at that rate ({'exact' if exact else 'every tap'}): {ms:.0f} ms a step, "
              f"{360_000 / ms:.0f} steps ({360_000 / ms / steps_per_epoch:.1f} epochs of {steps_per_epoch}) "
              "in six minutes")

    gan = GAN(generator, discriminator)
    gan.compile(keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5))
    x = np.random.default_rng(0).random((a.batch_size * (a.steps + 2), 28, 28, 1), dtype=np.float32)
    gan.fit(x, batch_size=a.batch_size, epochs=1, steps_per_epoch=2, verbose=0)  # compiles the step
    times = []
    for _ in range(3):
        start = time.perf_counter()
        gan.fit(x, batch_size=a.batch_size, epochs=1, steps_per_epoch=a.steps // 3, verbose=0)
        times.append((time.perf_counter() - start) / (a.steps // 3))
    ms = statistics.median(times) * 1e3
    print(f"the recipe's DCGAN step here: {ms:.0f} ms (median of 3 rounds of {a.steps // 3}), "
          f"{gflop / ms * 1e3:.0f} GFLOP/s")
    need = gflop / a.reference_ms * 1e3
    verdict = "above" if need > rate else "below"
    print(f"{a.reference_ms:g} ms a step needs {need:.0f} GFLOP/s, {verdict} this machine's matmul rate of {rate:.0f}")


if __name__ == "__main__":
    main()
