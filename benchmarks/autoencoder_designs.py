"""Which 49-d-code autoencoder learns most in a fixed time on this CPU? (How `--model improved` was chosen.)

Each design trains on the 60,000 Fashion-MNIST training images for `--seconds` of wall time (Adam, batch
128, MSE, or `--batch-size`, `--loss`; with `--cosine` the learning rate decays to 0 over the steps the design is expected to fit in
that time, from `--rate` images/s), then prints its throughput and its test MSE (10,000 images).

    python benchmarks/autoencoder_designs.py --designs conv_decoder --seconds 90
    python benchmarks/autoencoder_designs.py --designs conv_dense,mlp,improved --seconds 280 --cosine
"""

from __future__ import annotations

import argparse
import time

import keras
import tensorflow as tf
from keras import layers as L

from gen_keras import data, metrics
from gen_keras.models.autoencoders import conv_autoencoder


def _strided_encoder(dense: int = 0):
    image = keras.Input((28, 28, 1))
    h = L.Conv2D(32, 3, strides=2, padding="same", activation="relu")(image)
    h = L.Conv2D(64, 3, strides=2, padding="same", activation="relu")(h)
    h = L.Flatten()(h)
    if dense:
        h = L.Dense(dense, activation="relu")(h)
    return image, L.Dense(49)(h)


def conv_decoder():
    """Linear code, Dense(7·7·64) head, two strided transposed convolutions, sigmoid output."""
    image, z = _strided_encoder()
    h = L.Reshape((7, 7, 64))(L.Dense(7 * 7 * 64, activation="relu")(z))
    h = L.Conv2DTranspose(64, 3, strides=2, padding="same", activation="relu")(h)
    h = L.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(h)
    return keras.Model(image, L.Conv2D(1, 3, padding="same", activation="sigmoid")(h))


def conv_dense():
    """Dense layers of 512 on both sides of the code, then two transposed convolutions."""
    image, z = _strided_encoder(512)
    h = L.Dense(512, activation="relu")(z)
    h = L.Reshape((7, 7, 64))(L.Dense(7 * 7 * 64, activation="relu")(h))
    h = L.Conv2DTranspose(32, 3, strides=2, padding="same", activation="relu")(h)
    return keras.Model(image, L.Conv2DTranspose(1, 3, strides=2, padding="same", activation="sigmoid")(h))


def mlp():
    """784-1024-512-49-512-1024-784."""
    image = keras.Input((28, 28, 1))
    h = L.Flatten()(image)
    for width in (1024, 512):
        h = L.Dense(width, activation="relu")(h)
    h = L.Dense(49)(h)
    for width in (512, 1024):
        h = L.Dense(width, activation="relu")(h)
    return keras.Model(image, L.Reshape((28, 28, 1))(L.Dense(784, activation="sigmoid")(h)))


def improved():
    """gen_keras's `--model improved`: two strided convolutions straight to a linear code, dense decoder."""
    return conv_autoencoder("improved").autoencoder


def dense_encoder():
    """`improved` with a Dense(512) between the convolutions and the code (the recipe's design before)."""
    image, z = _strided_encoder(512)
    decoder = conv_autoencoder("improved").decoder
    return keras.Model(image, decoder(z))


DESIGNS = {f.__name__: f for f in (conv_decoder, conv_dense, mlp, improved, dense_encoder)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--designs", default=",".join(DESIGNS), help=f"comma-separated, from {list(DESIGNS)}")
    p.add_argument("--seconds", type=float, default=280)
    p.add_argument("--learning-rate", type=float, default=2e-3)
    p.add_argument("--loss", choices=("mse", "binary_crossentropy"), default="mse",
                   help="the training loss (the test score is always the MSE); cross-entropy's gradient "
                        "with respect to a sigmoid's input is not damped by the sigmoid's slope")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--cosine", action="store_true", help="decay the learning rate to 0 along a cosine")
    p.add_argument("--rate", type=float, nargs="*", default=None,
                   help="expected images/s per design, for the cosine's length (default: measured in 20 s)")
    a = p.parse_args()
    x = data.load_images("fashion_mnist", "train").as_float()
    x_test = data.load_images("fashion_mnist", "test").as_float()
    batch = a.batch_size
    for i, name in enumerate(a.designs.split(",")):
        keras.utils.set_random_seed(0)
        model = DESIGNS[name]()
        ds = (tf.data.Dataset.from_tensor_slices(x).shuffle(len(x), seed=0).repeat().batch(batch)
              .map(lambda b: (b, b)).prefetch(2))
        batches = iter(ds)
        if a.cosine:
            if a.rate:
                rate = a.rate[i]
            else:  # a short trial run to size the schedule
                model.compile(optimizer="adam", loss=a.loss)
                model.train_on_batch(*next(batches))
                start, n = time.perf_counter(), 0
                while time.perf_counter() - start < 20:
                    model.train_on_batch(*next(batches))
                    n += 1
                rate = n * batch / (time.perf_counter() - start)
                keras.utils.set_random_seed(0)
                model = DESIGNS[name]()
            lr = keras.optimizers.schedules.CosineDecay(a.learning_rate, int(a.seconds * rate / batch))
        else:
            lr = a.learning_rate
        model.compile(optimizer=keras.optimizers.Adam(lr), loss=a.loss)
        model.train_on_batch(*next(batches))  # compile outside the clock
        start, steps = time.perf_counter(), 0
        while time.perf_counter() - start < a.seconds:
            model.train_on_batch(*next(batches))
            steps += 1
        elapsed = time.perf_counter() - start
        mse = metrics.mse(model.predict(x_test, batch_size=1000, verbose=0), x_test)
        print(f"{name:13s} {a.loss} batch {batch} {model.count_params():>9,d} params  {steps * batch / elapsed:5.0f} images/s  "
              f"{steps * batch / len(x):5.2f} epochs in {elapsed:.0f} s  test MSE {mse:.5f}", flush=True)


if __name__ == "__main__":
    main()
