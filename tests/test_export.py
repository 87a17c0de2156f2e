"""Exports: TF Serving's layout, named signatures, the C++ loader's view, versions that never clash."""

import json
import os
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

from gen_keras.serving import export
from gen_keras.serving.wire import parse_signatures
from gen_keras.models.autoencoders import conv_autoencoder
from tests.conftest import run_python

RNG = np.random.default_rng(0)


def test_layout_and_signatures(conv_autoencoder_exports):
    root, paths = conv_autoencoder_exports
    expected = {"encoder": ("image", [-1, 28, 28, 1], "code", [-1, 49]),
                "decoder": ("code", [-1, 49], "image", [-1, 28, 28, 1]),
                "autoencoder": ("image", [-1, 28, 28, 1], "image", [-1, 28, 28, 1])}
    for part, path in paths.items():
        assert path == root / "conv_autoencoder" / part / "1"
        assert (path / "saved_model.pb").exists() and (path / "variables").is_dir()
        assert (path / f"{part}.keras").exists()
        in_name, in_shape, out_name, out_shape = expected[part]
        sig = tf.saved_model.load(str(path)).signatures["serving_default"]
        inputs = sig.structured_input_signature[1]
        assert list(inputs) == [in_name] and inputs[in_name].dtype == tf.float32
        assert inputs[in_name].shape.as_list() == [None if d == -1 else d for d in in_shape]
        assert list(sig.structured_outputs) == [out_name]
        assert sig.structured_outputs[out_name].dtype == tf.float32
        # the same, read from the MetaGraphDef with the C API module's own protobuf reader
        from tensorflow.core.protobuf import saved_model_pb2

        sm = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
        mine = parse_signatures(sm.meta_graphs[0].SerializeToString())["serving_default"]
        assert list(mine.inputs) == [in_name] and mine.inputs[in_name].shape == in_shape
        assert list(mine.outputs) == [out_name] and mine.outputs[out_name].shape == out_shape
        assert mine.inputs[in_name].dtype == 1  # DT_FLOAT


def _stored_values(version) -> int:
    reader = tf.train.load_checkpoint(str(version / "variables" / "variables"))
    return sum(int(np.prod(shape)) for name, shape in reader.get_variable_to_shape_map().items()
               if name != "_CHECKPOINTABLE_OBJECT_GRAPH")


def test_every_weight_is_stored_once(conv_autoencoder_exports, lecture_parts, tmp_path):
    """Keras's archive writes each weight twice (its wrapper and the captured variable); ours once, for both
    ways of exporting, and the archive's `variables` (what TFSMLayer reads) still list every weight."""
    _, paths = conv_autoencoder_exports
    for part, path in paths.items():
        assert _stored_values(path) == getattr(lecture_parts, part).count_params(), part
    decoder = lecture_parts.decoder
    endpoint = export.Endpoint(lambda code: {"image": decoder(code, training=False)},
                               {"code": tf.TensorSpec([None, 49], tf.float32)}, [{"code": np.zeros((1, 49))}])
    version = export.export_signatures(decoder, tmp_path, "toy", "decoder", {"decode": endpoint})
    assert _stored_values(version) == decoder.count_params()
    layer = keras.layers.TFSMLayer(str(paths["decoder"]), call_endpoint="serving_default")
    assert len(layer.weights) == len(decoder.weights)
    code = RNG.random((2, 49)).astype(np.float32)
    np.testing.assert_allclose(layer(code)["image"], decoder(code, training=False), atol=1e-6)


def test_models_config_lists_every_export_and_parses(conv_autoencoder_exports):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    root, _ = conv_autoencoder_exports
    config = text_format.Parse((root / "models.config").read_text(), model_server_config_pb2.ModelServerConfig())
    entries = {c.name: c.base_path for c in config.model_config_list.config}
    assert entries == {f"conv_autoencoder_{p}": f"/models/conv_autoencoder/{p}"
                       for p in ("autoencoder", "decoder", "encoder")}
    assert all(c.model_platform == "tensorflow" for c in config.model_config_list.config)


