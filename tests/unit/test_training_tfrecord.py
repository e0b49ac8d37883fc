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
from featurestore_spark.training.tfexample import encoder

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


def test_batches_encode_as_rows_do(monkeypatch):
    """The executors' vectorized encoding of Arrow batches gives the bytes of the row encoder."""
    import random

    import pyarrow as pa

    from featurestore_spark.training.tfexample import Column, encode_batch
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
    columns = [Column(*spec) for spec in specs]
    encode = encoder(specs)
    assert encode_batch(batch, columns).to_pylist() == [encode(r) for r in rows]
    from featurestore_spark.training import tfexample
    for wide in (0, 10 ** 9):         # long values copied run by run, or every piece as a matrix
        monkeypatch.setattr(tfexample, "WIDE", wide)
        assert encode_batch(batch, columns).to_pylist() == [encode(r) for r in rows]
    assert encode_batch(batch.slice(100, 50), columns).to_pylist() == [encode(r) for r in rows[100:150]]
    assert encode_batch(batch.slice(0, 0), columns).to_pylist() == []
    assert example(encode(rows[0]))  # and they decode



def test_the_compiled_loops_give_what_numpy_gives(monkeypatch):
    """numba's loops (tfkernels) encode, frame, check and decode as the numpy path does: the
    same file bytes for scalar columns, the same records, the same decoded arrays (arrays,
    absent and null features, empty names, negative and 10-byte varints, long strings)."""
    import random

    import pyarrow as pa

    from featurestore_spark.training import tfexample_decode as dec
    from featurestore_spark.training import tfkernels
    from featurestore_spark.training.tfexample import Column, encode_scalars, example_pieces
    from featurestore_spark.training.tfrecord_files import framed, records
    assert tfkernels.enabled(), "numba is a dependency: the compiled loops must run here"
    rng = random.Random(2)
    specs = [("i", "int64", False), ("", "float32", False), ("s", "string", False),
             ("b", "string", False), ("k" * 130, "int64", False)]
    types = [pa.int64(), pa.float32(), pa.string(), pa.binary(), pa.int64()]

    def number():
        return rng.choice([0, 1, 127, 128, -1, (1 << 63) - 1, -(1 << 63), None,
                           rng.randint(-10 ** 12, 10 ** 12)])
    rows = [(number(), rng.choice([None, 0.5, float("-inf"), rng.random()]),
             rng.choice([None, "", "é", "x" * rng.randint(0, 300)]),
             rng.choice([None, b"", bytes(range(256)) * rng.randint(0, 3)]), number())
            for _ in range(500)]
    batch = pa.RecordBatch.from_arrays([pa.array(c, t) for c, t in zip(zip(*rows), types)],
                                       [name for name, *_ in specs])
    columns = [Column(*spec) for spec in specs]
    for part in (batch, batch.slice(123, 77), batch.slice(0, 0)):
        assert encode_scalars(part, columns).tobytes() == \
            framed(*example_pieces(part, columns)).tobytes()
    data = encode_scalars(batch, columns).tobytes()
    compiled = records(data, "f")
    monkeypatch.setattr(tfkernels, "HAVE_NUMBA", False)
    plain = records(data, "f")
    monkeypatch.undo()
    assert all((a == b).all() for a, b in zip(compiled, plain)) and len(compiled[0]) == 500
    wanted = [("k" * 130, "int64", False, False), ("s", "string", False, True),
              ("", "float32", False, False), ("b", "string", False, False),
              ("gone", "int64", False, False), ("i", "int64", False, False)]
    buf = dec.padded(data)
    fast, slow = dec._compiled(buf, *compiled, wanted), dec._decode(buf, *compiled, wanted)
    assert [a.to_pylist() for a in fast] == [a.to_pylist() for a in slow]
    assert fast[5].to_pylist() == [r[0] for r in rows] and fast[4].null_count == 500
    # array columns: found by the compiled pass, read by numpy's
    lists = pa.RecordBatch.from_pydict({"l": pa.array([[1, -2], None, [], [1 << 40]] * 5),
                                        "t": pa.array([["a", "é"], [], None, [""]] * 5)})
    list_columns = [Column("l", "int64", True), Column("t", "string", True)]
    out = framed(*example_pieces(lists, list_columns))
    starts, ends = records(out.tobytes(), "g")
    want = [("t", "string", True, True), ("l", "int64", True, False)]
    fast = dec._compiled(dec.padded(out.tobytes()), starts, ends, want)
    assert [a.to_pylist() for a in fast] == [lists.column(1).to_pylist(),
                                             lists.column(0).to_pylist()]


