"""Context: what the engines of one feature store share, and the catalog reads they all make.

Settings, the metadata store, the SparkSession (started on first use: a model server reading
feature vectors never starts one), the Delta engine, the online store, and reads of what is
registered: feature groups by name and version, their commits, and which commit a point in time
names. Engines (``feature_groups``, ``reads``, ``quality``, ``query``, ``training``,
``online.vectors``) get this, never the FeatureStore facade.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from functools import cached_property
from typing import TYPE_CHECKING

from . import paths
from .errors import CommitNotFound, InvalidInputError
from .names import name_problem

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from .config import Settings
    from .metadata import Commit, FeatureGroup, MetadataStore
    from .offline.delta import DeltaEngine
    from .online.sql import SqlOnlineBackend
    from .online.sync import OnlineSync


def utc(point: datetime | date | str) -> datetime:
    """A point in time as an aware UTC datetime (ISO-8601 text; naive times are UTC)."""
    if isinstance(point, str):
        try:
            point = datetime.fromisoformat(point)
        except ValueError:
            raise InvalidInputError("time travel", [f"{point!r} is not an ISO-8601 timestamp"],
                                    write=False) from None
    if not isinstance(point, datetime):
        point = datetime(point.year, point.month, point.day)
    return point.replace(tzinfo=timezone.utc) if point.tzinfo is None else point


class Context:
    """The shared parts of one feature store (see the module's docstring)."""

    def __init__(self, settings: Settings, metadata: MetadataStore,
                 spark: SparkSession | None = None) -> None:
        self.settings = settings
        self.metadata = metadata
        self._spark: SparkSession | None = None
        self._registered: set[str] = set()
        self._projects = {settings.project}      # registered in the catalog once Spark runs
        if spark is not None:
            self.use(spark)

    # -- Spark and the stores -----------------------------------------------------------------------
    @property
    def spark(self) -> SparkSession:
        """The SparkSession, started (with the settings' cluster check) on first use."""
        if self._spark is None:
            from .session import get_spark
            self.use(get_spark(self.settings))
        assert self._spark is not None
        return self._spark

    @property
    def spark_started(self) -> bool:
        return self._spark is not None

    def use(self, spark: SparkSession) -> None:
        """Run on ``spark`` (checked against the settings' cluster) and make the projects used so
        far readable by name in its catalog."""
        from .session import check_cluster
        check_cluster(self.settings, spark.sparkContext.master or "")
        self._spark = spark
        for project in sorted(self._projects):
            self.register_project(project)

    @cached_property
    def offline(self) -> DeltaEngine:
        from .offline.delta import DeltaEngine
        return DeltaEngine(self.spark, self.settings.warehouse)

    def read(self, group: FeatureGroup, commit: int | None = None) -> DataFrame:
        """A feature group's rows: a Delta group's at ``commit`` (None: the latest), an external
        group's from its source now (it has no commits)."""
        if group.external:
            if commit is not None:
                from .connectors.external import no_commits
                raise no_commits(group, f"cannot read {group.name!r} at commit {commit}")
            from .connectors import Connectors
            from .connectors.external import read
            return read(self.spark, Connectors(self.metadata, self.settings), group)
        return self.offline.read(group, commit)

    def size(self, group: FeatureGroup) -> int | None:
        """The bytes of a Delta group's latest files (from its log); None for an external one."""
        return None if group.external else self.offline.size(group)

    @cached_property
    def online_backend(self) -> SqlOnlineBackend:
        """The online store's backend (opened on first use: a store that never goes online never
        connects to one); lookups need nothing else."""
        from .online import open_online_backend
        return open_online_backend(self.settings)

    @cached_property
    def online(self) -> OnlineSync:
        """Writes to and syncs of the online store (they need Spark)."""
        from .online.sync import OnlineSync
        return OnlineSync(self.online_backend, self.offline, self.metadata,
                          self.settings.online.batch_size)

    def job(self, name: str | None) -> str:
        """What a commit records as the job that made it: ``name`` when given, else the Spark
        application's name and id (a spark-submit's ``--name`` and its YARN/standalone id)."""
        if name:
            return name.strip()
        sc = self.spark.sparkContext
        return f"{sc.appName} ({sc.applicationId})"

    def path_exists(self, location: str) -> bool:
        return paths.exists(self.spark, location)

    # -- projects -----------------------------------------------------------------------------------
    def project(self, project: str | None) -> str:
        """``project`` (default: the settings' one), checked, and registered in Spark's catalog
        when Spark runs."""
        project = project or self.settings.project
        if (problem := name_problem("project", project)):
            raise InvalidInputError("cannot open feature store", [problem], write=False)
        self._projects.add(project)
        if self._spark is not None:
            self.register_project(project)
        return project

    def register_project(self, project: str) -> None:
        """Make the project's feature groups readable by name in this session's catalog."""
        if project in self._registered:
            return
        self.offline.ensure_database(project)
        for group in self.metadata.list_feature_groups(project):
            if not group.external:         # an external group has no table: it is read
                self.offline.register(group)
        self._registered.add(project)

    # -- catalog reads ------------------------------------------------------------------------------
    def feature_group(self, name: str, version: int | None = None,
                      project: str | None = None) -> FeatureGroup:
        """The metadata of a feature group version (the latest when ``version`` is None)."""
        if (problem := name_problem("feature group", name)):
            raise InvalidInputError(f"cannot find feature group {name!r}", [problem], write=False)
        return self.metadata.get_feature_group(self.project(project), name, version)

    def feature_groups(self, project: str | None = None) -> list[FeatureGroup]:
        return self.metadata.list_feature_groups(self.project(project))

    def commits(self, name: str, version: int | None = None,
                project: str | None = None) -> list[Commit]:
        group = self.feature_group(name, version, project)
        return self.metadata.commits(group.project, group.name, group.version)

    def commit_as_of(self, group: FeatureGroup, as_of: int | datetime | date | str) -> int:
        """The registered commit ``as_of`` names: that commit id, or the last one at or before
        that point in time (naive times are UTC)."""
        if group.external:
            from .connectors.external import no_commits
            raise no_commits(group, f"cannot read {group.name!r} as of {as_of}")
        commits = self.metadata.commits(group.project, group.name, group.version)
        if isinstance(as_of, int):
            if any(c.commit_id == as_of for c in commits):
                return as_of
            raise CommitNotFound(f"{group.name} version {group.version} has no commit {as_of}; its "
                                 f"commits are {[c.commit_id for c in commits]}")
        point = utc(as_of)
        earlier = [c for c in commits if c.committed_at <= point]
        if not earlier:
            raise CommitNotFound(f"{group.name} version {group.version} has no commit at or before "
                                 f"{point.isoformat()}; its first commit was at "
                                 f"{commits[0].committed_at.isoformat()}")
        return earlier[-1].commit_id
