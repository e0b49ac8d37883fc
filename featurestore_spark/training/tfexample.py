"""``tf.train.Example`` encoding: a row at a time (:func:`encoder`, the reference) and vectorized
over Arrow record batches in the executors (:func:`example_pieces`, which the TFRecord writer
frames and lays out with :func:`assemble`; :func:`encode` and :func:`encode_batch` give the bare Examples).

Each row's Example is laid out as a sequence of byte pieces: the Example's header, then for
every non-null column its map entry (headers, then the value). A piece is either a matrix
(one row of bytes per record, of which the first ``lens[i]`` count) or a flat buffer with
lengths (string data straight from Arrow). numpy computes every varint, length and offset for
the whole batch and :func:`assemble` lays the pieces side by side and keeps each record's
bytes with one mask, without a Python object per row. Scalar int64, float and string/binary
columns are vectorized; array columns are encoded row by row (:class:`Column`). The tests
compare the two.

Map entries follow the columns' order, as TensorFlow serializes a ``Features`` map built in
that order (the golden files of the tests were made by TensorFlow).
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

INT64, FLOAT, BYTES = "int64", "float32", "string"      # tf.train.Feature kinds, as tf dtypes

_SMALL = [bytes([i]) for i in range(128)]
_MASK64 = (1 << 64) - 1


def varint(value: int) -> bytes:
    """Protobuf base-128 varint; negative numbers as their 64-bit two's complement."""
    if 0 <= value < 128:
        return _SMALL[value]
    value &= _MASK64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _delimited(tag: bytes, payload: bytes) -> bytes:
    return tag + varint(len(payload)) + payload


# Feature: oneof { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3 }
_FEATURE_TAG = {BYTES: b"\x0a", FLOAT: b"\x12", INT64: b"\x1a"}


def _list_payload(kind: str, values: Sequence[Any]) -> bytes:
    """The Int64List / FloatList (packed) or BytesList message of ``values``."""
    if any(v is None for v in values):
        raise ValueError("tfrecords cannot hold null elements inside an array: drop or fill "
                         "them before creating the training dataset")
    if kind == BYTES:
        return b"".join(_delimited(b"\x0a", v.encode() if isinstance(v, str) else bytes(v))
                        for v in values)
    if not values:
        return b""
    if kind == FLOAT:
        return _delimited(b"\x0a", struct.pack(f"<{len(values)}f", *values))
    return _delimited(b"\x0a", b"".join(map(varint, values)))


class Column:
    """How one column becomes a ``Features.feature`` map entry (headers computed once)."""

    def __init__(self, name: str, kind: str, is_list: bool) -> None:
        self.name, self.kind, self.is_list = name, kind, is_list
        self.key = _delimited(b"\x0a", name.encode())          # MapEntry.key = 1
        # scalar int64 and float entries differ only by the value's bytes: precompute the rest
        self.int_headers = {n: self._header(2 + n, b"\x0a" + _SMALL[n]) for n in range(1, 11)}
        self.float_header = self._header(6, b"\x0a\x04")

    def _header(self, list_length: int, list_prefix: bytes) -> bytes:
        feature = _FEATURE_TAG[self.kind] + varint(list_length)
        entry_length = len(self.key) + 1 + len(varint(len(feature) + list_length)) \
            + len(feature) + list_length
        return (b"\x0a" + varint(entry_length) + self.key + b"\x12"
                + varint(len(feature) + list_length) + feature + list_prefix)

    def entry(self, value: Any) -> bytes:
        if not self.is_list:
            if self.kind == INT64:
                v = varint(value)
                return self.int_headers[len(v)] + v
            if self.kind == FLOAT:
                return self.float_header + struct.pack("<f", value)
            value = (value,)
        feature = _delimited(_FEATURE_TAG[self.kind], _list_payload(self.kind, value))
        return _delimited(b"\x0a", self.key + _delimited(b"\x12", feature))


