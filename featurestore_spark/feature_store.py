"""FeatureStore: the core object the builders and functions talk to.

It checks a request completely before writing, writes Delta first and registers the result in the
metadata store after, and undoes the Delta side when registering fails, so a failed write leaves
no half-registered version or commit behind.
"""

from __future__ import annotations

import getpass
import logging
from dataclasses import replace
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from .config import Settings, load_settings
from .dataframes import convert
from .errors import (CommitNotFound, ConcurrentWriteError,
                     FeatureGroupNotFound, InvalidInputError, SchemaMismatchError)
from .metadata import Commit, Feature, FeatureGroup, MetadataStore, open_metadata_store
from .names import database_name, name_problem, quote
from .offline import checks
from .offline.delta import CONFLICTS, DeltaEngine, WriteResult, qualified_name
from .session import get_spark
from .spec import CreateSpec, InsertSpec, ReadSpec, is_dataframe

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)


def _commit(result: WriteResult, operation: str) -> Commit:
    return Commit(result.version, result.committed_at, operation, result.rows_inserted,
                  result.rows_updated, result.rows_deleted, getpass.getuser())


def _utc(point: datetime | date | str) -> datetime:
    if isinstance(point, str):
        try:
            point = datetime.fromisoformat(point)
        except ValueError:
            raise InvalidInputError("time travel", [f"{point!r} is not an ISO-8601 timestamp"]) from None
    if not isinstance(point, datetime):
        point = datetime(point.year, point.month, point.day)
    return point.replace(tzinfo=timezone.utc) if point.tzinfo is None else point


