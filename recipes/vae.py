"""Variational autoencoder with a TensorFlow Probability sampling layer and a closed-form KL regularizer.

The lecture: maximise the evidence lower bound
    log p(x) ≥ ELBO = E_{q_φ(z|x)}[log p_θ(x|z)] − KL(q_φ(z|x) ‖ N(0, I))
with q_φ(z|x) = N(μ(x), diag σ²(x)), z = μ + σ ⊙ ε (reparameterization), and the KL in closed form
    KL = ½ Σ_j (σ_j² + μ_j² − 1 − log σ_j²).
The loss is −ELBO in nats per image (reconstruction summed over pixels, plus KL).

The lecture's code: `gen_keras/models/vae.py: VAE.compute_loss` (the ELBO), `gen_keras/layers.py:
GaussianSampler` (reparameterization and the closed-form KL, `gen_keras/losses.py: gaussian_kl`).

    python recipes/vae.py --quick                 # a short try-out: 1 epoch on 2,048 images
    python recipes/vae.py                         # 2-d latent space, Bernoulli decoder
    python recipes/vae.py --latent-dim 16         # a better density model (ELBO and IWAE reported)
    python recipes/vae.py --ablation              # reconstruction only / KL only / both
    python recipes/vae.py --latent-sizes 2 8 32   # one VAE per latent size, their prior samples side by side
    python recipes/vae.py --binarize stochastic --iwae-samples 5000   # binarized images, beside the PixelCNN
    python recipes/vae.py --dataset folder:PATH --image-size 32 --likelihood gaussian   # your colour images
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence

from gen_keras import cli

RECIPE = "vae"
DEFAULT_EPOCHS = 19
LEARNING_RATE = 2e-3
QUICK_IWAE_IMAGES = 100
PRIOR_SEED_OFFSET = 2  # the prior samples' z come from default_rng(--seed + 2)
QUICK_ESTIMATOR_IMAGES, QUICK_ESTIMATOR_SAMPLES = 20, 500
# Latent arithmetic, as Fashion-MNIST class indices (source A, target T): held-out codes of A plus the direction
# mean μ(T) − mean μ(A), judged by the instrument.
ATTRIBUTE_PAIRS = ((7, 9), (0, 3), (2, 4))  # sneaker → ankle boot, T-shirt → dress, pullover → coat
SHOWN_TRANSFERS = 8


def parse(argv=None):
    parser = cli.recipe_parser(__doc__.split("\n\n")[0], epochs=DEFAULT_EPOCHS)
    g = parser.add_argument_group("VAE")
    g.add_argument("--latent-dim", type=cli.positive_int, default=2,
                   help="size of z; 2 lets the latent space be drawn")
    g.add_argument("--likelihood", choices=("bernoulli", "gaussian", "gaussian_z"), default="bernoulli",
                   help="decoder p(x|z): Bernoulli logits; Gaussian with a learned sigma per pixel, the same "
                        "for every z; or gaussian_z: N(mu(z), sigma(z)^2 I), sigma computed from z")
    g.add_argument("--decoder", choices=("dense", "conv"), default="dense",
                   help="dense: 256 → 512 → the pixels (784 at 28x28; the default, see docs/results/vae.md); "
                        "conv: Dense(256) → (H/4)x(W/4)x64 (7x7x64 at 28x28) → stride-2 Conv2DTranspose layers")
    g.add_argument("--beta", type=cli.non_negative_float, default=1.0,
                   help="weight of the KL term (1 = the VAE; beta-VAE otherwise)")
    g.add_argument("--binarize", nargs="?", const="stochastic", choices=("stochastic", "threshold"), default=None,
                   help="binary images, so the Bernoulli likelihood is a proper one: stochastic (the default when "
                        "the flag has no value) draws each training pixel ~ Bernoulli(intensity) afresh every step "
                        "and the validation and test images once with --seed, as recipes/pixelcnn.py does; "
                        "threshold: intensity >= 0.5")
    g.add_argument("--learning-rate", type=cli.positive_float, default=LEARNING_RATE,
                   help="Adam's first step at batch 128, decayed to 0 along a cosine over the run")
    g.add_argument("--iwae-samples", type=cli.positive_int, default=100,
                   help="K, the importance samples per image for the IWAE estimate of log p(x)")
    g.add_argument("--iwae-images", type=cli.positive_int, default=1000,
                   help=f"test images the IWAE estimate averages over (K decoder passes each; "
                        f"{QUICK_IWAE_IMAGES} with --quick)")
    g.add_argument("--estimator-images", type=cli.positive_int, default=100,
                   help="test images on which log p(x) is estimated naively (z ~ p(z)) and by importance "
                        f"sampling (z ~ q(z|x)) for K = 1 ... --estimator-samples ({QUICK_ESTIMATOR_IMAGES} "
                        "with --quick)")
    g.add_argument("--estimator-samples", type=cli.positive_int, default=5000,
                   help=f"the largest K of that comparison ({QUICK_ESTIMATOR_SAMPLES} with --quick)")
    g.add_argument("--ablation", action="store_true",
                   help="train three models identically (reconstruction term only, KL term only, both) "
                        "and draw their latent spaces side by side; exports nothing")
    g.add_argument("--latent-sizes", type=cli.positive_int, nargs="+", default=None, metavar="D",
                   help="train one VAE per latent size, identically otherwise, and draw their samples "
                        "E[x|z], z ~ N(0, I), side by side; exports nothing")
    g.add_argument("--manifold", choices=("linear", "quantiles"), default="linear",
                   help="the 2-d manifold figure's grid: z over −2 … 2 on each axis, as the lecture draws it, "
                        "or over N(0, 1) quantiles 5%% … 95%% (Kingma & Welling)")
    cli.add_sample_quality_flags(parser, samples_help="prior samples E[x|z], z ~ N(0, I),")
    args = cli.parse_args(parser, argv, RECIPE)
    given = argv if argv is not None else sys.argv[1:]
    if args.quick:  # smaller evaluations, unless asked for
        for flag, quick_value in (("--iwae-images", QUICK_IWAE_IMAGES), ("--estimator-images", QUICK_ESTIMATOR_IMAGES),
                                  ("--estimator-samples", QUICK_ESTIMATOR_SAMPLES)):
            if not any(a.startswith(flag) for a in given):
                setattr(args, flag[2:].replace("-", "_"), quick_value)
    if args.ablation and args.latent_dim != 2:
        parser.error("--ablation draws 2-d latent spaces: leave --latent-dim at 2")
    if args.ablation and args.latent_sizes:
        parser.error("--latent-sizes and --ablation are two separate comparisons: give one of them")
    return args


def train_vae(args, run, train, val, *, beta: float, reconstruction_weight: float = 1.0,
              latent_dim: int | None = None):
    """Builds, compiles and trains one VAE (of `latent_dim`, default --latent-dim); returns (vae, history,
    seconds)."""
    import keras

    from gen_keras import training
    from gen_keras.models.vae import build_vae

    with run.strategy.scope():
        vae = build_vae(latent_dim or args.latent_dim, args.likelihood, decoder=args.decoder, beta=beta,
                        reconstruction_weight=reconstruction_weight, binarize=args.binarize, seed=args.seed,
                        image_shape=train.images.shape[1:])
        # η_t = η_0 · ½(1 + cos(π t / T)) over the T steps of the whole run
        learning_rate = keras.optimizers.schedules.CosineDecay(
            args.learning_rate * run.learning_rate_scale,
            decay_steps=args.epochs * training.steps_per_epoch(len(train), run))
        vae.compile(optimizer=keras.optimizers.Adam(learning_rate), **run.compile_options())
    start = time.perf_counter()
    history = training.fit(vae, train, val, run, args.epochs, targets=None)
    return vae, history, time.perf_counter() - start


def main(argv=None):
    args = parse(argv)
    from gen_keras import data, training
    from gen_keras.serving import export
    from gen_keras.models.vae import elbo_terms, iwae_estimates, marginal_likelihood_by_samples

    run = training.setup(args)
    out = run.out

    # Data: images in [0, 1]; with --binarize, validation and test images are binarized once.
    # Your own images (--dataset folder:PATH, --image-size, --channels): encoder and decoder follow their shape.
    train, val, test = data.load_splits(args.dataset, args.limit, image_size=args.image_size,
                                        channels=args.channels)
    shape = data.image_shape_divisible(train, 4 if args.decoder == "conv" else 1, "the convolutional decoder (x4)")
    if args.binarize:
        val, test = data.binarized_splits((val, test), args.binarize, seed=args.seed)
    x_test = test.as_float()
    print(f"{train.name}: {len(train)} training, {len(val)} validation, {len(test)} test images of {shape} "
          f"(from {train.source}); batch {run.batch_size}")

    if args.ablation:
        return ablation(args, run, train, val, test)
    if args.latent_sizes:
        return latent_sizes(args, run, train, val, test)

    vae, history, train_seconds = train_vae(args, run, train, val, beta=args.beta)
    vae.summary(expand_nested=True)

    # Evaluation on the test set, nats per image: −ELBO = E[−log p(x|z)] + KL (one z per image, closed-form
    # KL, both weighted 1 even when --beta is not) and the IWAE bound
    # log p(x) ≥ log (1/K) Σ_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x).
    scores = elbo_terms(vae, x_test)
    n_iwae = min(args.iwae_images, len(test))
    elbo_k, iwae_k = iwae_estimates(vae, x_test[:n_iwae], args.iwae_samples)
    results = {
        "dataset": train.name, "likelihood": args.likelihood, "latent_dim": args.latent_dim, "beta": args.beta,
        "binarized": args.binarize, "epochs": len(history.get("loss", [])), "batch_size": run.batch_size,
        "train_images": len(train), "test_images": len(test), "train_seconds": round(train_seconds, 1),
        "test_negative_elbo": scores["negative_elbo"], "test_reconstruction": scores["reconstruction"],
        "test_kl": scores["kl"],
        "iwae_samples": args.iwae_samples, "iwae_images": n_iwae,
        "iwae_negative_elbo": float(-elbo_k.mean()), "iwae_negative_log_likelihood": float(-iwae_k.mean()),
    }
    # The lectures' point about p(x) = E_{p(z)}[p(x|z)]: averaging p(x|z_k) over prior draws z_k needs far
    # more samples than importance sampling with the recognition model q(z|x), on the same images.
    n_est = min(args.estimator_images, len(test))
    counts = [k for k in (1, 10, 100, 1000, 5000, 10_000, 100_000) if k < args.estimator_samples]
    curves = marginal_likelihood_by_samples(vae, x_test[:n_est], [*counts, args.estimator_samples])
    results["log_px_estimates"] = {"images": n_est, **curves}
    # Sample quality on the instrument: FID and KID of E[x|z], z ~ N(0, I), against as many test images.
    results.update(prior_sample_quality(vae, test, args))
    # Latent arithmetic: a class direction from the first half of the test codes, added to the second half's.
    transfers = latent_arithmetic(vae, test, args, out / "latent_arithmetic.png")
    if transfers:
        results["attribute_transfer"] = transfers
    (out / "metrics.json").write_text(json.dumps(results, indent=2))
    print(f"test −ELBO {scores['negative_elbo']:.1f} nats/image = reconstruction {scores['reconstruction']:.1f} "
          f"+ KL {scores['kl']:.1f}; on {n_iwae} test images: −ELBO {-elbo_k.mean():.1f}, "
          f"−log p(x) ≈ {-iwae_k.mean():.1f} (IWAE, K={args.iwae_samples}); {train_seconds:.0f} s of training")

    quality = ("not scored (see above)" if "prior_samples_fid" not in results else
               f"FID {results['prior_samples_fid']:.2f}, KID {results['prior_samples_kid']:.4f} "
               f"({results['prior_samples']} samples, classifier {results['classifier']}); dropped classes: "
               f"{results['prior_samples_dropped_classes'] or 'none'}")
    print(f"log p(x) on {n_est} test images, K = {args.estimator_samples}: naive (z ~ p(z)) "
          f"{curves['prior'][-1]:.1f}, importance (z ~ q(z|x)) {curves['importance'][-1]:.1f} nats; prior samples: "
          f"{quality}")
    if "attribute_transfer" in results:
        print("latent arithmetic, held-out codes + (mean μ(T) − mean μ(A)), confidently called T after (before): "
              + "; ".join(f"{pair} {r['target_share']:.0%} ({r['target_share_before']:.0%}) of {r['images']}"
                          for pair, r in results["attribute_transfer"].items()))
    figures(vae, test, history, out, args, results["log_px_estimates"])
    print(f"figures, metrics.json and logs in {out}/")

    vae.save(out / "vae.keras")  # the whole model, sampling layer included; reloads without safe_mode=False
    if run.export_dir is not None:
        from gen_keras import evaluation

        # The decoder's metadata records its prior samples' score, for `python -m gen_keras.evaluate` to redo.
        record = {}
        if "prior_samples_fid" in results:  # (not when the data could not be scored)
            prior_score = {key: results[f"prior_samples_{key}"] for key in ("fid", "kid", "kid_std")}
            record = {"serving_default": evaluation.export_record(
                {**prior_score, "num_samples": results["prior_samples"],
                 "classifier_sha256": results["classifier_sha256"]}, seed=args.seed + PRIOR_SEED_OFFSET)}
        export.export_parts(run.export_dir, RECIPE, [
            ("encoder", vae.encoder, {"image": test.images.shape[1:]}, ("mean", "log_var")),
            ("decoder", vae.generator(), {"z": (args.latent_dim,)}, "image"),
        ], metadata={"decoder": {"dataset": args.dataset, "evaluation": record}})
    return results


def prior_sample_quality(vae, test, args) -> dict:
    """The instrument's score of E[x|z], z ~ N(0, I), against as many test images (keys `prior_samples_…`);
    `prior_samples_not_scored` (why) when the data cannot be scored."""
    import numpy as np

    from gen_keras import evaluation, inference

    classifier, not_scored = evaluation.classifier_for(args.dataset, retrain=args.retrain_classifier,
                                                       image_size=args.image_size, channels=args.channels)
    if classifier is None:
        return {"prior_samples_not_scored": not_scored}
    n = min(args.fid_samples, len(test))
    z = np.random.default_rng(args.seed + PRIOR_SEED_OFFSET).standard_normal((n, args.latent_dim)).astype(np.float32)
    scored = evaluation.score(inference.predict_in_batches(vae.generator(), z), classifier=classifier)
    return {"prior_samples": n,
            **{f"prior_samples_{key}": scored[key] for key in ("fid", "kid", "kid_std", "fid_real_floor",
                                                                 "confident_share", "class_shares", "dropped_classes")},
            "classifier": scored["classifier"], "classifier_sha256": scored["classifier_sha256"]}


def latent_arithmetic(vae, test, args, path) -> dict:
    """For each (A, T) of `ATTRIBUTE_PAIRS`: the direction mean μ(T) − mean μ(A) from the first half of the test
    codes, added to the second half's codes of class A; the share of the decoded images the instrument
    confidently calls T, after and before. Draws the first few of each pair to `path`."""

    from gen_keras import evaluation, inference, latent, plots

    classifier, _ = evaluation.classifier_for(args.dataset, retrain=args.retrain_classifier,
                                              image_size=args.image_size, channels=args.channels)
    if classifier is None:  # data without labels: no class to move towards
        return {}
    mean, _ = vae.encoder.predict(test.as_float(), batch_size=500, verbose=0)
    generator = vae.generator()
    decode = lambda z: inference.predict_in_batches(generator, z)  # noqa: E731
    name = lambda c: test.class_names[c] if c < len(test.class_names) else str(c)  # noqa: E731
    results, rows, titles = {}, [], []
    for source, target in ATTRIBUTE_PAIRS:
        if max(source, target) >= test.num_classes:
            continue
        moved = latent.attribute_transfer(mean, test.labels, decode, classifier, source=source, target=target)
        pair = f"{name(source)} → {name(target)}"
        results[pair] = {"source": source, "target": target, "images": int(len(moved.held_out)),
                         "target_share": moved.target_share, "target_share_before": moved.target_share_before,
                         "source_share_after": moved.source_share_after}
        shown = moved.held_out[:SHOWN_TRANSFERS]
        rows += [test.as_float()[shown], moved.before[:SHOWN_TRANSFERS], moved.after[:SHOWN_TRANSFERS]]
        titles += [f"held-out {name(source)}", "decoded μ(x)",
                   f"μ(x) + d → {name(target)}: {moved.target_share:.0%}"]
    if rows:
        plots.image_rows(rows, titles, path, "d = mean μ(T) − mean μ(A) from the other half of the test codes; "
                         "the share the classifier confidently calls T")
    return results


def figures(vae, test, history, out, args, curves=None) -> None:
    """The lecture's pictures of a trained VAE."""
    import numpy as np

    from gen_keras import inference, plots
    from gen_keras.models.vae import sample_observations

    x_test, labels = test.as_float(), test.labels
    generator = vae.generator()
    mean, _ = vae.encoder.predict(x_test, batch_size=500, verbose=0)
    decode = lambda z: inference.predict_in_batches(generator, np.asarray(z, np.float32))  # noqa: E731
    d = args.latent_dim

    plots.curves(plots.per_epoch(history, ("loss", "val_loss", "reconstruction", "kl")), out / "loss_curves.png",
                 xlabel="epoch", ylabel="nats per image", log_y=True, title="−ELBO (nats/image) = reconstruction + KL")
    plots.latent_scatters([("μ(x), test set" if d == 2 else "μ(x)[:2], test set", mean[:, :2])], labels,
                          out / "latent_space.png", test.class_names, f"q(z|x) means, latent dim {d}")
    if d == 2:  # the lecture's manifold: decode z over −2 … 2 on each axis (or Kingma & Welling's z = Φ⁻¹(u))
        if args.manifold == "quantiles":
            from statistics import NormalDist

            q = np.array([NormalDist().inv_cdf(u) for u in np.linspace(0.05, 0.95, 15)], np.float32)
            title = "decoded z over a grid of N(0, 1) quantiles (5% ... 95%)"
        else:
            q = np.linspace(-2.0, 2.0, 15, dtype=np.float32)
            title = "decoded z over a regular grid, −2 … 2 on each axis"
        grid = np.stack(np.meshgrid(q, q[::-1]), axis=-1).reshape(-1, 2)
        plots.image_grid(decode(grid), out / "manifold.png", columns=15, title=title)
    rng = np.random.default_rng(args.seed)
    plots.image_grid(decode(rng.standard_normal((50, d))), out / "prior_samples.png",
                     title="E[x|z], z ~ N(0, I)")
    plots.image_rows([x_test[:10], decode(mean[:10])], ["test", "decoded μ(x)"], out / "reconstructions.png",
                     "reconstructions through the mean code")
    # What the decoder is: a distribution p(x|z), whose mean is the image usually shown.
    means, draws = sample_observations(vae, rng.standard_normal((10, d)).astype(np.float32), seed=args.seed)
    plots.image_rows([means, draws], ["E[x|z]", "x ~ p(x|z)"], out / "likelihood_samples.png",
                     f"ten z ~ N(0, I): the decoder's mean and a draw from its {vae.likelihood} likelihood")
    if curves:
        marginal_likelihood_estimates(curves, out / "log_px_estimates.png")
    plots.latent_interpolation(decode, mean, x_test, out / "interpolation.png",
                               "first and last: test images; between: decoded (1−t) μ(a) + t μ(b)")


