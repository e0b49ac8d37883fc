"""Hadoop paths, through the session's Hadoop FileSystem: local folders, hdfs://, s3a://, ... alike.

Failures of the file system itself (a file where a folder must be, no permission, a read-only or
full disk) reach the user as a :class:`~featurestore_spark.errors.StorageError` naming the path:
:func:`storage_errors` maps them around a Spark or Hadoop call, and lets every other error through
as it is.

A path of a storage connector's (``s3a://bucket/...``) needs the connector's Hadoop settings (its
``hadoop_options()``: endpoint, keys) in every call that reaches it: the ``options`` of these
functions. They are set on a copy of the session's Hadoop configuration (:func:`hadoop_conf`),
never on the session's own. Hadoop keeps one FileSystem per scheme and bucket in a process, made
with the settings of its first use: so every call on such a path passes them (and the connectors
refuse two ways to one bucket).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from .errors import StorageError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def join(folder: str, child: str) -> str:
    return folder.rstrip("/") + "/" + child


def hadoop_conf(spark: SparkSession, options: Mapping[str, str] | None = None) -> Any:
    """The session's Hadoop Configuration (a JVM object); with ``options`` (a storage
    connector's Hadoop settings, secrets among them) a copy of it with those set, so that they
    never become session-wide. The one place that reaches into PySpark's JVM handles for it."""
    sc = spark.sparkContext
    conf = sc._jsc.hadoopConfiguration()        # py4j handles; set while the session runs
    if not options:
        return conf
    jvm: Any = sc._jvm
    copy = jvm.org.apache.hadoop.conf.Configuration(conf)
    for key, value in options.items():
        copy.set(key, value)
    return copy


def settings(spark: SparkSession, prefix: str) -> dict[str, str]:
    """The session's Hadoop settings whose keys start with ``prefix`` (``fs.s3a.``, say)."""
    props = hadoop_conf(spark).getPropsWithPrefix(prefix)
    return {prefix + str(k): str(props.get(k)) for k in props.keySet().toArray()}


def qualified(spark: SparkSession, path: str, options: Mapping[str, str] | None = None) -> str:
    """``path`` with its file system's scheme and authority: a path without a scheme is
    ``fs.defaultFS``'s (``hdfs://...`` on YARN, ``file:`` on one machine), as Spark reads it."""
    p, fs = _path_and_fs(spark, path, options)
    return str(fs.makeQualified(p))


def _path_and_fs(spark: SparkSession, path: str,
                 options: Mapping[str, str] | None = None) -> tuple[Any, Any]:
    jvm: Any = spark.sparkContext._jvm   # py4j's JVMView; set while the session runs
    p = jvm.org.apache.hadoop.fs.Path(path)
    return p, p.getFileSystem(hadoop_conf(spark, options))


def exists(spark: SparkSession, path: str, options: Mapping[str, str] | None = None) -> bool:
    p, fs = _path_and_fs(spark, path, options)
    return bool(fs.exists(p))


def children(spark: SparkSession, folder: str) -> list[str]:
    """The names of the entries of ``folder`` (none when it does not exist)."""
    p, fs = _path_and_fs(spark, folder)
    if not fs.exists(p):
        return []
    return sorted(str(status.getPath().getName()) for status in fs.listStatus(p))


def modified(spark: SparkSession, path: str) -> int | None:
    """The latest modification time (ms since the epoch) of ``path`` (a file) or of the files
    under it (a folder, recursively); None when it does not exist."""
    p, fs = _path_and_fs(spark, path)
    if not fs.exists(p):
        return None
    latest = fs.getFileStatus(p).getModificationTime()
    files = fs.listFiles(p, True)                  # a RemoteIterator, walked in the JVM's pages
    while files.hasNext():
        latest = max(latest, files.next().getModificationTime())
    return int(latest)


def read_text(spark: SparkSession, path: str) -> str | None:
    """The text of the file ``path`` (UTF-8), or None when there is none."""
    p, fs = _path_and_fs(spark, path)
    if not fs.exists(p):
        return None
    jvm: Any = spark.sparkContext._jvm
    stream = fs.open(p)
    try:
        return bytes(jvm.org.apache.commons.io.IOUtils.toByteArray(stream)).decode()
    finally:
        stream.close()


def touch(spark: SparkSession, path: str) -> None:
    """Create (or truncate) the empty file ``path``."""
    p, fs = _path_and_fs(spark, path)
    fs.create(p, True).close()


