"""PixelCNN on binarized images: an exact log-likelihood, sampled pixel by pixel, served as log_prob and sample.

The lecture (explicit, tractable density): the chain rule over pixels in raster order,
    p(x) = Π_{i=1}^{784} p(x_i | x_1, …, x_{i−1}),
each factor a Bernoulli whose logit a masked convolutional network computes from the earlier pixels only.
Training maximises the exact log-likelihood; the test NLL −log p(x) in nats per image (and bits per
dimension, NLL / (784 ln 2)) is exact, not a bound like the VAE's ELBO or IWAE estimate. Sampling is
sequential: one pass of the network per pixel.

The lecture's code: `gen_keras/models/pixelcnn.py: MaskedConv2D` (type A / B masks), `GatedBlock`
(vertical and horizontal stacks, no blind spot), `PixelCNN.log_prob` and `PixelCNN.complete` (the sampling
loop).

    python recipes/pixelcnn.py --quick                 # a short try-out: a small model, 1 epoch on 2,048 images
    python recipes/pixelcnn.py                         # binarized Fashion-MNIST, exact test NLL
    python recipes/pixelcnn.py --conditional           # p(x | class): samples per class
    python recipes/pixelcnn.py --dataset mnist         # binarized MNIST (downloaded once)
"""

from __future__ import annotations

import json
import time

from gen_keras import cli

RECIPE = "pixelcnn"
DEFAULT_EPOCHS = 2
DEFAULT_BLOCKS, DEFAULT_FILTERS = 5, 24
QUICK_BLOCKS, QUICK_FILTERS = 2, 16
LEARNING_RATE = 1e-3
COMPARE_IMAGES = 1000  # the VAE recipe's --iwae-images: both models scored on the same first test images
SAMPLES, QUICK_SAMPLES = 16, 4
MAX_SERVED_SAMPLES = 64  # each sample costs H·W passes of the network


