"""The GAN recipes' quality targets, measured on this machine with the recipes themselves.

  dcgan   `recipes/dcgan.py` with six minutes of training (`--time-budget 360`): FID on the feature
          classifier over 10,000 samples (bar: ≤ 5) and the largest class's share (bar: ≤ 30%)
  cgan    `recipes/cgan.py`, six minutes: how often the classifier labels a sample as the requested class
          (bar: ≥ 80%), and its FID
  wgan    `recipes/wgan.py` on `--limit` images with the FID measured every epoch: does the critic's
          estimate of the Wasserstein distance fall as the FID falls? (Spearman rank correlation over epochs)

Each runs as its own process, one after the other; the FIDs use the shipped classifier (`gen_keras.evaluation`).

    python benchmarks/gan_quality.py dcgan cgan        # about 16 minutes on a 2-core EPYC
    python benchmarks/gan_quality.py wgan --wgan-budget 600
    python benchmarks/gan_quality.py --wgan-history runs/wgan/history.csv   # a full run's, no training
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
RECIPES = os.path.join(os.path.dirname(HERE), "recipes")


def run_recipe(recipe: str, flags: list[str], keep: str | None = None) -> tuple[dict, list[dict]]:
    """Runs a recipe with `flags` into `<keep>/<recipe>` (else a temporary --out); its metrics.json and
    history.csv rows."""
    with tempfile.TemporaryDirectory(prefix=f"{recipe}-quality-") as tmp:
        out = os.path.join(keep, recipe) if keep else tmp
        proc = subprocess.run([sys.executable, os.path.join(RECIPES, f"{recipe}.py"), "--out", out, "--no-export",
                               "--fresh", *flags], capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f"{recipe} failed:\n{proc.stderr[-3000:]}")
        metrics = json.loads(open(os.path.join(out, "metrics.json")).read())
        with open(os.path.join(out, "history.csv")) as f:
            history = list(csv.DictReader(f))
    return metrics, history


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman's rank correlation (no ties expected in these continuous values)."""
    import numpy as np

    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("parts", nargs="*", metavar="{dcgan,cgan,wgan}", help="the runs to make")
    p.add_argument("--budget", type=float, default=360, help="seconds of training for dcgan and cgan")
    p.add_argument("--extra", default="", help="more flags for the dcgan/cgan recipes, e.g. '--filters 64'")
    p.add_argument("--wgan-budget", type=float, default=600)
    p.add_argument("--wgan-limit", type=int, default=6400)
    p.add_argument("--wgan-fid-samples", type=int, default=2000)
    p.add_argument("--wgan-history", help="no training: the W-vs-FID report of a finished wgan run's history.csv")
    p.add_argument("--keep", help="keep each run's --out (figures, sample grids, metrics) in KEEP/<recipe>")
    a = p.parse_args()
    if not a.parts and not a.wgan_history or set(a.parts) - {"dcgan", "cgan", "wgan"}:
        p.error("name runs from dcgan, cgan, wgan, or give --wgan-history")
    from _timing import machine

    print(machine(), flush=True)
    for part in a.parts:
        if part in ("dcgan", "cgan"):
            flags = ["--time-budget", str(a.budget), "--fid-every", "0", *a.extra.split()]
            m, history = run_recipe(part, flags, a.keep)
            epochs = len(history)  # epochs begun; the last may be partial
            print(f"{part} {' '.join(flags)}: {m['train_seconds']:.0f} s of training, {epochs} epoch(s) begun, "
                  f"FID {m['fid']:.2f} (floor {m['fid_real_floor']:.2f}) on {m['num_samples']} samples, "
                  f"largest class {m['max_class_share']:.0%}, entropy {m['sample_entropy']:.2f} nats"
                  + (f", label accuracy {m['label_accuracy']:.1%}" if "label_accuracy" in m else "")
                  + f"; classifier: {m['classifier']}", flush=True)
        else:
            flags = ["--limit", str(a.wgan_limit), "--epochs", "1000", "--time-budget", str(a.wgan_budget),
                     "--fid-every", "1", "--fid-samples", str(a.wgan_fid_samples)]
            m, history = run_recipe("wgan", flags, a.keep)
            print(f"wgan {' '.join(flags)}: {m['train_seconds']:.0f} s")
            critic_tracks_fid(history, f"FID ({a.wgan_fid_samples} samples)")
    if a.wgan_history:
        with open(a.wgan_history) as f:
            history = list(csv.DictReader(f))
        print(f"wgan, the run behind {a.wgan_history}:")
        critic_tracks_fid(history, "FID (the run's per-epoch samples)")


def critic_tracks_fid(history: list[dict], fid_label: str) -> None:
    """Per epoch the critic's W estimate and the FID, and their Spearman rank correlation: over all epochs,
    from the estimate's peak (before it the critic is still learning to estimate W) to the end and to its
    lowest point after the peak, and from that lowest point on."""
    rows = [(float(r["wasserstein"]), float(r["fid"])) for r in history if r.get("fid") not in ("", "nan", "NA")]
    w, fid = [r[0] for r in rows], [r[1] for r in rows]
    for i, (wi, fi) in enumerate(rows, 1):
        print(f"  epoch {i:2d}: critic's W estimate {wi:8.4f}   {fid_label} {fi:7.2f}")
    if len(rows) < 3:
        return
    peak = max(range(len(w)), key=w.__getitem__)
    low = min(range(peak, len(w)), key=w.__getitem__)
    parts = [f"over all {len(w)} epochs {spearman(w, fid):+.2f}"]
    for name, a, b in (("the estimate's peak", peak, len(w)), ("the estimate's peak", peak, low + 1),
                       ("its lowest point after the peak", low, len(w))):
        if b - a >= 3:
            parts.append(f"from epoch {a + 1} ({name}) to {b}: {spearman(w[a:b], fid[a:b]):+.2f}")
    print("  Spearman rank correlation of W estimate and FID: " + "; ".join(parts), flush=True)

if __name__ == "__main__":
    main()
