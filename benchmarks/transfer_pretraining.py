"""Which pre-training and which fine-tuning open a gap over scratch at few labels?

Pre-trains the conv autoencoder (`--model improved`, 49-d code) on the 55,000 unlabelled training images
for `--epochs` epochs (Adam 2e-3 on a cosine, batch 128, as `recipes/transfer_learning.py --pretrain`) two
ways: plain, x → x, and denoising (Vincent et al., 2008), x ⊙ m → x with m ~ Bernoulli(1 − `--mask`) per
pixel. Then, at `--labels` class-balanced labels over `--seeds` seeds (a fifth validate, early stopping
as in the recipe), test accuracy of: the frozen encoder + head, the same fine-tuned end to end at a
tenth of the rate, and the same network from scratch; each without and with augmentation of the labelled
images (random horizontal flips and shifts of up to 2 pixels, `--shift`). With `--joint-weights λ`, also a
semi-supervised fine-tuning: cross-entropy on the labels + λ × the reconstruction MSE of an unlabelled batch
of 128 at every step, from the pre-trained encoder and decoder.

    flock /tmp/gen_keras_heavy.lock python benchmarks/transfer_pretraining.py --joint-weights 30  # the README's table
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from _timing import machine


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=3, help="pre-training epochs")
    parser.add_argument("--mask", type=float, default=0.5, help="denoising: the fraction of pixels zeroed")
    parser.add_argument("--shift", type=float, default=2, help="augmentation: largest shift in pixels")
    parser.add_argument("--max-steps", type=int, default=600)
    parser.add_argument("--pretraining", nargs="+", default=["plain", "denoising"], choices=("plain", "denoising"))
    parser.add_argument("--joint-weights", type=float, nargs="*", default=[],
                        help="also fine-tune semi-supervised: cross-entropy on the labels + this weight × the "
                             "reconstruction MSE of unlabelled batches of 128 (one run per weight)")
    parser.add_argument("--limit", type=int, default=None, help="pre-train on this many images (a smoke test)")
    parser.add_argument("--out", default="runs/transfer_pretraining")
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    from gen_keras import data, inference, training, transfer
    from gen_keras.models.autoencoders import conv_autoencoder

    images, test = data.load_images("fashion_mnist", "train"), data.load_images("fashion_mnist", "test")
    y, y_test = images.labels, test.labels
    unlabelled, _ = data.hold_out(images)
    x_pre = unlabelled.as_float()[:args.limit]
    start = time.perf_counter()

    class JointFineTune(keras.Model):
        """Σ cross-entropy on a labelled batch + weight · ‖u − g(f(u))‖² on an unlabelled batch u."""

        def __init__(self, classifier, autoencoder, weight):
            super().__init__()
            self.classifier, self.autoencoder, self.weight = classifier, autoencoder, weight
            self.ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

        def call(self, x, training=False):
            return self.classifier(x, training=training)

        def train_step(self, data):
            (x, y), u = data
            variables = list({id(v): v for v in self.classifier.trainable_variables
                              + self.autoencoder.trainable_variables}.values())
            with tf.GradientTape() as tape:
                ce = self.ce(y, self.classifier(x, training=True))
                rec = tf.reduce_mean(tf.square(self.autoencoder(u, training=True) - u))
                loss = ce + self.weight * rec
            self.optimizer.apply(tape.gradient(loss, variables), variables)
            return {"loss": loss, "ce": ce, "rec": rec}

        def test_step(self, data):
            x, y = data
            return {"loss": self.ce(y, self.classifier(x, training=False))}

    def pretrain(kind: str) -> tuple[keras.Model, float, float]:
        training.set_seed(0)
        parts = conv_autoencoder("improved")
        steps = args.epochs * (len(x_pre) // 128)
        parts.autoencoder.compile(optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(2e-3, steps)),
                                  loss="mse")
        keep = 1.0 - args.mask

        def pair(x):  # (input, target)
            if kind == "plain":
                return x, x
            return x * tf.cast(tf.random.uniform(tf.shape(x), seed=None) < keep, x.dtype), x

        ds = (tf.data.Dataset.from_tensor_slices(x_pre).shuffle(len(x_pre), seed=0).batch(128, drop_remainder=True)
              .map(pair).prefetch(2))
        t = time.perf_counter()
        parts.autoencoder.fit(ds, epochs=args.epochs, verbose=0)
        seconds = time.perf_counter() - t
        mse = float(parts.autoencoder.evaluate(test.as_float(), test.as_float(), batch_size=500, verbose=0))
        return parts, seconds, mse

    def augmented(model: keras.Model, seed: int) -> keras.Model:
        """Random flips and shifts of the input in training mode; the model itself at inference."""
        image = keras.Input(model.inputs[0].shape[1:])
        x = keras.layers.RandomFlip("horizontal", seed=seed)(image)
        f = args.shift / image.shape[1]
        x = keras.layers.RandomTranslation(f, f, fill_mode="constant", seed=seed)(x)
        return keras.Model(image, model(x))

    rows: dict[str, list[float]] = {}

    def write(seeds_done: int) -> dict:  # after every seed, so a run stopped early keeps what it measured
        os.makedirs(args.out, exist_ok=True)
        result = {**vars(args), "seeds_done": seeds_done, "seconds": round(time.perf_counter() - start, 1),
                  "machine": machine(), "pretraining_runs": pretrain_facts,
                  "rows": [{"what": k, "accuracies": a} for k, a in rows.items()]}
        with open(os.path.join(args.out, "metrics.json"), "w") as f:
            json.dump(result, f, indent=2)
        return result

    pretrain_facts = {}
    encoders, decoders = {}, {}
    for kind in args.pretraining:
        parts, seconds, mse = pretrain(kind)
        encoders[kind], decoders[kind] = parts.encoder, parts.decoder
        pretrain_facts[kind] = {"seconds": round(seconds, 1), "test_mse_clean_input": mse}
        print(f"pre-trained ({kind}) in {seconds:.0f} s, test MSE on clean inputs {mse:.4f}", flush=True)

    for seed in range(args.seeds):
        tr, va = transfer.labelled_split(y, args.labels, seed)
        batch = max(1, min(128, len(tr) // 8))

        def fit(model, x, rate):
            transfer.fit_classifier(model, x[tr], y[tr], x[va], y[va], learning_rate=rate, batch_size=batch,
                                    max_steps=args.max_steps, seed=seed)

        results = {}
        for aug in (False, True):
            tag = ", augmented" if aug else ""
            for kind, encoder in encoders.items():
                training.set_seed(seed)
                copy = keras.models.clone_model(encoder)
                copy.set_weights(encoder.get_weights())
                classifier = transfer.classifier_on_encoder(copy, 10, trainable=False)
                model = augmented(classifier, seed) if aug else classifier
                if aug:
                    fit(model, images.images, 1e-3)
                else:  # a frozen encoder's features never change: the head learns on them
                    f_all = inference.predict_in_batches(copy, images.images)
                    fit(classifier.get_layer("head"), f_all, 1e-3)
                results[f"{kind}: frozen + head{tag}"] = transfer.accuracy(classifier, test.images, y_test)
                head_weights = classifier.get_layer("head").get_weights()
                copy.trainable = True
                fit(model, images.images, 1e-4)
                results[f"{kind}: fine-tuned{tag}"] = transfer.accuracy(classifier, test.images, y_test)
                for weight in args.joint_weights:  # from the frozen stage's head, the pre-trained f and g
                    training.set_seed(seed)
                    enc = keras.models.clone_model(encoder)
                    enc.set_weights(encoder.get_weights())
                    dec = keras.models.clone_model(decoders[kind])
                    dec.set_weights(decoders[kind].get_weights())
                    clf = transfer.classifier_on_encoder(enc, 10, trainable=True)
                    clf.get_layer("head").set_weights(head_weights)
                    image = keras.Input((28, 28, 1))
                    joint = JointFineTune(augmented(clf, seed) if aug else clf, keras.Model(image, dec(enc(image))),
                                          weight)
                    joint.compile(optimizer=keras.optimizers.Adam(1e-4))
                    labelled = transfer._batches(images.images[tr], y[tr], batch, seed)
                    unlabelled = (tf.data.Dataset.from_tensor_slices(x_pre).shuffle(len(x_pre), seed=seed).repeat()
                                  .batch(128))
                    stop = keras.callbacks.EarlyStopping("val_loss", patience=5, restore_best_weights=True)
                    joint.fit(tf.data.Dataset.zip((labelled, unlabelled)).prefetch(2), steps_per_epoch=50,
                              epochs=args.max_steps // 50, validation_data=(images.images[va] / 255.0, y[va]),
                              callbacks=[stop], verbose=0)
                    results[f"{kind}: semi-supervised λ={weight:g}{tag}"] = transfer.accuracy(clf, test.images, y_test)
            training.set_seed(seed)
            scratch = transfer.classifier_on_encoder(transfer.fresh_copy(next(iter(encoders.values()))), 10,
                                                     trainable=True)
            fit(augmented(scratch, seed) if aug else scratch, images.images, 1e-3)
            results[f"scratch{tag}"] = transfer.accuracy(scratch, test.images, y_test)
        for key, acc in results.items():
            rows.setdefault(key, []).append(acc)
        print(f"  seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in results.items()), flush=True)
        write(seed + 1)

    lines = ["| what | test accuracy (%) |", "|---|---|"]
    for key, accs in rows.items():
        lines.append(f"| {key} | {100 * np.mean(accs):.1f} ± {100 * np.std(accs, ddof=1):.1f} |")
    seconds = round(time.perf_counter() - start, 1)
    print(f"\n{args.labels} labels, seeds 0..{args.seeds - 1}, at most {args.max_steps} steps:\n" + "\n".join(lines)
          + f"\n\n{seconds:.0f} s on {machine()}")
    return write(args.seeds)


if __name__ == "__main__":
    main()
