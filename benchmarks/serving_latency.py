"""The decoder's serving latency through TensorFlow's C API (the loader TF Serving uses): p50 and p99 of
one `serving_default` call at batch 1 and at batch 256, measured in a process that never imports
TensorFlow's Python package.

It times the newest `conv_autoencoder/decoder` export under --export-dir; with none there, it exports
the lecture's decoder untrained into a temporary folder first (the latency does not depend on the
weights' values).

    python benchmarks/serving_latency.py                       # 300 calls at batch 1, 60 at batch 256
    python benchmarks/serving_latency.py --export-dir saved_models --calls 1000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _machine import machine

EXPORT_UNTRAINED = """
import sys
from gen_keras.models.autoencoders import conv_autoencoder
from gen_keras.serving.export import export_for_serving
parts = conv_autoencoder("lecture")
parts.decoder.build((None, 49))
print(export_for_serving(parts.decoder, sys.argv[1], "conv_autoencoder", "decoder", inputs={"code": (49,)},
                         outputs="image", save_keras=False))
"""


def newest_decoder(export_dir: Path) -> Path | None:
    part_dir = export_dir / "conv_autoencoder" / "decoder"
    versions = sorted((int(p.name), p) for p in part_dir.glob("*") if p.name.isdigit()) if part_dir.is_dir() else []
    return versions[-1][1] if versions else None


def latencies(session, batch: int, calls: int, seed: int = 0) -> np.ndarray:
    """Seconds per call, after 5 warm-up calls."""
    codes = np.random.default_rng(seed).normal(size=(batch, 49)).astype(np.float32)
    for _ in range(5):
        session.run({"code": codes})
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        session.run({"code": codes})
        times.append(time.perf_counter() - start)
    return np.asarray(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--export-dir", type=Path, default=Path("saved_models"))
    parser.add_argument("--calls", type=int, default=300, help="calls at batch 1 (a fifth of them at batch 256)")
    args = parser.parse_args(argv)
    version = newest_decoder(args.export_dir)
    tmp = None
    if version is None:
        tmp = tempfile.TemporaryDirectory()
        done = subprocess.run([sys.executable, "-c", EXPORT_UNTRAINED, tmp.name], capture_output=True, text=True)
        if done.returncode:
            print(done.stderr[-2000:], file=sys.stderr)
            return 1
        version, weights = Path(done.stdout.strip().splitlines()[-1]), "untrained lecture decoder"
    else:
        weights = "trained decoder"
    from gen_keras.serving.capi import SavedModelSession  # ctypes only: no TensorFlow Python package

    results = {"machine": machine(), "export": str(version), "weights": weights}
    with SavedModelSession(version) as session:
        for batch, calls in ((1, args.calls), (256, max(10, args.calls // 5))):
            t = latencies(session, batch, calls) * 1000
            results[f"batch_{batch}"] = {"calls": calls, "p50_ms": round(float(np.percentile(t, 50)), 3),
                                         "p99_ms": round(float(np.percentile(t, 99)), 3),
                                         "images_per_s_at_p50": round(batch / np.percentile(t, 50) * 1000, 1)}
    assert "tensorflow" not in sys.modules
    print(f"{weights}, {version}, on {results['machine']}")
    print("| batch | calls | p50 (ms) | p99 (ms) | images/s at p50 |")
    print("|---|---|---|---|---|")
    for batch in (1, 256):
        r = results[f"batch_{batch}"]
        print(f"| {batch} | {r['calls']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['images_per_s_at_p50']:,.0f} |")
    print(json.dumps(results))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
