"""Exports for TF Serving: `<root>/<recipe>/<part>/<version>/` SavedModels with named signatures.

Each version folder holds a SavedModel written by `keras.export.ExportArchive` (whose variables the C++
loader restores into the very tensors the signature reads) with one `serving_default` signature, plus
`<part>.keras`, the same model in Keras's native format for fine-tuning. A version is written into a
hidden folder and renamed into place, so a server polling the folder never sees half of one, and an
existing version is never overwritten.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import keras
import tensorflow as tf

from gen_keras.errors import ExportError  # noqa: F401 (re-exported)

_VERSION = re.compile(r"^\d+$")


def versions(part_dir: str | os.PathLike) -> list[int]:
    """The integer versions present in a model's folder, ascending (what TF Serving would see)."""
    part_dir = Path(part_dir)
    if not part_dir.is_dir():
        return []
    return sorted(int(p.name) for p in part_dir.iterdir() if p.is_dir() and _VERSION.match(p.name))


def _next_version(part_dir: Path) -> int:
    taken = versions(part_dir)
    # Interrupted exports leave `.tmp-<version>-<pid>` folders; never reuse their numbers either.
    for p in part_dir.glob(".tmp-*"):
        m = re.match(r"^\.tmp-(\d+)-", p.name)
        if m:
            taken.append(int(m.group(1)))
    return max(taken, default=0) + 1


def _specs(inputs: Mapping[str, Sequence[int | None] | tf.TensorSpec]) -> list[tf.TensorSpec]:
    specs = []
    for name, spec in inputs.items():
        if isinstance(spec, tf.TensorSpec):
            specs.append(tf.TensorSpec(spec.shape, spec.dtype, name=name))
        else:
            specs.append(tf.TensorSpec([None, *spec], tf.float32, name=name))
    return specs


def export_for_serving(model: keras.Model, export_root: str | os.PathLike, recipe: str, part: str, *,
                       inputs: Mapping[str, Sequence[int | None] | tf.TensorSpec],
                       outputs: str | Sequence[str], save_keras: bool = True) -> Path:
    """Writes `model` as the next version of `<export_root>/<recipe>/<part>/` and returns its folder.

    `inputs` maps each signature input name to its shape without the batch axis (float32) or to a
    `tf.TensorSpec`; they are passed to the model positionally, in order. `outputs` names the model's
    output(s), in order. Outputs are cast to float32 (mixed-precision models included), and the model
    runs in inference mode. Example: a decoder, `inputs={"code": (49,)}, outputs="image"`.
    """
    output_names = [outputs] if isinstance(outputs, str) else list(outputs)
    specs = _specs(inputs)
    if not model.built:
        raise ExportError(f"the {part} model is not built; call it on a batch before exporting")

    def serve(*args):
        result = model(args[0] if len(args) == 1 else list(args), training=False)
        result = result if isinstance(result, (list, tuple)) else [result]
        if len(result) != len(output_names):
            raise ExportError(f"{part} returns {len(result)} outputs but {len(output_names)} names were given")
        return {name: tf.cast(t, tf.float32) for name, t in zip(output_names, result)}

    part_dir = Path(export_root) / recipe / part
    try:
        part_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExportError(f"cannot create the export folder {part_dir} ({e.strerror}); "
                          "choose a writable --export-dir") from e
    version = _next_version(part_dir)
    tmp = part_dir / f".tmp-{version}-{os.getpid()}"
    try:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serving_default", serve, input_signature=specs)
        archive.write_out(str(tmp), verbose=False)
        if save_keras:
            model.save(tmp / f"{part}.keras")
        while (part_dir / str(version)).exists():  # another exporter took it meanwhile
            version += 1
        final = part_dir / str(version)
        os.rename(tmp, final)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if not isinstance(e, Exception) or isinstance(e, ExportError):
            raise  # Ctrl-C, SIGTERM, exit: the hidden folder is gone, nothing to explain
        raise ExportError(f"exporting {recipe}/{part} failed ({type(e).__name__}: {e}); "
                          "no new version was written") from e
    write_models_config(export_root)
    return final


def write_models_config(export_root: str | os.PathLike, mount_point: str = "/models") -> Path:
    """Writes `<export_root>/models.config` listing every exported model, for
    `tensorflow_model_server --model_config_file`. Names are `<recipe>_<part>`; base paths assume the
    export root is mounted at `mount_point` (as in the README's `docker run`)."""
    root = Path(export_root)
    entries = []
    for part_dir in sorted(p for p in root.glob("*/*") if p.is_dir() and versions(p)):
        recipe, part = part_dir.parent.name, part_dir.name
        entries.append(f'  config {{\n    name: "{recipe}_{part}"\n    base_path: "{mount_point}/{recipe}/{part}"\n'
                       f'    model_platform: "tensorflow"\n  }}\n')
    path = root / "models.config"
    tmp = root / ".models.config.tmp"
    tmp.write_text("model_config_list {\n" + "".join(entries) + "}\n")
    os.replace(tmp, path)
    return path


def load_signature(version_dir: str | os.PathLike):
    """The `serving_default` function of an exported version, as TensorFlow's Python loader sees it."""
    return tf.saved_model.load(str(version_dir)).signatures["serving_default"]
