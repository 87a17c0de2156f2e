"""The TF Serving client against stand-ins that answer in TF Serving's formats and compute with real exports."""

import os
import socket
from urllib.parse import urlparse

import keras
import matplotlib.image
import numpy as np
import pytest

from gen_keras import data
from gen_keras.serving import export
from gen_keras import serve as serve_command
from gen_keras.serving import client as serve
from gen_keras.errors import ServingError
from tests.conftest import run_python
from tests.tf_serving_standin import ServedModels, grpc_server, rest_server

CODES = np.random.default_rng(1).normal(size=(3, 49)).astype(np.float32)
DECODER = "conv_autoencoder_decoder"
SAMPLER = "toy_sampler"


@pytest.fixture(scope="session")
def two_heads(tmp_path_factory):
    """A model with two named outputs, as a VAE encoder's mean and log-variance."""
    code = keras.Input((49,), name="code")
    model = keras.Model(code, [keras.layers.Dense(3)(code), keras.layers.Dense(3)(code)])
    root = tmp_path_factory.mktemp("two_heads")
    export.export_for_serving(model, root, "vae", "encoder", inputs={"code": (49,)}, outputs=["mean", "log_var"],
                              save_keras=False)
    return model, root / "vae" / "encoder"


@pytest.fixture(scope="session")
def sampler(tmp_path_factory):
    """A `sample` signature whose seed and temperature have defaults (3 and 1.0) and whose num_samples has none;
    it draws 4×4 images."""
    import tensorflow as tf

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(16, activation="sigmoid"),
                              keras.layers.Reshape((4, 4, 1))])

    def sample(num_samples, seed=3, temperature=1.0):
        return {"image": model(temperature * tf.random.stateless_normal([num_samples, 3], seed=tf.stack([seed, 0])))}

    root = tmp_path_factory.mktemp("sampler")
    specs = {"num_samples": tf.TensorSpec([], tf.int32), "seed": tf.TensorSpec([], tf.int32),
             "temperature": tf.TensorSpec([], tf.float32)}
    export.export_signatures(model, root, "toy", "sampler", {"sample": export.Endpoint(sample, specs)},
                             save_keras=False)
    return sample, root / "toy" / "sampler"


@pytest.fixture(scope="session")
def served(conv_autoencoder_exports, two_heads, sampler):
    root, _ = conv_autoencoder_exports
    return ServedModels({DECODER: root / "conv_autoencoder" / "decoder",
                         "conv_autoencoder_encoder": root / "conv_autoencoder" / "encoder", "two_heads": two_heads[1],
                         SAMPLER: sampler[1]})


@pytest.fixture(scope="session")
def rest_url(served):
    with rest_server(served) as url:
        yield url


@pytest.fixture(scope="session")
def grpc_target(served):
    with grpc_server(served) as target:
        yield target


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_rest_bodies_follow_the_documented_forms():
    rows = serve.rest_request_body({"code": CODES}, "instances")
    assert rows["signature_name"] == "serving_default" and len(rows["instances"]) == 3
    assert [list(r) for r in rows["instances"]] == [["code"]] * 3
    np.testing.assert_array_equal(np.asarray([r["code"] for r in rows["instances"]], np.float32), CODES)
    columns = serve.rest_request_body({"code": CODES}, "inputs")
    assert list(columns["inputs"]) == ["code"]
    np.testing.assert_array_equal(np.asarray(columns["inputs"]["code"], np.float32), CODES)
    with pytest.raises(ServingError, match="one batch size"):
        serve.rest_request_body({"a": CODES, "b": CODES[:2]}, "instances")

    one = serve.parse_rest_response({"predictions": [[1.0, 2.0], [3.0, 4.0]]}, "instances", "image")
    assert list(one) == ["image"] and one["image"].dtype == np.float32 and one["image"].shape == (2, 2)
    two = serve.parse_rest_response({"predictions": [{"a": 1, "b": [2.0]}, {"a": 3, "b": [4.0]}]}, "instances")
    assert two["a"].tolist() == [1, 3] and two["b"].tolist() == [[2.0], [4.0]]
    assert serve.parse_rest_response({"outputs": {"a": [[1.5]]}}, "inputs")["a"].shape == (1, 1)
    with pytest.raises(ServingError, match="no 'outputs'"):
        serve.parse_rest_response({"predictions": []}, "inputs")


