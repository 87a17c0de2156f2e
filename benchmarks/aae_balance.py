"""The adversarial autoencoder's balance: which learning rates keep its codes on the prior?

The `base` variant is the recipe's first AAE (2-d code, the paper's dense encoder, Adam 2e-4 with β1 = 0.5
for all three optimizers), which ended its default run with the discriminator at D ≈ 0.5 while the test
codes sat off N(0, I). This trains those networks with other rates for each optimizer (`ae`: reconstruction
phase; `d`: discriminator; `g`: the encoder against D), or with the convolutional encoder (`conv*`; the
recipe's default now is `conv_ae9`), and prints, after every epoch, the reconstruction error and where the
test codes are (the prior: mean 0, std 1), then the FID of dec(z), z ~ p(z), on 10,000 samples, the FID of
the test images' reconstructions dec(enc(x)) (the decoder's best case), the samples' classes, and the
permutation test of 1,000 test codes against as many prior draws. Each variant in its own process, one
after the other.

With `--prior mixture` (ten Gaussians on a circle of radius 3) it also prints the codes' radius, and with
`--supervised` (the label picks the petal, and D sees the label) the share of test codes whose nearest
petal is their label's.

    python benchmarks/aae_balance.py --epochs 4                       # all variants below
    python benchmarks/aae_balance.py --variants base glow --epochs 4
    python benchmarks/aae_balance.py --prior mixture --supervised --variants base gfast --epochs 4

`--epoch-fid N` also measures, after every epoch, the FID of N decoded prior draws (the same draws each
time), how far the same test images' codes moved since the previous epoch, and MMD² between 1,000 test
codes and 1,000 prior draws, and ends with the correlations between them across epochs: does the FID swing
with the codes' drift or with their distance from the prior?
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
    "gfast": {"g": (1e-3, 0.5)},                    # the encoder moves 5× faster against D
    "aeslow": {"ae": (4e-5, 0.5)},                  # reconstruction 5× slower
    "cosine": {"schedule": "cosine"},               # all three rates cosine-decayed to 0 over the run
    "cosine_wide": {"schedule": "cosine", "units": 1000},  # and the paper's 1,000-unit layers (the recipe: 512)
    "cosine_5e-4": {"schedule": "cosine", "ae": (5e-4, 0.5), "d": (5e-4, 0.5), "g": (5e-4, 0.5)},
    "gaussian_posterior": {"posterior": "gaussian"},      # q(z|x) = N(μ(x), σ²(x)): z drawn in training
    "gaussian_posterior_cosine": {"posterior": "gaussian", "schedule": "cosine"},
    "bce": {"reconstruction": "bce"},                     # the VAE's Bernoulli likelihood for reconstruction
    "conv": {"encoder": "conv"},                          # the VAE recipe's convolutional encoder
    "conv_ae9": {"encoder": "conv", "ae": (1e-3, 0.9)},   # and its reconstruction rate
    "conv_bce_ae9": {"encoder": "conv", "reconstruction": "bce", "ae": (1e-3, 0.9)},
    "conv_ae9_gfast": {"encoder": "conv", "ae": (1e-3, 0.9), "g": (1e-3, 0.5)},  # the hard priors' 5× encoder step
    "conv_ae9_g2": {"encoder": "conv", "ae": (1e-3, 0.9), "g": (4e-4, 0.5)},      # the encoder's step against D 2×
}


def run_variant(name: str, epochs: int, prior: str = "gaussian", supervised: bool = False, epoch_fid: int = 0) -> None:
    """Trains one variant in this process and prints its lines."""
    import keras
    import numpy as np

    from gen_keras import data, evaluation, metrics, training
    from gen_keras.divergences import mmd2, mmd_permutation_test
    from gen_keras.models.aae import AdversarialAutoencoder, aae_networks, nearest_component, sample_prior

    variant = dict(VARIANTS[name])
    schedule, units = variant.pop("schedule", None), variant.pop("units", 512)
    posterior = variant.pop("posterior", "deterministic")
    encoder, reconstruction = variant.pop("encoder", "dense"), variant.pop("reconstruction", "mse")
    rates = {"ae": (2e-4, 0.5), "d": (2e-4, 0.5), "g": (2e-4, 0.5), **variant}
    training.set_seed(0)
    train_set, test_set = data.load_images("fashion_mnist", "train"), data.load_images("fashion_mnist", "test")
    train, test = train_set.as_float(), test_set.as_float()
    aae = AdversarialAutoencoder(*aae_networks(2, units, num_classes=10 if supervised else 0, posterior=posterior,
                                               encoder=encoder, seed=0), prior=prior,
                                 supervised=supervised, reconstruction_loss=reconstruction, seed=0)
    steps = epochs * -(-len(train) // 128)

    def rate(lr):  # constant, or cosine-decayed to 0 over the run's steps
        return keras.optimizers.schedules.CosineDecay(lr, steps) if schedule == "cosine" else lr

    aae.compile(**{f"{part}_optimizer": keras.optimizers.Adam(rate(lr), beta_1=beta_1)
                   for part, (lr, beta_1) in rates.items()})

    classifier = evaluation.load_classifier("fashion_mnist")
    reference = evaluation.reference_features(classifier, len(test))
    fixed_z = sample_prior(prior, max(epoch_fid, 1), 2, 2, np.arange(max(epoch_fid, 1)) % 10 if supervised else None)
    mmd_prior = sample_prior(prior, 1000, 2, 3, test_set.labels[:1000] if supervised else None)
    per_epoch = {"fid": [], "drift": [], "mmd2": []}

    class Where(keras.callbacks.Callback):
        previous = None

        def on_epoch_end(self, epoch, logs=None):
            codes = aae.encoder.predict(test[:5000], verbose=0, batch_size=1000)
            if epoch_fid:  # FID of fixed prior draws; median distance the same images' codes moved; MMD² to p(z)
                fid_now = evaluation.score(aae.decoder.predict(fixed_z, verbose=0, batch_size=1000),
                                           classifier=classifier, reference=reference, floor=False)["fid"]
                drift = float("nan") if self.previous is None else float(np.median(
                    np.linalg.norm(codes - self.previous, axis=1)))
                per_epoch["fid"].append(fid_now)
                per_epoch["drift"].append(drift)
                per_epoch["mmd2"].append(mmd2(codes[:1000], mmd_prior))
                print(f"{name} epoch {epoch + 1}: FID ({epoch_fid} draws) {fid_now:.1f}, codes moved (median) "
                      f"{drift:.3f}, MMD² to the prior {per_epoch['mmd2'][-1]:.4f}", flush=True)
            self.previous = codes
            decoded = aae.decoder.predict(codes, verbose=0, batch_size=1000)
            petals = ""
            if prior == "mixture":
                radius = np.linalg.norm(codes, axis=1)
                petals = f"; radius median {np.median(radius):.2f} (prior 3), 90th percentile {np.percentile(radius, 90):.2f}"
            if supervised:
                petals += f"; in their label's petal {np.mean(nearest_component(codes) == test_set.labels[:5000]):.1%}"
            print(f"{name} epoch {epoch + 1}: train reconstruction {logs['reconstruction']:.4f}, test MSE "
                  f"{metrics.mse(decoded, test[:5000]):.4f}; test codes mean {np.round(codes.mean(0), 2)} std "
                  f"{np.round(codes.std(0), 2)}; D(prior) {logs['d_real']:.2f}, D(codes) {logs['d_fake']:.2f}"
                  f"{petals}", flush=True)

    start = time.perf_counter()
    aae.fit(train, train_set.labels if supervised else None, batch_size=128, epochs=epochs, verbose=0,
            callbacks=[Where()], shuffle=True)
    seconds = time.perf_counter() - start
    if epoch_fid and epochs > 2:  # across epochs 2…E: does the FID move with the drift, or with MMD²?
        fid_, drift_, mmd_ = (np.asarray(per_epoch[k][1:]) for k in ("fid", "drift", "mmd2"))
        print(f"{name}: across epochs 2-{epochs}, correlation of the FID with the codes' drift "
              f"{np.corrcoef(fid_, drift_)[0, 1]:+.2f}, with MMD² to the prior {np.corrcoef(fid_, mmd_)[0, 1]:+.2f}",
              flush=True)
    z = sample_prior(prior, 10000, 2, 1, np.arange(10000) % 10 if supervised else None)
    images = aae.decoder.predict(z, verbose=0, batch_size=1000)
    drawn = evaluation.score(images, classifier=classifier, reference=reference, floor=False)
    # Where the gap to the data is: the decoder on the test images' own codes (its best case) against the
    # decoder on prior draws (which adds the codes' mismatch with the prior).
    reconstructions = aae.predict(test, verbose=0, batch_size=1000)
    reconstruction_fid = evaluation.score(reconstructions, classifier=classifier, reference=reference, floor=False)["fid"]
    codes = aae.encoder.predict(test[:1000], verbose=0, batch_size=1000)
    match = mmd_permutation_test(codes, mmd_prior, num_permutations=200, seed=0)
    print(f"{name}: 1,000 test codes vs as many prior draws: MMD² {match.mmd2:.4f}, permutation p = "
          f"{match.p_value:.3f}", flush=True)
    print(f"{name}: {evaluation.summary_line(drawn)}, {seconds:.0f} s "
          f"({json.dumps(VARIANTS[name])}, prior {prior}{', supervised' if supervised else ''}); classes of the "
          f"samples {drawn['class_histogram']}; dec(enc(x)) of the test images: FID {reconstruction_fid:.2f}, MSE "
          f"{metrics.mse(reconstructions, test):.4f}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=list(VARIANTS))
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--prior", choices=("gaussian", "mixture", "swiss_roll"), default="gaussian")
    p.add_argument("--supervised", action="store_true", help="the label picks the mixture's petal")
    p.add_argument("--epoch-fid", type=int, default=0, help="per-epoch FID of this many prior draws (0: none)")
    p.add_argument("--one", choices=sorted(VARIANTS), help=argparse.SUPPRESS)  # a child process's variant
    a = p.parse_args()
    if a.one:
        return run_variant(a.one, a.epochs, a.prior, a.supervised, a.epoch_fid)
    from _timing import machine

    print(machine(), flush=True)
    for name in a.variants:
        subprocess.run([sys.executable, os.path.abspath(__file__), "--one", name, "--epochs", str(a.epochs),
                        "--prior", a.prior, "--epoch-fid", str(a.epoch_fid)] + (["--supervised"] if a.supervised else []),
                       check=True)


if __name__ == "__main__":
    main()
