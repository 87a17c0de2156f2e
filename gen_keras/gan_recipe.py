"""What every GAN recipe does around its model at run time: data, fixed latents, the per-epoch watchers,
figures and exports.

A recipe parses its flags (`gen_keras.cli.add_gan_flags`), builds and compiles its GAN (the lecture's
part), and hands named values to these, in this order: `load_data` → `fixed_latents` →
`gen_keras.evaluation.Judge` → `training.fit(..., callbacks=callbacks(judge, ...))` → `judge.report` →
`figures` → `export`. Nothing here sees the flags, so a notebook can call them too.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from gen_keras import data, evaluation, inference, plots
from gen_keras.callbacks import SampleGrid
from gen_keras.evaluation import Judge
from gen_keras.figures import gan as gan_figures
from gen_keras.serving import export as export_lib
from gen_keras.training import TrainingSetup

GRID_SAMPLES = 100  # a 10 × 10 grid of the same z every epoch


def with_minibatches(run: TrainingSetup, minibatches: int) -> TrainingSetup:
    """The run with a batch of `minibatches` real minibatches a step (Algorithm 1's k: each discriminator
    step takes its own), so the trainer hands over k·m images a step.

    Args:
        run: the run's `TrainingSetup` (`training.setup`), whose batch is one minibatch m.
        minibatches: k.

    Returns:
        A `TrainingSetup` with batch k·m.
    """
    return dataclasses.replace(run, batch_size=minibatches * run.batch_size) if minibatches > 1 else run


def load_data(dataset: str = "fashion_mnist", limit: int | None = None) -> tuple:
    """The training and test splits for a GAN, which makes 28×28 grey images.

    Args:
        dataset: `fashion_mnist`, `mnist` or `tfds:<name>`.
        limit: keep the first `limit` images of each split (all when None).

    Returns:
        (train, test), `gen_keras.data.ImageArrays` of uint8 (N, 28, 28, 1) images.

    Raises:
        DataError: the data set cannot be loaded, or its images are not 28×28×1.
    """
    train = data.load_images(dataset, "train", limit)
    test = data.load_images(dataset, "test", limit)
    if train.images.shape[1:] != (28, 28, 1):
        raise data.DataError(f"these GANs make 28x28 grey images; {train.name} has {train.images.shape[1:]}. "
                             "Use --dataset fashion_mnist or mnist.")
    return train, test


def fixed_latents(count: int, latent_dim: int, seed: int) -> np.ndarray:
    """Draws `count` z ~ N(0, I) from `seed`: the same generator inputs every epoch.

    Args:
        count: how many.
        latent_dim: the size of z.
        seed: seed of the numpy generator.

    Returns:
        `np.ndarray` of float32, (count, latent_dim).
    """
    return np.random.default_rng(seed).normal(size=(count, latent_dim)).astype(np.float32)


def callbacks(judge: Judge, out: str | os.PathLike, title: str = "", *, grid=None, columns: int = 10) -> list:
    """The per-epoch watchers to pass to `training.fit`.

    The judge's `SampleQuality` (class entropy, largest class share and the FID every `fid_every` epochs
    in each epoch's logs, so in history.csv), and a sample grid of the same inputs every epoch in
    `out/samples/`.

    Args:
        judge: the run's `gen_keras.evaluation.Judge`.
        out: the run's output folder.
        title: the sample grids' title.
        grid: the grid's generator inputs; None: the first 100 of the judge's latents.
        columns: images per row of the grid.

    Returns:
        `[SampleQuality, SampleGrid]`.
    """
    grid = grid if grid is not None else inference.head(judge.latents, GRID_SAMPLES)
    return [judge.callback(),
            SampleGrid(judge.generate_fn, Path(out) / "samples" / "epoch_{epoch:03d}.png", grid, columns=columns,
                       title=title)]


def figures(history: dict, judge: Judge, out: str | os.PathLike, title: str, *, grid=None, columns: int = 10,
            critic: bool = False, curves_title: str | None = None) -> None:
    """Draws `samples.png` (the final generator on the grid's z) and `gan_curves.png` (losses, mean D outputs, FID).

    Prints the folder they (and metrics.json and the logs) are in.

    Args:
        history: the per-epoch logs.
        judge: the run's `gen_keras.evaluation.Judge` (its generator and latents).
        out: the run's output folder.
        title: the samples' title (and the curves', unless `curves_title` is given).
        grid: the grid's generator inputs; None: the first 100 of the judge's latents.
        columns: images per row of the grid.
        critic: a WGAN: plot f(x), f(G(z)) and the W estimate, without the 1/2 equilibrium line.
        curves_title: the curves' title when the samples' title describes the grid only.
    """
    grid = grid if grid is not None else inference.head(judge.latents, GRID_SAMPLES)
    plots.image_grid(inference.sample_in_batches(judge.generate_fn, grid), Path(out) / "samples.png", columns, title)
    gan_figures.training_curves(history, Path(out) / "gan_curves.png", curves_title or title,
                                scores=("d_real", "d_fake", "wasserstein") if critic else ("d_real", "d_fake"),
                                equilibrium=None if critic else 0.5)
    print(f"figures, metrics.json and logs in {out}/")


def interpolate_latents(z_a: np.ndarray, z_b: np.ndarray, steps: int = 9, spherical: bool = True) -> np.ndarray:
    """Points on the way from z_a to z_b, ends included.

    Spherical (White 2016): slerp(t) = sin((1 − t)ω)/sin ω · z_a + sin(tω)/sin ω · z_b, cos ω = ẑ_a·ẑ_b, which
    keeps the norm near √d where N(0, I) puts its mass; linear: (1 − t) z_a + t z_b, whose midpoint of two
    independent draws has norm about √(d/2), a region the generator rarely saw.

    Args:
        z_a: the start, (d,).
        z_b: the end, (d,).
        steps: points, t = 0 … 1.
        spherical: slerp (True) or a straight line.

    Returns:
        float32 (steps, d).
    """
    z_a, z_b = np.asarray(z_a, np.float64), np.asarray(z_b, np.float64)
    t = np.linspace(0.0, 1.0, steps)[:, None]
    cos = np.dot(z_a, z_b) / (np.linalg.norm(z_a) * np.linalg.norm(z_b))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if not spherical or np.sin(omega) < 1e-6:  # (anti)parallel: no plane to turn in
        return ((1 - t) * z_a + t * z_b).astype(np.float32)
    return ((np.sin((1 - t) * omega) * z_a + np.sin(t * omega) * z_b) / np.sin(omega)).astype(np.float32)


def interpolation_figure(generate_fn: Callable, latents: np.ndarray, path: str | os.PathLike, title: str, *,
                         rows: int = 5, steps: int = 10, condition: np.ndarray | None = None) -> str:
    """Rows of G(z) along slerp paths between pairs of fixed latents (rows 2i, 2i + 1 of `latents`).

    Args:
        generate_fn: the generator in inference mode: z (or (z, labels) when `condition` is given) → images.
        latents: fixed z, (≥ 2·rows, d).
        path: the PNG to write.
        title: the figure's title.
        rows: paths drawn.
        steps: images per path.
        condition: one label per row (a conditional generator keeps it along the row), or None.

    Returns:
        `path` as a string.
    """
    images = []
    for i in range(rows):
        path_z = interpolate_latents(latents[2 * i], latents[2 * i + 1], steps)
        inputs = path_z if condition is None else (path_z, np.full(steps, condition[i], np.int32))
        images.append(np.asarray(generate_fn(inputs)))
    return plots.image_rows(images, [""] * rows, path, title)


def adam(learning_rate: float):
    """Radford et al.'s Adam for GANs: β1 = 0.5 (β2 = 0.999).

    Args:
        learning_rate: the step size.

    Returns:
        A `keras.optimizers.Adam`.
    """
    return keras.optimizers.Adam(learning_rate, beta_1=0.5)


def export(gan, export_dir: str | None, recipe: str, *, label: bool = False, dataset: str = "fashion_mnist",
           scores: dict | None = None, seed: int = 0) -> dict[str, Path]:
    """Exports the generator and the discriminator for TF Serving, with `.keras` files beside them; says where.

    The generator takes `z` (batch, latent_dim) float32 [and `label` (batch,) int32] and returns `image`
    (batch, 28, 28, 1) in [0, 1]; the discriminator takes `image` [and `label`] and returns `logit`
    (batch, 1) (a critic's score for a WGAN).

    Args:
        gan: the trained `GAN` (or subclass).
        export_dir: the export root; None (--no-export): nothing is exported.
        recipe: the recipe's name: exports go to `<export_dir>/<recipe>/{generator,discriminator}/<version>/`.
        label: a conditional GAN: add the `label` input.
        dataset: the data set it was trained on (written to the generator's metadata).
        scores: the recipe's score of the generator (`gen_keras.evaluation.score` on z from `seed`, for a
            conditional GAN with the classes in turn), recorded in its metadata so that
            `python -m gen_keras.evaluate` can re-score the export and compare.
        seed: the seed of those z.

    Returns:
        `{"generator": version folder, "discriminator": version folder}`; `{}` when `export_dir` is None.

    Raises:
        ExportError: an export could not be written.
    """
    if export_dir is None:
        return {}
    g_inputs = {"z": (gan.latent_dim,)}
    d_inputs = {"image": tuple(gan.discriminator.inputs[0].shape[1:])}
    if label:
        g_inputs["label"] = d_inputs["label"] = tf.TensorSpec([None], tf.int32)
    facts = {"num_classes": gan.num_classes} if label else {}
    record = {"serving_default": evaluation.export_record(scores, seed=seed, **facts)} if scores else {}
    return export_lib.export_parts(export_dir, recipe, [("generator", gan.generator, g_inputs, "image"),
                                                        ("discriminator", gan.discriminator, d_inputs, "logit")],
                                   metadata={"generator": {"dataset": dataset, "evaluation": record}})