@pytest.mark.parametrize("form", ["instances", "inputs"])
def test_predict_rest_returns_the_decoders_images(rest_url, lecture_parts, form):
    want = lecture_parts.decoder(CODES, training=False).numpy()
    for version in (None, 1):
        got = serve.predict_rest(rest_url, DECODER, {"code": CODES}, version, form, single_output="image")
        assert list(got) == ["image"] and got["image"].shape == (3, 28, 28, 1)
        assert np.max(np.abs(got["image"] - want)) <= 1e-5


@pytest.mark.parametrize("form", ["instances", "inputs"])
def test_predict_rest_names_several_outputs(rest_url, two_heads, form):
    got = serve.predict_rest(rest_url, "two_heads", {"code": CODES}, form=form)
    want = two_heads[0](CODES)
    assert set(got) == {"mean", "log_var"}
    np.testing.assert_allclose(got["mean"], want[0], atol=1e-6)
    np.testing.assert_allclose(got["log_var"], want[1], atol=1e-6)


def test_predict_grpc(grpc_target, lecture_parts, two_heads):
    got = serve.predict_grpc(grpc_target, DECODER, {"code": CODES}, version=1)
    assert list(got) == ["image"] and got["image"].dtype == np.float32
    assert np.max(np.abs(got["image"] - lecture_parts.decoder(CODES, training=False).numpy())) <= 1e-5
    heads = serve.predict_grpc(grpc_target, "two_heads", {"code": CODES})
    np.testing.assert_allclose(heads["log_var"], two_heads[0](CODES)[1], atol=1e-6)


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_model_metadata_gives_the_signature(rest_url, grpc_target, transport):
    server = rest_url if transport == "rest" else grpc_target
    for version in (None, 1):
        signature = serve.model_metadata(server, DECODER, version, transport=transport)["serving_default"]
        assert {k: (v.dtype, v.shape) for k, v in signature.inputs.items()} == {"code": (1, [-1, 49])}
        assert {k: (v.dtype, v.shape) for k, v in signature.outputs.items()} == {"image": (1, [-1, 28, 28, 1])}
        assert signature.method == "tensorflow/serving/predict"


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_metadata_gives_the_defaults_of_the_inputs(rest_url, grpc_target, transport):
    server = rest_url if transport == "rest" else grpc_target
    signature = serve.model_metadata(server, SAMPLER, transport=transport)["sample"]
    assert {k: (v.dtype, v.shape) for k, v in signature.inputs.items()} == {
        "num_samples": (3, []), "seed": (3, []), "temperature": (1, [])}
    assert {k: (v.dtype, v.tolist()) for k, v in signature.defaults.items()} == {
        "seed": (np.int32, 3), "temperature": (np.float32, 1.0)}
    assert not serve.model_metadata(server, DECODER, transport=transport)["serving_default"].defaults


def test_json_tensors_of_every_encoding():
    assert serve.json_tensor({"dtype": "DT_INT32", "tensor_shape": {}, "int_val": [50]}).tolist() == 50
    assert serve.json_tensor({"dtype": "DT_INT64", "tensor_shape": {"dim": [{"size": "2"}]},
                              "int64_val": ["5"]}).tolist() == [5, 5]
    content = np.array([0.5, -1.0], "<f4").tobytes()
    import base64

    value = serve.json_tensor({"dtype": "DT_FLOAT", "tensor_shape": {"dim": [{"size": "2"}]},
                               "tensor_content": base64.b64encode(content).decode()})
    assert value.dtype == np.float32 and value.tolist() == [0.5, -1.0]
    with pytest.raises(ServingError, match="DT_STRING"):
        serve.json_tensor({"dtype": "DT_STRING", "tensor_shape": {}})


