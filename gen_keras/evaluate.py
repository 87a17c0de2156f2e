"""Re-scores an export on the collection's instrument: `python -m gen_keras.evaluate PATH`.

PATH is a SavedModel version folder (`saved_models/dcgan/generator/3`), a part folder (its newest version is
taken), or a `.keras` file. What the export can be scored on is read from its signatures:

| signature | what is measured |
|---|---|
| a generator or decoder (`z`/`code` [+ `label`] → `image`) | FID and KID of samples against the test images, class shares |
| an autoencoder's decoder (`code` → `image`, its prior unrecorded) | the test images' reconstruction MSE through the encoder exported beside it |
| `sample` (`num_samples`, `seed`, …  → images) | the same, on the samples it draws |
| `log_prob` (image → log p(x)) | the test set's NLL in nats/image and bits/dim, prepared as the export records |
| `score` (image → anomaly score) | AUROC of its class (normal) against the other classes on the test set |
| an encoder (image → codes) | a linear probe's test accuracy on the codes |
| `translate` (image → image) | FID, KID and class agreement of held-out translations, L1 and PSNR where paired, the inputs made as the export records |

Where the export's `signatures.json` records the recipe's own numbers (`metadata.evaluation`), each one is
re-measured the same way (the same sample count, seeds and preparation) and compared: the command exits 1
when a number differs by more than its tolerance (default 5%), 2 when the path cannot be scored.

Example:

```
python -m gen_keras.evaluate saved_models/dcgan/generator/1
python -m gen_keras.evaluate saved_models/vae/decoder/1 --samples 2000 --json
python -m gen_keras.evaluate --all saved_models
```
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
from pathlib import Path

from gen_keras.errors import EvaluationError, GenKerasError
from gen_keras.serving.reader import KINDS, Export, Target, export_folders, resolve  # noqa: F401 (importable here)

DEFAULT_SAMPLES = 10_000
DEFAULT_TOLERANCE = 0.05  # relative difference allowed between a recorded number and its re-score
SAMPLE_BATCH = 500  # images a generator call or a `sample` call makes at once (at most the export's max_samples)


# --- Measurements -----------------------------------------------------------------------------------------


def _latent_input(target: Target) -> str:
    return next(k for k in target.inputs if k in ("z", "code"))


def prior_codes(record: dict, count: int, dim: int, seed: int):
    """The `count` codes a generator or decoder was judged on, drawn as its record says (numpy's
    `default_rng(seed)`, as the recipes draw them).

    - "normal" (a GAN's z, a VAE's prior): z ~ N(0, I).
    - an adversarial autoencoder's prior ("mixture", "swiss_roll", "gaussian";
      `gen_keras.models.aae.sample_prior`), with `supervised` the classes in turn picking their parts.
    - "gaussian_fit": z ~ N(`mean`, `covariance`), a Gaussian fitted to an autoencoder's training codes.

    Args:
        record: the signature's evaluation record (`prior` and its parameters).
        count: how many codes.
        dim: the code's size.
        seed: the numpy seed.

    Returns:
        float32 (count, dim).

    Raises:
        EvaluationError: a prior the record does not name, or one that cannot be drawn from it.
    """
    import numpy as np

    prior = record.get("prior")
    rng = np.random.default_rng(seed)
    if prior == "normal":
        return rng.standard_normal((count, dim)).astype(np.float32)
    if prior == "gaussian_fit" and "mean" in record and "covariance" in record:
        return rng.multivariate_normal(record["mean"], record["covariance"], size=count).astype(np.float32)
    from gen_keras.models.aae import PRIORS, sample_prior

    if prior in PRIORS:
        classes = int(record.get("num_classes", 10))
        labels = np.arange(count) % classes if record.get("supervised") else None
        return sample_prior(prior, count, dim, seed, labels, classes)
    what = f"its prior ({prior})" if prior else "a prior (an autoencoder's decoder has none)"
    raise EvaluationError(f"its inputs follow {what}, which cannot be sampled from the export alone")


def generator_images(export: Export, target: Target, count: int, seed: int):
    """`count` images from a generator or decoder export: its codes from `seed` as `prior_codes` draws them
    (z ~ N(0, I) unless its record names another prior), and, for a conditional one, the classes in turn
    (0, 1, …, K−1, 0, …), as the recipes draw them."""
    import numpy as np

    name = _latent_input(target)
    dim = target.inputs[name][1][-1]
    if dim is None or dim < 1:
        raise EvaluationError(f"{export.path}: the `{name}` input declares no size; re-export it")
    record = {"prior": "normal"} if name == "z" and "prior" not in target.record else target.record
    try:
        z = prior_codes(record, count, dim, seed)
    except EvaluationError as e:
        raise EvaluationError(f"{export.path}: nothing to score: `{name}`: {e}") from e
    labels = None
    if "label" in target.inputs:
        classes = int(target.record.get("num_classes", 10))
        labels = (np.arange(count) % classes).astype(np.int32)
    chunks = []
    for start in range(0, count, SAMPLE_BATCH):
        inputs = {name: z[start:start + SAMPLE_BATCH]}
        if labels is not None:
            inputs["label"] = labels[start:start + SAMPLE_BATCH]
        chunks.append(_image_output(export.call(target.signature, **inputs), target))
    return np.concatenate(chunks), labels


def sibling_encoder(export: Export) -> Export | None:
    """The encoder exported beside a decoder, in the layout of `saved_models/` and `pretrained/`.

    Args:
        export: a decoder's export, `<root>/<name>decoder/<v>` (a `.keras` file has no sibling here).

    Returns:
        The export at `<root>/<name>encoder/<v>`, the same version number, or None when there is none.
    """
    version = export.path
    part = version.parent
    if not version.is_dir() or "decoder" not in part.name:
        return None
    encoder = part.parent / part.name.replace("decoder", "encoder") / version.name
    return Export(encoder) if (encoder / "saved_model.pb").is_file() else None


def reconstruction_mse(export: Export, target: Target, encoder: Export, dataset: str, count: int | None) -> dict:
    """The test images' mean squared error per pixel after encoding with `encoder` and decoding with the export:
    an autoencoder's test loss, from its two exports (the decoder's outputs as they are, not clipped).

    Args:
        export: the decoder's export.
        target: its `code` → image signature.
        encoder: the encoder's export (`sibling_encoder`).
        dataset: the data set whose test images are reconstructed.
        count: the first this many test images; None: all.

    Returns:
        {"reconstruction_mse", "num_images", "encoder" (its path)}.

    Raises:
        EvaluationError: the sibling is no image encoder, its codes are not the decoder's size, or the decoder
            returns images of another shape (a decoder and encoder that do not belong together).
    """
    import numpy as np

    encoding = next((t for t in encoder.targets() if t.kind == "encoder"), None)
    if encoding is None:
        raise EvaluationError(f"{export.path}: {encoder.path} beside it is no image encoder")
    image_name = next(iter(encoding.inputs))
    code_name = next((k for k in ("code", "mean", "z") if k in encoding.outputs), next(iter(encoding.outputs)))
    code_size = (encoding.outputs[code_name][1] or [None])[-1]
    wanted = (target.inputs[_latent_input(target)][1] or [None])[-1]
    if None not in (code_size, wanted) and code_size != wanted:
        raise EvaluationError(f"{export.path}: {encoder.path} beside it makes {code_size}-d codes where the decoder "
                              f"takes {wanted}: not its encoder (were they exported by different runs?)")
    images = test_split(dataset, count).as_float()
    squared = []
    for start in range(0, len(images), SAMPLE_BATCH):
        batch = images[start:start + SAMPLE_BATCH]
        codes = encoder.call(encoding.signature, **{image_name: batch})[code_name]
        outputs = export.call(target.signature, **{_latent_input(target): codes})
        decoded = np.asarray(outputs["image"] if "image" in outputs else next(iter(outputs.values())))
        if decoded.shape != batch.shape:
            raise EvaluationError(f"{export.path}: decodes {batch.shape[1:]} test images as {decoded.shape[1:]}; "
                                  "it is not the decoder of the images it was given")
        squared.append(np.square(decoded.astype(np.float64) - batch).reshape(len(batch), -1).mean(axis=1))
    return {"reconstruction_mse": float(np.concatenate(squared).mean()), "num_images": len(images),
            "encoder": str(encoder.path)}


def sampled_images(export: Export, target: Target, count: int, seed: int, knobs: dict):
    """`count` images from a `sample` signature: batches of at most `max_samples`, batch i drawn with seed + i,
    the scalar knobs (`steps`, `eta`, `temperature`, …) from `knobs`, else the recipe's record."""
    import numpy as np

    batch = int(target.record.get("batch", min(SAMPLE_BATCH, int(export.metadata.get("max_samples", SAMPLE_BATCH)))))
    settings = {**target.record.get("inputs", {}), **{k: v for k, v in knobs.items() if v is not None}}
    extra = {k: v for k, v in settings.items() if k in target.inputs and k not in ("num_samples", "seed")}
    defaults = export.defaults.get(target.signature, {})
    missing = [k for k in target.inputs if k not in ("num_samples", "seed", "label", *extra, *defaults)]
    if missing:
        raise EvaluationError(f"{export.path}: the `{target.signature}` signature needs {', '.join(missing)}; "
                              f"give --{missing[0].replace('_', '-')}")
    chunks, i = [], 0
    for start in range(0, count, batch):
        n = min(batch, count - start)
        inputs = {"num_samples": n, "seed": seed + i, **extra}
        if "label" in target.inputs:
            inputs["label"] = i % int(target.record.get("num_classes", 10))
        chunks.append(_image_output(export.call(target.signature, **inputs), target, export.metadata))
        i += 1
    return np.concatenate(chunks)[:count]


