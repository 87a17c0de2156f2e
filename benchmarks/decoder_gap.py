"""Where a 2-d decoder's samples lose to the data: its reconstructions against its prior draws.

Loads a trained VAE (`recipes/vae.py` writes `<out>/vae.keras`) and prints, on the instrument
(`gen_keras.evaluation`: the fixed classifier's features, 10,000 images against the 10,000 test images):

- FID, KID and the classes of dec(z), z ~ N(0, I): the recipe's `prior_samples_fid` (another draw of z);
- FID and MSE of dec(μ(x)) for the test images: the decoder on the codes of real images, its best case.

The same two numbers for the adversarial autoencoder come from `benchmarks/aae_balance.py`, so the two
models' gaps can be put side by side: how much is the decoder, how much the codes' mismatch with the prior.

    python recipes/vae.py --out runs/vae && python benchmarks/decoder_gap.py runs/vae/vae.keras
"""

from __future__ import annotations

import argparse


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="a VAE saved by recipes/vae.py (<out>/vae.keras)")
    p.add_argument("--samples", type=int, default=10_000, help="prior draws (default 10,000)")
    p.add_argument("--seed", type=int, default=1, help="seed of the prior draws")
    a = p.parse_args()

    import keras
    import numpy as np

    import gen_keras  # noqa: F401  (registers the VAE's classes for loading)
    from gen_keras import data, evaluation, metrics
    from _machine import machine

    print(machine(), flush=True)
    vae = keras.saving.load_model(a.model)
    test = data.load_images("fashion_mnist", "test").as_float()
    classifier = evaluation.load_classifier("fashion_mnist")

    def mean_image(z):  # E[x|z] of the Bernoulli decoder: the sigmoid of its logits
        return keras.ops.convert_to_numpy(keras.ops.sigmoid(vae.decoder.predict(z, batch_size=1000, verbose=0)))

    z = np.random.default_rng(a.seed).standard_normal((a.samples, vae.decoder.inputs[0].shape[-1])).astype("float32")
    samples = mean_image(z)
    reference = evaluation.reference_features(classifier, len(test))
    drawn = evaluation.score(samples, classifier=classifier, reference=reference, floor=False)
    mean, _ = vae.encoder.predict(test, batch_size=1000, verbose=0)
    reconstructions = mean_image(mean)
    decoded = evaluation.score(reconstructions, classifier=classifier, reference=reference, floor=False)
    print(f"{a.model}: dec(z), z ~ N(0, I): {evaluation.summary_line(drawn)}; classes of the samples "
          f"{drawn['class_histogram']}; dec(μ(x)) of the test images: FID {decoded['fid']:.2f}, KID "
          f"{decoded['kid']:.4f}, MSE {metrics.mse(reconstructions, test):.4f}", flush=True)


if __name__ == "__main__":
    main()
