"""Exports: TF Serving's layout, named signatures, the C++ loader's view, versions that never clash."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from gen_keras import export
from gen_keras.capi import parse_signatures
from gen_keras.models.autoencoders import conv_autoencoder
from tests.conftest import run_python

RNG = np.random.default_rng(0)


@pytest.fixture(scope="module")
def lecture_parts():
    parts = conv_autoencoder("lecture")
    parts.autoencoder(np.zeros((1, 28, 28, 1), np.float32))
    for layer in parts.decoder.layers:  # non-trivial batch-norm statistics, which exports must carry
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(RNG.normal(size=64).astype(np.float32) * 0.1)
            layer.moving_variance.assign(RNG.uniform(0.01, 2.0, size=64).astype(np.float32))
    return parts


@pytest.fixture(scope="module")
def exported(lecture_parts, tmp_path_factory):
    root = tmp_path_factory.mktemp("saved_models")
    specs = {"encoder": ({"image": (28, 28, 1)}, "code"), "decoder": ({"code": (49,)}, "image"),
             "autoencoder": ({"image": (28, 28, 1)}, "image")}
    paths = {part: export.export_for_serving(getattr(lecture_parts, part), root, "conv_autoencoder", part,
                                             inputs=inputs, outputs=outputs)
             for part, (inputs, outputs) in specs.items()}
    return root, paths


def test_layout_and_signatures(exported):
    root, paths = exported
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


def test_models_config_lists_every_export_and_parses(exported):
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    root, _ = exported
    config = text_format.Parse((root / "models.config").read_text(), model_server_config_pb2.ModelServerConfig())
    entries = {c.name: c.base_path for c in config.model_config_list.config}
    assert entries == {f"conv_autoencoder_{p}": f"/models/conv_autoencoder/{p}"
                       for p in ("autoencoder", "decoder", "encoder")}
    assert all(c.model_platform == "tensorflow" for c in config.model_config_list.config)


def test_cpp_loader_in_a_fresh_process_matches_keras(exported, lecture_parts, tmp_path):
    """TF Serving's loader (the C API, no TensorFlow Python package) gives Keras's inference outputs."""
    _, paths = exported
    feeds = {"encoder": RNG.random((5, 28, 28, 1), dtype=np.float32),
             "decoder": RNG.normal(size=(5, 49)).astype(np.float32),
             "autoencoder": RNG.random((5, 28, 28, 1), dtype=np.float32)}
    script = ["-c", (
        "import sys, json, numpy as np\n"
        "from gen_keras.capi import SavedModelSession\n"
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


def test_keras_file_reloads_for_fine_tuning(exported, lecture_parts):
    _, paths = exported
    model = keras.saving.load_model(paths["encoder"] / "encoder.keras")  # safe mode: no custom code needed
    x = RNG.random((3, 28, 28, 1), dtype=np.float32)
    np.testing.assert_allclose(model(x), lecture_parts.encoder(x), atol=1e-6)
    assert model.trainable_weights


def test_wrong_request_shape_is_a_clear_error(exported):
    from gen_keras.capi import CApiError, SavedModelSession

    _, paths = exported
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
