"""TFRecord files, written and read by Spark's executors through public APIs only.

A record is framed as TensorFlow frames it: its length (uint64, little-endian), the masked
CRC32C of those 8 bytes, the data, the masked CRC32C of the data (computed in compiled loops,
:mod:`.tfkernels`; ``google-crc32c`` where numba is missing).

Writing is a ``mapInArrow`` (:class:`Job`): every task gets Arrow batches of its partition,
encodes them (:mod:`.tfkernels`, or :mod:`.tfexample` with numpy) and writes
``part-<partition>-<job>-<attempt>.tfrecord`` files (a new one past 512 MiB) through
``pyarrow.fs``: local folders, s3a:// (the endpoint and keys of the storage connector's Hadoop
settings, or of the session's), hdfs://, gs://, abfs://, under the folder's ``_temporary/<job>``,
and returns their names. The driver's commit moves the files of the attempts that succeeded (the
only ones whose rows Spark returns) into the folder, drops the staging folder with the others'
(a task retried, a speculative copy) and writes ``_SUCCESS``; an abort deletes the job's files.
A path ``pyarrow.fs`` cannot reach is written through PySpark's public RDD API and the TFRecord
Hadoop OutputFormat instead, far slower, with a warning.

Reading uses Spark's ``binaryFile`` source (any Hadoop path, one file up to 2 GiB whole in a
task) and decodes in ``mapInArrow`` (:mod:`.tfkernels`, :mod:`.tfexample_decode`), both CRCs of
every record checked. Nothing passes through the driver but file names.
"""

from __future__ import annotations

import logging
import struct
import uuid
from functools import partial
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence
from urllib.parse import urlparse

import google_crc32c
import numpy as np

from . import tfkernels
from .tfexample import Column, Piece, assemble, encode_scalars, example_pieces

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
    if tfkernels.enabled():
        masked = tfkernels.data_crcs(out, ends - sizes, ends)
    else:
        data, bounds = out.tobytes(), (ends - sizes).tolist()
        masked = _masked(np.fromiter(map(google_crc32c.value, map(data.__getitem__, map(
            slice, bounds, ends.tolist()))), np.uint32, n))
    out[ends[:, None] + np.arange(4)] = masked.view(np.uint8).reshape(-1, 4)
    return out


