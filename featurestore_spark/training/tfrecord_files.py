"""TFRecord files, written and read by Spark's executors through public APIs only.

A record is framed as TensorFlow frames it: its length (uint64, little-endian), the masked
CRC32C of those 8 bytes, the data, the masked CRC32C of the data (``google-crc32c``).

Writing is a Spark 4 Python data source (``pyspark.sql.datasource``, registered as
``featurestore_tfrecords``): every task gets Arrow batches of its partition, encodes them
(:mod:`.tfexample`) and writes ``part-<partition>-<job>-<attempt>.tfrecord`` files (a new one
past 512 MiB) through ``pyarrow.fs``: local folders, s3a:// (the endpoint and keys of the
storage connector's Hadoop settings, or of the session's), hdfs://, gs://, abfs://. The
driver's commit keeps the files of the attempts that succeeded, deletes the job's others (a task
retried, a speculative copy) and writes ``_SUCCESS``; an abort deletes the job's files. A path
``pyarrow.fs`` cannot reach is written through PySpark's public RDD API and the TFRecord Hadoop
OutputFormat instead, far slower, with a warning.

Reading uses Spark's ``binaryFile`` source (any Hadoop path, one file up to 2 GiB whole in a
task) and decodes in ``mapInArrow`` (:mod:`.tfexample_decode`), both CRCs of every record
checked. Nothing passes through the driver but file names.
"""

from __future__ import annotations

import json
import logging
import struct
import uuid
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence
from urllib.parse import urlparse

import google_crc32c
import numpy as np
from pyspark.sql.datasource import DataSource, DataSourceArrowWriter, WriterCommitMessage

from .tfexample import Column, Piece, assemble, example_pieces

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs as pafs
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

log = logging.getLogger(__name__)

SOURCE = "featurestore_tfrecords"
ROLL_BYTES = 512 << 20                       # a new file past this many bytes
BATCH_RECORDS = 8192                         # records decoded together
_MASK_DELTA = 0xA282EAD8


# -- framing --------------------------------------------------------------------------------------
def _table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):                              # CRC-32C (Castagnoli), reflected
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0x82F63B78), table >> 1)
    return table.astype(np.uint32)


_TABLE = _table()


def _masked(crcs: np.ndarray) -> np.ndarray:
    crcs = crcs.astype(np.uint64)
    return ((((crcs >> 15) | (crcs << 17)) + _MASK_DELTA) & 0xFFFFFFFF).astype("<u4")


def length_crcs(lengths: np.ndarray) -> np.ndarray:
    """The masked CRC32C of every record's 8 length bytes, vectorized (a table, 8 steps)."""
    raw = lengths.astype("<u8").view(np.uint8).reshape(-1, 8)
    crc = np.full(len(lengths), 0xFFFFFFFF, np.uint32)
    for k in range(8):
        crc = _TABLE[(crc ^ raw[:, k]) & 0xFF] ^ (crc >> 8)
    return _masked(crc ^ np.uint32(0xFFFFFFFF))


def framed(pieces: Sequence[Piece], sizes: np.ndarray) -> np.ndarray:
    """The TFRecord file bytes of the records made of ``pieces`` (``sizes``: each record's)."""
    n = len(sizes)
    header = np.empty((n, 12), np.uint8)
    header[:, :8] = sizes.astype("<u8").view(np.uint8).reshape(-1, 8)
    header[:, 8:] = length_crcs(sizes).view(np.uint8).reshape(-1, 4)
    twelve, four = np.full(n, 12), np.full(n, 4)
    out = assemble([(header, twelve), *pieces, (np.zeros((n, 4), np.uint8), four)])
    ends = np.cumsum(sizes + 16) - 4                # where each record's data CRC goes
    data, bounds = out.tobytes(), (ends - sizes).tolist()
    crcs = np.fromiter(map(google_crc32c.value, map(data.__getitem__, map(
        slice, bounds, ends.tolist()))), np.uint32, n)
    out[ends[:, None] + np.arange(4)] = _masked(crcs).view(np.uint8).reshape(-1, 4)
    return out