def test_executors_run_the_compiled_loops(store):
    """The fast path is on where the work is done: in the executors' Python."""
    import pyarrow as pa

    def probe(batches):
        from featurestore_spark.training import tfkernels
        for _ in batches:
            pass
        yield pa.RecordBatch.from_pydict({"on": [tfkernels.enabled()]})
    assert [r.on for r in store.spark.range(2, numPartitions=2).mapInArrow(
        probe, "on boolean").collect()] == [True, True]


def test_without_numba_tfrecords_warn_once_and_stay_right():
    """Where numba is missing the numpy path runs, with one warning, and gives the same bytes."""
    import subprocess
    import sys
    code = """
import logging, sys
sys.modules["numba"] = None                  # as if it were not installed
logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
import pyarrow as pa
from featurestore_spark.training import tfkernels
from featurestore_spark.training.tfexample import Column
from featurestore_spark.training.tfrecord_files import encoded, records
batch = pa.RecordBatch.from_pydict({"a": [1, None, -5], "s": ["x", "yz", None]})
columns = [Column("a", "int64", False), Column("s", "string", False)]
one, two = encoded(batch, columns), encoded(batch, columns)
print(tfkernels.HAVE_NUMBA, len(records(one.tobytes(), "f")[0]), one.tobytes().hex())
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    have, count, hexed = done.stdout.split()
    assert (have, count) == ("False", "3")
    assert done.stderr.count("numba is not installed") == 1, done.stderr
    import pyarrow as pa

    from featurestore_spark.training.tfexample import Column, encode_scalars
    batch = pa.RecordBatch.from_pydict({"a": [1, None, -5], "s": ["x", "yz", None]})
    assert encode_scalars(batch, [Column("a", "int64", False), Column("s", "string", False)]
                          ).tobytes().hex() == hexed



def test_without_a_cache_folder_the_loops_compile_in_each_process():
    """Where numba has no writable folder for compiled code, the loops still run (compiled per
    process), with one warning saying how to give them a cache."""
    import os
    import subprocess
    import sys
    code = """
