"""Runs an exported SavedModel the way TF Serving does: TensorFlow's C++ loader, through its C API.

TF Serving loads a version folder with the C++ `LoadSavedModel` and runs the signature's tensors in a
session. The TensorFlow pip wheel exposes that loader as `TF_LoadSessionFromSavedModel` and
`TF_SessionRun` (libtensorflow_cc.so.2). This module calls them with ctypes and never imports
TensorFlow's Python package, so a model that passes here does not lean on anything the Python loader
adds. The signature is read from the MetaGraphDef the loader returns, with a small protobuf reader, which
also decodes the version's warm-up records (TFRecords of PredictionLog) so `replay_warmup` can run them.

    python -m gen_keras.serving.capi saved_models/conv_autoencoder/decoder/1 --input code=codes.npy --out images.npz
    python -m gen_keras.serving.capi saved_models/conv_autoencoder/decoder/1 --warmup
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

from gen_keras.errors import CApiError
from gen_keras.serving.signatures import (DTYPE_CODES, DTYPES, WARMUP_FILE, PredictRequest, describe_inputs, fits,
                                          with_defaults)
from gen_keras.serving.wire import parse_prediction_log, parse_signatures, read_tfrecords

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
    # numpy.random's extension modules must be loaded before libtensorflow_cc (numpy 2 imports them
    # lazily): loaded after it, their first use in the process is a segmentation fault.
    importlib.import_module("numpy.random")
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
    """A SavedModel loaded by TensorFlow's C++ loader through its C API, run by signature input names.

    Use it as a context manager (or call `close`) to free the C objects. The signatures are read from the
    MetaGraphDef the loader returns.

    Args:
        export_dir: a version folder, e.g. saved_models/conv_autoencoder/decoder/1.
        tags: the MetaGraph's tags (`serve`, as TF Serving loads).

    Raises:
        CApiError: libtensorflow_cc.so.2 is missing, or the loader refuses the folder (TensorFlow's message).
    """

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
        """Feeds the signature's named inputs and returns its named outputs.

        An input left out is fed its default from the signature (`SignatureDef.defaults`), as TF Serving does.

        Args:
            inputs: input name → array, e.g. {"code": float32 (batch, 49)}; typed arrays must have the
                signature's dtype (lists are converted), shapes must fit (-1: any size).
            signature: the signature key.

        Returns:
            output name → array, e.g. {"image": float32 (batch, 28, 28, 1)}.

        Raises:
            CApiError: an unknown signature, an unknown input or a missing one without a default, a wrong dtype
                or shape, or TensorFlow refusing the run.
        """
        lib = self._lib
        if signature not in self.signatures:
            raise CApiError(f"no signature '{signature}'; the model has {sorted(self.signatures)}")
        sig = self.signatures[signature]
        given = sorted(inputs)
        inputs = with_defaults(sig, inputs)
        if set(inputs) != set(sig.inputs):
            raise CApiError(f"signature '{signature}' takes inputs {sorted(sig.inputs)}, got {given} (an input with "
                            f"a default may be left out: {describe_inputs(sig)})")
        in_names, out_names = sorted(sig.inputs), sorted(sig.outputs)
        feeds, tensors = [], []
        try:
            for name in in_names:
                info = sig.inputs[name]
                dtype = np.dtype(DTYPES[info.dtype])
                value = inputs[name]
                if isinstance(value, (np.ndarray, np.generic)) and value.dtype != dtype:
                    # as TF Serving's gRPC API: a typed tensor must have the signature's type (lists,
                    # like JSON numbers in its REST API, are converted)
                    raise CApiError(f"input '{name}' must be {dtype.name}, got {value.dtype.name}: convert it "
                                    f"first, e.g. x.astype(np.{dtype.name})")
                array = np.array(value, dtype=dtype, order="C")  # (ascontiguousarray would make a scalar 1-d)
                if not fits(info, array.shape):
                    raise CApiError(f"input '{name}' must have shape {info.shape} (-1: any), got {array.shape}")
                dims = (ctypes.c_int64 * array.ndim)(*array.shape)
                t = lib.TF_AllocateTensor(DTYPE_CODES[array.dtype], dims, array.ndim, array.nbytes)
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
                dtype = DTYPES[lib.TF_TensorType(t)]
                buf = ctypes.string_at(lib.TF_TensorData(t), lib.TF_TensorByteSize(t))
                outputs[name] = np.frombuffer(buf, dtype).reshape(shape).copy()
                lib.TF_DeleteTensor(t)
            return outputs
        finally:
            for t in tensors:
                lib.TF_DeleteTensor(t)

    def close(self) -> None:
        """Frees the loaded model's C objects (TF_Session, graph, status); calling it again does nothing."""
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
    """The decoded warm-up requests of a version folder (`assets.extra/tf_serving_warmup_requests`).

    Args:
        version_dir: a version folder.

    Returns:
        One `PredictRequest` per record.

    Raises:
        CApiError: the file is missing, a record is corrupt, or it holds no predict request.
    """
    path = Path(version_dir) / WARMUP_FILE
    if not path.is_file():
        raise CApiError(f"{path} is missing: the version has no warm-up requests")
    return [parse_prediction_log(record) for record in read_tfrecords(path)]


def replay_warmup(version_dir: str | os.PathLike) -> list[dict[str, np.ndarray]]:
    """Runs every warm-up request through the C++ loader, as TF Serving does when it loads a version.

    Args:
        version_dir: a version folder.

    Returns:
        Each request's outputs, output name → array.

    Raises:
        CApiError: as `warmup_requests` and `SavedModelSession.run`.
    """
    requests = warmup_requests(version_dir)
    with SavedModelSession(version_dir) as session:
        return [session.run(r.inputs, r.signature_name or "serving_default") for r in requests]


def main(argv=None) -> int:
    """`python -m gen_keras.serving.capi`: prints a signature's tensors (and its inputs' defaults), optionally runs
    inputs and warm-up requests.

    Args:
        argv: the flags; None for `sys.argv[1:]`.

    Returns:
        The exit status: 0, or 1 after printing a `CApiError` or a file error.
    """
    parser = argparse.ArgumentParser(description="Run an exported SavedModel through TensorFlow's C API "
                                                 "(the loader TF Serving uses), without TensorFlow's Python package.")
    parser.add_argument("export_dir", help="a version folder, e.g. saved_models/conv_autoencoder/decoder/1")
    parser.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy",
                        help="a signature input and a .npy file holding it (repeat for several; an input with a "
                             "default may be left out)")
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
                default = (f", default {np.asarray(sig.defaults[name]).tolist()!r}"
                           if kind == "input " and name in sig.defaults else "")
                print(f"{kind} {name}: {info.name} {np.dtype(DTYPES.get(info.dtype, object)).name} {info.shape}"
                      f"{default}")
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