def test_keras_copy_of_a_compiled_model_leaves_its_optimizer_behind(tmp_path):
    import warnings

    from gen_keras.serving import export

    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(256), keras.layers.Dense(10)])
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    x, y = RNG.random((8, 64), dtype=np.float32), RNG.random((8, 10), dtype=np.float32)
    model.fit(x, y, verbose=0)
    model.save(tmp_path / "with_optimizer.keras")
    export.save_keras_copy(model, tmp_path / "copy.keras")
    # Adam's two slots a weight stay behind: the file is about a third of one that keeps them
    assert (tmp_path / "copy.keras").stat().st_size < 0.5 * (tmp_path / "with_optimizer.keras").stat().st_size
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "skipping variable loading for optimizer"
        copy = keras.saving.load_model(tmp_path / "copy.keras")
    assert not copy.compiled
    np.testing.assert_allclose(copy(x), model(x), atol=1e-6)
    model.fit(x, y, verbose=0)  # the exported model keeps its optimizer and trains on
    assert model.compiled and int(model.optimizer.iterations.numpy()) == 2


@pytest.mark.slow
def test_cpp_loader_in_a_fresh_process_matches_keras(conv_autoencoder_exports, lecture_parts, tmp_path):
    """TF Serving's loader (the C API, no TensorFlow Python package) gives Keras's inference outputs."""
    _, paths = conv_autoencoder_exports
    feeds = {"encoder": RNG.random((5, 28, 28, 1), dtype=np.float32),
             "decoder": RNG.normal(size=(5, 49)).astype(np.float32),
             "autoencoder": RNG.random((5, 28, 28, 1), dtype=np.float32)}
    script = ["-c", (
        "import sys, json, numpy as np\n"
        "from gen_keras.serving.capi import SavedModelSession\n"
        "jobs = json.loads(sys.argv[1])\n"
        "for path, name, feed, out in jobs:\n"
        "    with SavedModelSession(path) as s:\n"
        "        np.savez(out, **s.run({name: np.load(feed)}))\n"
        "assert 'tensorflow' not in sys.modules\n"
        "print('ok')\n")]
    jobs = []
    for part, x in feeds.items():
        np.save(tmp_path / f"{part}.npy", x)
        name = "code" if part == "decoder" else "image"
        jobs.append([str(paths[part]), name, str(tmp_path / f"{part}.npy"), str(tmp_path / f"{part}.npz")])
    result = run_python([*script, json.dumps(jobs)], timeout=120)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]
    for part, x in feeds.items():
        got = np.load(tmp_path / f"{part}.npz")
        key = "image" if part != "encoder" else "code"
        want = getattr(lecture_parts, part)(x, training=False).numpy()
        assert got[key].shape == want.shape
        assert np.max(np.abs(got[key] - want)) <= 1e-5