import logging
logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
import pyarrow as pa
from featurestore_spark.training.tfexample import Column
from featurestore_spark.training.tfrecord_files import encoded, records
batch = pa.RecordBatch.from_pydict({"a": [1, None, -5]})
print(len(records(encoded(batch, [Column("a", "int64", False)]).tobytes(), "f")[0]))
"""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    # the only locator numba may use needs NUMBA_CACHE_DIR: none is found
    env["NUMBA_CACHE_LOCATOR_CLASSES"] = "UserProvidedCacheLocator"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3"]
    assert done.stderr.count("numba cannot cache the compiled TFRecord loops") == 1, done.stderr
    assert "no locator available" in done.stderr


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


def test_a_path_pyarrow_cannot_reach_is_written_through_the_rdd_api(store, monkeypatch, caplog):
    """Without the JVM writer, the Python data source writes through pyarrow.fs; a path it
    cannot reach goes through PySpark's public RDD API and the TFRecord Hadoop OutputFormat:
    the same records, with a warning."""
    from featurestore_spark.training import tfrecord, tfrecord_files
    df = store.spark.createDataFrame(ROWS, SCHEMA)
    fast = featurestore.create_training_dataset(df, "fast")
    assert (Path(fast.location) / "_SUCCESS").exists()
    assert all(p.name.endswith(".tfrecord") for p in Path(fast.location).glob("part-*"))
    fast_rows = rows(featurestore.get_training_dataset("fast"))

    def unreachable(path, options):
        raise ValueError("pyarrow cannot reach it")
    monkeypatch.setattr(tfrecord, "JVM_FORMAT", "featurestore-tfrecord-not-there")
    monkeypatch.setattr(tfrecord_files, "filesystem", unreachable)
    slow = featurestore.create_training_dataset(df, "slow")
    assert "through PySpark's RDD API, far slower" in caplog.text
    assert sorted(read_folder(Path(slow.location))) == sorted(read_folder(Path(fast.location)))
    assert rows(featurestore.get_training_dataset("slow")) == fast_rows


SIMPLE, ANONYMOUS = ("org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
                     "org.apache.hadoop.fs.s3a.AnonymousAWSCredentialsProvider")
KEYS = {"fs.s3a.access.key": "a", "fs.s3a.secret.key": "s"}


@pytest.mark.parametrize("settings, expected", [
    ({}, {}),                                  # s3a's default providers, no keys: the SDK's chain
    (KEYS, {"access_key": "a", "secret_key": "s"}),
    ({**KEYS, "fs.s3a.session.token": "t"},    # the temporary keys' provider comes first
     {"access_key": "a", "secret_key": "s", "session_token": "t"}),
    ({**KEYS, "fs.s3a.aws.credentials.provider": ANONYMOUS}, {"anonymous": True}),
    ({**KEYS, "fs.s3a.aws.credentials.provider": SIMPLE,   # a bucket's own provider first
      "fs.s3a.bucket.b.aws.credentials.provider": ANONYMOUS}, {"anonymous": True}),
    ({"fs.s3a.aws.credentials.provider": f" {SIMPLE},\n  software.amazon.awssdk.auth."
      "credentials.ContainerCredentialsProvider "}, {}),    # no keys: the next one, the chain's
    ({**KEYS, "fs.s3a.aws.credentials.provider": "com.example.VaultCredentials"}, ValueError),
    ({"fs.s3a.aws.credentials.provider":
      "org.apache.hadoop.fs.s3a.auth.AssumedRoleCredentialProvider"}, ValueError),
    # keys that may be in a credential store (Hadoop reads them first; pyarrow cannot)
    ({**KEYS, "hadoop.security.credential.provider.path": "jceks://file/k.jceks"}, "store"),
    ({"fs.s3a.bucket.b.security.credential.provider.path": "jceks://file/k.jceks"}, "store"),
    ({"fs.s3a.security.credential.provider.path": "jceks://file/k.jceks",   # no keys needed
      "fs.s3a.aws.credentials.provider": ANONYMOUS}, {"anonymous": True}),
])
def test_s3a_credential_providers_as_pyarrow_takes_them(settings, expected):
    """pyarrow's S3 client gets the credentials s3a would pick, or a ValueError for a provider
    it cannot stand in for: the write then goes through Hadoop, with a warning."""
    from featurestore_spark.training.tfrecord_files import s3_credentials
    if expected is ValueError:
        with pytest.raises(ValueError, match="cannot use the s3a credentials provider"):
            s3_credentials(settings, "b")
    elif expected == "store":
        with pytest.raises(ValueError, match="cannot read the keys of .* credential store jceks"):
            s3_credentials(settings, "b")
    else:
        assert s3_credentials(settings, "b") == expected


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
    with pytest.raises(Exception, match="fails its (length|data)'s CRC32C check"):
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


# -- other readers and writers: TensorFlow's golden bytes, the tfrecord package ----------------------
GOLDEN = Path(__file__).resolve().parents[1] / "data" / "tfrecords"
GOLDEN_SCHEMA = ("id bigint, score float, name binary, tags array<binary>, xs array<bigint>, "
                 "ws array<float>")


def golden_rows() -> list[tuple]:
    import json
    data = json.loads((GOLDEN / "golden.json").read_text())
    kinds = [kind for _, kind, _ in data["columns"]]
    return [tuple(bytes.fromhex(v) if kind == "string" and isinstance(v, str) else
                  [bytes.fromhex(x) for x in v] if kind == "string" and v is not None else
                  (f32(v) if kind == "float32" and v is not None and not isinstance(v, list)
                   else v)
                  for v, kind in zip(row, kinds)) for row in data["rows"]]


def test_our_files_hold_the_bytes_tensorflow_writes(store):
    """golden.tfrecord was written by TensorFlow's TFRecordWriter (make_golden.py): the same
    rows written by the executors give records of the same map entries, byte for byte (TensorFlow
    orders a map's entries by its hash, we by the columns), framed with the same CRCs."""
    df = store.spark.createDataFrame(golden_rows(), GOLDEN_SCHEMA).coalesce(1)
    td = featurestore.create_training_dataset(df, "golden")
    (part,) = Path(td.location).glob("part-*")

    def entries(record: bytes) -> list[bytes]:
        (features,) = wire(record)
        return sorted(e for _, _, e in wire(features[2]))
    ours, theirs = read_records(part), read_records(GOLDEN / "golden.tfrecord")
    assert len(ours) == len(theirs) == len(golden_rows())
    assert [entries(r) for r in ours] == [entries(r) for r in theirs]
    assert sorted(map(len, ours)) == sorted(map(len, theirs))


def test_tensorflows_file_reads_back(store, tmp_path):
    from featurestore_spark.metadata import Feature
    from featurestore_spark.training import tfrecord
    folder = tmp_path / "from_tensorflow"
    folder.mkdir()
    (folder / "golden.tfrecord").write_bytes((GOLDEN / "golden.tfrecord").read_bytes())
    features = [Feature(*c.split()) for c in GOLDEN_SCHEMA.split(", ")]
    got = tfrecord.read(store.spark, [str(folder)], features).collect()
    assert [tuple(bytes(v) if isinstance(v, bytearray) else
                  [bytes(x) for x in v] if isinstance(v, list) and v and isinstance(v[0], bytearray)
                  else v for v in r) for r in got] == golden_rows()


def test_the_tfrecord_package_reads_our_files(store):
    """An independent reader: the tfrecord package's framing and protobuf's own parser."""
    from tfrecord.example_pb2 import Example
    from tfrecord.reader import tfrecord_iterator
    df = store.spark.createDataFrame(ROWS, SCHEMA).repartition(2)
    td = featurestore.create_training_dataset(df, "parsed")
    parsed = []
    for part in sorted(Path(td.location).glob("part-*")):
        for record in tfrecord_iterator(str(part)):
            features = Example.FromString(bytes(record)).features.feature
            parsed.append({k: ({"int64_list": "int64", "float_list": "float",
                                "bytes_list": "bytes"}[f.WhichOneof("kind")],
                               list(getattr(f, f.WhichOneof("kind")).value))
                           for k, f in sorted(features.items())})
    assert sorted(map(str, parsed)) == sorted(str(dict(sorted(expected_example(r).items())))
                                              for r in ROWS)


def test_a_layout_the_fast_decoder_does_not_read_is_decoded_record_by_record(store, tmp_path,
                                                                             caplog):
    """Features in another order are read fast; an unpacked int64 list (valid protobuf, which
    TensorFlow does not write) sends the batch to the reference decoder, with one warning."""
    import numpy as np

    from featurestore_spark.training import tfexample_decode as dec
    from featurestore_spark.training.tfexample import encoder, varint
    from featurestore_spark.training.tfrecord_files import frame

    def entry(name: str, feature: bytes) -> bytes:
        key = b"\x0a" + varint(len(name)) + name.encode()
        return b"\x0a" + varint(len(key) + 2 + len(feature)) + key + b"\x12" + \
            varint(len(feature)) + feature

    unpacked = b"\x1a" + varint(4) + b"\x08\x05\x08\x7f"     # Int64List, values 5 and 127 unpacked
    body = entry("b", b"\x0a\x05\x0a\x03xyz") + entry("a", unpacked)
    records = [encoder([("b", "string", False), ("a", "int64", True)])(["uvw", [1, 2]]),
               b"\x0a" + varint(len(body)) + body]
    specs = [("a", "int64", True, False), ("b", "string", False, True)]
    buf = dec.padded(b"".join(records))
    ends = np.cumsum([len(r) for r in records])
    fast = dec.decode(buf, ends[:1] - len(records[0]), ends[:1], specs)
    assert [a.to_pylist() for a in fast] == [[[1, 2]], ["uvw"]] and "record by record" not in caplog.text
    monkey = dec._warned
    dec._warned = False
    try:
        slow = dec.decode(buf, ends - [len(r) for r in records], ends, specs, "f")
    finally:
        dec._warned = monkey or dec._warned
    assert [a.to_pylist() for a in slow] == [[[1, 2], [5, 127]], ["uvw", "xyz"]]
    assert "decoded record by record (slower)" in caplog.text
    # and read by Spark from a file
    out, offsets = np.frombuffer(b"".join(records), np.uint8), np.concatenate([[0], ends])
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "part-0.tfrecord").write_bytes(frame(out, offsets).tobytes())
    from featurestore_spark.metadata import Feature
    from featurestore_spark.training import tfrecord
    back = tfrecord.read(store.spark, [str(tmp_path / "odd")],
                         [Feature("a", "array<bigint>"), Feature("b", "string")])
    assert sorted(map(tuple, back.collect())) == [([1, 2], "uvw"), ([5, 127], "xyz")]


