"""TFRecord files of ``tf.train.Example`` records, written and read by Spark's executors.

The executors encode every row as a ``tf.train.Example`` protobuf (a tiny message, encoded by
hand: row by row below, vectorized over Arrow batches in :mod:`.tfexample`), and
tensorflow/ecosystem's Hadoop ``TFRecordFileOutputFormat`` frames each record (uint64 length,
masked CRC32C of the length, data, masked CRC32C of the data) and writes one file per partition
through the Hadoop FileSystem with its output committer: any Hadoop path, nothing through the
driver. Reading is the reverse with ``TFRecordFileInputFormat`` (which checks both CRCs of every
record). Records pass between the JVM and Python as Arrow batches; Spark's own Writable
converters (those of PySpark's ``saveAsNewAPIHadoopFile``) turn them into Hadoop values, with
PySpark's public RDD API as the fallback should those internals move.

Columns map to features as spark-tensorflow-connector maps them, plus times:

==================================================  ==========  =====================
Spark type                                          feature     read back as
==================================================  ==========  =====================
tinyint, smallint, int, bigint, boolean             int64       the same type
date (days since 1970-01-01)                        int64       date
timestamp, timestamp_ntz (microseconds since 1970)  int64       the same type
float, double, decimal                              float32     the same type (float32 precision)
string (UTF-8), binary                              bytes       the same type
array of any of the above                           its list    array (VarLenFeature)
==================================================  ==========  =====================

A null value leaves the feature out of that record (parse it with a default value); an empty
array is a present, empty list. Null elements inside an array cannot be written.
"""

from __future__ import annotations

import logging
import struct
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping, Sequence, cast

from .. import paths as hadoop
from ..names import quote

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from pyspark import RDD
    from pyspark.sql import Column, DataFrame, SparkSession

    from ..metadata import Feature

OUTPUT_FORMAT = "org.tensorflow.hadoop.io.TFRecordFileOutputFormat"
INPUT_FORMAT = "org.tensorflow.hadoop.io.TFRecordFileInputFormat"
BYTES_WRITABLE = "org.apache.hadoop.io.BytesWritable"
NULL_WRITABLE = "org.apache.hadoop.io.NullWritable"

INT64, FLOAT, BYTES = "int64", "float32", "string"      # tf.train.Feature kinds, as tf dtypes
_INTS = {"tinyint", "smallint", "int", "bigint", "boolean", "date", "timestamp", "timestamp_ntz"}
_FLOATS = {"float", "double"}
_EPOCH_NTZ = "TIMESTAMP_NTZ'1970-01-01 00:00:00'"


def _element(spark_type: str) -> str | None:
    """The feature kind of a scalar Spark SQL type (``simpleString``), or None."""
    if spark_type in _INTS:
        return INT64
    if spark_type in _FLOATS or spark_type.startswith("decimal"):
        return FLOAT
    if spark_type in ("string", "binary"):
        return BYTES
    return None


def feature_kind(spark_type: str) -> tuple[str, bool] | None:
    """``(kind, is_list)`` of a column's Spark SQL type, or None when TFRecords cannot hold it."""
    if spark_type.startswith("array<") and spark_type.endswith(">"):
        kind = _element(spark_type[6:-1])
        return None if kind is None else (kind, True)
    kind = _element(spark_type)
    return None if kind is None else (kind, False)


def type_problems(features: Iterable[Feature]) -> list[str]:
    return [f"tfrecords cannot hold column {f.name!r} of type {f.type}: use numbers, booleans, "
            "dates, timestamps, strings, binary or arrays of them (or another data format)"
            for f in features if feature_kind(f.type) is None]