@pytest.mark.parametrize("transport", ["rest", "grpc"])
def test_a_request_leaving_out_a_defaulted_scalar_is_answered(rest_url, grpc_target, served, sampler, transport):
    """The server (as TF Serving ≥ 2.14) feeds the defaults of the inputs a request leaves out; the client's
    `predict` fills them in itself from the metadata, so an older server gets the same request."""
    sample = sampler[0]
    want = sample(4, 3, 1.0)["image"].numpy()
    sent = len(served.requests)
    if transport == "rest":
        got = serve.predict_rest(rest_url, SAMPLER, {"num_samples": 4}, form="inputs", signature="sample")
        with pytest.raises(ServingError, match="the instances form has no place for the scalar input"):
            serve.predict_rest(rest_url, SAMPLER, {"num_samples": 4}, signature="sample")
    else:
        got = serve.predict_grpc(grpc_target, SAMPLER, {"num_samples": np.int32(4)}, signature="sample")
    [(_, _, inputs)] = served.requests[sent:]
    assert list(inputs) == ["num_samples"]  # left out of the request, filled by the server
    np.testing.assert_allclose(next(iter(got.values())), want, atol=1e-6)

    server = rest_url if transport == "rest" else grpc_target
    sent = len(served.requests)
    got = serve.predict(server, SAMPLER, {"num_samples": 4, "temperature": 0.5}, signature="sample",
                        transport=transport)
    [(_, _, inputs)] = served.requests[sent:]
    assert {k: v.tolist() for k, v in inputs.items()} == {"num_samples": 4, "seed": 3, "temperature": 0.5}
    np.testing.assert_allclose(got["image"], sample(4, 3, 0.5)["image"].numpy(), atol=1e-6)

    with pytest.raises(ServingError, match="needs 'num_samples', which has no default; it takes num_samples, "
                                           r"seed \(default 3\), temperature \(default 1.0\); nothing was sent"):
        serve.predict(server, SAMPLER, {"seed": 1}, signature="sample", transport=transport)
    with pytest.raises(ServingError, match="has no input 'steps'"):
        serve.predict(server, SAMPLER, {"num_samples": 1, "steps": 5}, signature="sample", transport=transport)
    with pytest.raises(ServingError, match=r"input 'num_samples' has shape \[2\], but toy_sampler's signature "
                                           r"'sample' takes \[\] "):
        serve.predict(server, SAMPLER, {"num_samples": [1, 2]}, signature="sample", transport=transport)
    sent = len(served.requests)
    with pytest.raises(ServingError, match="Signature input alias: num_samples not found in request and no "
                                           "default value provided"):
        if transport == "rest":
            serve.predict_rest(rest_url, SAMPLER, {"seed": 1}, form="inputs", signature="sample")
        else:
            serve.predict_grpc(grpc_target, SAMPLER, {"seed": np.int32(1)}, signature="sample")
    assert len(served.requests) == sent + 1


