"""The feature-group write pipeline: create, insert (append, overwrite, upsert; offline, online
or both) and delete.

A request is checked completely before anything is written; then it is validated, written to
Delta first and registered in the metadata store after, synced online, and profiled. When
registering fails the Delta side is undone, so a failed write leaves no half-registered version or
commit behind; a delete goes from what can be made again to what cannot.
"""

from __future__ import annotations

import getpass
import logging
import random
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable, cast

from . import paths
from .dataframes import as_spark
from .errors import (ConcurrentWriteError, FeatureGroupNotFound, IncompleteDeleteError,
                     InvalidInputError, MetadataStoreError, OnlineStoreError, SchemaMismatchError)
from .metadata import Commit, Feature, FeatureGroup
from .names import database_name, quote, table_name
from .offline import checks
from .offline.delta import CONFLICTS, DELETING, WriteResult
from .offline.reconcile import reconcile
from .online.schema import key_value_problems as online_key_problems
from .online.schema import online_schema
from .online.schema import schema_problems as online_problems
from .spec import CreateSpec, InsertSpec, is_dataframe
from .statistics.config import config_problems

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from .context import Context
    from .quality import Quality

log = logging.getLogger(__name__)
RETRY_PAUSE, RETRY_PAUSE_CAP = 0.2, 5.0     # seconds: the first retry's mean wait x 2, the most


def _commit(result: WriteResult, operation: str, job: str) -> Commit:
    return Commit(result.version, result.committed_at, operation, result.rows_inserted,
                  result.rows_updated, result.rows_deleted, getpass.getuser(), job)


