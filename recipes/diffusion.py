"""Denoising diffusion (DDPM, Ho et al. 2020) sampled with DDIM (Song et al. 2021): trained, judged and served.

The lecture's "state of the art (later)": corrupt images with Gaussian noise over T steps, learn to predict
the noise, and generate by running the chain backwards from pure noise.
    forward, in closed form:  x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε,   ᾱ_t = Π_{s≤t} (1 − β_s)
    loss:                     E_{t, x_0, ε} w_t ‖ε − ε_θ(x_t, t)‖²,   w_t = min(SNR_t, 5)/SNR_t,  SNR_t = ᾱ_t/(1 − ᾱ_t)
    ε_θ from a v network:     ε_θ = √(1 − ᾱ_t) x_t + √ᾱ_t v_θ(x_t, t),   v = √ᾱ_t ε − √(1 − ᾱ_t) x_0
    DDIM step t → s (η = 0):  x_s = √ᾱ_s x̂_0 + √(1 − ᾱ_s) ε̃,   x̂_0 = clip((x_t − √(1 − ᾱ_t) ε_θ)/√ᾱ_t),
                              ε̃ = (x_t − √ᾱ_t x̂_0)/√(1 − ᾱ_t)
Unlike a GAN's one pass, a sample costs one network evaluation per step: quality is bought with sampling
time, which the sampling-steps figure measures. FID and KID are every recipe's instrument (`gen_keras/evaluation/`).

The lecture's code: `gen_keras/models/diffusion.py: noise_schedule, Diffusion.diffuse` (the forward
process), `Diffusion.train_step` (the loss and the weights' moving average), `Diffusion.ddim_step` and
`Diffusion.denoise_from` (the samplers, one `tf.while_loop`), `gen_keras.models.unet.build_unet` (ε_θ).

    python recipes/diffusion.py --quick                  # a short try-out: a tiny model, 1 epoch on 2,048 images
    python recipes/diffusion.py                          # Fashion-MNIST: FID at 10/25/50 DDIM steps, exports
    python recipes/diffusion.py --sampling-steps 10 50 200
"""

from __future__ import annotations

import json
import time

import numpy as np

from gen_keras import cli

RECIPE = "diffusion"
DEFAULT_EPOCHS = 7
WIDTHS, QUICK_WIDTHS = (16, 32, 64), (8, 16, 32)
LEARNING_RATE = 1e-3
# ε_θ(x_t, t) = √(1 − ᾱ_t) x_t + √ᾱ_t v_θ(x_t, t): the network outputs v = √ᾱ_t ε − √(1 − ᾱ_t) x_0, and the
# ε loss is weighted min(SNR_t, γ)/SNR_t. After 859 steps: FID 28.7 against 76.1 for the plain ε network
# (docs/results/diffusion.md).
PREDICTION = "velocity"
MIN_SNR_GAMMA = 5.0
ETA = 0.0  # the samplers' η: 0 deterministic DDIM
SAMPLING_STEPS = (10, 25, 50)
HEADLINE_STEPS = 50  # the FID on all --fid-samples is measured with this many DDIM steps
SWEEP_SAMPLES = 2000  # the other step counts are judged on the first this many samples
EPOCH_FID_STEPS = 20  # the per-epoch FID (1,000 samples) samples with this many steps, to keep it cheap
DDPM_SAMPLES = 16  # the 1,000-step ancestral (DDPM) sample grid
QUICK_FID_SAMPLES = 500  # each sample costs --fid-steps network passes
MAX_SERVED_SAMPLES = 256
SERVED_SAMPLES = 16  # the served `sample` signature's default num_samples


