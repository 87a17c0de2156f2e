"""Readers for the protobuf and TFRecord files of an export, in pure Python (no TensorFlow, no protobuf).

A minimal protobuf wire-format reader (varints and length-delimited fields suffice here) decodes a
MetaGraphDef's signatures (with their inputs' defaults), TensorProtos and PredictionLogs; `read_tfrecords`
checks each record's CRC32C.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from gen_keras.errors import CApiError
from gen_keras.serving.signatures import DTYPES, PredictRequest, Signature, TensorInfo

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
            elif n == 4:  # defaults: input name → TensorProto
                name, tensor = _map_entry(v)
                sig.defaults[name] = parse_tensor(tensor)
        signatures[key] = sig
    return signatures


def parse_signatures(meta_graph_def: bytes) -> dict[str, Signature]:
    """The SignatureDefs of a serialized MetaGraphDef (field 5, a map from key to SignatureDef), with the
    defaults of their inputs (SignatureDef field 4).

    Args:
        meta_graph_def: the serialized tensorflow.MetaGraphDef.

    Returns:
        {signature key: `Signature`}.
    """
    return _signature_map(meta_graph_def, 5)


def parse_signature_def_map(signature_def_map: bytes) -> dict[str, Signature]:
    """The SignatureDefs of a serialized tensorflow.serving.SignatureDefMap (TF Serving's model metadata), with
    the defaults of their inputs.

    Args:
        signature_def_map: the serialized SignatureDefMap.

    Returns:
        {signature key: `Signature`}.
    """
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
    """A serialized tensorflow.TensorProto as an array.

    Read from `tensor_content`, or from the `*_val` fields, whose last value repeats to fill the shape, as in
    TensorFlow.

    Args:
        tensor_proto: the serialized TensorProto.

    Returns:
        `np.ndarray` of the tensor's dtype and shape.

    Raises:
        CApiError: an unsupported dtype, or a size that does not match the shape.
    """
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
    if code not in DTYPES:
        raise CApiError(f"tensor dtype {code} is not supported here (types.proto numbering)")
    dtype = np.dtype(DTYPES[code])
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
    """The PredictRequest inside a serialized tensorflow.serving.PredictionLog (its `predict_log`).

    Args:
        record: one TFRecord of a warm-up file.

    Returns:
        The `PredictRequest` (model name, signature name, input arrays).

    Raises:
        CApiError: the log holds no predict_log, or a tensor cannot be decoded.
    """
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
    """The records of an uncompressed TFRecord file, their checksums verified.

    Format per record: uint64 length, uint32 masked CRC32C of it, data, uint32 masked CRC32C of the data.

    Args:
        path: the TFRecord file.

    Yields:
        Each record's bytes.

    Raises:
        CApiError: a truncated record, or a checksum that does not match.
    """
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

