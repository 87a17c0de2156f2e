"""What every GAN recipe does around its model: flags, data, the per-epoch sample watchers, the final
evaluation (FID and class histogram on the feature classifier), figures and exports.

A recipe builds and compiles its GAN (the lecture's part) and hands it to these, in this order:
`add_flags` → `load_data` → `Judge` → `training.fit(..., callbacks=judge.callbacks(...))` →
`judge.report` → `figures` → `export`. Only `add_flags` and `finish_args` see the flags; the rest take
named values, so a notebook can call them too.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gen_keras import cli
from gen_keras.metrics import FID_SAMPLES, QUICK_FID_SAMPLES

GRID_SAMPLES = 100  # a 10 × 10 grid of the same z every epoch


def add_flags(parser: argparse.ArgumentParser, *, learning_rate: float | None, latent_dim: int,
              learning_rate_help: str = "", dcgan: bool = False) -> argparse._ArgumentGroup:
    """Adds the flags every GAN recipe takes (and `--filters` for DCGAN networks) to `parser`.

    Flags: --latent-dim, --learning-rate, --fid-samples, --fid-every[, --filters]; `finish_args` fills the
    defaults that depend on --quick.

    Args:
        parser: a parser from `gen_keras.cli.recipe_parser`.
        learning_rate: the default of --learning-rate; None when the recipe picks it after parsing and says
            how in `learning_rate_help`.
        latent_dim: the default size of z.
        learning_rate_help: appended to --learning-rate's help.
        dcgan: add --filters (the DCGAN generator's width).

    Returns:
        The "GAN" argument group, for the recipe's own flags.
    """
    g = parser.add_argument_group("GAN")
    g.add_argument("--latent-dim", type=cli.positive_int, default=latent_dim, help="size of z ~ N(0, I)")
    g.add_argument("--learning-rate", type=cli.positive_float, default=learning_rate,
                   help="both networks' step at the default batch (scaled by sqrt(batch/default) for "
                        "larger batches)" + learning_rate_help)
    g.add_argument("--fid-samples", type=cli.positive_int, default=None,
                   help=f"generated images the FID compares with as many test images (default "
                        f"{FID_SAMPLES:,}; {QUICK_FID_SAMPLES:,} with --quick; at most --limit)")
    g.add_argument("--fid-every", type=cli.non_negative_int, default=None,
                   help="measure the FID every N epochs during training, 0: only after training "
                        "(default 1; 0 with --quick)")
    if dcgan:
        g.add_argument("--filters", type=cli.positive_int, default=128,
                       help="channels of G's 7x7 layer (halved at 14x14): 128 gives the 0.56 M-parameter "
                            "generator; fewer narrow only G, not D (see docs/results/gans.md#speed)")
    return g


def finish_args(args: argparse.Namespace) -> argparse.Namespace:
    """Fills the defaults that depend on --quick: --fid-samples (10,000; 2,000 with --quick; at most --limit)
    and --fid-every (1; 0 with --quick).

    Args:
        args: the parsed flags.

    Returns:
        `args`, changed in place.
    """
    if args.fid_samples is None:
        args.fid_samples = min(QUICK_FID_SAMPLES if args.quick else FID_SAMPLES, args.limit or FID_SAMPLES)
    if args.fid_every is None:
        args.fid_every = 0 if args.quick else 1
    return args


def setup_and_load(args: argparse.Namespace, *, minibatches: int = 1) -> tuple:
    """`training.setup(args)` and the data, for a GAN recipe.

    Args:
        args: the recipe's flags.
        minibatches: real minibatches of --batch-size images per training step (Algorithm 1's k: each
            discriminator step takes its own), so the trainer hands over k·m images a step.

    Returns:
        (`TrainingSetup`, train, test).
    """
    import dataclasses

    from gen_keras import training

    run = training.setup(args)
    if minibatches > 1:
        run = dataclasses.replace(run, batch_size=minibatches * run.batch_size)
    return (run, *load_data(args.dataset, args.limit))


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
    from gen_keras import data

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


class Judge:
    """Fixed generator inputs and the classifier's view of the test set, for the per-epoch callbacks and the end.

    The test images' features are computed once here, for as many test images as there are latents.

    Args:
        test: the test split (`ImageArrays`) the samples are compared with.
        generate_fn: latents → images in [0, 1], the generator in inference mode.
        latents: what the FID samples: z (N, latent_dim), or a tuple (z, labels) for a conditional GAN.
        classifier: the feature classifier (`gen_keras.classifier.fid_classifier`).
        classifier_note: which classifier it is, written to metrics.json.
        dataset: the data set's name (for the real train-vs-test FID floor).
        fid_every: measure the FID every N epochs during training (0: only at the end).
        grid: the sample grid's inputs (default the first 100 latents).
        columns: images per row of the grid.

    Raises:
        GenKerasError: there are more latents than test images.
    """

    def __init__(self, test, generate_fn: Callable, latents, *, classifier, classifier_note: str = "",
                 dataset: str = "fashion_mnist", fid_every: int = 1, grid=None, columns: int = 10):
        from gen_keras import callbacks
        from gen_keras.classifier import extract_features
        from gen_keras.errors import GenKerasError

        self.generate_fn, self.latents = generate_fn, latents
        self.dataset, self.fid_every = dataset, fid_every
        self.grid = grid if grid is not None else _head(self.latents, GRID_SAMPLES)
        self.columns = columns
        self.classifier, self.classifier_note = classifier, classifier_note
        self.quality = None  # the per-epoch SampleQuality callback, once `callbacks` made it
        n = callbacks.num_latents(self.latents)
        if len(test) < n:
            raise GenKerasError(f"--fid-samples {n} is more than the {len(test)} test images; lower it")
        self.test_features = extract_features(self.classifier, test.as_float()[:n])

    def callbacks(self, out: Path, title: str = "") -> list:
        """The per-epoch watchers to pass to `training.fit`.

        A sample grid (the same z every epoch) in `out/samples/`; class entropy, largest class share and the
        FID (every `fid_every` epochs) in each epoch's logs, so in history.csv.

        Args:
            out: the run's output folder.
            title: the sample grids' title.

        Returns:
            `[SampleQuality, SampleGrid]` (`gen_keras.callbacks`).
        """
        from gen_keras import callbacks

        self.quality = callbacks.SampleQuality(self.generate_fn, self.classifier, self.latents,
                                               fid_every=self.fid_every, reference_features=self.test_features,
                                               num_samples=min(1000, callbacks.num_latents(self.latents)))
        return [
            self.quality,
            callbacks.SampleGrid(self.generate_fn, Path(out) / "samples" / "epoch_{epoch:03d}.png", self.grid,
                                 columns=self.columns, title=title),
        ]

    def evaluate(self, images: np.ndarray | None = None) -> dict:
        """The final evaluation of the generator on all `latents`.

        The FID and the KID against as many test images (on the same classifier features), the real
        train-vs-test FID floor at that size, and the class histogram of the generated samples (mode
        collapse: low entropy, one class holding many).

        Args:
            images: the generator's images of all `latents`, when the caller has made them already (a
                diffusion model's samples are costly); None: generated here.

        Returns:
            A dict: `fid`, `kid`, `kid_std` (over 100 subsets of at most 1,000), `fid_real_floor`,
            `fid_samples`, `sample_entropy` (nats), `max_class_share`,
            `class_histogram` (10 counts), and `label_accuracy` (the share classified as the class asked for)
            when `latents` is a (z, labels) tuple.
        """
        from gen_keras import callbacks, metrics
        from gen_keras.classifier import extract_features, predict_classes
        from gen_keras.divergences import kernel_inception_distance

        if images is None:
            images = callbacks.sample_in_batches(self.generate_fn, self.latents)
        classes = predict_classes(self.classifier, images)
        histogram = metrics.class_histogram(classes, 10)
        features = extract_features(self.classifier, images)
        kid = kernel_inception_distance(features, self.test_features)
        results = {
            "fid": metrics.frechet_distance(features, self.test_features),
            "kid": kid.mean, "kid_std": kid.std,
            "fid_real_floor": metrics.real_fid_floor(self.classifier, self.dataset, len(images)),
            "fid_samples": len(images),
            "sample_entropy": metrics.class_entropy(histogram),
            "max_class_share": metrics.max_class_share(histogram),
            "class_histogram": histogram.tolist(),
        }
        if isinstance(self.latents, tuple):  # (z, requested labels): how often the classifier agrees
            results["label_accuracy"] = float(np.mean(classes == self.latents[1]))
        return results

    def report(self, out: Path, history: dict, **facts) -> dict:
        """Writes `facts`, the last epoch's logs and `evaluate()` to `out/metrics.json` and prints a summary line.

        Args:
            out: the run's output folder.
            history: the per-epoch logs (`training.fit`'s return value).
            **facts: extra entries for metrics.json, e.g. `train_seconds`, `train_images`.

        Returns:
            The dict written to metrics.json.
        """
        results = {**facts, "epochs": len(history.get("g_loss", [])), "classifier": self.classifier_note,
                   **{f"last_epoch_{key}": values[-1] for key, values in history.items()},
                   **self.evaluate()}
        if self.quality is not None:  # the classes of 1,000 samples after each epoch
            results["class_histogram_per_epoch"] = {str(e): h for e, h in self.quality.histograms.items()}
        (Path(out) / "metrics.json").write_text(json.dumps(results, indent=2))
        print(f"FID {results['fid']:.2f} (real train vs test: {results['fid_real_floor']:.2f}), "
              f"KID {results['kid']:.4f} ± {results['kid_std']:.4f} on "
              f"{results['fid_samples']} samples; class entropy {results['sample_entropy']:.2f} nats "
              f"(uniform: 2.30), largest class {results['max_class_share']:.0%}"
              + (f"; {facts['train_seconds']:.0f} s of training" if "train_seconds" in facts else ""))
        return results


def judge_from_flags(args, test, generate_fn: Callable, latents=None, **kwargs) -> Judge:
    """A `Judge` set up from a GAN recipe's flags.

    `--fid-samples` latents from `--seed` (unless given), the feature classifier for `--dataset`
    (`--quick`: a quick one when none is cached), `--fid-every`.

    Args:
        args: the parsed flags (after `finish_args`).
        test: the test split (`ImageArrays`).
        generate_fn: latents → images in [0, 1], the generator in inference mode.
        latents: the generator inputs to judge; None: `fixed_latents(--fid-samples, --latent-dim, --seed)`.
        **kwargs: passed to `Judge` (`grid`, `columns`).

    Returns:
        The `Judge`.

    Raises:
        GenKerasError: --fid-samples exceeds the test images.
    """
    from gen_keras.classifier import fid_classifier

    classifier, note = fid_classifier(args.dataset, quick=args.quick)
    if latents is None:
        latents = fixed_latents(args.fid_samples, args.latent_dim, args.seed)
    return Judge(test, generate_fn, latents, classifier=classifier, classifier_note=note, dataset=args.dataset,
                 fid_every=args.fid_every, **kwargs)


def _head(latents, n: int):
    return type(latents)(part[:n] for part in latents) if isinstance(latents, (tuple, list)) else latents[:n]


def figures(history: dict, judge: Judge, out: Path, title: str, *, critic: bool = False,
            curves_title: str | None = None) -> None:
    """Draws `samples.png` (the final generator on the grid's z) and `gan_curves.png` (losses, mean D outputs, FID).

    Prints the folder they (and metrics.json and the logs) are in.

    Args:
        history: the per-epoch logs.
        judge: the run's `Judge` (its generator and grid).
        out: the run's output folder.
        title: the samples' title (and the curves', unless `curves_title` is given).
        critic: a WGAN: plot f(x), f(G(z)) and the W estimate, without the 1/2 equilibrium line.
        curves_title: the curves' title when the samples' title describes the grid only.
    """
    from gen_keras import callbacks, plots
    from gen_keras.figures import gan as gan_figures

    plots.image_grid(callbacks.sample_in_batches(judge.generate_fn, judge.grid), Path(out) / "samples.png",
                     judge.columns, title)
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
    from gen_keras import plots

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
    import keras

    return keras.optimizers.Adam(learning_rate, beta_1=0.5)


def export(gan, export_dir: str | None, recipe: str, *, label: bool = False) -> dict[str, Path]:
    """Exports the generator and the discriminator for TF Serving, with `.keras` files beside them; says where.

    The generator takes `z` (batch, latent_dim) float32 [and `label` (batch,) int32] and returns `image`
    (batch, 28, 28, 1) in [0, 1]; the discriminator takes `image` [and `label`] and returns `logit`
    (batch, 1) (a critic's score for a WGAN).

    Args:
        gan: the trained `GAN` (or subclass).
        export_dir: the export root; None (--no-export): nothing is exported.
        recipe: the recipe's name: exports go to `<export_dir>/<recipe>/{generator,discriminator}/<version>/`.
        label: a conditional GAN: add the `label` input.

    Returns:
        `{"generator": version folder, "discriminator": version folder}`; `{}` when `export_dir` is None.

    Raises:
        ExportError: an export could not be written.
    """
    import tensorflow as tf

    if export_dir is None:
        return {}

    from gen_keras.serving import export as export_lib

    g_inputs = {"z": (gan.latent_dim,)}
    d_inputs = {"image": tuple(gan.discriminator.inputs[0].shape[1:])}
    if label:
        g_inputs["label"] = d_inputs["label"] = tf.TensorSpec([None], tf.int32)
    return export_lib.export_parts(export_dir, recipe, [("generator", gan.generator, g_inputs, "image"),
                                                        ("discriminator", gan.discriminator, d_inputs, "logit")])
