"""Adversarial autoencoder (Makhzani et al., 2016): a GAN's discriminator shapes an autoencoder's codes.

The lecture: an encoder q(z|x) and a decoder p(x|z) are trained, on every batch, in two phases:
    reconstruction:  min_{enc, dec} E_x ‖x − dec(enc(x))‖²
    regularization:  min_enc max_D  E_{z~p(z)} [log D(z)] + E_x [log(1 − D(enc(x)))]
so the aggregated posterior q(z) = E_x q(z|x) is matched to the prior p(z) = N(0, I), as a VAE's KL term
would, but by a discriminator on codes instead of a closed-form divergence. Then dec(z), z ~ p(z), draws
new images, and with a 2-d code the test images' codes can be seen filling the prior.

The lecture's code: `gen_keras/models/aae.py: AdversarialAutoencoder.train_step` (reconstruction, then
D on prior samples vs codes, then the encoder against D) and `aae_networks`.

    python recipes/aae.py --quick      # a short try-out: 1 epoch on 2,048 images
    python recipes/aae.py              # 2-d code, N(0, I) prior
"""

from __future__ import annotations

import time

from gen_keras import cli, gan_recipe

RECIPE = "aae"
DEFAULT_EPOCHS = 20


def parse(argv=None):
    parser = cli.recipe_parser(__doc__.split("\n\n")[0], epochs=DEFAULT_EPOCHS)
    gan_recipe.add_flags(parser, learning_rate=2e-4, latent_dim=2)
    return gan_recipe.finish_args(cli.parse_args(parser, argv, RECIPE))


def main(argv=None):
    args = parse(argv)
    import numpy as np

    from gen_keras import inference, metrics, plots, training
    from gen_keras.divergences import mmd_permutation_test
    from gen_keras.serving import export
    from gen_keras.models.aae import AdversarialAutoencoder, aae_networks

    run, train, test = gan_recipe.setup_and_load(args)
    print(f"{train.name}: {len(train)} training images (from {train.source}); batch {run.batch_size}")

    lr = args.learning_rate * run.learning_rate_scale  # Adam's step, scaled with the batch
    with run.strategy.scope():
        # encoder: 784 → 512 → 512 → z (linear); decoder: z → 512 → 512 → 784 (sigmoid); D: z → 512 → 512 → logit
        aae = AdversarialAutoencoder(*aae_networks(args.latent_dim), seed=args.seed)
        aae.compile(ae_optimizer=gan_recipe.adam(lr), d_optimizer=gan_recipe.adam(lr),
                    g_optimizer=gan_recipe.adam(lr), **run.compile_options())
    aae.summary(expand_nested=True)

    # The decoder is the generator of new images: dec(z), z ~ N(0, I), judged like a GAN's samples.
    judge = gan_recipe.judge_from_flags(args, test, lambda z: aae.decoder(z, training=False))
    start = time.perf_counter()
    history = training.fit(aae, train, None, run, args.epochs, targets=None, monitor=None,
                           callbacks=judge.callbacks(run.out, "AAE: dec(z), z ~ N(0, I)"))
    x_test = test.as_float()
    codes = inference.predict_in_batches(aae.encoder, x_test)
    reconstructions = inference.predict_in_batches(aae, x_test)
    # Do the codes follow the prior? MMD² between 1,000 test codes and 1,000 prior draws, with the
    # permutation test's p-value (small: the two sets are told apart).
    prior = np.random.default_rng(args.seed).standard_normal((1000, args.latent_dim))
    match = mmd_permutation_test(codes[:1000], prior, num_permutations=200, seed=args.seed)
    results = judge.report(run.out, history, model="aae", dataset=train.name, latent_dim=args.latent_dim,
                           batch_size=run.batch_size, train_images=len(train),
                           train_seconds=round(time.perf_counter() - start, 1),
                           test_reconstruction_mse=metrics.mse(reconstructions, x_test),
                           code_mean=codes.mean(axis=0).tolist(), code_std=codes.std(axis=0).tolist(),
                           codes_vs_prior_mmd2=match.mmd2, codes_vs_prior_p_value=match.p_value)
    print(f"test reconstruction MSE {results['test_reconstruction_mse']:.4f}; test codes: mean "
          f"{np.round(results['code_mean'], 2).tolist()}, std {np.round(results['code_std'], 2).tolist()} "
          f"(the prior: 0 and 1); codes vs prior: MMD² {match.mmd2:.4f}, permutation p = {match.p_value:.3f}")

    gan_recipe.figures(history, judge, run.out, "AAE: dec(z), z ~ N(0, I)")
    plots.image_rows([x_test[:10], reconstructions[:10]], ["test", "decoded"], run.out / "reconstructions.png",
                     f"AAE reconstructions, test MSE {results['test_reconstruction_mse']:.4f}")
    if args.latent_dim == 2:
        plots.latent_scatters([("enc(x) of the test images", codes)], test.labels, run.out / "latent_space.png",
                              test.class_names, "AAE codes, pushed by the discriminator to fill N(0, I)")

    if not args.no_export:
        shape = test.images.shape[1:]
        export.export_parts(args.export_dir, RECIPE, [
            ("encoder", aae.encoder, {"image": shape}, "code"),
            ("decoder", aae.decoder, {"z": (args.latent_dim,)}, "image"),
            ("discriminator", aae.discriminator, {"code": (args.latent_dim,)}, "logit"),
        ])
    return results


if __name__ == "__main__":
    cli.run(main)