def test_keras_file_reloads_for_fine_tuning(conv_autoencoder_exports, lecture_parts):
    _, paths = conv_autoencoder_exports
    model = keras.saving.load_model(paths["encoder"] / "encoder.keras")  # safe mode: no custom code needed
    x = RNG.random((3, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(model(x), lecture_parts.encoder(x), atol=1e-6)
    assert model.trainable_weights


@pytest.mark.slow
def test_wrong_request_shape_is_a_clear_error(conv_autoencoder_exports):
    from gen_keras.errors import CApiError
    from gen_keras.serving.capi import SavedModelSession

    _, paths = conv_autoencoder_exports
    with SavedModelSession(paths["decoder"]) as session:
        with pytest.raises(CApiError, match=r"input 'code' must have shape \[-1, 49\]"):
            session.run({"code": np.zeros((2, 48), np.float32)})
        with pytest.raises(CApiError, match="takes inputs \\['code'\\]"):
            session.run({"z": np.zeros((2, 49), np.float32)})


def test_versions_increase_and_are_never_overwritten(lecture_parts, tmp_path):
    def write():
        return export.export_for_serving(lecture_parts.decoder, tmp_path, "r", "decoder",
                                         inputs={"code": (49,)}, outputs="image", save_keras=False)

    first = write()
    stamp = (first / "saved_model.pb").stat().st_mtime_ns
    # an export killed half-way leaves only a hidden .tmp folder, which TF Serving ignores
    (tmp_path / "r" / "decoder" / ".tmp-2-12345").mkdir()
    second = write()
    assert (first.name, second.name) == ("1", "3")
    assert export.versions(tmp_path / "r" / "decoder") == [1, 3]
    assert (first / "saved_model.pb").stat().st_mtime_ns == stamp


def test_stale_leftovers_of_killed_exports_are_cleaned(lecture_parts, tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "pass"])  # an ended process: its pid names a killed export
    child.wait()
    hours_ago = time.time() - 2 * export.STALE_EXPORT_SECONDS

    def leftover(part_dir, name, old):
        (part_dir / name).mkdir(parents=True)
        if old:
            os.utime(part_dir / name, (hours_ago, hours_ago))
        return part_dir / name

    part_dir = tmp_path / "r" / "decoder"
    running = leftover(part_dir, f".tmp-1-{os.getpid()}", old=True)  # an export in progress, however old
    recent = leftover(part_dir, f".tmp-2-{child.pid}", old=False)    # killed a moment ago
    stale = leftover(part_dir, f".tmp-3-{child.pid}", old=True)      # killed over an hour ago
    path = export.export_for_serving(lecture_parts.decoder, tmp_path, "r", "decoder",
                                     inputs={"code": (49,)}, outputs="image", save_keras=False)
    assert path.name == "3"  # the stale folder is gone and its number free; 1 and 2 stay taken
    assert not stale.exists() and recent.exists() and running.exists()
    # each kind on its own: only the old one of an ended process gives its number back
    for name, old, expected in ((f".tmp-5-{child.pid}", False, 6), (f".tmp-5-{os.getpid()}", True, 6),
                                (".tmp-5-elsewhere", True, 6), (f".tmp-5-{child.pid}", True, 1)):
        alone = leftover(tmp_path / name / str(old), name, old)
        assert export._next_version(alone.parent) == expected, (name, old)


def test_failed_export_leaves_no_version(lecture_parts, tmp_path):
    with pytest.raises(export.ExportError, match="returns 1 outputs but 2 names"):
        export.export_for_serving(lecture_parts.decoder, tmp_path, "r", "decoder", inputs={"code": (49,)},
                                  outputs=["image", "extra"])
    part_dir = tmp_path / "r" / "decoder"
    assert export.versions(part_dir) == [] and not any(part_dir.iterdir())


def test_unwritable_export_dir(lecture_parts, tmp_path):
    (tmp_path / "a_file").write_text("")  # a folder cannot be made inside a file, not even by root
    with pytest.raises(export.ExportError, match="writable --export-dir"):
        export.export_for_serving(lecture_parts.decoder, tmp_path / "a_file" / "x", "r", "decoder",
                                  inputs={"code": (49,)}, outputs="image")


def test_mixed_precision_model_computes_in_bfloat16_but_serves_float32(tmp_path):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")  # what --mixed-precision picks on CPU
    try:
        parts = conv_autoencoder("improved")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert parts.encoder.layers[1].compute_dtype == "bfloat16"
    assert all(w.dtype == "float32" for w in parts.autoencoder.weights)
    assert parts.encoder.output.dtype == "float32" and parts.decoder.output.dtype == "float32"
    path = export.export_for_serving(parts.decoder, tmp_path, "r", "decoder", inputs={"code": (49,)},
                                     outputs="image", save_keras=False)
    out = export.load_signature(path)(code=tf.zeros((2, 49)))["image"]
    assert out.dtype == tf.float32 and out.shape == (2, 28, 28, 1)


def _warmup_logs(version_dir):
    from tensorflow_serving.apis import prediction_log_pb2

    path = str(version_dir / "assets.extra" / "tf_serving_warmup_requests")
    return [prediction_log_pb2.PredictionLog.FromString(r.numpy()) for r in tf.data.TFRecordDataset(path)]


def test_warmup_records_are_prediction_logs_for_the_signature(conv_autoencoder_exports):
    """TF Serving's warm-up format, read with the real protos; the C API module's decoder reads the same."""
    from gen_keras.serving import capi

    _, paths = conv_autoencoder_exports
    for part, path in paths.items():
        logs = _warmup_logs(path)
        assert len(logs) == len(export.WARMUP_BATCH_SIZES)
        mine = capi.warmup_requests(path)
        for log, batch_size, decoded in zip(logs, export.WARMUP_BATCH_SIZES, mine):
            request = log.predict_log.request
            assert request.model_spec.name == f"conv_autoencoder_{part}" == decoded.model_name
            assert request.model_spec.signature_name == "serving_default" == decoded.signature_name
            name, shape = ("code", [49]) if part == "decoder" else ("image", [28, 28, 1])
            assert list(request.inputs) == [name] == list(decoded.inputs)
            value = tf.make_ndarray(request.inputs[name])
            assert value.dtype == np.float32 and list(value.shape) == [batch_size, *shape]
            assert np.all((value >= 0) & (value < 1))
            np.testing.assert_array_equal(decoded.inputs[name], value)


@pytest.mark.slow
def test_warmup_replays_through_the_cpp_loader_in_a_fresh_process(conv_autoencoder_exports, lecture_parts, tmp_path):
    """What TF Serving does on loading a version: every warm-up record through the C++ loader's session."""
    from gen_keras.serving import capi

    _, paths = conv_autoencoder_exports
    script = ("import sys, json, numpy as np\n"
              "from gen_keras.serving.capi import replay_warmup\n"
              "for path, out in json.loads(sys.argv[1]):\n"
              "    np.savez(out, *[o[k] for o in replay_warmup(path) for k in sorted(o)])\n"
              "assert 'tensorflow' not in sys.modules\n"
              "print('ok')\n")
    jobs = [[str(path), str(tmp_path / f"{part}.npz")] for part, path in paths.items()]
    result = run_python(["-c", script, json.dumps(jobs)], timeout=120)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]
    for part, path in paths.items():
        replayed = np.load(tmp_path / f"{part}.npz")
        requests = capi.warmup_requests(path)
        assert len(replayed.files) == len(requests)
        for i, request in enumerate(requests):
            got = replayed[f"arr_{i}"]
            want = getattr(lecture_parts, part)(*request.inputs.values(), training=False).numpy()
            assert got.shape == want.shape and np.all(np.isfinite(got))
            assert np.max(np.abs(got - want)) <= 1e-5