def tf_record_schema(features: Iterable[Feature]) -> dict[str, dict[str, Any]]:
    """The feature spec to parse the records with: ``{name: {"kind": "FixedLenFeature" |
    "VarLenFeature", "dtype": "int64" | "float32" | "string", "shape": [...]}}`` (the arguments
    of ``tf.io.FixedLenFeature`` / ``tf.io.VarLenFeature``; see :func:`tensorflow_feature_spec`)."""
    schema = {}
    for f in features:
        kind, is_list = feature_kind(f.type) or (BYTES, False)
        schema[f.name] = ({"kind": "VarLenFeature", "dtype": kind} if is_list else
                          {"kind": "FixedLenFeature", "dtype": kind, "shape": []})
    return schema


def tensorflow_feature_spec(schema: dict[str, dict[str, Any]], tf: Any = None) -> dict[str, Any]:
    """:func:`tf_record_schema` as TensorFlow's feature spec, for ``tf.io.parse_example``
    (``tf``: the tensorflow module, imported when not given).

    Examples
    --------
    >>> schema = featurestore.get_training_dataset_tf_record_schema("td")  # doctest: +SKIP
    >>> spec = tensorflow_feature_spec(schema)                             # doctest: +SKIP
    >>> tf.data.TFRecordDataset(files).map(lambda r: tf.io.parse_single_example(r, spec))     # doctest: +SKIP
    """
    if tf is None:
        import tensorflow as tf  # type: ignore[no-redef]
    return {name: (tf.io.VarLenFeature(getattr(tf, s["dtype"])) if s["kind"] == "VarLenFeature"
                   else tf.io.FixedLenFeature(s["shape"], getattr(tf, s["dtype"])))
            for name, s in schema.items()}


# -- Spark side: every column as a long, a float, string/binary or an array of them, and back ----
def _wire_element(spark_type: str) -> str:
    """The Spark type a scalar travels to the encoder as."""
    kind = _element(spark_type)
    return {INT64: "bigint", FLOAT: "float"}.get(kind or "", spark_type)   # string / binary


def _wire_type(spark_type: str) -> str:
    if spark_type.startswith("array<"):
        return f"array<{_wire_element(spark_type[6:-1])}>"
    return _wire_element(spark_type)


def _to_wire(c: Column, spark_type: str) -> Column:
    from pyspark.sql import functions as F
    if spark_type == "date":
        return F.unix_date(c)
    if spark_type == "timestamp":
        return F.unix_micros(c)
    if spark_type == "timestamp_ntz":
        return F.timestamp_diff("MICROSECOND", F.expr(_EPOCH_NTZ), c)
    return c.cast(_wire_element(spark_type))   # float: overflowing doubles become +-inf


def _from_wire(c: Column, spark_type: str) -> Column:
    from pyspark.sql import functions as F
    if spark_type == "date":
        return F.date_from_unix_date(c.cast("int"))
    if spark_type == "timestamp":
        return F.timestamp_micros(c)
    if spark_type == "timestamp_ntz":
        return F.timestamp_add("MICROSECOND", c, F.expr(_EPOCH_NTZ))
    return c.cast(spark_type)


def _each(one: Callable[[Column, str], Column], spark_type: str) -> Callable[[Column], Column]:
    return lambda x: one(x, spark_type)     # one parameter: transform's element function


def _convert(df: DataFrame, features: Sequence[Feature],
             one: Callable[[Column, str], Column]) -> DataFrame:
    from pyspark.sql import functions as F
    cols = []
    for f in features:
        c = F.col(quote(f.name))
        if f.type.startswith("array<"):
            element = f.type[6:-1]
            cols.append(F.transform(c, _each(one, element)).alias(f.name))
        else:
            cols.append(one(c, f.type).alias(f.name))
    return df.select(*cols)


# -- executors: tf.train.Example encoding ------------------------------------------------------
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


class _Column:
    """How one column becomes a ``Features.feature`` map entry (headers computed once)."""

    def __init__(self, name: str, kind: str, is_list: bool) -> None:
        self.kind, self.is_list = kind, is_list
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
    columns = [_Column(*f) for f in features]

    def encode(row: Sequence[Any]) -> bytes:
        # Example.features = 1 (Features), whose map<string, Feature> feature = 1 entries these are
        return _delimited(b"\x0a", b"".join([c.entry(v) for c, v in zip(columns, row)
                                             if v is not None]))
    return encode


