"""What the image-to-image translation recipes (`recipes/pix2pix.py`, `cyclegan.py`, `super_resolution.py`)
do around their models at run time: translate held-out images, measure the translations on the instrument,
and export each translator with a `translate` signature.

Nothing here sees a recipe's flags, so a notebook can call these too.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from gen_keras import evaluation, inference, metrics, training
from gen_keras.files import write_atomically
from gen_keras.models.translation_tasks import check_images
from gen_keras.serving import export as export_lib

TRANSLATE = "translate"


def translate(translator: keras.Model, images: np.ndarray, *, batch_size: int = 500) -> np.ndarray:
    """The translator's outputs (inference mode) for images it checks first.

    Args:
        translator: a model taking (batch, H, W, C) images in [0, 1].
        images: the inputs, (N, H, W, C) in [0, 1].
        batch_size: images per forward pass.

    Returns:
        float32 outputs, (N, H', W', C').

    Raises:
        ValueError: the images' shape is not the translator's input shape, or their pixels are not in [0, 1].
    """
    images = check_images(images, tuple(translator.inputs[0].shape[1:]), "the images to translate")
    return np.asarray(inference.predict_in_batches(translator, images, batch_size), np.float32)


def measure(outputs: np.ndarray, *, classifier: evaluation.Classifier, labels: np.ndarray,
            targets: np.ndarray | None = None, reference: evaluation.Reference | None = None) -> dict:
    """The translations' numbers on the instrument: distance to the targets, FID/KID, class agreement.

    Args:
        outputs: (N, 28, 28, 1) translations in [0, 1].
        classifier: the instrument's classifier.
        labels: (N,) the class each output should be (the source image's class, or the target domain's).
        targets: (N, 28, 28, 1) the paired targets, or None (unpaired data).
        reference: the real images' features the FID compares with; None: the first N test images.

    Returns:
        `{"fid", "kid", "kid_std", "num_samples", "class_agreement"}` and, with targets, `"l1"` (mean
        |output − target|) and `"psnr"` (dB).
    """
    scored = evaluation.score(outputs, classifier=classifier, reference=reference, floor=False)
    predicted = evaluation.predict_classes(classifier, outputs)
    results = {"fid": scored["fid"], "kid": scored["kid"], "kid_std": scored["kid_std"],
               "num_samples": scored["num_samples"],
               "class_agreement": float(np.mean(predicted == np.asarray(labels).ravel()))}
    if targets is not None:
        results["l1"] = float(np.mean(np.abs(np.asarray(outputs, np.float64) - np.asarray(targets, np.float64))))
        results["psnr"] = metrics.psnr(outputs, targets)
    return results


def measure_paired(outputs: dict[str, np.ndarray], *, targets: np.ndarray, labels: np.ndarray, dataset: str,
                   retrain_classifier: bool = False, facts: dict | None = None) -> dict:
    """Measures each translator's outputs against the paired targets on the instrument and prints one line each.

    Args:
        outputs: name → (N, 28, 28, 1) translations in [0, 1] of the same N held-out inputs.
        targets: (N, 28, 28, 1) the images each output should be, in [0, 1].
        labels: (N,) the targets' classes.
        dataset: the data set whose classifier judges (the instrument's `load_classifier`).
        retrain_classifier: train the classifier on this machine instead of loading the shipped one.
        facts: name → training facts (`train_each`) to keep beside that translator's numbers; a name without
            facts (e.g. bicubic upsampling) gets none.

    Returns:
        `{"real_class_agreement", "classifier", "classifier_sha256"}` (the share of the targets themselves the
        classifier gives their class: the agreement a perfect translator reaches) and, per name, `measure`'s
        numbers with its facts.
    """
    classifier = evaluation.load_classifier(dataset, retrain=retrain_classifier)
    labels = np.asarray(labels).ravel()
    results = {"real_class_agreement": float(np.mean(evaluation.predict_classes(classifier, targets) == labels)),
               "classifier": classifier.source, "classifier_sha256": classifier.sha256}
    for name, images in outputs.items():
        r = results[name] = {**measure(images, classifier=classifier, labels=labels, targets=targets),
                             **(facts or {}).get(name, {})}
        print(f"{name}: L1 {r['l1']:.4f}, PSNR {r['psnr']:.2f} dB, FID {r['fid']:.2f}, KID {r['kid']:.4f}, "
              f"class agreement {r['class_agreement']:.0%}")
    return results


def export_translator(translator: keras.Model, export_dir: str | os.PathLike | None, recipe: str, part: str,
                      doc: str, metadata: dict | None = None, score: dict | None = None) -> Path | None:
    """Exports a translator for TF Serving with one `translate` signature: `image` → `image`.

    The input is declared with its concrete shape (batch, H, W, C); the signature refuses pixels outside
    [0, 1] or non-finite ones with a message the server returns as INVALID_ARGUMENT. One warm-up request
    (a grey image) is recorded.

    Args:
        translator: the built model, (batch, H, W, C) in [0, 1] → (batch, H', W', C') in [0, 1].
        export_dir: the export root; None (--no-export): nothing is exported.
        recipe: the recipe's name.
        part: the translator's folder name, e.g. "generator", "g_x_to_y".
        doc: what the translation does, for `signatures.json`.
        metadata: extra facts for clients.
        score: the recipe's held-out numbers and how their inputs were made (`translation_record`), recorded
            so that `python -m gen_keras.evaluate` re-scores the export; None: nothing recorded.

    Returns:
        The new version folder, or None.

    Raises:
        ExportError: writing failed (nothing half-written is left).
    """
    if export_dir is None:
        return None
    shape = tuple(int(d) for d in translator.inputs[0].shape[1:])
    described = "(batch, " + ", ".join(map(str, shape)) + ")"

    def translate_fn(image):
        checks = [tf.debugging.assert_all_finite(image, message="image must be finite"),
                  tf.debugging.assert_greater_equal(image, 0.0, message="image pixels must be in [0, 1]"),
                  tf.debugging.assert_less_equal(image, 1.0, message="image pixels must be in [0, 1]")]
        with tf.control_dependencies(checks):
            image = tf.identity(image)
        return {"image": tf.cast(translator(image, training=False), tf.float32)}

    endpoint = export_lib.Endpoint(translate_fn, {"image": tf.TensorSpec([None, *shape], tf.float32)},
                                   [{"image": np.full((1, *shape), 0.5, np.float32)}],
                                   doc=f"{doc}; `image` {described} float32 in [0, 1]")
    metadata = {**(metadata or {}), **({"evaluation": {TRANSLATE: score}} if score else {})}
    version = export_lib.export_signatures(translator, export_dir, recipe, part, {TRANSLATE: endpoint},
                                           metadata=metadata)
    print(f"exported {part} ({TRANSLATE}): {version}")
    return version


def translation_record(measured: dict, classifier_sha256: str, *, inputs: str, **facts) -> dict:
    """What a translator's export records of the recipe's score, so that `python -m gen_keras.evaluate` makes
    the same held-out inputs, translates them and compares.

    Args:
        measured: `measure`'s numbers for this translator.
        classifier_sha256: the instrument's classifier that judged them.
        inputs: how the held-out inputs were made: "low_resolution" (the block means of the first
            `num_samples` test images, `scale`), "sobel_edges" (their `SobelEdges()`), or "class" (the
            test images of `source_class`, judged against those of `target_class`).
        **facts: that preparation's parameters (`scale`; `source_class`, `target_class`).

    Returns:
        A JSON-serialisable dict, `export_translator`'s `score`.
    """
    keep = ("fid", "kid", "kid_std", "num_samples", "class_agreement", "l1", "psnr")
    return {"inputs": inputs, **facts, **{k: measured[k] for k in keep if k in measured},
            "classifier_sha256": classifier_sha256}


def write_metrics(out: str | os.PathLike, results: dict) -> Path:
    """Writes `out/metrics.json` (atomically) and says where.

    Args:
        out: the run's output folder.
        results: JSON-serialisable numbers and facts.

    Returns:
        The file's path.
    """
    path = write_atomically(Path(out) / "metrics.json", json.dumps(results, indent=2) + "\n")
    print(f"figures, metrics.json and logs in {out}/")
    return path


def timed_fit(model: keras.Model, train, run, epochs: int, name: str) -> tuple[dict, dict]:
    """Trains one translator in `<out>/<name>/` (its history, logs and backup) and times it.

    Args:
        model: the compiled translator.
        train: the training `ImageArrays` (targets; the model makes its own inputs).
        run: the recipe's `TrainingSetup`.
        epochs: the epochs to train.
        name: the translator's subfolder and key in the facts.

    Returns:
        (history, facts): the per-epoch logs and `{"train_seconds", "steps", "steps_per_second"}`.
    """
    sub = training.sub_run(run, name)
    start = time.perf_counter()
    history = training.fit(model, train, None, sub, epochs, targets=None, monitor=None)
    seconds = time.perf_counter() - start
    steps = int(model.g_optimizer.iterations.numpy())
    return history, {"train_seconds": round(seconds, 1), "steps": steps,
                     "steps_per_second": round(steps / seconds, 2) if seconds > 0 else None}


def train_each(models: dict, train, run, epochs: int) -> tuple[dict, dict]:
    """Trains each translator in turn, in its own subfolder of the run (`timed_fit`).

    Args:
        models: name → compiled translator, trained in this order.
        train: the training `ImageArrays`.
        run: the recipe's `TrainingSetup`.
        epochs: the epochs each is trained.

    Returns:
        (histories, facts): name → per-epoch logs, name → `{"train_seconds", "steps", "steps_per_second"}`.
    """
    histories, facts = {}, {}
    for name, model in models.items():
        print(f"\ntraining {name}")
        histories[name], facts[name] = timed_fit(model, train, run, epochs, name)
    return histories, facts