@pytest.mark.slow
def test_warmup_gives_integer_inputs_valid_values(tmp_path):
    """A conditional model's class label gets small valid integers; the C API replays the records."""
    from gen_keras.serving import capi

    z = keras.Input((4,), name="z")
    label = keras.Input((), dtype="int32", name="label")
    embedded = keras.layers.Embedding(3, 4)(label)
    model = keras.Model([z, label], keras.layers.Dense(2)(keras.layers.Concatenate()([z, embedded])))
    path = export.export_for_serving(model, tmp_path, "cgan", "generator", outputs="image", save_keras=False,
                                     inputs={"z": (4,), "label": tf.TensorSpec([None], tf.int32)})
    label_values = [tf.make_ndarray(log.predict_log.request.inputs["label"]) for log in _warmup_logs(path)]
    assert [v.shape for v in label_values] == [(b,) for b in export.WARMUP_BATCH_SIZES]
    assert all(v.dtype == np.int32 and np.all((v >= 0) & (v < 3)) for v in label_values)
    for request, outputs in zip(capi.warmup_requests(path), capi.replay_warmup(path)):
        want = model([request.inputs["z"], request.inputs["label"]]).numpy()
        np.testing.assert_allclose(outputs["image"], want, atol=1e-6)


def test_tensor_decoder_reads_every_encoding():
    """capi.parse_tensor against tf.make_ndarray: tensor_content, *_val fields, a repeated last value."""
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

    from gen_keras.serving.wire import parse_tensor

    def shape(*dims):
        return tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in dims])

    protos = [
        tf.make_tensor_proto(RNG.normal(size=(2, 3)).astype(np.float32)),  # tensor_content
        tf.make_tensor_proto(np.array([[-3, 7]], np.int64)),
        tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape=shape(2, 2), float_val=[0.5]),  # fills
        tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape=shape(3), float_val=[1.0, -2.5, 4.0]),
        tensor_pb2.TensorProto(dtype=types_pb2.DT_DOUBLE, tensor_shape=shape(2), double_val=[1e-300, 2.0]),
        tensor_pb2.TensorProto(dtype=types_pb2.DT_INT32, tensor_shape=shape(3), int_val=[-1, 0, 9]),
        tensor_pb2.TensorProto(dtype=types_pb2.DT_INT64, tensor_shape=shape(3), int64_val=[-2**40, 5]),
        tensor_pb2.TensorProto(dtype=types_pb2.DT_BOOL, tensor_shape=shape(3), bool_val=[True, False, True]),
        tensor_pb2.TensorProto(dtype=types_pb2.DT_UINT8, tensor_shape=shape(2), int_val=[255, 3]),
        tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_shape=shape(0, 4)),
    ]
    for proto in protos:
        want, got = tf.make_ndarray(proto), parse_tensor(proto.SerializeToString())
        assert got.dtype == want.dtype and got.shape == want.shape, proto
        np.testing.assert_array_equal(got, want)


