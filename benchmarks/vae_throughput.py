"""Training throughput of the VAE recipe's model beside a plain re-statement of the keras.io VAE example.

Variants, each in its own process, taking turns round after round (so background load hits all alike):
  keras.io network, plain     the example's network and custom train_step, model.fit on numpy (134,165 params)
  keras.io network, gen_keras the same network as a gen_keras VAE (TFP sampling layer) through the trainer
  recipe network, gen_keras   `recipes/vae.py`'s default network (dense decoder) through the trainer
  recipe conv decoder         `recipes/vae.py --decoder conv` through the trainer
Reports median steady images/s and ms per step of `--batch-size` images.

    python benchmarks/vae_throughput.py --limit 12800 --epochs 2 --rounds 2
"""

from __future__ import annotations

import tempfile

import keras
import tensorflow as tf
from keras import layers as L
from keras import ops

from gen_keras import cli, data, training
from gen_keras.models.vae import VAE, build_vae, vae_decoder, vae_encoder
from _timing import StepTimer, compare, machine, throughput_parser, timings_json


class KerasIoVAE(keras.Model):
    """The keras.io example, restated: ε ~ N(0, I) from keras.random, summed pixel BCE + analytic KL."""

    def __init__(self, latent_dim=2):
        super().__init__()
        x = keras.Input((28, 28, 1))
        h = L.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
        h = L.Conv2D(64, 3, strides=2, padding="same", activation="relu")(h)
        h = L.Dense(16, activation="relu")(L.Flatten()(h))
        self.encoder = keras.Model(x, [L.Dense(latent_dim)(h), L.Dense(latent_dim)(h)])
        z = keras.Input((latent_dim,))
        h = L.Reshape((7, 7, 64))(L.Dense(7 * 7 * 64, activation="relu")(z))
        h = L.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu")(h)
        h = L.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(h)
        self.decoder = keras.Model(z, L.Conv2DTranspose(1, 3, padding="same", activation="sigmoid")(h))
        self.seed = keras.random.SeedGenerator(0)

    def train_step(self, x):
        with tf.GradientTape() as tape:
            mean, log_var = self.encoder(x, training=True)
            z = mean + ops.exp(0.5 * log_var) * keras.random.normal(ops.shape(mean), seed=self.seed)
            x_hat = self.decoder(z, training=True)
            rec = ops.mean(ops.sum(keras.losses.binary_crossentropy(x, x_hat), axis=(1, 2)))
            kl = ops.mean(ops.sum(-0.5 * (1 + log_var - ops.square(mean) - ops.exp(log_var)), axis=1))
            loss = rec + kl
        grads = tape.gradient(loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return {"loss": loss}


def measure(variant: str, a) -> None:
    arrays = data.load_images("fashion_mnist", "train", a.limit)
    timer = StepTimer()
    if variant == "plain":
        keras.utils.set_random_seed(0)
        model = KerasIoVAE()
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        model.fit(arrays.as_float(), batch_size=a.batch_size, epochs=a.epochs, verbose=0, callbacks=[timer])
    else:
        args = cli.parse_args(cli.recipe_parser("bench", epochs=a.epochs), [
            "--batch-size", str(a.batch_size), "--out", tempfile.mkdtemp(prefix="bench-")])
        run = training.setup(args)
        with run.strategy.scope():
            if variant == "kerasio":
                vae = VAE(vae_encoder(2, units=16), vae_decoder(2, units=0), seed=0)
                vae.build((None, 28, 28, 1))
            else:
                vae = build_vae(2, seed=0, decoder="conv" if variant == "conv" else "dense")
            vae.compile(optimizer=keras.optimizers.Adam(1e-3), **run.compile_options())
        training.fit(vae, arrays, None, run, a.epochs, targets=None, callbacks=[timer], verbose=0)
    print(timings_json(timer, a.batch_size))


def main():
    p = throughput_parser(__doc__)
    a = p.parse_args()
    if a.variant:
        return measure(a.variant, a)
    variants = {"keras.io network, plain": "plain", "keras.io network, gen_keras": "kerasio",
                "recipe network, gen_keras": "recipe", "recipe conv decoder, gen_keras": "conv"}
    print(f"{machine()}; {a.limit or 60000} images, batch {a.batch_size}, {a.epochs} epochs x {a.rounds} rounds")
    compare(__file__, variants, ["--epochs", str(a.epochs), "--batch-size", str(a.batch_size),
                                 *(["--limit", str(a.limit)] if a.limit else [])], a.rounds)


if __name__ == "__main__":
    main()
