"""What diffusion costs against a GAN, side by side in one process: training images per second of the diffusion
recipe's U-Net and of the DCGAN recipe's game (one D and one G step per batch), and milliseconds per sampled
image: DDIM at several step counts, DDPM's 1,000 ancestral steps, and one pass of the DCGAN generator.

The variants run in alternating rounds, so a background load hits all alike; medians over rounds.

    python benchmarks/diffusion_speed.py --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from _timing import machine
from gen_keras import gan_recipe
from gen_keras.models.diffusion import Sampler, build_diffusion
from gen_keras.models.gan import GAN, dcgan_discriminator, dcgan_generator


def timed_fit(model, images, batch, steps) -> float:
    """Images per second over `steps` training steps (after one compiling step)."""
    ds = tf.data.Dataset.from_tensor_slices(images).repeat().batch(batch)
    model.fit(ds, steps_per_epoch=1, epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * batch / (time.perf_counter() - start)


def timed_sampling(fn, count) -> float:
    """Milliseconds per image of `fn()` making `count` images (after one compiling call)."""
    fn()
    start = time.perf_counter()
    fn()
    return 1000 * (time.perf_counter() - start) / count


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20, help="training steps timed per round and model")
    parser.add_argument("--samples", type=int, default=250, help="images per DDIM timing")
    parser.add_argument("--sampling-steps", type=int, nargs="+", default=[10, 25, 50])
    parser.add_argument("--ddpm-samples", type=int, default=16)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    images = rng.random((2048, 28, 28, 1), dtype=np.float32)
    diffusion = build_diffusion(seed=0)  # the recipe's defaults: widths 16, 32, 64, attention at 7x7
    diffusion.compile(optimizer=keras.optimizers.Adam(1e-3))
    gan = GAN(dcgan_generator(64), dcgan_discriminator(), seed=0)  # the DCGAN recipe's networks
    gan.compile(d_optimizer=gan_recipe.adam(2e-4), g_optimizer=gan_recipe.adam(2e-4))
    sampler = Sampler(diffusion)
    x_T = tf.random.normal([args.samples, 28, 28, 1])
    z = tf.random.normal([args.samples, 64])
    generate = tf.function(lambda z: gan.generator(z, training=False))
    ddpm = tf.function(diffusion.sample)

    def ddim(steps):
        sampler.steps = steps
        return timed_sampling(lambda: sampler(x_T).numpy(), args.samples)

    variants = {
        "train, diffusion U-Net, batch 64 (images/s)": lambda: timed_fit(diffusion, images, 64, args.steps),
        "train, DCGAN, batch 128 (images/s)": lambda: timed_fit(gan, images, 128, args.steps),
        **{f"sample, DDIM {s} steps (ms/image)": (lambda s=s: ddim(s)) for s in args.sampling_steps},
        "sample, DDPM 1000 steps (ms/image)": lambda: timed_sampling(
            lambda: ddpm(tf.constant(args.ddpm_samples), tf.constant(0), tf.constant(1000),
                         tf.constant(1.0)).numpy(), args.ddpm_samples),
        "sample, DCGAN generator (ms/image)": lambda: timed_sampling(lambda: generate(z).numpy(), args.samples),
    }
    results = {name: [] for name in variants}
    print(machine(), flush=True)
    for r in range(args.rounds):
        for name, measure in variants.items():
            results[name].append(measure())
            print(f"round {r + 1}: {name:48s} {results[name][-1]:9.2f}", flush=True)
    medians = {name: statistics.median(values) for name, values in results.items()}
    train_ratio = medians["train, DCGAN, batch 128 (images/s)"] / medians["train, diffusion U-Net, batch 64 (images/s)"]
    gan_ms = medians["sample, DCGAN generator (ms/image)"]
    print(json.dumps({"medians": medians,
                      "training time per image, diffusion / DCGAN": train_ratio,
                      "sampling time per image, each / DCGAN generator": {
                          name: value / gan_ms for name, value in medians.items() if name.startswith("sample")}},
                     indent=1))


if __name__ == "__main__":
    main()