def _image_output(outputs: dict, target: Target, metadata: dict | None = None):
    import numpy as np

    key = "image" if "image" in outputs else next(iter(outputs))
    images = np.asarray(outputs[key], np.float32)
    if images.ndim == 2:  # a flow over flattened pixels
        shape = (metadata or {}).get("image_shape") or [28, 28, 1]
        images = images.reshape((-1, *shape))
    if images.ndim != 4:
        raise EvaluationError(f"`{target.signature}` returns `{key}` of shape {images.shape}, not images")
    return np.clip(images, 0.0, 1.0)


def test_split(dataset: str, limit: int | None = None):
    """The data set's test split (`gen_keras.data.ImageArrays`)."""
    from gen_keras import data

    return data.load_images(dataset, "test", limit)


def log_prob_nll(export: Export, target: Target, dataset: str, count: int | None) -> dict:
    """The test images' mean −log p(x) in nats/image and bits/dim, prepared as the recipe recorded:
    binarized (stochastic with a seed, or thresholded), or as k / 255 for a model that places each pixel at
    the centre of its bin (a flow's `log_prob`)."""
    import numpy as np

    from gen_keras import data

    record = target.record
    if record.get("prepare") == "two_moons":
        return two_moons_nll(export, target)
    test = test_split(dataset, count)
    preparation = record.get("prepare") or ("binarize" if "binarize" in export.metadata else "bin_centres")
    if preparation == "binarize":
        test = data.binarized_splits([test], record.get("binarize", export.metadata.get("binarize", "stochastic")),
                                     seed=int(record.get("seed", 0)))[0]
        images = test.as_float()
    elif preparation == "bin_centres":  # pixels k / 255; the model puts each at the centre of its bin
        images = test.as_float()
    else:
        raise EvaluationError(f"{export.path}: unknown test-set preparation {preparation!r} in its metadata")
    image_name = next(k for k in target.inputs if k in ("image", "x"))
    declared = target.inputs[image_name][1]
    if declared is not None and len(declared) == 2:
        if declared[-1] not in (None, images[0].size):
            raise EvaluationError(f"{export.path}: a density of {declared[-1]}-d points whose export does not record "
                                  "which points it was scored on; re-export it with today's recipe")
        images = images.reshape(len(images), -1)
    log_p = []
    for start in range(0, len(images), SAMPLE_BATCH):
        inputs = {image_name: images[start:start + SAMPLE_BATCH]}
        if "label" in target.inputs:
            inputs["label"] = test.labels[start:start + SAMPLE_BATCH].astype(np.int32)
        outputs = export.call(target.signature, **inputs)
        log_p.append(np.asarray(next(iter(outputs.values())), np.float64).reshape(-1))
    nll = float(-np.concatenate(log_p).mean())
    pixels = int(np.prod(test.images.shape[1:]))
    return {"nll_nats": nll, "bits_per_dim": nll / (pixels * math.log(2.0)), "num_images": len(images),
            "prepared": preparation}


