"""Regularized autoencoders: what keeps an over-complete autoencoder from copying its input, each penalty
measured beside the plain autoencoder trained the same way.

One network, x → h = σ(W x + b) → x̂ = σ(W′ h + b′) with 1,000 hidden units (more than the 784 pixels),
trained on ‖x − x̂‖² (summed over the pixels) plus one penalty, beside the same network trained the same
way without it (`none`), so the penalty is the only difference. The contractive penalty's network is
narrower (256 hidden units) and its decoder has a hidden layer (x̂ = σ(W″ relu(W′ h + b′) + b″)), beside a
plain network of that shape. `--penalty all` (the default) trains each plain network once and the three
penalties beside them. `--tied-weights` decodes with the encoder's own weights, x̂ = σ(Wᵀ h + b′) (the
lecture's tied-weight autoencoder, `gen_keras/layers.py: TiedDense`), and `--reconstruction-loss
cross_entropy` trains on −Σ [x log x̂ + (1 − x) log(1 − x̂)] instead of ‖x − x̂‖².

- sparse: + β Σ_j KL(ρ ‖ ρ̂_j), ρ̂_j unit j's mean activation. Measured: the mean of ρ̂ over the test set
  against ρ, the share of units within a factor 2 of ρ, ρ̂'s histogram and the decoder's filters.
- denoising: trained on x̃ → x, x̃ masked (each pixel zeroed with probability ν) or x + σ ε. Measured:
  on corrupted test images, the MSE against the clean ones, beside the plain autoencoder's.
- contractive: + λ ‖J_f(x)‖²_F, the encoder's Jacobian (closed form for the sigmoid layer). Measured: the
  exact ‖J_f(x)‖_F over the test images (the closed form, equal to autodiff's) and the test MSE, beside
  the plain autoencoder's; how much the reconstruction moves along the data's tangent (the local
  principal direction of its nearest training images) and along random directions.

The lecture's code: `gen_keras/regularizers.py: sparse_kl, KLSparsity, corrupt, Corruption,
sigmoid_jacobian_norm_sq, jacobian_norm_sq, ContractiveDense, sum_squared_error`; the network is
`gen_keras/models/regularized.py: regularized_autoencoder`.

    python recipes/regularized_autoencoders.py --quick                    # a try-out in under a minute
    python recipes/regularized_autoencoders.py                            # all three beside the plain one
    python recipes/regularized_autoencoders.py --penalty sparse --rho 0.1 --beta 3
    python recipes/regularized_autoencoders.py --penalty denoising --noise gaussian --noise-level 0.5
    python recipes/regularized_autoencoders.py --penalty contractive --lambda 0.1
    python recipes/regularized_autoencoders.py --penalty sparse --tied-weights --reconstruction-loss cross_entropy
"""

from __future__ import annotations

import json
import time

from gen_keras import cli

RECIPE = "regularized_autoencoders"
IMAGE_SHAPE = (28, 28, 1)
DEFAULT_EPOCHS = 10
LEARNING_RATE = 1e-3  # Adam's first step at batch 128, cosine-decayed to 0
DEFAULT_NOISE_LEVEL = {"masking": 0.5, "gaussian": 0.5}
# (sigmoid hidden units, decoder hidden units) of each penalty's network, and of the plain one beside it: the
# over-complete one-layer network for sparse and denoising; for contractive a narrower code and a decoder that
# can undo the contraction along the data (measured: docs/results/autoencoders.md).
NETWORKS = {"none": (1000, 0), "sparse": (1000, 0), "denoising": (1000, 0), "contractive": (256, 512)}
DEFAULT_LAMBDA = 0.06
RECONSTRUCTION_LOSSES = ("squared_error", "cross_entropy")
TANGENT_IMAGES = 200
TANGENT_NEIGHBOURS = 20
SHOWN = 10