# -- executors: decoding (reads of get_training_dataset) ----------------------------------------
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


def decode_example(record: bytes) -> dict[str, list[Any]]:
    """``{feature name: values}`` of a serialized ``tf.train.Example``."""
    out: dict[str, list[Any]] = {}
    for number, _, features in _fields(record):
        if number != 1:
            continue
        for n, _, entry in _fields(features):
            if n != 1:
                continue
            key, values = "", []
            for en, _, ev in _fields(entry):
                if en == 1:
                    key = bytes(ev).decode()
                elif en == 2:
                    for kind, _, lst in _fields(ev):
                        values = _list_values(kind, lst)
            out[key] = values
    return out


def _decode_partition(features: Sequence[tuple[str, str, bool, bool]],
                      records: Iterable[tuple[bytes, Any]]) -> Iterator[tuple[Any, ...]]:
    for record, _ in records:
        values = decode_example(record)
        row = []
        for name, _, is_list, is_text in features:
            v = values.get(name)
            if v is not None and is_text:
                v = [b.decode() for b in v]
            row.append(v if is_list or v is None else (v[0] if v else None))
        yield tuple(row)


# -- the writer and the reader -----------------------------------------------------------------
def _specs(features: Sequence[Feature]) -> list[tuple[str, str, bool]]:
    """(name, kind, is_list) of every column (checked by :func:`type_problems` before)."""
    return [(f.name, *(feature_kind(f.type) or (BYTES, False))) for f in features]


def write(df: DataFrame, path: str, features: Sequence[Feature],
          options: Mapping[str, str] | None = None) -> None:
    """Write ``df`` as TFRecord files (one per partition) under the new folder ``path``
    (``options``: the Hadoop settings of the storage connector it is under).

    The executors encode Arrow batches of rows into Examples (``mapInArrow``, see
    :mod:`.tfexample`); the JVM turns each into a Hadoop ``BytesWritable`` and the TFRecord
    OutputFormat frames and writes it, with Spark's Hadoop output committer. The rows never
    pass through Python pickling, which costs more than the encoding itself."""
    from .tfexample import encode_batches
    wire = _convert(df, features, _to_wire)
    records = wire.mapInArrow(partial(encode_batches, _specs(features)),
                              "record binary, nothing binary")
    try:
        pairs = _writable_pairs(records)
    except Exception as e:  # Spark's internals moved: the public (slower) path of PySpark
        log.info("writing TFRecords through PySpark's RDD API (%s)", e)
        (records.rdd.map(lambda r: (bytes(r[0]), None))
         .saveAsNewAPIHadoopFile(path, OUTPUT_FORMAT, keyClass=BYTES_WRITABLE,
                                 valueClass=NULL_WRITABLE, conf=dict(options or {})))
        return
    jvm = df.sparkSession.sparkContext._jvm
    pairs.saveAsNewAPIHadoopFile(path, _jclass(jvm, BYTES_WRITABLE), _jclass(jvm, NULL_WRITABLE),
                                 _jclass(jvm, OUTPUT_FORMAT),
                                 hadoop.hadoop_conf(df.sparkSession, options))


def _jclass(jvm: Any, name: str) -> Any:
    return jvm.java.lang.Class.forName(name, True,
                                       jvm.java.lang.Thread.currentThread().getContextClassLoader())


def _writable_pairs(records: DataFrame) -> Any:
    """A JavaPairRDD of (BytesWritable, NullWritable) of a two-column binary DataFrame, made in
    the JVM with the converter PySpark's own ``saveAsNewAPIHadoopFile`` uses."""
    jvm: Any = records.sparkSession.sparkContext._jvm   # py4j's JVMView; set while the session runs
    encoders = jvm.org.apache.spark.sql.Encoders
    tuples = getattr(records._jdf, "as")(encoders.tuple(encoders.BINARY(), encoders.BINARY()))
    converter = jvm.org.apache.spark.api.python.JavaToWritableConverter()
    writables = jvm.org.apache.spark.api.python.PythonHadoopUtil.convertRDD(
        tuples.rdd(), converter, converter)
    any_ref = jvm.scala.reflect.ClassTag.AnyRef()
    return jvm.org.apache.spark.api.java.JavaPairRDD.fromRDD(writables, any_ref, any_ref)


