"""``tf.train.Example`` decoding into Arrow arrays, in the executors: vectorized over a batch of
records, with a record-at-a-time reference decoder for the layouts the vectorized one does not
read.

The vectorized decoder walks every record of a batch at once, one map entry per step: numpy
reads the tags and lengths of the k-th entry of all records together, matches its key to the
wanted columns (trying first the column the writer's order puts there), and keeps the span of
its value list. Lists are then read per column: packed int64 varints, packed floats, and byte
strings gathered into Arrow buffers without a Python object per value. It reads what
protobuf and TensorFlow write: an entry as key then value, int64 and float lists packed.
Anything else (unpacked lists, a repeated key, an empty ``Feature``, unknown fields) makes
:func:`decode` fall back to the reference decoder for that batch, with a warning the first time,
so a slow read is never silent. Features the schema does not name are skipped, as
``tf.io.parse_example`` skips them.
"""

from __future__ import annotations

import logging
import struct
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import numpy as np

from .tfexample import BYTES, FLOAT, INT64

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

Spec = tuple[str, str, bool, bool]          # (name, kind, is_list, is_text)
_TAGS = {0x0A: BYTES, 0x12: FLOAT, 0x1A: INT64}            # Feature's oneof fields
_TAG = {kind: tag for tag, kind in _TAGS.items()}
_PAD = 16                                   # zero bytes after a buffer: reads never run off it
_SHIFTS = np.arange(10, dtype=np.uint64) * np.uint64(7)
_warned = False


class _Unusual(Exception):
    """A record in a layout the vectorized decoder does not read."""


# -- the reference: one record at a time ----------------------------------------------------------
def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, Any]]:
    """(field number, wire type, value) of a message: ints for varints, bytes for the rest."""
    pos, end = 0, len(buf)
    value: int | bytes
    while pos < end:
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos)
        elif wire == 2:
            length, pos = _read_varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        else:
            raise ValueError(f"unexpected protobuf wire type {wire} in a tf.train.Example")
        if pos > end:
            raise ValueError("a tf.train.Example record ends inside a field (truncated)")
        yield number, wire, value


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _list_values(kind: int, buf: bytes) -> list[Any]:
    values: list[Any] = []
    for _, wire, v in _fields(buf):
        if kind == 1:
            values.append(bytes(v))
        elif kind == 2:
            values.extend(struct.unpack(f"<{len(v) // 4}f", v) if wire == 2 else
                          struct.unpack("<f", v))
        elif wire == 2:
            pos = 0
            while pos < len(v):
                n, pos = _read_varint(v, pos)
                values.append(_signed(n))
        else:
            values.append(_signed(v))
    return values


def decode_example(record: bytes) -> dict[str, tuple[str | None, list[Any]]]:
    """``{feature name: (kind, values)}`` of a serialized ``tf.train.Example`` (kind None for a
    feature that holds no list)."""
    out: dict[str, tuple[str | None, list[Any]]] = {}
    for number, _, features in _fields(record):
        if number != 1:
            continue
        for n, _, entry in _fields(features):
            if n != 1:
                continue
            key, kind, values = "", None, []
            for en, _, ev in _fields(entry):
                if en == 1:
                    key = bytes(ev).decode()
                elif en == 2:
                    for tag, _, lst in _fields(ev):
                        kind, values = _TAGS.get(tag << 3 | 2), _list_values(tag, lst)
            out[key] = (kind, values)
    return out


def _wrong_kind(name: str, found: str, wanted: str) -> ValueError:
    return ValueError(f"feature {name!r} of a TFRecord holds {found} values where the schema "
                      f"says {wanted}: read it with the schema it was written with")


def decode_rows(records: Sequence[bytes], specs: Sequence[Spec]) -> list[list[Any]]:
    """The columns (lists of Python values) of ``records``, one record at a time."""
    columns: list[list[Any]] = [[] for _ in specs]
    for record in records:
        try:
            values = decode_example(record)
        except (IndexError, struct.error) as e:
            raise ValueError(f"a tf.train.Example record is truncated or malformed ({e})") from e
        for (name, kind, is_list, is_text), column in zip(specs, columns):
            found, v = values.get(name, (None, None))
            if v and found != kind:
                raise _wrong_kind(name, found or "no", kind)
            if v is not None and is_text:
                v = [b.decode() for b in v]
            column.append(v if is_list or v is None else (v[0] if v else None))
    return columns


