"""The offline store: feature group versions as external Delta tables in the Spark catalog.

Tables live at ``<warehouse>/<project>_featurestore.db/<name>_<version>`` and are registered in the
session catalog as ``<project>_featurestore.<name>_<version>``. The engine sees plain metadata
records, never builders, and never collects feature data to the driver.
"""

from __future__ import annotations

import logging
import threading
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterator, cast

from delta.exceptions import (ConcurrentAppendException, ConcurrentDeleteDeleteException,
                              ConcurrentDeleteReadException, ConcurrentTransactionException,
                              ConcurrentWriteException, DeltaConcurrentModificationException,
                              MetadataChangedException, ProtocolChangedException)
from delta.tables import DeltaTable

from .. import paths
from ..errors import FeatureStoreError
from ..metadata import FeatureGroup
from ..names import database_name, quote, table_name
from ..session import on_one_machine

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Row, SparkSession

log = logging.getLogger(__name__)

# Delta's commit conflicts: the write was not applied and may be retried.
CONFLICTS = (ConcurrentAppendException, ConcurrentDeleteDeleteException,
             ConcurrentDeleteReadException, ConcurrentTransactionException,
             ConcurrentWriteException, DeltaConcurrentModificationException,
             MetadataChangedException, ProtocolChangedException)

_USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"
# the commit tag and the transaction are session settings: writes of one process's threads (a
# stream's micro-batches run in a callback thread) take turns setting them
_WRITING = threading.RLock()
# Delta's idempotent writes: a (application, version) pair committed once per table
_TXN_APP, _TXN_VERSION = "spark.databricks.delta.write.txnAppId", "spark.databricks.delta.write.txnVersion"
DELETING = "_featurestore_deleting"  # a file in a feature group's folder: a delete under way
TAG = "featurestore_spark:"          # the userMetadata of every commit this package makes
RECENT = 50                          # commits searched for a write's own tag
_HISTORY = ("version", "unix_millis(timestamp) AS ms", "operation", "operationMetrics",
            "userMetadata", "userName")


@dataclass(frozen=True)
class WriteResult:
    """What one Delta commit did."""
    version: int
    committed_at: datetime
    rows_inserted: int
    rows_updated: int
    rows_deleted: int


@dataclass(frozen=True)
class DeltaCommit:
    """A commit of a table's Delta log, as its history tells it: ``mode`` is the write of this
    package that made it (``create``, ``append``, ``overwrite``, ``upsert``, ``undo``), None for a
    commit made outside the feature store; ``operation`` is Delta's (``WRITE``, ``DELETE``, ...)."""
    result: WriteResult
    operation: str
    mode: str | None
    user: str | None


def tag_mode(user_metadata: str | None) -> str | None:
    """The write mode of a commit tag ``featurestore_spark:<mode>:<id>`` (``?`` for the tags of
    older releases, ``featurestore_spark:<id>``); None for a commit without one of our tags."""
    if not user_metadata or not user_metadata.startswith(TAG):
        return None
    parts = user_metadata.split(":")
    return parts[1] if len(parts) == 3 else "?"


def _write_result(row: Any) -> WriteResult:
    """The rows a commit of Delta's history inserted, updated and deleted (its metrics)."""
    m = {k: int(v) for k, v in (row.operationMetrics or {}).items() if v.isdigit()}
    if row.operation == "MERGE":
        ins, upd, dele = (m.get("numTargetRowsInserted", 0), m.get("numTargetRowsUpdated", 0),
                          m.get("numTargetRowsDeleted", 0))
    elif row.operation in ("DELETE", "UPDATE"):
        ins, upd, dele = 0, m.get("numUpdatedRows", 0), m.get("numDeletedRows", 0)
    else:
        ins, upd, dele = m.get("numOutputRows", 0), 0, 0
    at = datetime.fromtimestamp(row.ms / 1000, tz=timezone.utc)
    return WriteResult(row.version, at, ins, upd, dele)


def qualified_name(group: FeatureGroup) -> str:
    """The quoted catalog name of a feature group version's table."""
    return f"{quote(database_name(group.project))}.{quote(table_name(group.name, group.version))}"


