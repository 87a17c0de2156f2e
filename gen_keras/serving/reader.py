"""An export read back: its signatures' declared inputs and outputs, what each one is, and the recipe's metadata.

`gen_keras.evaluate` scores what `read_export(path).targets()` finds; nothing here measures anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from gen_keras.errors import EvaluationError

KINDS = ("generator", "sample", "log_prob", "anomaly", "encoder", "translate")


@dataclass
class Target:
    """One scorable signature of an export.

    Args:
        kind: one of `KINDS`.
        signature: the signature's name.
        inputs: input name → (dtype name, shape) as declared.
        outputs: output name → (dtype name, shape) as declared.
        record: what the recipe recorded for it (`metadata.evaluation[...]`), or {}.
    """

    kind: str
    signature: str
    inputs: dict
    outputs: dict
    record: dict = field(default_factory=dict)


class Export:
    """A loaded export: its callable signatures, their declared specs and the recipe's metadata.

    Args:
        path: a version folder or a `.keras` file.
    """

    def __init__(self, path: str | Path):
        self.path = resolve(path)
        self.metadata, self.defaults = {}, {}
        meta_file = (self.path if self.path.is_dir() else self.path.parent) / "signatures.json"
        if meta_file.is_file():
            try:
                described = json.loads(meta_file.read_text())
            except (OSError, ValueError) as e:
                raise EvaluationError(f"{meta_file} is not readable JSON ({e}); re-export the model") from e
            self.metadata = described.get("metadata") or {}
            self.defaults = {name: {k: v["default"] for k, v in sig.get("inputs", {}).items() if "default" in v}
                             for name, sig in (described.get("signatures") or {}).items()}
        self.functions, self.specs = _load_functions(self.path)

    def call(self, signature: str, **inputs):
        """Runs one signature on numpy inputs (left-out ones take the signature's defaults); returns its outputs
        as numpy arrays."""
        import numpy as np
        import tensorflow as tf

        declared = self.specs[signature][0]
        inputs = {**self.defaults.get(signature, {}), **inputs}  # left-out inputs take their defaults, as on a server
        tensors = {name: tf.constant(np.asarray(value, declared[name][0])) for name, value in inputs.items()}
        return {name: value.numpy() for name, value in self.functions[signature](**tensors).items()}

    def targets(self) -> list[Target]:
        """The signatures this command can score, with the recipe's records; [] when there are none."""
        records = self.metadata.get("evaluation") or {}
        found = []
        for name, (inputs, outputs) in self.specs.items():
            if name == "serving_default" and len(self.specs) > 1 and _duplicate_of_another(self.specs, name):
                continue
            kind = classify(inputs, outputs, name)
            if kind:
                record = records.get(name, {})
                if kind == "anomaly" and not record and "class" in self.metadata:
                    record = {"class": self.metadata["class"], "auroc": self.metadata.get("test_auroc")}
                found.append(Target(kind, name, inputs, outputs, record))
        return found


def resolve(path: str | Path) -> Path:
    """The version folder or `.keras` file that `path` names; the newest version of a part folder.

    Raises:
        EvaluationError: nothing there, or not an export.
    """
    path = Path(path)
    if not path.exists():
        raise EvaluationError(f"{path} does not exist; give an export's version folder, e.g. "
                              "saved_models/dcgan/generator/1, or a .keras file")
    if path.is_file():
        if path.suffix != ".keras":
            raise EvaluationError(f"{path} is neither a SavedModel folder nor a .keras file")
        return path
    if (path / "saved_model.pb").is_file():
        return path
    versions = sorted((int(p.name) for p in path.iterdir() if p.name.isdigit() and (p / "saved_model.pb").is_file()))
    if versions:
        return path / str(versions[-1])
    raise EvaluationError(f"{path} holds no saved_model.pb (and no numbered version folders); give an export's "
                          "version folder, e.g. saved_models/dcgan/generator/1")


def _load_functions(path: Path) -> tuple[dict, dict]:
    """{signature: callable(**tensors) → dict}, {signature: (inputs, outputs)} with (dtype name, shape) specs."""
    import tensorflow as tf

    if path.suffix == ".keras":
        import keras

        import gen_keras  # noqa: F401  (registers the collection's classes)

        try:
            model = keras.saving.load_model(path)
        except Exception as e:  # a corrupt or foreign file: Keras raises many types
            raise EvaluationError(f"{path} does not load as a Keras model ({type(e).__name__}: {e})") from e
        if not getattr(model, "inputs", None):
            raise EvaluationError(f"{path} holds a subclassed model ({type(model).__name__}) whose inputs Keras does "
                                  "not record; score the SavedModel of its version folder instead")
        names = [t.name.split(":")[0] for t in model.inputs]
        names = [_input_name(n, t.shape) for n, t in zip(names, model.inputs)]
        outputs = model.outputs
        # images (rank 4), a discriminator's or critic's one number per image, else codes
        out_names = ["image" if len(t.shape) == 4 else "logit" if t.shape[-1] == 1 else "code" for t in outputs]
        if len(set(out_names)) < len(out_names):
            out_names = [f"{n}_{i}" for i, n in enumerate(out_names)]

        def call(**tensors):
            args = [tensors[n] for n in names]
            result = model(args if len(args) > 1 else args[0], training=False)
            result = result if isinstance(result, (list, tuple)) else [result]
            return {n: tf.cast(r, tf.float32) for n, r in zip(out_names, result)}

        inputs = {n: (t.dtype if isinstance(t.dtype, str) else t.dtype.name, list(t.shape)) for n, t in zip(names, model.inputs)}
        outs = {n: ("float32", list(t.shape)) for n, t in zip(out_names, outputs)}
        return {"serving_default": call}, {"serving_default": (inputs, outs)}

    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as e:  # a corrupt SavedModel: TF raises several types
        raise EvaluationError(f"{path} does not load as a SavedModel ({type(e).__name__}: {e})") from e
    functions, specs = {}, {}
    for name, function in loaded.signatures.items():
        _, kwargs = function.structured_input_signature
        inputs = {k: (s.dtype.name, s.shape.as_list() if s.shape.rank is not None else None) for k, s in kwargs.items()}
        outputs = {k: (s.dtype.name, s.shape.as_list() if s.shape.rank is not None else None)
                   for k, s in function.structured_outputs.items()}
        functions[name], specs[name] = function, (inputs, outputs)
    functions["_loaded"] = loaded  # keeps the variables alive
    return functions, specs


def _input_name(name: str, shape) -> str:
    if len(shape) == 4:
        return "image"
    if len(shape) == 1:
        return "label"
    return name if name in ("z", "code") else "z"


def _duplicate_of_another(specs: dict, name: str) -> bool:
    return any(other != name and specs[other] == specs[name] for other in specs)


def classify(inputs: dict, outputs: dict, name: str = "") -> str | None:
    """What a signature is, from its declared inputs and outputs.

    Args:
        inputs: input name → (dtype name, shape).
        outputs: output name → (dtype name, shape).
        name: the signature's name.

    Returns:
        One of `KINDS`, or None when it is none of them (e.g. a discriminator, a diffusion `denoise`).
    """
    def rank(spec):
        return None if spec[1] is None else len(spec[1])

    def image_like(specs):  # images, or a shape the export does not declare
        return any(rank(s) in (None, 4) for s in specs.values())

    if "num_samples" in inputs:
        return "sample" if image_like(outputs) else None
    if name == "translate":  # an image-to-image translator (an autoencoder's image → image is not one)
        return "translate" if image_like(inputs) and image_like(outputs) else None
    if name == "log_prob" or "log_prob" in outputs:
        return "log_prob"  # of images, or of points (two moons) where the export records which
    if name == "score" or set(outputs) == {"score"}:
        return "anomaly"
    images_in = [k for k, s in inputs.items() if rank(s) == 4 or k in ("image", "x")]
    vectors_in = [k for k, s in inputs.items() if rank(s) == 2 and k in ("z", "code")]
    images_out = [k for k, s in outputs.items() if rank(s) == 4]
    if vectors_in and images_out and not images_in:
        return "generator"
    if images_in and not images_out and len(images_in) == 1 and all(rank(s) == 2 for s in outputs.values()):
        if set(outputs) & {"logit", "logits", "score"}:
            return None  # a discriminator or critic
        if rank(inputs[images_in[0]]) != 4:
            return None  # points to points (a two-moons flow's `encode`): no images to probe
        return "encoder"
    return None


def export_folders(root: str | Path) -> list[Path]:
    """The newest version folder of every `<recipe>/<part>/` (or `<model>/`) under `root` with a SavedModel."""
    found = {}
    for pb in sorted(Path(root).rglob("saved_model.pb")):
        version = pb.parent
        if version.name.isdigit():
            previous = found.get(version.parent)
            if previous is None or int(version.name) > int(previous.name):
                found[version.parent] = version
    return [found[k] for k in sorted(found)]
