"""Puts finished GAN runs side by side: FID against generator steps, and the class shares of their samples.

Each run is the --out folder of a GAN (or diffusion) recipe (history.csv with `fid` and `generator_steps` per
epoch, metrics.json with the per-epoch class histograms). Run the recipes with `--fid-every 1` for a full curve.
A recorded curve (a CSV with `generator_steps,fid` rows, e.g. docs/results/data/) can stand beside them.

    python benchmarks/compare_gan_runs.py --run DCGAN=runs/dcgan --run WGAN-GP=runs/wgan --out fid_vs_steps.png
    python benchmarks/compare_gan_runs.py --curve DCGAN=docs/results/data/dcgan_full_fid.csv --run WGAN-GP=runs/wgan_gp \
        --out fid_vs_steps.png
    python benchmarks/compare_gan_runs.py --run healthy=runs/a --run collapsed=runs/b --classes --out shares.png
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")


def run_spec(text: str) -> tuple[str, Path]:
    """argparse type: LABEL=FOLDER."""
    label, sep, folder = text.rpartition("=")  # the label may hold "=", e.g. "k = 5"
    if not sep or not label or not folder:
        raise argparse.ArgumentTypeError(f"expected LABEL=FOLDER, got {text!r}")
    return label, Path(folder)


def read_curve(path: Path) -> tuple[list[float], list[float]]:
    """(steps, FIDs) from a recorded curve's CSV (`generator_steps,fid`); a clear error when unreadable."""
    try:
        with open(path) as f:
            rows = list(csv.DictReader(f))
        return [float(r["generator_steps"]) for r in rows], [float(r["fid"]) for r in rows]
    except (OSError, KeyError, TypeError, ValueError) as e:
        sys.exit(f"error: {path} is not a generator_steps,fid CSV: {e}")


def read_run(folder: Path) -> tuple[list[dict], dict]:
    """The run's per-epoch rows (history.csv) and its metrics.json; a clear error when either is missing."""
    history, metrics = folder / "history.csv", folder / "metrics.json"
    for f in (history, metrics):
        if not f.is_file():
            sys.exit(f"error: {f} is missing: is {folder} the --out folder of a finished GAN run?")
    with open(history) as f:
        rows = list(csv.DictReader(f))
    if rows and "generator_steps" not in rows[0]:
        sys.exit(f"error: {history} has no generator_steps column: rerun the recipe with this version")
    return rows, json.loads(metrics.read_text())


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=run_spec, action="append", default=[], help="LABEL=FOLDER, repeated")
    parser.add_argument("--curve", type=run_spec, action="append", default=[],
                        help="LABEL=CSV, a recorded FID curve (generator_steps,fid), repeated")
    parser.add_argument("--out", required=True, help="the PNG to write")
    parser.add_argument("--classes", action="store_true", help="draw class shares over steps instead of the FID")
    args = parser.parse_args(argv)
    if not args.run and not args.curve:
        parser.error("give at least one --run LABEL=FOLDER (or --curve LABEL=CSV)")
    if args.classes and args.curve:
        parser.error("--classes reads run folders; a recorded --curve has no class shares")

    from gen_keras import plots

    summary = {}
    if args.classes:
        runs = {}
        for label, folder in args.run:
            rows, metrics = read_run(folder)
            per_epoch = metrics.get("class_histogram_per_epoch", {})
            steps = {int(r["epoch"]) + 1: float(r["generator_steps"]) for r in rows}
            epochs = sorted(int(e) for e in per_epoch)
            runs[label] = ([steps[e] for e in epochs], [per_epoch[str(e)] for e in epochs])
            summary[label] = {"largest_class_share_per_epoch": [max(h) / sum(h) for h in runs[label][1]]}
        class_shares_over_steps(runs, args.out, FASHION_CLASSES, "Classes of the samples over training")
    else:
        curves = {}
        for label, path in args.curve:
            curves[label] = read_curve(path)
            summary[label] = {"steps": curves[label][0], "fid": curves[label][1]}
        for label, folder in args.run:
            rows, _ = read_run(folder)
            points = [(float(r["generator_steps"]), float(r["fid"])) for r in rows
                      if r.get("fid") not in (None, "") and math.isfinite(float(r["fid"]))]
            curves[label] = ([s for s, _ in points], [f for _, f in points])
            summary[label] = {"steps": curves[label][0], "fid": curves[label][1]}
        plots.curves(curves, args.out, xlabel="generator steps", ylabel="FID (log scale)",
                     title="FID against generator steps", log_y=True)
    print(json.dumps(summary, indent=1))
    print(f"wrote {args.out}")
    return summary


# --- Figures ----------------------------------------------------------------------------------------------


def class_shares_over_steps(runs: Mapping[str, tuple[Sequence[float], np.ndarray]], path: str | os.PathLike,
                            class_names: Sequence[str] = (), title: str = "") -> str:
    """Stacked class shares of each run's samples against its generator steps, one panel per run: a healthy
    run keeps ten bands of about a tenth, a collapsing one lets a few bands swallow the rest.

    Args:
        runs: run label → (generator steps (E,), class counts per measured epoch (E, K)).
        path: the PNG to write.
        class_names: the K classes' names for the legend.
        title: the figure's title.

    Returns:
        `path` as a string.
    """

    from gen_keras import plots

    fig, axes = plots.plt.subplots(1, len(runs), figsize=(5.5 * len(runs) + 2, 4), squeeze=False, sharey=True)
    for ax, (name, (steps, counts)) in zip(axes[0], runs.items()):
        counts = np.asarray(counts, np.float64)
        shares = counts / counts.sum(axis=1, keepdims=True)
        labels = list(class_names) or [str(k) for k in range(shares.shape[1])]
        ax.stackplot(steps, shares.T, labels=labels, colors=plots.plt.cm.tab10(np.arange(shares.shape[1]) % 10))
        ax.set_title(name)
        ax.set_xlabel("generator steps")
        ax.set_ylim(0, 1)
    axes[0][0].set_ylabel("share of 1,000 samples by predicted class")
    axes[0][-1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=8)
    if title:
        fig.suptitle(title)
    return plots.save_figure(fig, path)


if __name__ == "__main__":
    main()