class DeltaEngine:
    def __init__(self, spark: SparkSession, warehouse: str) -> None:
        self.spark = spark
        self.warehouse = warehouse      # a local folder or any Hadoop URI (s3a://, hdfs://, ...)

    # -- catalog ----------------------------------------------------------------------------------
    def location(self, project: str, name: str, version: int) -> str:
        return paths.join(paths.join(self.warehouse, f"{database_name(project)}.db"),
                          table_name(name, version))

    def ensure_database(self, project: str) -> None:
        db = database_name(project)
        folder = paths.join(self.warehouse, f"{db}.db")
        path = folder.replace("'", "\\'")
        with paths.storage_errors(self.spark, folder, f"cannot open feature store {project}",
                                  "Set the warehouse ([offline] warehouse, or "
                                  "FEATURESTORE_OFFLINE_WAREHOUSE) to a folder that can be "
                                  "written, or fix that one."):
            self.spark.sql(f"CREATE DATABASE IF NOT EXISTS {quote(db)} LOCATION '{path}'")

    def register(self, group: FeatureGroup) -> None:
        """Make the table readable by name in this session (idempotent)."""
        self.ensure_database(group.project)
        path = group.location.replace("'", "\\'")
        self.spark.sql(f"CREATE TABLE IF NOT EXISTS {qualified_name(group)} USING delta "
                       f"LOCATION '{path}'")

    def drop(self, group: FeatureGroup, last: str | None = None) -> None:
        """Remove the table from the catalog and delete its files (``last``: the file of that
        name after all the others, see ``paths.delete``)."""
        self.spark.sql(f"DROP TABLE IF EXISTS {qualified_name(group)}")
        with paths.storage_errors(self.spark, group.location,
                                  f"cannot delete the files of {group.name} v{group.version}"):
            paths.delete(self.spark, group.location, last)

    # -- writes -----------------------------------------------------------------------------------
    @contextmanager
    def _tagged(self, description: str, mode: str, txn: tuple[str, int] | None = None,
                df: DataFrame | None = None) -> Iterator[str]:
        """Tag the next Delta commit with its mode and a unique id (to find it in the history
        among concurrent writers' commits, and to tell our commits from others later: see
        ``commits_after``) and name the Spark jobs for the UI.

        With ``txn`` (an application id and a version: a stream and its micro-batch), the write
        is idempotent: Delta skips it when that application committed that version (or a later
        one) to the table already, and the id is the transaction's, so that the commit of the
        first attempt is found again (``_result``). The settings go to the session of ``df`` too
        when it has another one (a streaming micro-batch's: its writer commits in that one)."""
        tag = f"{TAG}{mode}:{uuid.uuid4() if txn is None else f'{txn[0]}-{txn[1]}'}"
        sc = self.spark.sparkContext
        settings = {_USER_METADATA: tag, **({_TXN_APP: txn[0], _TXN_VERSION: str(txn[1])}
                                           if txn is not None else {})}
        sessions = [self.spark] + ([df.sparkSession] if df is not None
                                   and df.sparkSession is not self.spark else [])
        with _WRITING:          # session-wide settings: one tagged write at a time per process
            for session in sessions:
                for key, value in settings.items():
                    session.conf.set(key, value)
            sc.setJobDescription(description)
            try:
                yield tag
            finally:
                for session in sessions:
                    for key in settings:
                        session.conf.unset(key)
                sc.setJobDescription(None)  # type: ignore[arg-type]

    def _tagged_commit(self, group: FeatureGroup, tag: str, everywhere: bool) -> WriteResult | None:
        """The commit tagged ``tag`` among the table's last RECENT (``everywhere``: then in its
        whole history: a stream's batch replayed after many other commits); None if none."""
        table = DeltaTable.forPath(self.spark, group.location)
        for limit in (RECENT, None) if everywhere else (RECENT,):   # history() reads it at once
            history = table.history() if limit is None else table.history(limit)
            found = history.where(f"userMetadata = '{tag}'").selectExpr(*_HISTORY).collect()
            if found:
                return _write_result(found[0])
        return None

    def _result(self, group: FeatureGroup, tag: str, everywhere: bool = False) -> WriteResult:
        """The commit of a write just made (``_tagged_commit``), or a clear error."""
        result = self._tagged_commit(group, tag, everywhere)
        if result is None:
            hint = ""
            if (not on_one_machine(cast(str, self.spark.sparkContext.master))   # set once it runs
                    and group.location.startswith(("/", "file:"))):
                hint = (f"; the table is on a local path ({group.location}) and the master is "
                        f"{self.spark.sparkContext.master}: executors on other machines wrote "
                        "their files to their own disks. Put the warehouse on a file system "
                        "every worker shares (hdfs://, s3a://, abfss://)")
            raise FeatureStoreError(f"the Delta commit of {group.name} version {group.version} was "
                                    f"not found in the table's last {RECENT} commits{hint}")
        return result

    def txn_commit(self, group: FeatureGroup, mode: str, txn: tuple[str, int],
                   everywhere: bool = False) -> WriteResult | None:
        """The commit a write with ``txn`` made already (see ``_tagged``), among the table's last
        RECENT (``everywhere``: then in its whole history); None when there is none."""
        return self._tagged_commit(group, f"{TAG}{mode}:{txn[0]}-{txn[1]}", everywhere)

    def commits_after(self, group: FeatureGroup, version: int) -> list[DeltaCommit]:
        """The commits of the table's Delta log after ``version``, oldest first."""
        from pyspark.errors import AnalysisException
        try:
            table = DeltaTable.forPath(self.spark, group.location)
        except AnalysisException:
            raise FeatureStoreError(f"{group.name} v{group.version} has no Delta table at "
                                    f"{group.location}: its data is gone (delete the feature "
                                    "group, or put the table back there)") from None
        latest = cast("Row", table.history(1).first()).version   # a table has a first commit
        if latest <= version:
            return []
        count = latest - version
        while True:             # commits landing meanwhile push the oldest wanted out: widen
            rows = table.history(count).selectExpr(*_HISTORY).collect()
            oldest = min(r.version for r in rows)
            if oldest <= version + 1 or len(rows) < count:
                break
            count += oldest - version - 1
        return sorted((DeltaCommit(_write_result(r), r.operation, tag_mode(r.userMetadata),
                                   r.userName) for r in rows if r.version > version),
                      key=lambda c: c.result.version)

    def create(self, group: FeatureGroup, df: DataFrame) -> WriteResult:
        """Create the table with ``df`` as its first commit (fails if the path holds a table)."""
        self.ensure_database(group.project)
        writer = (df.select(*map(quote, group.feature_names)).write.format("delta")
                  .mode("errorifexists").option("path", group.location)
                  .option("delta.enableChangeDataFeed", "true"))
        if group.partition_by:
            writer = writer.partitionBy(*group.partition_by)
        with self._tagged(f"featurestore: create {group.name} v{group.version}",
                          "create") as tag, \
                paths.storage_errors(self.spark, group.location,
                                     f"cannot create {group.name} v{group.version}"):
            writer.saveAsTable(qualified_name(group))
        return self._result(group, tag)

    def write(self, group: FeatureGroup, df: DataFrame, mode: str, evolve: bool,
              txn: tuple[str, int] | None = None) -> WriteResult:
        """Append, overwrite or upsert (MERGE on the primary key) ``df``, already validated and
        with one row per key for an upsert; with ``txn`` once only (see ``_tagged``): a repeated
        write returns the first one's commit."""
        cols = list(group.feature_names) + [c for c in df.columns if c not in group.feature_names]
        df = df.select(*map(quote, cols))
        with self._tagged(f"featurestore: {mode} into {group.name} v{group.version}",
                          mode, txn, df) as tag, \
                paths.storage_errors(self.spark, group.location,
                                     f"cannot {mode} into {group.name} v{group.version}"):
            if mode == "upsert":
                merge = self._upsert(group, df, cols, newer_only=txn is not None)
                if evolve:
                    merge = merge.withSchemaEvolution()
                merge.execute()
            else:
                deleted = self.read(group).count() if mode == "overwrite" else 0
                (df.write.format("delta").mode(mode).option("mergeSchema", str(evolve).lower())
                 .save(group.location))
        result = self._result(group, tag, everywhere=txn is not None)
        if mode == "overwrite":
            result = WriteResult(result.version, result.committed_at, result.rows_inserted, 0,
                                 deleted)
        return result

    def _upsert(self, group: FeatureGroup, df: DataFrame, cols: list[str],
                newer_only: bool = False) -> Any:
        """The MERGE of an upsert: each key of ``df`` ends with its one row of ``df``.

        With an event time the table may hold several rows of a key (appends keep a history):
        the latest stored row of the key is updated and the others are deleted, so that the key
        is not left with copies of one row at one event time (a tie). ``__fs_keep``, the latest
        stored event time of each key of ``df``, picks that row. ``newer_only`` (a stream's
        micro-batch): a row older than the key's latest stored one changes nothing (a late
        event never replaces a newer one; an equal event time, an updated window, does)."""
        table = DeltaTable.forPath(self.spark, group.location)
        on = " AND ".join(f"t.{quote(k)} <=> s.{quote(k)}" for k in group.primary_key)
        if not group.event_time:
            return (table.alias("t").merge(df.alias("s"), on).whenMatchedUpdateAll()
                    .whenNotMatchedInsertAll())
        from pyspark.sql import functions as F
        keys, ts = list(group.primary_key), quote(group.event_time)
        stored = self.read(group).join(df.select(*map(quote, keys)), keys, "left_semi")
        latest = stored.groupBy(*map(quote, keys)).agg(F.max(ts).alias("__fs_keep"))
        source = df.join(latest, keys, "left")
        values: dict[str, str | Column] = {quote(c): f"s.{quote(c)}" for c in cols}
        newer = f" AND (s.__fs_keep IS NULL OR s.{ts} >= s.__fs_keep)" if newer_only else ""
        return (table.alias("t").merge(source.alias("s"), on)
                .whenMatchedUpdate(condition=f"t.{ts} <=> s.__fs_keep{newer}", set=values)
                .whenMatchedDelete(condition=newer[5:] or None)
                .whenNotMatchedInsert(values=values))

    def append_to(self, location: str, df: DataFrame, txn: tuple[str, int],
                  description: str) -> None:
        """Append ``df`` to the Delta table at ``location`` (made by the first append), once per
        ``txn`` (a stream's dead-letter rows of a micro-batch: see ``_tagged``)."""
        with self._tagged(f"featurestore: {description}", "dead_letter", txn, df), \
                paths.storage_errors(self.spark, location, f"cannot write {description}"):
            df.write.format("delta").mode("append").save(location)

    def restore(self, group: FeatureGroup, version: int) -> None:
        """Put the table back to ``version`` (undo a commit the metadata store did not record);
        the RESTORE commit is tagged ``undo``."""
        with self._tagged(f"featurestore: undo a write into {group.name} v{group.version}",
                          "undo"):
            DeltaTable.forPath(self.spark, group.location).restoreToVersion(version)

    def latest_version(self, group: FeatureGroup) -> int:
        # a table has a first commit
        return cast("Row", DeltaTable.forPath(self.spark, group.location).history(1).first()).version

    # -- reads ------------------------------------------------------------------------------------
    def read(self, group: FeatureGroup, version: int | None = None) -> DataFrame:
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(group.location)

    def size(self, group: FeatureGroup) -> int:
        """The bytes of the latest version's files (DESCRIBE DETAIL: the log, no Spark job)."""
        return int(cast("Row", DeltaTable.forPath(self.spark, group.location).detail()
                        .select("sizeInBytes").first())[0] or 0)

    def changes(self, group: FeatureGroup, start: int, end: int) -> DataFrame:
        """The change data feed of commits ``start`` to ``end`` (both included)."""
        return (self.spark.read.format("delta").option("readChangeFeed", "true")
                .option("startingVersion", start).option("endingVersion", end)
                .load(group.location))