def test_corrupt_warmup_file_is_a_clear_error(conv_autoencoder_exports, tmp_path):
    from gen_keras.errors import CApiError
    from gen_keras.serving.wire import read_tfrecords

    _, paths = conv_autoencoder_exports
    data = (paths["decoder"] / "assets.extra" / "tf_serving_warmup_requests").read_bytes()
    assert len(list(read_tfrecords(paths["decoder"] / "assets.extra" / "tf_serving_warmup_requests"))) == 3
    flipped = bytearray(data)
    flipped[40] ^= 1  # inside the first record's data
    (tmp_path / "flipped").write_bytes(bytes(flipped))
    (tmp_path / "truncated").write_bytes(data[:-10])
    with pytest.raises(CApiError, match="fails its checksum"):
        list(read_tfrecords(tmp_path / "flipped"))
    with pytest.raises(CApiError, match="corrupt or truncated record"):
        list(read_tfrecords(tmp_path / "truncated"))


@pytest.mark.slow
def test_numpy_random_works_after_the_c_api_loads_an_export(conv_autoencoder_exports):
    """A user's script that loads an export through the C API and then draws random codes: numpy.random
    first used after TensorFlow's C library was loaded used to crash the process (exit status 139)."""
    from tests.conftest import run_python

    _, paths = conv_autoencoder_exports
    script = ("import sys\nimport numpy as np\n"
              "from gen_keras.serving.capi import SavedModelSession\n"
              "assert 'numpy.random' not in sys.modules  # so the first use comes after the library\n"
              "session = SavedModelSession(sys.argv[1])\n"
              "codes = np.random.default_rng(0).normal(size=(3, 49)).astype(np.float32)\n"
              "print(session.run({'code': codes})['image'].shape)\n")
    result = run_python(["-c", script, str(paths["decoder"])], timeout=120)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert result.stdout.strip() == "(3, 28, 28, 1)"


