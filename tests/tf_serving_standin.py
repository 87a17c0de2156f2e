"""Stand-ins for TF Serving on 127.0.0.1 (the real server cannot be installed here): its REST API and its gRPC
PredictionService, answering in TF Serving's documented formats and computing with real exported SavedModels.

REST: `GET /v1/models/<m>[/versions/<v>]/metadata` → GetModelMetadataResponse as JSON; `POST
/v1/models/<m>[/versions/<v>]:predict` with `instances` → `{"predictions": ...}` or `inputs` → `{"outputs": ...}`
(a signature's only output unwrapped, several as a dict of named outputs); errors 404/400 `{"error": "..."}`.
An input a request leaves out is fed its default from the SignatureDef, as TF Serving 2.14 and later do.
"""

from __future__ import annotations

import json
import re
import threading
from concurrent import futures
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow_serving.apis import (get_model_metadata_pb2, model_pb2, predict_pb2, prediction_service_pb2_grpc)

from gen_keras.serving import export


class ServedModels:
    """Models by name, each a folder of integer versions, run with `tf.saved_model.load`; requests are logged."""

    def __init__(self, part_dirs: dict[str, Path]):
        self.part_dirs = part_dirs
        self.requests: list[tuple[str, int, dict[str, np.ndarray]]] = []  # (model, version, inputs) received
        self._loaded = {}
        self._lock = threading.Lock()

    def _resolve(self, name: str, version: int | None) -> tuple[int, Path]:
        versions = export.versions(self.part_dirs[name]) if name in self.part_dirs else []
        if not versions or (version is not None and version not in versions):
            request = f"Latest({name})" if version is None else f"Specific({name}, {version})"
            raise LookupError(f"Servable not found for request: {request}")
        version = max(versions) if version is None else version
        return version, self.part_dirs[name] / str(version)

    def signature_defs(self, name: str, version: int | None) -> tuple[int, get_model_metadata_pb2.SignatureDefMap]:
        version, path = self._resolve(name, version)
        saved_model = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
        result = get_model_metadata_pb2.SignatureDefMap()
        for key, signature_def in saved_model.meta_graphs[0].signature_def.items():
            if not key.startswith("__"):
                result.signature_def[key].CopyFrom(signature_def)
        return version, result

    def input_names(self, name: str, version: int | None, signature: str) -> list[str]:
        _, signature_defs = self.signature_defs(name, version)
        return list(signature_defs.signature_def[signature].inputs) if signature in signature_defs.signature_def else []

    def predict(self, name: str, version: int | None, signature: str,
                inputs: dict[str, object]) -> tuple[int, dict[str, np.ndarray]]:
        version, path = self._resolve(name, version)
        _, signature_defs = self.signature_defs(name, version)
        with self._lock:
            self.requests.append((name, version, {k: np.asarray(v) for k, v in inputs.items()}))
            if path not in self._loaded:
                self._loaded[path] = tf.saved_model.load(str(path))
            signatures = self._loaded[path].signatures
            if signature not in signatures:
                raise ValueError(f'Serving signature name: "{signature}" not found in signature def')
            function = signatures[signature]
            specs = function.structured_input_signature[1]
            unknown = ", ".join(sorted(set(inputs) - set(specs)))
            if unknown:
                raise ValueError(f"input tensor alias not found in signature: {unknown}. Inputs expected to be in "
                                 f"the set {{{','.join(sorted(specs))}}}.")
            # TF Serving 2.14+: an input left out of the request is fed the SignatureDef's default
            defaults = signature_defs.signature_def[signature].defaults
            for alias in sorted(set(specs) - set(inputs)):
                if alias not in defaults:
                    raise ValueError(f"Signature input alias: {alias} not found in request and no default value "
                                     f"provided. Inputs expected to be in the request {{{','.join(sorted(inputs))}}}, "
                                     f"or default input alias set: {','.join(sorted(defaults))}")
                inputs = {**inputs, alias: tf.make_ndarray(defaults[alias])}
            arrays = {k: np.asarray(v, specs[k].dtype.as_numpy_dtype) for k, v in inputs.items()}
            for k, array in arrays.items():
                if not specs[k].shape.is_compatible_with(array.shape):
                    raise ValueError(f"Incompatible shapes: input '{k}' has shape {list(array.shape)}, the signature "
                                     f"takes {specs[k].shape}")
            return version, {k: t.numpy() for k, t in function(**arrays).items()}


