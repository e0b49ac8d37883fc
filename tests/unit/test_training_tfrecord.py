"""TFRecord training datasets, checked with a reader of this module's own: TensorFlow's record
framing (both masked CRC32C of every record, with a table-driven CRC32C written here) and a
generic protobuf wire-format decoding of each tf.train.Example, compared with the source rows."""

from __future__ import annotations

import math
import struct
from datetime import date, datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from featurestore_spark import InvalidInputError, featurestore
from featurestore_spark.training import tensorflow_feature_spec
from featurestore_spark.training.tfrecord import encoder

from .helpers import rows

# -- an independent TFRecord reader ----------------------------------------------------------------
_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1     # Castagnoli, reflected
    _TABLE.append(_c)


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_records(path: Path) -> list[bytes]:
    """Every record of a TFRecord file, checking both CRCs as TensorFlow's reader does."""
    data, pos, records = path.read_bytes(), 0, []
    while pos < len(data):
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        if masked(header) != length_crc:
            raise ValueError(f"{path}: bad length CRC at {pos}")
        body = data[pos + 12:pos + 12 + length]
        (body_crc,) = struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])
        if len(body) != length or masked(body) != body_crc:
            raise ValueError(f"{path}: bad data CRC at {pos}")
        records.append(body)
        pos += 16 + length
    return records


def read_folder(folder: Path) -> list[bytes]:
    return [r for f in sorted(folder.rglob("part-*")) for r in read_records(f)]


def read_varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        value |= (buf[i] & 0x7F) << shift
        shift += 7
        i += 1
        if not buf[i - 1] & 0x80:
            return value, i


def wire(buf: bytes) -> list[tuple[int, int, object]]:
    """(field, wire type, value) of a protobuf message."""
    out, i = [], 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        if key & 7 == 0:
            v, i = read_varint(buf, i)
        elif key & 7 == 2:
            n, i = read_varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif key & 7 == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"wire type {key & 7}")
        out.append((key >> 3, key & 7, v))
    return out


def packed_varints(buf: bytes) -> list[int]:
    """Packed int64 values (two's complement)."""
    values, i = [], 0
    while i < len(buf):
        v, i = read_varint(buf, i)
        values.append(v - (1 << 64) if v >= 1 << 63 else v)
    return values


def example(record: bytes) -> dict[str, tuple[str, list]]:
    """tf.train.Example -> {feature: (kind, values)}, kind one of bytes, float, int64."""
    (features_field,) = wire(record)
    assert features_field[:2] == (1, 2)
    out = {}
    for field, _, entry in wire(features_field[2]):
        assert field == 1
        parts = dict((f, v) for f, _, v in wire(entry))
        (kind, _, lst), = wire(parts[2])
        values = [v for _, _, v in wire(lst)]
        if kind == 1:
            out[parts[1].decode()] = ("bytes", values)
        elif kind == 2:
            out[parts[1].decode()] = ("float", [x for v in values
                                                for x in struct.unpack(f"<{len(v) // 4}f", v)])
        else:
            out[parts[1].decode()] = ("int64", [x for v in values for x in packed_varints(v)])
    return out


def f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


# -- tests ------------------------------------------------------------------------------------------
def test_the_reader_of_this_module_is_right():
    assert crc32c(b"123456789") == 0xE3069283          # the CRC-32C check value
    assert masked(b"") == 0xA282EAD8


def test_examples_decode_independently():
    enc = encoder([("i", "int64", False), ("f", "float32", False), ("s", "string", False),
                   ("li", "int64", True), ("lf", "float32", True), ("lb", "string", True),
                   ("k" * 300, "int64", False)])
    record = enc([-(1 << 63), float("inf"), "x" * 200, [0, 1, 300, (1 << 63) - 1, -1],
                  [0.1, -2.5], [b"\x00", "é", b""], 7])
    assert example(record) == {
        "i": ("int64", [-(1 << 63)]), "f": ("float", [math.inf]), "s": ("bytes", [b"x" * 200]),
        "li": ("int64", [0, 1, 300, (1 << 63) - 1, -1]), "lf": ("float", [f32(0.1), -2.5]),
        "lb": ("bytes", [b"\x00", "é".encode(), b""]), "k" * 300: ("int64", [7])}
    assert example(enc([None] * 6 + [0])) == {"k" * 300: ("int64", [0])}    # nulls left out