@pytest.mark.slow
def test_several_signatures_with_scalars_asserts_warmup_and_metadata(tmp_path):
    """`export_signatures`: named signatures taking scalars, run by the C API loader; a `tf.debugging` assert
    in a signature is a clear error there; warm-up requests per signature; metadata beside the model."""
    from gen_keras.serving.capi import SavedModelSession, warmup_requests

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])

    def score(x):
        tf.debugging.assert_less_equal(x, 1.0, message="x must be at most 1")
        return {"score": tf.reduce_sum(model(x), -1)}

    def sample(num_samples, seed):
        tf.debugging.assert_positive(num_samples, message="num_samples must be positive")
        return {"x": model(tf.random.stateless_normal([num_samples, 3], seed=tf.stack([seed, 0])))}

    endpoints = {
        "score": export.Endpoint(score, {"x": tf.TensorSpec([None, 3], tf.float32)}, [{"x": np.zeros((1, 3))}],
                                 doc="the sum of the outputs"),
        "sample": export.Endpoint(sample, {"num_samples": tf.TensorSpec([], tf.int32),
                                           "seed": tf.TensorSpec([], tf.int32)}, [{"num_samples": 1, "seed": 0}]),
    }
    version = export.export_signatures(model, tmp_path, "toy", "scorer", endpoints, metadata={"threshold": 0.25})
    assert version == tmp_path / "toy" / "scorer" / "1" and (version / "saved_model.pb").is_file()
    meta = export.read_export_metadata(version)
    assert meta["metadata"] == {"threshold": 0.25}
    assert meta["signatures"]["score"]["outputs"]["score"] == {"dtype": "float32", "shape": [None]}
    assert meta["signatures"]["sample"]["inputs"]["num_samples"] == {"dtype": "int32", "shape": []}
    assert [(r.signature_name, sorted(r.inputs)) for r in warmup_requests(version)] == [
        ("score", ["x"]), ("sample", ["num_samples", "seed"])]
    x = RNG.random((4, 3)).astype(np.float32)
    with SavedModelSession(version) as session:
        assert {"score", "sample", "serving_default"} <= set(session.signatures)
        np.testing.assert_allclose(session.run({"x": x}, "score")["score"], score(x)["score"].numpy(), atol=1e-5)
        first = session.run({"num_samples": np.int32(3), "seed": np.int32(7)}, "sample")["x"]
        assert first.shape == (3, 2)
        np.testing.assert_array_equal(first, session.run({"num_samples": np.int32(3), "seed": np.int32(7)},
                                                         "sample")["x"])
        from gen_keras.errors import CApiError

        with pytest.raises(CApiError, match="x must be at most 1"):
            session.run({"x": x + 2}, "score")
        with pytest.raises(CApiError, match="num_samples must be positive"):
            session.run({"num_samples": np.int32(0), "seed": np.int32(7)}, "sample")
    with pytest.raises(export.ExportError, match="no signatures"):
        export.export_signatures(model, tmp_path, "toy", "empty", {})
    assert not (tmp_path / "toy" / "empty").exists() or not export.versions(tmp_path / "toy" / "empty")


def test_exports_declare_every_size_but_the_batch(conv_autoencoder_exports):
    from tests.conftest import assert_signatures_describe_themselves

    root, paths = conv_autoencoder_exports
    assert sorted(assert_signatures_describe_themselves(root)) == sorted(paths.values())
    documented = export.read_export_metadata(paths["decoder"])["signatures"]["serving_default"]
    assert documented["inputs"] == {"code": {"dtype": "float32", "shape": [None, 49]}}
    assert documented["outputs"] == {"image": {"dtype": "float32", "shape": [None, 28, 28, 1]}}


def test_shapes_without_sizes_and_defaults_that_do_not_fit_are_refused(lecture_parts, tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])

    def score(x):
        return {"score": model(x)}

    def sample(num_samples, seed=0.5):
        return {"x": model(tf.random.stateless_normal([num_samples, 3], seed=tf.stack([seed, 0])))}

    def warmer(num_samples, temperature="hot"):
        return sample(num_samples)

    cases = [
        ({"x": tf.TensorSpec([None, None], tf.float32)}, score, r"input 'x' has shape \(None, None\); declare"),
        ({"x": tf.TensorSpec(None, tf.float32)}, score, "input 'x' has shape unknown"),
        ({"num_samples": tf.TensorSpec([], tf.int32), "seed": tf.TensorSpec([], tf.int32)}, sample,
         r"the default 0.5 of input 'seed' is not a int32 of shape \(\)"),
        ({"num_samples": tf.TensorSpec([], tf.int32), "temperature": tf.TensorSpec([], tf.float32)}, warmer,
         r"the default 'hot' of input 'temperature' is not a float32"),
        ({"num_samples": tf.TensorSpec([], tf.int32), "temperature": tf.TensorSpec([], tf.float32)},
         lambda num_samples, temperature=[0.5, 1.0]: sample(num_samples), r"is not a float32 of shape \(\)"),
    ]
    for inputs, function, message in cases:
        with pytest.raises(export.ExportError, match=message):
            export.export_signatures(model, tmp_path, "toy", "vague", {"f": export.Endpoint(function, inputs)})
    with pytest.raises(export.ExportError, match=r"input 'code' has shape \(None, None\)"):
        export.export_for_serving(lecture_parts.decoder, tmp_path, "r", "decoder",
                                  inputs={"code": tf.TensorSpec([None, None])}, outputs="image")
    assert not list(tmp_path.rglob("saved_model.pb"))