def parse(argv=None):
    parser = cli.recipe_parser(__doc__.split("\n\n")[0], epochs=DEFAULT_EPOCHS)
    g = parser.add_argument_group("regularized autoencoders")
    g.add_argument("--penalty", choices=("sparse", "denoising", "contractive", "none", "all"), default="all",
                   help="the penalty trained beside the plain autoencoder of its shape (none: the plain one "
                        "alone; all: the three, sparse and denoising beside one plain network, contractive beside "
                        "another)")
    g.add_argument("--hidden-units", type=cli.positive_int, default=None,
                   help="sigmoid hidden units of the encoder (over-complete above 784); default 1,000 for sparse "
                        "and denoising, 256 for contractive")
    g.add_argument("--decoder-units", type=cli.non_negative_int, default=None,
                   help="a ReLU hidden layer of this width in the decoder (0: x̂ = σ(W′h + b′)); default 0 for "
                        "sparse and denoising (whose filters are drawn), 512 for contractive")
    g.add_argument("--rho", type=cli.open_unit_interval, default=0.05, help="sparse: ρ, the target mean activation, in (0, 1)")
    g.add_argument("--beta", type=cli.non_negative_float, default=10.0, help="sparse: β, the KL penalty's weight")
    g.add_argument("--noise", choices=("masking", "gaussian"), default="masking",
                   help="denoising: zero each pixel with probability ν, or add σ ε")
    g.add_argument("--noise-level", type=cli.positive_float, default=None,
                   help="denoising: ν in (0, 1) for masking, σ in (0, 1] for gaussian (default 0.5)")
    g.add_argument("--lambda", dest="lam", type=cli.non_negative_float, default=DEFAULT_LAMBDA,
                   help="contractive: λ, the weight of ‖J_f(x)‖²_F")
    g.add_argument("--tied-weights", action="store_true",
                   help="the lecture's tied-weight autoencoder: decode with the encoder's W transposed, "
                        "x̂ = σ(Wᵀh + b′), in every network trained (not with the contractive penalty)")
    g.add_argument("--reconstruction-loss", choices=RECONSTRUCTION_LOSSES, default="squared_error",
                   help="‖x − x̂‖² or the cross-entropy −Σ [x log x̂ + (1 − x) log(1 − x̂)], summed over the pixels")
    args = cli.parse_args(parser, argv, RECIPE)
    if args.tied_weights and (args.penalty in ("contractive", "all") or args.decoder_units):
        parser.error("argument --tied-weights: the tied decoder is x̂ = σ(Wᵀh + b′), one layer; use it with "
                     "--penalty sparse, denoising or none and without --decoder-units")
    if args.noise_level is None:
        args.noise_level = DEFAULT_NOISE_LEVEL[args.noise]
    elif args.noise == "masking" and not args.noise_level < 1:
        parser.error(f"argument --noise-level: masking zeroes a pixel with probability ν, which must be below 1, "
                     f"got {args.noise_level}")
    elif args.noise == "gaussian" and args.noise_level > 1:
        parser.error(f"argument --noise-level: σ must be at most 1 (pixels are in [0, 1]), got {args.noise_level}")
    return args


def network_shapes(args) -> dict[str, tuple[int, int]]:
    """{penalty: (hidden units, decoder units)} for the penalties --penalty asks for ("none" alone for
    --penalty none), --hidden-units and --decoder-units overriding the defaults of `NETWORKS`."""
    penalties = {"none": ["none"], "all": ["sparse", "denoising", "contractive"]}.get(args.penalty, [args.penalty])
    return {p: (args.hidden_units or NETWORKS[p][0],
                NETWORKS[p][1] if args.decoder_units is None else args.decoder_units) for p in penalties}


def plain_partners(shapes: dict[str, tuple[int, int]]) -> tuple[dict[str, str], dict[str, tuple[int, int]]]:
    """Each penalty's plain network: one of the same shape, "none" for the first shape and
    "none_<units>_<decoder units>" for another, so within each comparison the penalty is the only difference.

    Returns:
        ({penalty: its plain network's name}, {name: shape} of every network to train, plain ones first).
    """
    first = next(iter(shapes.values()))
    plain_of = {p: "none" if shape == first else f"none_{shape[0]}_{shape[1]}" for p, shape in shapes.items()}
    shape_of = {plain_of[p]: shapes[p] for p in shapes}
    shape_of.update({p: shapes[p] for p in shapes if p != "none"})
    return plain_of, shape_of


def fit_autoencoder(parts, run, train, val, *, name: str, epochs: int, loss: str = "squared_error"):
    """Compiles `parts.autoencoder` on ‖x − x̂‖² or the cross-entropy (+ its penalty) with Adam, η
    cosine-decayed over the run, and trains it in `<out>/<name>/`. Returns (history, seconds)."""
    from gen_keras import training
    from gen_keras.regularizers import sum_binary_cross_entropy, sum_squared_error

    sub = training.sub_run(run, name)
    parts.autoencoder.compile(optimizer=training.cosine_adam(LEARNING_RATE, len(train), sub, epochs),
                              loss={"squared_error": sum_squared_error, "cross_entropy": sum_binary_cross_entropy}[loss],
                              **run.compile_options())
    start = time.perf_counter()
    history = training.fit(parts.autoencoder, train, val, sub, epochs, targets="images")
    return history, time.perf_counter() - start


