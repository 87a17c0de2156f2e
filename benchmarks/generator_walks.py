"""Walks in a trained generator's z: rows of G(z) along slerp paths between pairs of z ~ N(0, I).

Reads a generator saved by a GAN recipe (`saved_models/<recipe>/generator/<version>/generator.keras`), so a
finished full run can be drawn again without training; a conditional generator keeps one label per row.

    python benchmarks/generator_walks.py --generator saved_models/wgan/generator/1/generator.keras \
        --out docs/figures/gan/wgan_gp_full_interpolation.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--generator", type=Path, required=True, help="a generator's .keras file")
    p.add_argument("--out", type=Path, required=True, help="the PNG to write")
    p.add_argument("--rows", type=int, default=6, help="paths drawn")
    p.add_argument("--steps", type=int, default=10, help="images per path")
    p.add_argument("--seed", type=int, default=0, help="seed of the path ends")
    p.add_argument("--title", default=None, help="the figure's title")
    a = p.parse_args(argv)
    if not a.generator.is_file():
        p.error(f"no generator file at {a.generator}")
    if a.rows < 1 or a.steps < 2:
        p.error("--rows must be at least 1 and --steps at least 2")

    import gen_keras  # noqa: F401  (registers the project's Keras classes)
    import keras
    import numpy as np

    from gen_keras.gan_recipe import interpolation_figure

    generator = keras.saving.load_model(a.generator, compile=False)
    inputs = generator.inputs
    latent_dim = int(inputs[0].shape[-1])
    z = np.random.default_rng(a.seed).standard_normal((2 * a.rows, latent_dim)).astype("float32")
    labels = np.arange(a.rows) % 10 if len(inputs) > 1 else None
    generate = (lambda zy: generator([zy[0], zy[1]], training=False)) if labels is not None else \
        (lambda path_z: generator(path_z, training=False))
    title = a.title or f"G(z) along slerp paths between two z ~ N(0, I) ({a.generator.parent.parent.parent.name})"
    a.out.parent.mkdir(parents=True, exist_ok=True)
    print(interpolation_figure(generate, z, a.out, title, rows=a.rows, steps=a.steps, condition=labels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
