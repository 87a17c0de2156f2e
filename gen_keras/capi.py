"""Runs an exported SavedModel the way TF Serving does: TensorFlow's C++ loader, through its C API.

TF Serving loads a version folder with the C++ `LoadSavedModel` and runs the signature's tensors in a
session. The TensorFlow pip wheel exposes that loader as `TF_LoadSessionFromSavedModel` and
`TF_SessionRun` (libtensorflow_cc.so.2). This module calls them with ctypes and never imports
TensorFlow's Python package, so a model that passes here does not lean on anything the Python loader
adds. The signature is read from the MetaGraphDef the loader returns, with a small protobuf reader, which
also decodes the version's warm-up records (TFRecords of PredictionLog) so `replay_warmup` can run them.

    python -m gen_keras.capi saved_models/conv_autoencoder/decoder/1 --input code=codes.npy --out images.npz
    python -m gen_keras.capi saved_models/conv_autoencoder/decoder/1 --warmup
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import os
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# tensorflow/core/framework/types.proto
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8, 9: np.int64,
           10: np.bool_, 17: np.uint16}
_DTYPE_CODES = {np.dtype(v): k for k, v in _DTYPES.items()}
DTYPE_NAMES = {"DT_FLOAT": 1, "DT_DOUBLE": 2, "DT_INT32": 3, "DT_UINT8": 4, "DT_INT16": 5, "DT_INT8": 6,
               "DT_INT64": 9, "DT_BOOL": 10, "DT_UINT16": 17}
# Where TF Serving looks for a version's warm-up requests (TFRecords of tensorflow.serving.PredictionLog).
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")


class CApiError(RuntimeError):
    """The C API refused a model or a request; the message is TensorFlow's."""


@dataclass
class TensorInfo:
    name: str  # graph tensor, e.g. "serving_default_code:0"
    dtype: int
    shape: list[int] | None  # -1 for an unknown dimension; None for unknown rank


def fits(info: TensorInfo, shape: tuple[int, ...]) -> bool:
    """Whether an array of `shape` fits the tensor's shape (-1 matches any size)."""
    return info.shape is None or (len(info.shape) == len(shape) and all(
        d in (-1, s) for d, s in zip(info.shape, shape)))


@dataclass
class Signature:
    inputs: dict[str, TensorInfo] = field(default_factory=dict)
    outputs: dict[str, TensorInfo] = field(default_factory=dict)
    method: str = ""


@dataclass
class PredictRequest:
    """A decoded tensorflow.serving.PredictRequest."""

    model_name: str
    signature_name: str
    inputs: dict[str, np.ndarray]


# --- a minimal protobuf wire-format reader (varints and length-delimited fields suffice here) ---