def encoder(features: Sequence[tuple[str, str, bool]]) -> Callable[[Sequence[Any]], bytes]:
    """A function from a row of wire values (ints, floats, str/bytes, lists of them; None to
    leave a feature out) to its serialized ``tf.train.Example``."""
    columns = [Column(*f) for f in features]

    def encode(row: Sequence[Any]) -> bytes:
        # Example.features = 1 (Features), whose map<string, Feature> feature = 1 entries these are
        return _delimited(b"\x0a", b"".join([c.entry(v) for c, v in zip(columns, row)
                                             if v is not None]))
    return encode


Piece = tuple[np.ndarray, np.ndarray]     # (matrix (n, width) or flat bytes, lengths (n,))
_SHIFTS = np.arange(10, dtype=np.uint64) * np.uint64(7)
_LIMITS = np.array([1 << (7 * k) for k in range(1, 10)], np.uint64)   # the first of k + 1 bytes


def varints(values: np.ndarray) -> Piece:
    """The base-128 varints of unsigned 64-bit ``values``: a (n, width) matrix (width: the
    longest's length, at most 10) and lengths."""
    values = values.astype(np.uint64, copy=False)
    lens = np.searchsorted(_LIMITS, values, side="right").astype(np.int64) + 1
    width = int(lens.max()) if len(lens) else 1
    if width == 1:
        return values.astype(np.uint8).reshape(-1, 1), lens
    septets = ((values[:, None] >> _SHIFTS[:width]) & np.uint64(0x7F)).astype(np.uint8)
    septets |= np.where(np.arange(width) < lens[:, None] - 1, np.uint8(0x80), np.uint8(0))
    return septets, lens


def _const(data: bytes, valid: np.ndarray) -> Piece:
    row = np.frombuffer(data, np.uint8)
    return np.broadcast_to(row, (len(valid), len(row))), np.where(valid, len(row), 0)


def _masked(piece: Piece, valid: np.ndarray) -> Piece:
    return piece[0], np.where(valid, piece[1], 0)


def _int_pieces(column: Column, values: np.ndarray, valid: np.ndarray) -> list[Piece]:
    """Header by varint length (from a table), then the varint."""
    digits, lens = varints(values.astype(np.int64, copy=False).view(np.uint64))
    headers = [column.int_headers[n] for n in range(1, 11)]
    width = max(map(len, headers))
    table = np.zeros((10, width), np.uint8)
    for i, h in enumerate(headers):
        table[i, :len(h)] = np.frombuffer(h, np.uint8)
    header_lens = np.array([len(h) for h in headers])[lens - 1]
    return [_masked((table[lens - 1], header_lens), valid), _masked((digits, lens), valid)]


def _float_pieces(column: Column, values: np.ndarray, valid: np.ndarray) -> list[Piece]:
    data = values.astype("<f4", copy=False).view(np.uint8).reshape(-1, 4)
    return [_const(column.float_header, valid), _masked((data, np.full(len(values), 4)), valid)]


def _bytes_pieces(column: Column, array: pa.Array, valid: np.ndarray) -> list[Piece]:
    """Entry = 0a len(entry) key 12 len(feature) 0a len(list) 0a len(value) value."""
    import pyarrow as pa
    array = array.fill_null(b"" if pa.types.is_binary(array.type) or
                            pa.types.is_large_binary(array.type) else "")
    wide = pa.types.is_large_binary(array.type) or pa.types.is_large_string(array.type)
    offsets = np.frombuffer(array.buffers()[1], np.int64 if wide else np.int32)[
        array.offset:array.offset + len(array) + 1].astype(np.int64)
    data_buffer = array.buffers()[2]
    data = (np.frombuffer(data_buffer, np.uint8)[offsets[0]:offsets[-1]] if data_buffer is not None
            else np.zeros(0, np.uint8))
    n_value = np.diff(offsets)
    pieces = []
    list_len = 1 + varints(n_value)[1] + n_value
    feature_len = 1 + varints(list_len)[1] + list_len
    entry_len = len(column.key) + 1 + varints(feature_len)[1] + feature_len
    for prefix, length in ((b"\x0a", entry_len), (column.key + b"\x12", feature_len),
                           (_FEATURE_TAG[BYTES], list_len), (b"\x0a", n_value)):
        pieces += [_const(prefix, valid), _masked(varints(length), valid)]
    return pieces + [(data, n_value)]     # null rows were filled with empty values: length 0


