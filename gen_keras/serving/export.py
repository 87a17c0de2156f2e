"""Exports for TF Serving: `<root>/<recipe>/<part>/<version>/` SavedModels with named signatures.

Each version folder holds a SavedModel written by `keras.export.ExportArchive` (whose variables the C++
loader restores into the very tensors the signature reads) with one `serving_default` signature,
`assets.extra/tf_serving_warmup_requests` (PredictionLog records TF Serving runs before serving a version),
and `<part>.keras`, the same model in Keras's native format for fine-tuning. A version is written into a
hidden folder and renamed into place, so a server polling the folder never sees half of one, and an
existing version is never overwritten.

Every signature input declares its shape (only the batch size, the first, may be None; scalars are rank 0) and
dtype, and the graph checks the shape of what it is fed (`tf.ensure_shape`), since a server does not. A signature
input whose Python argument has a default (`def sample(num_samples, seed=0, steps=50)`) gets that default in the
SavedModel's `SignatureDef.defaults`, written by `tf.saved_model.save`; TF Serving (2.14 and later) fills an input
a request leaves out from there, as do `capi.SavedModelSession.run` and `client.predict`. `signatures.json`
beside the SavedModel documents every input's shape, dtype and default.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from gen_keras.serving.signatures import WARMUP_FILE
from gen_keras.errors import ExportError
from gen_keras.files import write_atomically

_VERSION = re.compile(r"^\d+$")
WARMUP_BATCH_SIZES = (1, 2, 5)
SIGNATURES_FILE = "signatures.json"


def versions(part_dir: str | os.PathLike) -> list[int]:
    """The integer versions present in a model's folder, ascending (what TF Serving would see).

    Args:
        part_dir: `<root>/<recipe>/<part>/`.

    Returns:
        The versions, e.g. [1, 2]; [] when the folder is missing.
    """
    part_dir = Path(part_dir)
    if not part_dir.is_dir():
        return []
    return sorted(int(p.name) for p in part_dir.iterdir() if p.is_dir() and _VERSION.match(p.name))


def served_name(recipe: str, part: str) -> str:
    """The name TF Serving knows an export by (in models.config and the warm-up requests).

    Args:
        recipe: e.g. "conv_autoencoder".
        part: e.g. "decoder".

    Returns:
        `<recipe>_<part>`, e.g. "conv_autoencoder_decoder".
    """
    return f"{recipe}_{part}"


STALE_EXPORT_SECONDS = 3600


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # signal 0 is not a probe there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        return True  # another user's process, or not a pid we can ask about: assume it runs
    return True


def _next_version(part_dir: Path) -> int:
    """One more than any version or in-progress export. Interrupted exports leave `.tmp-<version>-<pid>`
    folders: one whose process (on this host) has ended and that is over an hour old is deleted; every
    other keeps its number taken."""
    taken = versions(part_dir)
    for p in part_dir.glob(".tmp-*"):
        m = re.match(r"^\.tmp-(\d+)-(.*)$", p.name)
        if not m:
            continue
        if m.group(2).isdigit() and p.is_dir() and not p.is_symlink():
            try:
                stale = (not _pid_alive(int(m.group(2)))
                         and time.time() - p.stat().st_mtime > STALE_EXPORT_SECONDS)
            except FileNotFoundError:  # finished or removed meanwhile
                continue
            if stale:
                shutil.rmtree(p, ignore_errors=True)
        if p.exists():
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


def check_specs(signature: str, specs: Sequence[tf.TensorSpec]) -> None:
    """Refuses signature inputs a client could not read a request's shape from.

    Args:
        signature: the signature's name, for the message.
        specs: its inputs, named.

    Raises:
        ExportError: an input of unknown rank, or with a size other than the first (the batch) unknown.
    """
    for spec in specs:
        dims = spec.shape.as_list() if spec.shape.rank is not None else None
        if dims is None or any(d is None for d in dims[1:]):
            shape = "unknown" if dims is None else tuple(dims)
            raise ExportError(f"signature '{signature}': input '{spec.name}' has shape {shape}; declare every size but "
                              "the batch's (the first), e.g. (None, 28, 28, 1), or () for a scalar")


def _checked_shapes(specs: Sequence[tf.TensorSpec], args: Sequence[tf.Tensor]) -> list[tf.Tensor]:
    """The inputs, each checked at run time against its declared shape: a server feeds a request's tensors to
    the graph without comparing them to the signature, so a wrong shape fails here with both shapes named."""
    return [tf.ensure_shape(x, spec.shape, name=f"check_shape_of_{spec.name}") for spec, x in zip(specs, args)]


def _describe(specs: Sequence[tf.TensorSpec], defaults: Mapping[str, np.ndarray]) -> dict:
    """`signatures.json`'s entry for a signature's inputs: shape (None: any size), dtype and default."""
    return {s.name: {"dtype": s.dtype.name, "shape": s.shape.as_list(),
                     **({"default": np.asarray(defaults[s.name]).tolist()} if s.name in defaults else {})}
            for s in specs}


def _warmup_value(spec: tf.TensorSpec, batch_size: int, seed: int) -> np.ndarray:
    """Floats: deterministic values in [0, 1); integers (e.g. a class label): 0; unknown sizes: 1."""
    dims = spec.shape.as_list() if spec.shape.rank is not None else [None]
    shape = [batch_size if i == 0 and d is None else (d or 1) for i, d in enumerate(dims)]
    dtype = spec.dtype.as_numpy_dtype
    if spec.dtype.is_floating:
        return np.random.default_rng(seed).random(shape).astype(dtype)
    if spec.dtype.is_integer or spec.dtype.is_bool:
        return np.zeros(shape, dtype)
    raise ExportError(f"cannot make warm-up values for input '{spec.name}' of type {spec.dtype.name}")


def write_warmup_requests(version_dir: str | os.PathLike, model_name: str, specs: Sequence[tf.TensorSpec],
                          batch_sizes: Sequence[int] = WARMUP_BATCH_SIZES) -> Path:
    """Writes `assets.extra/tf_serving_warmup_requests`: one PredictionLog per batch size.

    Inputs are shaped and typed as `specs` (named signature inputs): floats are deterministic values in
    [0, 1), integers 0, unknown sizes other than the batch 1.

    Args:
        version_dir: the version folder.
        model_name: the model's name in TF Serving (`served_name`).
        specs: the `serving_default` signature's inputs, batch axis first.
        batch_sizes: one request per batch size.

    Returns:
        The warm-up file's `Path`.

    Raises:
        ExportError: an input of a type that has no warm-up values.
    """
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    path = Path(version_dir) / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for seed, batch_size in enumerate(batch_sizes):
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name="serving_default"))
            for spec in specs:
                request.inputs[spec.name].CopyFrom(tf.make_tensor_proto(_warmup_value(spec, batch_size, seed)))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return path


def export_for_serving(model: keras.Model, export_root: str | os.PathLike, recipe: str, part: str, *,
                       inputs: Mapping[str, Sequence[int | None] | tf.TensorSpec],
                       outputs: str | Sequence[str], save_keras: bool = True,
                       training_endpoint: bool = False, metadata: Mapping | None = None) -> Path:
    """Writes `model` as the next version of `<export_root>/<recipe>/<part>/` and returns its folder.

    The model runs in inference mode and its outputs are cast to float32 (mixed-precision models
    included). Example: a decoder, `inputs={"code": (49,)}, outputs="image"`. The version folder also gets
    the warm-up requests, `signatures.json` (the signature's inputs and outputs, plus `metadata`) and, with
    `save_keras`, `<part>.keras`; `<export_root>/models.config` is rewritten.

    Args:
        model: a built Keras model.
        export_root: the export root, e.g. "saved_models".
        recipe: the recipe's name.
        part: the model's role, e.g. "encoder", "decoder", "generator".
        inputs: each signature input name → its shape without the batch axis (float32), or a
            `tf.TensorSpec` (batch axis first, every other size known); passed to the model positionally, in
            order.
        outputs: the name(s) of the model's output(s), in order.
        save_keras: also save `<part>.keras` (for fine-tuning with Keras).
        training_endpoint: add `serve_training`, the same call in training mode (batch norm uses the
            batch's statistics and updates its moving averages), for fine-tuning through
            `keras.layers.TFSMLayer(..., call_training_endpoint="serve_training")`; not for serving.
        metadata: extra JSON-serialisable facts for clients, e.g. the recipe's scores under "evaluation"
            (see `gen_keras.evaluate`).

    Returns:
        The new version folder, `<export_root>/<recipe>/<part>/<version>`.

    Raises:
        ExportError: an input's shape leaves a size other than the batch's unknown, the model is not built, the
            output count does not match `outputs`, the folder cannot be created, or writing failed (no new
            version is left behind).
    """
    output_names = [outputs] if isinstance(outputs, str) else list(outputs)
    specs = _specs(inputs)
    check_specs("serving_default", specs)
    if not model.built:
        raise ExportError(f"the {part} model is not built; call it on a batch before exporting")

    def serve(*args, training=False):
        args = _checked_shapes(specs, args)
        result = model(args[0] if len(args) == 1 else list(args), training=training)
        result = result if isinstance(result, (list, tuple)) else [result]
        if len(result) != len(output_names):
            raise ExportError(f"{part} returns {len(result)} outputs but {len(output_names)} names were given")
        return {name: tf.cast(t, tf.float32) for name, t in zip(output_names, result)}

    def write(folder: Path) -> None:
        archive = keras.export.ExportArchive()
        track_once(archive, model)
        function = archive.add_endpoint("serving_default", serve, input_signature=specs)
        if training_endpoint:
            archive.add_endpoint("serve_training", lambda *args: serve(*args, training=True), input_signature=specs)
        archive.write_out(str(folder), verbose=False)
        write_warmup_requests(folder, served_name(recipe, part), specs)
        outputs = function.get_concrete_function().structured_outputs
        described = {"doc": f"the {part} in inference mode, outputs float32", "inputs": _describe(specs, {}),
                     "outputs": {n: {"dtype": t.dtype.name, "shape": t.shape.as_list()} for n, t in outputs.items()}}
        write_atomically(folder / SIGNATURES_FILE, json.dumps(
            {"model": served_name(recipe, part), "signatures": {"serving_default": described},
             "metadata": dict(metadata or {})},
            indent=2) + "\n")
        if save_keras:
            save_keras_copy(model, folder / f"{part}.keras")

    return _write_version(export_root, recipe, part, write)


def save_keras_copy(model: keras.Model, path: str | os.PathLike) -> Path:
    """Saves the `.keras` copy beside an export: the model's config and weights, without the optimizer.

    A compiled model's file would also hold the optimizer's slots (Adam's two a weight: a file three times its
    weights) and its compile settings; the copy is for reuse (`keras.saving.load_model`, then compile it as
    the new task needs), so it reloads uncompiled. The model itself stays compiled and can train on.

    Args:
        model: the exported model.
        path: the `.keras` file to write.

    Returns:
        The path written.
    """
    optimizer, compiled = getattr(model, "optimizer", None), getattr(model, "compiled", False)
    if optimizer is None and not compiled:
        model.save(path)
        return Path(path)
    model.optimizer, model.compiled = None, False
    try:
        model.save(path)
    finally:
        model.optimizer, model.compiled = optimizer, compiled
    return Path(path)


def track_once(archive: keras.export.ExportArchive, model: keras.Model) -> None:
    """`archive.track(model)`, with each weight tracked as the `tf.Variable` the endpoints capture.

    Keras tracks its own variable wrappers while the traced endpoints capture the `tf.Variable`s inside them:
    two objects a weight, so the SavedModel stores every weight twice and a server restores it twice (Keras
    3.15 on the TensorFlow backend). Tracking the inner variables lets the SavedModel writer keep one copy; the
    archive's `variables` (what `keras.layers.TFSMLayer` reads) list the same weights as before.
    """
    archive.track(model)
    tracked = getattr(archive, "_tf_trackable", None)
    for name in ("variables", "trainable_variables", "non_trainable_variables"):
        if tracked is not None and hasattr(tracked, name):
            setattr(tracked, name, [getattr(v, "_value", v) if isinstance(v, keras.Variable) else v
                                    for v in getattr(tracked, name)])


def _write_version(export_root: str | os.PathLike, recipe: str, part: str, write) -> Path:
    """Creates `<export_root>/<recipe>/<part>/`, lets `write(folder)` fill a hidden folder, renames it to the
    next version and rewrites models.config; on any failure nothing new is left behind."""
    part_dir = Path(export_root) / recipe / part
    try:
        part_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ExportError(f"cannot create the export folder {part_dir} ({e.strerror}); "
                          "choose a writable --export-dir") from e
    version = _next_version(part_dir)
    tmp = part_dir / f".tmp-{version}-{os.getpid()}"
    try:
        write(tmp)
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


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One named signature of an export.

    Attributes:
        function: called with the inputs as keyword arguments (tensors); returns a dict output name → tensor.
            An argument's Python default (`def sample(num_samples, seed=0, steps=50)`) becomes the input's
            default in the SavedModel, which a request may then leave out; a default of None is none.
        inputs: input name → `tf.TensorSpec`, the batch size (first) None and every other size given, e.g.
            `tf.TensorSpec([None, 28, 28, 1], tf.float32)`; a scalar such as `num_samples` is
            `tf.TensorSpec([], tf.int32)`.
        warmup: the inputs of each warm-up request TF Serving sends before serving (name → array); keep them
            cheap, e.g. one sample. Empty: no warm-up request for this signature.
        doc: what the signature does, written to the export's `signatures.json`.
    """

    function: Callable[..., Mapping[str, tf.Tensor]]
    inputs: Mapping[str, tf.TensorSpec]
    warmup: Sequence[Mapping[str, np.ndarray]] = ()
    doc: str = ""


def endpoint_defaults(endpoint: Endpoint, signature: str = "") -> dict[str, np.ndarray]:
    """The defaults of an endpoint's inputs: its function's Python default arguments, in the inputs' dtypes.

    Args:
        endpoint: the `Endpoint`.
        signature: its name, for messages.

    Returns:
        input name → array (0-d for a scalar), for every input whose argument has a default other than None.

    Raises:
        ExportError: a default that does not fit its input's dtype and shape.
    """
    try:
        parameters = inspect.signature(endpoint.function).parameters
    except (TypeError, ValueError):  # a callable without a readable signature has no defaults
        return {}
    defaults = {}
    for name, spec in endpoint.inputs.items():
        parameter = parameters.get(name)
        if parameter is None or parameter.default is inspect.Parameter.empty or parameter.default is None:
            continue
        value = np.asarray(parameter.default)
        cast = value.astype(spec.dtype.as_numpy_dtype) if value.dtype.kind in "biuf" else value
        kinds = "iuf" if spec.dtype.is_floating else "iu" if spec.dtype.is_integer else "b" if spec.dtype.is_bool else ""
        exact = value.dtype.kind in kinds and (spec.dtype.is_floating or np.array_equal(cast, value))
        if not spec.shape.is_compatible_with(value.shape) or not exact:
            raise ExportError(f"signature '{signature}': the default {parameter.default!r} of input '{name}' is not "
                              f"a {spec.dtype.name} of shape {tuple(spec.shape.as_list())}")
        defaults[name] = cast
    return defaults


def _signature_function(endpoint: Endpoint, specs: Sequence[tf.TensorSpec], defaults: Mapping[str, np.ndarray]):
    """`endpoint.function` as a function of the inputs in `specs`' order (those with defaults last), with each
    default as a tensor default argument, which is what `tf.saved_model.save` writes to `SignatureDef.defaults`.
    Every input's shape is checked in the graph before the function sees it."""
    names = [s.name for s in specs]
    function = tf.function(endpoint.function)  # with AutoGraph (the archive traces `call` without it)

    def call(*args, **kwargs):
        given = dict(zip(names, args), **kwargs)
        checked = _checked_shapes(specs, [given[n] for n in names])
        return dict(function(**dict(zip(names, checked))))

    call.__signature__ = inspect.Signature([
        inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                          default=tf.constant(defaults[n]) if n in defaults else inspect.Parameter.empty)
        for n in names])
    return call


def export_signatures(model: keras.Model, export_root: str | os.PathLike, recipe: str, part: str,
                      endpoints: Mapping[str, Endpoint], *, metadata: Mapping | None = None,
                      save_keras: bool = True, weights_of: keras.Model | None = None) -> Path:
    """Writes a SavedModel with several named signatures (e.g. `log_prob` and `sample`) as the next version
    of `<export_root>/<recipe>/<part>/`, and returns its folder.

    Unlike `export_for_serving`, the functions are the caller's: they may take scalars (`num_samples`,
    `seed`) with defaults (their Python default arguments, written to `SignatureDef.defaults`), run loops
    (`tf.while_loop`) and check their inputs with `tf.debugging` asserts, which a server turns into an
    INVALID_ARGUMENT error with the assert's message. The first endpoint is also served as `serving_default`.
    The version folder also gets the warm-up requests, `signatures.json` (each signature's inputs with their
    shapes, dtypes and defaults, its outputs and doc, plus `metadata`) and, with `save_keras`, `<part>.keras`.

    Args:
        model: the built Keras model whose variables the functions read.
        export_root: the export root, e.g. "saved_models".
        recipe: the recipe's name.
        part: the model's role, e.g. "pixelcnn", "flow", "scorer".
        endpoints: signature name → `Endpoint`.
        metadata: extra JSON-serialisable facts for clients (e.g. an anomaly threshold).
        save_keras: also save `<part>.keras` (of `model`, whole).
        weights_of: the part of `model` whose weights the SavedModel stores, when the functions read only that
            part's weights (a diffusion model's moving average, not the raw network it averages); default `model`.

    Returns:
        The new version folder.

    Raises:
        ExportError: no endpoints, an input's shape leaving a size other than the batch's unknown, a default
            that does not fit its input, an unbuilt model, or writing failed (no new version is left behind).
    """
    if not endpoints:
        raise ExportError(f"{recipe}/{part}: no signatures to export")
    for name, endpoint in endpoints.items():
        check_specs(name, [tf.TensorSpec(s.shape, s.dtype, name=n) for n, s in endpoint.inputs.items()])
        endpoint_defaults(endpoint, name)
    if not model.built:
        raise ExportError(f"the {part} model is not built; call it on a batch before exporting")
    model_name = served_name(recipe, part)

    def write(folder: Path) -> None:
        from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

        archive = keras.export.ExportArchive()
        track_once(archive, weights_of if weights_of is not None else model)
        described = {}
        for name, endpoint in endpoints.items():
            defaults = endpoint_defaults(endpoint, name)
            # a Python function's arguments with defaults come after those without
            named = {n: tf.TensorSpec(s.shape, s.dtype, name=n) for n, s in endpoint.inputs.items()}
            specs = [s for n, s in named.items() if n not in defaults] + [s for n, s in named.items() if n in defaults]
            function = _signature_function(endpoint, specs, defaults)
            # given as the function and its input_signature, the archive keeps a tf.function whose tensor
            # defaults tf.saved_model.save writes to the SignatureDef (a traced function would lose them)
            # (the archive serves the first endpoint also as serving_default, defaults included)
            traced = archive.add_endpoint(name, function, input_signature=specs)
            outputs = traced.get_concrete_function().structured_outputs
            described[name] = {
                "doc": endpoint.doc,
                "inputs": _describe(list(named.values()), defaults),
                "outputs": {n: {"dtype": t.dtype.name, "shape": t.shape.as_list()} for n, t in outputs.items()},
            }
        archive.write_out(str(folder), verbose=False)
        path = folder / WARMUP_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        with tf.io.TFRecordWriter(str(path)) as writer:
            for name, endpoint in endpoints.items():
                for inputs in endpoint.warmup:
                    request = predict_pb2.PredictRequest(
                        model_spec=model_pb2.ModelSpec(name=model_name, signature_name=name))
                    for key, value in inputs.items():
                        dtype = endpoint.inputs[key].dtype.as_numpy_dtype
                        request.inputs[key].CopyFrom(tf.make_tensor_proto(np.asarray(value, dtype)))
                    log = prediction_log_pb2.PredictionLog(
                        predict_log=prediction_log_pb2.PredictLog(request=request))
                    writer.write(log.SerializeToString())
        write_atomically(folder / SIGNATURES_FILE, json.dumps(
            {"model": model_name, "signatures": described, "metadata": dict(metadata or {})}, indent=2) + "\n")
        if save_keras:
            save_keras_copy(model, folder / f"{part}.keras")

    return _write_version(export_root, recipe, part, write)


def read_export_metadata(version_dir: str | os.PathLike) -> dict:
    """The `signatures.json` written beside a SavedModel: its signatures' inputs (shape, dtype, and default
    when there is one), outputs and docs, and the recipe's `metadata` (e.g. an anomaly threshold).

    Args:
        version_dir: a version folder.

    Returns:
        `{"model": ..., "signatures": {...}, "metadata": {...}}`.
    """
    return json.loads((Path(version_dir) / SIGNATURES_FILE).read_text())


def export_parts(export_root: str | os.PathLike, recipe: str,
                 parts: Sequence[tuple[str, keras.Model, Mapping, str | Sequence[str]]], *,
                 metadata: Mapping[str, Mapping] | None = None) -> dict[str, Path]:
    """Exports a recipe's parts (encoder, decoder, generator, …), each as the next version of its folder,
    and says where each went.

    Args:
        export_root: the root of the exports (`--export-dir`).
        recipe: the recipe's name, the first folder level.
        parts: `(part, model, inputs, outputs)` tuples, as `export_for_serving` takes them, e.g.
            `("decoder", decoder, {"code": (49,)}, "image")`.
        metadata: part → its `metadata` (see `export_for_serving`), for the parts that have any.

    Returns:
        `{part: version folder}`.
    """
    paths = {}
    for part, model, inputs, outputs in parts:
        paths[part] = export_for_serving(model, export_root, recipe, part, inputs=inputs, outputs=outputs,
                                         metadata=(metadata or {}).get(part))
        print(f"exported {part}: {paths[part]}")
    return paths


def write_models_config(export_root: str | os.PathLike, mount_point: str = "/models") -> Path:
    """Writes `<export_root>/models.config` for `tensorflow_model_server --model_config_file`.

    It lists every exported model (every `<recipe>/<part>/` with a version). Names are `<recipe>_<part>`;
    base paths assume the export root is mounted at `mount_point` (as in the README's `docker run`).

    Args:
        export_root: the export root.
        mount_point: where the server sees the export root.

    Returns:
        The config file's `Path`.
    """
    root = Path(export_root)
    entries = []
    for part_dir in sorted(p for p in root.glob("*/*") if p.is_dir() and versions(p)):
        recipe, part = part_dir.parent.name, part_dir.name
        entries.append(f'  config {{\n    name: "{served_name(recipe, part)}"\n'
                       f'    base_path: "{mount_point}/{recipe}/{part}"\n'
                       f'    model_platform: "tensorflow"\n  }}\n')
    return write_atomically(root / "models.config", "model_config_list {\n" + "".join(entries) + "}\n")


def load_signature(version_dir: str | os.PathLike):
    """The `serving_default` function of an exported version, as TensorFlow's Python loader sees it.

    Args:
        version_dir: a version folder.

    Returns:
        A concrete function taking the named inputs as keyword arguments and returning a dict of outputs.
    """
    return tf.saved_model.load(str(version_dir)).signatures["serving_default"]
