"""How fast do the exported samplers draw images? p50 / p99 ms per call and per image, through TensorFlow's C
API (the loader TF Serving uses), at batch 1 and a large batch: the DCGAN generator, the image flow's
`sample`, the diffusion model's DDIM `sample` at 10 / 25 / 50 steps, PixelCNN's pixel-by-pixel `sample`.

The models are the recipes' default networks, untrained, exported by the recipes' own export code into a
temporary folder (speed does not depend on the weights' values); the timing process never imports
TensorFlow's Python package.

    python benchmarks/sampling_speed.py --json docs/results/data/sampling_speed.json
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

EXPORT = r"""
import importlib.util, json, os, sys
import keras
out = sys.argv[1]
root = os.getcwd()

def recipe(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(root, "recipes", name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

from gen_keras import gan_recipe
from gen_keras.models.diffusion import build_diffusion
from gen_keras.models.flows import image_flow
from gen_keras.models.gan import GAN, dcgan_discriminator, dcgan_generator
from gen_keras.models.pixelcnn import build_pixelcnn
from gen_keras.serving import export

paths = {}
a = recipe("dcgan").parse([])
gan = GAN(dcgan_generator(a.latent_dim, a.filters), dcgan_discriminator(), seed=0)
paths["dcgan"] = str(gan_recipe.export(gan, out, "dcgan")["generator"])
flows = recipe("flows")
a = flows.parse([])
flow = image_flow((28, 28, 1), a.couplings, a.units, seed=0)
flow.initialize(keras.random.uniform((64, 28, 28, 1), seed=0))
paths["flow"] = str(export.export_signatures(flow, out, "flows", "fashion_mnist",
                                             flows.endpoints(flow, flow.event_shape, True)))
diffusion = recipe("diffusion")
a = diffusion.parse([])
model = build_diffusion(a.widths, a.blocks, attention=not a.no_attention, schedule=a.schedule, timesteps=a.timesteps,
                        ema_decay=a.ema_decay, seed=0, prediction=a.prediction, min_snr_gamma=a.min_snr_gamma or None)
paths["diffusion"] = str(diffusion.export(model, out))
pixelcnn = recipe("pixelcnn")
a = pixelcnn.parse([])
paths["pixelcnn"] = str(pixelcnn.export(build_pixelcnn(a.blocks, a.filters, binarize=a.binarize, seed=0), out))
print(json.dumps(paths))
"""


def timed(session, inputs: dict, signature: str, calls: int) -> np.ndarray:
    """ms per call, after one warm-up call."""
    session.run(inputs, signature=signature)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        session.run(inputs, signature=signature)
        times.append(time.perf_counter() - start)
    return np.asarray(times) * 1e3


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=20, help="timed calls at batch 1 (fewer at the large batch)")
    p.add_argument("--json", help="write every number to this file")
    a = p.parse_args(argv)
    tmp = tempfile.TemporaryDirectory()
    done = subprocess.run([sys.executable, "-c", EXPORT, tmp.name], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])
    if done.returncode:
        print(done.stderr[-3000:], file=sys.stderr)
        return 1
    paths = json.loads(done.stdout.strip().splitlines()[-1])
    from gen_keras.serving.capi import SavedModelSession  # ctypes only: no TensorFlow Python package

    rng = np.random.default_rng(0)
    cases = []  # (sampler, export, signature, batch, inputs, calls)
    for batch in (1, 256):
        many = batch > 1
        cases.append(("DCGAN generator", "dcgan", "serving_default", batch,
                      {"z": rng.normal(size=(batch, 64)).astype(np.float32)}, a.calls * (1 if many else 10)))
        cases.append(("RealNVP flow", "flow", "sample", batch,
                      {"num_samples": np.int32(batch), "seed": np.int32(0), "temperature": np.float32(1.0)},
                      a.calls if many else a.calls * 5))
        for steps in (10, 25, 50):
            cases.append((f"diffusion, DDIM {steps} steps", "diffusion", "sample", batch,
                          {"num_samples": np.int32(batch), "seed": np.int32(0), "steps": np.int32(steps),
                           "eta": np.float32(0.0)}, max(3, a.calls // (5 if many else 1))))
    for batch in (1, 64):  # the export serves at most 64 a request: each costs 784 passes of the network
        cases.append(("PixelCNN, 784 pixels in turn", "pixelcnn", "sample", batch,
                      {"num_samples": np.int32(batch), "seed": np.int32(0)}, 3))
    rows = []
    sessions = {}
    try:
        for name, export, signature, batch, inputs, calls in cases:
            if export not in sessions:
                sessions[export] = SavedModelSession(paths[export])
            t = timed(sessions[export], inputs, signature, calls)
            row = {"sampler": name, "signature": signature, "batch": batch, "calls": calls,
                   "p50_ms": float(np.percentile(t, 50)), "p99_ms": float(np.percentile(t, 99)),
                   "ms_per_image_at_p50": float(np.percentile(t, 50) / batch)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        for session in sessions.values():
            session.close()
    assert "tensorflow" not in sys.modules
    print(f"\n{machine()}; untrained default networks, exported by the recipes, run through the C API")
    print("| sampler | batch | calls | p50 a call | p99 a call | per image at p50 |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['sampler']} | {r['batch']} | {r['calls']} | {r['p50_ms']:,.1f} ms | {r['p99_ms']:,.1f} ms "
              f"| {r['ms_per_image_at_p50']:,.2f} ms |")
    if a.json:
        Path(a.json).write_text(json.dumps({"machine": machine(), "command": " ".join(sys.argv), "rows": rows}, indent=1))
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
