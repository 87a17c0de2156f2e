"""How steady is one training step's time on this machine? The recipe's VAE trained in rounds of
`--steps` steps in one process, each round's mean ms/step printed, beside a numpy matmul as a control.

On the shared 2-core EPYC one run printed 34.8 to 43.1 ms a step (43.0 in four of eight rounds; the matmul
2.0 to 2.7 ms); earlier ad hoc runs of the same loop saw rounds of 28 to 75 ms in one process, with steady
values such as 43.0 and 51.4 recurring. Whole runs of one command took 338 and 507 s: time within one run.

    python benchmarks/step_time_modes.py --rounds 8
"""

from __future__ import annotations

import argparse
import time

import keras
import numpy as np

from gen_keras import data, training
from gen_keras.models.vae import build_vae
from _timing import machine


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--steps", type=int, default=60)
    a = p.parse_args()
    training.set_seed(0)
    train, _ = data.hold_out(data.load_images("fashion_mnist", "train"))
    vae = build_vae(2, seed=0)
    vae.compile(optimizer=keras.optimizers.Adam(1e-3))
    ds = data.make_dataset(train, 128, seed=0, repeat=True, steps_per_epoch=len(train) // 128)
    vae.fit(ds, epochs=1, steps_per_epoch=5, verbose=0)  # compiles the step
    m = np.random.default_rng(0).random((512, 512), dtype=np.float32)
    print(f"{machine()}; the recipe's VAE at batch 128, {a.steps} steps a round")
    for r in range(a.rounds):
        start = time.perf_counter()
        vae.fit(ds, epochs=1, steps_per_epoch=a.steps, verbose=0)
        step_ms = (time.perf_counter() - start) / a.steps * 1000
        start = time.perf_counter()
        for _ in range(100):
            m @ m
        matmul_ms = (time.perf_counter() - start) / 100 * 1000
        print(f"round {r + 1}: {step_ms:5.1f} ms/step   control: 512x512 matmul {matmul_ms:4.2f} ms", flush=True)


if __name__ == "__main__":
    main()
