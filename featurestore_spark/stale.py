"""Feature groups whose declared dependencies changed after their last commit
(``featurestore stale``, ``Store.stale``): the first step toward backfills.

A dependency is what ``dependencies=[...]`` named at creation: a path (a Delta table, or files of
any format, on any Hadoop file system) or a catalog table. It changed at its Delta table's latest
commit, or else at the latest modification time of its files. A dependency that cannot be found is
reported as such (the feature group cannot be judged fresh)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from . import paths

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from .metadata import FeatureGroup, MetadataStore


@dataclass(frozen=True)
class DependencyState:
    """One dependency of one feature group version: when it last changed (None: not found), how
    that was told, and whether that is after the group's last commit."""
    name: str
    version: int
    last_commit: int
    last_commit_at: datetime
    dependency: str
    changed_at: datetime | None
    how: str
    stale: bool


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _is_path(dependency: str) -> bool:
    return "/" in dependency or ":" in dependency


def _table_location(spark: SparkSession, table: str) -> str | None:
    """A catalog table's location (DESCRIBE TABLE EXTENDED), None when there is no such table."""
    if not spark.catalog.tableExists(table):
        return None
    rows = spark.sql(f"DESCRIBE TABLE EXTENDED {table}").collect()     # metadata rows
    return next((r.data_type for r in rows if r.col_name == "Location"), None)


def last_change(spark: SparkSession, dependency: str) -> tuple[datetime | None, str]:
    """When ``dependency`` last changed, and how that was told."""
    from delta.tables import DeltaTable
    location = dependency if _is_path(dependency) else _table_location(spark, dependency)
    if location is None:
        return None, "no such table or path"
    if DeltaTable.isDeltaTable(spark, location):
        latest = (DeltaTable.forPath(spark, location).history(1)
                  .selectExpr("version", "unix_millis(timestamp) AS ms").first())
        if latest is not None:
            return _utc(latest.ms), f"Delta commit {latest.version}"
    ms = paths.modified(spark, location)
    if ms is None:
        return None, "no such table or path"
    return _utc(ms), "latest file modification"


def stale(spark: SparkSession, metadata: MetadataStore, project: str) -> list[DependencyState]:
    """Every dependency of every feature group version of ``project`` that declares some."""
    states = []
    groups: list[FeatureGroup] = [g for g in metadata.list_feature_groups(project)
                                  if g.dependencies and not g.external]   # external: always now
    seen: dict[str, tuple[datetime | None, str]] = {}
    for g in groups:
        last = metadata.commits(g.project, g.name, g.version)[-1]
        for d in g.dependencies:
            if d not in seen:
                seen[d] = last_change(spark, d)
            changed, how = seen[d]
            states.append(DependencyState(g.name, g.version, last.commit_id, last.committed_at, d,
                                          changed, how, changed is None or changed > last.committed_at))
    return states