def parse(argv=None):
    parser = cli.recipe_parser(__doc__.split("\n\n")[0], epochs=DEFAULT_EPOCHS, batch_size=64)
    g = parser.add_argument_group("diffusion")
    g.add_argument("--widths", type=cli.positive_int, nargs="+", default=None,
                   help=f"the U-Net's channels at 28x28, 14x14, 7x7 (default {' '.join(map(str, WIDTHS))}; "
                        f"{' '.join(map(str, QUICK_WIDTHS))} with --quick)")
    g.add_argument("--blocks", type=cli.positive_int, default=1, help="residual blocks per resolution and side")
    g.add_argument("--no-attention", action="store_true", help="no self-attention at the coarsest resolution")
    g.add_argument("--schedule", choices=("cosine", "linear"), default="cosine",
                   help="the noise schedule β_t: cosine (Nichol & Dhariwal) or linear 1e-4 … 0.02 (Ho et al.)")
    g.add_argument("--timesteps", type=cli.positive_int, default=1000, help="T, the forward process's steps")
    g.add_argument("--learning-rate", type=cli.positive_float, default=LEARNING_RATE,
                   help="Adam's first step at batch 64, decayed to 0 along a cosine over the run")
    g.add_argument("--prediction", choices=("epsilon", "velocity"), default=PREDICTION,
                   help="the network's target: epsilon (the noise ε, Ho et al.) or velocity "
                        "(v = √ᾱ_t ε − √(1 − ᾱ_t) x_0, Salimans & Ho)")
    g.add_argument("--min-snr-gamma", type=cli.non_negative_float, default=MIN_SNR_GAMMA,
                   help="weigh each step's loss by min(SNR_t, γ)/SNR_t (Hang et al.), SNR_t = ᾱ_t/(1 − ᾱ_t); "
                        f"0: unweighted (default {MIN_SNR_GAMMA:g})")
    g.add_argument("--ema-decay", type=cli.open_unit_interval, default=0.999,
                   help="the sampling weights' moving average: θ_EMA ← d θ_EMA + (1 − d) θ each step")
    g.add_argument("--eta", type=cli.non_negative_float, default=ETA,
                   help="the DDIM samplers' η: 0 deterministic (the same x_T, the same image), 1 a fresh noise draw "
                        f"every step as DDPM's; the sweep also measures η = 1 unless --quick (default {ETA:g})")
    g.add_argument("--fid-steps", type=cli.positive_int, default=HEADLINE_STEPS,
                   help="DDIM steps of the samples the final FID scores (all --fid-samples of them)")
    g.add_argument("--sampling-steps", type=cli.positive_int, nargs="+", default=list(SAMPLING_STEPS),
                   help=f"DDIM step counts judged on the first {SWEEP_SAMPLES:,} samples for the quality-against-"
                        "cost figure (with --fid-steps on all of them)")
    g.add_argument("--ddpm-samples", type=cli.non_negative_int, default=None,
                   help=f"images drawn with all T ancestral steps (DDPM) for comparison (default {DDPM_SAMPLES}, "
                        "0 with --quick)")
    cli.add_sample_quality_flags(parser, quick_samples=QUICK_FID_SAMPLES,
                                 samples_help="samples (--fid-steps DDIM steps each, one network pass a step)",
                                 fid_every=f"the FID of 1,000 samples ({EPOCH_FID_STEPS} DDIM steps)")
    args = cli.parse_args(parser, argv, RECIPE)
    args.widths = tuple(args.widths or (QUICK_WIDTHS if args.quick else WIDTHS))
    if args.eta > 1:
        parser.error(f"--eta must lie in [0, 1] (0: DDIM, 1: DDPM's noise), got {args.eta:g}")
    if len(args.widths) < 2:
        parser.error("--widths needs at least two resolutions, e.g. 16 32")
    if args.ddpm_samples is None:
        args.ddpm_samples = 0 if args.quick else DDPM_SAMPLES
    too_many = [s for s in [*args.sampling_steps, args.fid_steps] if s > args.timesteps]
    if too_many:
        parser.error(f"{too_many[0]} sampling steps is more than --timesteps {args.timesteps}")
    args.sampling_steps = sorted(set(args.sampling_steps) | {args.fid_steps})
    return args