def test_the_commit_keeps_the_files_of_the_attempts_that_succeeded(store, tmp_path):
    """Tasks write under the folder's _temporary/<job>: the commit moves the files of the
    attempts that succeeded into the folder and drops the others' (a task retried or run twice
    by speculation); an attempt starting a file after the commit or the abort finds the staging
    folder gone and writes nothing (an aborted folder is not made again, so a retry can write
    it); an abort deletes the job's files and the folder it made, nothing else."""
    import pyarrow as pa

    from featurestore_spark.metadata import Feature
    from featurestore_spark.training import tfrecord
    from featurestore_spark.training.tfrecord_files import Job, write_partition
    folder, specs = tmp_path / "td", [("id", "int64", False)]
    writer = Job(str(folder), {}, specs)

    def attempt(job: Job, ids: list[int]) -> list[str]:
        return write_partition(job.path, {}, specs, job.job,
                               iter([pa.RecordBatch.from_pydict({"id": ids})]))
    kept, other = attempt(writer, [1, 2]), attempt(writer, [1, 2])
    assert kept[0].startswith(f"{folder}/_temporary/{writer.job}/") and kept != other
    writer.commit(kept)
    assert sorted(p.name for p in folder.iterdir()) == ["_SUCCESS", kept[0].rsplit("/", 1)[-1]]
    with pytest.raises(FileNotFoundError, match="committed or aborted"):
        attempt(writer, [1, 2])
    assert not (folder / "_temporary").exists()
    back = tfrecord.read(store.spark, [str(folder)], [Feature("id", "bigint")])
    assert sorted(r[0] for r in back.collect()) == [1, 2]

    with pytest.raises(FileExistsError, match="PATH_ALREADY_EXISTS"):
        Job(str(folder), {}, [])
    other_folder = tmp_path / "other"
    writer = Job(str(other_folder), {}, specs)
    attempt(writer, [3])
    writer.abort()
    assert not other_folder.exists()
    with pytest.raises(FileNotFoundError, match="committed or aborted"):
        attempt(writer, [4])
    assert not other_folder.exists()
    writer = Job(str(other_folder), {}, specs)         # a commit failing after a move
    staged = attempt(writer, [3])
    with pytest.raises(OSError):
        writer.commit(staged + [f"{other_folder}/_temporary/{writer.job}/part-gone.tfrecord"])
    assert (other_folder / staged[0].rsplit("/", 1)[-1]).exists()
    writer.abort()
    assert not other_folder.exists()
    writer = Job(str(other_folder), {}, specs)
    attempt(writer, [3])
    (other_folder / "part-0-of-the-other-writer").write_text("theirs")
    writer.abort()
    assert [p.name for p in other_folder.iterdir()] == ["part-0-of-the-other-writer"]