def two_moons_nll(export: Export, target: Target) -> dict:
    """The held-out two-moons points' mean −log p(x) in nats per point, the points made as the recipe recorded
    (`gen_keras.points.two_moons(points, noise, data_seed)`, standardised, the last `held_out_points`)."""
    import numpy as np

    from gen_keras import points

    record = target.record
    made = points.standardized(points.two_moons(int(record["points"]), float(record["noise"]),
                                                seed=int(record["data_seed"])))
    held_out = made[-int(record["held_out_points"]):]
    outputs = export.call(target.signature, **{next(iter(target.inputs)): held_out})
    nll = float(-np.mean(np.asarray(next(iter(outputs.values())), np.float64)))
    return {"nll_nats": nll, "num_points": len(held_out), "prepared": "two_moons"}


def anomaly_auroc(export: Export, target: Target, dataset: str, count: int | None) -> dict:
    """AUROC of the scorer's own (normal) class against the other classes on the test set."""
    import numpy as np

    from gen_keras import metrics

    if "class" not in target.record:
        raise EvaluationError(f"{export.path}: the scorer's metadata does not say which class it was trained on")
    normal = int(target.record["class"])
    test = test_split(dataset, count)
    scores = np.concatenate([np.asarray(export.call(target.signature, image=test.as_float()[s:s + SAMPLE_BATCH])["score"]).reshape(-1)
                             for s in range(0, len(test), SAMPLE_BATCH)])
    return {"auroc": metrics.roc_auc(scores, test.labels != normal), "class": normal, "num_images": len(test)}


