"""PCA vs autoencoders: a linear autoencoder learns PCA, a deep one separates classes in 2-d, neither knows where
its codes lie.

The lecture makes three claims, and this recipe measures each.

1. An autoencoder with one hidden layer and no activation learns PCA. With the mean μ removed,
       z = W (x − μ),   x* = μ + W′ z,   min over W, W′ of (1/N) Σ_i ‖x_i − x*_i‖²,
   whose minimum is the projection onto the top-p eigenvectors V of the covariance: the test error equals
   PCA-p's closed form, and the rows of W′ span the same subspace as V. They are not V itself (W′A⁻¹ and
   AW do as well for any invertible A), so the subspaces are compared by their principal angles,
   cos θ_i = σ_i(Q_Wᵀ Q_V), and W′ is rotated onto V (orthogonal Procrustes) to be drawn beside it.
2. A deep autoencoder 784-1000-500-250-2 (Hinton & Salakhutdinov) finds 2-d codes that keep the classes
   far more apart than the first two principal components: a lower error, and a better k-nearest-neighbour
   (k = 5) accuracy on the test codes against the training codes. Deep against shallow: a 784-2-784
   autoencoder (no hidden layer) is trained the same way beside it.
3. An autoencoder cannot generate: nothing tells it where its codes are. They fill a few arms of the plane
   and leave gaps, so a regular grid over their range decodes partly to images no data looked like, while
   a VAE's KL term pulls its codes onto N(0, I), which its grid of quantiles covers. Samples are scored by
   the FID on the project's fixed classifier: the autoencoder's decoder with z uniform over its code range
   and with z from a Gaussian fitted to its codes, the VAE's with z ~ N(0, I).

The lecture's code: `gen_keras/models/autoencoders.py: linear_autoencoder, deep_autoencoder` (the mean is
removed inside the model by `gen_keras/layers.py: Centring`); `gen_keras/linear.py: pca,
principal_angle_cosines, align_to_basis`; `gen_keras/metrics.py: knn_accuracy,
occupied_grid_cells`; `gen_keras/evaluation/: score` (FID and KID on the fixed classifier); the VAE is
`gen_keras/models/vae.py: build_vae`.

    python recipes/pca_vs_autoencoder.py --quick             # a try-out in well under a minute
    python recipes/pca_vs_autoencoder.py                     # all three (minutes: see docs/results/autoencoders.md)
    python recipes/pca_vs_autoencoder.py --code-size 10      # the linear autoencoder against PCA-10
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence

import numpy as np

from gen_keras import cli

RECIPE = "pca_vs_autoencoder"
IMAGE_SHAPE = (28, 28, 1)
PIXELS = 28 * 28
DEFAULT_EPOCHS = {"linear": 20, "deep": 15, "vae": 10}
LEARNING_RATES = {"linear": 3e-3, "deep": 1e-3, "vae": 2e-3}  # Adam's first step at batch 128, cosine-decayed
KNN_K = 5
GRID_SIDE = 15  # 15 × 15 decoded codes per grid
SHOWN_DIRECTIONS = 8
SHOWN_SAMPLES = 100


def code_size(text: str) -> int:
    """argparse type: the linear autoencoder's code size, 1 … 784 (the pixels of a 28×28 image)."""
    value = cli.positive_int(text)
    if value > PIXELS:
        raise argparse.ArgumentTypeError(f"must be at most {PIXELS}, the pixels of a 28x28 image, got {value}")
    return value


