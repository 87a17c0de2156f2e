"""The original GAN (Goodfellow et al., 2014): fully connected generator and discriminator, Algorithm 1.

The lecture: a generator G maps noise z ~ N(0, I) to images, a discriminator D tells them from data;
they play the minimax game
    min_G max_D V(D, G) = E_x~p_data [log D(x)] + E_z [log(1 − D(G(z)))].
For a fixed G the best discriminator is D*(x) = p_data(x) / (p_data(x) + p_g(x)), and at D* the game's
value is −log 4 + 2 JSD(p_data ‖ p_g): G minimises a Jensen–Shannon divergence, at equilibrium D = 1/2.
Algorithm 1: k discriminator steps, then one generator step. Early on D rejects G's samples and
log(1 − D(G(z))) saturates, so in practice G maximises log D(G(z)) instead (the non-saturating loss).

The lecture's code: `gen_keras/models/gan.py: GAN.train_step` (Algorithm 1: k discriminator steps, then one
generator step) and `gen_keras/losses.py: discriminator_loss, minimax_generator_loss, non_saturating_generator_loss`.

    python recipes/gan.py --quick                            # a short try-out: 1 epoch on 2,048 images
    python recipes/gan.py                                    # non-saturating loss, k = 1
    python recipes/gan.py --generator-loss minimax --k 2     # the paper's game as written
"""

from __future__ import annotations

import time

from gen_keras import cli

RECIPE = "gan"
DEFAULT_EPOCHS = 30


def parse(argv=None):
    parser = cli.recipe_parser(__doc__.split("\n\n")[0], epochs=DEFAULT_EPOCHS)
    g = cli.add_gan_flags(parser, learning_rate=2e-4, latent_dim=64)
    g.add_argument("--k", type=cli.positive_int, default=1,
                   help="discriminator steps per generator step, each on its own minibatch (Algorithm 1)")
    g.add_argument("--generator-loss", choices=("non_saturating", "minimax"), default="non_saturating",
                   help="non_saturating: G minimises −log D(G(z)); minimax: G minimises log(1 − D(G(z)))")
    return cli.parse_args(parser, argv, RECIPE)


def main(argv=None):
    args = parse(argv)

    import numpy as np

    from gen_keras import evaluation, gan_recipe, losses, training
    from gen_keras.figures import gan as gan_figures
    from gen_keras.models.gan import GAN, mlp_discriminator, mlp_generator

    # Algorithm 1 gives each of the k discriminator steps its own minibatch of m = --batch-size real
    # images: every batch the trainer hands over holds k·m of them (an epoch: D sees each image once).
    run = gan_recipe.with_minibatches(training.setup(args), args.k)
    train, test = gan_recipe.load_data(args.dataset, args.limit)
    print(f"{train.name}: {len(train)} training images (from {train.source}); minibatch "
          f"{run.batch_size // args.k}, k = {args.k}, {args.generator_loss} generator loss")

    # Model: G: z (64-d) → 256 → 512 → 784 (tanh); D: 784 → 512 → 256 → logit, D(x) = σ(logit);
    # both trained with Adam 2e-4, β1 = 0.5 (Radford et al.'s setting for GANs).
    lr = args.learning_rate * run.learning_rate_scale  # Adam's step, scaled with the batch
    with run.strategy.scope():
        gan = GAN(mlp_generator(args.latent_dim), mlp_discriminator(), seed=args.seed)
        gan.compile(d_optimizer=gan_recipe.adam(lr), g_optimizer=gan_recipe.adam(lr), k=args.k,
                    generator_loss=args.generator_loss,
                    **run.compile_options())
    gan.summary(expand_nested=True)

    # Watch it learn: the same z every epoch; the classifier's class histogram (mode collapse) and FID.
    classifier = evaluation.load_classifier(args.dataset, retrain=args.retrain_classifier)
    z = gan_recipe.fixed_latents(args.fid_samples, args.latent_dim, args.seed)
    judge = evaluation.Judge(lambda z: gan.generator(z, training=False), z, classifier=classifier, test=test,
                             fid_every=args.fid_every)
    start = time.perf_counter()
    history = training.fit(gan, train, None, run, args.epochs, targets=None, monitor=None,
                           callbacks=gan_recipe.callbacks(judge, run.out, "GAN"))
    results = judge.report(run.out, history, model="mlp_gan", dataset=train.name, k=args.k,
                           generator_loss=args.generator_loss, batch_size=run.batch_size // args.k,
                           train_images=len(train), train_seconds=round(time.perf_counter() - start, 1),
                           generator_parameters=gan.generator.count_params())

    # Figures: samples, the curves, and the lecture's generator costs against D(G(z)) with their slopes.
    gan_recipe.figures(history, judge, run.out, f"GAN ({args.generator_loss}, k = {args.k})")
    d = np.linspace(1e-3, 1 - 1e-3, 999)
    gan_figures.generator_costs(d, losses.generator_cost_curves(d), run.out / "generator_losses.png")
    gan_recipe.export(gan, run.export_dir, RECIPE, dataset=args.dataset, scores=results,
                      seed=args.seed)
    return results


if __name__ == "__main__":
    cli.run(main)