_ROUTE = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?(?P<action>:predict|/metadata)$")


def _rest_handler(models: ServedModels):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self, action: str):
            match = _ROUTE.match(self.path)
            if not match or match["action"] != action:
                self._answer(404, {"error": f"Malformed request: {self.command} {self.path}"})
                return None
            return match["name"], None if match["version"] is None else int(match["version"])

        def do_GET(self):
            route = self._route("/metadata")
            if route:
                try:
                    version, signature_defs = models.signature_defs(*route)
                except LookupError as e:
                    return self._answer(404, {"error": str(e)})
                response = get_model_metadata_pb2.GetModelMetadataResponse(
                    model_spec=model_pb2.ModelSpec(name=route[0], version={"value": version}))
                response.metadata["signature_def"].Pack(signature_defs)
                self._answer(200, json_format.MessageToDict(response, preserving_proto_field_name=True,
                                                            always_print_fields_with_no_presence=True))

        def do_POST(self):
            route = self._route(":predict")
            if not route:
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if ("instances" in body) == ("inputs" in body):
                    raise ValueError("Missing 'inputs' or 'instances' key" if "inputs" not in body
                                     else "Only one of 'inputs' or 'instances' keys may be given")
                signature = body.get("signature_name", "serving_default")
                named = body["instances"] if "instances" in body else [body["inputs"]]
                if named and isinstance(named[0], dict):
                    inputs = ({k: [row[k] for row in named] for k in named[0]} if "instances" in body
                              else body["inputs"])
                else:  # unnamed values: the signature's only input
                    only = models.input_names(*route, signature)
                    inputs = {only[0] if len(only) == 1 else "": body.get("instances", body.get("inputs"))}
                _, outputs = models.predict(*route, signature, inputs)
            except LookupError as e:
                return self._answer(404, {"error": str(e)})
            except (ValueError, KeyError, TypeError) as e:
                return self._answer(400, {"error": str(e)})
            lists = {k: v.tolist() for k, v in outputs.items()}
            if "instances" in body:
                rows = (next(iter(lists.values())) if len(lists) == 1 else
                        [{k: v[i] for k, v in lists.items()} for i in range(len(next(iter(outputs.values()))))])
                self._answer(200, {"predictions": rows})
            else:
                self._answer(200, {"outputs": next(iter(lists.values())) if len(lists) == 1 else lists})

    return Handler


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, models: ServedModels):
        self.models = models

    @staticmethod
    def _version(model_spec) -> int | None:
        return model_spec.version.value if model_spec.HasField("version") else None

    def Predict(self, request, context):
        spec = request.model_spec
        signature = spec.signature_name or "serving_default"
        try:
            version, outputs = self.models.predict(spec.name, self._version(spec), signature,
                                                   {k: tf.make_ndarray(t) for k, t in request.inputs.items()})
        except LookupError as e:
            context.abort(grpc.StatusCode.NOT_FOUND, str(e))
        except ValueError as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        response = predict_pb2.PredictResponse(model_spec=model_pb2.ModelSpec(
            name=spec.name, signature_name=signature, version={"value": version}))
        for name, value in outputs.items():
            response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
        return response

    def GetModelMetadata(self, request, context):
        if list(request.metadata_field) != ["signature_def"]:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Metadata field(s) not supported: "
                                                            f"{list(request.metadata_field)}")
        try:
            version, signature_defs = self.models.signature_defs(request.model_spec.name,
                                                                 self._version(request.model_spec))
        except LookupError as e:
            context.abort(grpc.StatusCode.NOT_FOUND, str(e))
        response = get_model_metadata_pb2.GetModelMetadataResponse(
            model_spec=model_pb2.ModelSpec(name=request.model_spec.name, version={"value": version}))
        response.metadata["signature_def"].Pack(signature_defs)
        return response


@contextmanager
def rest_server(models: ServedModels):
    """Yields the URL (http://127.0.0.1:<free port>) of a REST stand-in serving `models`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _rest_handler(models))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def grpc_server(models: ServedModels):
    """Yields the address (127.0.0.1:<free port>) of a gRPC PredictionService stand-in serving `models`."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(_PredictionService(models), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop(grace=None)
