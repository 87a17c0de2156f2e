"""Which diffusion variant learns fastest per training step? FID of fixed samples against training steps.

Each variant trains the recipe's U-Net on Fashion-MNIST (batch 64, Adam decayed along a cosine over
`--horizon` steps, the recipe's default run) for `--steps` steps, and every `--eval-every` steps samples the
same fixed x_T with DDIM (η = 0, `--fid-steps` steps, the moving-average weights) and prints the FID of
`--fid-samples` samples against as many test images on the instrument (`gen_keras.evaluation`): the
recipe's per-epoch FID. Variants differ in the model's options, written `name=option:value,option:value`:

    python benchmarks/diffusion_variants.py --steps 859 \\
        --variants base "min_snr5=min_snr_gamma:5" "v_min_snr5=prediction:velocity,min_snr_gamma:5"

Options: `widths` (e.g. `16-32-64`), `blocks`, `prediction`, `min_snr_gamma`, `learning_rate`, `ema_decay`,
`batch`. Variants run one after another in this process; results go to `--out` as JSON.
"""

from __future__ import annotations

import argparse
import json
import time

import keras
import numpy as np
import tensorflow as tf

from _machine import machine
from gen_keras import data, evaluation, inference
from gen_keras.models.diffusion import Sampler, build_diffusion

DEFAULTS = {"widths": (16, 32, 64), "blocks": 1, "prediction": "epsilon", "min_snr_gamma": None,
            "learning_rate": 1e-3, "ema_decay": 0.999, "batch": 64}


def parse_variant(text: str) -> tuple[str, dict]:
    """`name=option:value,…` → (name, options over the defaults)."""
    name, _, spec = text.partition("=")
    options = dict(DEFAULTS)
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition(":")
        if key not in DEFAULTS:
            raise SystemExit(f"unknown option {key!r} in {text!r}; known: {', '.join(DEFAULTS)}")
        if key == "widths":
            options[key] = tuple(int(w) for w in value.split("-"))
        elif key in ("blocks", "batch"):
            options[key] = int(value)
        elif key == "prediction":
            options[key] = value
        else:
            options[key] = float(value)
    return name, options


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="+", default=["base"])
    parser.add_argument("--steps", type=int, default=859, help="training steps per variant")
    parser.add_argument("--horizon", type=int, default=6013, help="steps over which the learning rate decays to 0")
    parser.add_argument("--eval-every", type=int, default=859)
    parser.add_argument("--fid-samples", type=int, default=1000)
    parser.add_argument("--fid-steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="/tmp/diffusion_variants.json")
    args = parser.parse_args()
    print(machine())

    train, _, _ = data.load_splits("fashion_mnist", image_shape=(28, 28, 1))
    classifier = evaluation.load_classifier("fashion_mnist")
    reference = evaluation.reference_features(classifier, args.fid_samples)
    x_T = np.random.default_rng(args.seed).normal(size=(args.fid_samples, 28, 28, 1)).astype(np.float32)
    results = {}
    for text in args.variants:
        name, o = parse_variant(text)
        model = build_diffusion(o["widths"], o["blocks"], ema_decay=o["ema_decay"], seed=args.seed,
                                prediction=o["prediction"], min_snr_gamma=o["min_snr_gamma"])
        scale = o["batch"] / 64  # the recipe's rate is for batch 64; scaled linearly
        model.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(
            o["learning_rate"] * scale, decay_steps=args.horizon)))
        images = tf.data.Dataset.from_tensor_slices(train.as_float()).shuffle(len(train), seed=args.seed,
                                                                             reshuffle_each_iteration=True)
        images = images.repeat().batch(o["batch"], drop_remainder=True).prefetch(2)
        sampler = Sampler(model, steps=args.fid_steps)
        curve, done, seconds = [], 0, 0.0
        while done < args.steps:
            chunk = min(args.eval_every, args.steps - done)
            start = time.perf_counter()
            history = model.fit(images, steps_per_epoch=chunk, epochs=1, verbose=0)
            seconds += time.perf_counter() - start
            done += chunk
            samples = inference.sample_in_batches(sampler, x_T, batch_size=250)
            fid = evaluation.score(samples, classifier=classifier, reference=reference, floor=False)["fid"]
            curve.append({"steps": done, "fid": round(fid, 2), "loss": round(history.history["loss"][-1], 5)})
            print(f"{name}: {done} steps, FID {fid:.2f}, loss {curve[-1]['loss']}, "
                  f"{seconds / done:.3f} s a step", flush=True)
        results[name] = {"options": {k: list(v) if isinstance(v, tuple) else v for k, v in o.items()},
                         "parameters": model.network.count_params(), "seconds_per_step": seconds / done,
                         "curve": curve}
        with open(args.out, "w") as f:
            json.dump({"machine": machine(), "args": vars(args), "results": results}, f, indent=2)
    print(json.dumps({k: [c["fid"] for c in v["curve"]] for k, v in results.items()}))


if __name__ == "__main__":
    main()