def test_batches_encode_as_rows_do():
    """The executors' vectorized encoding of Arrow batches gives the bytes of the row encoder."""
    import random

    import pyarrow as pa

    from featurestore_spark.training.tfexample import encode_batch
    from featurestore_spark.training.tfrecord import _Column
    specs = [("i", "int64", False), ("f", "float32", False), ("s", "string", False),
             ("b", "string", False), ("l", "int64", True), ("k" * 130, "int64", False)]
    types = [pa.int64(), pa.float32(), pa.string(), pa.binary(), pa.list_(pa.int64()), pa.int64()]
    rng = random.Random(1)

    def number():
        return rng.choice([0, 1, 127, 128, -1, (1 << 63) - 1, -(1 << 63), None,
                           rng.randint(-10 ** 12, 10 ** 12)])
    rows = [(number(), rng.choice([None, 0.5, float("inf"), rng.random()]),
             rng.choice([None, "", "é", "x" * rng.randint(0, 300)]),
             rng.choice([None, b"", bytes(range(256)) * rng.randint(0, 70)]),
             rng.choice([None, [], [1, -2, 1 << 40]]), number()) for _ in range(300)]
    batch = pa.RecordBatch.from_arrays([pa.array(c, t) for c, t in zip(zip(*rows), types)],
                                       [name for name, *_ in specs])
    columns = [_Column(*spec) for spec in specs]
    encode = encoder(specs)
    assert encode_batch(batch, columns).to_pylist() == [encode(r) for r in rows]
    assert encode_batch(batch.slice(100, 50), columns).to_pylist() == [encode(r) for r in rows[100:150]]
    assert encode_batch(batch.slice(0, 0), columns).to_pylist() == []
    assert example(encode(rows[0]))  # and they decode


ROWS = [
    (1, True, 0.5, 1.25, "ajax", datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=timezone.utc),
     date(2024, 5, 1), [1, -2, 300], [0.25, 1e10], ["a", "é"], b"\x00\xff"),
    (-7, False, -3.1, None, "", datetime(1969, 12, 31, 23, 59, 59, tzinfo=timezone.utc),
     date(1969, 12, 31), [], [], [], b""),
    (1 << 40, None, None, 2.0, None, None, None, None, None, None, None),
]
SCHEMA = ("id bigint, ok boolean, x double, y float, name string, ts timestamp, d date, "
          "ids array<int>, ws array<double>, tags array<string>, raw binary")


def expected_example(row) -> dict:
    i, ok, x, y, name, ts, d, ids, ws, tags, raw = row
    values = {"id": ("int64", [i]), "ok": ("int64", [int(ok)] if ok is not None else None),
              "x": ("float", [f32(x)] if x is not None else None),
              "y": ("float", [y] if y is not None else None),
              "name": ("bytes", [name.encode()] if name is not None else None),
              "ts": ("int64", [round((ts - datetime(1970, 1, 1, tzinfo=timezone.utc))
                                     .total_seconds() * 1e6)] if ts else None),
              "d": ("int64", [(d - date(1970, 1, 1)).days] if d else None),
              "ids": ("int64", ids), "ws": ("float", [f32(w) for w in ws] if ws is not None else None),
              "tags": ("bytes", [t.encode() for t in tags] if tags is not None else None),
              "raw": ("bytes", [raw] if raw is not None else None)}
    return {k: v for k, v in values.items() if v[1] is not None}


