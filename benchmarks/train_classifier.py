"""Trains the sample-quality instrument's classifier once and writes the weights that ship with the package.

The recipe is `gen_keras.evaluation.train_classifier`'s (seed 0, 3 epochs, Adam 1e-3, batch 128, all 60,000
Fashion-MNIST training images). Writes `<out>/fashion_mnist_classifier.weights.h5` (float32) and its card
`fashion_mnist_classifier.json` beside it: the test accuracy on the 10,000 test images, the real-vs-real
floor (FID and KID of the first 10,000 training images against the 10,000 test images), the file's
sha256, the versions it was trained with and this command.

    python benchmarks/train_classifier.py                  # writes gen_keras/assets/ (one to two minutes of CPU)
    python benchmarks/train_classifier.py --out /tmp/clf   # somewhere else, to compare
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from gen_keras import data, evaluation

ASSETS = Path(evaluation.__file__).resolve().parent / "assets"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ASSETS, help="folder for the weights and the card")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    model = evaluation.train_classifier("fashion_mnist", verbose=2)
    train_seconds = time.perf_counter() - start
    classifier = evaluation.Classifier(model, "fashion_mnist", sha256="", source="being trained")

    test = data.load_images("fashion_mnist", "test")
    accuracy = float(np.mean(evaluation.predict_classes(classifier, test.as_float()) == test.labels))
    floor = evaluation.real_floor(classifier, evaluation.FID_SAMPLES)
    command = "python benchmarks/train_classifier.py" + ("" if args.out == ASSETS else f" --out {args.out}")
    weights, card = evaluation.write_shipped_classifier(
        model, args.out, "fashion_mnist",
        training={"seed": evaluation.DEFAULT_SEED, "epochs": evaluation.DEFAULT_EPOCHS, "batch_size": 128,
                  "optimizer": "Adam 1e-3", "train_images": 60_000, "seconds": round(train_seconds, 1)},
        test_accuracy=round(accuracy, 4), test_images=len(test),
        floor={"fid": round(floor["fid"], 4), "kid": round(floor["kid"], 5), "kid_std": round(floor["kid_std"], 5),
               "train_images": floor["num_images"], "test_images": floor["num_images"]},
        command=command,
        versions={"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__,
                  "python": platform.python_version()})
    print(f"wrote {weights} ({card['size_bytes'] / 1e3:.0f} kB, sha256 {card['sha256']}): test accuracy "
          f"{accuracy:.2%}, floor FID {floor['fid']:.3f}, KID {floor['kid']:.5f}; trained in {train_seconds:.0f} s")
    return card


if __name__ == "__main__":
    main()
