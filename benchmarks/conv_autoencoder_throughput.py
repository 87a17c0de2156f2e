"""Training throughput of the conv autoencoders: gen_keras's trainer beside a plain `model.fit` on numpy.

Both variants train the same network (`--model`, default the lecture's) on the full Fashion-MNIST training split at the same batch
size, in one process, taking turns (round 1: plain, trainer; round 2: plain, trainer; ...), so the
machine's background load hits both alike. Per variant it reports the median steady throughput
(images/s over the steps of every epoch but a run's first) and the epoch overhead: an epoch's wall time
divided by the sum of its step times (1.0 = no idling between steps or at the epoch's end).

    python benchmarks/conv_autoencoder_throughput.py --limit 6400 --epochs 2 --rounds 2 --jit
    python benchmarks/conv_autoencoder_throughput.py --model improved --epochs 2 --rounds 2
"""

from __future__ import annotations

import tempfile

import keras

from gen_keras import cli, data, training
from gen_keras.models.autoencoders import conv_autoencoder
from _timing import StepTimer, compare, machine, throughput_parser, timings_json


def run_plain(x, batch_size, epochs, seed, variant="lecture"):
    keras.utils.set_random_seed(seed)
    model = conv_autoencoder(variant).autoencoder
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    timer = StepTimer()
    model.fit(x, x, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=0, callbacks=[timer])
    return timer, 1


def run_trainer(arrays, batch_size, epochs, seed, spe, jit, variant="lecture"):
    args = cli.parse_args(cli.recipe_parser("bench", epochs=epochs), [
        "--batch-size", str(batch_size), "--seed", str(seed), "--out", tempfile.mkdtemp(prefix="bench-"),
        "--steps-per-execution", str(spe), *(["--jit"] if jit else [])])
    run = training.setup(args)
    with run.strategy.scope():
        model = conv_autoencoder(variant).autoencoder
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", **run.compile_options())
    timer = StepTimer()
    training.fit(model, arrays, None, run, epochs, targets="images", callbacks=[timer], verbose=0)
    return timer, spe


def measure(variant, a):
    """Runs one variant in this process and prints its timings as JSON."""
    arrays = data.load_images("fashion_mnist", "train", a.limit)
    if variant == "plain":
        timer, spe = run_plain(arrays.as_float(), a.batch_size, a.epochs, 0, a.model)
    else:
        spe = int(variant.split("=")[1]) if variant.startswith("spe=") else 1
        timer, spe = run_trainer(arrays, a.batch_size, a.epochs, 0, spe, variant == "xla", a.model)
    print(timings_json(timer, a.batch_size * spe))


def main():
    p = throughput_parser(__doc__)
    p.add_argument("--steps-per-execution", type=int, nargs="*", default=[1],
                   help="trainer variants to time, one per value")
    p.add_argument("--jit", action="store_true", help="also time the trainer with XLA")
    p.add_argument("--model", choices=("lecture", "improved"), default="lecture")
    a = p.parse_args()
    if a.variant:
        return measure(a.variant, a)
    variants = {"plain model.fit(numpy)": "plain"}
    for spe in a.steps_per_execution:
        variants[f"gen_keras trainer, spe={spe}"] = f"spe={spe}"
    if a.jit:
        variants["gen_keras trainer, XLA"] = "xla"
    print(f"{a.model} network; {machine()}; {a.limit or 60000} images, batch {a.batch_size}, "
          f"{a.epochs} epochs x {a.rounds} rounds, each run in its own process")
    extra = ["--model", a.model, "--epochs", str(a.epochs), "--batch-size", str(a.batch_size),
             *(["--limit", str(a.limit)] if a.limit else [])]
    compare(__file__, variants, extra, a.rounds)


if __name__ == "__main__":
    main()