def parse(argv=None):
    parser = cli.recipe_parser(__doc__.split("\n\n")[0], epochs=DEFAULT_EPOCHS, batch_size=64)
    g = parser.add_argument_group("PixelCNN")
    g.add_argument("--blocks", type=cli.positive_int, default=None,
                   help=f"gated blocks (vertical + horizontal stacks); default {DEFAULT_BLOCKS} "
                        f"({QUICK_BLOCKS} with --quick)")
    g.add_argument("--filters", type=cli.positive_int, default=None,
                   help=f"channels of every block; default {DEFAULT_FILTERS} ({QUICK_FILTERS} with --quick)")
    g.add_argument("--conditional", action="store_true",
                   help="model p(x | class): every block gets a per-class bias; samples are drawn per class")
    g.add_argument("--binarize", choices=("stochastic", "threshold"), default="stochastic",
                   help="stochastic: each pixel ~ Bernoulli(intensity), drawn anew every training step, the "
                        "validation and test images drawn once with --seed (the usual protocol for likelihood "
                        "numbers); threshold: intensity >= 0.5")
    g.add_argument("--learning-rate", type=cli.positive_float, default=LEARNING_RATE,
                   help="Adam's first step at batch 64, decayed to 0 along a cosine over the run")
    g.add_argument("--compare-images", type=cli.positive_int, default=COMPARE_IMAGES,
                   help="the NLL is also reported on the first N test images, the ones the VAE recipe's "
                        "IWAE bound averages over (its --iwae-images)")
    g.add_argument("--samples", type=cli.positive_int, default=None,
                   help=f"images drawn for the sample grid and the timing (default {SAMPLES}, "
                        f"{QUICK_SAMPLES} with --quick); per class when --conditional")
    args = cli.parse_args(parser, argv, RECIPE)
    quick = args.quick
    args.blocks = args.blocks or (QUICK_BLOCKS if quick else DEFAULT_BLOCKS)
    args.filters = args.filters or (QUICK_FILTERS if quick else DEFAULT_FILTERS)
    args.samples = args.samples or (QUICK_SAMPLES if quick else SAMPLES)
    if args.conditional:
        args.samples = max(1, args.samples // 4)  # per class: 10 classes × samples / 4
    return args


def main(argv=None):
    args = parse(argv)
    import keras
    import numpy as np
    import tensorflow as tf

    from gen_keras import callbacks, data, training
    from gen_keras.models.pixelcnn import build_pixelcnn, log_prob_in_batches

    run = training.setup(args)
    out = run.out

    # Data: training images in [0, 1], binarized afresh in every step; validation and test binarized once.
    train, val, test = data.load_splits(args.dataset, args.limit, image_shape=(28, 28, 1))
    val, test = data.binarized_splits((val, test), args.binarize, seed=args.seed)
    num_classes = test.num_classes if args.conditional else 0
    print(f"{train.name}: {len(train)} training, {len(val)} validation, {len(test)} test images "
          f"(from {train.source}), {args.binarize} binarization; batch {run.batch_size}")

    # Model: logits l_i of p(x_i = 1 | x_<i) from masked convolutions;
    # loss −log p(x) = Σ_i softplus(l_i) − x_i l_i, nats per image.
    with run.strategy.scope():
        model = build_pixelcnn(args.blocks, args.filters, num_classes=num_classes, binarize=args.binarize,
                               seed=args.seed, image_shape=train.images.shape[1:])
        steps = args.epochs * training.steps_per_epoch(len(train), run)
        learning_rate = keras.optimizers.schedules.CosineDecay(args.learning_rate * run.learning_rate_scale, steps)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), **run.compile_options())
    model.summary()
    step_losses = callbacks.StepLosses()
    start = time.perf_counter()
    history = training.fit(model, train, val, run, args.epochs, targets="labels" if args.conditional else None,
                           callbacks=[step_losses])
    train_seconds = time.perf_counter() - start

    # The exact test NLL in nats per image, and in bits per dimension: NLL / (H·W·ln 2).
    x_test = test.as_float()
    log_p = log_prob_in_batches(model, x_test, test.labels if args.conditional else None)
    pixels = int(np.prod(x_test.shape[1:]))
    n_compare = min(args.compare_images, len(test))
    nll = float(-log_p.mean())

    # Sampling: H·W passes of the network inside one compiled tf.while_loop, seeded.
    sample_fn = tf.function(model.sample)
    labels = (tf.constant(np.repeat(np.arange(num_classes), args.samples), tf.int32) if args.conditional else None)
    count = len(labels) if args.conditional else args.samples
    label_spec = tf.TensorSpec([None], tf.int32) if args.conditional else None
    sample_fn.get_concrete_function(tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32), label_spec)
    start = time.perf_counter()
    samples = sample_fn(tf.constant(count), tf.constant(args.seed), labels).numpy()
    sample_seconds = time.perf_counter() - start

    results = {
        "dataset": train.name, "binarize": args.binarize, "conditional": args.conditional,
        "blocks": args.blocks, "filters": args.filters, "parameters": model.count_params(),
        "epochs": len(history.get("loss", [])), "steps": len(step_losses.losses), "batch_size": run.batch_size,
        "train_images": len(train), "test_images": len(test), "train_seconds": round(train_seconds, 1),
        "test_nll_nats": nll, "test_bits_per_dim": nll / (pixels * np.log(2.0)),
        "compare_images": n_compare, "compare_nll_nats": float(-log_p[:n_compare].mean()),
        "samples": count, "sample_seconds": round(sample_seconds, 2),
    }
    (out / "metrics.json").write_text(json.dumps(results, indent=2))
    print(f"test −log p(x) = {nll:.2f} nats/image = {results['test_bits_per_dim']:.4f} bits/dim (exact, "
          f"{len(test)} images; {results['compare_nll_nats']:.2f} on the first {n_compare}); "
          f"{train_seconds:.0f} s of training, {results['steps']} steps; {count} samples in {sample_seconds:.1f} s")

    figures(model, test, step_losses, history, samples, out, args, num_classes)
    model.save(out / "pixelcnn.keras")
    print(f"figures, metrics.json and logs in {out}/")
    if run.export_dir is not None:
        export(model, run.export_dir, dataset=args.dataset, record={  # how the test NLL was measured
            "nll_nats": nll, "num_images": len(test), "prepare": "binarize", "binarize": args.binarize,
            "seed": args.seed})
    return results