def ablation(args, run, train, val, test):
    """The lectures' ablation: what each term of the loss does to the latent space."""
    from gen_keras import plots

    panels, results = [], {}
    for name, beta, weight in (("reconstruction only", 0.0, 1.0), ("KL only", args.beta, 0.0),
                               ("reconstruction + KL", args.beta, 1.0)):
        sub = dataclasses.replace(run, out=run.out / "ablation" / name.replace(" ", "_").replace("+", "and"))
        sub.out.mkdir(parents=True, exist_ok=True)
        vae, history, seconds = train_vae(args, sub, train, val, beta=beta, reconstruction_weight=weight)
        mean, _ = vae.encoder.predict(test.as_float(), batch_size=500, verbose=0)
        panels.append((name, mean))
        results[name] = {"val_loss": history.get("val_loss", [None])[-1], "train_seconds": round(seconds, 1)}
        print(f"{name}: {seconds:.0f} s")
    plots.latent_scatters(panels, test.labels, run.out / "ablation.png", test.class_names,
                          "test-set codes μ(x): the reconstruction term spreads classes apart, "
                          "the KL term pulls everything onto N(0, I)")
    (run.out / "ablation.json").write_text(json.dumps(results, indent=2))
    print(f"ablation figure: {run.out / 'ablation.png'}")
    return results


