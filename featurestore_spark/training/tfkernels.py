"""Compiled loops (numba) for TFRecord files of ``tf.train.Example`` records: framing with both
CRC32Cs, finding each wanted feature in every record, reading scalar features, and encoding
batches of scalar columns into framed records.

These are the executors' hot loops; numpy alone needs dozens of passes over every batch for them
(:mod:`.tfexample`, :mod:`.tfexample_decode` and :mod:`.tfrecord_files` keep that path, which
the tests compare with this one). Without numba on a machine, :func:`enabled` warns once and the
callers use the numpy path: correct, about 2-4x slower. Compiled code is cached on disk
(``cache=True``: next to this file, or numba's user-wide cache when that is not writable), so a
Python worker pays the compilation once per machine, not per task.

Every kernel returns a status code instead of raising (0: fine); the callers turn it into the
error or the fallback the numpy path would give.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

try:                                      # a declared dependency; missing only where not shipped
    from numba import njit as _njit
    HAVE_NUMBA = os.environ.get("FEATURESTORE_TFRECORD_KERNELS", "1") != "0"
except ImportError:                       # pragma: no cover - exercised by a subprocess test
    _njit, HAVE_NUMBA = None, False           # type: ignore[assignment]


def njit(**options: Any) -> Any:
    """numba's ``njit``, or plain Python where numba is missing (never called then). Where numba
    finds no writable folder to cache compiled code in (set ``NUMBA_CACHE_DIR``), each process
    compiles the loops on first use (seconds), with a warning."""
    if _njit is None:
        return lambda f: f

    def compiled(f: Any) -> Any:
        try:
            return _njit(**options)(f)
        except RuntimeError as e:          # "cannot cache function ...: no locator available"
            if not options.get("cache"):
                raise
            global _uncached
            if not _uncached:
                _uncached = True
                log.warning("numba cannot cache the compiled TFRecord loops here (%s): each "
                            "Python process compiles them on first use; set NUMBA_CACHE_DIR to "
                            "a writable folder", e)
            return _njit(**{**options, "cache": False})(f)
    return compiled


_uncached = False


_warned = False


def enabled() -> bool:
    """Whether the compiled loops run here; warns once per process when they cannot."""
    global _warned
    if not HAVE_NUMBA and not _warned:
        _warned = True
        log.warning("numba is not installed (or FEATURESTORE_TFRECORD_KERNELS=0) on this machine: "
                    "TFRecords are encoded and decoded with numpy alone, 2-4x slower "
                    "(pip install numba, or ship it to the executors)")
    return HAVE_NUMBA


# -- CRC32C (Castagnoli, reflected), slice by 8 ----------------------------------------------------
def _tables() -> np.ndarray:
    t = np.zeros((8, 256), np.int64)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t[0, i] = c
    for k in range(1, 8):
        t[k] = (t[k - 1] >> 8) ^ t[0][t[k - 1] & 0xFF]
    return t


_T = _tables()
MASK_DELTA = 0xA282EAD8
OK, BAD_LENGTH_CRC, TRUNCATED, BAD_DATA_CRC, UNUSUAL = 0, 1, 2, 3, 4


@njit(cache=True, nogil=True)
def _crc(buf: np.ndarray, start: int, end: int) -> Any:
    t = _T
    crc = np.int64(0xFFFFFFFF)
    i = start
    while i + 8 <= end:
        lo = crc ^ (np.int64(buf[i]) | (np.int64(buf[i + 1]) << 8)
                    | (np.int64(buf[i + 2]) << 16) | (np.int64(buf[i + 3]) << 24))
        crc = (t[7, lo & 0xFF] ^ t[6, (lo >> 8) & 0xFF] ^ t[5, (lo >> 16) & 0xFF]
               ^ t[4, (lo >> 24) & 0xFF] ^ t[3, buf[i + 4]] ^ t[2, buf[i + 5]]
               ^ t[1, buf[i + 6]] ^ t[0, buf[i + 7]])
        i += 8
    while i < end:
        crc = t[0, (crc ^ np.int64(buf[i])) & 0xFF] ^ (crc >> 8)
        i += 1
    return crc ^ 0xFFFFFFFF


@njit(cache=True, nogil=True)
def _masked(crc: int) -> Any:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + MASK_DELTA) & 0xFFFFFFFF


@njit(cache=True, nogil=True)
def _u32(buf: np.ndarray, at: int) -> Any:
    return (np.int64(buf[at]) | (np.int64(buf[at + 1]) << 8) | (np.int64(buf[at + 2]) << 16)
            | (np.int64(buf[at + 3]) << 24))


@njit(cache=True, nogil=True)
def frames(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
    """``(starts, ends, status, at)`` of the records of a whole TFRecord file, both CRCs checked
    (``at``: the record a bad status is about)."""
    size = buf.shape[0]
    n, pos = 0, 0
    empty = np.zeros(0, np.int64)
    while pos + 12 <= size:
        if _masked(_crc(buf, pos, pos + 8)) != _u32(buf, pos + 8):
            return empty, empty, BAD_LENGTH_CRC, pos
        if buf[pos + 7] or buf[pos + 6]:             # past 2^48 bytes: not in this file
            return empty, empty, TRUNCATED, pos
        length = _u32(buf, pos) | (_u32(buf, pos + 4) << 32)
        if length > size - pos - 16:
            return empty, empty, TRUNCATED, pos
        pos += length + 16
        n += 1
    if pos != size:
        return empty, empty, TRUNCATED, pos
    starts, ends = np.empty(n, np.int64), np.empty(n, np.int64)
    pos = 0
    for r in range(n):
        length = _u32(buf, pos) | (_u32(buf, pos + 4) << 32)
        start, end = pos + 12, pos + 12 + length
        if _masked(_crc(buf, start, end)) != _u32(buf, end):
            return empty, empty, BAD_DATA_CRC, pos
        starts[r], ends[r] = start, end
        pos = end + 4
    return starts, ends, OK, 0


@njit(cache=True, nogil=True)
def data_crcs(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The masked CRC32C of each ``buf[starts[i]:ends[i]]``."""
    out = np.empty(len(starts), np.uint32)
    for r in range(len(starts)):
        out[r] = _masked(_crc(buf, starts[r], ends[r]))
    return out