@pytest.mark.parametrize("record, why", [
    # an entry whose length runs past the record
    (b"\x0a\x0c" + b"\x0a\x0f\x0a\x01a\x12\x05\x1a\x03\x0a\x01\x05", "entry past the record"),
    # a scalar int64 list whose packed run ends inside a varint
    (b"\x0a\x0c\x0a\x0a\x0a\x01a\x12\x05\x1a\x03\x0a\x01\x80", "varint cut by its list"),
    # a float list whose packed run is 2 bytes
    (b"\x0a\x0d\x0a\x0b\x0a\x01f\x12\x06\x12\x04\x0a\x02\x00\x00", "short float run"),
])
def test_a_malformed_example_is_an_error_never_a_value(record, why):
    """CRC-valid records whose protobuf is broken: the fast decoder gives up on them and the
    reference decoder says what is wrong; no value is made up."""
    import numpy as np

    from featurestore_spark.training.tfexample_decode import decode, padded
    specs = [("a", "int64", False, False), ("f", "float32", False, False)]
    with pytest.raises(ValueError, match="truncated|malformed"):
        decode(padded(record), np.array([0]), np.array([len(record)]), specs)


def test_a_folder_named_with_a_trailing_slash_keeps_its_files(tmp_path):
    import pyarrow as pa

    from featurestore_spark.training.tfrecord_files import Job, write_partition
    path, specs = str(tmp_path / "td") + "/", [("id", "int64", False)]
    writer = Job(path, {}, specs)
    files = write_partition(path, {}, specs, writer.job,
                            iter([pa.RecordBatch.from_pydict({"id": [1, 2]})]))
    writer.commit(files)
    assert [len(read_records(p)) for p in (tmp_path / "td").glob("part-*")] == [2]