def parse(argv=None):
    parser = cli.recipe_parser(__doc__.split("\n\n")[0], epochs=None)
    g = parser.add_argument_group("PCA vs autoencoders")
    g.add_argument("--code-size", type=code_size, default=30,
                   help="p, the linear autoencoder's code size, compared with PCA-p (1 to 784)")
    for model, what in (("linear", "the linear autoencoder"), ("deep", "the deep 2-d autoencoder"),
                        ("vae", "the 2-d VAE")):
        g.add_argument(f"--{model}-epochs", type=cli.positive_int, default=None,
                       help=f"epochs of {what} (default --epochs if given, else {DEFAULT_EPOCHS[model]})")
    for model in ("linear", "deep"):
        g.add_argument(f"--{model}-learning-rate", type=cli.positive_float, default=LEARNING_RATES[model],
                       help=f"Adam's first step for the {model} autoencoder at batch 128, decayed to 0 along "
                            "a cosine over its run")
    cli.add_sample_quality_flags(parser, samples_help="images sampled from each model")
    args = cli.parse_args(parser, argv, RECIPE)
    for model in DEFAULT_EPOCHS:
        key = f"{model}_epochs"
        if getattr(args, key) is None:
            setattr(args, key, args.epochs or DEFAULT_EPOCHS[model])
    return args


def fit_autoencoder(build, run, train, val, *, name: str, epochs: int, learning_rate: float):
    """Builds the model `build()` returns in the strategy's scope, trains it on ‖x − x*‖² (MSE) with Adam
    whose step η_t = η_0 · ½(1 + cos(π t / T)) decays over the T steps of its run; logs, checkpoints and
    history go to `<out>/<name>/`. Returns (parts, history, seconds)."""

    from gen_keras import training

    sub = training.sub_run(run, name)
    with run.strategy.scope():
        parts = build()
        parts.autoencoder.compile(optimizer=training.cosine_adam(learning_rate, len(train), sub, epochs), loss="mse",
                                  **run.compile_options())
    start = time.perf_counter()
    history = training.fit(parts.autoencoder, train, val, sub, epochs, targets="images")
    return parts, history, time.perf_counter() - start


def fit_vae(run, train, val, *, epochs: int, seed: int):
    """The 2-d VAE of recipes/vae.py (Bernoulli decoder, −ELBO in nats), trained in `<out>/vae/`."""

    from gen_keras import training
    from gen_keras.models.vae import build_vae

    sub = training.sub_run(run, "vae")
    with run.strategy.scope():
        vae = build_vae(2, seed=seed, image_shape=train.images.shape[1:])
        vae.compile(optimizer=training.cosine_adam(LEARNING_RATES["vae"], len(train), sub, epochs),
                    **run.compile_options())
    start = time.perf_counter()
    history = training.fit(vae, train, val, sub, epochs, targets=None)
    return vae, history, time.perf_counter() - start


