"""The instrument's classifier: its test accuracy and the real-train-vs-real-test floor, with what each took.

Loads the shipped classifier (`gen_keras/assets/`), or with `--retrain` trains one on this machine by the
same recipe (deleting a cached one in `--cache-dir` first, default `$GEN_KERAS_CACHE` or
`~/.cache/gen_keras`), then measures on the data set's test split:

    python benchmarks/fid_floor.py                                  # the shipped weights
    python benchmarks/fid_floor.py --retrain --cache-dir /tmp/clf   # time a fresh training

The floor is the FID (and KID) between the first N training images and the first N test images (N = 10,000, the
size the recipes use); it is also given for fewer training images, since FID is biased upward for small
sample sizes and a per-epoch FID over fewer samples should be read against the matching floor.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from gen_keras import data, evaluation


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        return f"{len(names)} × {names[0]}" if names else platform.processor()
    except OSError:
        return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--cache-dir", default=None, help="classifier cache (default $GEN_KERAS_CACHE or ~/.cache/gen_keras)")
    parser.add_argument("--retrain", action="store_true",
                        help="train a classifier on this machine (again, if one is cached) instead of the shipped one")
    parser.add_argument("--num-images", type=int, default=10_000, help="images per side of the floor")
    args = parser.parse_args(argv)

    path = evaluation.classifier_cache_path(args.dataset, args.cache_dir)
    if args.retrain:
        path.unlink(missing_ok=True)
    was_cached = path.exists()
    start = time.perf_counter()
    clf = evaluation.load_classifier(args.dataset, retrain=args.retrain, cache_dir=args.cache_dir, verbose=2)
    classifier_seconds = time.perf_counter() - start

    test = data.load_images(args.dataset, "test", args.num_images)
    train = data.load_images(args.dataset, "train", args.num_images)
    start = time.perf_counter()
    accuracy = float(np.mean(evaluation.predict_classes(clf, test.as_float()) == test.labels))
    accuracy_seconds = time.perf_counter() - start

    start = time.perf_counter()
    test_features = evaluation.features(clf, test.as_float())
    train_features = evaluation.features(clf, train.as_float())
    feature_seconds = time.perf_counter() - start
    start = time.perf_counter()
    floor = evaluation.frechet_distance(train_features, test_features)
    fid_seconds = time.perf_counter() - start
    kid = evaluation.kernel_inception_distance(train_features, test_features)
    floor_by_size = {n: evaluation.frechet_distance(train_features[:n], test_features)
                     for n in (1000, 2000, 5000) if n < len(train_features)}

    result = {
        "machine": f"{cpu_name()}, {os.cpu_count()} cores visible",
        "classifier": clf.source, "classifier_sha256": clf.sha256, "classifier_was_cached": was_cached,
        "classifier_seconds": round(classifier_seconds, 1),
        "test_images": len(test), "test_accuracy": round(accuracy, 4), "accuracy_seconds": round(accuracy_seconds, 1),
        "fid_floor": round(floor, 4), "kid_floor": round(kid.mean, 5), "kid_floor_std": round(kid.std, 5),
        "fid_floor_train_images": len(train),
        "feature_seconds_for_both_sets": round(feature_seconds, 1), "frechet_seconds": round(fid_seconds, 2),
        "fid_floor_by_train_images": {n: round(v, 4) for n, v in floor_by_size.items()},
    }
    how = "shipped" if clf.shipped else ("loaded from the cache" if was_cached else "trained (3 epochs) and cached")
    print(f"classifier {how} in {classifier_seconds:.1f} s: {clf.source}, sha256 {clf.sha256}")
    print(f"test accuracy {accuracy:.4f} on {len(test)} images ({accuracy_seconds:.1f} s)")
    print(f"FID floor, {len(train)} train vs {len(test)} test images: {floor:.4f}, KID {kid.mean:.5f} "
          f"(features {feature_seconds:.1f} s, Fréchet distance {fid_seconds:.2f} s)")
    for n, v in floor_by_size.items():
        print(f"  with {n} train images: {v:.4f}")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
