"""Adversarial autoencoder (Makhzani et al., 2016): a GAN's discriminator shapes an autoencoder's codes.

The lecture: an encoder q(z|x) and a decoder p(x|z) are trained, on every batch, in two phases:
    reconstruction:  min_{enc, dec} E_x ‖x − dec(enc(x))‖²
    regularization:  min_enc max_D  E_{z~p(z)} [log D(z)] + E_x [log(1 − D(enc(x)))]
so the aggregated posterior q(z) = E_x q(z|x) is matched to the prior p(z), as a VAE's KL term would, but by
a discriminator on codes instead of a closed-form divergence: the prior only has to be sampled, so it can
be one whose KL has no closed form, a mixture of ten Gaussians on a circle or a swiss roll (`--prior`). With
`--supervised` the image's label picks its part of the prior, and D sees the label beside the code. Then
dec(z), z ~ p(z), draws new images, and with a 2-d code the test codes can be seen over the prior's samples.
Do the codes follow the prior? An MMD two-sample test of test codes against prior draws, beside the same
test between two sets of prior draws: the lecture's point is codes that cannot be told from the prior,
`codes_match_prior` (permutation p > 0.05) in metrics.json. The default, a mixture of ten Gaussians with the
encoder's step against D at 5× the others', was measured to give that (its full run: p = 0.22, FID 44.35);
`--adversarial-rate 1` gives better samples (FID 42.25) with codes the test tells from the prior: it trades
the lecture's property for sample quality.

The lecture's code: `gen_keras/models/aae.py: AdversarialAutoencoder.train_step` (reconstruction, then
D on prior samples vs codes, then the encoder against D) and `aae_networks`.

    python recipes/aae.py --quick      # a short try-out: 1 epoch on 2,048 images
    python recipes/aae.py              # 2-d code, a mixture of ten Gaussians: codes that match the prior
    python recipes/aae.py --adversarial-rate 1           # better samples, codes told apart from the prior
    python recipes/aae.py --prior gaussian               # N(0, I)
    python recipes/aae.py --supervised                   # the label picks one of ten petals
"""

from __future__ import annotations

import time

from gen_keras import cli

RECIPE = "aae"
DEFAULT_EPOCHS = 20
# The reconstruction step pulls the codes wherever the decoder likes them; against it the encoder's step
# against D needs 5× the GANs' rate, or D wins and the codes leave the prior (measured: N(0, I) at 1×, and
# the supervised mixture and the swiss roll even with the first recipe's slower reconstruction). The
# unsupervised mixture at 5×: codes the permutation test cannot tell from the prior (p = 0.22), FID 44.35;
# at 1× FID 42.25 but codes told apart (docs/results/gans.md).
ADVERSARIAL_RATE = 5.0
MATCH_LEVEL = 0.05  # the codes match the prior when the permutation test's p-value is above this


def parse(argv=None):
    parser = cli.recipe_parser(__doc__.split("\n\n")[0], epochs=DEFAULT_EPOCHS)
    cli.add_gan_flags(parser, learning_rate=2e-4, latent_dim=2,
                      learning_rate_help="; here D's step and, times --adversarial-rate, the encoder's step "
                                         "against D (default 2e-4); the reconstruction phase has its own "
                                         "--reconstruction-rate")
    g = parser.add_argument_group("the prior")
    g.add_argument("--prior", choices=("gaussian", "mixture", "swiss_roll"), default="mixture",
                   help="p(z): N(0, I); a mixture of ten 2-d Gaussians on a circle (Makhzani et al.'s figure); a "
                        "2-d swiss roll (mixture and swiss_roll need --latent-dim 2)")
    g.add_argument("--supervised", action="store_true",
                   help="the image's label picks the mixture component (or stretch of the roll) its code must "
                        "match; the discriminator sees the label")
    g.add_argument("--posterior", choices=("deterministic", "gaussian"), default="deterministic",
                   help="q(z|x): z = enc(x), or z ~ N(μ(x), σ²(x)) drawn in training (the served encoder "
                        "returns μ)")
    g.add_argument("--encoder", choices=("dense", "conv"), default="conv",
                   help="the encoder: the VAE recipe's two stride-2 convolutions and a 256-unit dense layer, or "
                        "two 512-unit dense layers as in the paper")
    g.add_argument("--reconstruction-rate", type=cli.positive_float, default=1e-3,
                   help="the reconstruction phase's Adam step (β1 0.9, Keras' default, as the VAE recipe's; "
                        "the two adversarial optimizers keep --learning-rate and β1 0.5; default 1e-3)")
    g.add_argument("--reconstruction", choices=("mse", "bce"), default="mse",
                   help="the reconstruction phase's loss: squared error, or binary cross-entropy (a Bernoulli "
                        "decoder, as the VAE recipe's)")
    g.add_argument("--adversarial-rate", type=cli.positive_float, default=ADVERSARIAL_RATE,
                   help="the encoder's step against D, as a multiple of --learning-rate: at 5 the mixture's codes "
                        "cannot be told from the prior; at 1 the discriminator wins (N(0, I), the swiss roll) or, "
                        "for the unsupervised mixture, the samples are better but the codes leave the prior "
                        "(docs/results/gans.md)")
    args = cli.parse_args(parser, argv, RECIPE)
    if args.prior != "gaussian" and args.latent_dim != 2:
        parser.error(f"--prior {args.prior} is 2-d: use --latent-dim 2")
    if args.supervised and args.prior == "gaussian":
        parser.error("--supervised needs --prior mixture or swiss_roll (a part of the prior per class)")
    return args