def _row_pieces(column: Column, array: pa.Array, valid: np.ndarray) -> list[Piece]:
    entries = [column.entry(v) if v is not None else b"" for v in array.to_pylist()]
    return [(np.frombuffer(b"".join(entries), np.uint8),
             np.fromiter(map(len, entries), np.int64, len(entries)))]


def _pieces(column: Column, array: pa.Array) -> list[Piece]:
    valid = ~np.asarray(array.is_null().to_numpy(zero_copy_only=False), bool)
    if column.is_list:
        return _row_pieces(column, array, valid)
    if column.kind == INT64:
        return _int_pieces(column, array.fill_null(0).to_numpy(), valid)
    if column.kind == FLOAT:
        return _float_pieces(column, array.fill_null(0).to_numpy(), valid)
    return _bytes_pieces(column, array, valid)


WIDE = 256          # a flat piece longer than this in some row is copied run by run


def _matrix(piece: Piece) -> np.ndarray:
    """A flat piece (bytes back to back) as a matrix of one row per record, zero-padded."""
    data, lens = piece
    width = int(lens.max()) if len(lens) else 0
    if not len(data) or not width:
        return np.zeros((len(lens), 0), np.uint8)
    at = (np.cumsum(lens) - lens)[:, None] + np.arange(width)
    return np.take(data, at, mode="clip")


def assemble(pieces: Sequence[Piece]) -> np.ndarray:
    """The records made of ``pieces`` (each record is the first ``lens[i]`` bytes of row ``i``
    of every piece, in order), back to back: the pieces side by side as one matrix, then one
    boolean mask keeps each record's bytes, row after row. A flat piece with a long value is
    copied run by run instead (:func:`scatter`)."""
    n = len(pieces[0][1])
    if any(p.ndim == 1 and len(lens) and lens.max() > WIDE for p, lens in pieces):
        sizes = np.sum([lens for _, lens in pieces], axis=0)
        out = np.empty(int(sizes.sum()), np.uint8)
        starts = np.cumsum(sizes) - sizes
        for piece in pieces:
            scatter(out, starts, piece)
            starts += piece[1]
        return out
    if not n:
        return np.zeros(0, np.uint8)
    matrices = [p if p.ndim == 2 else _matrix((p, lens)) for p, lens in pieces]
    width = sum(m.shape[1] for m in matrices)
    table, keep = np.empty((n, width), np.uint8), np.empty((n, width), bool)
    at = 0
    for m, (_, lens) in zip(matrices, pieces):
        w = m.shape[1]
        table[:, at:at + w] = m
        whole = lens == w
        if whole.all():                                      # every row whole (most pieces)
            keep[:, at:at + w] = True
        elif (whole | (lens == 0)).all():                    # whole or nothing (a null)
            keep[:, at:at + w] = whole[:, None]
        else:
            keep[:, at:at + w] = np.arange(w) < lens[:, None]
        at += w
    return table[keep]


def scatter(out: np.ndarray, starts: np.ndarray, piece: Piece) -> None:
    """Copy each row's first ``lens`` bytes of ``piece`` to ``out[starts[i]:]``."""
    source, lens = piece
    total = int(lens.sum())
    if total == 0:
        return
    if source.ndim == 2:
        source = source[np.arange(source.shape[1]) < lens[:, None]]
    ends = np.cumsum(lens)
    out[np.repeat(starts - (ends - lens), lens) + np.arange(total)] = source


