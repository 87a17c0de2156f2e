"""Transfer learning: does unsupervised pre-training pay off when labels are few?

The lecture: an encoder f trained without labels (the conv autoencoder's code f(x), the VAE's mean μ(x))
has learned features from the images alone; put a small head on it,
    p(y | x) = softmax(W₂ relu(W₁ f(x) + b₁) + b₂),
and train on n labels: (a) f frozen, only the head learns; (b) then f and the head end to end, at a
10× lower learning rate so the pre-trained weights are adjusted, not overwritten; (c) the same network
from random weights ("scratch"). The claim is that (a) and (b) beat (c) when n is small; what this
recipe found is in docs/results/transfer.md.

The code: `gen_keras/transfer.py: load_encoder, classifier_on_encoder, fit_classifier`.

    python recipes/conv_autoencoder.py --model improved && python recipes/vae.py --latent-dim 16
    python recipes/transfer_learning.py                     # the exported encoders, 100 / 1,000 / all labels
    python recipes/transfer_learning.py --pretrain --quick  # standalone: pre-trains both briefly first
    python recipes/transfer_learning.py --load savedmodel   # the SavedModels through keras.layers.TFSMLayer
"""

from __future__ import annotations

import json
import time

from gen_keras import cli

RECIPE = "transfer_learning"
# Which output of each recipe's exported encoder is the feature vector.
ENCODERS = {"conv_autoencoder": "code", "vae": "mean"}
NAMES = {"conv_autoencoder": "conv autoencoder", "vae": "VAE"}
QUICK = {"seeds": 1, "max_steps": 100, "label_counts": [100, 1000]}


def label_count(text: str) -> int:
    """argparse type: a positive number of labels, or `all` (0 here)."""
    return 0 if text == "all" else cli.positive_int(text)


def parse(argv=None):
    parser = cli.recipe_parser(__doc__.split("\n\n")[0], epochs=3)
    g = parser.add_argument_group("transfer learning")
    g.add_argument("--encoder-dir", default=None,
                   help="where the encoders are exported (<dir>/<recipe>/encoder/<version>/, the latest "
                        "version is used); default: --export-dir")
    g.add_argument("--encoders", nargs="+", choices=sorted(ENCODERS), default=list(ENCODERS),
                   help="the pre-trained encoders to reuse")
    g.add_argument("--load", choices=("keras", "savedmodel"), default="keras",
                   help="keras: the .keras file (keras.saving.load_model); savedmodel: the SavedModel "
                        "through keras.layers.TFSMLayer. Scratch always takes the .keras architecture")
    g.add_argument("--label-counts", nargs="+", type=label_count, default=None,
                   help="labelled training examples (class-balanced, a fifth of them validate); 'all' = "
                        "the whole training split. Default: 100 1000 all (--quick: 100 1000)")
    g.add_argument("--seeds", type=cli.positive_int, default=None,
                   help="runs averaged per cell, seeds --seed, --seed+1, ... (each draws its own labels); "
                        "default 3 (--quick: 1)")
    g.add_argument("--max-steps", type=cli.positive_int, default=None,
                   help="optimizer steps per training at most (default 400, --quick 100); early stopping "
                        "on the validation loss, checked every 50 steps, usually ends it sooner")
    g.add_argument("--learning-rate", type=cli.positive_float, default=1e-3,
                   help="Adam's rate for the head and for scratch; fine-tuning uses a tenth of it")
    g.add_argument("--head-units", type=cli.positive_int, default=128, help="hidden units of the head")
    g.add_argument("--pretrain", action="store_true",
                   help="first pre-train a conv autoencoder (--model improved) and a VAE (16-d latent) for "
                        "--epochs epochs on the training images and export them into --encoder-dir")
    args = cli.parse_args(parser, argv, RECIPE)
    args.encoder_dir = args.encoder_dir or args.export_dir
    for key, quick_value in QUICK.items():
        if getattr(args, key) is None:
            setattr(args, key, quick_value if args.quick else {"seeds": 3, "max_steps": 400,
                                                               "label_counts": [100, 1000, 0]}[key])
    args.label_counts = sorted(set(args.label_counts), key=lambda n: n or float("inf"))
    return args


