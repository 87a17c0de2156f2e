"""Which 2-d-latent VAE reaches the lowest test −ELBO in a fixed time on this CPU? (How the recipe's
default network and epochs were chosen.)

Each design first times 40 training steps, sets its epoch count to what fits in `--seconds` at that
rate, then trains (Adam, batch 128, the learning rate decayed to 0 along a cosine with `--cosine`, else
constant) on the 55,000 training images of the recipe's split, stopping early if the budget runs out,
and reports its test −ELBO in nats per image (Bernoulli decoder, grey levels in [0, 1]).

    python benchmarks/vae_designs.py --designs kerasio,conv256,dense512 --seconds 343 --cosine
"""

from __future__ import annotations

import argparse
import math
import time

import keras

from gen_keras import data
from gen_keras.models.vae import VAE, vae_decoder, vae_encoder
from _timing import machine

DESIGNS = {  # name: (encoder kwargs, decoder kwargs)
    "kerasio": ({"units": 16}, {"units": 0}),  # the keras.io example's network (logits out)
    "conv256": ({"units": 256}, {"units": 256}),  # both dense layers widened to 256
    "dense512": ({"units": 256}, {"dense": (256, 512)}),  # conv encoder, MLP decoder
    "dense1024": ({"units": 512}, {"dense": (512, 1024)}),
}


def build(name: str) -> VAE:
    enc, dec = DESIGNS[name]
    vae = VAE(vae_encoder(2, **enc), vae_decoder(2, **dec), seed=0)
    vae.build((None, 28, 28, 1))
    return vae


class Budget(keras.callbacks.Callback):
    """Stops training once `seconds` of wall time have passed."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if time.perf_counter() - self.start > self.seconds:
            self.model.stop_training = True


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--designs", default=",".join(DESIGNS))
    p.add_argument("--seconds", type=float, default=343)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--cosine", action="store_true")
    p.add_argument("--epochs", type=int, default=0, help="plan this many epochs instead of timing a probe")
    a = p.parse_args()
    train, _ = data.hold_out(data.load_images("fashion_mnist", "train"))
    test = data.load_images("fashion_mnist", "test")
    steps = len(train) // a.batch_size
    print(f"{machine()}; {len(train)} training images, batch {a.batch_size}, budget {a.seconds:.0f} s, "
          f"{'cosine' if a.cosine else 'constant'} learning rate {a.learning_rate}")
    for name in a.designs.split(","):
        keras.utils.set_random_seed(0)
        probe = build(name)
        probe.compile(optimizer=keras.optimizers.Adam(a.learning_rate))
        batches = iter(data.make_dataset(train, a.batch_size, seed=1, repeat=True))
        probe.train_on_batch(next(batches))
        start = time.perf_counter()
        for _ in range(40):
            probe.train_on_batch(next(batches))
        rate = 40 * a.batch_size / (time.perf_counter() - start)
        epochs = a.epochs or max(1, math.floor(a.seconds * rate / (steps * a.batch_size)))

        keras.utils.set_random_seed(0)
        vae = build(name)
        lr = (keras.optimizers.schedules.CosineDecay(a.learning_rate, epochs * steps) if a.cosine
              else a.learning_rate)
        vae.compile(optimizer=keras.optimizers.Adam(lr))
        start = time.perf_counter()
        vae.fit(data.make_dataset(train, a.batch_size, seed=0, repeat=True, steps_per_epoch=steps),
                epochs=epochs, steps_per_epoch=steps, verbose=0, callbacks=[Budget(a.seconds)])
        seconds = time.perf_counter() - start
        s = vae.evaluate(data.make_dataset(test, 500, shuffle=False), return_dict=True, verbose=0)
        print(f"{name:10s} {vae.count_params():9,d} params  probe {rate:6.0f} img/s  {epochs:2d} epochs planned, "
              f"{seconds:5.0f} s  test -ELBO {s['loss']:6.1f} = {s['reconstruction']:6.1f} + KL {s['kl']:4.1f}",
              flush=True)


if __name__ == "__main__":
    main()
