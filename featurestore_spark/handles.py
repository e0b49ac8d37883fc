"""Feature group handles in the Hopsworks client's (hsfs) vocabulary: the third face of the store.

``fs.get_or_create_feature_group(...)`` returns a :class:`FeatureGroup` handle; ``insert``,
``read``, ``select`` and the rest call the same ``Store`` methods, with the same frozen specs,
as the Hops builders and the hops-util-py functions. A handle holds a name, a version and a
project, never data nor a copy of the metadata: every call reads the metadata store, so two handles
of one group never disagree. A handle of a group that does not exist yet (``create_feature_group``,
or ``get_or_create_feature_group`` of a new name) also holds what to create it with, and its first
``insert`` or ``save`` creates it.

Examples
--------
>>> fg = fs.get_or_create_feature_group("teams", primary_key=["team_id"])   # doctest: +SKIP
>>> fg.insert(teams_df)                                                      # doctest: +SKIP
>>> fg.select_except(["budget"]).join(players.select_all()).read()           # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from . import names
from .context import utc
from .errors import FeatureGroupExists, FeatureGroupNotFound, InvalidInputError
from .metadata.base import Subject
from .registry.labels import Labelled
from .spec import CreateSpec, InsertSpec, ReadSpec, dependency_problems, identity_problems
from .statistics.config import StatisticsConfig

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from .store import Store
    from .metadata import Commit, Feature
    from .metadata import FeatureGroup as Registered
    from .query import Query

OPERATIONS = {"upsert": "upsert", "insert": "append"}
STORAGES = (None, "online", "offline")
# hsfs spellings of the statistics settings
STATISTICS_ALIASES = {"histograms": "feature_histograms", "correlations": "feature_correlation",
                      "columns": "stat_columns"}
WRITE_OPTIONS = ("wait_for_job", "evolve_schema")   # writes are synchronous: wait_for_job is moot
VALIDATION_OPTIONS = ("run_validation",)


def _names(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def _dependencies(value: Any) -> Any:
    """One path or table, or a list of them, as a tuple (anything else as it is: refused)."""
    return (value,) if isinstance(value, str) else tuple(value) if isinstance(value, list) else value


def statistics_config(value: StatisticsConfig | Mapping[str, Any] | None) -> StatisticsConfig:
    """A StatisticsConfig from one, from a dict (ours or hsfs' spellings: ``histograms``,
    ``correlations``, ``columns``), or the defaults for None."""
    if value is None:
        return StatisticsConfig()
    if isinstance(value, bool):                # hsfs: statistics_config=False turns them off
        return StatisticsConfig(enabled=value)
    if isinstance(value, StatisticsConfig):
        return value
    if not isinstance(value, Mapping):
        raise InvalidInputError("statistics settings", [
            f"a StatisticsConfig or a dict is required, got {type(value).__name__}"])
    given = {STATISTICS_ALIASES.get(k, k): v for k, v in value.items()}
    if given.get("stat_columns") == []:       # hsfs: no columns named means every column
        given["stat_columns"] = None
    return StatisticsConfig.from_dict(given)


@dataclass(frozen=True)
class Pending:
    """What a handle of a group not created yet creates it with."""
    description: str = ""
    primary_key: tuple[str, ...] = ()
    partition_key: tuple[str, ...] = ()
    event_time: str | None = None
    online_enabled: bool = False
    statistics_config: StatisticsConfig = field(default_factory=StatisticsConfig)
    expectation_suite: Any = None
    validation_ingestion_policy: str = "ALWAYS"
    dependencies: Any = ()          # paths or tables it is computed from (checked by CreateSpec)
    or_existing: bool = False       # get_or_create: a group created meanwhile is this handle's


class FeatureGroup(Labelled):
    """A handle of a feature group version (see the module's docstring)."""

    def __init__(self, store: Store, name: str, version: int | None, project: str,
                 pending: Pending | None = None) -> None:
        self._store, self._name, self._version, self._project = store, name, version, project
        self._pending = pending
        self._statistics: StatisticsConfig | None = None   # set, not yet updated

    def __repr__(self) -> str:
        state = " (not created yet)" if self._pending is not None else ""
        return f"FeatureGroup({self._name!r}, version={self._version}, project={self._project!r}){state}"

    # -- what is registered ---------------------------------------------------------------------
    def _now(self) -> Pending | None:
        """The settings to create the group with while it is still to be created, else None: a
        handle of get_or_create whose version was created meanwhile (by another handle, job or
        face) is a handle of that version."""
        p = self._pending
        if (p is not None and p.or_existing and self._version is not None
                and _registered(self._store, self._name, self._version, self._project)):
            self._pending = None
        return self._pending

    def _is_pending(self) -> bool:
        return self._now() is not None

    def _meta(self) -> Registered:
        if self._is_pending():
            raise FeatureGroupNotFound(
                f"feature group {self._name} is not created yet: insert(df) or save(df) creates it")
        return self._store.feature_group(self._name, self._version, self._project)

    def _subject(self, feature: str | None) -> Subject:
        group = self._meta()
        return Subject(group.project, "fg", group.name, group.version,
                       str(names.feature(feature)) if feature is not None else "")

    @property
    def _metadata(self) -> Any:
        return self._store.metadata

    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> int | None:
        """The version (None for a new handle whose version is chosen when it is saved)."""
        return self._version

    @property
    def project(self) -> str:
        return self._project

    @property
    def description(self) -> str:
        return p.description if (p := self._now()) is not None else self._meta().description

    @property
    def dependencies(self) -> list[str]:
        """The paths or tables it is computed from (``featurestore stale`` checks them)."""
        return list(p.dependencies if (p := self._now()) is not None else self._meta().dependencies)

    @property
    def primary_key(self) -> list[str]:
        if (p := self._now()) is not None:
            return list(p.primary_key)
        return list(self._meta().primary_key)

    @property
    def partition_key(self) -> list[str]:
        if (p := self._now()) is not None:
            return list(p.partition_key)
        return list(self._meta().partition_by)

    @property
    def event_time(self) -> str | None:
        return p.event_time if (p := self._now()) is not None else self._meta().event_time

    @property
    def online_enabled(self) -> bool:
        return p.online_enabled if (p := self._now()) is not None else self._meta().online

    @property
    def features(self) -> list[Feature]:
        """The features (name, type, description, primary, partition); none before creation."""
        return [] if self._is_pending() else list(self._meta().features)

    def get_feature(self, name: str) -> Feature:
        name = name.lower() if isinstance(name, str) else name      # see names.feature
        features = self.features
        for f in features:
            if f.name == name:
                return f
        raise InvalidInputError(f"cannot find feature {name!r}", [
            f"{self._name} has no feature {name!r} (its features: "
            f"{', '.join(f.name for f in features) or 'none'})"], write=False)

    # -- writes ---------------------------------------------------------------------------------
    def save(self, features: Any, write_options: Mapping[str, Any] | None = None,
             validation_options: Mapping[str, Any] | None = None,
             job_name: str | None = None) -> Commit | None:
        """Create the feature group from ``features`` (a Spark or pandas DataFrame)."""
        if not self._is_pending():
            raise InvalidInputError(f"cannot save feature group {self._name!r}", [
                f"{self._name} v{self._version} exists already: insert(df) writes into it"])
        return self._create(features, None, write_options, validation_options, False, job_name)

    def insert(self, features: Any, overwrite: bool = False, operation: str = "upsert",
               storage: str | None = None, write_options: Mapping[str, Any] | None = None,
               validation_options: Mapping[str, Any] | None = None,
               job_name: str | None = None) -> Commit | None:
        """Write ``features`` (a Spark or pandas DataFrame): an upsert on the primary key by
        default, ``operation="insert"`` appends, ``overwrite=True`` replaces every row;
        ``storage="online"`` or ``"offline"`` writes one side only (None: both sides of an
        online group). The first insert into a handle of a new group creates it. Returns the
        offline commit (None when none was made: an online-only or empty write). ``job_name``:
        what the commit records as its maker (default: the Spark application's name and id)."""
        problems = []
        if operation not in OPERATIONS:
            problems.append(f"operation {operation!r} is not one of {', '.join(OPERATIONS)}")
        if storage not in STORAGES:
            problems.append(f"storage {storage!r} is not 'online', 'offline' or None (both)")
        problems += _option_problems(write_options, WRITE_OPTIONS, "write option")
        problems += _option_problems(validation_options, VALIDATION_OPTIONS, "validation option")
        if problems:
            raise InvalidInputError(f"cannot insert into feature group {self._name!r}", problems)
        if self._is_pending():
            try:
                return self._create(features, storage, write_options, validation_options,
                                    operation == "upsert" and not overwrite, job_name)
            except (FeatureGroupExists, InvalidInputError):
                if self._is_pending():      # not another writer's create of this version
                    raise
        mode = "overwrite" if overwrite else OPERATIONS[operation]
        return self._store.insert(InsertSpec(
            self._name, features, self._project, self._version, mode,
            evolve_schema=bool((write_options or {}).get("evolve_schema", False)),
            online={None: None, "online": True, "offline": False}[storage],
            offline=storage != "online", statistics=self._statistics,
            validate=bool((validation_options or {}).get("run_validation", True)),
            job_name=job_name))

    def insert_stream(self, features: Any, query_name: str | None = None,
                      output_mode: str = "update", await_termination: bool = False,
                      timeout: float | None = None, checkpoint_dir: str | None = None,
                      write_options: Mapping[str, Any] | None = None, trigger: Any = None,
                      operation: str = "upsert", statistics_every: int = 1,
                      job_name: str | None = None, dead_letter: bool = False) -> Any:
        """Write the streaming DataFrame ``features`` into this feature group, each micro-batch
        an upsert (or ``operation="insert"``: an append) offline and online, exactly once
        (``streaming.sink``); returns Spark's StreamingQuery (``await_termination``: after
        waiting for it, ``timeout`` seconds at most). ``trigger``: ``{"processingTime": "10
        seconds"}``, ``{"availableNow": True}``...; ``statistics_every``: statistics of every
        Nth micro-batch's commit (0: none); ``dead_letter``: bad events (a missing key or event
        time, a record in Spark's ``_corrupt_record`` column) go to the group's dead-letter table
        (``dead_letter()``) instead of stopping the query. The group must exist."""
        from .streaming import StreamSpec
        problems = [] if operation in OPERATIONS else [
            f"operation {operation!r} is not one of {', '.join(OPERATIONS)}"]
        problems += _option_problems(write_options, ("wait_for_job",), "write option")
        if problems:
            raise InvalidInputError(f"cannot stream into feature group {self._name!r}", problems)
        group = self._meta()
        query = self._store.insert_stream(StreamSpec(
            group.name, features, group.project, group.version, OPERATIONS[operation],
            query_name, checkpoint_dir, trigger, output_mode,
            statistics_every=statistics_every, job_name=job_name, dead_letter=dead_letter))
        if await_termination:
            query.awaitTermination(None if timeout is None else int(timeout))
        return query

    def dead_letter(self) -> Any:
        """The bad events streams kept for this group (``insert_stream(dead_letter=True)``), as a
        Spark DataFrame: reason, event, raw, topic, partition, offset, stream, batch_id,
        batch_offsets, failed_at."""
        return self._store.streams.dead_letter(self._meta())

    def _create(self, features: Any, storage: str | None, write_options: Mapping[str, Any] | None,
                validation_options: Mapping[str, Any] | None, upsert: bool,
                job_name: str | None) -> Commit | None:
        """Create the group from ``features``; ``upsert``: one row per key, as an upsert leaves
        (the latest by event time; without one, duplicate keys are refused)."""
        p = self._pending
        assert p is not None
        problems = _option_problems(write_options, ("wait_for_job",), "write option")
        problems += _option_problems(validation_options, VALIDATION_OPTIONS, "validation option")
        if storage == "offline" and p.online_enabled:
            problems.append("the first insert into an online feature group creates it on both "
                            "sides: storage='offline' applies to later inserts")
        if storage == "online" and not p.online_enabled:
            problems.append(f"{self._name} is not online_enabled: storage='online' needs it")
        if problems:
            raise InvalidInputError(f"cannot create feature group {self._name!r}", problems)
        version = self._version
        if version is None:
            existing = [g.version for g in self._store.feature_groups(self._project)
                        if g.name == self._name]
            version = max(existing, default=0) + 1
        created = self._store.create(CreateSpec(
            self._name, features, self._project, version, p.primary_key, p.partition_key,
            p.event_time, p.description, online=p.online_enabled, offline=storage != "online",
            statistics=self._statistics or p.statistics_config,
            expectation_suite=p.expectation_suite,
            validation_policy=p.validation_ingestion_policy,
            validate=bool((validation_options or {}).get("run_validation", True)),
            one_row_per_key=upsert, dependencies=p.dependencies, job_name=job_name))
        self._version, self._pending, self._statistics = created.version, None, None
        commits = self._store.metadata.commits(created.project, created.name, created.version)
        return commits[0] if storage != "online" else None       # the create's own commit

    def delete(self) -> None:
        """Drop this version: its online table, its metadata, its Delta table and files."""
        group = self._meta()
        self._store.delete(group.name, group.version, group.project)

    def update_description(self, description: str) -> FeatureGroup:
        group = self._meta()
        self._store.metadata.update_descriptions(group.project, group.name, group.version,
                                                 description=description)
        return self

    def update_feature_description(self, feature_name: str, description: str) -> FeatureGroup:
        group = self._meta()
        self._store.metadata.update_descriptions(group.project, group.name, group.version,
                                                 features={names.feature(feature_name): description})
        return self

    # -- reads ----------------------------------------------------------------------------------
    def read(self, wallclock_time: Any = None, online: bool = False,
             dataframe_type: str = "default") -> Any:
        """The data, latest or as of ``wallclock_time`` (a commit id, or a point in time: the
        last commit at or before it); ``dataframe_type`` spark (default), pandas, numpy or
        python."""
        group = self._meta()
        return self._store.read(ReadSpec(group.name, group.project, group.version,
                                         as_of=wallclock_time, online=online,
                                         dataframe_type=_frame_type(dataframe_type)))

    def show(self, n: int = 20, online: bool = False) -> Any:
        """The first ``n`` rows, as a pandas DataFrame (small, for a look in a notebook)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise InvalidInputError("cannot show feature group", [
                f"n must be a non-negative integer, got {n!r}"], write=False)
        return self._store.read(ReadSpec(self._name, self._project, self._meta().version,
                                         online=online)).limit(n).toPandas()

    def commit_details(self, limit: int | None = None) -> dict[int, dict[str, Any]]:
        """The commits, newest first: ``{commit id: {committedOn, operation, rowsInserted,
        rowsUpdated, rowsDeleted, creator}}`` (the Hopsworks client's keys)."""
        group = self._meta()
        commits = self._store.metadata.commits(group.project, group.name, group.version)[::-1]
        if limit is not None:
            commits = commits[:limit]
        return {c.commit_id: {"committedOn": c.committed_at.isoformat(), "operation": c.operation,
                              "rowsInserted": c.rows_inserted, "rowsUpdated": c.rows_updated,
                              "rowsDeleted": c.rows_deleted, "creator": c.creator}
                for c in commits}

    def read_changes(self, start: Any, end: Any = None) -> DataFrame:
        """What the commits after ``start`` up to ``end`` (default: the latest) changed (commit
        ids or points in time, as in ``read``): the Delta change data feed."""
        group = self._meta()
        if group.external:
            return self._store.changes(group.name, None, None, group.version, group.project)
        first = self._store.metadata.commits(group.project, group.name, group.version)[0]
        before = (not isinstance(start, int) and utc(start) < first.committed_at)
        begin = None if before else self._store.commit_as_of(group, start)   # None: every commit
        last = None if end is None else self._store.commit_as_of(group, end)
        return self._store.changes(group.name, begin, last, group.version, group.project)

    # -- queries --------------------------------------------------------------------------------
    def _query(self) -> Query:
        group = self._meta()
        return self._store.query(group.name, group.version, group.project)

    def select_all(self) -> Query:
        return self._query()

    def select(self, features: str | Iterable[str]) -> Query:
        return self._query().select(features)

    def select_except(self, features: str | Iterable[str] | None = None) -> Query:
        return self._query().select_except(_names(features))

    def filter(self, condition: str) -> Query:
        return self._query().filter(condition)

    def as_of(self, wallclock_time: Any) -> Query:
        return self._query().as_of(wallclock_time)

    # -- statistics -----------------------------------------------------------------------------
    @property
    def statistics_config(self) -> StatisticsConfig:
        """The statistics settings: set it (a StatisticsConfig or a dict), then
        ``update_statistics_config()`` keeps it (or the next insert uses it)."""
        if self._statistics is not None:
            return self._statistics
        if (p := self._now()) is not None:
            return p.statistics_config
        return self._store.quality.config(self._meta())

    @statistics_config.setter
    def statistics_config(self, value: StatisticsConfig | Mapping[str, Any] | None) -> None:
        self._statistics = statistics_config(value)

    def update_statistics_config(self) -> FeatureGroup:
        if (p := self._now()) is not None:
            if self._statistics is not None:
                self._pending = replace(p, statistics_config=self._statistics)
                self._statistics = None
            return self
        if self._statistics is not None:
            self._store.quality.set_config(self._meta(), self._statistics)
            self._statistics = None
        return self

    def compute_statistics(self) -> dict[str, Any]:
        """Compute and keep the statistics of the latest commit (of an external group: of its
        source now, numbered by run)."""
        group = self._meta()
        if group.external:
            return self._store.quality.compute(group, None, self._statistics)
        latest = self._store.metadata.commits(group.project, group.name, group.version)[-1]
        return self._store.quality.compute(group, latest.commit_id, self._statistics)

    def get_statistics(self, commit: int | None = None) -> dict[str, Any]:
        return self._store.quality.statistics(self._meta(), commit)

    # -- validation -----------------------------------------------------------------------------
    def save_expectation_suite(self, expectation_suite: Any,
                               validation_ingestion_policy: str = "ALWAYS") -> int:
        """Validate every later write with ``expectation_suite`` (a great_expectations suite or
        its dict or JSON): ``ALWAYS`` writes and keeps the report, ``STRICT`` refuses data that
        fails. Returns the suite's version."""
        return self._store.quality.attach(self._meta(), expectation_suite,
                                          validation_ingestion_policy)

    def get_expectation_suite(self) -> dict[str, Any] | None:
        suite, policy, version = self._store.quality.suite(self._meta())
        return None if suite is None else {**suite, "policy": policy, "version": version}

    def delete_expectation_suite(self) -> None:
        self._store.quality.attach(self._meta(), None)

    def validate(self, dataframe: Any) -> dict[str, Any]:
        """The report of ``dataframe`` against the suite, writing nothing."""
        return self._store.quality.check(self._meta(), dataframe)

    def get_validation_reports(self, commit: int | None = None) -> list[dict[str, Any]]:
        return self._store.quality.reports(self._meta(), commit)


def _frame_type(dataframe_type: str) -> str:
    return "spark" if dataframe_type == "default" else dataframe_type


def _option_problems(options: Mapping[str, Any] | None, known: tuple[str, ...],
                     what: str) -> list[str]:
    if options is None:
        return []
    if not isinstance(options, Mapping):
        return [f"{what}s must be a dict, got {type(options).__name__}"]
    return [f"{what} {k!r} is not supported (supported: {', '.join(known)})"
            for k in options if k not in known]


def feature_group(store: Store, name: str, version: int | None = None,
                  project: str | None = None) -> FeatureGroup:
    """The handle of a registered version (the latest when ``version`` is None)."""
    group = store.feature_group(name, version, project)
    return FeatureGroup(store, group.name, group.version, group.project)


def feature_groups(store: Store, name: str, project: str | None = None) -> list[FeatureGroup]:
    """Handles of every registered version of ``name``, oldest first (FeatureGroupNotFound when
    there is none)."""
    store.feature_group(name, None, project)            # checks the name; raises when none
    return [FeatureGroup(store, g.name, g.version, g.project)
            for g in store.feature_groups(project) if g.name == name]


SETTINGS = ("description", "primary_key", "partition_key", "event_time", "online_enabled",
            "statistics_config", "expectation_suite", "validation_ingestion_policy",
            "time_travel_format", "dependencies")


def setting_problems(settings: Mapping[str, Any]) -> list[str]:
    problems = [f"unknown setting {k!r} (the settings: {', '.join(SETTINGS)})"
                for k in settings if k not in SETTINGS]
    if settings.get("time_travel_format") not in (None, "DELTA", "delta"):
        problems.append(f"time_travel_format {settings['time_travel_format']!r}: feature groups "
                        "here are Delta tables (DELTA)")
    return problems


def _registered(store: Store, name: str, version: int, project: str) -> bool:
    try:
        store.feature_group(name, version, project)
    except FeatureGroupNotFound:
        return False
    return True


def new_feature_group(store: Store, name: str, version: int | None, project: str | None,
                      or_existing: bool = False, **settings: Any) -> FeatureGroup:
    """A handle of a version to create (its first insert or save creates it)."""
    project = project or store.settings.project
    problems = (identity_problems(name, project, 1 if version is None else version, False)
                + setting_problems(settings))
    settings.pop("time_travel_format", None)
    policy = settings.pop("validation_ingestion_policy", "ALWAYS")
    pending = Pending(
        description=settings.pop("description", "") or "",
        primary_key=names.features(_names(settings.pop("primary_key", None))),
        partition_key=names.features(_names(settings.pop("partition_key", None))),
        event_time=names.feature(settings.pop("event_time", None)),  # type: ignore[arg-type]
        online_enabled=bool(settings.pop("online_enabled", False)),
        statistics_config=statistics_config(settings.pop("statistics_config", None)),
        expectation_suite=settings.pop("expectation_suite", None),
        validation_ingestion_policy=policy, dependencies=_dependencies(settings.pop("dependencies", ())),
        or_existing=or_existing)
    problems += dependency_problems(pending.dependencies)
    if version is not None and not problems and _registered(store, name, version, project):
        problems.append(f"feature group {name} version {version} exists already: "
                        "get_feature_group returns it")
    if problems:
        raise InvalidInputError(f"cannot create feature group {name!r}", problems)
    return FeatureGroup(store, name, version, project, pending)


def get_or_create(store: Store, name: str, version: int | None, project: str | None,
                  **settings: Any) -> FeatureGroup:
    """The registered version (the latest when ``version`` is None), else a handle that creates
    it (version 1 when ``version`` is None) on its first insert."""
    if (problems := setting_problems(settings)):
        raise InvalidInputError(f"cannot get or create feature group {name!r}", problems)
    try:
        return feature_group(store, name, version, project)
    except FeatureGroupNotFound:
        return new_feature_group(store, name, 1 if version is None else version, project,
                                 or_existing=True, **settings)