def pretrain(args, run, images) -> dict:
    """Unsupervised pre-training through the library: the conv autoencoder on ‖x − g(f(x))‖², the VAE on
    −ELBO; each encoder is exported as the next version in --encoder-dir. Returns seconds per encoder."""
    import dataclasses

    import keras

    from gen_keras import data, training
    from gen_keras.serving import export
    from gen_keras.models.autoencoders import conv_autoencoder
    from gen_keras.models.vae import build_vae

    train, val = data.hold_out(images)
    seconds = {}
    for name in args.encoders:
        sub = dataclasses.replace(run, out=run.out / "pretrain" / name)
        sub.out.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        # Adam at 2e-3 decayed to 0 along a cosine, as both recipes train their default models.
        rate = keras.optimizers.schedules.CosineDecay(
            2e-3 * run.learning_rate_scale, args.epochs * training.steps_per_epoch(len(train), run))
        with run.strategy.scope():
            if name == "conv_autoencoder":
                parts = conv_autoencoder("improved")
                parts.autoencoder.compile(optimizer=keras.optimizers.Adam(rate), loss="mse")
                model, encoder, targets, outputs = parts.autoencoder, parts.encoder, "images", "code"
            else:
                model = build_vae(16, seed=args.seed)
                model.compile(optimizer=keras.optimizers.Adam(rate))
                encoder, targets, outputs = model.encoder, None, ("mean", "log_var")
        training.fit(model, train, val, sub, args.epochs, targets=targets, verbose=0)
        seconds[name] = round(time.perf_counter() - start, 1)
        path = export.export_for_serving(encoder, args.encoder_dir, name, "encoder",
                                         inputs={"image": images.images.shape[1:]}, outputs=outputs)
        print(f"pre-trained the {NAMES[name]} for {args.epochs} epochs in {seconds[name]:.0f} s: {path}")
    return seconds


