"""Vectorized ``tf.train.Example`` encoding of Arrow record batches (in the executors).

Each row's Example is laid out as a sequence of byte pieces: the Example's header, then for
every non-null column its map entry (headers, then the value). A piece is either a matrix
(one row of bytes per record, of which the first ``lens[i]`` count) or a flat buffer with
lengths (string data straight from Arrow). numpy computes every varint, length and offset for
the whole batch and scatters the pieces into one buffer, which becomes an Arrow binary array
without a Python object per row. Scalar int64, float and string/binary columns are vectorized;
array columns are encoded row by row (:class:`.tfrecord._Column`).

The byte layout is the one :func:`.tfrecord.encoder` produces (the tests compare them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

import numpy as np

from .tfrecord import _FEATURE_TAG, BYTES, FLOAT, INT64, _Column

if TYPE_CHECKING:
    import pyarrow as pa

Piece = tuple[np.ndarray, np.ndarray]     # (matrix (n, width) or flat bytes, lengths (n,))
_SHIFTS = np.arange(10, dtype=np.uint64) * np.uint64(7)


def varints(values: np.ndarray) -> Piece:
    """The base-128 varints of unsigned 64-bit ``values``: a (n, 10) matrix and lengths."""
    values = values.astype(np.uint64, copy=False)
    lens = np.ones(len(values), np.int64)
    for k in range(1, 10):
        lens += values >= np.uint64(1 << (7 * k))
    septets = ((values[:, None] >> _SHIFTS) & np.uint64(0x7F)).astype(np.uint8)
    septets |= np.where(np.arange(10) < lens[:, None] - 1, np.uint8(0x80), np.uint8(0))
    return septets, lens


def _const(data: bytes, valid: np.ndarray) -> Piece:
    row = np.frombuffer(data, np.uint8)
    return np.broadcast_to(row, (len(valid), len(row))), np.where(valid, len(row), 0)


def _masked(piece: Piece, valid: np.ndarray) -> Piece:
    return piece[0], np.where(valid, piece[1], 0)


def _int_pieces(column: _Column, values: np.ndarray, valid: np.ndarray) -> list[Piece]:
    """Header by varint length (from a table), then the varint."""
    digits, lens = varints(values.astype(np.int64, copy=False).view(np.uint64))
    headers = [column.int_headers[n] for n in range(1, 11)]
    width = max(map(len, headers))
    table = np.zeros((10, width), np.uint8)
    for i, h in enumerate(headers):
        table[i, :len(h)] = np.frombuffer(h, np.uint8)
    header_lens = np.array([len(h) for h in headers])[lens - 1]
    return [_masked((table[lens - 1], header_lens), valid), _masked((digits, lens), valid)]


def _float_pieces(column: _Column, values: np.ndarray, valid: np.ndarray) -> list[Piece]:
    data = values.astype("<f4", copy=False).view(np.uint8).reshape(-1, 4)
    return [_const(column.float_header, valid), _masked((data, np.full(len(values), 4)), valid)]


def _bytes_pieces(column: _Column, array: pa.Array, valid: np.ndarray) -> list[Piece]:
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


def _row_pieces(column: _Column, array: pa.Array, valid: np.ndarray) -> list[Piece]:
    entries = [column.entry(v) if v is not None else b"" for v in array.to_pylist()]
    return [(np.frombuffer(b"".join(entries), np.uint8),
             np.fromiter(map(len, entries), np.int64, len(entries)))]


def _pieces(column: _Column, array: pa.Array) -> list[Piece]:
    valid = ~np.asarray(array.is_null().to_numpy(zero_copy_only=False), bool)
    if column.is_list:
        return _row_pieces(column, array, valid)
    if column.kind == INT64:
        return _int_pieces(column, array.fill_null(0).to_numpy(), valid)
    if column.kind == FLOAT:
        return _float_pieces(column, array.fill_null(0).to_numpy(), valid)
    return _bytes_pieces(column, array, valid)


def _scatter(out: np.ndarray, starts: np.ndarray, piece: Piece) -> None:
    """Copy each row's first ``lens`` bytes of ``piece`` to ``out[starts[i]:]``."""
    source, lens = piece
    total = int(lens.sum())
    if total == 0:
        return
    if source.ndim == 2:
        source = source[np.arange(source.shape[1]) < lens[:, None]]
    ends = np.cumsum(lens)
    out[np.repeat(starts - (ends - lens), lens) + np.arange(total)] = source


def encode_batch(batch: pa.RecordBatch, columns: Sequence[_Column]) -> pa.Array:
    """The serialized Examples of a batch's rows (columns in ``columns`` order)."""
    import pyarrow as pa
    pieces = [p for column, array in zip(columns, batch.columns) for p in _pieces(column, array)]
    n = batch.num_rows
    body = np.zeros(n, np.int64)
    for _, lens in pieces:
        body += lens
    pieces = [_const(b"\x0a", np.ones(n, bool)), varints(body)] + pieces   # Example.features
    sizes = 1 + pieces[1][1] + body
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(sizes, out=offsets[1:])
    out = np.empty(int(offsets[-1]), np.uint8)
    starts = offsets[:-1].copy()
    for piece in pieces:
        _scatter(out, starts, piece)
        starts += piece[1]
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets.astype(np.int32)),
                                                   pa.py_buffer(out)])


def encode_batches(features: Sequence[tuple[str, str, bool]],
                   batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """mapInArrow: ``record`` (the Example) and ``nothing`` (null: the Hadoop value)."""
    import pyarrow as pa
    columns = [_Column(*f) for f in features]
    for batch in batches:
        records = encode_batch(batch, columns)
        yield pa.RecordBatch.from_arrays([records, pa.nulls(len(records), pa.binary())],
                                         ["record", "nothing"])


__all__ = ["encode_batch", "encode_batches", "varints"]
