"""A client for TF Serving: predictions and model metadata over REST or gRPC, with the server's signatures
(shapes, dtypes, defaults) read back; the command line that writes images as a PNG grid is `gen_keras.serve`.

REST needs only numpy (no TensorFlow import); gRPC uses tensorflow-serving-api, which imports TensorFlow.
A signature from the server's metadata is read into a `gen_keras.serving.signatures.Signature`, as from an export,
with its inputs' defaults; `predict` fills the inputs a request leaves out from them, as TF Serving does.
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping

import numpy as np

from gen_keras.serving.signatures import (DTYPE_NAMES, DTYPES, Signature, TensorInfo, describe_inputs, fits,
                                          with_defaults)
from gen_keras.serving.wire import parse_signature_def_map
from gen_keras.errors import ServingError

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the gRPC path imports TensorFlow

SIGNATURE = "serving_default"
TIMEOUT = 30.0
NUMPY_DTYPES = {DTYPE_NAMES["DT_FLOAT"]: np.float32, DTYPE_NAMES["DT_DOUBLE"]: np.float64}


# --- errors worded once for both transports ---

def model_text(model: str, version: int | None) -> str:
    """"model 'NAME'" or "model 'NAME' version V", for messages."""
    return f"model '{model}'" + (f" version {version}" if version is not None else "")


def _unreachable(server: str, detail: str, flag: str) -> ServingError:
    return ServingError(f"cannot reach TF Serving at {server} ({detail}). Is the server running and its port "
                        f"published (docker run -p 8501:8501 -p 8500:8500 ...)? Check {flag}.")


def _unknown_model(server: str, model: str, version: int | None, detail: str) -> ServingError:
    return ServingError(f"TF Serving at {server} does not serve {model_text(model, version)}: {detail}. Check --model "
                        "(names are <recipe>_<part>, as in the export root's models.config) and --version (a "
                        "version the server has loaded; leave it out for the latest).")


def _rejected(server: str, model: str, version: int | None, detail: str) -> ServingError:
    return ServingError(f"TF Serving at {server} rejected the request to {model_text(model, version)}: {detail}")


def _failed(server: str, model: str, version: int | None, status: str, detail: str) -> ServingError:
    return ServingError(f"TF Serving at {server} answered {status} for {model_text(model, version)}: {detail}")


def _timed_out(server: str, timeout: float) -> ServingError:
    return ServingError(f"TF Serving at {server} did not answer within {timeout:g} s; raise --timeout if it is busy.")


# --- REST: TF Serving's JSON API on port 8501 ---

def _rest_base(url: str) -> str:
    url = url.rstrip("/")
    return url if "://" in url else f"http://{url}"


def _error_text(body: bytes) -> str:
    text = body.decode(errors="replace").strip()
    try:
        return str(json.loads(text)["error"])
    except (ValueError, KeyError, TypeError):
        return text[:500]


def _rest_call(url: str, model: str, version: int | None, suffix: str, body: dict | None, timeout: float) -> dict:
    base = _rest_base(url)
    address = f"{base}/v1/models/{urllib.parse.quote(model)}"
    address += (f"/versions/{version}" if version is not None else "") + suffix
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(address, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read()
    except urllib.error.HTTPError as e:
        detail = _error_text(e.read()) or f"HTTP {e.code} {e.reason}"
        if e.code == 404:
            raise _unknown_model(base, model, version, detail) from None
        if e.code == 400:
            raise _rejected(base, model, version, detail) from None
        raise _failed(base, model, version, f"HTTP {e.code}", detail) from None
    except TimeoutError:
        raise _timed_out(base, timeout) from None
    except (urllib.error.URLError, OSError) as e:
        raise _unreachable(base, str(getattr(e, "reason", e)), "--rest (e.g. http://localhost:8501)") from None
    try:
        return json.loads(text)
    except ValueError:
        raise ServingError(f"{address} did not answer JSON: is {base} TF Serving's REST port?") from None


def rest_request_body(inputs: Mapping[str, np.ndarray], form: str = "instances",
                      signature: str = SIGNATURE) -> dict:
    """TF Serving's REST predict body for named inputs.

    Args:
        inputs: input name → array, batch axis first, e.g. {"code": (n, 49)}.
        form: "instances" (one object of named inputs per batch item, the row form) or "inputs" (one array
            per named input, the columnar form).
        signature: the signature's key.

    Returns:
        The JSON-ready dict: {"signature_name": …, "instances": [...]} or {"signature_name": …, "inputs": {...}}.

    Raises:
        ValueError: an unknown form.
        ServingError: the instances form with inputs of different batch sizes, or a scalar input.
    """
    arrays = {name: np.asarray(a) for name, a in inputs.items()}
    if form == "inputs":
        return {"signature_name": signature, "inputs": {name: a.tolist() for name, a in arrays.items()}}
    if form != "instances":
        raise ValueError(f"form must be 'instances' or 'inputs', got {form!r}")
    scalars = sorted(name for name, a in arrays.items() if a.ndim == 0)
    if scalars:
        raise ServingError(f"the instances form has no place for the scalar input(s) {', '.join(scalars)}: send "
                           "the inputs form, or leave out a scalar that has a default")
    sizes = {len(a) for a in arrays.values()}
    if len(sizes) != 1:
        raise ServingError(f"the instances form needs one batch size for every input, got {sorted(sizes)}")
    rows = [{name: a[i].tolist() for name, a in arrays.items()} for i in range(sizes.pop())]
    return {"signature_name": signature, "instances": rows}


def _array(value) -> np.ndarray:
    array = np.asarray(value)
    return array.astype(np.float32) if array.dtype == np.float64 else array  # served outputs are float32


def parse_rest_response(body: dict, form: str = "instances", single_output: str = "output") -> dict[str, np.ndarray]:
    """The outputs in a REST predict answer: `{"predictions": rows}` or `{"outputs": ...}`.

    A signature's only output comes back unnamed and is returned under `single_output`; several come back
    named. float64 values become float32 (served outputs are float32).

    Args:
        body: the decoded JSON answer.
        form: the request's form, "instances" or "inputs".
        single_output: the name for an unnamed output.

    Returns:
        output name → array, e.g. {"output": float32 (n, 28, 28, 1)}.

    Raises:
        ServingError: the answer has no "predictions" / "outputs".
    """
    key = "predictions" if form == "instances" else "outputs"
    if not isinstance(body, dict) or key not in body:
        raise ServingError(f"TF Serving's answer has no '{key}': {json.dumps(body)[:300]}")
    value = body[key]
    if form == "instances" and value and isinstance(value[0], dict):
        return {name: _array([row[name] for row in value]) for name in value[0]}
    if form == "inputs" and isinstance(value, dict):
        return {name: _array(v) for name, v in value.items()}
    return {single_output: _array(value)}


def predict_rest(url: str, model: str, inputs: Mapping[str, np.ndarray], version: int | None = None,
                 form: str = "instances", *, signature: str = SIGNATURE, single_output: str = "output",
                 timeout: float = TIMEOUT) -> dict[str, np.ndarray]:
    """Runs `model`'s signature on TF Serving's REST API (`POST /v1/models/<model>[/versions/<v>]:predict`).

    Args:
        url: the REST address, e.g. "http://localhost:8501" ("http://" is added when missing).
        model: the served model's name, e.g. "conv_autoencoder_decoder".
        inputs: input name → array, batch axis first.
        version: a served version; None for the latest.
        form: "instances" or "inputs" (see `rest_request_body`).
        signature: the signature's key.
        single_output: the name for an unnamed output.
        timeout: seconds to wait for the answer.

    Returns:
        output name → array.

    Raises:
        ServingError: no server there, no such model or version, a rejected request, a timeout, or an answer
            that is not TF Serving's.
    """
    body = _rest_call(url, model, version, ":predict", rest_request_body(inputs, form, signature), timeout)
    return parse_rest_response(body, form, single_output)


def _tensor_info(tensor: dict) -> TensorInfo:
    shape = tensor.get("tensor_shape", {})
    dims = None if shape.get("unknown_rank") else [int(d.get("size", 0)) for d in shape.get("dim", [])]
    return TensorInfo(tensor.get("name", ""), DTYPE_NAMES.get(tensor.get("dtype"), 0), dims)


_JSON_VALUE_FIELDS = ("float_val", "double_val", "int_val", "int64_val", "bool_val")


def json_tensor(tensor: dict) -> np.ndarray:
    """A tensorflow.TensorProto in protobuf's JSON form (as in TF Serving's REST metadata) as an array.

    Read from `tensor_content` (base64), or from the `*_val` field, whose last value repeats to fill the shape.

    Args:
        tensor: e.g. {"dtype": "DT_INT32", "tensor_shape": {}, "int_val": [50]}.

    Returns:
        `np.ndarray` of the tensor's dtype and shape, e.g. array(50, dtype=int32).

    Raises:
        ServingError: an unsupported dtype, or more values than the shape holds.
    """
    code = DTYPE_NAMES.get(tensor.get("dtype"))
    if code is None:
        raise ServingError(f"a default of dtype {tensor.get('dtype')} is not supported by this client")
    dtype = np.dtype(DTYPES[code])
    shape = [int(d.get("size", 0)) for d in tensor.get("tensor_shape", {}).get("dim", [])]
    size = int(np.prod(shape, dtype=np.int64))
    if tensor.get("tensor_content"):
        content = base64.b64decode(tensor["tensor_content"])
        return np.frombuffer(content, dtype.newbyteorder("<")).astype(dtype).reshape(shape)
    values = next((list(tensor[k]) for k in _JSON_VALUE_FIELDS if tensor.get(k)), [])
    if len(values) > size:
        raise ServingError(f"a default holds {len(values)} values but its shape {shape} has {size}")
    if not values:
        return np.zeros(shape, dtype)
    return np.asarray(values + values[-1:] * (size - len(values))).astype(dtype).reshape(shape)


def _metadata_rest(url: str, model: str, version: int | None, timeout: float) -> dict[str, Signature]:
    body = _rest_call(url, model, version, "/metadata", None, timeout)
    try:
        signature_defs = body["metadata"]["signature_def"]["signature_def"]
    except (KeyError, TypeError):
        raise ServingError(f"the metadata of {model_text(model, version)} holds no signature_def: "
                           f"{json.dumps(body)[:300]}") from None
    return {key: Signature({n: _tensor_info(t) for n, t in d.get("inputs", {}).items()},
                           {n: _tensor_info(t) for n, t in d.get("outputs", {}).items()}, d.get("method_name", ""),
                           {n: json_tensor(t) for n, t in d.get("defaults", {}).items()})
            for key, d in signature_defs.items()}


# --- gRPC: tensorflow.serving.PredictionService on port 8500 ---

def _grpc_call(target: str, model: str, version: int | None, method: str, request, timeout: float):
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    options = [("grpc.max_send_message_length", 1 << 28), ("grpc.max_receive_message_length", 1 << 28)]
    try:
        with grpc.insecure_channel(target, options=options) as channel:
            stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
            return getattr(stub, method)(request, timeout=timeout)
    except grpc.RpcError as e:
        code, detail = e.code(), e.details()
        if code == grpc.StatusCode.UNAVAILABLE:
            raise _unreachable(target, detail, "--grpc (e.g. localhost:8500)") from None
        if code == grpc.StatusCode.NOT_FOUND:
            raise _unknown_model(target, model, version, detail) from None
        if code == grpc.StatusCode.INVALID_ARGUMENT:
            raise _rejected(target, model, version, detail) from None
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            raise _timed_out(target, timeout) from None
        raise _failed(target, model, version, code.name, detail) from None


def _model_spec(model: str, version: int | None, signature: str):
    from tensorflow_serving.apis import model_pb2

    spec = model_pb2.ModelSpec(name=model, signature_name=signature)
    if version is not None:
        spec.version.value = version
    return spec


def predict_grpc(target: str, model: str, inputs: Mapping[str, np.ndarray], version: int | None = None, *,
                 signature: str = SIGNATURE, timeout: float = TIMEOUT) -> dict[str, np.ndarray]:
    """Runs `model`'s signature through TF Serving's gRPC PredictionService.Predict (imports TensorFlow).

    Args:
        target: the gRPC address, "host:port", e.g. "localhost:8500".
        model: the served model's name.
        inputs: input name → array, batch axis first, sent with its own dtype.
        version: a served version; None for the latest.
        signature: the signature's key.
        timeout: seconds to wait for the answer.

    Returns:
        output name → array.

    Raises:
        ServingError: no server there, no such model or version, a rejected request or a timeout.
    """
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest(model_spec=_model_spec(model, version, signature))
    for name, array in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(np.asarray(array)))
    response = _grpc_call(target, model, version, "Predict", request, timeout)
    return {name: tf.make_ndarray(tensor) for name, tensor in response.outputs.items()}


def _metadata_grpc(target: str, model: str, version: int | None, timeout: float) -> dict[str, Signature]:
    from tensorflow_serving.apis import get_model_metadata_pb2

    request = get_model_metadata_pb2.GetModelMetadataRequest(model_spec=_model_spec(model, version, ""),
                                                             metadata_field=["signature_def"])
    response = _grpc_call(target, model, version, "GetModelMetadata", request, timeout)
    if "signature_def" not in response.metadata:
        raise ServingError(f"the metadata of {model_text(model, version)} holds no signature_def")
    return parse_signature_def_map(response.metadata["signature_def"].value)  # an Any holding a SignatureDefMap


def model_metadata(server: str, model: str, version: int | None = None, *, transport: str = "rest",
                   timeout: float = TIMEOUT) -> dict[str, Signature]:
    """The served model's signatures, from `GET /v1/models/<m>[/versions/<v>]/metadata` or GetModelMetadata.

    Args:
        server: the REST URL or the gRPC "host:port".
        model: the served model's name.
        version: a served version; None for the latest.
        transport: "rest" or "grpc".
        timeout: seconds to wait for the answer.

    Returns:
        {signature key: `Signature`}.

    Raises:
        ServingError: the request fails, or the metadata holds no signature_def.
    """
    if transport == "grpc":
        return _metadata_grpc(server, model, version, timeout)
    return _metadata_rest(server, model, version, timeout)


def complete_inputs(signature: Signature, inputs: Mapping[str, np.ndarray], model: str = "the model",
                    signature_name: str = SIGNATURE) -> dict[str, np.ndarray]:
    """A request's inputs completed from the signature's defaults and checked against its shapes, before sending.

    TF Serving 2.14 and later fill an input a request leaves out from `SignatureDef.defaults`; filling it here
    too gives an older server the same request. Numbers and arrays take the signature's dtype where they can
    (a Python int for an int32 input, float64 for float32).

    Args:
        signature: the served signature (`model_metadata`).
        inputs: input name → array or number; any input with a default may be left out.
        model: the served model's name, for messages.
        signature_name: the signature's key, for messages.

    Returns:
        input name → array, every input of the signature.

    Raises:
        ServingError: an input the signature does not take, a left-out input without a default, or a shape
            that does not fit (nothing is sent).
    """
    unknown = sorted(set(inputs) - set(signature.inputs))
    missing = sorted(set(signature.inputs) - set(inputs) - set(signature.defaults))
    if unknown or missing:
        problem = (f"has no input {', '.join(map(repr, unknown))}" if unknown
                   else f"needs {', '.join(map(repr, missing))}, which has no default")
        raise ServingError(f"{model}'s signature '{signature_name}' {problem}; it takes {describe_inputs(signature)}; "
                           "nothing was sent")
    completed = {}
    for name, value in with_defaults(signature, inputs).items():
        info, array = signature.inputs[name], np.asarray(value)
        if not fits(info, array.shape):
            raise ServingError(f"input '{name}' has shape {list(array.shape)}, but {model}'s signature "
                               f"'{signature_name}' takes {info.shape} (-1: any size); nothing was sent")
        target = DTYPES.get(info.dtype)
        if target is not None and np.can_cast(array.dtype, target, "same_kind"):  # e.g. a Python int for int32
            array = array.astype(target, copy=False)
        completed[name] = array
    return completed


def predict(server: str, model: str, inputs: Mapping[str, np.ndarray], version: int | None = None, *,
            signature: str = SIGNATURE, transport: str = "rest", form: str = "inputs",
            timeout: float = TIMEOUT) -> dict[str, np.ndarray]:
    """Runs a served signature with the inputs given, the others from the signature's defaults.

    Asks the server for the model's metadata, completes and checks the inputs (`complete_inputs`), then sends
    them. Example: `predict(url, "diffusion_diffusion", {"num_samples": 4}, signature="sample")` draws 4
    images with the export's default seed, steps and η.

    Args:
        server: the REST URL or the gRPC "host:port".
        model: the served model's name.
        inputs: input name → array or number; any input with a default may be left out.
        version: a served version; None for the latest.
        signature: the signature's key.
        transport: "rest" or "grpc".
        form: the REST body, "inputs" (columnar: scalars allowed) or "instances" (rows).
        timeout: seconds to wait for each answer.

    Returns:
        output name → array.

    Raises:
        ServingError: no such signature, inputs that do not fit it, or a failed request.
    """
    signatures = model_metadata(server, model, version, transport=transport, timeout=timeout)
    if signature not in signatures:
        raise ServingError(f"{model_text(model, version)} has no signature '{signature}'; it has {sorted(signatures)}")
    sig = signatures[signature]
    completed = complete_inputs(sig, inputs, model, signature)
    if transport == "grpc":
        return predict_grpc(server, model, completed, version, signature=signature, timeout=timeout)
    single = next(iter(sig.outputs)) if len(sig.outputs) == 1 else "output"
    return predict_rest(server, model, completed, version, form, signature=signature, single_output=single,
                        timeout=timeout)
