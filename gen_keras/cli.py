"""The flags every recipe shares, with checks that fail early and say what to do."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

QUICK_EPOCHS = 1
QUICK_LIMIT = 2048
# The sample-quality instrument's counts (gen_keras.evaluation.FID_SAMPLES, QUICK_FID_SAMPLES), repeated here
# beside the flag so that `--help` needs no TensorFlow; tests/test_evaluation.py checks that they agree.
FID_SAMPLES = 10_000
QUICK_FID_SAMPLES = 2_000


def _whole_number(text: str, minimum: int, expected: str, below: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got '{text}'") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be {below}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number ≥ 1 (anything else: argparse exits with status 2 and says why)."""
    return _whole_number(text, 1, "a whole number", "at least 1")


def non_negative_int(text: str) -> int:
    """argparse type: a whole number ≥ 0, e.g. a count that may be zero, an index or a version."""
    return _whole_number(text, 0, "a whole number, 0 or more", "0 or more")


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got '{text}'") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (NaN, infinities and words are refused)."""
    value = _float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def open_unit_interval(text: str) -> float:
    """argparse type: a number strictly between 0 and 1 (a rate, a probability, a sparsity target ρ)."""
    value = positive_float(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a finite number ≥ 0 (NaN, infinities and words are refused)."""
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be zero or more, got {text}")
    return value


def _dataset_name(text: str) -> str:
    if text in ("fashion_mnist", "mnist") or any(text.startswith(p) and len(text) > len(p)
                                                for p in ("tfds:", "folder:")):
        return text
    raise argparse.ArgumentTypeError(
        f"unknown data set '{text}': use fashion_mnist, mnist, tfds:<name> (e.g. tfds:cifar10) or "
        "folder:PATH (a folder of images)")


def image_side(text: str) -> int:
    """argparse type: an image's side in pixels, at least 4."""
    return _whole_number(text, 4, "a whole number of pixels", "at least 4")


def channel_count(text: str) -> int:
    """argparse type: 1 (grey) or 3 (colour)."""
    value = _whole_number(text, 1, "1 or 3", "1 or 3")
    if value not in (1, 3):
        raise argparse.ArgumentTypeError(f"must be 1 (grey) or 3 (colour), got {value}")
    return value


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default, except where there is none to show (None, an on/off switch)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def recipe_parser(description: str, *, epochs: int | None, batch_size: int = 128) -> argparse.ArgumentParser:
    """An argument parser holding the flags every recipe shares; a recipe adds its own to it.

    The common flags: --epochs, --batch-size, --limit, --dataset, --image-size, --channels, --seed, --out,
    --export-dir, --no-export, --jit, --mixed-precision, --steps-per-execution, --strategy, --quick,
    --time-budget, --fresh.

    Args:
        description: the recipe's one-paragraph description for `--help`.
        epochs: the default of --epochs; None when the recipe picks it after parsing (e.g. per model).
        batch_size: the default global batch on CPU, kept as `args.default_batch_size`.

    Returns:
        An `argparse.ArgumentParser` whose `--help` shows each flag's default.
    """
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=_DefaultsFormatter)
    g = parser.add_argument_group("common flags (every recipe)")
    g.add_argument("--epochs", type=positive_int, default=epochs,
                   help="training epochs" + ("" if epochs else " (default: the model's own, see below)"))
    g.add_argument("--batch-size", type=positive_int, default=None,
                   help=f"global batch size; default {batch_size} on CPU, 1024 per GPU when GPUs are "
                        "visible (Adam's learning rate is scaled by the square root of the batch's growth)")
    g.add_argument("--limit", type=positive_int, default=None,
                   help="use only the first N training images (and N test images) for a fast run")
    g.add_argument("--dataset", type=_dataset_name, default="fashion_mnist",
                   help="fashion_mnist, mnist, tfds:<name> for a TensorFlow Datasets image set, or "
                        "folder:PATH for your own images (PNG, JPEG, GIF, BMP; directly in PATH, or one "
                        "subfolder per class); see docs/usage.md, 'Your own images'")
    g.add_argument("--image-size", type=image_side, default=None, metavar="PIXELS",
                   help="centre-crop and resize the images to PIXELS x PIXELS (default: their own size); "
                        "the recipes whose networks follow the data's shape take e.g. 32 or 64")
    g.add_argument("--channels", type=channel_count, default=None, choices=(1, 3),
                   help="1: read the images as grey, 3: as colour (default: what the images are)")
    g.add_argument("--seed", type=int, default=0,
                   help="random seed; on CPU, two runs with the same seed end with identical weights")
    g.add_argument("--out", default=None,
                   help="folder for figures, logs, checkpoints and metrics.json (default runs/<recipe>)")
    g.add_argument("--export-dir", default="saved_models",
                   help="root of the TF Serving exports: <export-dir>/<recipe>/<part>/<version>/")
    g.add_argument("--no-export", action="store_true", help="train and evaluate, but write no SavedModels")
    g.add_argument("--jit", action="store_true",
                   help="compile training steps with XLA; off by default, as these small networks get no "
                        "speed-up from it on CPU (see docs/results/autoencoders.md#speed); try it on a GPU")
    g.add_argument("--mixed-precision", action="store_true",
                   help="compute in float16 on GPU (bfloat16 on CPU) with float32 weights and outputs")
    g.add_argument("--steps-per-execution", type=positive_int, default=None,
                   help="training steps run per call into TensorFlow; default 1 on CPU, 32 on GPU "
                        "where per-step overhead dominates small networks")
    g.add_argument("--strategy", choices=("auto", "default", "mirrored", "multiworker"), default="auto",
                   help="tf.distribute strategy: auto = mirrored over all GPUs when more than one is "
                        "visible, else the default (one device); multiworker = several machines, each "
                        "running the same command with its own TF_CONFIG (see the README's Scaling)")
    g.add_argument("--quick", action="store_true",
                   help=f"a short run for trying the recipe: {QUICK_EPOCHS} epoch on "
                        f"{QUICK_LIMIT} images unless --epochs/--limit say otherwise")
    g.add_argument("--time-budget", type=positive_float, default=None, metavar="SECONDS",
                   help="stop training once this many seconds of it have passed, ending the epoch in progress "
                        "early (to compare runs under one budget, e.g. 360 for six minutes); a learning-rate "
                        "schedule still decays over --epochs, so a cut-short run ends at a higher rate")
    g.add_argument("--fresh", action="store_true",
                   help="ignore (and delete) the interrupted run's saved state in --out instead of resuming")
    parser.set_defaults(default_batch_size=batch_size)
    return parser


