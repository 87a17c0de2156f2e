"""The adversarial autoencoder's balance: which learning rates keep its codes on the prior?

The recipe's AAE (2-d code, Adam 2e-4 with β1 = 0.5 for all three optimizers) ends its default run with the
discriminator at D ≈ 0.5 while the test codes sit off N(0, I). This trains the recipe's networks with other
rates for each optimizer (`ae`: reconstruction phase; `d`: discriminator; `g`: the encoder against D) and
prints, after every epoch, the reconstruction error and where the test codes are (the prior: mean 0, std 1),
then the FID of dec(z), z ~ N(0, I), on 10,000 samples. Each variant in its own process, one after the other.

    python benchmarks/aae_balance.py --epochs 4                       # all variants below
    python benchmarks/aae_balance.py --variants base glow --epochs 4
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


# name: (learning rate, β1) per optimizer that differs from the recipe's (2e-4, 0.5)
VARIANTS = {
    "base": {},
    "glow": {"g": (2e-5, 0.5)},                     # the encoder moves 10× slower against D
    "dfast": {"d": (1e-3, 0.5)},                    # D learns 5× faster
    "ae9": {"ae": (1e-3, 0.9)},                     # reconstruction with Keras' default Adam
    "ttur": {"d": (4e-4, 0.5), "g": (1e-4, 0.5)},   # two time scales: D 2× faster, encoder 2× slower
}


def run_variant(name: str, epochs: int) -> None:
    """Trains one variant in this process and prints its lines."""
    import keras
    import numpy as np

    from gen_keras import classifier as clf
    from gen_keras import data, metrics, training
    from gen_keras.models.aae import AdversarialAutoencoder, aae_networks

    rates = {"ae": (2e-4, 0.5), "d": (2e-4, 0.5), "g": (2e-4, 0.5), **VARIANTS[name]}
    training.set_seed(0)
    train = data.load_images("fashion_mnist", "train").as_float()
    test = data.load_images("fashion_mnist", "test").as_float()
    aae = AdversarialAutoencoder(*aae_networks(2), seed=0)
    aae.compile(**{f"{part}_optimizer": keras.optimizers.Adam(lr, beta_1=beta_1)
                   for part, (lr, beta_1) in rates.items()})

    class Where(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            codes = aae.encoder.predict(test[:5000], verbose=0, batch_size=1000)
            decoded = aae.decoder.predict(codes, verbose=0, batch_size=1000)
            print(f"{name} epoch {epoch + 1}: train reconstruction {logs['reconstruction']:.4f}, test MSE "
                  f"{metrics.mse(decoded, test[:5000]):.4f}; test codes mean {np.round(codes.mean(0), 2)} std "
                  f"{np.round(codes.std(0), 2)}; D(prior) {logs['d_real']:.2f}, D(codes) {logs['d_fake']:.2f}",
                  flush=True)

    start = time.perf_counter()
    aae.fit(train, batch_size=128, epochs=epochs, verbose=0, callbacks=[Where()], shuffle=True)
    seconds = time.perf_counter() - start
    classifier = clf.load_or_train_classifier("fashion_mnist")
    z = np.random.default_rng(1).standard_normal((10000, 2)).astype("float32")
    images = aae.decoder.predict(z, verbose=0, batch_size=1000)
    fid = metrics.frechet_distance(clf.extract_features(classifier, images), clf.extract_features(classifier, test))
    histogram = metrics.class_histogram(clf.predict_classes(classifier, images), 10)
    print(f"{name}: FID {fid:.2f}, largest class {metrics.max_class_share(histogram):.0%}, {seconds:.0f} s "
          f"({json.dumps(VARIANTS[name])})", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS))
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--one", choices=sorted(VARIANTS), help=argparse.SUPPRESS)  # a child process's variant
    a = p.parse_args()
    if a.one:
        return run_variant(a.one, a.epochs)
    from _timing import machine

    print(machine(), flush=True)
    for name in a.variants:
        subprocess.run([sys.executable, os.path.abspath(__file__), "--one", name, "--epochs", str(a.epochs)],
                       check=True)


if __name__ == "__main__":
    main()