# -- vectorized -----------------------------------------------------------------------------------
def _varint(buf: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The varints at ``pos`` (uint64) and the positions after them."""
    values = buf[pos].astype(np.uint64)
    after = pos + 1
    long = values >= 0x80
    if long.any():
        b = buf[pos[long][:, None] + np.arange(10)]
        more = b >= 0x80
        if more.all(axis=1).any():
            raise _Unusual("a varint longer than 10 bytes")
        n = np.argmin(more, axis=1) + 1
        digits = (b & 0x7F).astype(np.uint64) << _SHIFTS
        digits[np.arange(10) >= n[:, None]] = 0
        values[long] = np.bitwise_or.reduce(digits, axis=1)
        after[long] = pos[long] + n
    return values, after


def _within(length: np.ndarray, room: np.ndarray) -> np.ndarray:
    """``length`` (uint64 varints) as int64, each no more than the ``room`` left for it."""
    if ((room < 0) | (length > np.maximum(room, 0).astype(np.uint64))).any():
        raise _Unusual("a length past the end of its message")
    return length.astype(np.int64)


def _expect(buf: np.ndarray, pos: np.ndarray, tag: int) -> None:
    if (buf[pos] != tag).any():
        raise _Unusual(f"a field other than {tag:#x}")


def _ranges(starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """The indexes of ``starts[i] .. starts[i] + lens[i]``, back to back."""
    ends = np.cumsum(lens)
    return np.repeat(starts - (ends - lens), lens) + np.arange(int(ends[-1]) if len(ends) else 0)


class _Entries:
    """The entries found for one wanted column: record index and the span of its value list."""

    def __init__(self, spec: Spec, n: int) -> None:
        self.name, self.kind, self.is_list, self.is_text = spec
        self.key = np.frombuffer(self.name.encode(), np.uint8)
        self.seen = np.zeros(n, bool)
        self.rows: list[np.ndarray] = []
        self.spans: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, rows: np.ndarray, tags: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> None:
        if self.seen[rows].any():
            raise _Unusual("a feature twice in one record")
        wrong = tags != _TAG[self.kind]
        if wrong.any():
            found = _TAGS.get(int(tags[wrong][0]))
            if found is None:
                raise _Unusual("an unknown Feature field")
            raise _wrong_kind(self.name, found, self.kind)
        self.seen[rows] = True
        self.rows.append(rows)
        self.spans.append((starts, ends))

    def array(self, buf: np.ndarray, n: int) -> pa.Array:
        import pyarrow as pa
        rows = np.concatenate(self.rows) if self.rows else np.zeros(0, np.int64)
        order = np.argsort(rows, kind="stable")
        rows = rows[order]
        starts = np.concatenate([s for s, _ in self.spans])[order] if self.rows else rows
        ends = np.concatenate([e for _, e in self.spans])[order] if self.rows else rows
        if not self.is_list and self.kind != BYTES:
            return self._numbers(buf, rows, starts, ends, n)
        counts, values = self._lists(buf, starts, ends)
        valid = self.seen
        if self.is_list:
            sizes = np.zeros(n, np.int64)
            sizes[rows] = counts
            offsets = np.zeros(n + 1, np.int32)
            np.cumsum(sizes, out=offsets[1:])
            return pa.ListArray.from_arrays(pa.array(offsets), values, mask=pa.array(~valid))
        firsts = np.cumsum(counts) - counts              # the first value of each present list
        present = counts > 0
        valid = np.zeros(n, bool)
        valid[rows[present]] = True
        take = np.zeros(n, np.int64)
        take[rows[present]] = firsts[present]
        return values.take(pa.array(take, mask=~valid)) if len(values) else \
            pa.nulls(n, values.type)

    def _numbers(self, buf: np.ndarray, rows: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                 n: int) -> pa.Array:
        """A scalar int64 or float column: the first value of each packed list."""
        import pyarrow as pa
        full = ends > starts
        rows, starts = rows[full], starts[full]
        _expect(buf, starts, 0x0A)
        length, at = _varint(buf, starts + 1)
        if (at + _within(length, ends[full] - at) != ends[full]).any():
            raise _Unusual("more than one packed run")
        some = length > 0
        rows, at, stop = rows[some], at[some], ends[full][some]
        valid = np.zeros(n, bool)
        valid[rows] = True
        if self.kind == INT64:
            values = np.zeros(n, np.int64)
            first, after = _varint(buf, at)
            if (after > stop).any():
                raise _Unusual("a varint cut by the end of its list")
            values[rows] = first.view(np.int64)
        else:
            if (length[some] < 4).any():
                raise _Unusual("a float list not of 4-byte values")
            values = np.zeros(n, np.float32)
            values[rows] = buf[at[:, None] + np.arange(4)].view("<f4").ravel()
        return pa.array(values, mask=~valid)

    def _lists(self, buf: np.ndarray, starts: np.ndarray,
               ends: np.ndarray) -> tuple[np.ndarray, pa.Array]:
        """Each list's value count and all values back to back."""
        import pyarrow as pa
        if self.kind == BYTES:
            return self._byte_strings(buf, starts, ends)
        full = ends > starts                    # packed: 0a len payload; an empty list is empty
        length, payload = np.zeros(len(starts), np.int64), starts.copy()
        if full.any():
            _expect(buf, starts[full], 0x0A)
            run, payload[full] = _varint(buf, starts[full] + 1)
            length[full] = _within(run, ends[full] - payload[full])
        if (payload + length != ends).any():
            raise _Unusual("more than one packed run")
        data = buf[_ranges(payload, length)]
        if self.kind == FLOAT:
            if (length % 4).any():
                raise _Unusual("a float list not of 4-byte values")
            return length // 4, pa.array(data.view("<f4"))
        last = data < 0x80                      # the last byte of every varint
        if len(data) and not last[np.cumsum(length)[length > 0] - 1].all():
            raise _Unusual("a varint cut by the end of its list")
        ends_at = np.flatnonzero(last)
        begins = np.concatenate([[0], ends_at[:-1] + 1]) if len(ends_at) else ends_at
        shift = (np.arange(len(data)) - np.repeat(begins, ends_at - begins + 1)) * 7
        if len(shift) and shift.max() > 63:
            raise _Unusual("a varint longer than 10 bytes")
        digits = (data & 0x7F).astype(np.uint64) << shift.astype(np.uint64)
        values = (np.bitwise_or.reduceat(digits, begins) if len(begins)
                  else np.zeros(0, np.uint64))
        marks = np.concatenate([[0], np.cumsum(last)])
        bounds = np.concatenate([[0], np.cumsum(length)])
        counts = marks[bounds[1:]] - marks[bounds[:-1]]
        return counts, pa.array(values.view(np.int64))

    def _byte_strings(self, buf: np.ndarray, starts: np.ndarray,
                      ends: np.ndarray) -> tuple[np.ndarray, pa.Array]:
        """BytesList: (0a len bytes)*, read one element of every list per step."""
        import pyarrow as pa
        index = np.arange(len(starts))
        owner, begin, size = [], [], []
        pos = starts.copy()
        while True:
            going = pos < ends
            if not going.any():
                break
            index, pos, ends = index[going], pos[going], ends[going]
            _expect(buf, pos, 0x0A)
            length, at = _varint(buf, pos + 1)
            length = _within(length, ends - at)
            owner.append(index)
            begin.append(at)
            size.append(length)
            pos = at + length
            if (pos > ends).any():
                raise _Unusual("a byte string past the end of its list")
        if not owner:
            return np.zeros(len(starts), np.int64), pa.array([], self._type())
        rows, first, lens = (np.concatenate(x) for x in (owner, begin, size))
        order = np.argsort(rows, kind="stable")     # by list, in the list's order
        rows, first, lens = rows[order], first[order], lens[order]
        offsets = np.zeros(len(lens) + 1, np.int64)
        np.cumsum(lens, out=offsets[1:])
        data = buf[_ranges(first, lens)] if len(lens) else np.zeros(0, np.uint8)
        values = pa.Array.from_buffers(self._type(), len(lens), [
            None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)])
        if self.is_text:
            values.validate(full=True)              # UTF-8 or a clear error
        return np.bincount(rows, minlength=len(starts)), values

    def _type(self) -> pa.DataType:
        import pyarrow as pa
        return pa.string() if self.is_text else pa.binary()