def main(argv=None):
    args = parse(argv)
    import numpy as np

    from gen_keras import data, inference, metrics, plots, training
    from gen_keras.models.regularized import decoder_filters, hidden_kernel, regularized_autoencoder
    from gen_keras.regularizers import corrupt, sigmoid_jacobian_norm_sq
    from gen_keras.serving import export

    run = training.setup(args)
    out = run.out
    train, val, test = data.load_splits(args.dataset, args.limit, image_shape=IMAGE_SHAPE,
                                        image_size=args.image_size, channels=args.channels)
    x_train, x_test = train.as_float(), test.as_float()
    print(f"{train.name}: {len(train)} training, {len(val)} validation, {len(test)} test images; "
          f"batch {run.batch_size}, {args.epochs} epochs")
    options = dict(rho=args.rho, beta=args.beta, noise=args.noise, noise_level=args.noise_level, lam=args.lam,
                   tied_weights=args.tied_weights, seed=args.seed)
    shapes = network_shapes(args)
    plain_of, shape_of = plain_partners(shapes)
    to_train = list(shape_of)
    models, results = {}, {"penalty": args.penalty, "tied_weights": args.tied_weights,
                           "reconstruction_loss": args.reconstruction_loss, "dataset": train.name, "train_images": len(train),
                           "test_images": len(test), "batch_size": run.batch_size}
    for name in to_train:
        units, decoder_units = shape_of[name]
        with run.strategy.scope():
            parts = regularized_autoencoder(units, penalty="none" if name.startswith("none") else name,
                                            decoder_units=decoder_units, **options)
        history, seconds = fit_autoencoder(parts, run, train, val, name=name, epochs=args.epochs,
                                           loss=args.reconstruction_loss)
        models[name] = parts
        codes = inference.predict_in_batches(parts.encoder, x_test)
        recon = inference.predict_in_batches(parts.decoder, codes)
        results[name] = {"hidden_units": units, "decoder_units": decoder_units, "epochs": len(history.get("loss", [])),
                         "steps": len(history.get("loss", [])) * training.steps_per_epoch(len(train), run),
                         "train_seconds": round(seconds, 1), "test_mse": metrics.mse(recon, x_test),
                         "mean_activation": float(codes.mean())}
        if name in plain_of and name != "none":
            results[name]["plain"] = plain_of[name]
        print(f"{name} ({units} hidden units, decoder {f'{decoder_units} + ' if decoder_units else ''}784): test MSE "
              f"{results[name]['test_mse']:.5f}, mean hidden activation {results[name]['mean_activation']:.4f}; "
              f"{seconds:.0f} s")
    rows = [x_test[:SHOWN]] + [inference.predict_in_batches(models[p].autoencoder, x_test[:SHOWN]) for p in to_train]
    titles = ["test"] + [("plain" + (f", {shape_of[p][0]} units" if p != "none" else "") if p.startswith("none")
                          else p) for p in to_train]  # "plain, 256 units": the contractive network's plain twin

    if "sparse" in models:
        # ρ̂_j = (1/N) Σ_n h_j(x_n) over the test set; the penalty pulls each towards ρ.
        model, r, plain = models["sparse"], results["sparse"], models[plain_of["sparse"]]
        rho_hat = {p: inference.predict_in_batches(m.encoder, x_test).mean(axis=0)
                   for p, m in (("none", plain), ("sparse", model))}

        def within(values):  # the share of units with ρ/2 ≤ ρ̂_j ≤ 2ρ
            return float(np.mean((values >= args.rho / 2) & (values <= 2 * args.rho)))

        r.update({
            "rho": args.rho, "beta": args.beta,
            "rho_hat_mean": float(rho_hat["sparse"].mean()), "plain_rho_hat_mean": float(rho_hat["none"].mean()),
            "rho_hat_relative_error": float(abs(rho_hat["sparse"].mean() - args.rho) / args.rho),
            "units_within_factor_2": within(rho_hat["sparse"]), "plain_units_within_factor_2": within(rho_hat["none"]),
            "mse_ratio_to_plain": r["test_mse"] / results[plain_of["sparse"]]["test_mse"],
        })
        print(f"sparse: mean ρ̂ over the test set {r['rho_hat_mean']:.4f} for ρ = {args.rho} "
              f"({r['rho_hat_relative_error']:.1%} off; plain: {r['plain_rho_hat_mean']:.4f}); "
              f"units with ρ̂ within a factor 2 of ρ: {r['units_within_factor_2']:.1%} "
              f"(plain {r['plain_units_within_factor_2']:.1%}); test MSE {r['mse_ratio_to_plain']:.3f} × plain's")
        plots.histograms({"plain": rho_hat["none"], f"sparse (ρ = {args.rho}, β = {args.beta:g})": rho_hat["sparse"]},
                         out / "rho_hat_histogram.png", xlabel="ρ̂_j, a hidden unit's mean activation on the test set",
                         lines={"ρ": args.rho}, log_x=True, title="mean activation of each hidden unit")
        first = min(100, shapes["sparse"][0])
        if shapes["sparse"][1]:
            print("sparse: the decoder has a hidden layer, so no filters figure (its units add no single image)")
        else:
            plots.image_grids(
                [("plain: decoder filters W′_j", plots.unit_range(decoder_filters(plain.decoder)[:first].reshape(-1, *IMAGE_SHAPE))),
                 ("sparse: decoder filters W′_j", plots.unit_range(decoder_filters(model.decoder)[:first].reshape(-1, *IMAGE_SHAPE)))],
                out / "filters.png", 10, f"what each of the first {first} hidden units adds to the image")

    if "denoising" in models:
        # The same corruption for both on the test images: MSE(g(f(x̃)), x).
        model, r, plain = models["denoising"], results["denoising"], models[plain_of["denoising"]]
        noisy = np.asarray(corrupt(x_test, args.noise, args.noise_level, seed=args.seed + 1))
        mse_on_noisy = {p: metrics.mse(inference.predict_in_batches(m.autoencoder, noisy), x_test)
                        for p, m in (("none", plain), ("denoising", model))}
        r.update({"noise": args.noise, "noise_level": args.noise_level,
                  "corrupted_input_mse": metrics.mse(noisy, x_test), "corrupted_test_mse": mse_on_noisy["denoising"],
                  "plain_corrupted_test_mse": mse_on_noisy["none"],
                  "corrupted_mse_ratio": mse_on_noisy["denoising"] / mse_on_noisy["none"]})
        print(f"denoising ({args.noise}, level {args.noise_level}): on corrupted test images, MSE against the "
              f"clean ones {r['corrupted_test_mse']:.5f} vs the plain autoencoder's {r['plain_corrupted_test_mse']:.5f} "
              f"(ratio {r['corrupted_mse_ratio']:.3f}; the corrupted images themselves: {r['corrupted_input_mse']:.5f})")
        plots.image_rows([noisy[:SHOWN], inference.predict_in_batches(plain.autoencoder, noisy[:SHOWN]),
                          inference.predict_in_batches(model.autoencoder, noisy[:SHOWN]), x_test[:SHOWN]],
                         ["corrupted", "plain", "denoised", "clean"], out / "denoising.png",
                         f"{args.noise} noise, level {args.noise_level}: MSE to the clean images "
                         f"{r['plain_corrupted_test_mse']:.4f} (plain) vs {r['corrupted_test_mse']:.4f} (denoising)")

    if "contractive" in models:
        r, pair = results["contractive"], (plain_of["contractive"], "contractive")
        # ‖J_f(x)‖_F exactly, for every test image: the closed form of the sigmoid layer (equal to autodiff's
        # batch_jacobian, see tests/test_regularizers.py), Σ_j (h_j (1 − h_j))² Σ_i W_ij².
        n = len(x_test)
        norms = {p: np.sqrt(np.asarray(sigmoid_jacobian_norm_sq(inference.predict_in_batches(models[p].encoder, x_test),
                                                                hidden_kernel(models[p].encoder)), np.float64))
                 for p in pair}
        labels = test.labels[:n]
        tangent = tangent_sensitivity({p: models[p] for p in pair}, x_train, x_test[:min(TANGENT_IMAGES, n)],
                                      seed=args.seed)
        r.update({
            "lambda": args.lam, "jacobian_images": n,
            "jacobian_norm": float(norms["contractive"].mean()), "plain_jacobian_norm": float(norms[pair[0]].mean()),
            "jacobian_norm_ratio": float(norms["contractive"].mean() / norms[pair[0]].mean()),
            "mse_ratio_to_plain": r["test_mse"] / results[plain_of["contractive"]]["test_mse"],
            "tangent_sensitivity": tangent,
        })
        print(f"contractive (λ = {args.lam:g}): ‖J_f(x)‖_F averaged over {n} test images "
              f"{r['jacobian_norm']:.3f} vs plain {r['plain_jacobian_norm']:.3f} (ratio "
              f"{r['jacobian_norm_ratio']:.3f}) at a test MSE {r['mse_ratio_to_plain']:.3f} × plain's; "
              "reconstruction change per unit step, tangent / random: "
              + ", ".join(f"{p} {tangent[p]['tangent']:.3f} / {tangent[p]['random']:.3f}" for p in pair))
        classes = test.class_names or tuple(str(c) for c in range(int(labels.max()) + 1))
        plots.grouped_bars(classes, {"plain" if p.startswith("none") else p: [float(norms[p][labels == c].mean())
                                                                      for c in range(len(classes))] for p in pair},
                           out / "jacobian_norm_per_class.png", ylabel="mean ‖J_f(x)‖_F",
                           title=f"the encoder's Jacobian norm per class (λ = {args.lam:g})")
        plots.curves({f"{'plain' if p.startswith('none') else p}, {d}": (
                          tangent["steps"], tangent[p][f"{d}_curve"], {"color": f"C{i}", "linestyle": style})
                      for i, p in enumerate(pair) for d, style in (("tangent", "-"), ("random", "--"))},
                     out / "tangent_vs_random.png", xlabel="step ε along a unit direction",
                     ylabel="‖g(f(x + ε d)) − g(f(x))‖", title="how far the reconstruction moves")

    results["total_seconds"] = round(sum(results[p]["train_seconds"] for p in to_train), 1)
    (out / "metrics.json").write_text(json.dumps(results, indent=2))
    plots.image_rows(rows, titles, out / "reconstructions.png", "test images and their reconstructions")
    print(f"figures, metrics.json and logs in {out}/")

    if run.export_dir is not None:
        export.export_parts(run.export_dir, RECIPE, [
            (f"{p}_{part}", model_, inputs, output)
            for p in ([q for q in shapes if q != "none"] or ["none"])
            for part, model_, inputs, output in (
                ("encoder", models[p].encoder, {"image": IMAGE_SHAPE}, "code"),
                ("decoder", models[p].decoder, {"code": (shape_of[p][0],)}, "image"),
                ("autoencoder", without_corruption(models[p]), {"image": IMAGE_SHAPE}, "image"))
        ])
    return results


