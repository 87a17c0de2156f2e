"""Pix2Pix (Isola et al., 2017): image-to-image translation with a conditional GAN, edges → garment.

The lecture: Pix2Pix is "an extension of CGAN" whose condition is an image x and whose output is an image y.
G is a U-Net (an encoder–decoder with skip connections, so detail on the input reaches the output
directly); D is a PatchGAN that judges (x, y) pairs patch by patch; and the loss adds an L1 term,
    G* = arg min_G max_D L_cGAN(G, D) + λ E‖y − G(x)‖₁,   λ = 100,
with dropout as G's only noise. L1 alone already gets the layout right but blurs (it predicts the median
of the plausible garments); the adversarial term buys sharpness. Every run trains both on the same data,
the U-Net with L1 alone and Pix2Pix, and measures both: L1 to the target, FID and KID against real test
images, and the share of outputs the instrument gives the source garment's class.

The paired task, like the paper's edges → shoes: the Sobel edges of each Fashion-MNIST image
(`gen_keras.models.translation_tasks.SobelEdges`) → the image.

The lecture's code: `gen_keras/models/translation.py: ImageTranslator` (its `train_step`);
`gen_keras/models/translation_networks.py: unet_generator`, `patch_discriminator`;
`gen_keras/models/translation_tasks.py: SobelEdges`.

    python recipes/pix2pix.py --quick     # a short try-out: 1 epoch on 2,048 images
    python recipes/pix2pix.py             # both networks, 12 epochs each
"""

from __future__ import annotations

from gen_keras import cli

RECIPE = "pix2pix"
DEFAULT_EPOCHS = 12


def parse(argv=None):
    parser = cli.recipe_parser(__doc__.split("\n\n")[0], epochs=DEFAULT_EPOCHS)
    g = parser.add_argument_group("Pix2Pix")
    g.add_argument("--l1-weight", type=cli.positive_float, default=100.0, help="λ, the L1 term's weight")
    g.add_argument("--learning-rate", type=cli.positive_float, default=2e-4,
                   help="Adam's step (β1 = 0.5) for G and D at the default batch")
    g.add_argument("--filters", type=cli.positive_int, default=16,
                   help="channels of the U-Net's first layer (doubled at 14x14 and 7x7); "
                        "the PatchGAN has twice as many")
    cli.add_sample_quality_flags(parser, samples_help="translated test images")
    return cli.parse_args(parser, argv, RECIPE)


def main(argv=None):
    args = parse(argv)
    from gen_keras import gan_recipe, training, translation_recipe
    from gen_keras.figures import translation as figures
    from gen_keras.models.translation import ImageTranslator
    from gen_keras.models.translation_networks import patch_discriminator, unet_generator
    from gen_keras.models.translation_tasks import SobelEdges

    run = training.setup(args)
    train, test = gan_recipe.load_data(args.dataset, args.limit, image_size=args.image_size, channels=args.channels)
    print(f"{train.name}: {len(train)} training garments, their Sobel edges as inputs; batch {run.batch_size}")

    # Pix2Pix: min_G max_D L_cGAN(G, D) + λ‖y − G(x)‖₁; the same U-Net with λ‖y − G(x)‖₁ alone beside it.
    lr = args.learning_rate * run.learning_rate_scale
    with run.strategy.scope():
        l1_only = ImageTranslator(unet_generator(filters=args.filters), SobelEdges(), content_loss="l1",
                                  content_weight=args.l1_weight, adversarial_weight=0.0, name="l1_only")
        pix2pix = ImageTranslator(unet_generator(filters=args.filters), SobelEdges(),
                                  patch_discriminator(filters=2 * args.filters),
                                  conditional=True, content_loss="l1", content_weight=args.l1_weight,
                                  adversarial_weight=1.0, name="pix2pix")
        for model in (l1_only, pix2pix):
            model.compile(g_optimizer=gan_recipe.adam(lr), d_optimizer=gan_recipe.adam(lr), **run.compile_options())
    pix2pix.generator.summary()
    histories, facts = translation_recipe.train_each({"l1_only": l1_only, "pix2pix": pix2pix}, train, run, args.epochs)

    # Held-out garments: x = edges(y), each network's G(x) against y.
    targets = test.as_float()[:args.fid_samples]
    labels = test.labels[:args.fid_samples]
    edges = SobelEdges()(targets).numpy()
    outputs = {name: translation_recipe.translate(model.generator, edges)
               for name, model in (("l1_only", l1_only), ("pix2pix", pix2pix))}
    results = {"model": RECIPE, "dataset": train.name, "epochs": args.epochs, "batch_size": run.batch_size,
               "train_images": len(train), "l1_weight": args.l1_weight,
               **translation_recipe.measure_paired(outputs, targets=targets, labels=labels, dataset=args.dataset,
                                                   retrain_classifier=args.retrain_classifier, facts=facts)}
    translation_recipe.write_metrics(run.out, results)

    figures.translation_rows(edges, {"L1 alone": outputs["l1_only"], "Pix2Pix": outputs["pix2pix"]}, targets,
                             run.out / "translations.png", "edges → garment: held-out test images",
                             input_title="edges", target_title="garment")
    figures.loss_curves(histories, ("content", "g_adversarial", "d_loss"), run.out / "losses.png",
                        "Pix2Pix and L1 alone: L1 term, −log D(x, G(x)), D's loss")

    def score(name):  # the numbers above and how their inputs were made, for `python -m gen_keras.evaluate`
        return translation_recipe.translation_record(results[name], results["classifier_sha256"], inputs="sobel_edges")

    edges_input = {"input": "Sobel edges, SobelEdges(scale=2.0)"}
    translation_recipe.export_translator(pix2pix.generator, run.export_dir, RECIPE, "generator",
                                         "Pix2Pix: a garment drawn from its Sobel edges", edges_input, score("pix2pix"))
    translation_recipe.export_translator(l1_only.generator, run.export_dir, RECIPE, "l1_only",
                                         "the same U-Net trained with L1 alone: a garment from its Sobel edges",
                                         edges_input, score("l1_only"))
    return results


if __name__ == "__main__":
    cli.run(main)