def linear_probe(export: Export, target: Target, dataset: str, count: int | None, seed: int) -> dict:
    """Test accuracy of a linear softmax classifier trained on the encoder's codes of training images.

    The codes are standardised on the training images; the classifier is one Dense layer trained with Adam
    (learning rate 1e-2, 30 full passes in batches of 256) from `seed`.
    """
    import keras
    import numpy as np

    from gen_keras import data

    image_name = next(iter(target.inputs))
    _, height, width, channels = target.inputs[image_name][1]  # the shape of the encoder's images
    shape = {"image_size": height if height == width else None, "channels": channels}
    train = data.load_images(dataset, "train", count or 10_000, **shape)
    test = data.load_images(dataset, "test", count, **shape)
    output = next((k for k in ("mean", "code", "z") if k in target.outputs), next(iter(target.outputs)))

    def codes(images):
        return np.concatenate([export.call(target.signature, **{image_name: images[s:s + SAMPLE_BATCH]})[output]
                               for s in range(0, len(images), SAMPLE_BATCH)]).reshape(len(images), -1)

    c_train, c_test = codes(train.as_float()), codes(test.as_float())
    mean, std = c_train.mean(0), c_train.std(0) + 1e-6
    keras.utils.set_random_seed(seed)
    probe = keras.Sequential([keras.Input((c_train.shape[1],)),
                              keras.layers.Dense(train.num_classes, kernel_initializer=keras.initializers.Zeros())])
    probe.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    probe.fit((c_train - mean) / std, train.labels, batch_size=256, epochs=30, verbose=0, shuffle=True)
    accuracy = probe.evaluate((c_test - mean) / std, test.labels, verbose=0)[1]
    return {"probe_accuracy": float(accuracy), "code_dim": int(c_train.shape[1]), "output": output,
            "train_images": len(train), "num_images": len(test)}


def translation_scores(export: Export, target: Target, dataset: str, count: int) -> dict:
    """A translator's held-out numbers (`gen_keras.translation_recipe.measure`), its inputs made as its record
    says: the block means ("low_resolution", `scale`) or the Sobel edges ("sobel_edges") of the first `count`
    test images, each output against its own image; or the first `count` test images of `source_class`
    ("class"), their translations against as many test images of `target_class`."""
    import numpy as np

    from gen_keras import evaluation, translation_recipe
    from gen_keras.models.translation_tasks import SobelEdges, low_resolution

    record, test = target.record, test_split(dataset)
    classifier = instrument(dataset)
    made = record.get("inputs")
    if made in ("low_resolution", "sobel_edges"):
        targets, labels = test.as_float()[:count], test.labels[:count]
        prepare = low_resolution(int(record.get("scale", 4))) if made == "low_resolution" else SobelEdges()
        inputs, reference = prepare(targets).numpy(), None
    elif made == "class":
        source, goal = int(record["source_class"]), int(record["target_class"])
        images = test.as_float()
        inputs, wanted = images[test.labels == source], images[test.labels == goal]
        count = min(count, len(inputs), len(wanted))
        inputs, targets, labels = inputs[:count], None, np.full(count, goal)
        reference = evaluation.Reference(evaluation.features(classifier, wanted[:count]), dataset, f"test class {goal}")
    else:
        raise EvaluationError(f"{export.path}: the `{target.signature}` signature records no held-out inputs "
                              f"({made!r}); re-export it with today's recipe")
    outputs = np.concatenate([_image_output(export.call(target.signature, image=inputs[s:s + SAMPLE_BATCH]), target)
                              for s in range(0, len(inputs), SAMPLE_BATCH)])
    return {**translation_recipe.measure(outputs, classifier=classifier, labels=labels, targets=targets,
                                         reference=reference),
            "inputs": made, "classifier_sha256": classifier.sha256, "classifier": classifier.source}