# -- reading Examples ----------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _varint(buf: np.ndarray, pos: int, end: int) -> tuple[np.uint64, int]:
    """The varint at ``pos`` (uint64) and the position after it; -1 past ``end`` or 10 bytes."""
    result = np.uint64(0)
    shift = np.uint64(0)
    for i in range(10):
        if pos + i >= end:
            return np.uint64(0), -1
        b = buf[pos + i]
        result |= np.uint64(b & 0x7F) << shift
        if b < 0x80:
            return result, pos + i + 1
        shift += np.uint64(7)
    return np.uint64(0), -1


@njit(cache=True, nogil=True)
def _length(buf: np.ndarray, pos: int, end: int) -> tuple[Any, int]:
    """A length varint at ``pos`` that fits before ``end``: (length, after); after -1 if not."""
    if pos < end and buf[pos] < 0x80:                  # most are one byte
        length = np.int64(buf[pos])
        return (length, pos + 1) if length <= end - pos - 1 else (0, -1)
    value, after = _varint(buf, pos, end)
    if after < 0 or value > np.uint64(end - after):
        return 0, -1
    return np.int64(value), after


# what the status of locate means (the numpy decoder's words for the same layouts)
UNUSUAL_LAYOUTS = ("", "a field other than 0xa", "fields after Example.features",
                   "a length past the end of its message", "a Feature with no list",
                   "fields after MapEntry.value", "a feature twice in one record",
                   "a field other than 0x12", "fields after the Feature's list",
                   "more than one packed run", "a float list not of 4-byte values",
                   "a varint cut by the end of its list", "a byte string past the end of its list")


