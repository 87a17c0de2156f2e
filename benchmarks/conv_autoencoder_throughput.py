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

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from gen_keras import cli, data, training  # noqa: E402
from gen_keras.models.autoencoders import conv_autoencoder  # noqa: E402


class StepTimer(keras.callbacks.Callback):
    """Wall time of every step (one call of the train function) and of every epoch."""

    def __init__(self):
        super().__init__()
        self.steps, self.epochs = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start, self._current = time.perf_counter(), []

    def on_train_batch_begin(self, batch, logs=None):
        self._step_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self._current.append(time.perf_counter() - self._step_start)

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(time.perf_counter() - self._epoch_start)
        self.steps.append(self._current)


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


def summarise(name, runs):
    """Median steady images/s over all runs' steps (each run's first step, which compiles, left out) and
    median epoch overhead over every epoch but each run's first."""
    throughputs, overheads = [], []
    for run in runs:
        for i, (steps, wall) in enumerate(zip(run["steps"], run["epochs"])):
            throughputs += [run["images_per_step"] / s for s in (steps[1:] if i == 0 else steps)]
            if i > 0:
                overheads.append(wall / sum(steps))
    tp = statistics.median(throughputs)
    ov = statistics.median(overheads) if overheads else float("nan")
    print(f"{name:30s} median {tp:7.0f} images/s   epoch wall / sum of step times: {ov:.3f}")
    return tp, ov


def measure(variant, a):
    """Runs one variant in this process and prints its timings as JSON."""
    arrays = data.load_images("fashion_mnist", "train", a.limit)
    if variant == "plain":
        timer, spe = run_plain(arrays.as_float(), a.batch_size, a.epochs, 0, a.model)
    else:
        spe = int(variant.split("=")[1]) if variant.startswith("spe=") else 1
        timer, spe = run_trainer(arrays, a.batch_size, a.epochs, 0, spe, variant == "xla", a.model)
    print(json.dumps({"steps": timer.steps, "epochs": timer.epochs, "images_per_step": a.batch_size * spe}))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=2, help="epochs per run (the first is warm-up for overhead)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--steps-per-execution", type=int, nargs="*", default=[1],
                   help="trainer variants to time, one per value")
    p.add_argument("--jit", action="store_true", help="also time the trainer with XLA")
    p.add_argument("--model", choices=("lecture", "improved"), default="lecture")
    p.add_argument("--variant", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.variant:
        return measure(a.variant, a)
    variants = {"plain model.fit(numpy)": "plain"}
    for spe in a.steps_per_execution:
        variants[f"gen_keras trainer, spe={spe}"] = f"spe={spe}"
    if a.jit:
        variants["gen_keras trainer, XLA"] = "xla"
    print(f"{a.model} network; {platform.machine()} {_cpu_name()}, {os.cpu_count()} cores; "
          f"{a.limit or 60000} images, batch {a.batch_size}, {a.epochs} epochs x {a.rounds} rounds, "
          "each run in its own process")
    results = {name: [] for name in variants}
    for r in range(a.rounds):
        for name, variant in variants.items():
            start = time.perf_counter()
            cmd = [sys.executable, __file__, "--variant", variant, "--model", a.model, "--epochs", str(a.epochs),
                   "--batch-size", str(a.batch_size), *(["--limit", str(a.limit)] if a.limit else [])]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
            results[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"  round {r + 1}: {name}: {time.perf_counter() - start:.0f} s", flush=True)
    for name, runs in results.items():
        summarise(name, runs)


def _cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