@functools.lru_cache(maxsize=4)
def instrument(dataset: str, image_size: int | None = None, channels: int | None = None):
    """The instrument's classifier for `dataset` (the shipped one for Fashion-MNIST), loaded once; with
    `image_size`/`channels`, for the data brought to that shape (as a model trained with --image-size saw them)."""
    from gen_keras import evaluation

    return evaluation.load_classifier(dataset, image_size=image_size, channels=channels)


def sample_scores(images, dataset: str, requested_labels=None) -> dict:
    """FID, KID and class shares of generated images against as many test images (`gen_keras.evaluation.score`),
    the data brought to the images' shape."""
    from gen_keras import evaluation

    _, height, width, channels = images.shape
    classifier = instrument(dataset, height if height == width else None, channels)
    return evaluation.score(images, classifier=classifier, requested_labels=requested_labels)


# --- The command ------------------------------------------------------------------------------------------

# What each kind compares with the recipe's record: measured key → recorded key(s).
COMPARED = {"generator": ("fid", "kid"), "sample": ("fid", "kid"), "log_prob": ("nll_nats",),
            "anomaly": ("auroc",), "encoder": ("probe_accuracy",), "reconstruction": ("reconstruction_mse",),
            "translate": ("fid", "kid", "psnr", "l1", "class_agreement")}


def evaluate_target(export: Export, target: Target, *, dataset: str, samples: int | None, seed: int | None,
                    knobs: dict) -> dict:
    """Measures one signature; returns its row: kind, signature, the numbers, and the recorded ones."""
    record = target.record
    count = samples or record.get("num_samples") or DEFAULT_SAMPLES
    test_count = samples or record.get("num_images")  # test images for log_prob, anomaly and encoder rows; None: all
    use_seed = seed if seed is not None else int(record.get("seed", 0))
    kind = target.kind
    encoder = sibling_encoder(export) if kind == "generator" and "prior" not in record and \
        _latent_input(target) == "code" else None
    if encoder is not None:  # a plain autoencoder's decoder: its codes follow no prior to draw from
        kind = "reconstruction"
    row = {"kind": kind, "signature": target.signature}
    if kind == "reconstruction":
        row.update(reconstruction_mse(export, target, encoder, dataset, test_count))
    elif kind == "generator":
        images, labels = generator_images(export, target, count, use_seed)
        row.update(sample_scores(images, dataset, labels), seed=use_seed)
    elif kind == "sample":
        images = sampled_images(export, target, count, use_seed, knobs)
        row.update(sample_scores(images, dataset), seed=use_seed)
    elif kind == "log_prob":
        row.update(log_prob_nll(export, target, dataset, test_count))
    elif kind == "anomaly":
        row.update(anomaly_auroc(export, target, dataset, test_count))
    elif kind == "encoder":
        row.update(linear_probe(export, target, dataset, test_count, use_seed))
    elif kind == "translate":
        row.update(translation_scores(export, target, dataset, count))
    row["recorded"] = {k: record[k] for k in COMPARED[kind] if record.get(k) is not None}
    recorded_count = record.get("num_samples", record.get("num_images", samples))
    recorded_knobs = record.get("inputs", {})
    same_knobs = all(value is None or name not in target.inputs or value == recorded_knobs.get(name, value)
                     for name, value in knobs.items())
    recorded_classifier = record.get("classifier_sha256")
    differences = [what for what, differs in (
        (f"{samples} samples where {recorded_count} were recorded", samples and samples != recorded_count),
        (f"seed {seed} where {record.get('seed')} was recorded", seed is not None and seed != record.get("seed", seed)),
        ("other sampling settings than the recorded ones", not same_knobs),
        (f"a classifier other than the recorded one (sha256 {str(recorded_classifier)[:12]}…)",
         recorded_classifier and row.get("classifier_sha256", recorded_classifier) != recorded_classifier))
        if differs]
    row["comparable"] = bool(row["recorded"]) and not differences
    if row["recorded"] and differences:
        row["not_compared"] = "; ".join(differences)
    return row


