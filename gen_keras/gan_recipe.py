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
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gen_keras import cli

FID_SAMPLES = 10_000  # 10,000 generated against the 10,000 test images, as the README's FIDs
QUICK_FID_SAMPLES = 2_000
GRID_SAMPLES = 100  # a 10 × 10 grid of the same z every epoch
QUICK_CLASSIFIER = {"limit": 2048, "epochs": 1}  # trained in seconds, used only when the real one is not cached


def add_flags(parser: argparse.ArgumentParser, *, learning_rate: float | None, latent_dim: int,
              learning_rate_help: str = "", dcgan: bool = False) -> argparse._ArgumentGroup:
    """The flags every GAN recipe takes (and `--filters` for DCGAN networks); returns the group for the
    recipe's own. `learning_rate=None`: the recipe picks it after parsing and says how in
    `learning_rate_help`."""
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
                            "generator; fewer narrow only G (64 gave no clear speed-up on a 2-core CPU)")
    return g


def finish_args(args: argparse.Namespace) -> argparse.Namespace:
    """Fills the defaults that depend on --quick."""
    if args.fid_samples is None:
        args.fid_samples = min(QUICK_FID_SAMPLES if args.quick else FID_SAMPLES, args.limit or FID_SAMPLES)
    if args.fid_every is None:
        args.fid_every = 0 if args.quick else 1
    return args


def load_data(dataset: str = "fashion_mnist", limit: int | None = None) -> tuple:
    """The training and test splits for a GAN, which makes 28×28 grey images.

    Args:
        dataset: `fashion_mnist`, `mnist` or `tfds:<name>`.
        limit: keep the first `limit` images of each split (all when None).

    Returns:
        (train, test), `gen_keras.data.ImageArrays`; a `DataError` for images of another shape.
    """
    from gen_keras import data

    train = data.load_images(dataset, "train", limit)
    test = data.load_images(dataset, "test", limit)
    if train.images.shape[1:] != (28, 28, 1):
        raise data.DataError(f"these GANs make 28x28 grey images; {train.name} has {train.images.shape[1:]}. "
                             "Use --dataset fashion_mnist or mnist.")
    return train, test


def feature_classifier(dataset: str = "fashion_mnist", *, quick: bool = False) -> tuple:
    """The fixed feature classifier the FID is measured on (trained once and cached), and a note on which
    one it is.

    Args:
        dataset: the data set it classifies.
        quick: when the real classifier is not cached yet, train a small one in seconds instead (its FIDs
            do not compare with others).

    Returns:
        (classifier `keras.Model`, note `str`).
    """
    from gen_keras import classifier as clf

    if quick and not clf.classifier_cache_path(dataset).exists():
        return (clf.load_or_train_classifier(dataset, **QUICK_CLASSIFIER),
                f"quick ({QUICK_CLASSIFIER['limit']} images, {QUICK_CLASSIFIER['epochs']} epoch): "
                "FIDs not comparable")
    print("loading the feature classifier (trained and cached on first use)")
    return clf.load_or_train_classifier(dataset), "standard (3 epochs on the training set)"


def fixed_latents(count: int, latent_dim: int, seed: int) -> np.ndarray:
    """`count` draws of z ~ N(0, I) from `seed`, float32 (count, latent_dim): the same inputs every epoch."""
    return np.random.default_rng(seed).normal(size=(count, latent_dim)).astype(np.float32)