def figures(model, test, step_losses, history, samples, out, args, num_classes) -> None:
    """The NLL per training step, the sample grid and completions of half-hidden test images."""
    import numpy as np
    import tensorflow as tf

    from gen_keras import plots

    plots.curves(plots.per_step(step_losses.losses, steps_per_epoch=step_losses.steps_per_epoch,
                                validation=history.get("val_loss")),
                 out / "nll_per_step.png", xlabel="training step", ylabel="−log p(x), nats per image", log_y=True,
                 title="−log p(x), nats/image (training: per step)")
    if args.conditional:
        names = [test.class_names[c] if c < len(test.class_names) else str(c) for c in range(num_classes)]
        plots.image_rows([samples[c * args.samples:(c + 1) * args.samples] for c in range(num_classes)], names,
                         out / "samples.png", "x ~ p(x | class), drawn pixel by pixel")
    else:
        plots.image_grid(samples, out / "samples.png", columns=min(8, len(samples)),
                         title="x ~ p(x), drawn pixel by pixel")
    # Completions: the bottom half of each test image hidden, drawn from p(x_bottom | x_top), several times.
    images, per_image = (2, 2) if args.quick else (5, 3)
    height, width = test.images.shape[1:3]
    x = np.repeat(test.as_float()[:images], per_image, axis=0)
    labels = tf.constant(np.repeat(test.labels[:images], per_image), tf.int32) if args.conditional else None
    done = tf.function(model.complete)(tf.constant(x), tf.constant((height // 2) * width), tf.constant(args.seed),
                                       labels).numpy()
    hidden = x.copy()
    hidden[:, height // 2:] = 0.5
    rows = [test.as_float()[:images], hidden[::per_image]]
    rows += [done[k::per_image] for k in range(per_image)]
    plots.image_rows(rows, ["test image", "bottom hidden", *[f"completion {k + 1}" for k in range(per_image)]],
                     out / "completions.png", "p(bottom half | top half), drawn pixel by pixel")


def export(model, export_dir, *, dataset: str = "fashion_mnist", record: dict | None = None):
    """The served model: `log_prob` (image → log p(x) in nats) and `sample` (num_samples, seed → images; both
    have defaults a request may leave out); `record`, how the recipe measured the test NLL, goes into the
    metadata for `python -m gen_keras.evaluate`."""
    import numpy as np
    import tensorflow as tf

    from gen_keras.serving import export as export_lib

    height, width, channels = model.image_shape

    def checked_labels(label, count):
        checks = [
            tf.debugging.assert_non_negative(label, message="label must be a class index, 0 or more"),
            tf.debugging.assert_less(label, model.num_classes,
                                     message=f"label must be a class index below {model.num_classes}"),
        ]
        with tf.control_dependencies(checks):  # checked before the network reads the labels
            return tf.broadcast_to(tf.identity(label), tf.reshape(count, [1]))

    def log_prob(image, label=None):
        checks = [
            tf.debugging.assert_equal(tf.shape(image)[1:], [height, width, channels],
                                      message=f"image must be (batch, {height}, {width}, {channels})"),
            tf.debugging.assert_greater_equal(image, 0.0, message="image pixels must lie in [0, 1]"),
            tf.debugging.assert_less_equal(image, 1.0, message="image pixels must lie in [0, 1]"),
        ]
        with tf.control_dependencies(checks):
            image = tf.ensure_shape(tf.identity(image), [None, height, width, channels])
        labels = None
        if model.conditional:
            with tf.control_dependencies([tf.debugging.assert_equal(
                    tf.shape(label)[0], tf.shape(image)[0], message="give one label per image")]):
                labels = checked_labels(label, tf.shape(image)[0])
        return {"log_prob": tf.cast(model.log_prob(image, labels), tf.float32)}

    def sample(num_samples=SAMPLES, seed=0, label=None):  # a request may leave out num_samples and seed
        checks = [
            tf.debugging.assert_positive(num_samples, message="num_samples must be at least 1"),
            tf.debugging.assert_less_equal(num_samples, MAX_SERVED_SAMPLES,
                                           message=f"num_samples must be at most {MAX_SERVED_SAMPLES} per request "
                                                   f"(each image costs {height * width} passes of the network)"),
        ]
        with tf.control_dependencies(checks):
            num_samples = tf.identity(num_samples)
        labels = checked_labels(label, num_samples) if model.conditional else None
        return {"image": model.sample(num_samples, seed, labels)}

    image_spec = {"image": tf.TensorSpec([None, height, width, channels], tf.float32)}
    sample_spec = {"num_samples": tf.TensorSpec([], tf.int32), "seed": tf.TensorSpec([], tf.int32)}
    log_prob_warmup = {"image": np.zeros((1, height, width, channels), np.float32)}
    sample_warmup = {"num_samples": 1, "seed": 0}
    if model.conditional:
        image_spec["label"] = tf.TensorSpec([None], tf.int32)
        sample_spec["label"] = tf.TensorSpec([], tf.int32)
        log_prob_warmup["label"] = np.zeros((1,), np.int32)
        sample_warmup["label"] = 0
    endpoints = {
        "log_prob": export_lib.Endpoint(
            log_prob, image_spec, [log_prob_warmup],
            doc=f"log p(x) in nats per image (float32) of binary images (batch, {height}, {width}, {channels}) "
                "with pixels in {0, 1}" + (" given one class label per image" if model.conditional else "")),
        "sample": export_lib.Endpoint(
            sample, sample_spec, [sample_warmup],
            doc=f"num_samples (1 ... {MAX_SERVED_SAMPLES}, default {SAMPLES}) images drawn pixel by pixel; the same "
                "seed (default 0) gives the same images" + (", all of class `label`" if model.conditional else "")),
    }
    version = export_lib.export_signatures(
        model, export_dir, RECIPE, "pixelcnn", endpoints,
        metadata={"dataset": dataset, "evaluation": {"log_prob": record} if record else {},
                  "num_classes": model.num_classes, "max_samples": MAX_SERVED_SAMPLES,
                  "image_shape": [height, width, channels]})
    print(f"exported pixelcnn (log_prob, sample): {version}")
    return version


if __name__ == "__main__":
    cli.run(main)