def test_tfrecord_files_hold_the_rows_as_tf_examples(store):
    df = store.spark.createDataFrame(ROWS, SCHEMA).repartition(2)
    td = featurestore.create_training_dataset(df, "matches", description="d")
    assert td.data_format == "tfrecords"
    records = read_folder(Path(td.location))
    assert sorted(map(str, map(example, records))) == sorted(str(expected_example(r)) for r in ROWS)
    # the feature spec to parse them with
    schema = featurestore.get_training_dataset_tf_record_schema("matches")
    assert schema["id"] == {"kind": "FixedLenFeature", "dtype": "int64", "shape": []}
    assert schema["x"] == {"kind": "FixedLenFeature", "dtype": "float32", "shape": []}
    assert schema["name"]["dtype"] == schema["raw"]["dtype"] == "string"
    assert schema["tags"] == {"kind": "VarLenFeature", "dtype": "string"}
    assert list(schema) == [c.split()[0] for c in SCHEMA.split(", ")]
    # and they read back as the source rows, with the source's types (floats as float32)
    back = featurestore.get_training_dataset("matches")
    assert back.schema == df.schema
    got = sorted(back.collect(), key=lambda r: r.id)
    want = sorted(ROWS, key=lambda r: r[0])
    for g, w in zip(got, want):
        assert (g.id, g.ok, g.name, g.ts, g.d, g.ids, g.tags, g.raw) == (
            w[0], w[1], w[4], w[5] and w[5].astimezone().replace(tzinfo=None), w[6], w[7],
            w[9], w[10] and bytearray(w[10]))
        assert g.x == (f32(w[2]) if w[2] is not None else None) and g.y == w[3]
        assert g.ws == (None if w[8] is None else [f32(v) for v in w[8]])


def test_the_public_rdd_path_writes_and_reads_the_same(store, monkeypatch):
    """Writes and reads go through Spark's JVM converters, or PySpark's RDD API without them."""
    from featurestore_spark.training import tfrecord
    df = store.spark.createDataFrame(ROWS, SCHEMA)
    fast = featurestore.create_training_dataset(df, "fast")
    assert tfrecord._record_frame(store.spark, [fast.location]).count() == len(ROWS)
    assert tfrecord._writable_pairs(store.spark.createDataFrame(
        [(b"x", None)], "record binary, nothing binary")).count() == 1
    fast_rows = rows(featurestore.get_training_dataset("fast"))

    def moved(*args):
        raise RuntimeError("no such class")      # as if Spark's internals had moved
    monkeypatch.setattr(tfrecord, "_writable_pairs", moved)
    monkeypatch.setattr(tfrecord, "_record_frame", moved)
    slow = featurestore.create_training_dataset(df, "slow")
    assert sorted(read_folder(Path(slow.location))) == sorted(read_folder(Path(fast.location)))
    assert rows(featurestore.get_training_dataset("slow")) == fast_rows


def test_a_corrupt_record_is_detected_by_both_readers(store):
    df = store.spark.createDataFrame([(i, f"name {i}") for i in range(20)], "id int, s string")
    td = featurestore.create_training_dataset(df.coalesce(1), "small")
    (part,) = [p for p in Path(td.location).glob("part-*") if p.stat().st_size]
    assert len(read_records(part)) == 20
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0x01
    part.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="CRC"):
        read_records(part)
    # without the local file system's own checksum beside it, the record's CRCs catch it
    (part.parent / f".{part.name}.crc").unlink()
    with pytest.raises(Exception, match="crc32 checking failed"):
        featurestore.get_training_dataset("small").collect()


def test_types_tfrecords_cannot_hold_are_refused_up_front(store):
    df = store.spark.sql("SELECT 1 AS id, map('a', 1) AS m, named_struct('x', 1) AS s, "
                         "array(array(1)) AS nested")
    with pytest.raises(InvalidInputError) as e:
        featurestore.create_training_dataset(df, "bad")
    assert [p.split(" of type")[0] for p in e.value.problems] == [
        "tfrecords cannot hold column 'm'", "tfrecords cannot hold column 's'",
        "tfrecords cannot hold column 'nested'"]
    assert not Path(store.training.location(store.settings.project, "bad", 1)).exists()


def test_schema_as_a_tensorflow_feature_spec():
    tf = SimpleNamespace(int64="tf.int64", float32="tf.float32", string="tf.string",
                         io=SimpleNamespace(FixedLenFeature=lambda shape, dtype: ("fixed", shape, dtype),
                                            VarLenFeature=lambda dtype: ("var", dtype)))
    spec = tensorflow_feature_spec({"a": {"kind": "FixedLenFeature", "dtype": "int64", "shape": []},
                                    "b": {"kind": "VarLenFeature", "dtype": "string"}}, tf)
    assert spec == {"a": ("fixed", [], "tf.int64"), "b": ("var", "tf.string")}


def test_tf_record_schema_of_another_format_is_an_error(store):
    featurestore.create_training_dataset(store.spark.range(3), "pq", data_format="parquet")
    with pytest.raises(InvalidInputError, match="stored as parquet"):
        featurestore.get_training_dataset_tf_record_schema("pq")