def main(argv=None):
    args = parse(argv)
    from statistics import NormalDist

    import numpy as np

    from gen_keras import data, evaluation, inference, linear, metrics, plots, training
    from gen_keras.errors import GenKerasError
    from gen_keras.models.autoencoders import decoder_directions, deep_autoencoder, linear_autoencoder
    from gen_keras.serving import export

    run = training.setup(args)
    out = run.out
    train, val, test = data.load_splits(args.dataset, args.limit, image_shape=IMAGE_SHAPE,
                                        image_size=args.image_size, channels=args.channels)
    x_train, x_test = train.as_float(), test.as_float()
    if args.fid_samples > len(test):
        raise GenKerasError(f"--fid-samples {args.fid_samples} is more than the {len(test)} test images; lower it.")
    n_fid = args.fid_samples
    p = args.code_size
    print(f"{train.name}: {len(train)} training, {len(val)} validation, {len(test)} test images "
          f"(from {train.source}); batch {run.batch_size}")
    total_start = time.perf_counter()
    decode_with = lambda model: (lambda z: inference.predict_in_batches(model, np.asarray(z, np.float32)))  # noqa: E731

    # 1. The linear autoencoder learns PCA: z = W (x − μ), x* = μ + W′ z; the same error as PCA-p, and the
    #    rows of W′ span PCA's top-p subspace (every principal-angle cosine near 1).
    mean = x_train.mean(axis=0, dtype=np.float64)
    lin, lin_history, lin_seconds = fit_autoencoder(
        lambda: linear_autoencoder(p, IMAGE_SHAPE, mean), run, train, val, name="linear",
        epochs=args.linear_epochs, learning_rate=args.linear_learning_rate)
    pca_p = linear.pca(x_train, p)
    lin_recon = inference.predict_in_batches(lin.autoencoder, x_test)
    directions = decoder_directions(lin.decoder)
    cosines = linear.principal_angle_cosines(directions, pca_p.components)
    rotated = linear.align_to_basis(directions, pca_p.components)
    results = {
        "dataset": train.name, "train_images": len(train), "test_images": len(test), "batch_size": run.batch_size,
        "code_size": p,
        "linear_epochs": len(lin_history.get("loss", [])), "linear_train_seconds": round(lin_seconds, 1),
        "linear_test_mse": metrics.mse(lin_recon, x_test),
        "pca_test_mse": metrics.pca_reconstruction_mse(x_train, x_test, p),
        "linear_principal_angle_cosines": [round(float(c), 6) for c in cosines],
        "linear_min_cosine": float(cosines.min()),
        "linear_max_angle_degrees": float(np.degrees(np.arccos(cosines.min()))),
        # ‖R Q − V‖_F / ‖V‖_F: what the rotated directions miss of the principal components
        "linear_rotation_residual": float(np.linalg.norm(rotated - pca_p.components) / np.sqrt(p)),
    }
    results["linear_mse_ratio_to_pca"] = results["linear_test_mse"] / results["pca_test_mse"]
    print(f"linear autoencoder, p = {p}: test MSE {results['linear_test_mse']:.5f} vs PCA-{p}'s "
          f"{results['pca_test_mse']:.5f} (ratio {results['linear_mse_ratio_to_pca']:.4f}); principal angles: "
          f"smallest cosine {cosines.min():.4f} ({results['linear_max_angle_degrees']:.2f}°); {lin_seconds:.0f} s")

    # 2. The deep autoencoder 784-1000-500-250-2 against the first two principal components, and against a
    #    shallow one, 784-2-784 (a linear code, a sigmoid decoder, no hidden layer), trained the same way:
    #    "deep is better" measured as the codes' class separation.
    deep, deep_history, deep_seconds = fit_autoencoder(
        lambda: deep_autoencoder(2, image_shape=IMAGE_SHAPE), run, train, val, name="deep",
        epochs=args.deep_epochs, learning_rate=args.deep_learning_rate)
    shallow, shallow_history, shallow_seconds = fit_autoencoder(
        lambda: deep_autoencoder(2, hidden=(), image_shape=IMAGE_SHAPE), run, train, val, name="shallow",
        epochs=args.deep_epochs, learning_rate=args.deep_learning_rate)
    pca_2 = linear.pca(x_train, 2)
    deep_train_codes = inference.predict_in_batches(deep.encoder, x_train)
    deep_codes = inference.predict_in_batches(deep.encoder, x_test)
    shallow_codes = inference.predict_in_batches(shallow.encoder, x_test)
    pca_train_codes, pca_codes = pca_2.encode(x_train), pca_2.encode(x_test)
    deep_recon = inference.predict_in_batches(deep.decoder, deep_codes)
    results.update({
        "deep_epochs": len(deep_history.get("loss", [])), "deep_train_seconds": round(deep_seconds, 1),
        "deep_test_mse": metrics.mse(deep_recon, x_test),
        "shallow_epochs": len(shallow_history.get("loss", [])), "shallow_train_seconds": round(shallow_seconds, 1),
        "shallow_test_mse": metrics.mse(inference.predict_in_batches(shallow.decoder, shallow_codes), x_test),
        "pca2_test_mse": metrics.pca_reconstruction_mse(x_train, x_test, 2),
        "knn_k": KNN_K,
        "deep_knn_accuracy": metrics.knn_accuracy(deep_train_codes, train.labels, deep_codes, test.labels, KNN_K),
        "shallow_knn_accuracy": metrics.knn_accuracy(inference.predict_in_batches(shallow.encoder, x_train),
                                                     train.labels, shallow_codes, test.labels, KNN_K),
        "pca2_knn_accuracy": metrics.knn_accuracy(pca_train_codes, train.labels, pca_codes, test.labels, KNN_K),
    })
    print(f"deep autoencoder, 2-d code: test MSE {results['deep_test_mse']:.5f} vs the shallow one's "
          f"{results['shallow_test_mse']:.5f} and PCA-2's {results['pca2_test_mse']:.5f}; {KNN_K}-NN test accuracy "
          f"in the code space {results['deep_knn_accuracy']:.1%} vs {results['shallow_knn_accuracy']:.1%} (shallow) "
          f"and {results['pca2_knn_accuracy']:.1%} (PCA-2); {deep_seconds:.0f} s + {shallow_seconds:.0f} s")

    # 3. Generation. A regular grid over the autoencoder's code range, and draws uniform over that range or
    #    from a Gaussian fitted to its training codes, against the VAE's grid of N(0, 1) quantiles and its
    #    prior samples.
    vae, vae_history, vae_seconds = fit_vae(run, train, val, epochs=args.vae_epochs, seed=args.seed)
    generator = vae.generator()
    vae_codes, _ = vae.encoder.predict(x_test, batch_size=500, verbose=0)
    lo, hi = deep_codes.min(axis=0), deep_codes.max(axis=0)
    ae_axes = [np.linspace(lo[i], hi[i], GRID_SIDE) for i in (0, 1)]
    q = np.array([NormalDist().inv_cdf(u) for u in np.linspace(0.05, 0.95, GRID_SIDE)])
    vae_axes = [q, q]
    grid = lambda xs, ys: np.stack(np.meshgrid(xs, ys[::-1]), axis=-1).reshape(-1, 2)  # noqa: E731  top row: largest y
    ae_grid_images = decode_with(deep.decoder)(grid(*ae_axes))
    vae_grid_images = decode_with(generator)(grid(*vae_axes))

    # (the Gaussian's draws first from the seed: the decoder's export records them for `gen_keras.evaluate`)
    rng = np.random.default_rng(args.seed)
    code_mean, code_cov = deep_train_codes.mean(axis=0), np.cov(deep_train_codes, rowvar=False)
    ae_samples = decode_with(deep.decoder)(rng.multivariate_normal(code_mean, code_cov, size=n_fid))
    box_samples = decode_with(deep.decoder)(rng.uniform(lo, hi, size=(n_fid, 2)))
    vae_samples = decode_with(generator)(rng.standard_normal((n_fid, 2)))
    classifier = evaluation.load_classifier(args.dataset, retrain=args.retrain_classifier)
    reference = evaluation.reference_features(classifier, n_fid)
    scores = {name: evaluation.score(samples, classifier=classifier, reference=reference, floor=False)
              for name, samples in (("deep_uniform", box_samples), ("deep_gaussian", ae_samples),
                                    ("vae_prior", vae_samples))}
    results.update({
        "vae_epochs": len(vae_history.get("loss", [])), "vae_train_seconds": round(vae_seconds, 1),
        "grid_points": GRID_SIDE ** 2,
        "deep_grid_cells_with_test_codes": metrics.occupied_grid_cells(deep_codes, *ae_axes),
        "vae_grid_cells_with_test_codes": metrics.occupied_grid_cells(vae_codes, *vae_axes),
        "deep_code_mean": code_mean.tolist(), "deep_code_covariance": code_cov.tolist(),
        "num_samples": n_fid, "classifier": classifier.source, "classifier_sha256": classifier.sha256,
        "fid_real_floor": evaluation.real_floor(classifier, n_fid)["fid"],
        "total_seconds": round(time.perf_counter() - total_start, 1),
    })
    for name, scored in scores.items():  # FID and KID on the instrument, and the classes each model drops
        results.update({f"fid_{name}": scored["fid"], f"kid_{name}": scored["kid"], f"kid_{name}_std": scored["kid_std"],
                        f"dropped_classes_{name}": scored["dropped_classes"]})
    print(f"generation, FID on {n_fid} samples: deep autoencoder with z uniform over its code range "
          f"{results['fid_deep_uniform']:.2f}, with z ~ N(mean, covariance of its codes) "
          f"{results['fid_deep_gaussian']:.2f}, VAE with z ~ N(0, I) {results['fid_vae_prior']:.2f} (KID "
          f"{results['kid_deep_uniform']:.3f}, {results['kid_deep_gaussian']:.3f}, {results['kid_vae_prior']:.3f}; real "
          f"training vs test images: {results['fid_real_floor']:.2f}); grid cells holding a test code: "
          f"{results['deep_grid_cells_with_test_codes']:.0%} (autoencoder) vs "
          f"{results['vae_grid_cells_with_test_codes']:.0%} (VAE); VAE {vae_seconds:.0f} s")
    (out / "metrics.json").write_text(json.dumps(results, indent=2))

    # Figures.
    subspace_directions(
        cosines, [("W′ rows", directions[:SHOWN_DIRECTIONS]), ("PCA", pca_p.components[:SHOWN_DIRECTIONS]),
                  ("W′ rotated\nonto PCA", rotated[:SHOWN_DIRECTIONS])],
        IMAGE_SHAPE, out / "linear_vs_pca.png",
        f"Linear autoencoder (p = {p}) vs PCA-{p}: test MSE {results['linear_test_mse']:.5f} vs "
        f"{results['pca_test_mse']:.5f}; the same subspace, another basis")
    plots.latent_scatters(
        [(f"test codes, PCA: first two components\n{KNN_K}-NN accuracy {results['pca2_knn_accuracy']:.1%}, "
          f"MSE {results['pca2_test_mse']:.4f}", pca_codes),
         (f"test codes, autoencoder 784-1000-500-250-2\n{KNN_K}-NN accuracy {results['deep_knn_accuracy']:.1%}, "
          f"MSE {results['deep_test_mse']:.4f}", deep_codes),
         (f"test codes, shallow autoencoder 784-2-784\n{KNN_K}-NN accuracy {results['shallow_knn_accuracy']:.1%}, "
          f"MSE {results['shallow_test_mse']:.4f}", shallow_codes)],
        test.labels, out / "codes_pca_vs_deep.png", test.class_names)
    pca_p_recon = pca_p.decode(pca_p.encode(x_test[:10])).reshape(-1, *IMAGE_SHAPE)
    pca_2_recon = pca_2.decode(pca_codes[:10]).reshape(-1, *IMAGE_SHAPE)
    plots.image_rows([x_test[:10], pca_2_recon, deep_recon[:10], pca_p_recon, lin_recon[:10]],
                     ["test", "PCA-2", "deep AE, 2-d", f"PCA-{p}", f"linear AE, {p}-d"],
                     out / "reconstructions.png", "test images and their reconstructions")
    plots.curves(plots.per_epoch(deep_history, ("loss", "val_loss")), out / "deep_loss_curves.png", xlabel="epoch",
                 ylabel="mean squared error per pixel", log_y=True, baselines={"PCA-2, test": results["pca2_test_mse"]},
                 title="deep autoencoder: MSE per epoch")
    plots.image_grids(
        [(f"deep autoencoder: {GRID_SIDE} × {GRID_SIDE} grid over its code range\n"
          f"{results['deep_grid_cells_with_test_codes']:.0%} of the cells hold a test code", ae_grid_images),
         (f"VAE: {GRID_SIDE} × {GRID_SIDE} grid of N(0, 1) quantiles (5% … 95%)\n"
          f"{results['vae_grid_cells_with_test_codes']:.0%} of the cells hold a test code", vae_grid_images)],
        out / "grids_ae_vs_vae.png", GRID_SIDE, "decoded regular grids of 2-d codes")
    plots.image_grids(
        [(f"deep autoencoder: z uniform over its code range\nFID {results['fid_deep_uniform']:.2f}",
          box_samples[:SHOWN_SAMPLES]),
         (f"deep autoencoder: z ~ N(mean, cov. of its codes)\nFID {results['fid_deep_gaussian']:.2f}",
          ae_samples[:SHOWN_SAMPLES]),
         (f"VAE: z ~ N(0, I)\nFID {results['fid_vae_prior']:.2f}", vae_samples[:SHOWN_SAMPLES])],
        out / "samples_ae_vs_vae.png", 10, f"samples (FID on {n_fid}; real images: {results['fid_real_floor']:.2f})")
    print(f"figures, metrics.json and logs in {out}/")

    if run.export_dir is not None:
        export.export_parts(run.export_dir, RECIPE, [
            ("linear_encoder", lin.encoder, {"image": IMAGE_SHAPE}, "code"),
            ("linear_decoder", lin.decoder, {"code": (p,)}, "image"),
            ("deep_encoder", deep.encoder, {"image": IMAGE_SHAPE}, "code"),
            ("deep_decoder", deep.decoder, {"code": (2,)}, "image"),
        ], metadata={"deep_decoder": {"dataset": args.dataset, "evaluation": {  # its codes' Gaussian, its score
            "serving_default": evaluation.export_record(scores["deep_gaussian"], seed=args.seed, prior="gaussian_fit",
                                                        mean=code_mean.tolist(), covariance=code_cov.tolist())}}})
    return results