def example_pieces(batch: pa.RecordBatch, columns: Sequence[Column]) -> tuple[list[Piece],
                                                                               np.ndarray]:
    """The pieces of the serialized Examples of a batch's rows (columns in ``columns`` order),
    and each Example's size."""
    pieces = [p for column, array in zip(columns, batch.columns) for p in _pieces(column, array)]
    n = batch.num_rows
    body = np.zeros(n, np.int64)
    for _, lens in pieces:
        body += lens
    pieces = [_const(b"\x0a", np.ones(n, bool)), varints(body)] + pieces   # Example.features
    return pieces, 1 + pieces[1][1] + body


def encode_scalars(batch: pa.RecordBatch, columns: Sequence[Column]) -> np.ndarray:
    """The framed TFRecords of a batch of scalar columns (no arrays), back to back: the compiled
    encoder (:func:`.tfkernels.encode`), the same bytes as :func:`example_pieces` framed."""
    import pyarrow as pa

    from . import tfkernels
    n, m = batch.num_rows, len(columns)
    names = [c.name.encode() for c in columns]
    key_offsets = np.zeros(m + 1, np.int64)
    np.cumsum([len(k) for k in names], out=key_offsets[1:])
    kinds, index = np.zeros(m, np.int64), np.zeros(m, np.int64)
    valid = np.ones((m, n), bool)
    ints: list[np.ndarray] = []
    floats: list[np.ndarray] = []
    spans: list[np.ndarray] = []
    blobs: list[np.ndarray] = []
    base = 0
    for i, (column, array) in enumerate(zip(columns, batch.columns)):
        if array.null_count:
            valid[i] = ~np.asarray(array.is_null().to_numpy(zero_copy_only=False), bool)
        if column.kind == INT64:
            kinds[i], index[i] = 0, len(ints)
            ints.append(array.fill_null(0).to_numpy().astype(np.int64, copy=False))
        elif column.kind == FLOAT:
            kinds[i], index[i] = 1, len(floats)
            floats.append(array.fill_null(0).to_numpy().astype("<f4", copy=False))
        else:
            kinds[i], index[i] = 2, len(spans)
            wide = pa.types.is_large_binary(array.type) or pa.types.is_large_string(array.type)
            offsets = np.frombuffer(array.buffers()[1], np.int64 if wide else np.int32)[
                array.offset:array.offset + n + 1].astype(np.int64)
            data = array.buffers()[2]
            blob = (np.frombuffer(data, np.uint8)[offsets[0]:offsets[-1]] if data is not None
                    else np.zeros(0, np.uint8))
            spans.append(offsets - offsets[0] + base)      # a null's span is empty (Arrow)
            blobs.append(blob)
            base += len(blob)
    return tfkernels.encode(
        kinds, index, np.frombuffer(b"".join(names), np.uint8) if any(names) else
        np.zeros(0, np.uint8), key_offsets,
        np.stack(ints).view(np.uint64) if ints else np.zeros((0, n), np.uint64),
        np.stack(floats).view(np.uint32) if floats else np.zeros((0, n), np.uint32),
        np.stack(spans) if spans else np.zeros((0, n + 1), np.int64),
        np.concatenate(blobs) if blobs else np.zeros(0, np.uint8), valid)


def encode(batch: pa.RecordBatch, columns: Sequence[Column]) -> tuple[np.ndarray, np.ndarray]:
    """The serialized Examples of a batch's rows (columns in ``columns`` order), back to back
    in one buffer, and the ``n + 1`` offsets of each in it."""
    pieces, sizes = example_pieces(batch, columns)
    offsets = np.zeros(batch.num_rows + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    return assemble(pieces), offsets


def encode_batch(batch: pa.RecordBatch, columns: Sequence[Column]) -> pa.Array:
    """:func:`encode` as an Arrow binary array."""
    import pyarrow as pa
    out, offsets = encode(batch, columns)
    return pa.Array.from_buffers(pa.binary(), batch.num_rows,
                                 [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(out)])


__all__ = ["INT64", "FLOAT", "BYTES", "assemble", "encoder", "encode", "encode_batch", "encode_scalars",
           "example_pieces", "varints"]
