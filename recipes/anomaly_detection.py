"""One-class anomaly detection with autoencoders: train on one class only, flag the images it reconstructs
badly, and measure the ROC AUC of "not this class" for each class beside PCA at the same code size.

The lecture's use of an undercomplete autoencoder: "if x̂ deviates too much from x, x is an anomaly". The
standard one-class protocol: for each class c, train on class c's training images only, score every test
image by s(x) = ‖φ(x) − φ(x̂)‖², and report the AUROC of s for "x is not of class c". Scores compared in
one table, with the mean and spread over the classes:

- PCA-k: x̂ = μ + Vᵀ V (x − μ), V class c's top-k principal components (the linear autoencoder), φ = id;
- AE, DAE: a dense undercomplete autoencoder with a k-d code (784-512-256-k, mirrored), plain or
  denoising (trained on masked x̃ → x), φ = id, the squared error in pixels;
- AE path, DAE path: the same autoencoders, with the differences d(x) = path(x) − path(x̂) between the
  image and its reconstruction at the input and at every encoder layer, whitened on the class's training
  images: s(x) = ‖(d(x) − μ) P‖² (RAPP's normalized aggregation, Kim et al. 2020). Still one-class;
- PCA-k †, AE †, DAE †: φ = the penultimate layer (128 features) of the project's fixed classifier. That
  classifier was trained with the labels of all ten classes, so these scores know what the other classes
  look like: they are not one-class scores, and the table marks them with †.

The best one-class autoencoder score (by its mean AUROC; never a † score, which needs the all-label
classifier) is exported for one class as a SavedModel whose signature `score` maps an image batch to s(x),
with the threshold at a chosen false-positive rate (set on the class's held-out validation images) and what
it was trained on (that class's training images only) in the export's metadata.

The lecture's code: `gen_keras/models/regularized.py: undercomplete_autoencoder, reconstruction_scorer,
SquaredDistance, pathway_model, WhitenedSquaredNorm, pathway_scorer`; `gen_keras/linear.py: pca`; `gen_keras/metrics.py: roc_auc,
threshold_at_false_positive_rate`; `gen_keras/evaluation/: feature_extractor`.

    python recipes/anomaly_detection.py --quick --classes 0,1          # a try-out in about a minute
    python recipes/anomaly_detection.py                                # all ten classes (see docs/results/autoencoders.md)
    python recipes/anomaly_detection.py --classes 6 --export-class 6   # one class, its scorer exported
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

from gen_keras import cli

RECIPE = "anomaly_detection"
IMAGE_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
DEFAULT_EPOCHS = 15
LEARNING_RATE = 1e-3  # Adam's first step at batch 128, cosine-decayed to 0
FEATURES = "†"  # the error in the all-label classifier's feature space
SHOWN = 10


def class_list(text: str) -> list[int]:
    """argparse type: comma-separated class indices 0 … 9, e.g. "0,6"."""
    classes = []
    for part in text.split(","):
        try:
            c = int(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"unknown class '{part}': use class indices 0 to 9, e.g. 0,6") from None
        if not 0 <= c < NUM_CLASSES:
            raise argparse.ArgumentTypeError(f"unknown class {c}: use class indices 0 to 9")
        if c not in classes:
            classes.append(c)
    return classes


def parse(argv=None):
    parser = cli.recipe_parser(__doc__.split("\n\n")[0], epochs=DEFAULT_EPOCHS)
    g = parser.add_argument_group("anomaly detection")
    g.add_argument("--classes", type=class_list, default=list(range(NUM_CLASSES)),
                   help="the normal classes, one model each, comma-separated indices (default: all ten; "
                        "Fashion-MNIST: 0 T-shirt/top, 1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, "
                        "6 Shirt, 7 Sneaker, 8 Bag, 9 Ankle boot)")
    g.add_argument("--code-size", type=cli.positive_int, default=32,
                   help="k, the autoencoders' code size and PCA's components")
    g.add_argument("--noise-level", type=cli.open_unit_interval, default=0.3,
                   help="ν, the denoising autoencoder's masking probability, in (0, 1)")
    g.add_argument("--false-positive-rate", type=cli.open_unit_interval, default=0.05,
                   help="the share of normal images the exported threshold flags, in (0, 1)")
    g.add_argument("--export-class", type=int, default=None,
                   help="the class whose scorer is exported (default: the first of --classes)")
    args = cli.parse_args(parser, argv, RECIPE)
    if args.export_class is None:
        args.export_class = args.classes[0]
    elif args.export_class not in args.classes:
        parser.error(f"argument --export-class: class {args.export_class} is not among --classes "
                     f"{','.join(map(str, args.classes))}")
    return args


def train_autoencoder(run, train, val, *, name: str, code_size: int, noise_level: float | None, epochs: int):
    """A `undercomplete_autoencoder` (denoising when `noise_level` is given) trained on ‖x − x̂‖² with Adam,
    η cosine-decayed over the run, in `<out>/<name>/`. Returns (parts, seconds)."""
    from gen_keras import training
    from gen_keras.models.regularized import undercomplete_autoencoder
    from gen_keras.regularizers import sum_squared_error

    # one class is a tenth of the data: with --limit it may hold fewer images than a batch
    sub = training.sub_run(run, name, batch_size=min(run.batch_size, len(train)))
    with run.strategy.scope():
        parts = undercomplete_autoencoder(code_size, noise="masking" if noise_level else None,
                                          noise_level=noise_level or 0.3, seed=run.seed)
        parts.autoencoder.compile(optimizer=training.cosine_adam(LEARNING_RATE, len(train), sub, epochs),
                                  loss=sum_squared_error, **run.compile_options())
    start = time.perf_counter()
    training.fit(parts.autoencoder, train, val, sub, epochs, targets="images", verbose=0)
    return parts, time.perf_counter() - start


def of_class(split, c: int):
    """The images of class c in a split (an `ImageArrays`)."""
    return dataclasses.replace(split, images=split.images[split.labels == c], labels=split.labels[split.labels == c])


def path_differences(parts, x):
    """d(x) = path(x) − path(x̂): the image minus its reconstruction at the input and at each encoder layer."""
    from gen_keras import inference
    from gen_keras.models.regularized import pathway_model

    path = pathway_model(parts.encoder)
    recon = inference.predict_in_batches(parts.autoencoder, x)
    return inference.predict_in_batches(path, x) - inference.predict_in_batches(path, recon)


def markdown_table(aurocs: dict, class_names, rows) -> str:
    """The AUROC table: one row per class, one column per score, then the mean and the spread."""
    import numpy as np

    names = list(aurocs)
    lines = ["| class | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for c in rows:
        lines.append(f"| {c} {class_names[c]} | " + " | ".join(f"{aurocs[n][str(c)]:.3f}" for n in names) + " |")
    for label, f in (("mean", np.mean), ("std", np.std)):
        lines.append(f"| **{label}** | " + " | ".join(f"{f(list(aurocs[n].values())):.3f}" for n in names) + " |")
    return "\n".join(lines)


def main(argv=None):
    args = parse(argv)
    import numpy as np
    import tensorflow as tf

    from gen_keras import data, evaluation, inference, linear, metrics, plots, training
    from gen_keras.models.regularized import WhitenedSquaredNorm, pathway_scorer, reconstruction_scorer
    from gen_keras.serving import export

    run = training.setup(args)
    out = run.out
    train, val, test = data.load_splits(args.dataset, args.limit, image_shape=IMAGE_SHAPE,
                                        image_size=args.image_size, channels=args.channels)
    x_test = test.as_float()
    names = test.class_names or tuple(str(c) for c in range(NUM_CLASSES))
    k = args.code_size
    classifier = evaluation.load_classifier(args.dataset)
    test_features = evaluation.features(classifier, x_test)
    print(f"{train.name}: one model per class on its ~{len(train) // NUM_CLASSES} training images, scored on "
          f"{len(test)} test images; code size {k}, {args.epochs} epochs; classifier: {classifier.source}")

    aurocs: dict[str, dict[str, float]] = {}
    scores_of_export_class, models_of_export_class, seconds = {}, {}, {}
    start = time.perf_counter()
    for c in args.classes:
        train_c, val_c = of_class(train, c), of_class(val, c)
        x_c = train_c.as_float()
        if c == args.export_class:
            export_training_images = len(train_c)
        anomalous = test.labels != c  # positives: "not this class"
        scores = {}
        # PCA-k, the linear autoencoder: x̂ = μ + Vᵀ V (x − μ); and the same in the classifier's features.
        pca = linear.pca(x_c, k)
        scores[f"PCA-{k}"] = ((x_test.reshape(len(x_test), -1) - pca.decode(pca.encode(x_test))) ** 2).sum(1)
        pca_f = linear.pca(evaluation.features(classifier, x_c), k)
        scores[f"PCA-{k} {FEATURES}"] = ((test_features - pca_f.decode(pca_f.encode(test_features))) ** 2).sum(1)
        # The autoencoders: s(x) = ‖φ(x) − φ(x̂)‖², φ the pixels or the classifier's features; and the
        # whitened differences along the encoder's path, s(x) = ‖(path(x) − path(x̂) − μ) P‖².
        for label, level in (("AE", None), ("DAE", args.noise_level)):
            parts, seconds[f"{label} {c}"] = train_autoencoder(run, train_c, val_c, name=f"class_{c}/{label.lower()}",
                                                               code_size=k, noise_level=level, epochs=args.epochs)
            recon = inference.predict_in_batches(parts.autoencoder, x_test)
            scores[label] = ((recon - x_test) ** 2).reshape(len(x_test), -1).sum(1)
            whitening = WhitenedSquaredNorm.fit(path_differences(parts, x_c))
            scores[f"{label} path"] = (((path_differences(parts, x_test) - whitening[0]) @ whitening[1]) ** 2).sum(1)
            scores[f"{label} {FEATURES}"] = ((evaluation.features(classifier, recon) - test_features) ** 2).sum(1)
            if c == args.export_class:
                models_of_export_class[label] = (parts, whitening)
        for name, s in scores.items():
            aurocs.setdefault(name, {})[str(c)] = metrics.roc_auc(s, anomalous)
        if c == args.export_class:
            scores_of_export_class = scores
        print(f"class {c} ({names[c]}): AUROC " + ", ".join(f"{n} {aurocs[n][str(c)]:.3f}" for n in scores)
              + f"; {time.perf_counter() - start:.0f} s so far", flush=True)

    mean = {n: float(np.mean(list(v.values()))) for n, v in aurocs.items()}
    std = {n: float(np.std(list(v.values()))) for n, v in aurocs.items()}
    autoencoder_scores = [n for n in aurocs if not n.startswith("PCA")]
    best = max(autoencoder_scores, key=mean.get)
    best_one_class = max((n for n in autoencoder_scores if FEATURES not in n), key=mean.get)
    table = markdown_table(aurocs, names, args.classes)
    print(f"\nAUROC of 'not this class' (one model per class; path = whitened differences along the encoder; "
          f"† = error in the feature space of a classifier trained with all ten classes' labels, not a one-class "
          f"score):\n{table}")
    print(f"best autoencoder score: {best}, mean AUROC {mean[best]:.3f} ± {std[best]:.3f}; best one-class "
          f"autoencoder score: {best_one_class}, {mean[best_one_class]:.3f} ± {std[best_one_class]:.3f}; "
          f"PCA-{k}: {mean[f'PCA-{k}']:.3f} ± {std[f'PCA-{k}']:.3f}")

    # The exported scorer: a one-class detector, s(x) for the best one-class score (trained on class c's images
    # only, no classifier), thresholded at the chosen false-positive rate on the class's held-out images.
    c, exported = args.export_class, best_one_class
    parts, whitening = models_of_export_class[exported.split()[0]]
    if exported.endswith("path"):
        scorer = pathway_scorer(parts.autoencoder, parts.encoder, *whitening, name=f"scorer_class_{c}")
    else:
        scorer = reconstruction_scorer(parts.autoencoder, None, name=f"scorer_class_{c}")
    val_c = val.images[val.labels == c]
    val_scores = inference.predict_in_batches(scorer, data.float_images(val_c))
    threshold = metrics.threshold_at_false_positive_rate(val_scores, args.false_positive_rate)
    s_test = scores_of_export_class[exported]
    trained_on = (f"the {export_training_images} training images of class {c} ({names[c]}) only: a one-class "
                  "detector, which never saw another class or a label")
    flagged = s_test > threshold
    results = {
        "dataset": train.name, "classes": args.classes, "class_names": list(names), "code_size": k,
        "epochs": args.epochs, "noise_level": args.noise_level, "classifier": classifier.source,
        "classifier_sha256": classifier.sha256,
        "auroc": aurocs, "mean_auroc": mean, "std_auroc": std,
        "best_autoencoder_score": best, "best_one_class_autoencoder_score": best_one_class,
        "train_seconds": round(sum(seconds.values()), 1), "total_seconds": round(time.perf_counter() - start, 1),
        "export": {"class": c, "score": exported, "one_class": True, "trained_on": trained_on,
                   "false_positive_rate": args.false_positive_rate,
                   "threshold": threshold, "validation_images": int(len(val_c)),
                   "test_false_positive_rate": float(flagged[test.labels == c].mean()),
                   "test_true_positive_rate": float(flagged[test.labels != c].mean())},
    }
    (out / "metrics.json").write_text(json.dumps(results, indent=2))
    (out / "auroc_table.md").write_text(table + "\n")
    print(f"class {c} ({names[c]}), {exported} (exported, one-class): threshold {threshold:.4g} flags {args.false_positive_rate:.0%} of "
          f"its validation images; on the test images it flags {results['export']['test_false_positive_rate']:.1%} "
          f"of class {c} and {results['export']['test_true_positive_rate']:.1%} of the others")

    # Figures: the most and least anomalous test images of the exported class's model, the score histograms,
    # and the AUROC of each score per class.
    order = np.argsort(s_test)
    plots.image_rows([x_test[order[:SHOWN]], x_test[order[-SHOWN:][::-1]]],
                     ["least anomalous", "most anomalous"], out / "most_and_least_anomalous.png",
                     f"trained on class {c} ({names[c]}), scored by {exported}")
    plots.histograms({f"class {c} ({names[c]})": s_test[test.labels == c], "other classes": s_test[test.labels != c]},
                     out / "score_histograms.png", xlabel=f"s(x), {exported}", log_x=True,
                     lines={f"threshold ({args.false_positive_rate:.0%} false positives)": threshold},
                     title=f"anomaly scores of the test images, model of class {c}")
    plots.grouped_bars([f"{i} {names[i]}" for i in args.classes],
                       {n: [aurocs[n][str(i)] for i in args.classes] for n in aurocs},
                       out / "auroc_per_class.png", ylabel="AUROC of 'not this class'",
                       title="one-class anomaly detection: AUROC per class († all-label classifier's features)")
    print(f"figures, metrics.json, auroc_table.md and logs in {out}/")

    if run.export_dir is not None:
        def score(image):
            tf.debugging.assert_greater_equal(image, 0.0, message="pixels must be in [0, 1]")
            tf.debugging.assert_less_equal(image, 1.0, message="pixels must be in [0, 1]")
            return {"score": scorer(image, training=False)}

        path = export.export_signatures(
            scorer, run.export_dir, RECIPE, f"scorer_class_{c}",
            {"score": export.Endpoint(score, {"image": tf.TensorSpec([None, *IMAGE_SHAPE], tf.float32)},
                                      [{"image": x_test[:1]}],
                                      doc=f"s(x) = {exported} of an autoencoder trained on class {c} ({names[c]}) "
                                          "only; an image scoring above metadata.threshold is flagged as anomalous")},
            metadata={"class": c, "class_name": names[c], "score": exported, "one_class": True,
                      "trained_on": trained_on, "threshold": threshold,
                      "false_positive_rate": args.false_positive_rate,
                      "threshold_set_on": f"{len(val_c)} validation images of class {c}",
                      "test_auroc": aurocs[exported][str(c)], "dataset": args.dataset,
                      "evaluation": {"score": {"class": c, "auroc": aurocs[exported][str(c)], "num_images": len(test)}}})
        print(f"exported the scorer: {path}")
    return results


if __name__ == "__main__":
    cli.run(main)
