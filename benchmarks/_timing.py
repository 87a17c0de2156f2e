"""Timing helpers shared by the benchmarks: per-step wall times, medians, and the machine's name."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

import keras

from _machine import cpu_name, machine  # noqa: F401  (the benchmarks import them from here)


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


def summarise(name: str, runs: list[dict]) -> tuple[float, float]:
    """Median steady images/s over all runs' steps (each run's first step, which compiles, left out) and
    median epoch overhead (epoch wall / sum of its step times) over every epoch but each run's first."""
    throughputs, overheads = [], []
    for run in runs:
        for i, (steps, wall) in enumerate(zip(run["steps"], run["epochs"])):
            throughputs += [run["images_per_step"] / s for s in (steps[1:] if i == 0 else steps)]
            if i > 0:
                overheads.append(wall / sum(steps))
    tp = statistics.median(throughputs)
    ov = statistics.median(overheads) if overheads else float("nan")
    print(f"{name:40s} median {tp:7.0f} images/s ({1000 * runs[0]['images_per_step'] / tp:5.1f} ms/step)   "
          f"epoch wall / sum of step times: {ov:.3f}")
    return tp, ov


def compare(script: str, variants: dict[str, str], extra_args: list[str], rounds: int) -> dict[str, tuple]:
    """Runs `script --variant V <extra_args>` for every variant, round after round (so background load
    hits all alike), each in its own process; each prints its StepTimer as JSON on its last line."""
    results = {name: [] for name in variants}
    for r in range(rounds):
        for name, variant in variants.items():
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, script, "--variant", variant, *extra_args],
                                  capture_output=True, text=True)
            if proc.returncode:
                raise SystemExit(f"variant {variant} failed:\n{proc.stderr[-3000:]}")
            results[name].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"  round {r + 1}: {name}: {time.perf_counter() - start:.0f} s", flush=True)
    return {name: summarise(name, runs) for name, runs in results.items()}


def timings_json(timer: StepTimer, images_per_step: int) -> str:
    return json.dumps({"steps": timer.steps, "epochs": timer.epochs, "images_per_step": images_per_step})


def throughput_parser(doc: str):
    """The flags every throughput benchmark takes; `--variant` is how `compare` runs one variant."""
    import argparse

    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=2, help="epochs per run (the first is warm-up for overhead)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--variant", help=argparse.SUPPRESS)
    return p