# --- Figures ----------------------------------------------------------------------------------------------


def subspace_directions(cosines: np.ndarray, rows: Sequence[tuple[str, np.ndarray]], image_shape: Sequence[int],
                        path: str | os.PathLike, title: str = "", *, threshold: float | None = 0.99) -> str:
    """Two subspaces of image space compared. Left: the cosines of their principal angles, largest first
    (all 1 when the subspaces are equal). Right: rows of directions drawn as images, e.g. a linear
    autoencoder's decoder rows, the principal components, and the former rotated onto the latter.

    Each direction has its own colour scale, symmetric about 0 (red positive, blue negative): a direction's
    sign and length carry no meaning, only its pattern does.

    Args:
        cosines: cos θ_1 ≥ … ≥ cos θ_p (`gen_keras.linear.principal_angle_cosines`).
        rows: (label, directions) pairs, directions (n, d) with d = prod(image_shape); the first n drawn.
        image_shape: the images' (H, W) or (H, W, 1).
        path: the PNG to write.
        title: the figure's title.
        threshold: a dashed reference line on the cosines (None: none).

    Returns:
        `path` as a string.
    """
    import matplotlib.gridspec

    from gen_keras import plots

    cosines = np.asarray(cosines, np.float64)
    h, w = int(image_shape[0]), int(image_shape[1])
    n = max(len(directions) for _, directions in rows)
    fig = plots.plt.figure(figsize=(4.2 + 1.05 * n, 0.3 + 1.2 * len(rows)))
    grid = matplotlib.gridspec.GridSpec(len(rows), n + 1, figure=fig, width_ratios=[3.6] + [1.0] * n,
                                        wspace=0.08, hspace=0.25)
    left = fig.add_subplot(grid[:, 0])
    k = np.arange(1, len(cosines) + 1)
    left.plot(k, cosines, marker="o", markersize=3, color="C0", label="cos θ_i")
    if threshold is not None:
        left.axhline(threshold, linestyle="--", color="grey", label=f"{threshold:g}")
    low = float(min(cosines.min(), threshold if threshold is not None else 1.0))
    left.set_ylim(low - 0.05 * max(1.0 - low, 1e-3), 1.0 + 0.05 * max(1.0 - low, 1e-3))
    left.set_xlabel("principal angle i (largest cosine first)")
    left.set_ylabel("cos θ_i")
    left.set_title(f"{len(cosines)} principal angles: smallest cosine {cosines.min():.4f}", fontsize=10)
    left.grid(True, alpha=0.3)
    left.legend(fontsize=8, loc="lower left")
    for r, (label, directions) in enumerate(rows):
        directions = np.asarray(directions, np.float64)
        for j in range(n):
            ax = fig.add_subplot(grid[r, j + 1])
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(directions):
                image = directions[j].reshape(h, w)
                top = float(np.abs(image).max()) or 1.0
                ax.imshow(image, cmap="RdBu_r", vmin=-top, vmax=top, interpolation="nearest")
            else:
                ax.axis("off")
            if j == 0:
                ax.set_ylabel(label, fontsize=9)
            if r == 0:
                ax.set_title(str(j + 1), fontsize=8)
    if title:
        fig.suptitle(title)
    return plots.save_figure(fig, path)


if __name__ == "__main__":
    cli.run(main)
