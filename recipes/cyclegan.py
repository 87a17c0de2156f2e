"""CycleGAN (Zhu et al., 2017): translation between two domains from unpaired images, sandals ↔ sneakers.

The lecture: with no pairs (x, y) to learn from, learn two maps G: X → Y and F: Y → X, each with its own
discriminator (least-squares GAN loss), and tie them together with the cycle-consistency loss
F(G(x)) ≈ x, G(F(y)) ≈ y:
    L = L_GAN(G, D_Y) + L_GAN(F, D_X) + λ(‖F(G(x)) − x‖₁ + ‖G(F(y)) − y‖₁) + λ_id(‖G(y) − y‖₁ + ‖F(x) − x‖₁),
λ = 10, λ_id = λ/2 (the identity loss keeps a translator from changing what is already in its target domain).

Why sandals ↔ sneakers: both are low shoes drawn side-on with the toe to the left, so their outlines nearly
match; they differ in texture (open straps against a closed upper with laces and a sole line). CycleGAN
changes texture far more easily than shape (the paper's failure cases are shape changes, e.g. dog → cat), and
the instrument tells the two classes apart reliably, so "G(x) is called a sneaker" is a meaningful test.
(Ankle boots would ask for a change of shape.) Some change of outline is still needed (a flip-flop has no
upper), so the discriminators downsample twice and judge 26×26 windows, nearly the whole shoe: with 12×12
windows (`--discriminator-downsamplings 1`) G kept the sandal's outline and 29.6% of G(x) were called sneakers
after the default's 30 epochs; with 26×26, 82.1% (docs/results/translation.md). Measured on held-out images:
the share of G(x) the instrument calls a sneaker and of F(y) a sandal, the cycle errors, the FID and KID of
G(X) against real sneakers (and of F(Y) against real sandals), beside those of the untranslated sandals (where
G starts) and of training sneakers (a perfect G).

The lecture's code: `gen_keras/models/translation.py: CycleGAN` (its `train_step`), `cycle_loss`;
`gen_keras/models/translation_networks.py: resnet_generator`, `patch_discriminator`;
`gen_keras/models/translation_tasks.py: stack_domains`.

    python recipes/cyclegan.py --quick     # a short try-out: 1 epoch on the shoes among 2,048 images
    python recipes/cyclegan.py             # 30 epochs on the 6,000 sandals and 6,000 sneakers
"""

from __future__ import annotations

from gen_keras import cli

RECIPE = "cyclegan"
DEFAULT_EPOCHS = 30
SANDAL, SNEAKER = 5, 7  # Fashion-MNIST's classes: X and Y


def parse(argv=None):
    parser = cli.recipe_parser(__doc__.split("\n\n")[0], epochs=DEFAULT_EPOCHS, batch_size=64)
    g = parser.add_argument_group("CycleGAN")
    g.add_argument("--cycle-weight", type=cli.non_negative_float, default=10.0, help="λ, the cycle loss's weight")
    g.add_argument("--identity-weight", type=cli.non_negative_float, default=5.0,
                   help="λ_id, the identity loss's weight (the paper's λ/2)")
    g.add_argument("--learning-rate", type=cli.positive_float, default=2e-4,
                   help="Adam's step (β1 = 0.5) for the translators and discriminators at the default batch")
    g.add_argument("--filters", type=cli.positive_int, default=16,
                   help="the translators' channels at 28x28 (doubled at 14x14); the discriminators have twice as many")
    g.add_argument("--discriminator-downsamplings", type=int, choices=(1, 2), default=2,
                   help="stride-2 convolutions in each discriminator: 1 judges 12x12 patches (texture), 2 judges "
                        "26x26 patches (nearly the whole shoe: its outline too)")
    cli.add_sample_quality_flags(parser, samples_help="translated test images of each domain (at most 1,000 each)")
    args = cli.parse_args(parser, argv, RECIPE)
    if args.dataset != "fashion_mnist":
        parser.error("--dataset: this recipe translates Fashion-MNIST's sandals and sneakers; use fashion_mnist")
    return args