def _decode(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray,
            specs: Sequence[Spec]) -> list[pa.Array]:
    n = len(starts)
    columns = [_Entries(spec, n) for spec in specs]
    rows = np.flatnonzero(ends > starts)        # an empty record: an Example with no features
    _expect(buf, starts[rows], 0x0A)            # Example.features
    length, pos = _varint(buf, starts[rows] + 1)
    end = pos + _within(length, ends[rows] - pos)
    if (end != ends[rows]).any():
        raise _Unusual("fields after Example.features")
    step = 0
    while True:
        going = pos < end
        rows, pos, end = rows[going], pos[going], end[going]
        if not len(rows):
            break
        _expect(buf, pos, 0x0A)                 # Features.feature: a map entry
        length, key = _varint(buf, pos + 1)
        entry_end = key + _within(length, end - key)
        _expect(buf, key, 0x0A)                 # MapEntry.key
        key_len, key = _varint(buf, key + 1)
        key_len = _within(key_len, entry_end - key)
        value = key + key_len
        _expect(buf, value, 0x12)               # MapEntry.value: the Feature
        length, feature = _varint(buf, value + 1)
        if (length == 0).any():
            raise _Unusual("a Feature with no list")
        if (feature + _within(length, entry_end - feature) != entry_end).any():
            raise _Unusual("fields after MapEntry.value")
        tags = buf[feature]
        length, lists = _varint(buf, feature + 1)
        if (lists + _within(length, entry_end - lists) != entry_end).any():
            raise _Unusual("fields after the Feature's list")
        left = np.ones(len(rows), bool)
        for column in columns[step:] + columns[:step]:      # the writer's order first
            match = left & (key_len == len(column.key))
            if not match.any():
                continue
            at = np.flatnonzero(match)
            if len(column.key):
                at = at[(buf[key[at][:, None] + np.arange(len(column.key))] == column.key).all(1)]
            column.add(rows[at], tags[at], lists[at], entry_end[at])
            left[at] = False
            if not left.any():
                break
        pos = entry_end
        step += 1
    return [c.array(buf, n) for c in columns]