def add_sample_quality_flags(parser: argparse.ArgumentParser, *, quick_samples: int = QUICK_FID_SAMPLES,
                             samples_help: str = "generated images", fid_every: str | None = None
                             ) -> argparse._ArgumentGroup:
    """Adds the flags of a recipe that scores generated images with the sample-quality instrument.

    --fid-samples (default 10,000; `quick_samples` with --quick; at most --limit), --retrain-classifier,
    and --fid-every when `fid_every` describes what it measures; `parse_args` fills the defaults that
    depend on --quick.

    Args:
        parser: a parser from `recipe_parser`.
        quick_samples: the default of --fid-samples with --quick.
        samples_help: what the scored images are, for --fid-samples' help.
        fid_every: --fid-every's help (what is measured every N epochs); None: no --fid-every.

    Returns:
        The "sample quality" argument group.
    """
    g = parser.add_argument_group("sample quality (FID and KID on the fixed classifier)")
    g.add_argument("--fid-samples", type=positive_int, default=None,
                   help=f"{samples_help} scored against as many test images (default {FID_SAMPLES:,}; "
                        f"{quick_samples:,} with --quick; at most --limit)")
    g.add_argument("--retrain-classifier", action="store_true",
                   help="score with a classifier trained on this machine by the shipped one's recipe (trained "
                        "once and cached) instead of the shipped weights; other data sets always do")
    if fid_every is not None:
        g.add_argument("--fid-every", type=non_negative_int, default=None,
                       help=f"{fid_every} every N epochs during training, 0: only after training "
                            "(default 1; 0 with --quick)")
    parser.set_defaults(quick_fid_samples=quick_samples)
    return g