def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes):
    """Yields (field number, wire type, value) for each field of a serialized message."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise CApiError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _shape(buf: bytes) -> list[int] | None:
    """A TensorShapeProto: dim (2) {size (1)}, unknown_rank (3)."""
    shape = []
    for n, _, v in _fields(buf):
        if n == 2:
            size = 0
            for dn, _, dv in _fields(v):
                if dn == 1:
                    size = _signed(dv)
            shape.append(size)
        elif n == 3 and v:
            return None
    return shape


def _tensor_info(buf: bytes) -> TensorInfo:
    name, dtype, shape = "", 0, None
    for number, _, value in _fields(buf):
        if number == 1:
            name = value.decode()
        elif number == 2:
            dtype = value
        elif number == 3:
            shape = _shape(value)
    return TensorInfo(name, dtype, shape)


def _map_entry(buf: bytes) -> tuple[str, bytes]:
    key, value = "", b""
    for number, _, v in _fields(buf):
        if number == 1:
            key = v.decode()
        elif number == 2:
            value = v
    return key, value


def _signature_map(buf: bytes, map_field: int) -> dict[str, Signature]:
    signatures = {}
    for number, _, value in _fields(buf):
        if number != map_field:
            continue
        key, sig_bytes = _map_entry(value)
        sig = Signature()
        for n, _, v in _fields(sig_bytes):
            if n in (1, 2):
                name, info = _map_entry(v)
                (sig.inputs if n == 1 else sig.outputs)[name] = _tensor_info(info)
            elif n == 3:
                sig.method = v.decode()
        signatures[key] = sig
    return signatures


def parse_signatures(meta_graph_def: bytes) -> dict[str, Signature]:
    """The SignatureDefs of a serialized MetaGraphDef (field 5, a map from key to SignatureDef)."""
    return _signature_map(meta_graph_def, 5)


def parse_signature_def_map(signature_def_map: bytes) -> dict[str, Signature]:
    """The SignatureDefs of a serialized tensorflow.serving.SignatureDefMap (TF Serving's model metadata)."""
    return _signature_map(signature_def_map, 1)


# TensorProto's repeated value fields: field number -> (numpy dtype of a fixed-size element, or None for varints)
_VALUE_FIELDS = {5: "<f4", 6: "<f8", 7: None, 10: None, 11: None, 16: None, 17: None}


def _values(number: int, wire: int, value) -> list:
    fixed = _VALUE_FIELDS[number]
    if wire == 0:
        return [value]
    if wire in (1, 5):
        return np.frombuffer(value, fixed).tolist()
    if fixed:  # packed fixed-size values
        return np.frombuffer(value, fixed).tolist()
    out, pos = [], 0  # packed varints
    while pos < len(value):
        v, pos = _varint(value, pos)
        out.append(v)
    return out


def parse_tensor(tensor_proto: bytes) -> np.ndarray:
    """A serialized tensorflow.TensorProto as an array: `tensor_content`, or the `*_val` fields (whose last
    value repeats to fill the shape, as in TensorFlow)."""
    code, shape, content, values = 0, [], None, []
    for number, wire, value in _fields(tensor_proto):
        if number == 1:
            code = value
        elif number == 2:
            shape = _shape(value) or []
        elif number == 4:
            content = value
        elif number in _VALUE_FIELDS:
            values.extend(_values(number, wire, value))
    if code not in _DTYPES:
        raise CApiError(f"tensor dtype {code} is not supported here (types.proto numbering)")
    dtype = np.dtype(_DTYPES[code])
    size = int(np.prod(shape, dtype=np.int64))
    if content is not None:
        if len(content) != size * dtype.itemsize:
            raise CApiError(f"tensor_content holds {len(content)} bytes, not {size} values of {dtype.name}")
        return np.frombuffer(content, dtype.newbyteorder("<")).astype(dtype).reshape(shape)
    if len(values) > size:
        raise CApiError(f"the tensor holds {len(values)} values but its shape {shape} has {size}")
    if not values:
        return np.zeros(shape, dtype)
    if np.issubdtype(dtype, np.signedinteger):
        values = [_signed(v) for v in values]
    values += values[-1:] * (size - len(values))
    return np.asarray(values, dtype).reshape(shape)


def parse_prediction_log(record: bytes) -> PredictRequest:
    """The PredictRequest inside a serialized tensorflow.serving.PredictionLog (its `predict_log`)."""
    kinds = {1: "log_metadata", 2: "classify_log", 3: "regress_log", 4: "multi_inference_log",
             5: "session_run_log", 7: "predict_streamed_log"}
    predict_log, found = None, []
    for number, _, value in _fields(record):
        if number == 6:
            predict_log = value
        elif number in kinds:
            found.append(kinds[number])
    if predict_log is None:
        raise CApiError(f"the PredictionLog holds no predict_log (found: {found or 'nothing'}); only "
                        "predict requests are replayed")
    request = PredictRequest("", "", {})
    for number, _, value in _fields(predict_log):
        if number != 1:  # 1: request; 2: response
            continue
        for n, _, v in _fields(value):
            if n == 1:  # ModelSpec: name (1), signature_name (3)
                for sn, _, sv in _fields(v):
                    if sn == 1:
                        request.model_name = sv.decode()
                    elif sn == 3:
                        request.signature_name = sv.decode()
            elif n == 2:
                key, tensor = _map_entry(v)
                request.inputs[key] = parse_tensor(tensor)
    return request


# --- TFRecord files: uint64 length, uint32 masked crc32c of it, data, uint32 masked crc32c of the data ---

def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _crc32c_table()


def _masked_crc32c(data: bytes) -> int:
    crc, table = 0xFFFFFFFF, _CRC32C_TABLE
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_tfrecords(path: str | os.PathLike) -> Iterator[bytes]:
    """The records of an uncompressed TFRecord file, their checksums verified."""
    data = Path(path).read_bytes()
    pos = 0
    while pos < len(data):
        if pos + 12 > len(data):
            raise CApiError(f"{path}: truncated record header at byte {pos}")
        header = data[pos:pos + 8]
        (length,), (header_crc,) = struct.unpack("<Q", header), struct.unpack_from("<I", data, pos + 8)
        start, end = pos + 12, pos + 12 + length
        if _masked_crc32c(header) != header_crc or end + 4 > len(data):
            raise CApiError(f"{path}: corrupt or truncated record at byte {pos}")
        record = data[start:end]
        if _masked_crc32c(record) != struct.unpack_from("<I", data, end)[0]:
            raise CApiError(f"{path}: the record at byte {pos} fails its checksum")
        yield record
        pos = end + 4


# --- the C API through ctypes ---

class _Buffer(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("length", ctypes.c_size_t), ("data_deallocator", ctypes.c_void_p)]


class _Output(ctypes.Structure):
    _fields_ = [("oper", ctypes.c_void_p), ("index", ctypes.c_int)]


def _library_path() -> str:
    spec = importlib.util.find_spec("tensorflow")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise CApiError("the tensorflow pip package is not installed; its libtensorflow_cc.so.2 is needed")
    folder = list(spec.submodule_search_locations)[0]
    path = os.path.join(folder, "libtensorflow_cc.so.2")
    if not os.path.exists(path):
        raise CApiError(f"{path} is missing from the tensorflow package")
    return path


def _load_library():
    lib = ctypes.CDLL(_library_path(), mode=ctypes.RTLD_GLOBAL)
    p, c = ctypes.c_void_p, ctypes
    sigs = {
        "TF_NewStatus": ([], p), "TF_DeleteStatus": ([p], None), "TF_GetCode": ([p], c.c_int),
        "TF_Message": ([p], c.c_char_p), "TF_NewGraph": ([], p), "TF_DeleteGraph": ([p], None),
        "TF_NewSessionOptions": ([], p), "TF_DeleteSessionOptions": ([p], None),
        "TF_NewBuffer": ([], c.POINTER(_Buffer)), "TF_DeleteBuffer": ([c.POINTER(_Buffer)], None),
        "TF_LoadSessionFromSavedModel": ([p, p, c.c_char_p, c.POINTER(c.c_char_p), c.c_int, p,
                                          c.POINTER(_Buffer), p], p),
        "TF_GraphOperationByName": ([p, c.c_char_p], p),
        "TF_AllocateTensor": ([c.c_int, c.POINTER(c.c_int64), c.c_int, c.c_size_t], p),
        "TF_TensorData": ([p], p), "TF_TensorByteSize": ([p], c.c_size_t), "TF_TensorType": ([p], c.c_int),
        "TF_NumDims": ([p], c.c_int), "TF_Dim": ([p, c.c_int], c.c_int64), "TF_DeleteTensor": ([p], None),
        "TF_SessionRun": ([p, p, c.POINTER(_Output), c.POINTER(p), c.c_int, c.POINTER(_Output), c.POINTER(p),
                           c.c_int, p, c.c_int, p, p], None),
        "TF_CloseSession": ([p, p], None), "TF_DeleteSession": ([p, p], None),
    }
    for name, (argtypes, restype) in sigs.items():
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = argtypes, restype
    return lib


class SavedModelSession:
    """A SavedModel loaded by TensorFlow's C++ loader (tag `serve`), run by signature input names."""

    def __init__(self, export_dir: str | os.PathLike, tags: tuple[str, ...] = ("serve",)):
        self._lib = lib = _load_library()
        self._status = lib.TF_NewStatus()
        self._graph = lib.TF_NewGraph()
        options = lib.TF_NewSessionOptions()
        meta = lib.TF_NewBuffer()
        tag_array = (ctypes.c_char_p * len(tags))(*[t.encode() for t in tags])
        try:
            self._session = lib.TF_LoadSessionFromSavedModel(
                options, None, os.fspath(export_dir).encode(), tag_array, len(tags), self._graph, meta,
                self._status)
            self._check(f"loading {export_dir}")
            self.signatures = parse_signatures(ctypes.string_at(meta.contents.data, meta.contents.length))
        finally:
            lib.TF_DeleteBuffer(meta)
            lib.TF_DeleteSessionOptions(options)

    def _check(self, what: str) -> None:
        if self._lib.TF_GetCode(self._status) != 0:
            raise CApiError(f"{what}: {self._lib.TF_Message(self._status).decode()}")

    def _output(self, tensor_name: str) -> _Output:
        op_name, _, index = tensor_name.partition(":")
        op = self._lib.TF_GraphOperationByName(self._graph, op_name.encode())
        if not op:
            raise CApiError(f"the graph has no operation '{op_name}'")
        return _Output(op, int(index or 0))

    def run(self, inputs: dict[str, np.ndarray], signature: str = "serving_default") -> dict[str, np.ndarray]:
        """Feeds the signature's named inputs and returns its named outputs."""
        lib = self._lib
        if signature not in self.signatures:
            raise CApiError(f"no signature '{signature}'; the model has {sorted(self.signatures)}")
        sig = self.signatures[signature]
        if set(inputs) != set(sig.inputs):
            raise CApiError(f"signature '{signature}' takes inputs {sorted(sig.inputs)}, got {sorted(inputs)}")
        in_names, out_names = sorted(sig.inputs), sorted(sig.outputs)
        feeds, tensors = [], []
        try:
            for name in in_names:
                info = sig.inputs[name]
                dtype = np.dtype(_DTYPES[info.dtype])
                value = inputs[name]
                if isinstance(value, (np.ndarray, np.generic)) and value.dtype != dtype:
                    # as TF Serving's gRPC API: a typed tensor must have the signature's type (lists,
                    # like JSON numbers in its REST API, are converted)
                    raise CApiError(f"input '{name}' must be {dtype.name}, got {value.dtype.name}: convert it "
                                    f"first, e.g. x.astype(np.{dtype.name})")
                array = np.ascontiguousarray(value, dtype=dtype)
                if not fits(info, array.shape):
                    raise CApiError(f"input '{name}' must have shape {info.shape} (-1: any), got {array.shape}")
                dims = (ctypes.c_int64 * array.ndim)(*array.shape)
                t = lib.TF_AllocateTensor(_DTYPE_CODES[array.dtype], dims, array.ndim, array.nbytes)
                ctypes.memmove(lib.TF_TensorData(t), array.ctypes.data, array.nbytes)
                tensors.append(t)
                feeds.append(self._output(info.name))
            fetches = [self._output(sig.outputs[n].name) for n in out_names]
            results = (ctypes.c_void_p * len(fetches))()
            lib.TF_SessionRun(self._session, None, (_Output * len(feeds))(*feeds),
                              (ctypes.c_void_p * len(tensors))(*tensors), len(feeds),
                              (_Output * len(fetches))(*fetches), results, len(fetches), None, 0, None,
                              self._status)
            self._check(f"running signature '{signature}'")
            outputs = {}
            for name, t in zip(out_names, results):
                shape = [lib.TF_Dim(t, i) for i in range(lib.TF_NumDims(t))]
                dtype = _DTYPES[lib.TF_TensorType(t)]
                buf = ctypes.string_at(lib.TF_TensorData(t), lib.TF_TensorByteSize(t))
                outputs[name] = np.frombuffer(buf, dtype).reshape(shape).copy()
                lib.TF_DeleteTensor(t)
            return outputs
        finally:
            for t in tensors:
                lib.TF_DeleteTensor(t)

    def close(self) -> None:
        if getattr(self, "_session", None):
            self._lib.TF_CloseSession(self._session, self._status)
            self._lib.TF_DeleteSession(self._session, self._status)
            self._session = None
        if getattr(self, "_graph", None):
            self._lib.TF_DeleteGraph(self._graph)
            self._lib.TF_DeleteStatus(self._status)
            self._graph = self._status = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def warmup_requests(version_dir: str | os.PathLike) -> list[PredictRequest]:
    """The decoded warm-up requests of a version folder (`assets.extra/tf_serving_warmup_requests`)."""
    path = Path(version_dir) / WARMUP_FILE
    if not path.is_file():
        raise CApiError(f"{path} is missing: the version has no warm-up requests")
    return [parse_prediction_log(record) for record in read_tfrecords(path)]


def replay_warmup(version_dir: str | os.PathLike) -> list[dict[str, np.ndarray]]:
    """Runs every warm-up request through the C++ loader's session, as TF Serving does when it loads a
    version, and returns each request's outputs."""
    requests = warmup_requests(version_dir)
    with SavedModelSession(version_dir) as session:
        return [session.run(r.inputs, r.signature_name or "serving_default") for r in requests]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Run an exported SavedModel through TensorFlow's C API "
                                                 "(the loader TF Serving uses), without TensorFlow's Python package.")
    parser.add_argument("export_dir", help="a version folder, e.g. saved_models/conv_autoencoder/decoder/1")
    parser.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy",
                        help="a signature input and a .npy file holding it (repeat for several)")
    parser.add_argument("--out", help="write the outputs to this .npz file")
    parser.add_argument("--signature", default="serving_default")
    parser.add_argument("--warmup", action="store_true",
                        help="also replay the version's warm-up requests (assets.extra/tf_serving_warmup_requests)")
    args = parser.parse_args(argv)
    try:
        if args.warmup:
            for i, outputs in enumerate(replay_warmup(args.export_dir)):
                print(f"warm-up request {i}: " + ", ".join(f"{n} {v.shape}" for n, v in outputs.items()))
        with SavedModelSession(args.export_dir) as session:
            sig = session.signatures.get(args.signature)
            if sig is None:
                raise CApiError(f"no signature '{args.signature}'")
            for name, info in {**sig.inputs, **sig.outputs}.items():
                kind = "input " if name in sig.inputs else "output"
                print(f"{kind} {name}: {info.name} {np.dtype(_DTYPES.get(info.dtype, object)).name} {info.shape}")
            if args.input:
                feeds = {}
                for item in args.input:
                    name, _, path = item.partition("=")
                    feeds[name] = np.load(path)
                outputs = session.run(feeds, args.signature)
                for name, value in outputs.items():
                    print(f"{name}: shape {value.shape}, mean {value.mean():.6g}")
                if args.out:
                    np.savez(args.out, **outputs)
    except (CApiError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    assert "tensorflow" not in sys.modules, "the C API path must not import TensorFlow's Python package"
    return 0


if __name__ == "__main__":
    sys.exit(main())