def check(row: dict, tolerance: float) -> list[str]:
    """The recorded numbers a re-score misses by more than `tolerance` (relative; a KID by more than the
    largest of 3 × its standard deviation, `tolerance` × the recorded KID and 0.001), as messages."""
    if not row.get("comparable"):
        return []
    problems = []
    for key, recorded in row["recorded"].items():
        measured = row.get(key)
        if measured is None:
            continue
        if key == "kid":
            allowed = max(3 * float(row.get("kid_std", 0.0)), tolerance * abs(recorded), 1e-3)
        else:
            allowed = tolerance * abs(recorded)
        if abs(measured - recorded) > allowed:
            problems.append(f"{row['signature']}: {key} {measured:.4g} differs from the recorded {recorded:.4g} "
                            f"by more than {allowed:.3g}")
    return problems


def evaluate(path: str | Path, *, dataset: str | None = None, samples: int | None = None, seed: int | None = None,
             knobs: dict | None = None, only: str | None = None, draw_unrecorded: bool = True) -> dict:
    """Scores every signature of an export that can be scored.

    Args:
        path: a version folder, a part folder (its newest version) or a `.keras` file.
        dataset: the data set to compare with; None: the one the export records, else Fashion-MNIST.
        samples: samples (or test images) to use; None: the recorded count, else 10,000.
        seed: the sampling seed; None: the recorded one, else 0.
        knobs: scalar inputs of `sample` signatures, e.g. {"steps": 50, "eta": 0.0, "temperature": 1.0}.
        only: score only signatures of this kind (one of `KINDS`).
        draw_unrecorded: also score `sample` signatures whose export records no score (drawing 10,000 images
            pixel by pixel from a PixelCNN takes hours here); False: list them as skipped.

    Returns:
        {"path": …, "dataset": …, "classifier_sha256": …, "classifier": "shipped" or how it was trained,
        "rows": [one dict per signature]}.

    Raises:
        EvaluationError: not an export, or nothing in it can be scored.
    """
    export = Export(path)
    targets = [t for t in export.targets() if only is None or t.kind == only]
    skipped = [t.signature for t in targets if t.kind == "sample" and not t.record and not draw_unrecorded]
    targets = [t for t in targets if t.signature not in skipped] if len(skipped) < len(targets) else targets
    if not targets:
        kinds = ", ".join(sorted(export.specs))
        raise EvaluationError(f"{export.path}: nothing to score{f' of kind {only}' if only else ''} among its "
                              f"signatures ({kinds}); this command scores generators, decoders, `sample`, "
                              "`log_prob`, anomaly `score` signatures, encoders and `translate` signatures, "
                              "and a decoder with its encoder beside it")
    dataset = dataset or export.metadata.get("dataset") or "fashion_mnist"
    rows = [evaluate_target(export, t, dataset=dataset, samples=samples, seed=seed, knobs=knobs or {})
            for t in targets]
    scored = next((row for row in rows if "classifier_sha256" in row), None)  # the classifier the samples met
    sha256, source = ((scored["classifier_sha256"], scored["classifier"]) if scored else
                      (instrument(dataset).sha256, instrument(dataset).source))
    return {"path": str(export.path), "dataset": dataset, "classifier_sha256": sha256, "classifier": source,
            "rows": rows, "skipped": skipped}


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table(result: dict) -> str:
    """The result as a markdown table, a row per measured number."""
    lines = [f"{result['path']}: data {result['dataset']}, classifier {result['classifier']} "
             f"(sha256 {result['classifier_sha256']})",
             "| signature | kind | measure | value | recorded | samples |", "|---|---|---|---|---|---|"]
    shown = ("fid", "kid", "confident_share", "label_accuracy", "class_agreement", "psnr", "l1", "nll_nats",
             "bits_per_dim", "auroc", "probe_accuracy", "reconstruction_mse")
    for row in result["rows"]:
        for key in shown:
            if key in row:
                recorded = row["recorded"].get(key)
                lines.append(f"| {row['signature']} | {row['kind']} | {key} | {_format(row[key])} | "
                             f"{_format(recorded) if recorded is not None else '—'} | "
                             f"{row.get('num_samples', row.get('num_images', row.get('num_points', '—')))} |")
        if row.get("dropped_classes") and row.get("confident_share"):  # with no confident sample, no class counts
            lines.append(f"| {row['signature']} | {row['kind']} | classes dropped | "
                         f"{', '.join(map(str, row['dropped_classes']))} | | |")
    if result.get("skipped"):
        lines.append(f"not drawn (no recorded score to check; pass --only sample or --samples N): "
                     f"{', '.join(result['skipped'])}")
    return "\n".join(lines)


