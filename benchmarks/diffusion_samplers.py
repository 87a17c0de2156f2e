"""Sampling a trained diffusion model two ways: does the DDIM step's treatment of the clipped x̂_0 matter?

DDIM's step predicts x̂_0 = (x_t − √(1 − ᾱ_t) ε̂)/√ᾱ_t and clips it to the data's [−1, 1]. Then it can go on
with the network's ε̂ ("network noise", the step as first written), or with the noise the clipped x̂_0 implies,
ε̃ = (x_t − √ᾱ_t x̂_0)/√(1 − ᾱ_t) ("implied noise", gen_keras's `Diffusion.ddim_step`), which keeps x_s on
the line from x̂_0 through x_t. Both from the same fixed x_T, FID and KID of `--samples` samples against as
many test images on the instrument (`gen_keras.evaluation`), at each step count and η:

    python benchmarks/diffusion_samplers.py --model runs/diffusion/diffusion.keras --steps 20 50 --etas 0 1
"""

from __future__ import annotations

import argparse
import json

import keras
import numpy as np
import tensorflow as tf

from _machine import machine
from gen_keras import evaluation, inference
from gen_keras.models import diffusion


def step_with_network_noise(self, x_t, t, s, eps, eta=0.0, noise=None):
    """The DDIM step that clips x̂_0 but keeps the network's ε̂ (the alternative measured here)."""
    a_t = tf.gather(self.alpha_bars, t)
    a_s = tf.where(s >= 0, tf.gather(self.alpha_bars, tf.maximum(s, 0)), 1.0)
    x0 = tf.clip_by_value((x_t - tf.sqrt(1.0 - a_t) * eps) / tf.sqrt(a_t), -1.0, 1.0)
    sigma = tf.cast(eta, tf.float32) * tf.sqrt((1.0 - a_s) / (1.0 - a_t) * (1.0 - a_t / a_s))
    x_s = tf.sqrt(a_s) * x0 + tf.sqrt(tf.maximum(1.0 - a_s - sigma ** 2, 0.0)) * eps
    return x_s + sigma * noise if noise is not None else x_s


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="runs/diffusion/diffusion.keras", help="a saved diffusion.keras")
    parser.add_argument("--steps", type=int, nargs="+", default=[20, 50])
    parser.add_argument("--etas", type=float, nargs="+", default=[0.0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(machine())

    model = keras.saving.load_model(args.model)
    classifier = evaluation.load_classifier("fashion_mnist")
    reference = evaluation.reference_features(classifier, args.samples)
    x_T = np.random.default_rng(args.seed).normal(size=(args.samples, *model.image_shape)).astype(np.float32)
    library_step = diffusion.Diffusion.ddim_step
    rows = []
    for name, step in [("network noise", step_with_network_noise), ("implied noise", library_step)]:
        diffusion.Diffusion.ddim_step = step
        for eta in args.etas:
            for steps in args.steps:
                sampler = diffusion.Sampler(model, steps=steps, eta=eta)
                images = inference.sample_in_batches(sampler, x_T, batch_size=250)
                scored = evaluation.score(images, classifier=classifier, reference=reference, floor=False)
                rows.append({"step": name, "eta": eta, "steps": steps, "fid": round(scored["fid"], 2),
                             "kid": round(scored["kid"], 4), "num_samples": scored["num_samples"]})
                print(json.dumps(rows[-1]), flush=True)
    diffusion.Diffusion.ddim_step = library_step


if __name__ == "__main__":
    main()
