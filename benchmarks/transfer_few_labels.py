"""What limits pre-training's gain at few labels: the head, the features, the learning rates, early stopping.

Uses the latest exported encoders (as `recipes/transfer_learning.py` does) at `--labels` labels (class-
balanced, a fifth of them validate), over `--seeds` seeds:

- heads on the frozen features: the recipe's (Dense(128, relu) → Dropout(0.5) → Dense(10), Adam 1e-3), a
  linear head (Adam 1e-2), the recipe's head on standardised features (mean and variance over all
  training images, no labels needed), the recipe's head at Adam 1e-2;
- other features under the recipe's head: the encoder's last hidden layer (the input of its `code` /
  `mean` layer, from the .keras file), and PCA-49 of the pixels (the best linear autoencoder);
- early stopping: frozen, fine-tuned (Adam 1e-4 and 1e-3) and scratch, each trained for the whole step
  budget with the validation loss and the accuracy on the first `--curve-test` test images recorded at
  every check; reported at the check early stopping (patience 5) would keep, at the best check by that
  test accuracy (an oracle, for diagnosis only: it peeks at the test set), and at the last check.

    flock /tmp/gen_keras_heavy.lock python benchmarks/transfer_few_labels.py --encoder-dir saved_models
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from _timing import machine

ENCODERS = {"conv_autoencoder": "code", "vae": "mean"}
PATIENCE, CHECK = 5, 50


def early_stopping_pick(val_losses: list[float], patience: int = PATIENCE) -> int:
    """The check Keras's EarlyStopping(patience, restore_best_weights=True) would keep."""
    best, wait = 0, 0
    for i in range(1, len(val_losses)):
        if val_losses[i] < val_losses[best]:
            best, wait = i, 0
        else:
            wait += 1
            if wait >= patience:
                break
    return best


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder-dir", default="saved_models")
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-steps", type=int, default=400)
    parser.add_argument("--curve-test", type=int, default=2000, help="test images scored at every check")
    parser.add_argument("--out", default="runs/transfer_few_labels")
    args = parser.parse_args(argv)

    import keras

    from gen_keras import data, inference, training, transfer

    images, test = data.load_images("fashion_mnist", "train"), data.load_images("fashion_mnist", "test")
    y, y_test = images.labels, test.labels
    start = time.perf_counter()

    def mlp_head(dim: int, standardise: tuple | None = None, linear: bool = False) -> keras.Model:
        f = keras.Input((dim,))
        h = keras.layers.Normalization(mean=standardise[0], variance=standardise[1])(f) if standardise else f
        if not linear:
            h = keras.layers.Dropout(0.5)(keras.layers.Dense(128, activation="relu")(h))
        return keras.Model(f, keras.layers.Dense(10)(h))

    class Curve(keras.callbacks.Callback):
        """(validation loss, accuracy on the first test images) at every check."""

        def __init__(self, x):
            super().__init__()
            self.x, self.points = x, []

        def on_epoch_end(self, epoch, logs=None):
            self.points.append((logs["val_loss"], transfer.accuracy(self.model, self.x, y_test[:len(self.x)])))

    def curve(model, x, tr, va, rate, x_curve, seed):
        c = Curve(x_curve)
        transfer.fit_classifier(model, x[tr], y[tr], x[va], y[va], learning_rate=rate, batch_size=batch,
                                max_steps=args.max_steps, patience=10**6, seed=seed, callbacks=[c])
        losses, accs = zip(*c.points)
        return {"early stopping": accs[early_stopping_pick(list(losses))], "best (test-picked)": max(accs),
                "last": accs[-1]}

    # PCA-49 of the pixels, fitted on 20,000 unlabelled training images.
    x_flat = images.as_float().reshape(len(images), -1)
    mu = x_flat[:20000].mean(0)
    _, _, vt = np.linalg.svd(x_flat[:20000] - mu, full_matrices=False)
    pca = ((x_flat - mu) @ vt[:49].T).astype(np.float32)
    pca_test = ((test.as_float().reshape(len(test), -1) - mu) @ vt[:49].T).astype(np.float32)
    del x_flat

    rows: dict[tuple[str, str], list[float]] = {}
    for name, output in ENCODERS.items():
        path = transfer.latest_export(args.encoder_dir, name, "encoder", "run recipes/transfer_learning.py --pretrain")
        encoder = transfer.load_encoder(path, "keras", output)
        hidden = keras.Model(encoder.inputs[0], encoder.get_layer(output).input)
        feats = {"": (inference.predict_in_batches(encoder, images.images), inference.predict_in_batches(encoder, test.images)),
                 "hidden": (inference.predict_in_batches(hidden, images.images), inference.predict_in_batches(hidden, test.images))}
        f_all, f_test = feats[""]
        print(f"{name} ({path}): {f_all.shape[1]} features, last hidden layer {feats['hidden'][0].shape[1]}",
              flush=True)
        for seed in range(args.seeds):
            tr, va = transfer.labelled_split(y, args.labels, seed)
            batch = max(1, min(128, len(tr) // 8))

            def head_accuracy(f, f_t, rate, **kw):
                training.set_seed(seed)
                head = mlp_head(f.shape[1], **kw)
                transfer.fit_classifier(head, f[tr], y[tr], f[va], y[va], learning_rate=rate, batch_size=batch,
                                        max_steps=args.max_steps, seed=seed)
                return transfer.accuracy(head, f_t, y_test)

            results = {
                "frozen, recipe's head": head_accuracy(f_all, f_test, 1e-3),
                "frozen, linear head (Adam 1e-2)": head_accuracy(f_all, f_test, 1e-2, linear=True),
                "frozen, standardised features": head_accuracy(f_all, f_test, 1e-3,
                                                               standardise=(f_all.mean(0), f_all.var(0))),
                "frozen, recipe's head at Adam 1e-2": head_accuracy(f_all, f_test, 1e-2),
                "frozen, last hidden layer's features": head_accuracy(*feats["hidden"], 1e-3),
            }
            if name == "conv_autoencoder":  # the pixels' PCA does not depend on the encoder: once a seed
                rows.setdefault(("pixels", "frozen, PCA-49 features"), []).append(head_accuracy(pca, pca_test, 1e-3))
            # Curves: frozen head, fine-tuned at two rates, scratch.
            x_curve = test.images[:args.curve_test]
            training.set_seed(seed)
            classifier = transfer.classifier_on_encoder(transfer.load_encoder(path, "keras", output), 10)
            head = classifier.get_layer("head")
            c = Curve(inference.predict_in_batches(encoder, x_curve))
            transfer.fit_classifier(head, f_all[tr], y[tr], f_all[va], y[va], learning_rate=1e-3, batch_size=batch,
                                    max_steps=args.max_steps, patience=10**6, seed=seed, callbacks=[c])
            losses, accs = zip(*c.points)
            curves = {"frozen": {"early stopping": accs[early_stopping_pick(list(losses))],
                                 "best (test-picked)": max(accs), "last": accs[-1]}}
            head_weights = head.get_weights()  # the head as early stopping left it (restored best)
            for rate in (1e-4, 1e-3):
                training.set_seed(seed)
                tuned = transfer.classifier_on_encoder(transfer.load_encoder(path, "keras", output), 10,
                                                       trainable=True)
                tuned.get_layer("head").set_weights(head_weights)
                curves[f"fine-tuned, Adam {rate:g}"] = curve(tuned, images.images, tr, va, rate, x_curve, seed)
            training.set_seed(seed)
            scratch = transfer.classifier_on_encoder(transfer.fresh_copy(encoder), 10, trainable=True)
            curves["scratch"] = curve(scratch, images.images, tr, va, 1e-3, x_curve, seed)
            for method, picks in curves.items():
                for pick, acc in picks.items():
                    results[f"{method}: {pick}"] = acc
            for key, acc in results.items():
                rows.setdefault((name, key), []).append(acc)
            print(f"  seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in results.items()), flush=True)

    lines = ["| encoder | what | test accuracy (%) |", "|---|---|---|"]
    for (name, key), accs in rows.items():
        lines.append(f"| {name} | {key} | {100 * np.mean(accs):.1f} ± {100 * np.std(accs, ddof=1):.1f} |")
    seconds = round(time.perf_counter() - start, 1)
    print(f"\n{args.labels} labels, {args.seeds} seeds; curves scored on the first {args.curve_test} test images, "
          f"the rest on all {len(test)}:\n" + "\n".join(lines) + f"\n\n{seconds:.0f} s on {machine()}")
    os.makedirs(args.out, exist_ok=True)
    result = {"labels": args.labels, "seeds": args.seeds, "max_steps": args.max_steps, "curve_test": args.curve_test,
              "seconds": seconds, "machine": machine(),
              "rows": [{"encoder": n, "what": k, "accuracies": a} for (n, k), a in rows.items()]}
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