def parse(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m gen_keras.evaluate",
        description="Re-scores an exported model on the collection's instrument (FID/KID with the shipped "
                    "Fashion-MNIST classifier, NLL, AUROC, a linear probe, translations' PSNR) and compares "
                    "with the numbers its export records.")
    parser.add_argument("path", nargs="?", help="an export's version folder, a part folder (newest version) or a "
                                                ".keras file")
    parser.add_argument("--all", metavar="ROOT", help="score the newest version of every export under ROOT")
    parser.add_argument("--samples", type=_positive_int, default=None,
                        help=f"samples to draw (or test images to score); default: the recorded count, else "
                             f"{DEFAULT_SAMPLES:,}")
    parser.add_argument("--seed", type=int, default=None, help="sampling seed; default: the recorded one, else 0")
    parser.add_argument("--dataset", default=None,
                        help="compare with this data set's test split; default: the one the export records, "
                             "else fashion_mnist")
    parser.add_argument("--steps", type=_positive_int, default=None, help="`steps` of a sample signature (diffusion)")
    parser.add_argument("--eta", type=float, default=None, help="`eta` of a sample signature (diffusion, 0 … 1)")
    parser.add_argument("--temperature", type=float, default=None, help="`temperature` of a sample signature (flows)")
    parser.add_argument("--only", choices=KINDS, default=None,
                        help="score only signatures of this kind (generator: an autoencoder's decoder too)")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                        help="relative difference from a recorded number that fails the check (default 0.05)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of a table")
    args = parser.parse_args(argv)
    if (args.path is None) == (args.all is None):
        parser.error("give one export PATH, or --all ROOT")
    return args


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {value}")
    return value


def main(argv=None) -> int:
    args = parse(argv)
    knobs = {"steps": args.steps, "eta": args.eta, "temperature": args.temperature}
    paths = [Path(args.path)] if args.path else export_folders(args.all)
    if args.all and not paths:
        print(f"error: no exports (saved_model.pb in a numbered folder) under {args.all}", file=sys.stderr)
        return 2
    results, problems, failed = [], [], 0
    for path in paths:
        try:
            result = evaluate(path, dataset=args.dataset, samples=args.samples, seed=args.seed, knobs=knobs,
                              only=args.only, draw_unrecorded=bool(args.samples or args.only))
        except (GenKerasError, ValueError) as e:
            if not args.all:
                print(f"error: {e}", file=sys.stderr)
                return 2
            print(f"skipped {path}: {e}", file=sys.stderr)
            failed += "nothing to score" not in str(e)  # a discriminator under --all is no failure
            continue
        results.append(result)
        found = [p for row in result["rows"] for p in check(row, args.tolerance)]
        problems += found
        if not args.json:
            print(table(result))
            print("\n".join(f"MISMATCH {p}" for p in found) or "matches its record" if any(
                r["comparable"] for r in result["rows"]) else "; ".join(
                f"{r['signature']} not compared with its record: {r['not_compared']}"
                for r in result["rows"] if "not_compared" in r) or "no recorded numbers to compare with",
                end="\n\n")
    if args.json:
        print(json.dumps(results if args.all else results[0], indent=2, default=float))
    if problems:
        print(f"{len(problems)} number(s) differ from their records beyond the tolerance {args.tolerance:g}:\n  "
              + "\n  ".join(problems), file=sys.stderr)
        return 1
    if failed:
        print(f"{failed} export(s) could not be scored (see above)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