@njit(cache=True, nogil=True)
def locate(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, keys: np.ndarray,
           key_offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Where each wanted feature's list is in each record: ``(lo, hi, tags, status)``, ``lo``
    and ``hi`` (records x columns) the span of the list message (-1: absent), ``tags`` the
    Feature's field (0x0a bytes, 0x12 float, 0x1a int64); status an index of
    ``UNUSUAL_LAYOUTS`` (0: fine). Keys: the wanted names back to back."""
    n, m = len(starts), len(key_offsets) - 1
    lo = np.full((n, m), -1, np.int64)
    hi = np.full((n, m), -1, np.int64)
    tags = np.zeros((n, m), np.uint8)
    for r in range(n):
        s, e = starts[r], ends[r]
        if s == e:
            continue                                       # an Example with no features
        if buf[s] != 0x0A:
            return lo, hi, tags, 1
        length, p = _length(buf, s + 1, e)
        if p < 0:
            return lo, hi, tags, 3
        if p + length != e:
            return lo, hi, tags, 2
        step = 0
        while p < e:
            if buf[p] != 0x0A:                             # Features.feature: a map entry
                return lo, hi, tags, 1
            length, k = _length(buf, p + 1, e)
            if k < 0:
                return lo, hi, tags, 3
            entry_end = k + length
            if k >= entry_end or buf[k] != 0x0A:           # MapEntry.key
                return lo, hi, tags, 1
            key_len, key = _length(buf, k + 1, entry_end)
            if key < 0:
                return lo, hi, tags, 3
            v = key + key_len
            if v >= entry_end or buf[v] != 0x12:           # MapEntry.value: the Feature
                return lo, hi, tags, 7
            length, f = _length(buf, v + 1, entry_end)
            if f < 0:
                return lo, hi, tags, 3
            if length == 0:
                return lo, hi, tags, 4
            if f + length != entry_end:
                return lo, hi, tags, 5
            tag = buf[f]
            length, lst = _length(buf, f + 1, entry_end)
            if lst < 0:
                return lo, hi, tags, 3
            if lst + length != entry_end:
                return lo, hi, tags, 8
            c = step if step < m else step % m
            for _ in range(m):                             # the writer's order first
                a, b = key_offsets[c], key_offsets[c + 1]
                c = c + 1 if c + 1 < m else 0
                if b - a != key_len:
                    continue
                same = True
                for j in range(key_len):
                    if keys[a + j] != buf[key + j]:
                        same = False
                        break
                if same:
                    found = c - 1 if c else m - 1
                    if lo[r, found] >= 0:
                        return lo, hi, tags, 6
                    lo[r, found], hi[r, found], tags[r, found] = lst, entry_end, tag
                    break
            p = entry_end
            step += 1
    return lo, hi, tags, 0


@njit(cache=True, nogil=True)
def _packed(buf: np.ndarray, s: int, e: int) -> tuple[int, int, int]:
    """The packed run of an Int64List or FloatList at ``s:e`` (``0a len values``, the only
    field): ``(start, length, status)``; length 0 for an absent or empty list."""
    if s < 0 or s == e:
        return 0, 0, 0
    if buf[s] != 0x0A:
        return 0, 0, 1
    length, p = _length(buf, s + 1, e)
    if p < 0:
        return 0, 0, 3
    if p + length != e:
        return 0, 0, 9
    return p, length, 0


@njit(cache=True, nogil=True)
def first_ints(buf: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                          int]:
    """The first value of each packed Int64List at ``lo[i]:hi[i]`` (-1: absent, null; an empty
    list: null): ``(values, valid, status)``."""
    n = len(lo)
    values, valid = np.zeros(n, np.int64), np.zeros(n, np.bool_)
    for r in range(n):
        p, length, status = _packed(buf, lo[r], hi[r])
        if status:
            return values, valid, status
        if length == 0:
            continue
        value, after = _varint(buf, p, hi[r])
        if after < 0:
            return values, valid, 11
        values[r], valid[r] = np.int64(value), True
    return values, valid, 0


@njit(cache=True, nogil=True)
def first_floats(buf: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray,
                                                                            np.ndarray, int]:
    """The first value of each packed FloatList (as :func:`first_ints`): the 4 bytes of each
    (view them as ``<f4``), valid, status."""
    n = len(lo)
    raw, valid = np.zeros((n, 4), np.uint8), np.zeros(n, np.bool_)
    for r in range(n):
        p, length, status = _packed(buf, lo[r], hi[r])
        if status:
            return raw, valid, status
        if length == 0:
            continue
        if length % 4:
            return raw, valid, 10
        raw[r, 0], raw[r, 1], raw[r, 2], raw[r, 3] = buf[p], buf[p + 1], buf[p + 2], buf[p + 3]
        valid[r] = True
    return raw, valid, 0


@njit(cache=True, nogil=True)
def first_bytes(buf: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                           np.ndarray, int]:
    """The first value of each BytesList (as :func:`first_ints`): ``(offsets, data, valid,
    status)``, Arrow's layout of a binary array (``n + 1`` offsets)."""
    n = len(lo)
    offsets, valid = np.zeros(n + 1, np.int64), np.zeros(n, np.bool_)
    first = np.zeros(n, np.int64)
    for r in range(n):
        s, e = lo[r], hi[r]
        size = 0
        if s >= 0:
            p, count = s, 0
            while p < e:                                   # (0a len bytes)*, every one checked
                if buf[p] != 0x0A:
                    return offsets, np.zeros(0, np.uint8), valid, 1
                length, at = _length(buf, p + 1, e)
                if at < 0:
                    return offsets, np.zeros(0, np.uint8), valid, 12
                if count == 0:
                    first[r], size, valid[r] = at, length, True
                count += 1
                p = at + length
        offsets[r + 1] = offsets[r] + size
    data = np.empty(offsets[n], np.uint8)
    for r in range(n):
        a = offsets[r]
        data[a:offsets[r + 1]] = buf[first[r]:first[r] + offsets[r + 1] - a]
    return offsets, data, valid, 0


# -- writing Examples ----------------------------------------------------------------------------
@njit(cache=True, nogil=True)
def _vlen(value: np.uint64) -> int:
    n = 1
    while value >= np.uint64(0x80):
        value >>= np.uint64(7)
        n += 1
    return n


@njit(cache=True, nogil=True)
def _put(out: np.ndarray, at: int, value: np.uint64) -> int:
    while value >= np.uint64(0x80):
        out[at] = np.uint8((value & np.uint64(0x7F)) | np.uint64(0x80))
        value >>= np.uint64(7)
        at += 1
    out[at] = np.uint8(value)
    return at + 1


@njit(cache=True, nogil=True)
def _feature(kind: int, c: int, r: int, ints: np.ndarray, offsets: np.ndarray
             ) -> tuple[int, int]:
    """(the list message's length, the Feature's length) of column ``c`` in row ``r``."""
    if kind == 0:
        lst = 2 + _vlen(ints[c, r])                 # 0a len varint
    elif kind == 1:
        lst = 6                                      # 0a 04 float
    else:
        size = offsets[c, r + 1] - offsets[c, r]
        lst = 1 + _vlen(np.uint64(size)) + size      # 0a len bytes
    return lst, 1 + _vlen(np.uint64(lst)) + lst


@njit(cache=True, nogil=True)
def encode(kinds: np.ndarray, index: np.ndarray, keys: np.ndarray, key_offsets: np.ndarray,
           ints: np.ndarray, floats: np.ndarray, offsets: np.ndarray, data: np.ndarray,
           valid: np.ndarray) -> np.ndarray:
    """The framed TFRecords (length, its masked CRC32C, Example, its masked CRC32C) of ``n``
    rows of scalar columns, back to back. Column ``i`` (in the Example's order) is of ``kinds[i]``
    (0 int64, 1 float32, 2 bytes) and row ``index[i]`` of its kind's matrix: ``ints`` (uint64,
    columns x n), ``floats`` (uint32 bits, columns x n) or ``offsets`` (columns x n + 1, into
    ``data``); ``valid`` (columns x n, in the Example's order): False leaves the feature out."""
    m, n = len(kinds), valid.shape[1]
    # per column, the bytes every entry of it starts with after its length: 0a len key 12
    heads = np.zeros(m + 1, np.int64)
    for i in range(m):
        k = key_offsets[i + 1] - key_offsets[i]
        heads[i + 1] = heads[i] + 2 + _vlen(np.uint64(k)) + k
    head = np.empty(heads[m], np.uint8)
    for i in range(m):
        k = key_offsets[i + 1] - key_offsets[i]
        at = _put(head, heads[i] + 1, np.uint64(k))
        head[heads[i]] = 0x0A
        for j in range(k):
            head[at + j] = keys[key_offsets[i] + j]
        head[at + k] = 0x12
    lists = np.zeros((m, n), np.int64)          # each list message's length; 0: left out
    bodies = np.zeros(n, np.int64)
    total = 0
    for i in range(m):
        kind, c, h = kinds[i], index[i], heads[i + 1] - heads[i]
        for r in range(n):
            if not valid[i, r]:
                continue
            lst, feature = _feature(kind, c, r, ints, offsets)
            lists[i, r] = lst
            entry = h + _vlen(np.uint64(feature)) + feature
            bodies[r] += 1 + _vlen(np.uint64(entry)) + entry
    for r in range(n):
        total += 16 + 1 + _vlen(np.uint64(bodies[r])) + bodies[r]
    out = np.empty(total, np.uint8)
    at = 0
    for r in range(n):
        body = bodies[r]
        size = 1 + _vlen(np.uint64(body)) + body
        for b in range(8):
            out[at + b] = (size >> (8 * b)) & 0xFF
        crc = _masked(_crc(out, at, at + 8))
        for b in range(4):
            out[at + 8 + b] = (crc >> (8 * b)) & 0xFF
        start = at + 12
        out[start] = 0x0A                                       # Example.features
        at = _put(out, start + 1, np.uint64(body))
        for i in range(m):
            lst = lists[i, r]
            if lst == 0:
                continue
            kind, c = kinds[i], index[i]
            h0, h1 = heads[i], heads[i + 1]
            feature = 1 + _vlen(np.uint64(lst)) + lst
            entry = h1 - h0 + _vlen(np.uint64(feature)) + feature
            out[at] = 0x0A                                      # Features.feature: an entry
            at = _put(out, at + 1, np.uint64(entry))
            for j in range(h1 - h0):                            # key, MapEntry.value's tag
                out[at + j] = head[h0 + j]
            at = _put(out, at + h1 - h0, np.uint64(feature))
            out[at] = 0x1A if kind == 0 else (0x12 if kind == 1 else 0x0A)
            at = _put(out, at + 1, np.uint64(lst))
            out[at] = 0x0A                                      # packed values / one value
            if kind == 0:
                value = ints[c, r]
                out[at + 1] = lst - 2
                at = _put(out, at + 2, value)
            elif kind == 1:
                bits = floats[c, r]
                out[at + 1] = 4
                out[at + 2] = bits & np.uint32(0xFF)
                out[at + 3] = (bits >> np.uint32(8)) & np.uint32(0xFF)
                out[at + 4] = (bits >> np.uint32(16)) & np.uint32(0xFF)
                out[at + 5] = bits >> np.uint32(24)
                at += 6
            else:
                a, z = offsets[c, r], offsets[c, r + 1]
                at = _put(out, at + 1, np.uint64(z - a))
                for j in range(z - a):
                    out[at + j] = data[a + j]
                at += z - a
        crc = _masked(_crc(out, start, at))
        for b in range(4):
            out[at + b] = (crc >> (8 * b)) & 0xFF
        at += 4
    return out
