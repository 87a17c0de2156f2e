"""DCGAN (Radford et al., 2016): the GAN game played by convolutional networks.

The lecture: the same game as the original GAN,
    min_G max_D E_x [log D(x)] + E_z [log(1 − D(G(z)))],  G trained on the non-saturating −log D(G(z)),
with the architecture rules that made it stable: strided convolutions instead of pooling (transposed in
G), batch norm in both networks but not on G's output or D's input layer, ReLU in G with tanh at the
output, LeakyReLU(0.2) in D, images scaled to [−1, 1], Adam with learning rate 2e-4 and β1 = 0.5.

The lecture's code: `gen_keras/models/gan.py: GAN.train_step` (Algorithm 1) with `dcgan_generator` and
`dcgan_discriminator`; the losses are `gen_keras/losses.py`.

    python recipes/dcgan.py --quick      # a short try-out: 1 epoch on 2,048 images
    python recipes/dcgan.py              # batch 128, the defaults below
"""

from __future__ import annotations

import time

from gen_keras import cli

RECIPE = "dcgan"
DEFAULT_EPOCHS = 11


def parse(argv=None):
    parser = cli.recipe_parser(__doc__.split("\n\n")[0], epochs=DEFAULT_EPOCHS)
    cli.add_gan_flags(parser, learning_rate=2e-4, latent_dim=64, dcgan=True)
    return cli.parse_args(parser, argv, RECIPE)


def main(argv=None):
    args = parse(argv)

    from gen_keras import evaluation, gan_recipe, inference, training
    from gen_keras.models.gan import GAN, dcgan_discriminator, dcgan_generator

    run = training.setup(args)
    train, test = gan_recipe.load_data(args.dataset, args.limit)
    print(f"{train.name}: {len(train)} training images (from {train.source}); batch {run.batch_size}")

    # G: z → Dense 7·7·128 → BN, ReLU → ConvT(64, 4, /2) → BN, ReLU → ConvT(1, 4, /2) → tanh (28×28).
    # D: Conv(64, 4, /2) → LeakyReLU → Conv(128, 4, /2) → BN → LeakyReLU → Dense(1): the logit of "real".
    lr = args.learning_rate * run.learning_rate_scale  # Adam's step, scaled with the batch
    with run.strategy.scope():
        gan = GAN(dcgan_generator(args.latent_dim, args.filters), dcgan_discriminator(), seed=args.seed)
        gan.compile(d_optimizer=gan_recipe.adam(lr), g_optimizer=gan_recipe.adam(lr),
                    generator_loss="non_saturating",
                    **run.compile_options())
    gan.summary(expand_nested=True)

    classifier = evaluation.load_classifier(args.dataset, retrain=args.retrain_classifier)
    z = gan_recipe.fixed_latents(args.fid_samples, args.latent_dim, args.seed)
    judge = evaluation.Judge(lambda z: gan.generator(z, training=False), z, classifier=classifier, test=test,
                             fid_every=args.fid_every)
    start = time.perf_counter()
    history = training.fit(gan, train, None, run, args.epochs, targets=None, monitor=None,
                           callbacks=gan_recipe.callbacks(judge, run.out, "DCGAN"))
    train_seconds = round(time.perf_counter() - start, 1)

    # Served and scored in inference mode: G's batch norm then uses moving averages (momentum 0.99) of
    # statistics of past weights; set them to the current generator's average over fresh z instead.
    recalibrated = inference.recalibrate_batch_norm(
        gan.generator, gan_recipe.fixed_latents(args.fid_samples, args.latent_dim, args.seed + 1))
    results = judge.report(run.out, history, model="dcgan", dataset=train.name, batch_size=run.batch_size,
                           train_images=len(train), train_seconds=train_seconds,
                           generator_parameters=gan.generator.count_params(),
                           batch_norm_layers_recalibrated=recalibrated)

    gan_recipe.figures(history, judge, run.out, "DCGAN")
    # Walking in z: G along slerp paths between pairs of fixed z (a smooth change, not a jump, says the
    # generator has not memorised isolated images).
    gan_recipe.interpolation_figure(lambda z: gan.generator(z, training=False), judge.latents,
                                    run.out / "interpolation.png", "DCGAN: G(z) along slerp paths between two z")
    gan_recipe.export(gan, run.export_dir, RECIPE, dataset=args.dataset, scores=results,
                      seed=args.seed)
    return results


if __name__ == "__main__":
    cli.run(main)
