"""Normalizing flows (RealNVP) with TensorFlow Probability bijectors: exact log p(x), sampling and latent arithmetic.

The lecture: an invertible f maps data x to z with p_z = N(0, I), and the change of variables gives the
exact likelihood
    p(x) = p_z(f(x)) |det ∂f(x)/∂xᵀ|,
trained by maximum likelihood. RealNVP's affine coupling keeps half of x and maps the other half,
y_b = x_b ⊙ exp(s(x_a)) + t(x_a), so log |det| = Σ s(x_a) and the inverse is as cheap as the forward.
Inference of z is exact (z = f(x)), sampling is x = f⁻¹(z), and z can be interpolated or moved along an
attribute direction z_pos − z_neg.

--data moons: keras-io's RealNVP example (two moons, noise 0.05, 3,000 standardised points, the last 600
held out): held-out NLL in nats per point, the mean over three seeds. --data fashion_mnist / mnist:
dequantized, logit-transformed pixels and a multi-scale coupling stack, test NLL in bits per dimension
beside an independent per-pixel distribution fitted to the same images.

The lecture's code: `gen_keras/models/flows.py: RealNVPFlow, CouplingNet, ActNorm, bits_per_dim`; the
baseline is `gen_keras/metrics.py: per_pixel_bits_per_dim`.

    python recipes/flows.py --data moons --quick           # a short try-out (one seed, 10 steps)
    python recipes/flows.py --data moons                   # three seeds, 5,000 steps each
    python recipes/flows.py --data fashion_mnist --quick   # a short try-out on 2,048 images
    python recipes/flows.py --data fashion_mnist           # the image flow, about 30 minutes on 2 CPU cores
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence

import numpy as np

from gen_keras import cli

RECIPE = "flows"
DEFAULT_EPOCHS = {"moons": 500, "fashion_mnist": 3, "mnist": 3}
DEFAULT_BATCH = {"moons": 256, "fashion_mnist": 64, "mnist": 64}
MOONS_POINTS, MOONS_HELD_OUT, MOONS_NOISE = 3000, 600, 0.05
KERAS_IO_MOONS_NLL = 1.30  # keras-io's RealNVP example: validation loss after 300 epochs
PUBLISHED_MNIST_BITS = {"RealNVP": 1.06, "Glow": 1.05}
# The attribute direction z_pos − z_neg: (positive class, negative class, what it does).
ATTRIBUTES = {"fashion_mnist": (9, 7, "sneaker → ankle boot"), "mnist": (8, 3, "3 → 8")}


def parse(argv=None):
    parser = cli.recipe_parser(__doc__.split("\n\n")[0], epochs=None, batch_size=64)
    parser.add_argument("--data", choices=("moons", "fashion_mnist", "mnist"), default="fashion_mnist",
                        help="moons: 2-D two moons made here; fashion_mnist or mnist: 28×28 images. Default epochs: "
                             "moons 500 of 10 steps (batch 256), images 3 (batch 64)")
    parser.add_argument("--learning-rate", type=cli.positive_float, default=1e-3,
                        help="Adam's initial learning rate, decayed to 0 along a cosine over the run")
    parser.add_argument("--couplings", type=cli.positive_int, default=None,
                        help="affine couplings (per scale, for images); default 8 for moons, 4 for images")
    parser.add_argument("--units", type=cli.positive_int, default=None,
                        help="width of each coupling network's hidden layers; default 128 (moons: Dense), "
                             "64 (images: 3×3 convolution channels)")
    parser.add_argument("--seeds", type=cli.positive_int, default=None,
                        help="moons: train this many seeds (--seed, --seed + 1, ...) and report their mean; "
                             "default 3 (1 with --quick)")
    parser.add_argument("--eval-every", type=cli.positive_int, default=200,
                        help="images: steps between held-out bits/dim measurements for the per-step curve")
    args = cli.parse_args(parser, argv, RECIPE)
    if args.dataset != "fashion_mnist":
        parser.error("this recipe picks its data with --data (moons, fashion_mnist or mnist), not --dataset")
    args.dataset = args.data
    args.epochs = args.epochs or DEFAULT_EPOCHS[args.data]
    args.default_batch_size = DEFAULT_BATCH[args.data]
    args.seeds = args.seeds or (1 if args.quick else 3)
    args.couplings = args.couplings or (8 if args.data == "moons" else 4)
    args.units = args.units or (128 if args.data == "moons" else 64)
    return args


def endpoints(flow, event_shape, images: bool):
    """The exported signatures: log_prob (x → nats), sample (num_samples, seed, temperature → x; each with a
    default), encode (x → z)."""
    import numpy as np
    import tensorflow as tf

    from gen_keras.serving.export import Endpoint

    def checked(x):
        x = tf.debugging.assert_all_finite(x, "x must be finite (no NaN or infinity)")
        if images:
            with tf.control_dependencies([
                    tf.debugging.assert_greater_equal(x, 0.0, message="pixels must be in [0, 1] (x / 255)"),
                    tf.debugging.assert_less_equal(x, 1.0, message="pixels must be in [0, 1] (x / 255)")]):
                x = tf.identity(x)
        return x

    def log_prob(x):
        return {"log_prob": tf.cast(flow.log_prob(checked(x)), tf.float32)}

    def encode(x):
        return {"z": flow.encode(checked(x))}

    def sample(num_samples=16, seed=0, temperature=1.0):  # a request may leave any of them out
        with tf.control_dependencies([
                tf.debugging.assert_positive(num_samples, message="num_samples must be positive"),
                tf.debugging.assert_less_equal(num_samples, 10_000, message="num_samples must be at most 10000"),
                tf.debugging.assert_all_finite(temperature, "temperature must be finite"),
                tf.debugging.assert_positive(temperature, message="temperature must be positive")]):
            return {"x": flow.sample(num_samples, seed, temperature)}

    x_spec = {"x": tf.TensorSpec([None, *event_shape], tf.float32)}
    one = np.full((1, *event_shape), 0.5, np.float32)
    return {
        "log_prob": Endpoint(log_prob, x_spec, [{"x": one}],
                             doc="log p(x) in nats per example, every Jacobian included"
                                 + (" (pixels in [0, 1], each at the centre of its 1/256 bin; bits/dim = "
                                    "-log_prob / (784 ln 2))" if images else " (standardised points)")),
        "sample": Endpoint(sample, {"num_samples": tf.TensorSpec([], tf.int32), "seed": tf.TensorSpec([], tf.int32),
                                    "temperature": tf.TensorSpec([], tf.float32)},
                           [{"num_samples": 1, "seed": 0, "temperature": 1.0}],
                           doc="x = f^-1(temperature * eps), eps ~ N(0, I), num_samples (default 16) of them at "
                               "temperature (default 1); the same seed (default 0) gives the same samples"),
        "encode": Endpoint(encode, x_spec, [{"x": one}], doc="z = f(x), the exact latent code"),
    }


def image_record(metrics: dict) -> dict:
    """The image flow's export metadata for `python -m gen_keras.evaluate`: its data set and how its served
    log_prob (pixels at their bins' centres) scored the test images."""
    return {"dataset": metrics["data"], "evaluation": {"log_prob": {
        "nll_nats": metrics["test_nll_nats_at_bin_centres"], "num_images": metrics["test_images"],
        "prepare": "bin_centres"}}}


def moons_record(metrics: dict) -> dict:
    """The two-moons flow's export metadata for `python -m gen_keras.evaluate`: how its held-out points were made
    and the exported flow's (the first seed's) NLL on them."""
    exported = next(r for r in metrics["held_out_nll_per_seed"] if r["seed"] == metrics["exported_seed"])
    return {"evaluation": {"log_prob": {
        "prepare": "two_moons", "points": metrics["points"], "noise": metrics["noise"],
        "held_out_points": metrics["held_out_points"], "data_seed": metrics["data_seed"],
        "nll_nats": exported["held_out_nll"], "num_points": metrics["held_out_points"]}}}


def moons(args, run):
    import keras
    import numpy as np
    import tensorflow as tf

    from gen_keras import plots, training
    from gen_keras import points as toy
    from gen_keras.models.flows import moons_flow

    # keras-io's data: make_moons(3000, noise=0.05), standardised; Keras's validation_split holds out the last 20%.
    points = toy.standardized(toy.two_moons(MOONS_POINTS, MOONS_NOISE, seed=args.seed))
    train, held_out = points[:-MOONS_HELD_OUT], points[-MOONS_HELD_OUT:]
    steps_per_epoch = math.ceil(len(train) / run.batch_size)
    total_steps = args.epochs * steps_per_epoch
    print(f"two moons: {len(train)} training, {len(held_out)} held-out points; batch {run.batch_size}, "
          f"{total_steps} steps per seed, {args.seeds} seed(s)")

    results, flows, curves = [], [], {}
    for seed in range(args.seed, args.seed + args.seeds):
        training.set_seed(seed)
        flow = moons_flow(args.couplings, args.units, seed)
        # log p(x) = log N(f(x); 0, I) + Σ_k log |det ∂f_k/∂x|; minimise −mean log p(x) (nats per point).
        schedule = keras.optimizers.schedules.CosineDecay(args.learning_rate * run.learning_rate_scale, total_steps)
        flow.compile(optimizer=keras.optimizers.Adam(schedule))
        stream = (tf.data.Dataset.from_tensor_slices(train).shuffle(len(train), seed=seed).repeat()
                  .batch(run.batch_size))
        start = time.perf_counter()
        history = flow.fit(stream, epochs=args.epochs, steps_per_epoch=steps_per_epoch, verbose=0,
                           validation_data=tf.data.Dataset.from_tensor_slices(held_out).batch(MOONS_HELD_OUT), validation_freq=max(1, args.epochs // 20))
        seconds = time.perf_counter() - start
        nll = float(-np.mean(flow.log_prob(held_out)))
        print(f"seed {seed}: held-out NLL {nll:.4f} nats per point after {total_steps} steps ({seconds:.0f} s)")
        results.append({"seed": seed, "held_out_nll": nll, "train_seconds": round(seconds, 1)})
        flows.append(flow)
        every = max(1, args.epochs // 20)
        curves[f"seed {seed}, held out"] = ([(i + 1) * every * steps_per_epoch
                                             for i in range(len(history.history.get("val_loss", [])))],
                                            history.history.get("val_loss", []))
    flow = flows[0]
    mean_nll = float(np.mean([r["held_out_nll"] for r in results]))

    # The density on a grid integrates to ≈ 1 (a check that every Jacobian is counted).
    xs = ys = np.linspace(-3.5, 3.5, 281, dtype=np.float32)
    grid = np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)
    density = np.exp(flow.log_prob(grid).numpy()).reshape(len(ys), len(xs))
    integral = float(density.sum() * (xs[1] - xs[0]) * (ys[1] - ys[0]))
    z_data = flow.encode(held_out).numpy()
    gaussian = np.random.default_rng(args.seed).normal(size=(MOONS_POINTS, 2)).astype(np.float32)
    samples = flow.decode(gaussian).numpy()
    metrics = {
        "data": "moons", "points": MOONS_POINTS, "held_out_points": MOONS_HELD_OUT, "noise": MOONS_NOISE,
        "data_seed": args.seed, "exported_seed": results[0]["seed"],
        "couplings": args.couplings, "units": args.units, "batch_size": run.batch_size,
        "steps_per_seed": total_steps, "learning_rate": args.learning_rate,
        "held_out_nll_per_seed": results, "held_out_nll_mean": mean_nll,
        "held_out_nll_std": float(np.std([r["held_out_nll"] for r in results])),
        "keras_io_held_out_nll": KERAS_IO_MOONS_NLL, "density_integral_over_grid": integral,
        "z_of_held_out_mean": z_data.mean(0).tolist(), "z_of_held_out_std": z_data.std(0).tolist(),
    }
    print(f"held-out NLL {mean_nll:.4f} nats per point, mean of {args.seeds} seed(s) "
          f"(keras-io: {KERAS_IO_MOONS_NLL}); the density integrates to {integral:.4f} over [-3.5, 3.5]²")

    out = run.out
    flow_2d([("data x (held out)", held_out), ("the data mapped to z = f(x)", z_data),
             ("Gaussian z ~ N(0, I)", gaussian), ("mapped back: samples x = f⁻¹(z)", samples)],
            (xs, ys, density), out / "moons.png",
            f"RealNVP on two moons: held-out NLL {mean_nll:.3f} nats/point")
    plots.curves(curves, out / "nll_per_step.png", xlabel="training step", ylabel="held-out NLL (nats per point)",
                 baselines={"keras-io (300 epochs)": KERAS_IO_MOONS_NLL},
                 title="two moons: held-out NLL per training step")
    return flow, metrics


def images(args, run):
    import keras
    import numpy as np

    from gen_keras import callbacks, data, metrics as metrics_lib, plots, training
    from gen_keras.models.flows import bits_per_dim, image_flow

    train, val, test = data.load_splits(args.data, args.limit, image_shape=(28, 28, 1),
                                        image_size=args.image_size, channels=args.channels)
    x_test = test.as_float()
    dims = int(np.prod(test.images.shape[1:]))
    steps = args.epochs * training.steps_per_epoch(len(train), run)
    print(f"{train.name}: {len(train)} training, {len(val)} validation, {len(test)} test images "
          f"(from {train.source}); batch {run.batch_size}, {steps} steps")

    rng = np.random.default_rng(args.seed)
    u_test = rng.random(x_test.shape, dtype=np.float32)  # fixed dequantization noise u ~ U(0, 1)
    x_val = val.as_float()[:1000]
    u_val = rng.random(x_val.shape, dtype=np.float32)

    def test_bits(flow, x, u, batch=500):
        # bits/dim = −log p(k + u) / (D ln 2), p over v = k + u including the 1/256 scale and the logit map
        nll = np.concatenate([-flow.log_prob(x[i:i + batch], u[i:i + batch]).numpy()
                              for i in range(0, len(x), batch)])
        return float(bits_per_dim(nll.mean(), dims))

    with run.strategy.scope():
        flow = image_flow(test.images.shape[1:], args.couplings, args.units, seed=args.seed)
        flow.initialize(train.as_float()[:512])  # ActNorm: zero mean, unit variance on a first batch
        schedule = keras.optimizers.schedules.CosineDecay(args.learning_rate * run.learning_rate_scale, steps)
        flow.compile(optimizer=keras.optimizers.Adam(schedule), **run.compile_options())
    print(f"RealNVP: {flow.count_params():,} parameters, {len(flow.nets)} couplings, z of shape {flow.z_shape}")
    curve = callbacks.EvaluateEverySteps(lambda: test_bits(flow, x_val, u_val), args.eval_every)
    start_bits = test_bits(flow, x_val, u_val)
    start = time.perf_counter()
    history = training.fit(flow, train, val, run, args.epochs, targets=None, callbacks=[curve])
    seconds = time.perf_counter() - start

    bits = test_bits(flow, x_test, u_test)
    # The served log_prob puts each pixel at its bin's centre (u = ½): its test NLL goes into the export's record.
    centre_nll = float(np.mean(np.concatenate([-flow.log_prob(x_test[i:i + 500]).numpy()
                                               for i in range(0, len(x_test), 500)])))
    baseline = metrics_lib.per_pixel_bits_per_dim(train.images, test.images)
    metrics = {
        "data": args.data, "train_images": len(train), "test_images": len(test), "batch_size": run.batch_size,
        "epochs": len(history.get("loss", [])), "steps": curve.steps[-1] if curve.steps else 0,
        "couplings_per_scale": args.couplings, "units": args.units, "parameters": int(flow.count_params()),
        "learning_rate": args.learning_rate, "train_seconds": round(seconds, 1),
        "test_bits_per_dim": bits, "per_pixel_baseline_bits_per_dim": baseline,
        "test_nll_nats_at_bin_centres": centre_nll,
        "validation_bits_per_dim_per_step": {"steps": [0, *curve.steps], "values": [start_bits, *curve.values]},
    }
    if args.data == "mnist":
        metrics["published_mnist_bits_per_dim"] = PUBLISHED_MNIST_BITS
    print(f"test NLL {bits:.3f} bits/dim after {metrics['steps']} steps ({seconds:.0f} s of training); "
          f"independent per-pixel baseline {baseline:.3f} bits/dim")

    # Figures: the curve; samples x = f⁻¹(T ε) at T = 1 and 0.7; interpolation and an attribute direction in z.
    out = run.out
    baselines = {"independent per-pixel, test": baseline}
    if args.data == "mnist":
        baselines.update({f"{k} (published)": v for k, v in PUBLISHED_MNIST_BITS.items()})
    curve = metrics["validation_bits_per_dim_per_step"]
    plots.curves({"validation (1,000 images)": (curve["steps"], curve["values"])}, out / "bits_per_dim.png",
                 xlabel="training step", ylabel="bits/dim", baselines=baselines,
                 title=f"RealNVP on {train.name}: test {bits:.3f} bits/dim")
    plots.image_grids([(f"T = {t}", flow.sample(50, args.seed, t).numpy()) for t in (1.0, 0.7)],
                      out / "samples.png", columns=10, title="samples x = f⁻¹(T ε), ε ~ N(0, I)")
    z_test = np.concatenate([flow.encode(x_test[i:i + 500]).numpy() for i in range(0, len(x_test), 500)])
    t = np.linspace(0, 1, 8, dtype=np.float32).reshape(-1, 1, 1, 1)
    rows = [flow.decode((1 - t) * z_test[a] + t * z_test[b]).numpy() for a, b in ((0, 1), (2, 3), (4, 5))]
    plots.image_rows(rows, ["", "", ""], out / "interpolation.png",
                     "x = f⁻¹((1 − t) f(a) + t f(b)), t = 0 … 1 (ends: test images a and b, encoded exactly)")
    pos, neg, what = ATTRIBUTES[args.data]
    direction = z_test[test.labels == pos].mean(0) - z_test[test.labels == neg].mean(0)  # z_pos − z_neg
    chosen = np.flatnonzero(test.labels == neg)[:6]
    strengths = (0.0, 0.25, 0.5, 0.75, 1.0)
    rows = [x_test[chosen]] + [flow.decode(z_test[chosen] + s * direction).numpy() for s in strengths[1:]]
    plots.image_rows(rows, [f"+{s} d" if s else "test" for s in strengths], out / "attribute.png",
                     f"f⁻¹(f(x) + s d), d = mean z of class {pos} − of class {neg} ({what})")
    return flow, metrics


def main(argv=None):
    args = parse(argv)
    from gen_keras import training
    from gen_keras.serving import export

    run = training.setup(args)
    if args.mixed_precision:
        print("--mixed-precision: the flow computes in float32 all the same (its log-determinants, summed over "
              "every dimension, need float32); nothing else changes")
    flow, metrics = moons(args, run) if args.data == "moons" else images(args, run)
    (run.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print(f"figures, metrics.json and logs in {run.out}/")

    if run.export_dir is not None:
        is_images = args.data != "moons"
        keep = ("held_out_nll_mean", "test_bits_per_dim", "per_pixel_baseline_bits_per_dim", "data")
        path = export.export_signatures(flow, run.export_dir, RECIPE, args.data,
                                        endpoints(flow, flow.event_shape, is_images),
                                        metadata={**{k: metrics[k] for k in keep if k in metrics},
                                                  **(image_record(metrics) if is_images else moons_record(metrics))})
        print(f"exported {args.data}: {path} (signatures log_prob, sample, encode)")
    return metrics


# --- Figures ----------------------------------------------------------------------------------------------


def flow_2d(scatters: Sequence[tuple[str, np.ndarray]], density: tuple[np.ndarray, np.ndarray, np.ndarray],
            path: str | os.PathLike, title: str = "") -> str:
    """A 2-D flow at a glance: point clouds (data, samples, data mapped to z, a Gaussian) beside the learned
    density as a heat map.

    Args:
        scatters: (panel title, (N, 2) points) pairs, one panel each.
        density: (xs, ys, p) with p of shape (len(ys), len(xs)): the density on a grid.
        path: the PNG to write.
        title: the figure's title.

    Returns:
        `path` as a string.
    """

    from gen_keras import plots

    n = len(scatters) + 1
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plots.plt.subplots(rows, cols, figsize=(3.4 * cols, 3.2 * rows), squeeze=False)
    flat = list(axes.ravel())
    for i, (ax, (name, points)) in enumerate(zip(flat, scatters)):
        ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.5, color=f"C{i}")
        ax.set_title(name, fontsize=10)
        ax.set_aspect("equal", adjustable="datalim")
    xs, ys, p = density
    ax = flat[len(scatters)]
    mesh = ax.pcolormesh(xs, ys, p, shading="auto", cmap="viridis")
    fig.colorbar(mesh, ax=ax, fraction=0.046)
    ax.set_title("learned density p(x)", fontsize=10)
    ax.set_aspect("equal")
    for ax in flat[n:]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return plots.save_figure(fig, path)


if __name__ == "__main__":
    cli.run(main)