def add_gan_flags(parser: argparse.ArgumentParser, *, learning_rate: float | None, latent_dim: int,
                  learning_rate_help: str = "", dcgan: bool = False) -> argparse._ArgumentGroup:
    """Adds the flags every GAN recipe takes (and `--filters` for DCGAN networks) to `parser`.

    Flags: --latent-dim, --learning-rate[, --filters], and the sample-quality flags (--fid-samples,
    --fid-every, --retrain-classifier; `add_sample_quality_flags`).

    Args:
        parser: a parser from `recipe_parser`.
        learning_rate: the default of --learning-rate; None when the recipe picks it after parsing and says
            how in `learning_rate_help`.
        latent_dim: the default size of z.
        learning_rate_help: appended to --learning-rate's help.
        dcgan: add --filters (the DCGAN generator's width).

    Returns:
        The "GAN" argument group, for the recipe's own flags.
    """
    g = parser.add_argument_group("GAN")
    g.add_argument("--latent-dim", type=positive_int, default=latent_dim, help="size of z ~ N(0, I)")
    g.add_argument("--learning-rate", type=positive_float, default=learning_rate,
                   help="both networks' step at the default batch (scaled by sqrt(batch/default) for "
                        "larger batches)" + learning_rate_help)
    if dcgan:
        g.add_argument("--filters", type=positive_int, default=128,
                       help="G's width: at 28x28 the channels of its 7x7 layer (halved at 14x14), 128 giving the "
                            "0.56 M-parameter generator; at 32x32, 64x64, ... the channels of its last hidden "
                            "layer, doubled at each coarser one (64x64: the paper's 4x4x1024 ... 32x32x128); "
                            "fewer narrow only G, not D (see docs/results/gans.md#speed)")
    add_sample_quality_flags(parser, fid_every="measure the FID of all --fid-samples")
    return g


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None,
               recipe: str = "") -> argparse.Namespace:
    """Parses the flags and applies `--quick`.

    `--quick` sets --epochs to 1 and --limit to 2048 unless they were given; --out defaults to
    `runs/<recipe>`; the sample-quality flags (`add_sample_quality_flags`) get their defaults: --fid-samples
    10,000 (the recipe's quick count with --quick), at most --limit; --fid-every 1 (0 with --quick). Bad flags exit with status 2 and a one-line reason (argparse's `SystemExit`).

    Args:
        parser: a parser from `recipe_parser`, with the recipe's own flags added.
        argv: the flags; None for `sys.argv[1:]`.
        recipe: the recipe's name, stored as `args.recipe` and used in the default --out.

    Returns:
        The `argparse.Namespace`.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    def given(flag: str) -> bool:
        return any(a == flag or a.startswith(flag + "=") for a in argv)

    if args.quick:
        if not given("--epochs"):
            args.epochs = QUICK_EPOCHS
        if not given("--limit"):
            args.limit = QUICK_LIMIT
    if getattr(args, "fid_samples", 0) is None:
        wanted = args.quick_fid_samples if args.quick else FID_SAMPLES
        args.fid_samples = min(wanted, args.limit or wanted)
    if getattr(args, "fid_every", 0) is None:
        args.fid_every = 0 if args.quick else 1
    args.recipe = recipe
    if args.out is None:
        args.out = f"runs/{recipe}" if recipe else "runs/recipe"
    return args


class Interrupted(BaseException):
    """SIGTERM, turned into an exception so training stops where it is and keeps its saved state."""


def _raise_interrupted(signum, frame):
    raise Interrupted()


def run(main, argv: Sequence[str] | None = None) -> None:
    """Runs a recipe's `main(argv)` with the command-line error handling every recipe shares.

    Expected failures (`GenKerasError`) print one paragraph and exit 1, no traceback; Ctrl-C or SIGTERM
    stop training, keep the last finished epoch's state, say how to resume and exit 130.

    Args:
        main: the recipe's entry point, called as `main(argv)`.
        argv: the flags; None for `sys.argv[1:]`.
    """
    import signal

    from gen_keras.errors import GenKerasError

    signal.signal(signal.SIGTERM, _raise_interrupted)
    try:
        main(argv)
    except GenKerasError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    except (KeyboardInterrupt, Interrupted):
        print("\ninterrupted: the state after the last finished epoch (if any) is kept in the --out folder's "
              "backup/. Run the same command again to resume from there (or add --fresh to start over).",
              file=sys.stderr)
        sys.exit(130)