def latent_sizes(args, run, train, val, test):
    """One VAE per latent size, trained identically; their prior samples side by side and their test −ELBO."""
    import numpy as np

    from gen_keras import inference, plots
    from gen_keras.models.vae import elbo_terms

    panels, results = [], {}
    for d in args.latent_sizes:
        sub = dataclasses.replace(run, out=run.out / "latent_sizes" / f"latent_{d}")
        sub.out.mkdir(parents=True, exist_ok=True)
        vae, history, seconds = train_vae(args, sub, train, val, beta=args.beta, latent_dim=d)
        scores = elbo_terms(vae, test.as_float())
        z = np.random.default_rng(args.seed).standard_normal((100, d)).astype(np.float32)
        panels.append((f"latent size {d}\ntest −ELBO {scores['negative_elbo']:.1f} nats",
                       inference.predict_in_batches(vae.generator(), z)))
        results[str(d)] = {"test_negative_elbo": scores["negative_elbo"], "test_kl": scores["kl"],
                           "epochs": len(history.get("loss", [])), "train_seconds": round(seconds, 1)}
        print(f"latent size {d}: test −ELBO {scores['negative_elbo']:.1f} nats/image (KL {scores['kl']:.1f}); "
              f"{seconds:.0f} s")
    plots.image_grids(panels, run.out / "latent_sizes.png", 10, "E[x|z], z ~ N(0, I), for each latent size")
    (run.out / "latent_sizes.json").write_text(json.dumps(results, indent=2))
    print(f"latent-size figure: {run.out / 'latent_sizes.png'}")
    return results


