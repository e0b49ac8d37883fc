"""``featurestore check``: does the metadata store agree with the Delta tables, the Spark catalog
and the online tables? Reads Delta logs and catalog entries only (no Spark job over the data;
``check-online`` compares an online table's rows with the offline ones).

Each disagreement is one line that says what differs and what to run. ``repair`` fixes what can
be fixed without judgement: it registers unregistered Delta commits (``offline.reconcile``) and
puts missing catalog entries back; the rest it reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from delta.tables import DeltaTable

from .errors import FeatureStoreError, InvalidInputError, OnlineStoreError
from .names import database_name, name_problem, quote, table_name
from . import paths
from .offline import checks
from .offline.delta import DELETING
from .offline.reconcile import reconcile, unregistered
from .online.schema import online_schema

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from .metadata import FeatureGroup, MetadataStore
    from .offline.delta import DeltaEngine
    from .online.sql import SqlOnlineBackend


@dataclass(frozen=True)
class Stores:
    """What a check reads: the four stores (and Spark, for Delta logs and the catalog)."""
    spark: SparkSession
    metadata: MetadataStore
    offline: DeltaEngine
    online: SqlOnlineBackend


@dataclass
class CheckReport:
    project: str
    groups: int = 0
    problems: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"project": self.project, "feature_groups": self.groups,
                "consistent": self.consistent, "problems": self.problems,
                "repaired": self.repaired}

    def text(self) -> str:
        head = (f"feature store {self.project}: {self.groups} feature group version(s), "
                + ("consistent" if self.consistent else f"{len(self.problems)} problem(s)"))
        lines = [head] + [f"  - {p}" for p in self.problems]
        lines += [f"  repaired: {r}" for r in self.repaired]
        return "\n".join(lines)


def check(store: Stores, project: str, repair: bool = False) -> CheckReport:
    """Compare every feature group version of ``project`` across the four stores."""
    if (problem := name_problem("project", project)):
        raise InvalidInputError("cannot check feature store", [problem], write=False)
    report = CheckReport(project)
    groups = store.metadata.list_feature_groups(project)
    report.groups = len(groups)
    for group in groups:
        if not group.external:         # read through its connector: no table, no commits
            _check_offline(store, group, repair, report)
            _check_catalog(store, group, repair, report)
        if group.online:
            _check_online(store, group, report)
    _check_strays(store, project, groups, report)
    return report


def _check_offline(store: Stores, group: FeatureGroup, repair: bool,
                   report: CheckReport) -> None:
    name = f"{group.name} v{group.version}"
    if paths.exists(store.spark, paths.join(group.location, DELETING)):
        report.problems.append(f"{name}: a delete was interrupted: run the delete again")
        return
    if not DeltaTable.isDeltaTable(store.spark, group.location):
        report.problems.append(f"{name}: no Delta table at {group.location}: its data is gone; "
                               f"delete the feature group")
        return
    commits = store.metadata.commits(group.project, group.name, group.version)
    latest = store.offline.latest_version(group)
    gone = [c.commit_id for c in commits if c.commit_id > latest]
    if gone:
        report.problems.append(f"{name}: commit(s) {', '.join(map(str, gone))} are registered "
                               f"but the Delta table's latest commit is {latest}")
    found = unregistered(store.offline, store.metadata, group)
    if repair and found:
        try:
            done = reconcile(store.offline, store.metadata, group)
        except FeatureStoreError as e:
            report.problems.append(f"{name}: {e}")
            return
        report.repaired += [f"{name}: registered Delta commit {c.commit_id} as {c.operation!r}"
                            for c in done]
        found = found[len(done):]
        group = store.metadata.get_feature_group(group.project, group.name, group.version)
    for u in found:
        state = " (in flight: its writer may be registering it now)" if u.in_flight else ""
        report.problems.append(f"{name}: Delta commit {u.commit.commit_id} is not registered: "
                               f"{u.origin}{state}; the next write registers it, or run "
                               "`featurestore check --repair`")
    schema, _ = checks.schema_problems(group, store.offline.read(group), evolve=False)
    report.problems += [f"{name}: the Delta table differs from the features: {p}" for p in schema
                        if not found]        # unregistered commits explain a new column already


def _check_catalog(store: Stores, group: FeatureGroup, repair: bool,
                   report: CheckReport) -> None:
    """A Hive metastore's entry of the group (an in-memory catalog holds a process's own
    entries, made as it uses a project: none is missing there)."""
    if store.spark.conf.get("spark.sql.catalogImplementation", "in-memory") != "hive":
        return
    db, table = database_name(group.project), table_name(group.name, group.version)
    if store.spark.catalog.tableExists(f"{db}.{table}"):
        return
    if repair:
        store.offline.register(group)
        report.repaired.append(f"{group.name} v{group.version}: catalog table {db}.{table} "
                               "created again")
    else:
        report.problems.append(f"{group.name} v{group.version}: no catalog table {db}.{table}: "
                               "run `featurestore check --repair`")


def _check_online(store: Stores, group: FeatureGroup, report: CheckReport) -> None:
    name = f"{group.name} v{group.version}"
    try:
        columns = store.online.columns_of(group.project,
                                                  table_name(group.name, group.version))
    except OnlineStoreError as e:
        report.problems.append(f"{name}: the online store cannot be read: {e}")
        return
    want = list(online_schema(group).names)
    if columns is None:
        report.problems.append(f"{name} is online but has no online table: run "
                               f"`featurestore sync-online {group.name} --full`")
    elif columns != want:
        report.problems.append(f"{name}: the online table's columns ({', '.join(columns)}) are "
                               f"not its features' ({', '.join(want)}): run `featurestore "
                               f"sync-online {group.name} --full`")


def _check_strays(store: Stores, project: str, groups: list[FeatureGroup],
                  report: CheckReport) -> None:
    """Folders of the project's warehouse, catalog tables and online tables that no registered
    feature group owns."""
    known = {table_name(g.name, g.version) for g in groups}
    db = database_name(project)
    folder = paths.join(store.offline.warehouse, f"{db}.db")
    owned = {g.location.rstrip("/") for g in groups}
    report.problems += [f"{paths.join(folder, child)} holds files no registered feature group "
                        "owns (left by a failed create, or made outside the feature store): "
                        "remove it" for child in paths.children(store.spark, folder)
                        if paths.join(folder, child) not in owned and not child.startswith((".", "_"))]
    if store.spark.catalog.databaseExists(db):
        # SHOW TABLES reads names only (catalog.listTables loads each table: one whose Delta
        # folder is gone would fail the whole check)
        report.problems += [f"catalog table {db}.{t.tableName} is no registered feature group"
                            for t in store.spark.sql(f"SHOW TABLES IN {quote(db)}").collect()
                            if t.tableName not in known and not t.isTemporary]
    online = {table_name(g.name, g.version) for g in groups if g.online}
    try:
        tables = store.online.tables(project)
    except OnlineStoreError as e:
        report.problems.append(f"the online store cannot be read: {e}")
        return
    report.problems += [f"online table {t} ({store.online.describe(project)}) is no "
                        "online feature group (a full sync that failed leaves its staging "
                        "table: the next full sync drops it)" for t in tables if t not in online]
