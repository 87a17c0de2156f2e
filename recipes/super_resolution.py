"""Super-resolution, P(high-res | low-res): SRGAN-style (Ledig et al., 2017) beside bicubic upsampling and
the same network trained on the content loss alone.

The lecture: a conditional model of the high-resolution image given the low-resolution one. Trained on
the pixel loss alone, G predicts the mean of the plausible images, E[y | x], which is blurred; SRGAN adds an
adversarial term that pushes G(x) onto the manifold of real images:
    L_G = ‖y − G(x)‖² + w · (−log D(G(x))),   w = 1e-3 (--adversarial-weight),
trading a little PSNR (which the mean maximises) for sharper, more realistic images (lower FID). The
low-resolution input is the mean of each 4×4 block (7×7 from 28×28; --scale 2 for 14×14).
Measured on held-out images: L1, PSNR, FID, KID and the share the instrument gives the right class, for bicubic,
the content-loss network and the adversarial one.

The lecture's code: `gen_keras/models/translation.py: ImageTranslator` (content + adversarial
`train_step`); `gen_keras/models/translation_networks.py: super_resolution_generator`, `bicubic_upsampler`;
`gen_keras/models/translation_tasks.py: low_resolution`; D is `gen_keras/models/gan.py: dcgan_discriminator`.

    python recipes/super_resolution.py --quick     # a short try-out: 1 epoch on 2,048 images
    python recipes/super_resolution.py             # 4x: both networks, 10 epochs each
"""

from __future__ import annotations

from gen_keras import cli

RECIPE = "super_resolution"
DEFAULT_EPOCHS = 10


def parse(argv=None):
    parser = cli.recipe_parser(__doc__.split("\n\n")[0], epochs=DEFAULT_EPOCHS)
    g = parser.add_argument_group("super-resolution")
    g.add_argument("--scale", type=int, choices=(2, 4), default=4, help="the upsampling factor: 4 (7x7 → 28x28) or 2")
    g.add_argument("--adversarial-weight", type=cli.positive_float, default=1e-3,
                   help="w, the adversarial term's weight beside the pixel MSE (SRGAN's 1e-3); larger: sharper, "
                        "lower PSNR")
    g.add_argument("--learning-rate", type=cli.positive_float, default=2e-4,
                   help="Adam's step (β1 = 0.5) for G and D at the default batch")
    g.add_argument("--filters", type=cli.positive_int, default=32,
                   help="channels of the generator's convolutions (and of D's first layer)")
    g.add_argument("--blocks", type=cli.positive_int, default=4, help="residual blocks at the low resolution")
    cli.add_sample_quality_flags(parser, samples_help="upsampled test images")
    return cli.parse_args(parser, argv, RECIPE)


def main(argv=None):
    args = parse(argv)
    from gen_keras import gan_recipe, training, translation_recipe
    from gen_keras.figures import translation as figures
    from gen_keras.models.gan import dcgan_discriminator
    from gen_keras.models.translation import ImageTranslator
    from gen_keras.models.translation_networks import bicubic_upsampler, super_resolution_generator
    from gen_keras.models.translation_tasks import low_resolution

    run = training.setup(args)
    train, test = gan_recipe.load_data(args.dataset, args.limit, image_size=args.image_size, channels=args.channels)
    low = 28 // args.scale
    print(f"{train.name}: {len(train)} training images, {low}x{low} → 28x28 (x{args.scale}); batch {run.batch_size}")

    # The content network: min_G ‖y − G(x)‖²; SRGAN: min_G max_D ‖y − G(x)‖² + w·(−log D(G(x))).
    lr = args.learning_rate * run.learning_rate_scale

    def generator():
        return super_resolution_generator(args.scale, args.filters, args.blocks)

    with run.strategy.scope():
        content_only = ImageTranslator(generator(), low_resolution(args.scale), content_loss="mse",
                                       content_weight=1.0, adversarial_weight=0.0, name="content_only")
        srgan = ImageTranslator(generator(), low_resolution(args.scale), dcgan_discriminator(filters=args.filters),
                                conditional=False, content_loss="mse", content_weight=1.0,
                                adversarial_weight=args.adversarial_weight, name="srgan")
        for model in (content_only, srgan):
            model.compile(g_optimizer=gan_recipe.adam(lr), d_optimizer=gan_recipe.adam(lr), **run.compile_options())
    srgan.generator.summary()
    histories, facts = translation_recipe.train_each({"content_only": content_only, "srgan": srgan}, train, run,
                                                     args.epochs)

    # Held-out images: x = the block means of y; bicubic(x), the two networks' G(x), against y.
    targets = test.as_float()[:args.fid_samples]
    labels = test.labels[:args.fid_samples]
    inputs = low_resolution(args.scale)(targets).numpy()
    upsamplers = {"bicubic": bicubic_upsampler(args.scale, inputs.shape[1:]), "content_only": content_only.generator,
                  "srgan": srgan.generator}
    outputs = {name: translation_recipe.translate(model, inputs) for name, model in upsamplers.items()}
    results = {"model": RECIPE, "dataset": train.name, "scale": args.scale, "epochs": args.epochs,
               "batch_size": run.batch_size, "train_images": len(train), "adversarial_weight": args.adversarial_weight,
               **translation_recipe.measure_paired(outputs, targets=targets, labels=labels, dataset=args.dataset,
                                                   retrain_classifier=args.retrain_classifier, facts=facts)}
    translation_recipe.write_metrics(run.out, results)

    figures.translation_rows(inputs, {"bicubic": outputs["bicubic"], "content loss": outputs["content_only"],
                                      "SRGAN": outputs["srgan"]}, targets, run.out / "upsampled.png",
                             f"{low}x{low} → 28x28: held-out test images", input_title=f"{low}x{low}",
                             target_title="28x28")
    figures.loss_curves(histories, ("content", "g_adversarial", "d_loss"), run.out / "losses.png",
                        "super-resolution: pixel MSE, −log D(G(x)), D's loss")

    def score(name):  # the numbers above and how their inputs were made, for `python -m gen_keras.evaluate`
        return translation_recipe.translation_record(results[name], results["classifier_sha256"],
                                                     inputs="low_resolution", scale=args.scale)

    translation_recipe.export_translator(srgan.generator, run.export_dir, RECIPE, "generator",
                                         f"SRGAN: a 28x28 image from its {low}x{low} block means",
                                         metadata={"scale": args.scale, "adversarial_weight": args.adversarial_weight},
                                         score=score("srgan"))
    translation_recipe.export_translator(content_only.generator, run.export_dir, RECIPE, "content_only",
                                         f"the content-loss network: a 28x28 image from its {low}x{low} block means",
                                         metadata={"scale": args.scale}, score=score("content_only"))
    return results


if __name__ == "__main__":
    cli.run(main)
