"""The data formats of training datasets: Spark's own writers and readers (parquet, orc, avro, csv,
tsv) and TFRecords (:mod:`.tfrecord`). Every write is a Spark job whose executors write the files
through the Hadoop FileSystem; a read is lazy, with the column types the metadata recorded.
``options`` are the Hadoop settings of a storage connector the files are under (its
``hadoop_options()``), handed to that one write or read, never set session-wide."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Mapping, Sequence

from ..names import quote
from . import tfrecord

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from ..metadata import Feature

DATA_FORMATS = ("tfrecords", "parquet", "csv", "tsv", "avro", "orc")
ALIASES = {"tfrecord": "tfrecords"}

# Times with microseconds (Spark's CSV default keeps milliseconds), so that they read back equal.
_CSV = {"header": "true", "timestampFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX",
        "timestampNTZFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSSSS"}
SPARK_FORMATS = {"parquet": ("parquet", {}), "orc": ("orc", {}), "avro": ("avro", {}),
                 "csv": ("csv", _CSV), "tsv": ("csv", {**_CSV, "sep": "\t"})}
_AVRO_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def normal(data_format: object) -> object:
    """``data_format`` lower-cased, aliases resolved (anything else is returned as it is)."""
    if isinstance(data_format, str):
        return ALIASES.get(data_format.lower(), data_format.lower())
    return data_format


def type_problems(data_format: str, features: Sequence[Feature]) -> list[str]:
    """What ``data_format`` cannot hold of these columns."""
    seen: dict[str, str] = {}
    problems = []
    for f in features:
        if f.name.lower() in seen:
            problems.append(f"columns {seen[f.name.lower()]!r} and {f.name!r} have the same name "
                            "(names are case-insensitive in files): rename one")
        seen.setdefault(f.name.lower(), f.name)
    if data_format == "tfrecords":
        return problems + tfrecord.type_problems(features)
    if data_format in ("csv", "tsv"):
        problems += [f"{data_format} cannot hold column {f.name!r} of type {f.type}: use parquet, "
                     "orc, avro or tfrecords, or flatten it" for f in features
                     if f.type == "binary" or f.type.startswith(("array<", "map<", "struct<"))]
    if data_format == "avro":
        problems += [f"avro cannot name a field {f.name!r}: names are letters, digits and '_', "
                     "not starting with a digit (rename the column)" for f in features
                     if not _AVRO_NAME.fullmatch(f.name)]
    return problems


def write(df: DataFrame, data_format: str, path: str, features: Sequence[Feature],
          options: Mapping[str, str] | None = None) -> None:
    """Write ``df`` under the new folder ``path`` (it fails if ``path`` exists)."""
    if data_format == "tfrecords":
        tfrecord.write(df, path, features, options)
        return
    source, format_options = SPARK_FORMATS[data_format]
    (df.write.format(source).options(**{**(options or {}), **format_options})
     .mode("errorifexists").save(path))


def read(spark: SparkSession, data_format: str, paths: Sequence[str],
         features: Sequence[Feature], options: Mapping[str, str] | None = None) -> DataFrame:
    """The rows under ``paths`` (folders of one training dataset), with the recorded types."""
    if data_format == "tfrecords":
        return tfrecord.read(spark, paths, features, options)
    source, format_options = SPARK_FORMATS[data_format]
    schema = ", ".join(f"{quote(f.name)} {f.type}" for f in features)
    return (spark.read.format(source).options(**{**(options or {}), **format_options})
            .schema(schema).load(list(paths)))