# --- Figures ----------------------------------------------------------------------------------------------


def marginal_likelihood_estimates(curves: Mapping[str, Sequence[float]], path: str | os.PathLike) -> str:
    """Two Monte Carlo estimates of log p(x) against the number of samples K (log axis).

    Naive: log (1/K) Σ p(x|z_k), z_k ~ p(z); importance sampling: log (1/K) Σ p(x|z_k) p(z_k)/q(z_k|x),
    z_k ~ q(z|x). Both are means over the same test images, nats per image.

    Args:
        curves: `{"samples": [K, …], "prior": [...], "importance": [...]}` (as
            `gen_keras.models.vae.marginal_likelihood_by_samples` returns), optionally with `images`.
        path: the PNG to write.

    Returns:
        `path` as a string.
    """
    from gen_keras import plots

    fig, ax = plots.plt.subplots(figsize=(6.5, 4))
    k = curves["samples"]
    ax.plot(k, curves["importance"], "o-", label="importance sampling, z ~ q(z|x)")
    ax.plot(k, curves["prior"], "s-", label="naive Monte Carlo, z ~ p(z)")
    ax.set_xscale("log")
    ax.set_xlabel("samples K per image")
    ax.set_ylabel("estimate of log p(x) (nats/image)")
    images = f" on {curves['images']} test images" if "images" in curves else ""
    ax.set_title(f"log (1/K) Σ_k w_k{images}")
    ax.grid(alpha=0.3)
    ax.legend()
    return plots.save_figure(fig, path)


if __name__ == "__main__":
    cli.run(main)