def without_corruption(parts):
    """image → decoder(encoder(image)), the served autoencoder: the denoising one without its corruption layer."""
    import keras

    from gen_keras.models.regularized import chained

    image = keras.Input(IMAGE_SHAPE, name="image")
    return keras.Model(image, chained(parts.encoder, parts.decoder, image), name="autoencoder")


def tangent_sensitivity(models, x_train, x, *, seed: int, steps=(0.25, 0.5, 1.0, 2.0)) -> dict:
    """How far each model's reconstruction moves, ‖g(f(x + ε d)) − g(f(x))‖, for a unit direction d along
    the data's tangent (the top principal direction of x's nearest training images) or a random one.

    Returns {"steps": [...], penalty: {"tangent": change per unit step at the smallest ε, "random": ...,
    "tangent_curve": [...], "random_curve": [...]}}."""
    import numpy as np

    from gen_keras import inference, metrics  # noqa: F401

    rng = np.random.default_rng(seed)
    flat_train = x_train.reshape(len(x_train), -1)
    flat = x.reshape(len(x), -1)
    sq_train = (flat_train ** 2).sum(1)
    tangents = []
    for row in flat:
        nearest = np.argsort(sq_train - 2 * flat_train @ row)[:TANGENT_NEIGHBOURS]
        local = flat_train[nearest] - flat_train[nearest].mean(0)
        tangents.append(np.linalg.svd(local, full_matrices=False)[2][0])
    directions = {"tangent": np.asarray(tangents, np.float32),
                  "random": rng.standard_normal(flat.shape).astype(np.float32)}
    directions["random"] /= np.linalg.norm(directions["random"], axis=1, keepdims=True)
    result = {"steps": list(steps)}
    for p, parts in models.items():
        base = inference.predict_in_batches(parts.autoencoder, x).reshape(len(x), -1)
        entry = {}
        for name, d in directions.items():
            curve = []
            for eps in steps:
                moved = inference.predict_in_batches(parts.autoencoder, (flat + eps * d).reshape(x.shape))
                curve.append(float(np.linalg.norm(moved.reshape(len(x), -1) - base, axis=1).mean()))
            entry[f"{name}_curve"] = curve
            entry[name] = curve[0] / steps[0]
        result[p] = entry
    return result


if __name__ == "__main__":
    cli.run(main)