def frame(out: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The TFRecord framing of the records ``out[offsets[i]:offsets[i + 1]]``, back to back."""
    sizes = np.diff(offsets)
    return framed([(out[offsets[0]:offsets[-1]], sizes)], sizes)


def records(data: bytes | np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """The ``(starts, ends)`` of the records of a whole TFRecord file, both CRCs checked (an
    array of bytes only where the compiled loops run)."""
    if tfkernels.enabled():
        buf = data if isinstance(data, np.ndarray) else np.frombuffer(data, np.uint8)
        starts, ends, status, at = tfkernels.frames(buf)
        if status:
            raise _framing_error(status, where, at)
        return starts, ends
    data = data.tobytes() if isinstance(data, np.ndarray) else data
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
        raise _framing_error(tfkernels.BAD_LENGTH_CRC, where, heads[bad[0]])
    if pos != size:
        raise _framing_error(tfkernels.TRUNCATED, where, heads[-1] if heads else 0)
    starts, ends = head + 12, head + 12 + lengths.astype(np.int64)
    crcs = np.fromiter(map(google_crc32c.value, map(data.__getitem__, map(
        slice, starts.tolist(), ends.tolist()))), np.uint32, len(heads))
    stored = raw[ends[:, None] + np.arange(4)].view("<u4").ravel()
    bad = np.flatnonzero(_masked(crcs) != stored)
    if len(bad):
        raise _framing_error(tfkernels.BAD_DATA_CRC, where, heads[bad[0]])
    return starts, ends


def _framing_error(status: int, where: str, at: int) -> ValueError:
    if status == tfkernels.BAD_LENGTH_CRC:
        return ValueError(f"{where}: the record at byte {at} fails its length's CRC32C check (the "
                          "file is corrupt, or not a TFRecord file)")
    if status == tfkernels.BAD_DATA_CRC:
        return ValueError(f"{where}: the record at byte {at} fails its data's CRC32C check (the "
                          "file is corrupt)")
    return ValueError(f"{where}: the file ends inside a record at byte {at} (truncated, or not a "
                      "TFRecord file)")


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
        get = partial(s3a_setting, options, bucket)
        endpoint = get("endpoint")
        http = endpoint.startswith("http://") or get("connection.ssl.enabled") == "false"
        s3 = pafs.S3FileSystem(
            **s3_credentials(options, bucket), region=get("endpoint.region") or get("region") or None,
            endpoint_override=endpoint.split("://", 1)[-1] or None,
            scheme="http" if http else "https",
            force_virtual_addressing=get("path.style.access", "false") != "true" and bool(endpoint))
        return s3, bucket + url.path
    try:
        fs, inner = pafs.FileSystem.from_uri(url.geturl())
    except Exception as e:     # pyarrow names the reason: an unknown scheme, no libhdfs, ...
        raise ValueError(f"pyarrow cannot reach {path}: {e}") from e
    return fs, inner


CREDENTIAL_STORES = "hadoop.security.credential.provider.path"


def s3a_setting(options: Mapping[str, str], bucket: str, key: str, default: str = "") -> str:
    """s3a's setting ``fs.s3a.<key>`` of ``bucket``: its per-bucket one first."""
    return options.get(f"fs.s3a.bucket.{bucket}.{key}", options.get(f"fs.s3a.{key}", default))


# s3a's credential providers (fs.s3a.aws.credentials.provider, tried in order) that pyarrow's S3
# client stands in for: by the keys in the settings, or by the AWS SDK's default chain, which
# looks where these look (environment, profile, web identity, container, instance role)
_KEYS = {"access_key": "access.key", "secret_key": "secret.key"}
_KEY_PROVIDERS = {"SimpleAWSCredentialsProvider": _KEYS,
                  "TemporaryAWSCredentialsProvider": {**_KEYS, "session_token": "session.token"}}
_SDK_CHAIN = {"EnvironmentVariableCredentialsProvider", "IAMInstanceCredentialsProvider",
              "InstanceProfileCredentialsProvider", "ContainerCredentialsProvider",
              "DefaultCredentialsProvider", "DefaultAWSCredentialsProviderChain",
              "ProfileCredentialsProvider", "WebIdentityTokenFileCredentialsProvider",
              "WebIdentityTokenCredentialsProvider"}
_S3A_DEFAULT = ("TemporaryAWSCredentialsProvider,SimpleAWSCredentialsProvider,"
                "EnvironmentVariableCredentialsProvider,IAMInstanceCredentialsProvider")


def s3_credentials(options: Mapping[str, str], bucket: str) -> dict[str, Any]:
    """The credentials arguments of ``pyarrow.fs.S3FileSystem`` for ``bucket`` under the Hadoop
    settings ``options`` (``fs.s3a.<key>``, per bucket first): the first of s3a's providers that
    has what it needs, as s3a picks one. Raises ValueError for a provider pyarrow cannot stand
    in for (an assumed role, a class of the user's own) and for keys that may be in a Hadoop
    credential store (JCEKS: Hadoop reads them before the settings; pyarrow cannot): the caller
    then writes through Hadoop."""
    get = partial(s3a_setting, options, bucket)
    stores = get("security.credential.provider.path") or options.get(CREDENTIAL_STORES, "")
    providers = get("aws.credentials.provider") or _S3A_DEFAULT
    for provider in filter(None, (p.strip() for p in providers.split(","))):
        name = provider.rsplit(".", 1)[-1]
        if name == "AnonymousAWSCredentialsProvider":
            return {"anonymous": True}
        if name in _KEY_PROVIDERS and stores:
            raise ValueError(f"pyarrow's S3 client cannot read the keys of {provider} from the "
                             f"Hadoop credential store {stores}")
        if name in _KEY_PROVIDERS:
            keys = {arg: get(key) for arg, key in _KEY_PROVIDERS[name].items()}
            if all(keys.values()):
                return keys
        elif name in _SDK_CHAIN:
            return {}
        else:
            raise ValueError(f"pyarrow's S3 client cannot use the s3a credentials provider "
                             f"{provider}")
    return {}


# -- the writer -----------------------------------------------------------------------------------
class Job:
    """One write of a folder of TFRecord files: made on the driver, which checks that the folder
    is new and makes its staging folder; the executors write the files (:func:`write_partition`)
    under the folder's ``_temporary/<job>`` (which readers skip: Spark and TensorFlow's
    ``part-*`` patterns); the driver then moves the files of the task attempts that succeeded
    into the folder and writes ``_SUCCESS`` (:meth:`commit`), or deletes the job's files
    (:meth:`abort`). Only the driver makes the staging folder: an attempt still running after
    the commit or the abort (speculation, a task killed late) finds it gone and writes nothing,
    so it can neither add a file to a committed folder nor bring back an aborted one (which
    would make a retry fail with PATH_ALREADY_EXISTS)."""

    def __init__(self, path: str, settings: Mapping[str, str],
                 specs: Sequence[tuple[str, str, bool]]) -> None:
        self.path, self.specs = path, [tuple(s) for s in specs]
        self.settings = {k: v for k, v in settings.items()
                         if k.startswith("fs.") or k == CREDENTIAL_STORES}
        self.job = uuid.uuid4().hex[:12]
        fs, folder = filesystem(self.path, self.settings)
        if fs.get_file_info(folder).type != _NOT_FOUND:
            raise FileExistsError(f"[PATH_ALREADY_EXISTS] {self.path} exists already")
        fs.create_dir(f"{folder}/{STAGING}/{self.job}", recursive=True)

    def run(self, df: DataFrame) -> None:
        """Write ``df`` (wire columns): a ``mapInArrow`` whose rows are the files each task
        wrote, which only a task that succeeded reports; nothing else reaches the driver."""
        task = partial(_write_task, self.path, self.settings, self.specs, self.job)
        try:
            self.commit([row[0] for row in df.mapInArrow(task, "file string").collect()])
        except BaseException:
            self.abort()
            raise

    def commit(self, files: Sequence[str]) -> None:
        """Move the staged ``files`` into the folder (in threads: on object stores a move is a
        copy), then drop ``_temporary/<job>`` with the other attempts' files: a failure there
        leaves the data committed (readers skip the staging folder), with a warning."""
        from concurrent.futures import ThreadPoolExecutor
        fs, folder = filesystem(self.path, self.settings)
        fs.create_dir(folder, recursive=True)
        with ThreadPoolExecutor(max(1, min(MOVERS, len(files)))) as pool:
            list(pool.map(lambda staged: fs.move(staged, f"{folder}/{staged.rsplit('/', 1)[-1]}"),
                          files))
        try:
            self._drop_staging(fs, folder)
        except OSError as e:        # e.g. a late attempt writing into it meanwhile
            log.warning("TFRecords of %s committed; their staging folder %s/%s/%s stays: %s",
                        self.path, folder, STAGING, self.job, e)
        with fs.open_output_stream(f"{folder}/_SUCCESS"):
            pass

    def abort(self) -> None:
        fs, folder = filesystem(self.path, self.settings)
        if fs.get_file_info(folder).type == _NOT_FOUND:
            return
        self._drop_staging(fs, folder)
        for info in fs.get_file_info(_selector(folder)):
            if self.job in info.base_name:          # moved by a commit that failed
                fs.delete_file(info.path)
        if not fs.get_file_info(_selector(folder)):
            fs.delete_dir(folder)

    def _drop_staging(self, fs: pafs.FileSystem, folder: str) -> None:
        staging = f"{folder}/{STAGING}"
        if fs.get_file_info(f"{staging}/{self.job}").type != _NOT_FOUND:
            fs.delete_dir(f"{staging}/{self.job}")
        if fs.get_file_info(staging).type != _NOT_FOUND and not fs.get_file_info(
                _selector(staging)):
            fs.delete_dir(staging)


STAGING = "_temporary"
MOVERS = 16              # files a commit moves at once
_NOT_FOUND = 0           # pyarrow.fs.FileType.NotFound


def _selector(folder: str) -> Any:
    import pyarrow.fs as pafs
    return pafs.FileSelector(folder, allow_not_found=True)


def _write_task(path: str, settings: Mapping[str, str], specs: Sequence[Any], job: str,
                batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa
    files = write_partition(path, settings, specs, job, batches)
    yield pa.RecordBatch.from_pydict({"file": pa.array(files, pa.string())})


def write_partition(path: str, settings: Mapping[str, str], specs: Sequence[Any], job: str,
                    batches: Iterator[pa.RecordBatch]) -> list[str]:
    """Encode, frame and write one partition's batches under the folder's staging folder of
    ``job``; the files written."""
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
                staging = f"{folder}/{STAGING}/{job}"
                if fs.get_file_info(staging).type == _NOT_FOUND:
                    raise FileNotFoundError(
                        f"{staging} is gone: the write of {path} was committed or aborted, so "
                        "this task attempt writes nothing more")
                files.append(f"{staging}/part-{task}-c{len(files):03d}.tfrecord")
                stream, written = fs.open_output_stream(files[-1]), 0
            data = encoded(batch, columns)
            stream.write(data)
            written += len(data)
    finally:
        if stream is not None:
            stream.close()
    return files


def encoded(batch: pa.RecordBatch, columns: Sequence[Column]) -> np.ndarray:
    """A batch's rows as framed TFRecords: compiled for scalar columns, numpy otherwise."""
    if tfkernels.enabled() and not any(c.is_list for c in columns):
        return encode_scalars(batch, columns)
    return framed(*example_pieces(batch, columns))


def write(df: DataFrame, path: str, specs: Sequence[tuple[str, str, bool]],
          options: Mapping[str, str]) -> bool:
    """Write ``df`` (wire columns) under the new folder ``path``; False when ``pyarrow.fs``
    cannot reach it (nothing written then)."""
    try:
        filesystem(path, options)
    except ValueError as e:
        log.warning("writing TFRecords to %s through PySpark's RDD API, far slower: %s", path, e)
        return False
    tfkernels.enabled()          # warns here, in the driver's log, when numba is missing
    Job(path, options, specs).run(df)
    return True


# -- the reader -----------------------------------------------------------------------------------
def read(spark: SparkSession, paths: Sequence[str], specs: Sequence[Any], schema: StructType,
         options: Mapping[str, str]) -> DataFrame:
    """The wire columns (``schema``) of the TFRecord files under ``paths``."""
    tfkernels.enabled()          # warns here, in the driver's log, when numba is missing
    files = (spark.read.format("binaryFile").options(**options).load(list(paths))
             .select("path", "content"))
    return files.mapInArrow(partial(_decode_files, specs, schema), schema)


def _decode_files(specs: Sequence[Any], schema: StructType,
                  batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    from .tfexample_decode import decode, padded
    arrow_schema = to_arrow_schema(schema)
    compiled = tfkernels.enabled()
    for batch in batches:
        paths, contents = batch.column(0), batch.column(1)
        for i in range(batch.num_rows):
            where = paths[i].as_py()
            if compiled:        # the file's bytes where Arrow holds them, not copied
                buf = _bytes_of(contents, i)
                starts, ends = records(buf, where)
            else:
                data = contents[i].as_py()
                starts, ends = records(data, where)
                buf = padded(data)          # the numpy decoder reads a little past a record
                del data
            for at in range(0, len(starts), BATCH_RECORDS):
                cut = slice(at, at + BATCH_RECORDS)
                arrays = decode(buf, starts[cut], ends[cut], specs, where)
                yield pa.RecordBatch.from_arrays(
                    [a.cast(f.type) for a, f in zip(arrays, arrow_schema)], schema=arrow_schema)


def _bytes_of(array: pa.Array, i: int) -> np.ndarray:
    """Value ``i`` of a binary Arrow array, as a numpy view of Arrow's buffer."""
    import pyarrow as pa
    wide = pa.types.is_large_binary(array.type)
    offsets = np.frombuffer(array.buffers()[1], np.int64 if wide else np.int32)
    start, end = offsets[array.offset + i], offsets[array.offset + i + 1]
    return np.frombuffer(array.buffers()[2], np.uint8)[start:end]
