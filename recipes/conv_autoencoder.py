"""Convolutional autoencoder with Conv2DTranspose, from training to a served decoder.

The lecture: an encoder f maps an image x to a 49-d code z = f(x); a decoder g built from transposed
convolutions maps it back, x̂ = g(z); both are trained to minimise the reconstruction error
    L = 1/N Σ_i ‖x_i − g(f(x_i))‖²  (mean over pixels).
With a linear encoder and decoder the optimum is PCA with 49 components, so PCA-49 is the baseline any
nonlinear autoencoder must beat.

The lecture's code: `gen_keras/models/autoencoders.py: lecture_encoder, lecture_decoder` (and the improved
pair); the batch-norm recalibration is `gen_keras/inference.py: recalibrate_batch_norm`.

    python recipes/conv_autoencoder.py --quick            # a short try-out: 1 epoch on 2,048 images
    python recipes/conv_autoencoder.py                     # the lecture's network, 10 epochs
    python recipes/conv_autoencoder.py --model improved    # same 49-d code, beats PCA-49
"""

from __future__ import annotations

import json
import time

from gen_keras import cli

RECIPE = "conv_autoencoder"
DEFAULT_EPOCHS = {"lecture": 10, "improved": 15}


def parse(argv=None):
    parser = cli.recipe_parser(__doc__.split("\n\n")[0], epochs=None)
    parser.add_argument("--model", choices=("lecture", "improved"), default="lecture",
                        help="lecture: the lecture's network exactly (Dense(49, relu) code, batch norm in "
                             "the decoder); improved: linear 49-d code and a dense decoder head. "
                             f"Default epochs: {DEFAULT_EPOCHS}")
    parser.add_argument("--learning-rate", type=cli.positive_float, default=None,
                        help="Adam's learning rate at batch 128; lecture: 1e-3 constant, improved: 2e-3 "
                             "decayed to 0 along a cosine over the run")
    args = cli.parse_args(parser, argv, RECIPE)
    args.epochs = args.epochs or DEFAULT_EPOCHS[args.model]
    return args


def main(argv=None):
    args = parse(argv)
    import keras
    import numpy as np

    from gen_keras import data, inference, metrics, plots, training
    from gen_keras.serving import export
    from gen_keras.models.autoencoders import CODE_DIM, conv_autoencoder

    run = training.setup(args)
    out = run.out

    # Data: float32 images in [0, 1]; the last 1/12 of the training split validates.
    train, val, test = data.load_splits(args.dataset, args.limit, image_shape=(28, 28, 1))
    x_train, x_test = train.as_float(), test.as_float()
    print(f"{train.name}: {len(train)} training, {len(val)} validation, {len(test)} test images "
          f"(from {train.source}); batch {run.batch_size}")

    # Model: encoder f (image → code), decoder g (code → image), autoencoder g∘f; loss ‖x − g(f(x))‖².
    if args.model == "lecture":
        learning_rate = (1e-3 if args.learning_rate is None else args.learning_rate) * run.learning_rate_scale
    else:  # η_t = η_0 · ½(1 + cos(π t / T)) over the T steps of the whole run
        learning_rate = keras.optimizers.schedules.CosineDecay(
            (2e-3 if args.learning_rate is None else args.learning_rate) * run.learning_rate_scale,
            decay_steps=args.epochs * training.steps_per_epoch(len(train), run))
    with run.strategy.scope():
        parts = conv_autoencoder(args.model)
        parts.autoencoder.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse",
                                  **run.compile_options())
    parts.autoencoder.summary(expand_nested=True)

    start = time.perf_counter()
    history = training.fit(parts.autoencoder, train, val, run, args.epochs, targets="images")
    train_seconds = time.perf_counter() - start

    # Evaluate in inference mode (training=False), as a served model runs.
    ae = parts.autoencoder
    n_bn = 0
    results = {}
    if any(isinstance(l, keras.layers.BatchNormalization) for l in parts.decoder.layers):
        # The batch-norm trap: the first BN's input variance is ~1e-5, but its moving variance starts at
        # 1 and decays by 0.99 a step, so inference mode divides by a variance far too large.
        results["test_mse_moving_averages"] = metrics.mse(inference.predict_in_batches(ae, x_test), x_test)
        results["test_mse_training_mode"] = metrics.mse(
            np.concatenate([ae(x_test[i:i + 500], training=True) for i in range(0, len(x_test), 500)]), x_test)
        n_bn = inference.recalibrate_batch_norm(ae, x_train)  # population statistics over the training set
    reconstructions = inference.predict_in_batches(ae, x_test)
    codes = inference.predict_in_batches(parts.encoder, x_test)
    results.update({
        "model": args.model, "dataset": train.name, "epochs": len(history.get("loss", [])),
        "train_images": len(train), "test_images": len(test), "batch_size": run.batch_size,
        "train_seconds": round(train_seconds, 1),
        "test_mse": metrics.mse(reconstructions, x_test),
        "pca_test_mse": metrics.pca_reconstruction_mse(x_train, x_test, CODE_DIM),
        "dead_code_units": metrics.dead_units(codes), "code_dim": CODE_DIM,
        "batch_norm_layers_recalibrated": n_bn,
    })
    (out / "metrics.json").write_text(json.dumps(results, indent=2))
    verdict = "beats" if results["test_mse"] < results["pca_test_mse"] else "does not beat"
    print(f"test MSE {results['test_mse']:.5f} ({verdict} PCA-{CODE_DIM}: {results['pca_test_mse']:.5f}); "
          f"{results['dead_code_units']}/{CODE_DIM} dead code units; {train_seconds:.0f} s of training")
    if n_bn:
        print(f"batch norm: inference-mode MSE {results['test_mse_moving_averages']:.5f} with the moving "
              f"averages, {results['test_mse']:.5f} after recalibrating {n_bn} layers "
              f"(training mode: {results['test_mse_training_mode']:.5f})")

    # Figures.
    plots.image_rows([x_test[:10], reconstructions[:10]], ["test", "decoded"], out / "reconstructions.png",
                     f"{args.model} autoencoder, test MSE {results['test_mse']:.4f}")
    plots.curves(plots.per_epoch(history, ("loss", "val_loss")), out / "loss_curves.png", xlabel="epoch",
                 ylabel="mean squared error per pixel", log_y=True,
                 baselines={f"PCA-{CODE_DIM}, test": results["pca_test_mse"]},
                 title=f"{args.model} autoencoder: MSE per epoch (validation in inference mode)")
    # Latent interpolation: g((1 − t) f(a) + t f(b)) for t from 0 to 1, between the images a and b.
    plots.latent_interpolation(lambda z: inference.predict_in_batches(parts.decoder, z), codes, x_test,
                               out / "latent_interpolation.png",
                               "first and last: two test images; between: g((1-t) f(a) + t f(b)), t = 0 ... 1")
    print(f"figures, metrics.json and logs in {out}/")

    if run.export_dir is not None:
        shape = test.images.shape[1:]
        export.export_parts(run.export_dir, RECIPE, [
            ("encoder", parts.encoder, {"image": shape}, "code"),
            ("decoder", parts.decoder, {"code": (CODE_DIM,)}, "image"),
            ("autoencoder", ae, {"image": shape}, "image"),
        ])
    return results


if __name__ == "__main__":
    cli.run(main)
