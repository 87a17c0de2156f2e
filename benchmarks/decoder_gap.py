"""Where a 2-d decoder's samples lose to the data: its reconstructions against its prior draws.

Loads a trained VAE (`recipes/vae.py` writes `<out>/vae.keras`) and prints, on the GANs' instrument (the
fixed classifier's features, 10,000 images against the 10,000 test images):

- FID and the classes of dec(z), z ~ N(0, I): the recipe's `prior_samples_fid` (another draw of z);
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
    from gen_keras import classifier as clf
    from gen_keras import data, metrics
    from _machine import machine

    print(machine(), flush=True)
    vae = keras.saving.load_model(a.model)
    test = data.load_images("fashion_mnist", "test").as_float()
    classifier = clf.load_or_train_classifier("fashion_mnist")
    test_features = clf.extract_features(classifier, test)

    def mean_image(z):  # E[x|z] of the Bernoulli decoder: the sigmoid of its logits
        return keras.ops.convert_to_numpy(keras.ops.sigmoid(vae.decoder.predict(z, batch_size=1000, verbose=0)))

    z = np.random.default_rng(a.seed).standard_normal((a.samples, vae.decoder.inputs[0].shape[-1])).astype("float32")
    samples = mean_image(z)
    histogram = metrics.class_histogram(clf.predict_classes(classifier, samples), 10)
    fid = metrics.frechet_distance(clf.extract_features(classifier, samples), test_features)
    mean, _ = vae.encoder.predict(test, batch_size=1000, verbose=0)
    reconstructions = mean_image(mean)
    reconstruction_fid = metrics.frechet_distance(clf.extract_features(classifier, reconstructions), test_features)
    print(f"{a.model}: dec(z), z ~ N(0, I): FID {fid:.2f}, classes of the samples {histogram.tolist()}; "
          f"dec(μ(x)) of the test images: FID {reconstruction_fid:.2f}, MSE {metrics.mse(reconstructions, test):.4f}",
          flush=True)


if __name__ == "__main__":
    main()