class FeatureStore:
    """Feature groups of one or more projects, over one SparkSession and one metadata store.

    Examples
    --------
    >>> fs = FeatureStore.connect()                                   # doctest: +SKIP
    >>> fs.create(CreateSpec("teams", df, primary_key=("team_id",)))  # doctest: +SKIP
    """

    def __init__(self, spark: SparkSession, settings: Settings, metadata: MetadataStore) -> None:
        self.spark = spark
        self.settings = settings
        self.metadata = metadata
        self.offline = DeltaEngine(spark, settings.warehouse_path)
        self._registered: set[str] = set()

    @classmethod
    def connect(cls, settings: Settings | None = None, spark: SparkSession | None = None) -> FeatureStore:
        settings = settings or load_settings()
        store = cls(spark or get_spark(settings), settings, open_metadata_store(settings))
        store._register_project(settings.project)
        return store

    def _project(self, project: str | None) -> str:
        project = project or self.settings.project
        if (problem := name_problem("project", project)):
            raise InvalidInputError("cannot open feature store", [problem])
        self._register_project(project)
        return project

    def _register_project(self, project: str) -> None:
        """Make the project's feature groups readable by name in this session's catalog."""
        if project in self._registered:
            return
        self.offline.ensure_database(project)
        for group in self.metadata.list_feature_groups(project):
            self.offline.register(group)
        self._registered.add(project)

    # -- metadata ---------------------------------------------------------------------------------
    def feature_group(self, name: str, version: int | None = None,
                      project: str | None = None) -> FeatureGroup:
        """The metadata of a feature group version (the latest when ``version`` is None)."""
        return self.metadata.get_feature_group(self._project(project), name, version)

    def feature_groups(self, project: str | None = None) -> list[FeatureGroup]:
        return self.metadata.list_feature_groups(self._project(project))

    def latest_version(self, name: str, project: str | None = None) -> int:
        return self.feature_group(name, None, project).version

    def commits(self, name: str, version: int | None = None,
                project: str | None = None) -> list[Commit]:
        group = self.feature_group(name, version, project)
        return self.metadata.commits(group.project, group.name, group.version)

    # -- writes -----------------------------------------------------------------------------------
    def create(self, spec: CreateSpec) -> FeatureGroup:
        """Create a feature group version from ``spec.dataframe``; returns its metadata."""
        problems = spec.problems()
        project = spec.project or self.settings.project
        existing = [g.version for g in self.metadata.list_feature_groups(project)
                    if g.name == spec.name]
        if spec.version in existing:
            problems.append(f"feature group {spec.name} version {spec.version} exists already "
                            f"(latest is {max(existing)}): ask for version {max(existing) + 1} "
                            "to create a new one")
        df = spec.dataframe
        primary_key = spec.primary_key
        if is_dataframe(df):
            primary_key = primary_key or (df.columns[0],)
            problems += checks.column_problems(df, primary_key, spec.partition_by, spec.event_time)
        location = self.offline.location(project, spec.name, spec.version)
        if not problems and self._path_exists(location):   # data checks only on a sound request
            problems.append(f"{location} holds data that no registered feature group owns (left by "
                            "a failed write, or being created right now): remove it, or create "
                            "another version")
        if not problems:
            key_cols = list(primary_key) + ([spec.event_time] if spec.event_time else [])
            problems += checks.null_problems(df, key_cols, "key or event time")
        if problems:
            raise InvalidInputError(f"cannot create feature group {spec.name!r}", problems)
        descriptions = dict(spec.feature_descriptions)
        group = FeatureGroup(
            project=project, name=spec.name, version=spec.version, description=spec.description,
            features=tuple(Feature(f.name, f.dataType.simpleString(), descriptions.get(f.name, ""),
                                   f.name in primary_key, f.name in spec.partition_by)
                           for f in df.schema.fields),
            primary_key=tuple(primary_key), partition_by=tuple(spec.partition_by),
            event_time=spec.event_time, location=location,
            created_at=datetime.now(timezone.utc), creator=getpass.getuser())
        self._register_project(project)
        log.info("creating feature group %s version %d in %s", group.name, group.version,
                 database_name(project))
        try:
            result = self.offline.create(group, df)
            self.metadata.create_feature_group(group, _commit(result, "create"))
        except BaseException:
            self._undo_create(group)
            raise
        return group

    def _path_exists(self, location: str) -> bool:
        jvm = self.spark.sparkContext._jvm
        path = jvm.org.apache.hadoop.fs.Path(location)
        return path.getFileSystem(self.spark.sparkContext._jsc.hadoopConfiguration()).exists(path)

    def _undo_create(self, group: FeatureGroup) -> None:
        """Remove what a failed create left: the catalog entry and the files (the location was
        empty before, so they are this write's)."""
        log.warning("create of %s version %d failed: removing its table", group.name, group.version)
        try:
            self.offline.drop(group)
        except Exception:  # keep the original error; say what is left behind
            log.exception("could not remove %s after a failed create", group.location)

    def insert(self, spec: InsertSpec) -> Commit:
        """Append, overwrite or upsert ``spec.dataframe`` into a feature group; returns the commit."""
        problems = spec.problems()
        group: FeatureGroup | None = None
        project = spec.project or self.settings.project
        if not problems:
            try:
                group = self.metadata.get_feature_group(project, spec.name, spec.version)
            except FeatureGroupNotFound as e:
                problems.append(str(e))
        what = f"cannot {spec.mode} into feature group {spec.name!r}"
        if problems or group is None:
            raise InvalidInputError(what, problems)
        df = spec.dataframe
        schema, features = checks.schema_problems(group, df, spec.evolve_schema)
        key_cols = [c for c in group.primary_key + (group.event_time,) if c in df.columns]
        problems = checks.null_problems(df, key_cols, "key or event time")
        if schema:
            raise SchemaMismatchError(what, schema + problems)
        if spec.mode == "upsert" and not problems:
            if group.event_time:
                df, problems = checks.latest_per_key(df, group.primary_key, group.event_time)
            else:
                problems = checks.duplicate_key_problems(df, group.primary_key)
                if problems:
                    problems.append("without an event time an upsert needs one row per key")
        if problems:
            raise InvalidInputError(what, problems)
        self._register_project(project)
        evolved = group.with_features(features)
        before = self.offline.latest_version(group)
        result = self._write_with_retries(group, df, spec)
        try:
            commit = _commit(result, spec.mode)
            self.metadata.add_commit(evolved, commit)
        except BaseException:
            self._undo_commit(group, before, result.version)
            raise
        log.info("%s into %s v%d: commit %d (+%d ~%d -%d rows)", spec.mode, group.name,
                 group.version, commit.commit_id, commit.rows_inserted, commit.rows_updated,
                 commit.rows_deleted)
        return commit

    def _write_with_retries(self, group: FeatureGroup, df: DataFrame, spec: InsertSpec) -> WriteResult:
        retries = self.settings.offline.write_retries
        for attempt in range(retries + 1):
            try:
                return self.offline.write(group, df, spec.mode, spec.evolve_schema)
            except CONFLICTS as e:
                if attempt == retries:
                    raise ConcurrentWriteError(
                        f"{spec.mode} into {group.name} version {group.version} lost to a "
                        f"concurrent write {retries + 1} time(s) and was not applied; nothing of "
                        f"it was written. Retry it. ({type(e).__name__})") from e
                log.warning("%s into %s hit a concurrent commit (%s); retrying", spec.mode,
                            group.name, type(e).__name__)
        raise AssertionError("unreachable")

    def _undo_commit(self, group: FeatureGroup, before: int, version: int) -> None:
        """The metadata store did not record Delta commit ``version``: restore the table to
        ``before`` unless another writer has committed on top of it since."""
        try:
            if self.offline.latest_version(group) == version:
                log.warning("undoing Delta commit %d of %s: it could not be registered", version,
                            group.name)
                self.offline.restore(group, before)
            else:
                log.error("Delta commit %d of %s could not be registered and later commits exist: "
                          "it was left in place", version, group.name)
        except Exception:
            log.exception("could not undo Delta commit %d of %s", version, group.name)

    def delete(self, name: str, version: int, project: str | None = None) -> None:
        """Drop a feature group version: its table, its files and its metadata."""
        group = self.feature_group(name, version, project)
        self.offline.drop(group)
        self.metadata.delete_feature_group(group.project, group.name, group.version)

    # -- reads ------------------------------------------------------------------------------------
    def read(self, spec: ReadSpec) -> Any:
        """A feature group version's data: latest, or as of a commit or point in time."""
        problems = spec.problems()
        if problems:
            raise InvalidInputError(f"cannot read feature group {spec.name!r}", problems)
        group = self.feature_group(spec.name, spec.version, spec.project)
        commit = None if spec.as_of is None else self.commit_as_of(group, spec.as_of)
        df = self.offline.read(group, commit)
        if spec.features is not None:
            unknown = [f for f in spec.features if f not in group.feature_names]
            if unknown:
                raise InvalidInputError(f"cannot read feature group {spec.name!r}",
                                        [f"feature {f!r} is not in it" for f in unknown])
            df = df.select(*map(quote, spec.features))
        return convert(df, spec.dataframe_type)

    def commit_as_of(self, group: FeatureGroup, as_of: int | datetime | date | str) -> int:
        """The registered commit ``as_of`` names: that commit id, or the last one at or before
        that point in time (naive times are UTC)."""
        commits = self.metadata.commits(group.project, group.name, group.version)
        if isinstance(as_of, int):
            if any(c.commit_id == as_of for c in commits):
                return as_of
            raise CommitNotFound(f"{group.name} version {group.version} has no commit {as_of}; its "
                                 f"commits are {[c.commit_id for c in commits]}")
        point = _utc(as_of)
        earlier = [c for c in commits if c.committed_at <= point]
        if not earlier:
            raise CommitNotFound(f"{group.name} version {group.version} has no commit at or before "
                                 f"{point.isoformat()}; its first commit was at "
                                 f"{commits[0].committed_at.isoformat()}")
        return earlier[-1].commit_id

    def changes(self, name: str, start_commit: int, end_commit: int | None = None,
                version: int | None = None, project: str | None = None) -> DataFrame:
        """What the commits after ``start_commit`` up to ``end_commit`` (default: the latest)
        changed, from the Delta change data feed: the features plus ``_change_type``
        (insert, update_preimage, update_postimage, delete), ``_commit_version`` and
        ``_commit_timestamp``."""
        group = self.feature_group(name, version, project)
        ids = [c.commit_id for c in self.metadata.commits(group.project, group.name, group.version)]
        end = ids[-1] if end_commit is None else end_commit
        problems = [f"commit {c} is not a commit of {name} (its commits are {ids})"
                    for c in (start_commit, end) if c not in ids]
        if not problems and end <= start_commit:
            problems.append(f"end commit {end} must come after start commit {start_commit}")
        if problems:
            raise InvalidInputError(f"cannot read the changes of {name!r}", problems)
        return self.offline.changes(group, start_commit + 1, end)

    def feature(self, feature: str, featuregroup: str | None = None, version: int | None = None,
                project: str | None = None) -> DataFrame:
        """One feature's column, from ``featuregroup`` or the one feature group that has it."""
        if (p := name_problem("feature", feature)):
            raise InvalidInputError("cannot read feature", [p])
        if featuregroup is None:
            owners = [g for g in self.feature_groups(project) if feature in g.feature_names]
            latest = {g.name: g for g in owners}          # list is ordered by version
            if len(latest) != 1:
                where = sorted(latest) or "no feature group"
                raise FeatureGroupNotFound(f"feature {feature!r} is in {where}: name the feature "
                                           "group to read it from")
            group = next(iter(latest.values()))
            featuregroup, version = group.name, group.version
        return self.read(ReadSpec(featuregroup, project, version, features=(feature,)))

    def sql(self, query: str, project: str | None = None) -> DataFrame:
        """Run Spark SQL with the project's feature store database as the current database."""
        db = database_name(self._project(project))
        catalog = self.spark.catalog
        previous = catalog.currentDatabase()
        catalog.setCurrentDatabase(db)
        try:
            return self.spark.sql(query)   # analysed now, so table names resolve against db
        finally:
            catalog.setCurrentDatabase(previous)

    def table_name(self, name: str, version: int | None = None, project: str | None = None) -> str:
        """The catalog name to use with ``spark.table`` or SQL."""
        return qualified_name(self.feature_group(name, version, project)).replace("`", "")


_default: FeatureStore | None = None


def connect(settings: Settings | None = None, spark: SparkSession | None = None) -> FeatureStore:
    """Connect to the feature store the settings describe and make it the default one that
    ``Hops`` builders and ``featurestore`` functions use.

    Examples
    --------
    >>> import featurestore_spark as fs
    >>> store = fs.connect()          # doctest: +SKIP
    """
    global _default
    _default = FeatureStore.connect(settings, spark)
    return _default


def default_store() -> FeatureStore:
    """The store of the last ``connect()``, connecting with the settings on first use."""
    return _default if _default is not None else connect()
