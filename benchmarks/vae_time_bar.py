"""The VAE's time target, measured on this machine: the keras.io VAE example's network trained as the
reference run timed it (15 epochs of the 60,000 training images, batch 128, Adam 1e-3; 343 s on the
reference machine) and then `recipes/vae.py` with its defaults, one after the other, each reporting its training seconds and
test −ELBO in nats per image (Bernoulli, grey levels in [0, 1]).

The target is "test −ELBO ≤ 259 within 343 s"; 343 s is what the reference run took where it was set,
so the ratio of the two wall times here says how the recipe stands on a slower or faster CPU.

    python benchmarks/vae_time_bar.py            # about 25 minutes on a 2-core EPYC
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def keras_io_reference(epochs: int) -> dict:
    """The keras.io network for `epochs` epochs; its wall time and test −ELBO (one posterior draw per image)."""
    import keras
    import numpy as np
    from keras import ops

    from gen_keras import data
    from _timing import StepTimer
    from vae_throughput import KerasIoVAE

    train = data.load_images("fashion_mnist", "train").as_float()
    test = data.load_images("fashion_mnist", "test").as_float()
    keras.utils.set_random_seed(0)
    model = KerasIoVAE()
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    timer = StepTimer()
    start = time.perf_counter()
    model.fit(train, batch_size=128, epochs=epochs, verbose=0, callbacks=[timer])
    seconds = time.perf_counter() - start
    rec, kl = [], []
    for i in range(0, len(test), 500):
        x = test[i:i + 500]
        mean, log_var = model.encoder(x, training=False)
        z = mean + ops.exp(0.5 * log_var) * keras.random.normal(ops.shape(mean), seed=1)
        x_hat = model.decoder(z, training=False)
        rec.append(np.asarray(ops.sum(keras.losses.binary_crossentropy(x, x_hat), axis=(1, 2))))
        kl.append(np.asarray(ops.sum(-0.5 * (1 + log_var - ops.square(mean) - ops.exp(log_var)), axis=1)))
    rec, kl = float(np.concatenate(rec).mean()), float(np.concatenate(kl).mean())
    ms = float(np.median([t for epoch in timer.steps for t in epoch][20:])) * 1000
    return {"train_seconds": round(seconds, 1), "test_negative_elbo": round(rec + kl, 1),
            "test_reconstruction": round(rec, 1), "test_kl": round(kl, 1), "median_ms_per_step": round(ms, 1)}


def recipe_run(extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="vae-bar-") as out:
        subprocess.run([sys.executable, os.path.join(os.path.dirname(HERE), "recipes", "vae.py"), "--out", out,
                        "--no-export", "--iwae-images", "100", *extra], check=True, stdout=subprocess.DEVNULL)
        m = json.loads(open(os.path.join(out, "metrics.json")).read())
    return {k: round(m[k], 1) for k in ("epochs", "train_seconds", "test_negative_elbo", "test_reconstruction", "test_kl")}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reference-epochs", type=int, default=15)
    p.add_argument("--recipe-args", default="", help="extra flags for recipes/vae.py, e.g. '--epochs 16'")
    p.add_argument("--part", choices=("reference", "recipe"), help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.part == "reference":
        return print(json.dumps(keras_io_reference(a.reference_epochs)))
    from _timing import machine

    print(machine(), flush=True)
    ref = json.loads(subprocess.run([sys.executable, __file__, "--part", "reference", "--reference-epochs",
                                     str(a.reference_epochs)], check=True, capture_output=True,
                                    text=True).stdout.strip().splitlines()[-1])
    print(f"keras.io network, {a.reference_epochs} epochs: {ref}", flush=True)
    rec = recipe_run(a.recipe_args.split())
    print(f"recipes/vae.py {a.recipe_args or '(defaults)'}: {rec}", flush=True)
    print(f"recipe / reference wall time: {rec['train_seconds'] / ref['train_seconds']:.2f}; "
          f"the bar scaled to this machine: {343 * rec['train_seconds'] / ref['train_seconds']:.0f} s of the "
          f"reference machine for the recipe (target 343 s), −ELBO {rec['test_negative_elbo']} (bar 259)")


if __name__ == "__main__":
    main()