def main(argv=None):
    args = parse(argv)
    import keras
    import numpy as np
    import tensorflow as tf

    from gen_keras import evaluation, gan_recipe, inference, metrics, plots, training
    from gen_keras.divergences import mmd_permutation_test
    from gen_keras.serving import export
    from gen_keras.models.aae import AdversarialAutoencoder, aae_networks, nearest_component, sample_prior

    run = training.setup(args)
    train, test = gan_recipe.load_data(args.dataset, args.limit, image_size=args.image_size, channels=args.channels)
    print(f"{train.name}: {len(train)} training images (from {train.source}); batch {run.batch_size}")
    num_classes = train.num_classes
    prior_name = {"gaussian": "N(0, I)", "mixture": "a mixture of 10 Gaussians", "swiss_roll": "a swiss roll"}[
        args.prior] + (", label-picked" if args.supervised else "")

    lr = args.learning_rate * run.learning_rate_scale  # Adam's step, scaled with the batch
    with run.strategy.scope():
        # encoder: two stride-2 convolutions → 256 → z (linear; or μ, log σ² and z = μ + σ ε), or 784 → 512 →
        # 512 → z; decoder: z → 512 → 512 → 784 (sigmoid); D: z → 512 → 512 → logit
        aae = AdversarialAutoencoder(*aae_networks(args.latent_dim, num_classes=num_classes if args.supervised else 0,
                                                   posterior=args.posterior, encoder=args.encoder,
                                                   seed=args.seed),
                                     prior=args.prior, supervised=args.supervised, num_classes=num_classes,
                                     reconstruction_loss=args.reconstruction, seed=args.seed)
        # Reconstruction: Adam with Keras' defaults; the game: the GANs' Adam (β1 0.5).
        aae.compile(ae_optimizer=keras.optimizers.Adam(args.reconstruction_rate * run.learning_rate_scale),
                    d_optimizer=gan_recipe.adam(lr),
                    g_optimizer=gan_recipe.adam(lr * args.adversarial_rate), **run.compile_options())
    aae.summary(expand_nested=True)

    # The decoder is the generator of new images: dec(z), z ~ p(z), judged like a GAN's samples (in the
    # supervised variant, z from each class's part of the prior in turn).
    n_fid = args.fid_samples
    fid_labels = np.arange(n_fid) % num_classes if args.supervised else None
    latents = sample_prior(args.prior, n_fid, args.latent_dim, args.seed, fid_labels, num_classes)
    classifier = evaluation.load_classifier(args.dataset, retrain=args.retrain_classifier)
    judge = evaluation.Judge(lambda z: aae.decoder(z, training=False), latents, classifier=classifier, test=test,
                             fid_every=args.fid_every)
    start = time.perf_counter()
    history = training.fit(aae, train, None, run, args.epochs, targets="labels" if args.supervised else None,
                           monitor=None, callbacks=gan_recipe.callbacks(judge, run.out, f"AAE: dec(z), z ~ {prior_name}"))
    x_test = test.as_float()
    codes = inference.predict_in_batches(aae.encoder, x_test)
    reconstructions = inference.predict_in_batches(aae, x_test)
    # Do the codes follow the prior? MMD² between 1,000 test codes and 1,000 prior draws (drawn for the same
    # labels in the supervised variant), with the permutation test's p-value (small: told apart); beside it
    # the same test between two independent sets of prior draws, what "indistinguishable" looks like.
    n = min(1000, len(codes))
    labels = test.labels[:n] if args.supervised else None
    prior = sample_prior(args.prior, n, args.latent_dim, args.seed + 1, labels, num_classes)
    match = mmd_permutation_test(codes[:n], prior, num_permutations=200, seed=args.seed)
    reference = mmd_permutation_test(sample_prior(args.prior, n, args.latent_dim, args.seed + 2, labels, num_classes),
                                     prior, num_permutations=200, seed=args.seed)
    reached = {}  # supervised mixture: the share of test codes whose nearest component is their label's
    if args.supervised and args.prior == "mixture":
        reached["codes_in_label_component"] = float(np.mean(nearest_component(codes, num_classes) == test.labels))
        print(f"test codes nearest their label's component: {reached['codes_in_label_component']:.1%}")
    results = judge.report(run.out, history, model="aae", dataset=train.name, latent_dim=args.latent_dim,
                           batch_size=run.batch_size, train_images=len(train),
                           train_seconds=round(time.perf_counter() - start, 1),
                           test_reconstruction_mse=metrics.mse(reconstructions, x_test),
                           code_mean=codes.mean(axis=0).tolist(), code_std=codes.std(axis=0).tolist(),
                           prior=args.prior, supervised=args.supervised,
                           codes_vs_prior_mmd2=match.mmd2, codes_vs_prior_p_value=match.p_value,
                           codes_match_prior=bool(match.p_value > MATCH_LEVEL), match_level=MATCH_LEVEL,
                           prior_vs_prior_mmd2=reference.mmd2, prior_vs_prior_p_value=reference.p_value,
                           mmd_sample_size=n, adversarial_rate=args.adversarial_rate,
                           posterior=args.posterior, encoder=args.encoder,
                           reconstruction_rate=args.reconstruction_rate,
                           reconstruction_loss=args.reconstruction, **reached)
    print(f"test reconstruction MSE {results['test_reconstruction_mse']:.4f}; test codes: mean "
          f"{np.round(results['code_mean'], 2).tolist()}, std {np.round(results['code_std'], 2).tolist()}; "
          f"{n} codes vs as many prior draws: MMD² {match.mmd2:.4f}, permutation p = {match.p_value:.3f} "
          f"(two sets of prior draws: MMD² {reference.mmd2:.4f}, p = {reference.p_value:.3f}): the codes "
          + ("cannot be told from the prior" if results["codes_match_prior"] else
             f"are told apart from the prior at {MATCH_LEVEL:.0%}"))

    gan_recipe.figures(history, judge, run.out, f"AAE: dec(z), z ~ {prior_name}")
    plots.image_rows([x_test[:10], reconstructions[:10]], ["test", "decoded"], run.out / "reconstructions.png",
                     f"AAE reconstructions, test MSE {results['test_reconstruction_mse']:.4f}")
    if args.latent_dim == 2:
        plots.latent_scatters([("enc(x) of the test images", codes, test.labels), (f"z ~ {prior_name}", prior, labels)],
                              None, run.out / "latent_space.png", test.class_names,
                              f"AAE codes, pushed by the discriminator towards {prior_name}")

    if run.export_dir is not None:
        # The decoder's record: which z it expects and how the score above drew them, so that
        # `python -m gen_keras.evaluate` re-scores it.
        decoder_record = {"prior": "normal" if args.prior == "gaussian" else args.prior,
                          **({"supervised": True, "num_classes": num_classes} if args.supervised else {})}
        if "fid" in results:
            decoder_record = evaluation.export_record(results, seed=args.seed, **decoder_record)
        shape = test.images.shape[1:]
        export.export_parts(run.export_dir, RECIPE, [
            ("encoder", aae.encoder, {"image": shape}, "code"),
            ("decoder", aae.decoder, {"z": (args.latent_dim,)}, "image"),
            ("discriminator", aae.discriminator,
             {"code": (args.latent_dim,), **({"label": tf.TensorSpec([None], tf.int32)} if args.supervised else {})},
             "logit"),
        ], metadata={"decoder": {"dataset": args.dataset, "evaluation": {"serving_default": decoder_record}}})
    return results


if __name__ == "__main__":
    cli.run(main)