def frame(out: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The TFRecord framing of the records ``out[offsets[i]:offsets[i + 1]]``, back to back."""
    sizes = np.diff(offsets)
    return framed([(out[offsets[0]:offsets[-1]], sizes)], sizes)


def records(data: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """The ``(starts, ends)`` of the records of a whole TFRecord file, both CRCs checked."""
    length_at, size = struct.Struct("<Q").unpack_from, len(data)
    heads, pos = [], 0
    while pos + 12 <= size:                 # each record's length leads to the next one
        heads.append(pos)
        pos += length_at(data, pos)[0] + 16
    raw = np.frombuffer(data, np.uint8)
    head = np.array(heads, np.int64)
    lengths = raw[head[:, None] + np.arange(8)].view("<u8").ravel()
    stored = raw[head[:, None] + np.arange(8, 12)].view("<u4").ravel()
    bad = np.flatnonzero(length_crcs(lengths) != stored)
    if len(bad):
        raise ValueError(f"{where}: the record at byte {heads[bad[0]]} fails its length's CRC32C "
                         "check (the file is corrupt, or not a TFRecord file)")
    if pos != size:
        raise ValueError(f"{where}: the file ends inside a record at byte {heads[-1] if heads else 0}"
                         " (truncated, or not a TFRecord file)")
    starts, ends = head + 12, head + 12 + lengths.astype(np.int64)
    crcs = np.fromiter(map(google_crc32c.value, map(data.__getitem__, map(
        slice, starts.tolist(), ends.tolist()))), np.uint32, len(heads))
    stored = raw[ends[:, None] + np.arange(4)].view("<u4").ravel()
    bad = np.flatnonzero(_masked(crcs) != stored)
    if len(bad):
        raise ValueError(f"{where}: the record at byte {heads[bad[0]]} fails its data's CRC32C "
                         "check (the file is corrupt)")
    return starts, ends


# -- file systems ---------------------------------------------------------------------------------
def filesystem(path: str, options: Mapping[str, str]) -> tuple[pafs.FileSystem, str]:
    """The ``pyarrow.fs`` file system of a Hadoop path, and the path in it (``options``: Hadoop
    settings, ``fs.s3a.*`` read as s3a reads them: per bucket first). Raises ValueError for a
    path it cannot reach."""
    import pyarrow.fs as pafs
    url = urlparse(path.rstrip("/") if path.rstrip("/") else path)
    if url.scheme in ("", "file"):
        return pafs.LocalFileSystem(), url.path
    if url.scheme in ("s3a", "s3"):
        bucket = url.netloc

        def get(key: str, default: str = "") -> str:
            return options.get(f"fs.s3a.bucket.{bucket}.{key}", options.get(f"fs.s3a.{key}",
                                                                            default))
        endpoint = get("endpoint")
        http = endpoint.startswith("http://") or get("connection.ssl.enabled") == "false"
        s3 = pafs.S3FileSystem(
            access_key=get("access.key") or None, secret_key=get("secret.key") or None,
            session_token=get("session.token") or None,
            region=get("endpoint.region") or get("region") or None,
            endpoint_override=endpoint.split("://", 1)[-1] or None,
            scheme="http" if http else "https",
            force_virtual_addressing=get("path.style.access", "false") != "true" and bool(endpoint))
        return s3, bucket + url.path
    try:
        fs, inner = pafs.FileSystem.from_uri(url.geturl())
    except Exception as e:     # pyarrow names the reason: an unknown scheme, no libhdfs, ...
        raise ValueError(f"pyarrow cannot reach {path}: {e}") from e
    return fs, inner


# -- the writer -----------------------------------------------------------------------------------
@dataclass
class Written(WriterCommitMessage):
    """A task's commit message: the files it wrote."""
    files: list[str]


class Writer(DataSourceArrowWriter):
    """Checks on the driver that the folder is new; each task writes its files
    (:func:`write_partition`); the driver's commit or abort settles them."""

    def __init__(self, options: Mapping[str, str]) -> None:
        self.path = options["path"]
        self.settings = {k: v for k, v in options.items() if k.startswith("fs.")}
        self.specs = [tuple(s) for s in json.loads(options["features"])]
        self.job = uuid.uuid4().hex[:12]
        fs, folder = filesystem(self.path, self.settings)
        if fs.get_file_info(folder).type != _NOT_FOUND:
            raise FileExistsError(f"[PATH_ALREADY_EXISTS] {self.path} exists already")

    def write(self, iterator: Iterator[pa.RecordBatch]) -> Written:
        return Written(write_partition(self.path, self.settings, self.specs, self.job, iterator))

    def commit(self, messages: list[Written | None]) -> None:   # type: ignore[override]
        fs, folder = filesystem(self.path, self.settings)
        fs.create_dir(folder, recursive=True)
        kept = {f.rsplit("/", 1)[-1] for m in messages if m for f in m.files}
        for info in fs.get_file_info(_selector(folder)):
            if self.job in info.base_name and info.base_name not in kept:
                fs.delete_file(info.path)        # a failed or speculative attempt's file
        with fs.open_output_stream(f"{folder}/_SUCCESS"):
            pass

    def abort(self, messages: list[Written | None]) -> None:    # type: ignore[override]
        fs, folder = filesystem(self.path, self.settings)
        if fs.get_file_info(folder).type == _NOT_FOUND:
            return
        for info in fs.get_file_info(_selector(folder)):
            if self.job in info.base_name:
                fs.delete_file(info.path)
        if not fs.get_file_info(_selector(folder)):
            fs.delete_dir(folder)


class Source(DataSource):
    """``df.write.format("featurestore_tfrecords").option("features", <json of (name, kind,
    is_list)>).save(path)``: write-only (reads go through ``binaryFile``)."""

    @classmethod
    def name(cls) -> str:
        return SOURCE

    def writer(self, schema: StructType, overwrite: bool) -> Writer:
        return Writer(self.options)


_NOT_FOUND = 0           # pyarrow.fs.FileType.NotFound


def _selector(folder: str) -> Any:
    import pyarrow.fs as pafs
    return pafs.FileSelector(folder, allow_not_found=True)


def write_partition(path: str, settings: Mapping[str, str], specs: Sequence[Any], job: str,
                    batches: Iterator[pa.RecordBatch]) -> list[str]:
    """Encode, frame and write one partition's batches; the files written."""
    from pyspark import TaskContext
    context = TaskContext.get()
    task = (f"{context.partitionId():05d}-{job}-{context.taskAttemptId()}" if context
            else f"{uuid.uuid4().hex[:5]}-{job}-0")
    columns = [Column(*s) for s in specs]
    fs, folder = filesystem(path, settings)
    files: list[str] = []
    stream, written = None, 0
    try:
        for batch in batches:
            if not batch.num_rows:
                continue
            if stream is None or written > ROLL_BYTES:
                if stream is not None:
                    stream.close()
                files.append(f"{folder}/part-{task}-c{len(files):03d}.tfrecord")
                fs.create_dir(folder, recursive=True)
                stream, written = fs.open_output_stream(files[-1]), 0
            data = framed(*example_pieces(batch, columns))
            stream.write(data)
            written += len(data)
    finally:
        if stream is not None:
            stream.close()
    return files


def write(df: DataFrame, path: str, specs: Sequence[tuple[str, str, bool]],
          options: Mapping[str, str]) -> bool:
    """Write ``df`` (wire columns) under the new folder ``path``; False when ``pyarrow.fs``
    cannot reach it (nothing written then)."""
    try:
        filesystem(path, options)
    except ValueError as e:
        log.warning("writing TFRecords to %s through PySpark's RDD API, far slower: %s", path, e)
        return False
    df.sparkSession.dataSource.register(Source)
    (df.write.format(SOURCE).options(**options).option("features", json.dumps(specs))
     .mode("append").save(path))
    return True


# -- the reader -----------------------------------------------------------------------------------
def read(spark: SparkSession, paths: Sequence[str], specs: Sequence[Any], schema: StructType,
         options: Mapping[str, str]) -> DataFrame:
    """The wire columns (``schema``) of the TFRecord files under ``paths``."""
    files = (spark.read.format("binaryFile").options(**options).load(list(paths))
             .select("path", "content"))
    return files.mapInArrow(partial(_decode_files, specs, schema), schema)


def _decode_files(specs: Sequence[Any], schema: StructType,
                  batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    from .tfexample_decode import decode, padded
    arrow_schema = to_arrow_schema(schema)
    for batch in batches:
        paths, contents = batch.column(0), batch.column(1)
        for i in range(batch.num_rows):
            where, data = paths[i].as_py(), contents[i].as_py()
            starts, ends = records(data, where)
            buf = padded(data)
            del data
            for at in range(0, len(starts), BATCH_RECORDS):
                cut = slice(at, at + BATCH_RECORDS)
                arrays = decode(buf, starts[cut], ends[cut], specs, where)
                yield pa.RecordBatch.from_arrays(
                    [a.cast(f.type) for a, f in zip(arrays, arrow_schema)], schema=arrow_schema)