class Judge:
    """Fixed generator inputs and the classifier's view of the test set, shared by the per-epoch
    callbacks and the final evaluation.

    Args:
        test: the test split (`ImageArrays`) the samples are compared with.
        generate_fn: latents → images in [0, 1], the generator in inference mode.
        latents: what the FID samples: z (N, latent_dim), or a tuple (z, labels) for a conditional GAN.
        classifier: the feature classifier, and `classifier_note` saying which one (`feature_classifier`).
        dataset: the data set's name (for the real train-vs-test FID floor).
        fid_every: measure the FID every N epochs during training (0: only at the end).
        grid: the sample grid's inputs (default the first 100 latents); `columns` images a row.
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
        n = callbacks.num_latents(self.latents)
        if len(test) < n:
            raise GenKerasError(f"--fid-samples {n} is more than the {len(test)} test images; lower it")
        self.test_features = extract_features(self.classifier, test.as_float()[:n])

    def callbacks(self, out: Path, title: str = "") -> list:
        """A sample grid (same z) per epoch in `out/samples/`; class entropy, largest class share and the
        FID (every `--fid-every` epochs) in each epoch's logs, so in history.csv."""
        from gen_keras import callbacks

        return [
            callbacks.SampleQuality(self.generate_fn, self.classifier, self.latents, fid_every=self.fid_every,
                                    reference_features=self.test_features,
                                    num_samples=min(1000, callbacks.num_latents(self.latents))),
            callbacks.SampleGrid(self.generate_fn, Path(out) / "samples" / "epoch_{epoch:03d}.png", self.grid,
                                 columns=self.columns, title=title),
        ]

    def evaluate(self) -> dict:
        """FID against as many test images, the real train-vs-test FID floor at that size, and the class
        histogram of the generated samples (mode collapse: low entropy, one class holding many)."""
        from gen_keras import callbacks, metrics
        from gen_keras.classifier import extract_features, predict_classes

        images = callbacks.sample_in_batches(self.generate_fn, self.latents)
        classes = predict_classes(self.classifier, images)
        histogram = metrics.class_histogram(classes, 10)
        results = {
            "fid": metrics.frechet_distance(extract_features(self.classifier, images), self.test_features),
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
        """`facts`, the last epoch's logs and `evaluate()`, written to `out/metrics.json` and summed up."""
        results = {**facts, "epochs": len(history.get("g_loss", [])), "classifier": self.classifier_note,
                   **{f"last_epoch_{key}": values[-1] for key, values in history.items()},
                   **self.evaluate()}
        (Path(out) / "metrics.json").write_text(json.dumps(results, indent=2))
        print(f"FID {results['fid']:.2f} (real train vs test: {results['fid_real_floor']:.2f}) on "
              f"{results['fid_samples']} samples; class entropy {results['sample_entropy']:.2f} nats "
              f"(uniform: 2.30), largest class {results['max_class_share']:.0%}"
              + (f"; {facts['train_seconds']:.0f} s of training" if "train_seconds" in facts else ""))
        return results


def judge_from_flags(args, test, generate_fn: Callable, latents=None, **kwargs) -> Judge:
    """A `Judge` set up from a GAN recipe's flags: `--fid-samples` latents from `--seed` (unless given),
    the feature classifier for `--dataset` (`--quick`: a quick one when none is cached), `--fid-every`."""
    classifier, note = feature_classifier(args.dataset, quick=args.quick)
    if latents is None:
        latents = fixed_latents(args.fid_samples, args.latent_dim, args.seed)
    return Judge(test, generate_fn, latents, classifier=classifier, classifier_note=note, dataset=args.dataset,
                 fid_every=args.fid_every, **kwargs)


def _head(latents, n: int):
    return type(latents)(part[:n] for part in latents) if isinstance(latents, (tuple, list)) else latents[:n]


def figures(history: dict, judge: Judge, out: Path, title: str, *, critic: bool = False,
            curves_title: str | None = None) -> None:
    """`samples.png` (the final generator on the grid's z), `gan_curves.png` (losses, mean D outputs), the
    curves titled `curves_title` when the samples' title describes the grid only."""
    from gen_keras import callbacks, plots

    plots.image_grid(callbacks.sample_in_batches(judge.generate_fn, judge.grid), Path(out) / "samples.png",
                     judge.columns, title)
    plots.gan_curves(history, Path(out) / "gan_curves.png", curves_title or title,
                     scores=("d_real", "d_fake", "wasserstein") if critic else ("d_real", "d_fake"),
                     equilibrium=None if critic else 0.5)


def adam(learning_rate: float):
    """Radford et al.'s Adam for GANs: β1 = 0.5 (β2 = 0.999)."""
    import keras

    return keras.optimizers.Adam(learning_rate, beta_1=0.5)


def export(gan, export_dir: str, recipe: str, *, label: bool = False) -> dict[str, Path]:
    """The generator (`z` [, `label`] → `image` in [0, 1]) and the discriminator (`image` → `logit`; a
    critic's score for a WGAN) for TF Serving, with `.keras` files beside them; says where."""
    import tensorflow as tf

    from gen_keras.serving import export as export_lib

    g_inputs = {"z": (gan.latent_dim,)}
    d_inputs = {"image": tuple(gan.discriminator.inputs[0].shape[1:])}
    if label:
        g_inputs["label"] = d_inputs["label"] = tf.TensorSpec([None], tf.int32)
    paths = {}
    for part, model, inputs, output in (("generator", gan.generator, g_inputs, "image"),
                                        ("discriminator", gan.discriminator, d_inputs, "logit")):
        paths[part] = export_lib.export_for_serving(model, export_dir, recipe, part, inputs=inputs, outputs=output)
        print(f"exported {part}: {paths[part]}")
    return paths