def test_cli_samples_from_a_sampling_signature(rest_url, served, sampler, tmp_path, capsys):
    """--samples sends num_samples and the --set inputs; the client fills the rest from the metadata."""
    out = tmp_path / "samples.png"
    sent = len(served.requests)
    assert serve_command.main(["--rest", rest_url, "--model", SAMPLER, "--signature", "sample", "--samples", "6",
                       "--set", "temperature=0.5", "--out", str(out)]) == 0
    assert f"wrote 6 images from {SAMPLER}" in capsys.readouterr().out
    [(_, _, inputs)] = served.requests[sent:]
    assert {k: v.tolist() for k, v in inputs.items()} == {"num_samples": 6, "seed": 3, "temperature": 0.5}
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_random_codes_over_rest_in_a_fresh_process(rest_url, served, tmp_path):
    out = tmp_path / "grid.png"
    sent = len(served.requests)
    result = run_python(["-m", "gen_keras.serve", "--rest", rest_url, "--model", DECODER, "--random", "12",
                         "--seed", "3", "--format", "inputs", "--out", str(out)], timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"wrote 12 images from {DECODER}" in result.stdout
    [(model, version, inputs)] = served.requests[sent:]
    assert (model, version) == (DECODER, 1)
    np.testing.assert_allclose(inputs["code"], np.random.default_rng(3).standard_normal((12, 49)), atol=1e-6)
    grid = matplotlib.image.imread(out)  # two rows of ten images
    assert grid.shape[1] > 2.5 * grid.shape[0] and grid[..., :3].std() > 0.05


def test_cli_interpolates_two_test_images_over_grpc(grpc_target, served, lecture_parts, tmp_path, capsys):
    out = tmp_path / "line.png"
    sent = len(served.requests)
    assert serve_command.main(["--grpc", grpc_target, "--interpolate", "3", "7", "--steps", "5", "--out", str(out)]) == 0
    (encoder, _, to_encoder), (decoder, _, to_decoder) = served.requests[sent:]
    assert (encoder, decoder) == ("conv_autoencoder_encoder", DECODER)
    images = data.load_images("fashion_mnist", "test").images[[3, 7]].astype(np.float32) / 255
    np.testing.assert_array_equal(to_encoder["image"], images)
    codes = lecture_parts.encoder(images, training=False).numpy()
    t = np.linspace(0, 1, 5, dtype=np.float32)[:, None]
    np.testing.assert_allclose(to_decoder["code"], (1 - t) * codes[0] + t * codes[1], atol=1e-5)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "wrote 5 images" in capsys.readouterr().out


def test_cli_codes_from_a_file_in_rows(rest_url, served, tmp_path):
    np.save(tmp_path / "codes.npy", CODES[0])  # one code without a batch axis
    sent = len(served.requests)
    assert serve_command.main(["--rest", rest_url, "--from-file", str(tmp_path / "codes.npy"), "--version", "1",
                       "--out", str(tmp_path / "grid.png")]) == 0
    [(_, version, inputs)] = served.requests[sent:]
    assert version == 1 and inputs["code"].shape == (1, 49)
    np.testing.assert_allclose(inputs["code"][0], CODES[0], atol=1e-6)
    assert (tmp_path / "grid.png").exists()


def test_cli_unreachable_server_in_a_fresh_process(tmp_path):
    url = f"http://127.0.0.1:{_free_port()}"
    result = run_python(["-m", "gen_keras.serve", "--rest", url, "--random", "2", "--out", str(tmp_path / "g.png")],
                        timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"error: cannot reach TF Serving at {url} (") and result.stderr.count("\n") == 1
    assert "Connection refused" in result.stderr and not (tmp_path / "g.png").exists()


ERRORS = {  # case: (flags, what the message must say)
    "unreachable_grpc": (["--grpc", "127.0.0.1:{free_port}", "--random", "2"], "cannot reach TF Serving at 127.0.0.1:"),
    "unknown_model_rest": (["--rest", "{rest}", "--model", "nope_decoder", "--random", "2"],
                           "does not serve model 'nope_decoder': Servable not found for request: Latest(nope_decoder)"),
    "unknown_version_rest": (["--rest", "{rest}", "--version", "7", "--from-file", "{good}", "--input-name", "code"],
                             f"version 7: Servable not found for request: Specific({DECODER}, 7)"),
    "unknown_version_grpc": (["--grpc", "{grpc}", "--version", "7", "--random", "2"],
                             f"version 7: Servable not found for request: Specific({DECODER}, 7)"),
    "wrong_shape_checked_here": (["--rest", "{rest}", "--from-file", "{short}"],
                                 f"the codes have shape [2, 48], but {DECODER}'s input 'code' takes [-1, 49]"),
    "wrong_shape_rejected_rest": (["--rest", "{rest}", "--from-file", "{short}", "--input-name", "code"],
                                  f"rejected the request to model '{DECODER}': Incompatible shapes: input 'code'"),
    "wrong_shape_rejected_grpc": (["--grpc", "{grpc}", "--from-file", "{short}", "--input-name", "code"],
                                  f"rejected the request to model '{DECODER}': Incompatible shapes: input 'code'"),
    "unknown_input_name": (["--rest", "{rest}", "--random", "2", "--input-name", "z"], "has no input 'z'"),
    "unknown_signature": (["--grpc", "{grpc}", "--random", "2", "--signature", "train"], "has no signature 'train'"),
    "missing_file": (["--rest", "{rest}", "--from-file", "{missing}"], "cannot read codes from"),
    "corrupt_file": (["--rest", "{rest}", "--from-file", "{corrupt}"], "cannot read codes from"),
    "not_numbers": (["--rest", "{rest}", "--from-file", "{strings}"], "holds no array of numbers"),
    "bad_index": (["--rest", "{rest}", "--interpolate", "0", "10000"], "test-image indices 0 to 9999, got 10000"),
    "not_a_decoder": (["--rest", "{rest}", "--model", "two_heads", "--random", "2"],
                      "returns outputs ['log_var', 'mean']"),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_cli_errors_are_one_paragraph(case, rest_url, grpc_target, served, tmp_path, capsys):
    np.save(tmp_path / "short.npy", np.zeros((2, 48), np.float32))
    np.save(tmp_path / "good.npy", CODES)
    np.save(tmp_path / "strings.npy", np.array(["a", "b"]))
    (tmp_path / "corrupt.npy").write_bytes(b"\x93NUMPY\x01\x00garbage")
    files = {name: str(tmp_path / f"{name}.npy") for name in ("short", "good", "strings", "corrupt", "missing")}
    flags, message = ERRORS[case]
    flags = [f.format(rest=rest_url, grpc=grpc_target, free_port=_free_port(), **files) for f in flags]
    sent = len(served.requests)
    assert serve_command.main([*flags, "--out", str(tmp_path / "grid.png")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "grid.png").exists()
    if case == "wrong_shape_checked_here":
        assert len(served.requests) == sent  # refused before sending


def test_bad_flags_exit_2(capsys):
    for flags in (["--grpc", "h:1", "--format", "inputs", "--random", "2"], ["--rest", "u", "--random", "0"],
                  ["--rest", "u", "--interpolate", "1", "2", "--steps", "1"], ["--rest", "u"],
                  ["--rest", "u", "--random", "2", "--set", "seed=1"],
                  ["--rest", "u", "--samples", "2", "--set", "seed"],
                  ["--rest", "u", "--samples", "2", "--format", "instances"]):
        with pytest.raises(SystemExit) as exit_info:
            serve_command.parse(flags)
        assert exit_info.value.code == 2
    assert "--format applies to --rest only" in capsys.readouterr().err


def test_real_tf_serving():
    """Against a real server: TF_SERVING_URL (REST), TF_SERVING_GRPC (default: its host, port 8500),
    TF_SERVING_MODEL (default conv_autoencoder_decoder)."""
    url = os.environ.get("TF_SERVING_URL")
    if not url:
        pytest.skip("TF_SERVING_URL not set: no real TF Serving here")
    target = os.environ.get("TF_SERVING_GRPC") or f"{urlparse(serve._rest_base(url)).hostname}:8500"
    model = os.environ.get("TF_SERVING_MODEL", DECODER)
    rest_signature = serve.model_metadata(url, model)["serving_default"]
    grpc_signature = serve.model_metadata(target, model, transport="grpc")["serving_default"]
    assert rest_signature == grpc_signature and len(rest_signature.inputs) == 1
    [(name, info)] = rest_signature.inputs.items()
    codes = np.random.default_rng(0).normal(size=(4, *info.shape[1:])).astype(np.float32)
    answers = [serve.predict_rest(url, model, {name: codes}, form=form) for form in ("instances", "inputs")]
    answers.append(serve.predict_grpc(target, model, {name: codes}))
    results = [next(iter(a.values())) if len(a) == 1 else a["image"] for a in answers]
    for result in results:
        assert result.shape[0] == 4 and np.all(np.isfinite(result))
        np.testing.assert_allclose(result, results[-1], atol=1e-5)
