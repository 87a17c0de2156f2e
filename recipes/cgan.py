"""Conditional GAN (Mirza and Osindero, 2014): a DCGAN told which class to draw.

The lecture: give both players the label y, as a one-hot vector joined to G's noise and to D's input,
    min_G max_D E_{x,y} [log D(x, y)] + E_{z,y} [log(1 − D(G(z, y), y))];
D now rejects an image that is real-looking but of the wrong class, so G(z, y) learns p(x | y). The
feature classifier then checks how often a sample is recognised as the class that was asked for.

The lecture's code: `gen_keras/models/gan.py: ConditionalGAN` (G(z, y), D(x, y)) on `GAN.train_step`, and
`dcgan_generator` / `dcgan_discriminator` with `num_classes`.

    python recipes/cgan.py --quick      # a short try-out: 1 epoch on 2,048 images
    python recipes/cgan.py              # DCGAN networks, one row of samples per class
"""

from __future__ import annotations

import time

from gen_keras import cli

RECIPE = "cgan"
DEFAULT_EPOCHS = 11


def parse(argv=None):
    parser = cli.recipe_parser(__doc__.split("\n\n")[0], epochs=DEFAULT_EPOCHS)
    cli.add_gan_flags(parser, learning_rate=2e-4, latent_dim=64, dcgan=True)
    return cli.parse_args(parser, argv, RECIPE)


def main(argv=None):
    args = parse(argv)
    import numpy as np

    from gen_keras import evaluation, gan_recipe, inference, training
    from gen_keras.models.gan import ConditionalGAN, dcgan_discriminator, dcgan_generator

    run = training.setup(args)
    train, test = gan_recipe.load_data(args.dataset, args.limit)
    k = train.num_classes
    print(f"{train.name}: {len(train)} training images in {k} classes (from {train.source}); batch {run.batch_size}")

    # G(z, y): [z, one_hot(y)] → the DCGAN generator; D(x, y): the image with one_hot(y) as 10 constant
    # channels → the DCGAN discriminator.
    lr = args.learning_rate * run.learning_rate_scale  # Adam's step, scaled with the batch
    with run.strategy.scope():
        gan = ConditionalGAN(dcgan_generator(args.latent_dim, args.filters, num_classes=k),
                             dcgan_discriminator(num_classes=k),
                             num_classes=k, seed=args.seed)
        gan.compile(d_optimizer=gan_recipe.adam(lr), g_optimizer=gan_recipe.adam(lr),
                    **run.compile_options())
    gan.summary(expand_nested=True)

    # Fixed inputs: z with the classes in turn (FID, label accuracy). The grid: row y is class y, column j
    # the same z_j under every label, so z carries what the label does not (pose, width, shade).
    z = gan_recipe.fixed_latents(args.fid_samples, args.latent_dim, args.seed)
    labels = (np.arange(len(z)) % k).astype(np.int32)
    grid = (np.tile(z[:10], (k, 1)), np.repeat(np.arange(k, dtype=np.int32), 10))
    classifier = evaluation.load_classifier(args.dataset, retrain=args.retrain_classifier)
    judge = evaluation.Judge(lambda zy: gan.generator(list(zy), training=False), (z, labels),
                             classifier=classifier, test=test, fid_every=args.fid_every)
    start = time.perf_counter()
    history = training.fit(gan, train, None, run, args.epochs, targets="labels", monitor=None,
                           callbacks=gan_recipe.callbacks(judge, run.out, "cGAN, a row per class", grid=grid))
    train_seconds = round(time.perf_counter() - start, 1)

    # Inference mode with batch-norm statistics of the final generator (see recipes/dcgan.py).
    bn_z = gan_recipe.fixed_latents(args.fid_samples, args.latent_dim, args.seed + 1)
    recalibrated = inference.recalibrate_batch_norm(gan.generator, [bn_z, labels])
    results = judge.report(run.out, history, model="cgan", dataset=train.name, batch_size=run.batch_size,
                           train_images=len(train), train_seconds=train_seconds,
                           generator_parameters=gan.generator.count_params(),
                           batch_norm_layers_recalibrated=recalibrated)
    print(f"samples recognised as the class asked for: {results['label_accuracy']:.0%}")

    gan_recipe.figures(history, judge, run.out, "cGAN: row y shows G(z, y), column j the same z_j", grid=grid,
                       curves_title="cGAN")
    gan_recipe.interpolation_figure(lambda zy: gan.generator(list(zy), training=False), z,
                                    run.out / "interpolation.png", "cGAN: G(z, y) along slerp paths, y fixed per row",
                                    condition=np.arange(5) * 2 % k)
    gan_recipe.export(gan, run.export_dir, RECIPE, label=True, dataset=args.dataset, scores=results,
                      seed=args.seed)
    return results


if __name__ == "__main__":
    cli.run(main)
