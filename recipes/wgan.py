"""Wasserstein GAN (Arjovsky et al., 2017) with weight clipping, or WGAN-GP (Gulrajani et al., 2017).

The lecture: replace the Jensen–Shannon divergence by the earth mover's distance, in its dual form
    W(p_data, p_g) = max_{‖f‖_L ≤ 1} E_x [f(x)] − E_z [f(G(z))],
estimated by a critic f (no sigmoid) trained n_critic times per generator step; G minimises −E f(G(z)).
f must stay 1-Lipschitz: clip every critic weight to [−c, c] (RMSProp, lr 5e-5, c = 0.01, n_critic = 5), or
add the gradient penalty λ E_x̂ (‖∇f(x̂)‖ − 1)², x̂ = ε x + (1 − ε) G(z), ε ~ U[0, 1] (λ = 10, no batch norm in
the critic; here Adam 2e-4, β = (0.5, 0.9), n_critic = 3, where the paper used 1e-4, (0, 0.9), 5). Unlike a GAN's losses, the critic's estimate of W falls as the
samples improve: compare it with the FID per epoch in gan_curves.png.

The lecture's code: `gen_keras/models/gan.py: WGAN` (critic loss, clipping, `gp_weight`) on `GAN.train_step`,
and `gen_keras/losses.py: wasserstein_critic_loss, gradient_penalty`.

    python recipes/wgan.py --quick                      # a short try-out: 1 epoch on 2,048 images
    python recipes/wgan.py                              # weight clipping, n_critic = 5
    python recipes/wgan.py --gradient-penalty 10        # WGAN-GP: n_critic 3, Adam 2e-4, 16 epochs
"""

from __future__ import annotations

import time

from gen_keras import cli

RECIPE = "wgan"
DEFAULT_EPOCHS = 20     # weight clipping: 3,740 generator steps at n_critic 5
GP_DEFAULT_EPOCHS = 16  # WGAN-GP: 4,992 generator steps at n_critic 3


def parse(argv=None):
    parser = cli.recipe_parser(__doc__.split("\n\n")[0], epochs=None, batch_size=64)
    parser.epilog = (f"default --epochs: {DEFAULT_EPOCHS} with clipping, {GP_DEFAULT_EPOCHS} with "
                     "--gradient-penalty")
    g = cli.add_gan_flags(parser, learning_rate=None, latent_dim=64,
                             learning_rate_help="; default 5e-5 (RMSProp) with clipping, 2e-4 (Adam, "
                                                               "β = (0.5, 0.9)) with --gradient-penalty")
    g.add_argument("--k", "--n-critic", dest="k", type=cli.positive_int, default=None,
                   help="critic steps per generator step (the WGAN paper's n_critic), each on its own minibatch; "
                        "default 5 with clipping, 3 with --gradient-penalty")
    g.add_argument("--clip", type=cli.positive_float, default=0.01,
                   help="weight clipping: every critic weight kept in [-c, c] (ignored with --gradient-penalty)")
    g.add_argument("--gradient-penalty", type=cli.non_negative_float, default=0.0,
                   help="WGAN-GP's λ (10 in the paper); 0 = weight clipping")
    args = cli.parse_args(parser, argv, RECIPE)
    gp = args.gradient_penalty > 0
    if args.learning_rate is None:
        args.learning_rate = 2e-4 if gp else 5e-5
    if args.k is None:
        args.k = 3 if gp else 5
    if args.epochs is None:
        args.epochs = GP_DEFAULT_EPOCHS if gp else DEFAULT_EPOCHS
    return args


def main(argv=None):
    args = parse(argv)
    import keras

    from gen_keras import evaluation, gan_recipe, inference, training
    from gen_keras.models.gan import dcgan_discriminator, dcgan_generator
    from gen_keras.models.wgan import WGAN

    # Each of the k critic steps takes its own minibatch of m = --batch-size real images.
    run = gan_recipe.with_minibatches(training.setup(args), args.k)
    train, test = gan_recipe.load_data(args.dataset, args.limit, image_size=args.image_size,
                                       channels=args.channels, dcgan_shapes=True)
    shape = train.images.shape[1:]
    gp = args.gradient_penalty > 0
    variant = f"WGAN-GP, λ = {args.gradient_penalty:g}" if gp else f"WGAN, clip {args.clip:g}"
    print(f"{train.name}: {len(train)} training images (from {train.source}); minibatch "
          f"{run.batch_size // args.k}, k = {args.k} critic steps per generator step; {variant}")

    lr = args.learning_rate * run.learning_rate_scale
    def optimizer():  # noqa: E306
        return keras.optimizers.Adam(lr, beta_1=0.5, beta_2=0.9) if gp else keras.optimizers.RMSprop(lr)

    with run.strategy.scope():
        # The DCGAN networks; the critic's output is a score f(x), not a probability.
        wgan = WGAN(dcgan_generator(args.latent_dim, image_shape=shape),
                    dcgan_discriminator(shape, batch_norm=not gp), seed=args.seed)
        wgan.compile(d_optimizer=optimizer(), g_optimizer=optimizer(), k=args.k,
                     clip=None if gp else args.clip, gp_weight=args.gradient_penalty,
                     **run.compile_options())
    wgan.summary(expand_nested=True)

    classifier, not_scored = evaluation.classifier_for(args.dataset, retrain=args.retrain_classifier,
                                                       image_size=args.image_size, channels=args.channels)
    z = gan_recipe.fixed_latents(gan_recipe.samples_to_score(args.fid_samples, test), args.latent_dim, args.seed)
    judge = evaluation.Judge(lambda z: wgan.generator(z, training=False), z, classifier=classifier, test=test,
                             fid_every=args.fid_every, not_scored=not_scored)
    start = time.perf_counter()
    history = training.fit(wgan, train, None, run, args.epochs, targets=None, monitor=None,
                           callbacks=gan_recipe.callbacks(judge, run.out, variant))
    train_seconds = round(time.perf_counter() - start, 1)
    # see recipes/dcgan.py
    recalibrated = inference.recalibrate_batch_norm(
        wgan.generator, gan_recipe.fixed_latents(len(z), args.latent_dim, args.seed + 1))
    results = judge.report(run.out, history, model="wgan_gp" if gp else "wgan", dataset=train.name,
                           k=args.k, clip=None if gp else args.clip,
                           gp_weight=args.gradient_penalty, batch_size=run.batch_size // args.k,
                           train_images=len(train), train_seconds=train_seconds,
                           batch_norm_layers_recalibrated=recalibrated)

    gan_recipe.figures(history, judge, run.out, variant, critic=True)
    gan_recipe.export(wgan, run.export_dir, RECIPE, dataset=args.dataset, scores=results,
                      seed=args.seed)
    return results


if __name__ == "__main__":
    cli.run(main)