class FeatureGroupWrites:
    """Creates, writes into and deletes feature group versions. ``changed`` is called when what
    is registered changed (cached lookup plans of this process drop then)."""

    def __init__(self, ctx: Context, quality: Quality, changed: Callable[[], None]) -> None:
        self.ctx, self.quality, self.changed = ctx, quality, changed

    def create(self, spec: CreateSpec) -> FeatureGroup:
        """Create a feature group version from ``spec.dataframe`` (a Spark DataFrame, or a pandas
        one converted on the driver: ``dataframes.as_spark``); returns its metadata."""
        spec = replace(spec, dataframe=as_spark(self.ctx.spark, spec.dataframe,
                                                f"cannot create feature group {spec.name!r}"))
        problems = spec.problems()
        project = spec.project or self.ctx.settings.project
        existing = [g.version for g in self.ctx.metadata.list_feature_groups(project)
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
        location = self.ctx.offline.location(project, spec.name, spec.version)
        if not problems and self.ctx.path_exists(location):   # data checks only on a sound request
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
            if not problems and (not spec.offline or spec.one_row_per_key):
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
            created_at=datetime.now(timezone.utc), creator=getpass.getuser(), online=spec.online,
            dependencies=spec.dependencies)
        self.ctx.register_project(project)
        log.info("creating feature group %s version %d in %s%s", group.name, group.version,
                 database_name(project), " and online" if spec.online else "")
        registered = False
        try:
            if spec.online:
                self.ctx.online.create_table(group)      # the online store is reachable: go on
            result = self.ctx.offline.create(group, df if spec.offline else df.limit(0))
            documents = [self.quality.settings_document(group, spec.statistics)]
            if suite is not None:
                documents.append(self.quality.suite_document(group, suite, spec.validation_policy))
            if report is not None:
                documents.append(self.quality.report_document(group, result.version, report, 1))
            self.ctx.metadata.create_feature_group(
                group, _commit(result, "create", self.ctx.job(spec.job_name)), documents)
            registered = True
            if spec.online and spec.offline:
                self.ctx.online.sync(group, full=True)
            elif spec.online:
                self.ctx.online.write(group, df, conditional=False)
                self.ctx.metadata.set_online(group, True, result.version)
        except BaseException:
            self._undo_create(group, registered)
            raise
        created = self.ctx.metadata.get_feature_group(project, group.name, group.version)
        self.changed()                 # plans of this process see it at once
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

    def _undo_create(self, group: FeatureGroup, registered: bool = False) -> None:
        """Remove what a failed create left: the registration, the catalog entry and the files
        (the location was empty before, so they are this write's), and the online table."""
        log.warning("create of %s version %d failed: removing its table", group.name, group.version)
        steps = [("files", lambda: self.ctx.offline.drop(group))]
        if registered:
            steps.append(("registration", lambda: self.ctx.metadata.delete_feature_group(
                group.project, group.name, group.version)))
        if group.online:
            steps.append(("online table", lambda: self.ctx.online.drop_table(group)))
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
        spec = replace(spec, dataframe=as_spark(self.ctx.spark, spec.dataframe,
                                                f"cannot {spec.mode} into feature group "
                                                f"{spec.name!r}"))
        problems = spec.problems()
        group: FeatureGroup | None = None
        project = spec.project or self.ctx.settings.project
        if not problems:
            try:
                group = self.ctx.metadata.get_feature_group(project, spec.name, spec.version)
            except FeatureGroupNotFound as e:
                problems.append(str(e))
        what = f"cannot {spec.mode} into feature group {spec.name!r}"
        if group is not None and group.external:
            problems.append(f"{group.name} v{group.version} is an external feature group: its "
                            "rows are its source's (write them there; sync_online loads them "
                            "online)")
        if problems or group is None:
            raise InvalidInputError(what, problems)
        if spec.offline and reconcile(self.ctx.offline, self.ctx.metadata, group):   # see its module
            group = self.ctx.metadata.get_feature_group(project, group.name, group.version)
        online = (group.online or not spec.offline) if spec.online is None else spec.online
        if spec.txn is not None and spec.offline and (
                done := self.ctx.offline.txn_commit(group, spec.mode, spec.txn,
                                                    everywhere=spec.replayed)) is not None:
            return self._committed_before(group, done, spec, online)
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
                    df, self.ctx.offline.read(group), group.primary_key, group.event_time,
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
        self.ctx.register_project(project)
        evolved = group.with_features(features)
        before = self.ctx.offline.latest_version(group)
        result = self._write_with_retries(group, df, spec)
        if spec.txn is not None and result.version <= before:   # Delta skipped it: done before
            return self._committed_before(group, result, spec, online)
        try:
            commit = _commit(result, spec.mode, self.ctx.job(spec.job_name))
            self.ctx.metadata.add_commit(evolved, commit, [] if report is None else [
                self.quality.report_document(group, commit.commit_id, report, suite_version)])
        except MetadataStoreError as e:
            if spec.txn is not None:    # a stream's batch: its replay registers the commit
                raise MetadataStoreError(
                    f"micro-batch {spec.txn[1]} of {spec.txn[0]} into {group.name} "
                    f"v{group.version}: its Delta commit {result.version} could not be "
                    f"registered ({e}); the query's restart registers it") from None
            self.undo_commit(group, before, result.version)
            raise MetadataStoreError(
                f"{spec.mode} into {group.name} v{group.version} was undone: its Delta commit "
                f"{result.version} could not be registered ({e}); the next write or "
                "`featurestore check --repair` registers the commit and its undo") from None
        except BaseException:
            if spec.txn is None:        # a stream's batch is registered by its replay
                self.undo_commit(group, before, result.version)
            raise
        log.info("%s into %s v%d: commit %d (+%d ~%d -%d rows)", spec.mode, group.name,
                 group.version, commit.commit_id, commit.rows_inserted, commit.rows_updated,
                 commit.rows_deleted)
        if online:
            try:
                self.ctx.online.sync(self.ctx.metadata.get_feature_group(project, group.name, group.version))
            except OnlineStoreError as e:
                raise OnlineStoreError(
                    f"commit {commit.commit_id} of {group.name} v{group.version} was written "
                    f"offline, but the online table was not brought up to date: {e}. Run "
                    f"sync_online({group.name!r}) when the online store is back") from e
        self.quality.after_commit(evolved, commit.commit_id, spec.statistics)
        return commit

    def _committed_before(self, group: FeatureGroup, done: WriteResult, spec: InsertSpec,
                          online: bool) -> Commit:
        """A stream's micro-batch that an earlier attempt committed to Delta (a query killed
        before or after registering it): not written again; registered when it is not (its
        writer is this stream, replaying it), and the online table brought up to it."""
        txn = cast("tuple[str, int]", spec.txn)
        registered = {c.commit_id: c for c in self.ctx.metadata.commits(
            group.project, group.name, group.version)}
        commit = registered.get(done.version)
        if commit is None:
            commit = _commit(done, spec.mode, self.ctx.job(spec.job_name))
            self.ctx.metadata.add_commit(group, commit)
        log.info("micro-batch %d of %s was committed before (Delta commit %d): not written again",
                 txn[1], txn[0], done.version)
        if online:
            self.ctx.online.sync(self.ctx.metadata.get_feature_group(group.project, group.name,
                                                                     group.version))
        return commit

    def _write_online_only(self, group: FeatureGroup, df: DataFrame, spec: InsertSpec, what: str,
                           problems: list[str]) -> None:
        """An insert with offline=False: straight into the online table (overwrite replaces it;
        append and upsert keep, per key, the row with the latest event time)."""
        if not problems:
            df, problems = self._one_row_per_key(df, group.primary_key, group.event_time)
        table = self.ctx.online_backend.columns_of(group.project, f"{group.name}_{group.version}")
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
            rows = self.ctx.online.replace(group, df)
        else:
            rows = self.ctx.online.write(group, df, conditional=bool(group.event_time))
        log.info("%s of %d rows into online %s v%d (offline untouched)", spec.mode, rows,
                 group.name, group.version)

    def _write_with_retries(self, group: FeatureGroup, df: DataFrame, spec: InsertSpec) -> WriteResult:
        retries = self.ctx.settings.offline.write_retries
        for attempt in range(retries + 1):
            try:
                return self.ctx.offline.write(group, df, spec.mode, spec.evolve_schema, spec.txn)
            except CONFLICTS as e:
                if attempt == retries:
                    raise ConcurrentWriteError(
                        f"{spec.mode} into {group.name} version {group.version} lost to a "
                        f"concurrent write {retries + 1} time(s) and was not applied; nothing of "
                        f"it was written. Retry it. ({type(e).__name__})") from e
                # jittered exponential backoff: writers that collided do not collide again in step
                pause = random.uniform(0, min(RETRY_PAUSE_CAP, RETRY_PAUSE * 2 ** attempt))
                log.warning("%s into %s hit a concurrent commit (%s); retrying in %.2f s",
                            spec.mode, group.name, type(e).__name__, pause)
                time.sleep(pause)
        raise AssertionError("unreachable")

    def undo_commit(self, group: FeatureGroup, before: int, version: int) -> None:
        """The metadata store did not record Delta commit ``version``: restore the table to
        ``before`` unless another writer has committed on top of it since."""
        try:
            if self.ctx.offline.latest_version(group) == version:
                log.warning("undoing Delta commit %d of %s: it could not be registered", version,
                            group.name)
                self.ctx.offline.restore(group, before)
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
        self.changed()                 # plans of this process see it at once
        try:
            group = self.ctx.feature_group(name, version, project)
        except FeatureGroupNotFound:
            if not self._finish_delete(name, version, project):
                raise
            return
        what = f"cannot delete feature group {group.name} v{group.version}"
        if group.external:             # its data is its source's: only what the store made goes
            if group.online:
                self.ctx.online.drop_table(group)
            self.ctx.metadata.delete_feature_group(group.project, group.name, group.version)
            log.info("deleted external feature group %s v%d (its source is untouched)",
                     group.name, group.version)
            return
        marker = paths.join(group.location, DELETING)
        if self.ctx.path_exists(group.location):
            with paths.storage_errors(self.ctx.spark, group.location, what,
                                      "Nothing was deleted: fix that and run the delete again."):
                paths.touch(self.ctx.spark, marker)
        if group.online:
            try:
                self.ctx.online.drop_table(group)
            except BaseException as e:
                self._unmark(marker)
                if not isinstance(e, OnlineStoreError):
                    raise
                raise OnlineStoreError(
                    f"{what}: its online table could not be dropped ({e}). Nothing was deleted, "
                    "the feature group is whole: run the delete again when the online store can "
                    "be reached") from e
        try:
            self.ctx.metadata.delete_feature_group(group.project, group.name, group.version)
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
        files (the marker last), with the group's streams folder (``streaming.sink``)."""
        streams = self.ctx.settings.streams_path(group.project, group.name, group.version)
        try:
            if self.ctx.path_exists(streams):
                paths.delete(self.ctx.spark, streams)
            self.ctx.offline.drop(group, last=DELETING)
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
            self.ctx.metadata.get_feature_group(group.project, group.name, group.version)
        except FeatureGroupNotFound:
            return False
        except Exception:    # noqa: BLE001 - the metadata store is still down
            return None
        return True

    def _unmark(self, marker: str) -> None:
        try:
            paths.delete(self.ctx.spark, marker)
        except Exception:  # a marker in a registered group's folder is harmless: see _finish_delete
            log.warning("could not remove %s", marker, exc_info=True)

    def _finish_delete(self, name: str, version: int, project: str | None) -> bool:
        """Finish a delete that stopped after the registration was removed: its folder still
        holds the marker (a folder without it belongs to no delete, and is left alone). False
        when there is no such folder."""
        project = self.ctx.project(project)
        location = self.ctx.offline.location(project, name, version)
        if not self.ctx.path_exists(paths.join(location, DELETING)):
            return False
        log.warning("feature group %s v%d is not registered, but an earlier delete left its "
                    "files at %s: removing them", name, version, location)
        self._drop_offline(FeatureGroup(project, name, version, "", (), (), (), None, location,
                                        datetime.now(timezone.utc), ""))
        return True