def main(argv=None):
    args = parse(argv)
    import numpy as np

    from gen_keras import data, inference, training, transfer

    run = training.setup(args)
    out = run.out
    if args.pretrain and not run.is_chief:  # a multi-worker run's other workers export into their temporary folder
        args.encoder_dir = str(run.out / "saved_models")  # inside the worker's temporary `out`
    start_all = time.perf_counter()

    # Data: the training split's images are there without labels; n of its labels are "bought".
    images = data.load_images(args.dataset, "train", args.limit)
    test = data.load_images(args.dataset, "test", args.limit)
    x_all, y_all, x_test, y_test = images.images, images.labels, test.images, test.labels  # uint8 pixels
    num_classes = images.num_classes
    counts = [n or len(images) for n in args.label_counts]
    if max(counts) > len(images):
        raise data.DataError(f"--label-counts {max(counts)} is more than the {len(images)} training images")
    print(f"{images.name}: {len(images)} training images (labels used: {', '.join(map(str, counts))}), "
          f"{len(test)} test images; seeds {args.seed}..{args.seed + args.seeds - 1}")

    pretrain_seconds = pretrain(args, run, images) if args.pretrain else {}

    records, feature_checks = [], {}
    for name in args.encoders:
        hint = (f"Run `python recipes/{name}.py --export-dir {args.encoder_dir}` first, or add --pretrain "
                "to pre-train one here.")
        path = transfer.latest_export(args.encoder_dir, name, "encoder", hint)
        load = lambda: transfer.load_encoder(path, args.load, ENCODERS[name])  # noqa: E731 - fresh weights
        encoder = load()
        # Both ways of loading give the same features (the .keras layers and the SavedModel's graph).
        other = transfer.load_encoder(path, "savedmodel" if args.load == "keras" else "keras", ENCODERS[name])
        feature_checks[name] = float(np.max(np.abs(inference.predict_in_batches(encoder, x_test[:500])
                                                   - inference.predict_in_batches(other, x_test[:500]))))
        # A frozen encoder's features never change: compute them once, train the head on them.
        f_all, f_test = inference.predict_in_batches(encoder, x_all), inference.predict_in_batches(encoder, x_test)
        print(f"\n{NAMES[name]} encoder {path} ({args.load}): {f_all.shape[1]} features "
              f"('{ENCODERS[name]}'); .keras vs SavedModel features differ by at most {feature_checks[name]:.1e}")

        with run.strategy.scope():  # every classifier is built and trained on the strategy's devices
            for n in counts:
                for seed in range(args.seed, args.seed + args.seeds):
                    idx_train, idx_val = transfer.labelled_split(y_all, n, seed)
                    batch = max(1, min(run.batch_size, len(idx_train) // 8))  # at least 8 steps a pass

                    def fit(model, x, rate):  # x: the training split's images, or their features
                        return transfer.fit_classifier(
                            model, x[idx_train], y_all[idx_train], x[idx_val], y_all[idx_val], learning_rate=rate,
                            batch_size=batch, max_steps=args.max_steps, seed=seed, compile_options=run.compile_options())

                    cell = {"encoder": NAMES[name], "labels": n, "seed": seed, "train": len(idx_train),
                            "validation": len(idx_val), "batch_size": batch}

                    # (a) frozen encoder f, the head learns on f(x).
                    training.set_seed(seed)
                    pretrained = load()
                    classifier = transfer.classifier_on_encoder(pretrained, num_classes, trainable=False,
                                                                hidden=args.head_units)
                    head = classifier.get_layer("head")
                    r = fit(head, f_all, args.learning_rate)
                    acc = transfer.accuracy(head, f_test, y_test)
                    records.append({**cell, "method": "frozen + head", "test_accuracy": acc, **vars(r)})

                    # (b) fine-tuned: f and the head end to end, from (a), at a tenth of the rate.
                    pretrained.trainable = True
                    r = fit(classifier, x_all, args.learning_rate / 10)
                    acc_ft = transfer.accuracy(classifier, x_test, y_test)
                    records.append({**cell, "method": "fine-tuned", "test_accuracy": acc_ft, **vars(r)})

                    # (c) scratch: the same architecture, random weights, the same labels.
                    training.set_seed(seed)
                    scratch = transfer.classifier_on_encoder(transfer.fresh_copy(transfer.load_encoder(
                        path, "keras", ENCODERS[name])), num_classes, trainable=True, hidden=args.head_units)
                    r = fit(scratch, x_all, args.learning_rate)
                    acc_s = transfer.accuracy(scratch, x_test, y_test)
                    records.append({**cell, "method": "from scratch", "test_accuracy": acc_s, **vars(r)})
                    print(f"  {n:>6} labels, seed {seed}: frozen {acc:.3f}, fine-tuned {acc_ft:.3f}, "
                          f"scratch {acc_s:.3f}", flush=True)

    # The table (mean ± std over seeds) and the plot.
    summary = transfer.summarize(records)
    names = {len(images): f"all ({len(images):,})"}
    table = transfer.markdown_table(summary, counts, names)
    seconds = round(time.perf_counter() - start_all, 1)
    print("\nTest accuracy (%), mean ± std over seeds:\n" + table + f"\n\n{seconds:.0f} s in all")
    (out / "results.md").write_text(
        f"Test accuracy (%) on {len(test):,} {images.name} test images, mean ± std over {args.seeds} seed(s); "
        f"encoders loaded via {args.load}.\n\n{table}\n")
    results = {"dataset": images.name, "load": args.load, "seeds": args.seeds, "label_counts": counts,
               "max_steps": args.max_steps, "learning_rate": args.learning_rate, "head_units": args.head_units,
               "pretrain_seconds": pretrain_seconds, "feature_max_abs_difference": feature_checks,
               "seconds": seconds, "runs": records,
               "summary": [{"encoder": k[0], "method": k[1], "labels": k[2], **v} for k, v in summary.items()]}
    (out / "metrics.json").write_text(json.dumps(results, indent=2))
    plot(summary, counts, out / "accuracy_vs_labels.png",
         f"{images.name}: test accuracy vs labels (mean ± std over {args.seeds} seed(s))")
    print(f"results.md, metrics.json and accuracy_vs_labels.png in {out}/")
    return results


def plot(summary, counts, path, title) -> None:
    """Accuracy against the number of labels (log x): one line per encoder and method, error bars over seeds."""
    from gen_keras import plots

    plt = plots.plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = {"frozen + head": ":", "fine-tuned": "-", "from scratch": "--"}
    encoders = list(dict.fromkeys(k[0] for k in summary))
    for i, enc in enumerate(encoders):
        for method, style in styles.items():
            cells = [summary.get((enc, method, n)) for n in counts]
            if any(c is None for c in cells):
                continue
            ax.errorbar(counts, [100 * c["mean"] for c in cells], yerr=[100 * c["std"] for c in cells],
                        linestyle=style, marker="o", capsize=3, color=f"C{i}", label=f"{enc}: {method}")
    ax.set_xscale("log")
    ax.set_xlabel("labelled training examples")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(True, alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)
    plots.save_figure(fig, path)


if __name__ == "__main__":
    cli.run(main)
