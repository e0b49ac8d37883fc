"""Keeping online tables equal to the offline latest snapshot (one row per key, the latest by event
time), and checking that they are.

A **full** sync writes the snapshot into a staging table from the executors and swaps it in
atomically. An **incremental** sync reads the Delta change data feed since the last synced commit
to find the keys that changed, and rewrites exactly those keys from the snapshot (upserting the
ones still there, deleting the others); after registered commits that removed no row, of a
group without an event time, the change feed's last post-image of each key is its row, and no
snapshot is read. Both record the synced commit in the metadata only at the end: a sync that is
cut off is simply run again, and converges to the same table. A staging table
never outlives a failed full sync: it is dropped on every failure path.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, cast

from ..errors import InvalidInputError, OnlineStoreError
from ..metadata import FeatureGroup, MetadataStore
from ..names import quote, table_name
from ..offline import checks
from .schema import (STAGING, STAGING_OLD, KeyCheck, online_schema, schema_problems,
                     spark_decode, type_problems, wire_frame)
from .sql import SqlOnlineBackend

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row

    from ..offline.delta import DeltaEngine

log = logging.getLogger(__name__)
EXAMPLES = 10


@dataclass(frozen=True)
class SyncResult:
    name: str
    version: int
    mode: str                  # full, incremental or none (already in sync)
    from_commit: int | None    # the last commit synced before
    to_commit: int | None      # the commit the online table now reflects (None: external)
    rows_written: int          # rows sent (a full sync without event time: duplicates of a
    rows_deleted: int          # key count each, though the table keeps one)


@dataclass(frozen=True)
class ConsistencyReport:
    name: str
    version: int
    offline_commit: int | None  # None: an external group (its source now)
    online_commit: int | None
    offline_rows: int          # keys in the offline latest snapshot
    online_rows: int
    missing_online: int        # keys offline only
    extra_online: int          # keys online only
    different: int             # keys whose values differ
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return self.missing_online == self.extra_online == self.different == 0

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict
        return {**asdict(self), "consistent": self.consistent}


class OnlineSync:
    def __init__(self, backend: SqlOnlineBackend, offline: DeltaEngine, metadata: MetadataStore,
                 batch_size: int) -> None:
        self.backend, self.offline, self.metadata = backend, offline, metadata
        self.batch_size = batch_size

    def check_schema(self, group: FeatureGroup, what: str) -> None:
        problems = schema_problems([(f.name, f.type) for f in group.features], group.primary_key,
                                   group.project, table_name(group.name, group.version))
        if problems:
            raise InvalidInputError(what, problems)

    def create_table(self, group: FeatureGroup) -> None:
        self.backend.create_table(group.project, table_name(group.name, group.version),
                                  online_schema(group))

    def drop_table(self, group: FeatureGroup) -> None:
        self.backend.drop_table(group.project, table_name(group.name, group.version))

    def write(self, group: FeatureGroup, df: DataFrame, conditional: bool) -> int:
        """Upsert ``df`` (one row per key) into the online table: an online-only write."""
        return self.backend.write_frame(df, group.project, table_name(group.name, group.version),
                                        online_schema(group), conditional=conditional,
                                        batch_size=self.batch_size)

    def replace(self, group: FeatureGroup, df: DataFrame,
                check: Callable[[], None] | None = None) -> int:
        """Make the online table hold exactly ``df`` (one row per key): staging, then swap
        (``check``: called between the two; what it raises leaves the online table as it was)."""
        table = table_name(group.name, group.version)
        schema = online_schema(group)
        self.backend.create_table(group.project, table + STAGING, schema)
        try:
            rows = self.backend.write_frame(df, group.project, table + STAGING, schema,
                                            fresh=True, batch_size=self.batch_size)
            if check is not None:
                check()
            self.backend.replace(group.project, table + STAGING, table)
        except BaseException:
            self._drop_staging(group.project, table)
            raise
        return rows

    def _drop_staging(self, project: str, table: str) -> None:
        """Drop what a failed full sync of ``table`` left (its staging table, or the table a swap
        cut off moved aside); the online table itself is untouched. The failure is what gets
        raised: a staging table that cannot be dropped now is dropped by the next full sync."""
        for leftover in (table + STAGING, table + STAGING_OLD):
            try:
                self.backend.drop_table(project, leftover)
            except Exception as e:    # noqa: BLE001 - the server may be gone: keep the first error
                log.warning("could not drop the staging table %s of %s: %s", leftover,
                            self.backend.describe(project), e)

    def sync(self, group: FeatureGroup, full: bool = False) -> SyncResult:
        """Bring the online table to the latest registered commit; returns what was done. A group
        not online yet gets its table here and is marked online once it is filled (a sync that
        fails leaves it offline-only)."""
        if not group.online:
            group = replace(group, online=True, online_commit=None)
        self.check_schema(group, f"cannot sync feature group {group.name!r} online")
        registered = self.metadata.commits(group.project, group.name, group.version)
        commits = [c.commit_id for c in registered]
        target, last = commits[-1], group.online_commit
        table = table_name(group.name, group.version)
        columns = self.backend.columns_of(group.project, table)
        if columns != list(online_schema(group).names):
            full = True          # never synced, or the features changed (schema evolution)
        if not full and last == target:
            return SyncResult(group.name, group.version, "none", last, target, 0, 0)
        snapshot = self.offline.read(group, target)
        if full or last is None or last not in commits:
            log.info("full online sync of %s v%d at commit %d", group.name, group.version, target)
            # the keys are checked as the load reads them (no scan of their own); keys the
            # online table cannot hold stop the swap, or fail the load first (then a scan of
            # them says which)
            key_check = KeyCheck(snapshot, group.primary_key, nulls=True)
            observed = key_check.observe(snapshot)
            # without an event time any row of a key will do: the fresh load keeps one per key
            # (LOAD DATA LOCAL ignores duplicate keys; upserts keep the last), so skip the shuffle
            fresh = (checks.latest_per_key(observed, group.primary_key, group.event_time)
                     if group.event_time else observed)
            why = (f"cannot sync feature group {group.name!r} v{group.version} online: its "
                   "offline rows have keys an online table cannot hold")

            def check_keys() -> None:
                if problems := key_check.observed():
                    raise InvalidInputError(why, problems)
            try:
                written = self.replace(group, fresh, check_keys)
            except OnlineStoreError as e:
                if problems := key_check.problems(snapshot):
                    raise InvalidInputError(why, problems) from e
                raise
            deleted, mode = 0, "full"
        else:
            keys = list(group.primary_key)
            feed = self.offline.changes(group, last + 1, target)
            changed = feed.select(*map(quote, keys)).distinct()
            # appends and upserts that deleted no row (what a stream makes) remove no key
            # (every commit in between registered: one not registered yet may have removed rows)
            between = [c for c in registered if last < c.commit_id <= target]
            plain = (len(between) == target - last and
                     all(c.operation in ("append", "upsert") and not c.rows_deleted
                         for c in between))
            log.info("incremental online sync of %s v%d: commits %d..%d%s", group.name,
                     group.version, last + 1, target,
                     " (rows from the change feed)" if plain and not group.event_time else "")
            if plain and not group.event_time:
                rows = _last_changes(feed, keys, snapshot.columns)
            else:
                rows = checks.latest_per_key(snapshot.join(changed, keys, "left_semi"),
                                             group.primary_key, group.event_time)
            written = self.write(group, rows, conditional=False)
            deleted = 0
            if not plain:     # no job to look for keys gone after plain commits
                gone = changed.join(snapshot.select(*map(quote, keys)), keys, "left_anti")
                deleted = self.backend.write_frame(gone, group.project, table,
                                                   online_schema(group),
                                                   batch_size=self.batch_size, delete=True)
            mode = "incremental"
        self.metadata.set_online(group, True, target)
        return SyncResult(group.name, group.version, mode, last, target, written, deleted)

    def read(self, group: FeatureGroup) -> DataFrame:
        """The online table as a Spark DataFrame in the feature group's types."""
        problems = type_problems([(f.name, f.type) for f in group.features])
        if problems:         # made online before they were refused: Spark cannot decode them
            raise InvalidInputError(f"cannot read feature group {group.name!r} online", problems,
                                    write=False)
        spark = self.offline.spark
        raw = self.backend.read_frame(spark, group.project, table_name(group.name, group.version),
                                      online_schema(group))
        return spark_decode(raw, group)

    def check(self, group: FeatureGroup, rows: DataFrame | None = None) -> ConsistencyReport:
        """Compare the online table with the offline latest snapshot (or ``rows``: an external
        group's source now), key by key."""
        if not group.online:
            raise InvalidInputError(f"cannot check feature group {group.name!r}",
                                    [f"{group.name} v{group.version} is not online"], write=False)
        from pyspark.sql import functions as F
        commits = self.metadata.commits(group.project, group.name, group.version)
        schema = online_schema(group)
        keys = list(group.primary_key)
        latest = checks.latest_per_key(self.offline.read(group) if rows is None else rows,
                                       group.primary_key, group.event_time)
        offline = wire_frame(latest, schema.columns)
        online = wire_frame(self.read(group), schema.columns)
        values = [c.name for c in schema.values]
        joined = (offline.select(*keys, F.struct(*map(quote, values)).alias("off"),
                                 F.lit(True).alias("in_off"))
                  .join(online.select(*keys, F.struct(*map(quote, values)).alias("on"),
                                      F.lit(True).alias("in_on")), keys, "full_outer"))
        differs = [F.when(~F.col("off." + quote(v)).eqNullSafe(F.col("on." + quote(v))), F.lit(v))
                   for v in values]
        joined = joined.select(*keys, "in_off", "in_on",
                               F.array_compact(F.array(*differs)).alias("differs") if values
                               else F.array().cast("array<string>").alias("differs"))
        self.offline.spark.sparkContext.setJobDescription(
            f"featurestore: compare online and offline {group.name} v{group.version}")
        try:
            counts = cast("Row", joined.agg(   # a global aggregation: exactly one row
                F.count_if(F.col("in_off")).alias("off"), F.count_if(F.col("in_on")).alias("on"),
                F.count_if(F.col("in_on").isNull()).alias("missing"),
                F.count_if(F.col("in_off").isNull()).alias("extra"),
                F.count_if(F.col("in_off") & F.col("in_on") & (F.size("differs") > 0)).alias("diff"),
            ).first())
            bad = joined.where(F.col("in_off").isNull() | F.col("in_on").isNull()
                               | (F.size("differs") > 0)).limit(EXAMPLES).collect()
        finally:
            self.offline.spark.sparkContext.setJobDescription(None)  # type: ignore[arg-type]  # None clears it
        examples = [{"key": {k: r[k] for k in keys},
                     "problem": "missing online" if r["in_on"] is None else
                     "extra online" if r["in_off"] is None else
                     "different: " + ", ".join(r["differs"])} for r in bad]
        return ConsistencyReport(group.name, group.version,
                                 commits[-1].commit_id if commits else None,
                                 group.online_commit, counts["off"], counts["on"], counts["missing"],
                                 counts["extra"], counts["diff"], examples)


def _last_changes(feed: DataFrame, keys: list[str], columns: list[str]) -> DataFrame:
    """Per changed key, its row as the last commit left it: the post-image of its latest change.

    Only for commits that removed no row, of a group without an event time (any one row of a
    key is its row; with an event time an upsert may replace a newer row by an older one, so
    the latest row must come from the snapshot). No scan of the snapshot: the change feed alone
    holds these rows."""
    from pyspark.sql import functions as F
    written = feed.where(F.col("_change_type").isin("insert", "update_postimage"))
    return checks.last_per_key(written, keys, "_commit_version", columns)