def read(spark: SparkSession, paths: Sequence[str], features: Sequence[Feature],
         options: Mapping[str, str] | None = None) -> DataFrame:
    """The rows of the TFRecord files under ``paths``, with the recorded column types
    (``options``: the Hadoop settings of the storage connector they are under).

    The JVM reads the records (TFRecordFileInputFormat checks both CRCs) into a binary column;
    the executors decode Arrow batches of them (``mapInArrow``)."""
    from pyspark.sql.types import StructType
    # a list of fields parses to a StructType (fromDDL is typed as returning any DataType)
    ddl = ", ".join(f"{quote(f.name)} {_wire_type(f.type)}" for f in features)
    wire_schema = cast(StructType, StructType.fromDDL(ddl))
    specs = [(*spec, f.type in ("string", "array<string>"))
             for spec, f in zip(_specs(features), features)]
    try:
        records = _record_frame(spark, paths, options)
    except Exception as e:  # Spark's internals moved: the public (slower) path of PySpark
        log.info("reading TFRecords through PySpark's RDD API (%s)", e)
        rdd: RDD[tuple[bytes, Any]] = spark.sparkContext.newAPIHadoopFile(
            ",".join(paths), INPUT_FORMAT, BYTES_WRITABLE, NULL_WRITABLE,
            conf=dict(options or {}))
        rows = rdd.mapPartitions(partial(_decode_partition, specs))
        return _convert(spark.createDataFrame(rows, wire_schema), features, _from_wire)
    decoded = records.mapInArrow(partial(_decode_batches, specs, wire_schema), wire_schema)
    return _convert(decoded, features, _from_wire)


def _record_frame(spark: SparkSession, paths: Sequence[str],
                  options: Mapping[str, str] | None = None) -> DataFrame:
    """A DataFrame of the records (``record`` binary) of the TFRecord files under ``paths``,
    made in the JVM with the converter PySpark's own ``newAPIHadoopFile`` uses."""
    from pyspark.sql import DataFrame
    sc = spark.sparkContext
    jvm: Any = sc._jvm   # py4j's JVMView; set while the session runs
    conf = hadoop.hadoop_conf(spark, options)
    pairs = sc._jsc.newAPIHadoopFile(",".join(paths), _jclass(jvm, INPUT_FORMAT),
                                     _jclass(jvm, BYTES_WRITABLE), _jclass(jvm, NULL_WRITABLE),
                                     conf)
    python = jvm.org.apache.spark.api.python
    broadcast = sc._jsc.broadcast(jvm.org.apache.spark.util.SerializableConfiguration(conf))
    converter = python.WritableToJavaConverter(broadcast)     # copies the reused BytesWritable
    tuples = python.PythonHadoopUtil.convertRDD(pairs.rdd(), converter, converter)
    encoders = jvm.org.apache.spark.sql.Encoders
    dataset = spark._jsparkSession.createDataset(tuples, encoders.tuple(encoders.BINARY(),
                                                                        encoders.BINARY()))
    return DataFrame(dataset.toDF(), spark).selectExpr("_1 AS record")


def _decode_batches(features: Sequence[tuple[str, str, bool, bool]], schema: Any,
                    batches: Iterable[Any]) -> Iterator[Any]:
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema
    arrow_schema = to_arrow_schema(schema)
    for batch in batches:
        rows = list(_decode_partition(features, ((r, None) for r in
                                                 batch.column(0).to_pylist())))
        columns = list(zip(*rows)) if rows else [()] * len(features)
        yield pa.RecordBatch.from_arrays([pa.array(list(c), type=f.type)
                                          for c, f in zip(columns, arrow_schema)],
                                         schema=arrow_schema)