def main(argv=None):
    args = parse(argv)
    import dataclasses

    import numpy as np

    from gen_keras import evaluation, gan_recipe, training, translation_recipe
    from gen_keras.figures import translation as figures
    from gen_keras.models.translation import CycleGAN
    from gen_keras.models.translation_networks import patch_discriminator, resnet_generator
    from gen_keras.models.translation_tasks import stack_domains

    run = training.setup(args)
    train, test = gan_recipe.load_data(args.dataset, args.limit, image_size=args.image_size, channels=args.channels)
    x_train, y_train = train.images[train.labels == SANDAL], train.images[train.labels == SNEAKER]
    pairs = stack_domains(x_train, y_train, seed=args.seed)  # arbitrary pairs: no loss joins them
    shoes = dataclasses.replace(train, images=pairs, labels=np.zeros(len(pairs), np.int64))
    print(f"X: {len(x_train)} sandals, Y: {len(y_train)} sneakers, unpaired; batch {run.batch_size}")

    lr = args.learning_rate * run.learning_rate_scale
    with run.strategy.scope():
        cyclegan = CycleGAN(resnet_generator(filters=args.filters, name="G"),
                            resnet_generator(filters=args.filters, name="F"),
                            patch_discriminator(filters=2 * args.filters, conditional=False, batch_norm=False,
                                                downsamplings=args.discriminator_downsamplings),
                            patch_discriminator(filters=2 * args.filters, conditional=False, batch_norm=False,
                                                downsamplings=args.discriminator_downsamplings),
                            cycle_weight=args.cycle_weight, identity_weight=args.identity_weight)
        cyclegan.compile(g_optimizer=gan_recipe.adam(lr), d_optimizer=gan_recipe.adam(lr), **run.compile_options())
    cyclegan.g.summary()
    histories, facts = translation_recipe.train_each({"cyclegan": cyclegan}, shoes, run, args.epochs)

    # Held-out shoes: G(x) against real sneakers, F(y) against real sandals, and the round trips.
    x_test, y_test = test.as_float()[test.labels == SANDAL], test.as_float()[test.labels == SNEAKER]
    n = min(args.fid_samples, len(x_test), len(y_test))
    x_test, y_test = x_test[:n], y_test[:n]
    classifier = evaluation.load_classifier(args.dataset, retrain=args.retrain_classifier)
    g_x, f_y = translation_recipe.translate(cyclegan.g, x_test), translation_recipe.translate(cyclegan.f, y_test)
    f_g_x, g_f_y = translation_recipe.translate(cyclegan.f, g_x), translation_recipe.translate(cyclegan.g, f_y)
    sandals, sneakers = (evaluation.Reference(evaluation.features(classifier, images), args.dataset, split)
                         for images, split in ((x_test, "test sandals"), (y_test, "test sneakers")))
    g_results = translation_recipe.measure(g_x, classifier=classifier, labels=np.full(n, SNEAKER), reference=sneakers)
    f_results = translation_recipe.measure(f_y, classifier=classifier, labels=np.full(n, SANDAL), reference=sandals)
    # the scale: untranslated sandals against sneakers (where G starts), training against test sneakers (a perfect G)
    start = evaluation.score(x_test, classifier=classifier, reference=sneakers, floor=False)
    perfect = evaluation.score(train.as_float()[train.labels == SNEAKER][:n], classifier=classifier, reference=sneakers,
                               floor=False)
    results = {
        "model": RECIPE, "dataset": train.name, "epochs": args.epochs, "batch_size": run.batch_size,
        "x_class": SANDAL, "y_class": SNEAKER, "train_x": len(x_train), "train_y": len(y_train), "test_images": n,
        "cycle_weight": args.cycle_weight, "identity_weight": args.identity_weight,
        "discriminator_downsamplings": args.discriminator_downsamplings, **facts["cyclegan"],
        "g_x_called_y": g_results["class_agreement"], "f_y_called_x": f_results["class_agreement"],
        "real_x_called_x": float((evaluation.predict_classes(classifier, x_test) == SANDAL).mean()),
        "real_y_called_y": float((evaluation.predict_classes(classifier, y_test) == SNEAKER).mean()),
        "cycle_error_x": float(np.mean(np.abs(f_g_x - x_test))),
        "cycle_error_y": float(np.mean(np.abs(g_f_y - y_test))),
        "fid_g_x_vs_real_y": g_results["fid"], "kid_g_x_vs_real_y": g_results["kid"],
        "fid_f_y_vs_real_x": f_results["fid"], "kid_f_y_vs_real_x": f_results["kid"],
        "fid_x_vs_real_y": start["fid"], "kid_x_vs_real_y": start["kid"],
        "fid_train_y_vs_real_y": perfect["fid"], "kid_train_y_vs_real_y": perfect["kid"],
        "classifier": classifier.source, "classifier_sha256": classifier.sha256,
    }
    print(f"G(x) called a sneaker: {results['g_x_called_y']:.0%}, F(y) called a sandal: {results['f_y_called_x']:.0%}; "
          f"cycle error |F(G(x)) − x| {results['cycle_error_x']:.4f}, |G(F(y)) − y| {results['cycle_error_y']:.4f}; "
          f"G(X) vs sneakers: FID {results['fid_g_x_vs_real_y']:.2f}, KID {results['kid_g_x_vs_real_y']:.4f} "
          f"(sandals themselves: FID {results['fid_x_vs_real_y']:.2f}, KID {results['kid_x_vs_real_y']:.4f})")
    translation_recipe.write_metrics(run.out, results)

    figures.translation_rows(x_test, {"G(x)": g_x, "F(G(x))": f_g_x}, None, run.out / "sandals_to_sneakers.png",
                             "X → Y: held-out sandals, G(x) and the round trip", input_title="x (sandal)")
    figures.translation_rows(y_test, {"F(y)": f_y, "G(F(y))": g_f_y}, None, run.out / "sneakers_to_sandals.png",
                             "Y → X: held-out sneakers, F(y) and the round trip", input_title="y (sneaker)")
    figures.loss_curves({"CycleGAN": histories["cyclegan"]},
                        ("g_adversarial", "f_adversarial", "cycle", "identity", "d_x_loss", "d_y_loss"),
                        run.out / "losses.png", "CycleGAN's losses")

    def score(measured, source, target):  # the numbers above and their inputs, for `python -m gen_keras.evaluate`
        return translation_recipe.translation_record(measured, classifier.sha256, inputs="class",
                                                     source_class=source, target_class=target)

    domains = {"x_class": SANDAL, "y_class": SNEAKER}
    translation_recipe.export_translator(cyclegan.g, run.export_dir, RECIPE, "g_sandal_to_sneaker",
                                         "G: a sandal redrawn as a sneaker", domains, score(g_results, SANDAL, SNEAKER))
    translation_recipe.export_translator(cyclegan.f, run.export_dir, RECIPE, "f_sneaker_to_sandal",
                                         "F: a sneaker redrawn as a sandal", domains, score(f_results, SNEAKER, SANDAL))
    return results


if __name__ == "__main__":
    cli.run(main)