def main(argv=None):
    args = parse(argv)
    import tensorflow as tf

    from gen_keras import callbacks, data, evaluation, inference, training
    from gen_keras.models.diffusion import Sampler, build_diffusion

    run = training.setup(args)
    out = run.out
    # Your own images (--dataset folder:PATH, --image-size, --channels): the U-Net follows their shape.
    train, val, test = data.load_splits(args.dataset, args.limit, image_size=args.image_size,
                                        channels=args.channels)
    shape = data.image_shape_divisible(train, 2 ** (len(args.widths) - 1),
                                       f"the U-Net ({len(args.widths) - 1} halvings)")
    print(f"{train.name}: {len(train)} training, {len(val)} validation, {len(test)} test images of {shape} "
          f"(from {train.source}); batch {run.batch_size}")

    # Model: ε_θ(x_t, t) from a small U-Net; the loss w_t ‖ε − ε_θ(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, t)‖² in train_step.
    with run.strategy.scope():
        model = build_diffusion(args.widths, args.blocks, attention=not args.no_attention, schedule=args.schedule,
                                timesteps=args.timesteps, ema_decay=args.ema_decay, seed=args.seed,
                                prediction=args.prediction, min_snr_gamma=args.min_snr_gamma or None,
                                image_shape=shape)
        model.compile(optimizer=training.cosine_adam(args.learning_rate, len(train), run, args.epochs),
                      **run.compile_options())
    model.network.summary()

    # The instrument: fixed x_T, one per sample; DDIM with η = 0 maps each to one image (with η > 0 the
    # step noise is seeded from x_T, so the same x_T still gives the same image). Scored against as many
    # test images; after each epoch the first 1,000, with fewer DDIM steps.
    headline = args.fid_steps
    sampler = Sampler(model, steps=min(EPOCH_FID_STEPS, args.timesteps), eta=args.eta)
    num_samples = min(args.fid_samples, len(test))
    # x_T as the served `sample` signature draws it (batch i of MAX_SERVED_SAMPLES from seed --seed + i), so that
    # `python -m gen_keras.evaluate` on the export redraws the very samples scored here.
    x_T = np.concatenate([model.initial_noise(min(MAX_SERVED_SAMPLES, num_samples - start), args.seed + i).numpy()
                          for i, start in enumerate(range(0, num_samples, MAX_SERVED_SAMPLES))])
    classifier, not_scored = evaluation.classifier_for(args.dataset, retrain=args.retrain_classifier,
                                                       image_size=args.image_size, channels=args.channels)
    scored_run = classifier is not None  # False: data without labels; trained, drawn and exported unscored
    reference = evaluation.reference_features(classifier, num_samples) if scored_run else None
    quality = evaluation.SampleQuality(sampler, classifier, x_T[:1000], fid_every=args.fid_every,
                                       reference=reference, num_samples=1000) if scored_run else None
    grid = callbacks.SampleGrid(sampler, out / "samples" / "epoch_{epoch:03d}.png", x_T[:100],
                                title=f"DDIM, {sampler.steps} steps, from fixed x_T")
    step_losses = callbacks.StepLosses()
    start = time.perf_counter()
    history = training.fit(model, train, val, run, args.epochs, targets=None, monitor=None,
                           callbacks=[*([quality] if quality else []), grid, step_losses])
    train_seconds = time.perf_counter() - start
    train_steps = int(model.optimizer.iterations)
    model.save(out / "diffusion.keras")  # the trained model first: what follows samples for many minutes

    # Quality against sampling cost: FID and KID at each step count, with --eta and with η = 1 (a fresh
    # σ z each step, σ² = η² (1 − ᾱ_s)/(1 − ᾱ_t) (1 − ᾱ_t/ᾱ_s)); seconds per image.
    sweep, headline_images = {}, None
    for eta in sorted({args.eta} if args.quick else {args.eta, 1.0}):
        sampler.eta = eta
        for steps in args.sampling_steps:
            sampler.steps = steps
            headline_run = steps == headline and eta == args.eta
            count = num_samples if headline_run else min(SWEEP_SAMPLES, num_samples)
            sampler(x_T[:2])  # compiled before timing
            started = time.perf_counter()
            images = inference.sample_in_batches(sampler, x_T, count, batch_size=MAX_SERVED_SAMPLES)
            seconds = time.perf_counter() - started
            if headline_run:
                headline_images = images
            sweep[eta, steps] = {"num_samples": count, "seconds_per_image": seconds / count}
            line = f"DDIM {steps:4d} steps, η = {eta:g}: {1000 * seconds / count:.1f} ms an image"
            if scored_run:
                scored = evaluation.score(images, classifier=classifier, reference=reference, floor=False)
                sweep[eta, steps].update({key: scored[key] for key in ("fid", "kid", "kid_std")})
                line += f"; FID {scored['fid']:.2f}, KID {scored['kid']:.4f} on {count} samples"
            print(line)
    sampler.steps, sampler.eta = headline, args.eta
    final = (evaluation.score(headline_images, classifier=classifier, reference=reference)  # FID, KID, classes, floor
             if scored_run else {"scored": False, "not_scored": not_scored})

    results = {
        "dataset": train.name, "widths": list(args.widths), "blocks": args.blocks,
        "attention": not args.no_attention, "schedule": args.schedule, "timesteps": args.timesteps,
        "prediction": args.prediction, "min_snr_gamma": args.min_snr_gamma,
        "parameters": model.network.count_params(), "epochs": len(history.get("loss", [])),
        "train_steps": train_steps, "batch_size": run.batch_size, "train_images": len(train),
        "train_seconds": round(train_seconds, 1),
        # steps taken by this process (a resumed run's earlier epochs are not in train_seconds)
        "train_images_per_second": round(len(step_losses.losses) * run.batch_size / train_seconds, 1),
        "sampling_steps": headline, **final,
        "eta": args.eta, "sweep": {str(steps): v for (eta, steps), v in sweep.items() if eta == args.eta},
        "sweep_eta_1": {str(steps): v for (eta, steps), v in sweep.items() if eta == 1.0},
        "fid_per_epoch": [f for f in history.get("fid", [])],
        "generator_steps_per_epoch": history.get("generator_steps", []),
        "class_histogram_per_epoch": {str(e): h for e, h in quality.histograms.items()} if quality else {},
    }
    ddpm = None
    if args.ddpm_samples:  # every one of the T steps, η = 1: Ho et al.'s ancestral sampler
        started = time.perf_counter()
        ddpm = tf.function(model.sample)(tf.constant(args.ddpm_samples), tf.constant(args.seed),
                                         tf.constant(args.timesteps), tf.constant(1.0)).numpy()
        results["ddpm_seconds_per_image"] = (time.perf_counter() - started) / args.ddpm_samples
    (out / "metrics.json").write_text(json.dumps(results, indent=2))
    quality_line = evaluation.summary_line(final) if scored_run else "samples not scored (see above)"
    print(f"{headline} DDIM steps: {quality_line}; {train_steps} steps, {train_seconds:.0f} s of "
          f"training ({results['train_images_per_second']:.0f} images/s)")

    figures(model, sampler, x_T, test, step_losses, history, sweep, ddpm, out, args)
    print(f"figures, metrics.json and logs in {out}/")
    if run.export_dir is not None:
        export(model, run.export_dir, dataset=args.dataset, record=evaluation.export_record(
            final, seed=args.seed, batch=MAX_SERVED_SAMPLES, inputs={"steps": headline, "eta": args.eta})
            if scored_run else None)
    return results


