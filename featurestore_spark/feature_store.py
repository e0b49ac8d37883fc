"""FeatureStore: the core object the builders and functions talk to.

It checks a request completely before writing, writes Delta first and registers the result in the
metadata store after, and undoes the Delta side when registering fails, so a failed write leaves
no half-registered version or commit behind.
"""

from __future__ import annotations

import getpass
import logging
import time
from dataclasses import replace
from functools import cached_property
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any, cast

from . import handles, paths
from .config import Settings, load_settings
from .consistency import CheckReport, Stores, check as check_store
from .dataframes import as_spark, convert
from .errors import (CommitNotFound, ConcurrentWriteError, FeatureGroupNotFound,
                     IncompleteDeleteError, InvalidInputError, MetadataStoreError,
                     OnlineStoreError, SchemaMismatchError)
from .logs import quiet_libraries
from .metadata import Commit, Feature, FeatureGroup, MetadataStore, open_metadata_store
from .names import database_name, name_problem, quote, table_name
from .offline import checks
from .offline.delta import CONFLICTS, DELETING, DeltaEngine, WriteResult, qualified_name
from .offline.reconcile import reconcile
from .online import open_online_backend
from .online.sql import SqlOnlineBackend
from .online.schema import key_value_problems as online_key_problems
from .online.schema import schema_problems as online_problems
from .online.serving import ConnectionPool, FeatureVectorServer, check_missing, plan
from .online.sync import ConsistencyReport, OnlineSync, SyncResult
from .quality import Quality
from .query import Query
from .query.statement import run_read_only
from .session import check_cluster, get_spark
from .statistics.config import config_problems
from .spec import CreateSpec, InsertSpec, ReadSpec, is_dataframe
from .training import TrainingDatasets

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
            raise InvalidInputError("time travel", [f"{point!r} is not an ISO-8601 timestamp"],
                                    write=False) from None
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

    def __init__(self, spark: SparkSession | None, settings: Settings,
                 metadata: MetadataStore) -> None:
        self._spark = spark          # None: started by the first call that needs it
        self.settings = settings
        self.metadata = metadata
        self._registered: set[str] = set()
        self._projects = {settings.project}      # registered in the catalog once Spark runs
        self._pools: dict[str, ConnectionPool] = {}
        # each plan with the metadata generation it was checked against, and when
        self._servers: dict[tuple, tuple[int, FeatureVectorServer, float]] = {}

    @property
    def spark(self) -> SparkSession:
        """The SparkSession, started (with the settings' cluster check) on first use by a store
        connected with ``spark=False``: serving never needs it."""
        if self._spark is None:
            self._use(get_spark(self.settings))
        assert self._spark is not None
        return self._spark

    def _use(self, spark: SparkSession) -> None:
        check_cluster(self.settings, spark)
        self._spark = spark
        for project in sorted(self._projects):
            self._register_project(project)

    @property
    def spark_started(self) -> bool:
        return self._spark is not None

    @cached_property
    def offline(self) -> DeltaEngine:
        return DeltaEngine(self.spark, self.settings.warehouse)

    @cached_property
    def quality(self) -> Quality:
        """Statistics and validation: settings, suites, reports, statistics per commit."""
        return Quality(self)

    @cached_property
    def online_backend(self) -> SqlOnlineBackend:
        """The online store's backend (opened on first use: a store that never goes online never
        connects to one); lookups need nothing else."""
        return open_online_backend(self.settings)

    @cached_property
    def online(self) -> OnlineSync:
        """Writes to and syncs of the online store (they need Spark)."""
        return OnlineSync(self.online_backend, self.offline, self.metadata,
                          self.settings.online.batch_size)

    @classmethod
    def connect(cls, settings: Settings | None = None,
                spark: SparkSession | bool | None = None) -> FeatureStore:
        """A store of ``settings`` (default: ``load_settings()``) over ``spark`` (None: the active
        session or a new one, started now; False: started later, by the first call that needs
        it, so that a model server reading feature vectors runs no JVM)."""
        quiet_libraries()    # their loggers at WARNING, or all at FEATURESTORE_LOG_LEVEL
        settings = settings or load_settings()
        store = cls(None, settings, open_metadata_store(settings))
        if spark is None or spark is True:
            store._use(get_spark(settings))
        elif spark is not False:
            store._use(spark)
        return store

    def _project(self, project: str | None) -> str:
        project = project or self.settings.project
        if (problem := name_problem("project", project)):
            raise InvalidInputError("cannot open feature store", [problem], write=False)
        self._projects.add(project)
        if self._spark is not None:
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
        if (problem := name_problem("feature group", name)):
            raise InvalidInputError(f"cannot find feature group {name!r}", [problem], write=False)
        return self.metadata.get_feature_group(self._project(project), name, version)

    def feature_groups(self, project: str | None = None) -> list[FeatureGroup]:
        return self.metadata.list_feature_groups(self._project(project))

    def latest_version(self, name: str, project: str | None = None) -> int:
        return self.feature_group(name, None, project).version

    def commits(self, name: str, version: int | None = None,
                project: str | None = None) -> list[Commit]:
        group = self.feature_group(name, version, project)
        return self.metadata.commits(group.project, group.name, group.version)

    # -- handles (hsfs vocabulary: featurestore_spark.handles) ------------------------------------
    def get_or_create_feature_group(self, name: str, version: int | None = None,
                                    project: str | None = None, **settings: Any) -> handles.FeatureGroup:
        """The handle of feature group ``name`` (the latest version when ``version`` is None), or
        of a new one (version 1 by default) that its first ``insert`` creates with ``settings``:
        description, primary_key, event_time, partition_key, online_enabled, statistics_config,
        expectation_suite, validation_ingestion_policy.

        Examples
        --------
        >>> fg = store.get_or_create_feature_group("teams", primary_key=["team_id"])  # doctest: +SKIP
        >>> fg.insert(df)                                                            # doctest: +SKIP
        """
        return handles.get_or_create(self, name, version, project, **settings)

    def create_feature_group(self, name: str, version: int | None = None,
                             project: str | None = None, **settings: Any) -> handles.FeatureGroup:
        """A handle of a new feature group version (the next one when ``version`` is None) that
        its first ``insert`` or ``save`` creates; settings as ``get_or_create_feature_group``."""
        return handles.new_feature_group(self, name, version, project, **settings)

    def get_feature_group(self, name: str, version: int | None = None,
                          project: str | None = None) -> handles.FeatureGroup:
        """The handle of a registered version (the latest when ``version`` is None)."""
        return handles.feature_group(self, name, version, project)

    def get_feature_groups(self, name: str, project: str | None = None) -> list[handles.FeatureGroup]:
        """Handles of every version of ``name``, oldest first."""
        return handles.feature_groups(self, name, project)

    # -- writes -----------------------------------------------------------------------------------
    def create(self, spec: CreateSpec) -> FeatureGroup:
        """Create a feature group version from ``spec.dataframe`` (a Spark DataFrame, or a pandas
        one converted on the driver: ``dataframes.as_spark``); returns its metadata."""
        spec = replace(spec, dataframe=as_spark(self.spark, spec.dataframe,
                                                f"cannot create feature group {spec.name!r}"))
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
        suite = None
        if is_dataframe(df):
            primary_key = primary_key or (df.columns[0],)
            problems += checks.column_problems(df, primary_key, spec.partition_by, spec.event_time)
            problems += config_problems(spec.statistics, df.schema)
            suite, suite_problems = self.quality.suite_problems(
                spec.expectation_suite, spec.validation_policy, df.columns)
            problems += suite_problems
            if spec.online:
                problems += online_problems([(f.name, f.dataType.simpleString())
                                             for f in df.schema.fields], primary_key, project,
                                            table_name(spec.name, spec.version))
        location = self.offline.location(project, spec.name, spec.version)
        if not problems and self._path_exists(location):   # data checks only on a sound request
            problems.append(f"{location} holds data that no registered feature group owns (left by "
                            "a failed write, or being created right now): remove it, or create "
                            "another version")
        if not problems:    # a sound request (so spec.problems() found a DataFrame): the data
            assert df is not None
            key_cols = list(primary_key) + ([spec.event_time] if spec.event_time else [])
            problems += checks.null_problems(df, key_cols, "key or event time")
            if not problems and spec.event_time:    # one rule on every write: see checks.TIES
                problems += checks.event_time_ties(df, primary_key, spec.event_time)
            if not problems and spec.online:   # keys too long, NaN: before anything is written
                problems += online_key_problems(df, primary_key)
            if not problems and not spec.offline:
                df, problems = self._one_row_per_key(df, primary_key, spec.event_time)
        what = f"cannot create feature group {spec.name!r}"
        if problems:
            raise InvalidInputError(what, problems)
        assert df is not None
        report = self.quality.validate(df, suite if spec.validate else None, spec.validation_policy,
                                       what,
                                       job=f"validation of {spec.name} v{spec.version}")
        descriptions = dict(spec.feature_descriptions)
        group = FeatureGroup(
            project=project, name=spec.name, version=spec.version, description=spec.description,
            features=tuple(Feature(f.name, f.dataType.simpleString(), descriptions.get(f.name, ""),
                                   f.name in primary_key, f.name in spec.partition_by)
                           for f in df.schema.fields),
            primary_key=tuple(primary_key), partition_by=tuple(spec.partition_by),
            event_time=spec.event_time, location=location,
            created_at=datetime.now(timezone.utc), creator=getpass.getuser(), online=spec.online)
        self._register_project(project)
        log.info("creating feature group %s version %d in %s%s", group.name, group.version,
                 database_name(project), " and online" if spec.online else "")
        registered = False
        try:
            if spec.online:
                self.online.create_table(group)      # the online store is reachable: go on
            result = self.offline.create(group, df if spec.offline else df.limit(0))
            documents = [self.quality.settings_document(group, spec.statistics)]
            if suite is not None:
                documents.append(self.quality.suite_document(group, suite, spec.validation_policy))
            if report is not None:
                documents.append(self.quality.report_document(group, result.version, report, 1))
            self.metadata.create_feature_group(group, _commit(result, "create"), documents)
            registered = True
            if spec.online and spec.offline:
                self.online.sync(group, full=True)
            elif spec.online:
                self.online.write(group, df, conditional=False)
                self.metadata.set_online(group, True, result.version)
        except BaseException:
            self._undo_create(group, registered)
            raise
        created = self.metadata.get_feature_group(project, group.name, group.version)
        self._servers.clear()                 # plans of this process see it at once
        if spec.offline:
            self.quality.after_commit(created, result.version, spec.statistics)
        return created

    @staticmethod
    def _one_row_per_key(df: DataFrame, primary_key: tuple[str, ...] | list[str],
                         event_time: str | None) -> tuple[DataFrame, list[str]]:
        """``df`` with the latest row per key by event time (rows sharing a key and an event
        time refused before: ``checks.event_time_ties``); without one, the duplicate keys."""
        if event_time:
            return checks.latest_per_key(df, tuple(primary_key), event_time), []
        problems = checks.duplicate_key_problems(df, tuple(primary_key))
        if problems:
            problems.append("without an event time a write of this kind needs one row per key")
        return df, problems

    def _path_exists(self, location: str) -> bool:
        return paths.exists(self.spark, location)

    def _undo_create(self, group: FeatureGroup, registered: bool = False) -> None:
        """Remove what a failed create left: the registration, the catalog entry and the files
        (the location was empty before, so they are this write's), and the online table."""
        log.warning("create of %s version %d failed: removing its table", group.name, group.version)
        steps = [("files", lambda: self.offline.drop(group))]
        if registered:
            steps.append(("registration", lambda: self.metadata.delete_feature_group(
                group.project, group.name, group.version)))
        if group.online:
            steps.append(("online table", lambda: self.online.drop_table(group)))
        for what, step in steps:
            try:
                step()
            except Exception:  # keep the original error; say what is left behind
                log.exception("could not remove the %s of %s v%d after a failed create", what,
                              group.name, group.version)

    def insert(self, spec: InsertSpec) -> Commit | None:
        """Append, overwrite or upsert ``spec.dataframe`` into a feature group; returns the commit,
        or None when no offline commit was made: an online-only write, or an empty DataFrame
        appended or upserted (a no-op, logged at INFO: no Delta commit, no metadata change, the
        online table untouched). An empty overwrite is a commit: it empties the feature group.

        Rows of a feature group with an event time that share a primary key and an event time,
        in the DataFrame or (appended) with a stored row, are refused on every write
        (``checks.TIES``). A pandas DataFrame is converted on the driver (``dataframes.as_spark``)."""
        spec = replace(spec, dataframe=as_spark(self.spark, spec.dataframe,
                                                f"cannot {spec.mode} into feature group "
                                                f"{spec.name!r}"))
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
        if spec.offline and reconcile(self.offline, self.metadata, group):   # see its module
            group = self.metadata.get_feature_group(project, group.name, group.version)
        online = (group.online or not spec.offline) if spec.online is None else spec.online
        df = spec.dataframe
        assert df is not None      # spec.problems() found a DataFrame: it raised above otherwise
        schema, features = checks.schema_problems(group, df, spec.evolve_schema)
        # (an event time of None is no column)
        key_cols = cast("list[str]", [c for c in group.primary_key + (group.event_time,)
                                      if c in df.columns])
        rows, problems = checks.rows_and_null_problems(df, key_cols, "key or event time")
        if online and not group.online:
            problems.append(f"feature group {group.name} v{group.version} is not online: create "
                            "it with online=True, or sync it online first")
        if online:
            problems += online_problems([(f.name, f.type) for f in features], group.primary_key,
                                        project, table_name(group.name, group.version))
        if not spec.offline and len(features) != len(group.features):
            problems.append("new features need an offline write (schema evolution changes the "
                            "offline feature group first)")
        if schema:
            raise SchemaMismatchError(what, schema + problems)
        if (online or group.online) and not problems:   # also what a later sync will write
            problems += online_key_problems(df, group.primary_key)
        if spec.statistics is not None:
            problems += config_problems(spec.statistics, df.schema)
        if not problems and not rows and spec.mode != "overwrite":
            log.info("%s into %s v%d%s: the DataFrame is empty, nothing was written (no commit)",
                     spec.mode, group.name, group.version, "" if spec.offline else " online")
            return None
        if not problems and group.event_time:   # one rule on every write: see checks.TIES
            problems += checks.event_time_ties(df, group.primary_key, group.event_time)
            if not problems and spec.offline and spec.mode == "append":
                problems += checks.stored_event_problems(
                    df, self.offline.read(group), group.primary_key, group.event_time,
                    f"{group.name} v{group.version}")
        if not spec.offline:
            self._write_online_only(group, df, spec, what, problems)
            return None
        if spec.mode == "upsert" and not problems:
            if group.event_time:
                df = checks.latest_per_key(df, group.primary_key, group.event_time)
            else:
                problems = checks.duplicate_key_problems(df, group.primary_key)
                if problems:
                    problems.append("without an event time an upsert needs one row per key")
        if problems:
            raise InvalidInputError(what, problems)
        suite, policy, suite_version = self.quality.suite(group)
        report = self.quality.validate(df, suite if spec.validate else None, policy, what,
                                       job=f"validation of {spec.mode} into {group.name}")
        self._register_project(project)
        evolved = group.with_features(features)
        before = self.offline.latest_version(group)
        result = self._write_with_retries(group, df, spec)
        try:
            commit = _commit(result, spec.mode)
            self.metadata.add_commit(evolved, commit, [] if report is None else [
                self.quality.report_document(group, commit.commit_id, report, suite_version)])
        except BaseException:
            self._undo_commit(group, before, result.version)
            raise
        log.info("%s into %s v%d: commit %d (+%d ~%d -%d rows)", spec.mode, group.name,
                 group.version, commit.commit_id, commit.rows_inserted, commit.rows_updated,
                 commit.rows_deleted)
        if online:
            try:
                self.online.sync(self.metadata.get_feature_group(project, group.name, group.version))
            except OnlineStoreError as e:
                raise OnlineStoreError(
                    f"commit {commit.commit_id} of {group.name} v{group.version} was written "
                    f"offline, but the online table was not brought up to date: {e}. Run "
                    f"sync_online({group.name!r}) when the online store is back") from e
        self.quality.after_commit(evolved, commit.commit_id, spec.statistics)
        return commit

    def _write_online_only(self, group: FeatureGroup, df: DataFrame, spec: InsertSpec, what: str,
                           problems: list[str]) -> None:
        """An insert with offline=False: straight into the online table (overwrite replaces it;
        append and upsert keep, per key, the row with the latest event time)."""
        if not problems:
            df, problems = self._one_row_per_key(df, group.primary_key, group.event_time)
        table = self.online_backend.columns_of(group.project, f"{group.name}_{group.version}")
        from .online.schema import online_schema
        if not problems and table != list(online_schema(group).names):
            problems.append(f"the online table of {group.name} v{group.version} does not match "
                            f"its features: run sync_online({group.name!r}, full=True) first")
        if problems:
            raise InvalidInputError(what, problems)
        suite, policy = self.quality.suite(group)[:2] if spec.validate else (None, "")
        self.quality.validate(df, suite, policy, what,                        # no commit: the
                              job=f"validation of online {spec.mode} into {group.name}")  # report is logged
        df = df.select(*map(quote, group.feature_names))
        if spec.mode == "overwrite":
            rows = self.online.replace(group, df)
        else:
            rows = self.online.write(group, df, conditional=bool(group.event_time))
        log.info("%s of %d rows into online %s v%d (offline untouched)", spec.mode, rows,
                 group.name, group.version)

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
        """Drop a feature group version: its online table, its metadata, its table and files.

        The steps go from what can be made again to what cannot, so that a delete a failure
        stops leaves the feature group whole, or unregistered with files that running the delete
        again removes: a marker file in the table's folder first (the storage can be written),
        then the online table (a sync makes it again from Delta), then the registration (one
        metadata transaction), and the catalog entry and the files last, the marker after every
        other file. Each failure says what state it left.
        """
        self._servers.clear()                 # plans of this process see it at once
        try:
            group = self.feature_group(name, version, project)
        except FeatureGroupNotFound:
            if not self._finish_delete(name, version, project):
                raise
            return
        what = f"cannot delete feature group {group.name} v{group.version}"
        marker = paths.join(group.location, DELETING)
        if self._path_exists(group.location):
            with paths.storage_errors(self.spark, group.location, what,
                                      "Nothing was deleted: fix that and run the delete again."):
                paths.touch(self.spark, marker)
        if group.online:
            try:
                self.online.drop_table(group)
            except BaseException as e:
                self._unmark(marker)
                if not isinstance(e, OnlineStoreError):
                    raise
                raise OnlineStoreError(
                    f"{what}: its online table could not be dropped ({e}). Nothing was deleted, "
                    "the feature group is whole: run the delete again when the online store can "
                    "be reached") from e
        try:
            self.metadata.delete_feature_group(group.project, group.name, group.version)
        except Exception as e:
            registered = self._still_registered(group)
            if registered is not False:
                if registered:
                    self._unmark(marker)
                online = ("its online table was dropped (sync_online makes it again); "
                          if group.online else "")
                state = (f"{online}its registration, Delta table and files are whole"
                         if registered else f"{online}whether its registration was removed "
                         "could not be told; its Delta table and files are whole")
                raise MetadataStoreError(
                    f"{what}: its registration could not be removed ({type(e).__name__}: {e}); "
                    f"{state}. Run the delete again") from e
            log.warning("deleting %s v%d: the metadata store failed (%s) but the registration "
                        "is gone: going on", group.name, group.version, e)
        self._drop_offline(group)

    def _drop_offline(self, group: FeatureGroup) -> None:
        """The last step of a delete, after the registration is gone: the catalog entry and the
        files (the marker last)."""
        try:
            self.offline.drop(group, last=DELETING)
        except Exception as e:
            raise IncompleteDeleteError(
                f"feature group {group.name} v{group.version} was deleted from the metadata "
                f"store, but its table or files at {group.location} could not all be removed "
                f"({e}): run the delete again to remove them") from e
        log.info("deleted feature group %s v%d", group.name, group.version)

    def _still_registered(self, group: FeatureGroup) -> bool | None:
        """Whether a failed metadata delete left the registration (None when that cannot be
        told: then the marker stays, so that a rerun finishes the delete either way)."""
        try:
            self.metadata.get_feature_group(group.project, group.name, group.version)
        except FeatureGroupNotFound:
            return False
        except Exception:    # noqa: BLE001 - the metadata store is still down
            return None
        return True

    def _unmark(self, marker: str) -> None:
        try:
            paths.delete(self.spark, marker)
        except Exception:  # a marker in a registered group's folder is harmless: see _finish_delete
            log.warning("could not remove %s", marker, exc_info=True)

    def _finish_delete(self, name: str, version: int, project: str | None) -> bool:
        """Finish a delete that stopped after the registration was removed: its folder still
        holds the marker (a folder without it belongs to no delete, and is left alone). False
        when there is no such folder."""
        project = self._project(project)
        location = self.offline.location(project, name, version)
        if not self._path_exists(paths.join(location, DELETING)):
            return False
        log.warning("feature group %s v%d is not registered, but an earlier delete left its "
                    "files at %s: removing them", name, version, location)
        self._drop_offline(FeatureGroup(project, name, version, "", (), (), (), None, location,
                                        datetime.now(timezone.utc), ""))
        return True

    # -- reads ------------------------------------------------------------------------------------
    def read(self, spec: ReadSpec) -> Any:
        """A feature group version's data: latest, or as of a commit or point in time."""
        problems = spec.problems()
        if problems:
            raise InvalidInputError(f"cannot read feature group {spec.name!r}", problems,
                                    write=False)
        group = self.feature_group(spec.name, spec.version, spec.project)
        if spec.online and not group.online:
            raise InvalidInputError(f"cannot read feature group {spec.name!r}",
                                    [f"{group.name} v{group.version} is not online"], write=False)
        if spec.online:
            df = self.online.read(group)
        else:
            commit = None if spec.as_of is None else self.commit_as_of(group, spec.as_of)
            df = self.offline.read(group, commit)
        if spec.features is not None:
            unknown = [f for f in spec.features if f not in group.feature_names]
            if unknown:
                raise InvalidInputError(f"cannot read feature group {spec.name!r}",
                                        [f"feature {f!r} is not in it" for f in unknown],
                                        write=False)
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
            raise InvalidInputError(f"cannot read the changes of {name!r}", problems, write=False)
        return self.offline.changes(group, start_commit + 1, end)

    def feature(self, feature: str, featuregroup: str | None = None, version: int | None = None,
                project: str | None = None) -> DataFrame:
        """One feature's column, from ``featuregroup`` or the one feature group that has it."""
        feature = feature.lower() if isinstance(feature, str) else feature   # names.feature
        if (p := name_problem("feature", feature)):
            raise InvalidInputError("cannot read feature", [p], write=False)
        if featuregroup is None:
            groups = self.feature_groups(project)
            owners = [g for g in groups if feature in g.feature_names]
            latest = {g.name: g for g in owners}          # list is ordered by version
            if not latest:
                names = sorted({g.name for g in groups})
                raise FeatureGroupNotFound(
                    f"no feature group of feature store {self._project(project)} has a feature "
                    f"named {feature!r} (its feature groups: {', '.join(names[:20]) or 'none'}"
                    f"{', ...' if len(names) > 20 else ''}): check the name")
            if len(latest) > 1:
                raise FeatureGroupNotFound(f"feature {feature!r} is in feature groups "
                                           f"{', '.join(sorted(latest))}: name the feature group "
                                           "to read it from (featuregroup=...)")
            group = next(iter(latest.values()))
            featuregroup, version = group.name, group.version
        return self.read(ReadSpec(featuregroup, project, version, features=(feature,)))

    def sql(self, query: str, project: str | None = None, online: bool = False) -> DataFrame:
        """Run a Spark SQL query with the project's feature store database as the current
        database, or with ``online`` the query in the online store's own SQL, read through JDBC.
        Queries only (and SHOW, DESCRIBE, EXPLAIN): statements that would change a table are
        refused (``query.statement``)."""
        if online:
            project = project or self.settings.project
            return self.online_backend.read_frame(self.spark, project, query=query)
        db = database_name(self._project(project))
        catalog = self.spark.catalog
        previous = catalog.currentDatabase()
        catalog.setCurrentDatabase(db)
        try:
            return run_read_only(self.spark, query)   # analysed now: names resolve against db
        finally:
            catalog.setCurrentDatabase(previous)

    def table_name(self, name: str, version: int | None = None, project: str | None = None) -> str:
        """The catalog name to use with ``spark.table`` or SQL."""
        return qualified_name(self.feature_group(name, version, project)).replace("`", "")


    # -- queries (featurestore_spark.query) -------------------------------------------------------
    def query(self, name: str, version: int | None = None, project: str | None = None) -> Query:
        """A query of every feature of a feature group version (the latest when ``version`` is
        None), to compose with ``select``, ``join``, ``filter``, ``asOf`` and ``read()``.

        Examples
        --------
        >>> store.query("players").select(["rating"]).join(store.query("teams")).read()  # doctest: +SKIP
        """
        return Query.of_group(self, self.feature_group(name, version, project))

    def query_labels(self, labels: DataFrame, event_time: str | None = None) -> Query:
        """A query starting from a DataFrame of labels (every row is kept by its joins); with
        ``event_time``, joins onto feature groups with an event time are point in time."""
        return Query.of_labels(self, labels, event_time)

    def features_query(self, features: list[str], project: str | None = None,
                       versions: dict[str, int] | None = None,
                       join_key: str | list[str] | tuple[str, ...] | None = None,
                       labels: DataFrame | None = None, label_event_time: str | None = None,
                       max_age: Any = None) -> tuple[Query, list[str]]:
        """The query of ``features`` found by name, and its column order as asked (see
        ``featurestore.get_features``)."""
        from .query.features import features_query
        return features_query(self, features, project, versions, join_key, labels,
                              label_event_time, max_age)


    # -- training datasets (featurestore_spark.training) ------------------------------------------
    @cached_property
    def training(self) -> TrainingDatasets:
        """The training datasets: ``create``, ``read``, ``path``, ``tf_record_schema``,
        ``latest_version``, ``source`` and ``recreate`` (made again from the recorded query).

        Examples
        --------
        >>> store.training.read("matches", split="train", dataframe_type="pandas")  # doctest: +SKIP
        """
        return TrainingDatasets(self)

    def training_dataset_source(self, name: str, version: int | None = None,
                                project: str | None = None, labels: DataFrame | None = None,
                                query_from_dict: Any = None) -> DataFrame:
        """The rows a training dataset was made from, read again from its recorded query at its
        recorded commits: the same rows, even after the feature groups were updated."""
        return self.training.source(name, version, project, labels, query_from_dict)

    # -- online -----------------------------------------------------------------------------------
    def sync_online(self, name: str, version: int | None = None, project: str | None = None,
                    full: bool = False) -> SyncResult:
        """Bring a feature group's online table up to its latest commit: incrementally from the
        last synced commit (Delta change data feed), or in full. A feature group that is not
        online yet gets its online table here, and is marked online once it is filled (a sync
        that fails leaves it offline-only)."""
        group = self.feature_group(name, version, project)
        if not group.online:
            group = replace(group, online=True, online_commit=None)
            self._servers.clear()             # plans of this process see it at once
        return self.online.sync(group, full)

    def check(self, project: str | None = None, repair: bool = False) -> CheckReport:
        """Whether the metadata agrees with the Delta tables, the catalog and the online tables
        (``consistency``); ``repair`` registers unregistered Delta commits and recreates missing
        catalog entries. Without ``repair`` it writes nothing, to the catalog neither."""
        project = project or self.settings.project
        if (problem := name_problem("project", project)):
            raise InvalidInputError("cannot check feature store", [problem], write=False)
        return check_store(Stores(self.spark, self.metadata, self.offline, self.online_backend),
                           project, repair)

    def check_online(self, name: str, version: int | None = None,
                     project: str | None = None) -> ConsistencyReport:
        """Compare an online table with the offline latest snapshot: counts and keys that
        differ."""
        group = self.feature_group(name, version, project)
        if not group.online:
            raise InvalidInputError(f"cannot check feature group {name!r}",
                                    [f"{group.name} v{group.version} is not online"], write=False)
        return self.online.check(group)

    def feature_vector_server(self, features: list[str], project: str | None = None,
                              versions: dict[str, int] | None = None) -> FeatureVectorServer:
        """A server of vectors of ``features`` (``feature`` or ``featuregroup.feature``, from
        one or more online feature groups; ``versions`` pins feature group versions). Build it
        once and call ``get(key)`` / ``get_batch(keys)`` for every request."""
        project = self._project(project)
        parts = plan(self.metadata.list_feature_groups(project), features, versions)
        backend = self.online_backend
        pool = self._pools.get(project)
        if pool is None:
            pool = self._pools[project] = ConnectionPool(backend, project,
                                                         self.settings.online.pool_size)
        return FeatureVectorServer(backend, pool, parts)

    def _server(self, features: list[str], project: str | None,
                versions: dict[str, int] | None) -> FeatureVectorServer:
        """The cached plan of these features, planned again when the metadata's generation
        number moved since (a feature group created, deleted, changed or taken online, by any
        process). The generation is read at most once per ``[online] plan_check_seconds`` (a
        small metadata query; 0: on every call), so a change shows within that time."""
        cache_key = (project, tuple(features), tuple(sorted((versions or {}).items())))
        cached = self._servers.get(cache_key)
        now = time.monotonic()
        if cached is not None and now - cached[2] < self.settings.online.plan_check_seconds:
            return cached[1]
        generation = self.metadata.generation()        # read before planning: a change during
        if cached is not None and cached[0] == generation:   # it makes the next call plan again
            self._servers[cache_key] = (generation, cached[1], now)
            return cached[1]
        server = self.feature_vector_server(features, project, versions)
        self._servers.pop(cache_key, None)
        if len(self._servers) >= 64:
            self._servers.pop(next(iter(self._servers)))
        self._servers[cache_key] = (generation, server, now)
        return server

    def feature_vector(self, features: list[str], key: Any, project: str | None = None,
                       versions: dict[str, int] | None = None, missing: str = "null") -> dict[str, Any]:
        """One feature vector by primary key (a dict of key columns, or the value of a
        one-column key): ``{feature: value}``. Missing keys give None, or an error with
        ``missing="error"``."""
        if (problems := check_missing(missing)):
            raise InvalidInputError("cannot look up a feature vector", problems, write=False)
        return self._server(features, project, versions).get(key, missing)

    def feature_vectors(self, features: list[str], keys: list[Any], project: str | None = None,
                        versions: dict[str, int] | None = None, return_type: str = "dict",
                        missing: str = "null") -> Any:
        """The vectors of a batch of keys, in order: dicts, or a pandas DataFrame."""
        if (problems := check_missing(missing)):
            raise InvalidInputError("cannot look up feature vectors", problems, write=False)
        return self._server(features, project, versions).get_batch(keys, return_type, missing)

    def close(self) -> None:
        """Close the online store's pooled connections and the metadata store's kept ones."""
        self.metadata.close()
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        self._servers.clear()

_default: FeatureStore | None = None


def connect(settings: Settings | None = None,
            spark: SparkSession | bool | None = None) -> FeatureStore:
    """Connect to the feature store the settings describe and make it the default one that
    ``Hops`` builders and ``featurestore`` functions use. ``spark=False`` opens only the metadata
    and online stores (a model server: no JVM); Spark starts with the first call that needs it.

    Examples
    --------
    >>> import featurestore_spark as fs
    >>> store = fs.connect()          # doctest: +SKIP
    >>> server = fs.connect(spark=False).feature_vector_server(["rating"])   # doctest: +SKIP
    """
    global _default
    _default = FeatureStore.connect(settings, spark)
    return _default


def default_store() -> FeatureStore:
    """The store of the last ``connect()``, connecting with the settings on first use."""
    return _default if _default is not None else connect()