# -- the JVM writer (jvm/, a DataSource V2 of Spark's public API) and its fallback --------------------
AWKWARD = [(1, 1.5, "a", b"\x00\x01", [1, -2, 300], [0.5, 2.0], ["x", "héllo", ""], [b"\xff"]),
           (-5, None, None, None, [], [], [], []),
           (None, -0.0, "ünï", b"", None, None, None, None),
           (1 << 62, float("inf"), "q" * 300, b"z" * 200, [(1 << 63) - 1], [1e-40], ["a" * 130],
            [b""])]
AWKWARD_SCHEMA = ("i bigint, f float, s string, b binary, li array<bigint>, lf array<float>, "
                  "ls array<string>, lb array<binary>")
AWKWARD_SPECS = [("i", "int64", False), ("f", "float32", False), ("s", "string", False),
                 ("b", "string", False), ("li", "int64", True), ("lf", "float32", True),
                 ("ls", "string", True), ("lb", "string", True)]


def test_the_jvm_writer_writes_what_the_python_encoder_does(store, tmp_path):
    """Wire rows written by the JVM data source are, record for record, the bytes of the
    Python encoder (the reference the golden files check): nulls left out, empty lists present,
    negative and 64-bit integers, infinities, long and non-ASCII strings."""
    from featurestore_spark.training import tfrecord
    df = store.spark.createDataFrame(AWKWARD, AWKWARD_SCHEMA)
    folder = tmp_path / "jvm"
    assert tfrecord.write_jvm(df.coalesce(1), str(folder), {})
    names = sorted(p.name for p in folder.iterdir())     # no .crc side files, no _temporary
    assert names[0] == "_SUCCESS" and len(names) == 2 and names[1].endswith("-c000.tfrecord")
    encode = encoder(AWKWARD_SPECS)
    assert read_folder(folder) == [encode([bytes(v) if isinstance(v, bytearray) else v for v in r])
                                   for r in df.coalesce(1).collect()]


def test_a_failed_jvm_write_leaves_nothing(store, tmp_path):
    """A row the records cannot hold fails the job and removes the folder it began; a folder
    that exists is refused before anything is written into it."""
    from featurestore_spark.training import tfrecord
    bad = store.spark.createDataFrame([([1, 2],), ([3, None],)], "xs array<bigint>").repartition(2)
    with pytest.raises(Exception, match="null elements inside an array"):
        tfrecord.write_jvm(bad, str(tmp_path / "bad"), {})
    assert not (tmp_path / "bad").exists()
    (tmp_path / "there").mkdir()
    (tmp_path / "there" / "theirs").write_text("x")
    with pytest.raises(Exception, match="PATH_ALREADY_EXISTS"):
        tfrecord.write_jvm(store.spark.range(3), str(tmp_path / "there"), {})
    assert [p.name for p in (tmp_path / "there").iterdir()] == ["theirs"]


def test_without_the_jvm_writer_python_writes_the_same_records_with_one_warning(
        store, monkeypatch, caplog):
    """Where the JAR of jvm/ is not on the classpath (a spark-submit without it), the Python
    workers write the TFRecords: the same records, and one warning that says what to add."""
    from featurestore_spark.training import tfrecord
    df = store.spark.createDataFrame(ROWS, SCHEMA)
    fast = featurestore.create_training_dataset(df, "jvm_written")
    monkeypatch.setattr(tfrecord, "JVM_FORMAT", "featurestore-tfrecord-not-there")
    monkeypatch.setattr(tfrecord, "_warned", False)
    slow = [featurestore.create_training_dataset(df, f"py_written_{i}") for i in range(2)]
    assert caplog.text.count("not on the classpath") == 1, caplog.text
    for td in slow:
        assert sorted(read_folder(Path(td.location))) == sorted(read_folder(Path(fast.location)))