def figures(model, sampler, x_T, test, step_losses, history, sweep, ddpm, out, args) -> None:
    """The forward and reverse processes, samples, the loss per step, and quality against sampling steps."""
    import tensorflow as tf

    from gen_keras import inference, plots

    T = args.timesteps
    # Forward: q(x_t | x_0) at t = 0, T/8, …, T for a few test images (the same ε along a row).
    shown = [0, *[max(1, round(T * k / 8)) for k in range(1, 9)]]
    x0 = test.as_float()[:4] * 2.0 - 1.0
    noise = tf.random.stateless_normal(x0.shape, [args.seed, 1])
    rows = [np.clip((model.diffuse(x0, tf.fill([len(x0)], t - 1), noise).numpy() + 1) / 2, 0, 1) if t else
            (x0 + 1) / 2 for t in shown]
    plots.image_rows([np.stack([r[i] for r in rows]) for i in range(len(x0))], [""] * len(x0),
                     out / "forward_process.png", f"q(x_t | x_0) at t = {', '.join(map(str, shown))}")
    # Reverse: x_T → x_0 with the headline DDIM steps, snapshots of x along the chain.
    snaps = min(8, sampler.steps)
    _, history_x = model.denoise_from(x_T[:6], sampler.steps, snapshots=snaps)
    start = np.clip((x_T[:6] + 1) / 2, 0, 1)
    after = sorted({-(-(k + 1) * sampler.steps // snaps) for k in range(snaps)})  # ⌈(k + 1)·S / 8⌉
    plots.image_rows([np.concatenate([start[i:i + 1], np.clip(history_x[:, i].numpy(), 0, 1)]) for i in range(6)],
                     [""] * 6, out / "reverse_process.png",
                     f"x_T, then x after DDIM steps {', '.join(map(str, after))} of {sampler.steps}")
    plots.image_grid(inference.sample_in_batches(sampler, x_T[:100]), out / "samples.png", 10,
                     f"DDIM, {sampler.steps} steps, η = {sampler.eta:g}")
    if ddpm is not None:
        plots.image_grid(ddpm, out / "samples_ddpm.png", 8, f"DDPM: all {T} ancestral steps (η = 1)")
    # The logged losses (`Diffusion.train_step`, `test_step`): training, w_t ‖ε − ε̂‖² per pixel (a v network's
    # weighted ‖v − v̂‖² is the same number; unweighted, its loss is ‖v − v̂‖²); validation, the unweighted
    # ‖ε − ε̂‖² of the moving-average network.
    gamma = args.min_snr_gamma
    v_loss = args.prediction == "velocity" and not gamma
    trained = "‖v − v̂‖²" if v_loss else f"min(SNR_t, {gamma:g})/SNR_t · ‖ε − ε̂‖²" if gamma else "‖ε − ε̂‖²"
    plots.curves(plots.per_step(step_losses.losses, steps_per_epoch=step_losses.steps_per_epoch,
                                validation=history.get("val_loss"), name=f"training: {trained}",
                                validation_name="validation: ‖ε − ε̂‖², moving-average weights"),
                 out / "loss_per_step.png", xlabel="training step", log_y=True, title="The diffusion loss",
                 ylabel="squared error per pixel (training: of v̂, validation: of ε̂)" if v_loss
                 else "squared error of the predicted noise, per pixel")
    curves = {}
    for eta, steps in sorted(sweep):
        if "fid" in sweep[eta, steps]:  # (data without labels are not scored)
            xs, ys = curves.setdefault(f"η = {eta:g}" + (" (deterministic)" if eta == 0 else ""), ([], []))
            xs.append(steps)
            ys.append(sweep[eta, steps]["fid"])
    if curves:
        plots.curves(curves, out / "quality_vs_sampling_steps.png",
                     xlabel="network evaluations per sample (DDIM steps)", ylabel="FID (log scale)",
                     title="Quality against sampling cost (DDIM)", log_y=True)
    fids = [(s, f) for s, f in zip(history.get("generator_steps", []), history.get("fid", [])) if f == f]
    if fids:
        plots.curves({f"diffusion, {EPOCH_FID_STEPS} DDIM steps": tuple(zip(*fids))},
                     out / "fid_vs_training_steps.png", xlabel="training step", ylabel="FID (log scale), 1,000 samples",
                     title="FID against training steps", log_y=True)


def export(model, export_dir, *, dataset: str = "fashion_mnist", record: dict | None = None):
    """The served model: `sample` (num_samples, seed, steps, eta → image; each with a default a request may leave
    out) and `denoise` (x_t, t → ε̂); `record`, the recipe's score of `sample`, goes into the metadata for
    `python -m gen_keras.evaluate`."""
    import tensorflow as tf

    from gen_keras.serving import export as export_lib

    height, width, channels = model.image_shape
    T = model.timesteps

    default_steps = min(HEADLINE_STEPS, T)

    def sample(num_samples=SERVED_SAMPLES, seed=0, steps=default_steps, eta=ETA):
        checks = [
            tf.debugging.assert_positive(num_samples, message="num_samples must be at least 1"),
            tf.debugging.assert_less_equal(num_samples, MAX_SERVED_SAMPLES,
                                           message=f"num_samples must be at most {MAX_SERVED_SAMPLES} per request"),
            tf.debugging.assert_positive(steps, message="steps must be at least 1"),
            tf.debugging.assert_less_equal(steps, T, message=f"steps must be at most T = {T}"),
            tf.debugging.assert_non_negative(eta, message="eta must lie in [0, 1] (0: DDIM, 1: DDPM's noise)"),
            tf.debugging.assert_less_equal(eta, 1.0, message="eta must lie in [0, 1] (0: DDIM, 1: DDPM's noise)"),
        ]
        with tf.control_dependencies(checks):
            num_samples, steps, eta = tf.identity(num_samples), tf.identity(steps), tf.identity(eta)
        return {"image": model.sample(num_samples, seed, steps, eta)}

    def denoise(x_t, t):
        checks = [
            tf.debugging.assert_equal(tf.shape(x_t)[1:], [height, width, channels],
                                      message=f"x_t must be (batch, {height}, {width}, {channels})"),
            tf.debugging.assert_equal(tf.shape(t), tf.shape(x_t)[:1], message="give one t per image"),
            tf.debugging.assert_non_negative(t, message=f"t must be a step index in 0 … {T - 1}"),
            tf.debugging.assert_less(t, T, message=f"t must be a step index in 0 … {T - 1}"),
            tf.debugging.assert_all_finite(x_t, message="x_t must be finite"),
        ]
        with tf.control_dependencies(checks):
            x_t = tf.ensure_shape(tf.identity(x_t), [None, height, width, channels])
        return {"epsilon": model.predict_noise(x_t, t)}

    endpoints = {
        "sample": export_lib.Endpoint(
            sample, {"num_samples": tf.TensorSpec([], tf.int32), "seed": tf.TensorSpec([], tf.int32),
                     "steps": tf.TensorSpec([], tf.int32), "eta": tf.TensorSpec([], tf.float32)},
            [{"num_samples": 1, "seed": 0, "steps": 2, "eta": ETA}],
            doc=f"num_samples (1 … {MAX_SERVED_SAMPLES}, default {SERVED_SAMPLES}) images (batch, {height}, {width}, "
                f"{channels}) in [0, 1] by DDIM with `steps` (1 … {T}, default {default_steps}) network evaluations "
                f"and η = `eta` (0 … 1, default {ETA:g}: deterministic; 1 with steps = T: DDPM); the same seed "
                "(default 0), steps and eta give the same images"),
        "denoise": export_lib.Endpoint(
            denoise, {"x_t": tf.TensorSpec([None, height, width, channels], tf.float32),
                      "t": tf.TensorSpec([None], tf.int32)},
            [{"x_t": np.zeros((1, height, width, channels), np.float32), "t": np.zeros((1,), np.int32)}],
            doc=f"ε̂ = ε_θ(x_t, t) (the moving-average weights) for noisy images x_t in the chain's [−1, 1] scale "
                f"and 0-based step indices t (0 … {T - 1}), for writing one's own sampler"),
    }
    version = export_lib.export_signatures(
        model, export_dir, RECIPE, "diffusion", endpoints, weights_of=model.ema_network,  # what sampling reads
        metadata={"dataset": dataset, "evaluation": {"sample": record} if record else {}, "timesteps": T, "schedule": model.schedule, "max_samples": MAX_SERVED_SAMPLES,
                  "image_shape": [height, width, channels],
                  "alpha_bars": [float(a) for a in model.alpha_bars.numpy()]})
    print(f"exported diffusion (sample, denoise): {version}")
    return version


if __name__ == "__main__":
    cli.run(main)
