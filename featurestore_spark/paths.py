"""Hadoop paths, through the session's Hadoop FileSystem: local folders, hdfs://, s3a://, ... alike."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def join(folder: str, child: str) -> str:
    return folder.rstrip("/") + "/" + child


def _path_and_fs(spark: SparkSession, path: str) -> tuple[Any, Any]:
    jvm = spark.sparkContext._jvm
    p = jvm.org.apache.hadoop.fs.Path(path)
    return p, p.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def exists(spark: SparkSession, path: str) -> bool:
    p, fs = _path_and_fs(spark, path)
    return bool(fs.exists(p))


def delete(spark: SparkSession, path: str) -> None:
    """Remove ``path`` and everything under it (nothing when it does not exist)."""
    p, fs = _path_and_fs(spark, path)
    if fs.exists(p):
        fs.delete(p, True)


def qualify(spark: SparkSession, path: str) -> str:
    """``path`` with its scheme and authority (``/a/b`` -> ``file:/a/b``), to compare paths."""
    p, fs = _path_and_fs(spark, path)
    return str(fs.makeQualified(p).toString()).rstrip("/")