@pytest.mark.slow
def test_python_defaults_become_signature_defaults_the_c_api_fills_in(tmp_path):
    """`def sample(num_samples, seed=7, temperature=0.7)`: the SavedModel's SignatureDef holds seed and
    temperature's defaults (as tf.saved_model.save writes them), signatures.json documents them, and the C API
    loader feeds them to a request that leaves them out, as TF Serving does; a left-out input without a
    default, or a wrong shape, is a clear error."""
    from tensorflow.core.protobuf import saved_model_pb2

    from gen_keras.errors import CApiError
    from gen_keras.serving.capi import SavedModelSession
    from tests.conftest import assert_signatures_describe_themselves

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])

    def sample(num_samples, seed=7, temperature=0.7):
        noise = tf.random.stateless_normal([num_samples, 3], seed=tf.stack([seed, 0]))
        return {"x": model(temperature * noise)}

    def score(x):
        return {"score": tf.reduce_sum(model(x), -1)}

    specs = {"temperature": tf.TensorSpec([], tf.float32), "num_samples": tf.TensorSpec([], tf.int32),
             "seed": tf.TensorSpec([], tf.int32)}
    version = export.export_signatures(model, tmp_path, "toy", "sampler", {
        "sample": export.Endpoint(sample, specs, [{"num_samples": 1}]),
        "score": export.Endpoint(score, {"x": tf.TensorSpec([None, 3], tf.float32)})})
    saved_model = saved_model_pb2.SavedModel.FromString((version / "saved_model.pb").read_bytes())
    for key in ("sample", "serving_default"):
        defaults = saved_model.meta_graphs[0].signature_def[key].defaults
        assert {k: tf.make_ndarray(v).tolist() for k, v in defaults.items()} == {
            "seed": 7, "temperature": pytest.approx(0.7)}
    assert not saved_model.meta_graphs[0].signature_def["score"].defaults
    documented = export.read_export_metadata(version)["signatures"]["sample"]["inputs"]
    assert documented == {"temperature": {"dtype": "float32", "shape": [], "default": pytest.approx(0.7)},
                          "num_samples": {"dtype": "int32", "shape": []},
                          "seed": {"dtype": "int32", "shape": [], "default": 7}}
    assert_signatures_describe_themselves(tmp_path)
    with SavedModelSession(version) as session:
        assert {k: v.tolist() for k, v in session.signatures["sample"].defaults.items()} == {
            "seed": 7, "temperature": pytest.approx(0.7)}
        left_out = session.run({"num_samples": np.int32(4)}, "sample")["x"]
        assert left_out.shape == (4, 2)
        np.testing.assert_array_equal(left_out, session.run(
            {"num_samples": np.int32(4), "seed": np.int32(7), "temperature": np.float32(0.7)}, "sample")["x"])
        np.testing.assert_array_equal(left_out, session.run({"num_samples": np.int32(4)})["x"])  # serving_default
        assert not np.array_equal(left_out, session.run({"num_samples": np.int32(4), "seed": np.int32(8)},
                                                        "sample")["x"])
        with pytest.raises(CApiError, match=r"takes inputs \['num_samples', 'seed', 'temperature'\], got "
                                            r"\['seed'\] \(an input with a default may be left out: num_samples, "
                                            r"seed \(default 7\)"):
            session.run({"seed": np.int32(1)}, "sample")
        with pytest.raises(CApiError, match=r"input 'x' must have shape \[-1, 3\]"):
            session.run({"x": np.zeros((2, 4), np.float32)}, "score")


@pytest.mark.slow
def test_the_graph_checks_shapes_a_server_feeds_unchecked(conv_autoencoder_exports, monkeypatch):
    """A server feeds a request's tensors without comparing them to the signature; the graph itself then
    refuses a wrong shape, naming both shapes."""
    from gen_keras.errors import CApiError
    from gen_keras.serving import capi

    monkeypatch.setattr(capi, "fits", lambda info, shape: True)  # the harness's own check off, as on a server
    _, paths = conv_autoencoder_exports
    with capi.SavedModelSession(paths["decoder"]) as session:
        for shape in ((2, 48), (49,)):
            with pytest.raises(CApiError, match=r"is not compatible with expected shape \[\?,49\]"):
                session.run({"code": np.zeros(shape, np.float32)})