def _compiled(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray,
              specs: Sequence[Spec]) -> list[pa.Array]:
    """:func:`_decode` with the compiled loops (:mod:`.tfkernels`): one pass finds every wanted
    feature in every record, one per scalar column reads its values; array columns are read as
    :func:`_decode` reads them."""
    import pyarrow as pa

    from . import tfkernels as k
    n = len(starts)
    names = [s[0].encode() for s in specs]
    key_offsets = np.zeros(len(names) + 1, np.int64)
    np.cumsum([len(x) for x in names], out=key_offsets[1:])
    keys = np.frombuffer(b"".join(names), np.uint8) if any(names) else np.zeros(0, np.uint8)
    lo, hi, tags, status = k.locate(buf, starts, ends, keys, key_offsets)
    _check(status)
    out = []
    for c, spec in enumerate(specs):
        name, kind, is_list, is_text = spec
        at, end = np.ascontiguousarray(lo[:, c]), np.ascontiguousarray(hi[:, c])
        present = at >= 0
        found = tags[present, c]
        wrong = found != _TAG[kind]
        if wrong.any():
            other = _TAGS.get(int(found[wrong][0]))
            if other is None:
                raise _Unusual("an unknown Feature field")
            raise _wrong_kind(name, other, kind)
        if is_list:
            entries = _Entries(spec, n)
            rows = np.flatnonzero(present)
            entries.seen, entries.rows, entries.spans = present, [rows], [(at[rows], end[rows])]
            out.append(entries.array(buf, n))
        elif kind == INT64:
            values, valid, status = k.first_ints(buf, at, end)
            _check(status)
            out.append(pa.array(values, mask=~valid))
        elif kind == FLOAT:
            raw, valid, status = k.first_floats(buf, at, end)
            _check(status)
            out.append(pa.array(raw.view("<f4").ravel(), mask=~valid))
        else:
            offsets, data, valid, status = k.first_bytes(buf, at, end)
            _check(status)
            array = pa.Array.from_buffers(
                pa.string() if is_text else pa.binary(), n,
                [pa.py_buffer(np.packbits(valid, bitorder="little")),
                 pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)])
            if is_text:
                array.validate(full=True)              # UTF-8 or a clear error
            out.append(array)
    return out


def _check(status: int) -> None:
    if status:
        from .tfkernels import UNUSUAL_LAYOUTS
        raise _Unusual(UNUSUAL_LAYOUTS[status])


def padded(data: bytes) -> np.ndarray:
    """``data`` as the buffer :func:`decode` reads (zeros after it: no read runs off it)."""
    return np.frombuffer(data + bytes(_PAD), np.uint8)


def decode(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, specs: Sequence[Spec],
           where: str = "") -> list[pa.Array]:
    """The columns (``specs``: name, kind, is_list, is_text) of the Examples at
    ``buf[starts[i]:ends[i]]`` (``buf`` from :func:`padded`), as Arrow arrays (``where``: the
    file, for the warning)."""
    import pyarrow as pa

    from .tfkernels import enabled
    try:
        return (_compiled if enabled() else _decode)(buf, starts, ends, specs)
    except _Unusual as e:
        global _warned
        if not _warned:
            _warned = True
            log.warning("TFRecords%s hold %s, which the fast decoder does not read: such "
                        "batches are decoded record by record (slower)",
                        f" of {where}" if where else "", e)
    records = [bytes(buf[s:e]) for s, e in zip(starts, ends)]
    types = {INT64: pa.int64(), FLOAT: pa.float32()}
    out = []
    for (_, kind, is_list, is_text), values in zip(specs, decode_rows(records, specs)):
        t = types.get(kind) or (pa.string() if is_text else pa.binary())
        out.append(pa.array(values, pa.list_(t) if is_list else t))
    return out


__all__ = ["decode", "decode_example", "decode_rows", "padded"]