def delete(spark: SparkSession, path: str, last: str | None = None,
           options: Mapping[str, str] | None = None) -> None:
    """Remove ``path`` and everything under it (nothing when it does not exist). With ``last``,
    the child of that name is removed after all the others (a marker that must outlive the rest,
    whichever file a failure stops at). What cannot be removed is a StorageError."""
    p, fs = _path_and_fs(spark, path, options)
    if not fs.exists(p):
        return
    if last is not None and fs.getFileStatus(p).isDirectory():
        for status in fs.listStatus(p):
            if status.getPath().getName() != last:
                _delete(fs, status.getPath())
    _delete(fs, p)


def _delete(fs: Any, p: Any) -> None:
    if not fs.delete(p, True) and fs.exists(p):     # the local file system says no by False
        raise StorageError(f"{p.toString()} could not be deleted (no permission, or a read-only "
                           "file system): fix that and run this again")


def qualify(spark: SparkSession, path: str) -> str:
    """``path`` with its scheme and authority (``/a/b`` -> ``file:/a/b``), to compare paths."""
    p, fs = _path_and_fs(spark, path)
    return str(fs.makeQualified(p).toString()).rstrip("/")


def folder_problem(spark: SparkSession, path: str,
                   options: Mapping[str, str] | None = None) -> str | None:
    """Why ``path`` cannot be (or become) a folder: it, or a folder above it, is a file. None
    when it can, or when the file system cannot tell (a few metadata calls, no listing)."""
    try:
        p, fs = _path_and_fs(spark, path, options)
        while p is not None:
            if fs.exists(p):
                if fs.getFileStatus(p).isFile():
                    return f"{p.toString()} is a file, where a folder must be"
                return None
            p = p.getParent()
    except Exception:       # noqa: BLE001 - a diagnosis only: the caller has the real error
        return None
    return None


# What a file system says, in the Java exceptions of a failed Spark or Hadoop call, and what it
# means. Matched in the Java text only: a Python worker's error is the user's code, never mapped.
_CAUSES = (
    ("No space left on device", "the file system is full"),
    ("Disk quota exceeded", "the disk quota is used up"),
    ("Read-only file system", "the file system is read-only"),
    ("ParentNotDirectoryException", "a file is where a folder must be"),
    ("Not a directory", "a file is where a folder must be"),
    ("AccessDeniedException", "permission denied"),
    ("Permission denied", "permission denied"),
    ("Operation not permitted", "the file system does not permit the write (a read-only or "
                                "immutable folder)"),
    ("DELTA_CANNOT_CREATE_LOG_PATH", "a folder could not be created (no permission, or a "
                                     "read-only file system)"),
    ("failed to create its directory", "a folder could not be created (no permission, or a "
                                       "read-only file system)"),
    ("Mkdirs failed", "a folder could not be created (no permission, or a read-only file "
                      "system)"),
)


def storage_error(spark: SparkSession, error: BaseException, path: str, what: str,
                  hint: str = "", options: Mapping[str, str] | None = None
                  ) -> StorageError | None:
    """``error``, raised by a Spark or Hadoop call that writes under ``path``, as a StorageError
    when the file system refused the write; None for any other error (raise that as it is)."""
    from py4j.protocol import Py4JError
    from pyspark.errors import PySparkException
    if isinstance(error, StorageError):
        return error
    if not isinstance(error, (Py4JError, PySparkException)):
        return None
    text = str(error)
    if "PythonException" in text:        # failed in a Python worker: the user's code
        return None
    reason = folder_problem(spark, path, options)
    detail = ""
    if reason is None:
        for marker, meaning in _CAUSES:
            if marker in text:
                reason, detail = meaning, f" ({_java_line(text, marker)})"
                break
    if reason is None:
        return None
    return StorageError(f"{what}: {path} cannot be written: {reason}{detail}. "
                        f"{hint or 'Fix that (or choose another folder) and run this again.'}")


def _java_line(text: str, marker: str) -> str:
    """The Java exception that says ``marker``, from its class name (``java.io.IOException: No
    space left on device``), without Spark's wrapping in front of it on the same line."""
    import re
    line = next(line for line in text.splitlines() if marker in line)
    before = line[:line.index(marker)]
    classes = list(re.finditer(r"[\w.$]+(?:Exception|Error)\b", before))
    start = classes[-1].start() if classes else 0
    return line[start:].strip()[:400]


@contextmanager
def storage_errors(spark: SparkSession, path: str, what: str, hint: str = "",
                   options: Mapping[str, str] | None = None) -> Iterator[None]:
    """Map a failure of the file system under ``path`` to a StorageError (see storage_error)."""
    try:
        yield
    except Exception as e:
        mapped = storage_error(spark, e, path, what, hint, options)
        if mapped is None or mapped is e:
            raise
        raise mapped from e
