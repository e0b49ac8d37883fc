"""TFRecord files of ``tf.train.Example`` records, written and read by Spark's executors.

Writing: the executors encode every row as a ``tf.train.Example`` protobuf, frame it as
TensorFlow does (uint64 length, masked CRC32C of the length, data, masked CRC32C of the data)
and write the files through Hadoop's FileSystem API (any Hadoop path), in the JVM: the data
source ``featurestore-tfrecord`` of ``jvm/`` (Spark's public DataSource V2 API), which
`make setup` compiles into ``.cache/jars`` beside Delta's JARs. Where that JAR is not on the
classpath, the Python workers do the same (:mod:`.tfexample`, vectorized over Arrow batches, and
:mod:`.tfrecord_files` over ``pyarrow.fs``), slower, with one warning. Reading is Spark's
``binaryFile`` source and a vectorized decoding of Arrow batches (:mod:`.tfexample_decode`),
both CRCs of every record checked. Public APIs only, nothing through the driver.

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
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence, cast

from .. import paths as hadoop
from ..names import quote
from .tfexample import BYTES, FLOAT, INT64

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from ..metadata import Feature

log = logging.getLogger(__name__)
JVM_FORMAT = "featurestore-tfrecord"     # jvm/: the writer `make setup` puts in .cache/jars
_warned = False                           # that the JVM writer is missing: said once a process

# for paths pyarrow.fs cannot reach: tensorflow/ecosystem's Hadoop OutputFormat (framing, CRCs)
OUTPUT_FORMAT = "org.tensorflow.hadoop.io.TFRecordFileOutputFormat"
BYTES_WRITABLE = "org.apache.hadoop.io.BytesWritable"
NULL_WRITABLE = "org.apache.hadoop.io.NullWritable"

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


# -- the writer and the reader -----------------------------------------------------------------
def _specs(features: Sequence[Feature]) -> list[tuple[str, str, bool]]:
    """(name, kind, is_list) of every column (checked by :func:`type_problems` before)."""
    return [(f.name, *(feature_kind(f.type) or (BYTES, False))) for f in features]


def write(df: DataFrame, path: str, features: Sequence[Feature],
          options: Mapping[str, str] | None = None) -> None:
    """Write ``df`` as TFRecord files (one or more per partition) under the new folder ``path``
    (``options``: the Hadoop settings of the storage connector it is under).

    The JVM data source of ``jvm/`` writes them (:func:`write_jvm`); without its JAR, the
    executors' Python encodes Arrow batches (:mod:`.tfexample`) and writes through
    ``pyarrow.fs`` (:mod:`.tfrecord_files`), and a path pyarrow cannot reach goes through
    PySpark's RDD API and the TFRecord Hadoop OutputFormat."""
    from . import tfrecord_files
    wire = _convert(df, features, _to_wire)
    path = hadoop.qualified(df.sparkSession, path, options)    # no scheme: fs.defaultFS's
    if write_jvm(wire, path, options or {}):
        return
    settings = {**hadoop.settings(df.sparkSession, "fs.s3a."),
                **hadoop.settings(df.sparkSession, tfrecord_files.CREDENTIAL_STORES),
                **(options or {})}
    if tfrecord_files.write(wire, path, _specs(features), settings):
        return
    from .tfexample import encoder
    encode = encoder(_specs(features))
    (wire.rdd.map(lambda row: (bytearray(encode(row)), None))
     .saveAsNewAPIHadoopFile(path, OUTPUT_FORMAT, keyClass=BYTES_WRITABLE,
                             valueClass=NULL_WRITABLE, conf=dict(options or {})))


def write_jvm(wire: DataFrame, path: str, options: Mapping[str, str]) -> bool:
    """Write the wire columns ``wire`` under the new folder ``path`` with the JVM data source
    (Hadoop settings ``options``); False, with one warning a process, when its JAR is not on
    the classpath (nothing is written then)."""
    global _warned
    try:
        wire.write.format(JVM_FORMAT).options(**options).mode("append").save(path)
        return True
    except Exception as e:
        if _condition(e) != "DATA_SOURCE_NOT_FOUND":
            raise
    if not _warned:
        _warned = True
        log.warning("TFRecords are written by the Python workers, far slower: the data source "
                    "%r of featurestore_spark's JAR (jvm/, built by `make setup` into "
                    ".cache/jars/featurestore-spark-jvm.jar) is not on the classpath: add it "
                    "with --jars or spark.jars", JVM_FORMAT)
    return False


def _condition(e: BaseException) -> str | None:
    """The error condition of a Spark error raised in the JVM (PySpark's exception, or Py4J's
    for one PySpark does not convert), or None."""
    if hasattr(e, "getCondition"):
        return cast(Any, e).getCondition()
    java = getattr(e, "java_exception", None)
    try:
        return java.getCondition() if java is not None else None
    except Exception:       # noqa: BLE001 - not a SparkThrowable
        return None


def read(spark: SparkSession, paths: Sequence[str], features: Sequence[Feature],
         options: Mapping[str, str] | None = None) -> DataFrame:
    """The rows of the TFRecord files under ``paths``, with the recorded column types
    (``options``: the Hadoop settings of the storage connector they are under).

    Spark's ``binaryFile`` source reads the files, the executors check the records' CRCs and
    decode them (:mod:`.tfrecord_files`)."""
    from pyspark.sql.types import StructType

    from . import tfrecord_files
    # a list of fields parses to a StructType (fromDDL is typed as returning any DataType)
    ddl = ", ".join(f"{quote(f.name)} {_wire_type(f.type)}" for f in features)
    wire_schema = cast(StructType, StructType.fromDDL(ddl))
    specs = [(*spec, f.type in ("string", "array<string>"))
             for spec, f in zip(_specs(features), features)]
    decoded = tfrecord_files.read(spark, paths, specs, wire_schema, dict(options or {}))
    return _convert(decoded, features, _from_wire)
