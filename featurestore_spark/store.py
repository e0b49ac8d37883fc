"""Store: the facade the three faces (handles, Hops builders, hops-util-py functions) talk to,
composing the engines, each given the shared ``Context`` and never this object:
``feature_groups.FeatureGroupWrites`` (create, insert, delete; undo and retry), ``reads.Reads``,
``quality.Quality`` (statistics, validation), ``query``, ``training`` and
``online.vectors.Vectors`` (feature vectors, no Spark needed)."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from .config import Settings, load_settings
from .connectors.groups import ExternalGroups
from .context import Context
from .feature_groups import FeatureGroupWrites
from .logs import quiet_libraries
from .metadata import Commit, FeatureGroup, MetadataStore, open_metadata_store
from .online.vectors import Vectors
from .quality import Quality
from .query import Query
from .reads import Reads
from .spec import CreateSpec, InsertSpec, ReadSpec
from .streaming import StreamSpec, Streams
from .training import TrainingDatasets

if TYPE_CHECKING:
    from datetime import date, datetime

    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

    from .connectors.external import ExternalSpec
    from .consistency import CheckReport
    from .online.serving import FeatureVectorServer
    from .online.sync import ConsistencyReport, SyncResult


S = TypeVar("S", bound="Store")


class Store:
    """Feature groups of one or more projects, over one SparkSession and one metadata store:
    the engines composed (``FeatureStore`` adds the handle factories on top)."""

    def __init__(self, spark: SparkSession | None, settings: Settings,
                 metadata: MetadataStore) -> None:
        self.ctx = Context(settings, metadata, spark)      # spark None: started on first use
        self.vectors = Vectors(self.ctx)
        self.writes = FeatureGroupWrites(self.ctx, self.quality, self.vectors.changed)
        self.reads = Reads(self.ctx)
        self.external = ExternalGroups(self.ctx)

    @classmethod
    def connect(cls: type[S], settings: Settings | None = None,
                spark: SparkSession | bool | None = None) -> S:
        """A store of ``settings`` (default: ``load_settings()``) over ``spark`` (None: the active
        session or a new one, started now; False: started later, by the first call that needs
        it, so that a model server reading feature vectors runs no JVM)."""
        quiet_libraries()    # their loggers at WARNING, or all at FEATURESTORE_LOG_LEVEL
        settings = settings or load_settings()
        store = cls(None, settings, open_metadata_store(settings))
        if spark is None or spark is True:
            store.ctx.spark                               # noqa: B018  (started now)
        elif spark is not False:
            store.ctx.use(spark)
        return store

    # -- the shared parts ---------------------------------------------------------------------------
    settings = property(lambda self: self.ctx.settings, doc="The settings.")
    metadata = property(lambda self: self.ctx.metadata, doc="The metadata store.")

    spark = property(lambda self: self.ctx.spark, doc="The SparkSession (started on first use).")
    spark_started = property(lambda self: self.ctx.spark_started, doc="Whether Spark runs yet.")
    offline = property(lambda self: self.ctx.offline, doc="The Delta engine.")
    online = property(lambda self: self.ctx.online, doc="Online writes and syncs.")
    online_backend = property(lambda self: self.ctx.online_backend, doc="The online backend.")

    @cached_property
    def quality(self) -> Quality:
        """Statistics and validation: settings, suites, reports, statistics per commit."""
        return Quality(self.ctx)

    # -- metadata ---------------------------------------------------------------------------------
    def feature_group(self, name: str, version: int | None = None,
                      project: str | None = None) -> FeatureGroup:
        """The metadata of a feature group version (the latest when ``version`` is None)."""
        return self.ctx.feature_group(name, version, project)

    def feature_groups(self, project: str | None = None) -> list[FeatureGroup]:
        return self.ctx.feature_groups(project)

    def latest_version(self, name: str, project: str | None = None) -> int:
        return self.ctx.feature_group(name, None, project).version

    def commits(self, name: str, version: int | None = None,
                project: str | None = None) -> list[Commit]:
        return self.ctx.commits(name, version, project)

    def commit_as_of(self, group: FeatureGroup, as_of: int | datetime | date | str) -> int:
        return self.ctx.commit_as_of(group, as_of)

    # -- writes and reads (feature_groups, reads) -----------------------------------------------------
    def create(self, spec: CreateSpec) -> FeatureGroup:
        """Create a feature group version (``FeatureGroupWrites.create``); returns its metadata."""
        return self.writes.create(spec)

    def insert(self, spec: InsertSpec) -> Commit | None:
        """Append, overwrite or upsert (``FeatureGroupWrites.insert``); the commit, or None."""
        return self.writes.insert(spec)

    def delete(self, name: str, version: int, project: str | None = None) -> None:
        """Drop a feature group version (``FeatureGroupWrites.delete``)."""
        self.writes.delete(name, version, project)

    def read(self, spec: ReadSpec) -> Any:
        return self.reads.read(spec)

    def create_external(self, spec: ExternalSpec) -> FeatureGroup:
        """Register an external feature group (``connectors.groups.ExternalGroups.create``)."""
        group = self.external.create(spec)
        if group.online:
            self.vectors.changed()
        return group

    def changes(self, name: str, start_commit: int | None, end_commit: int | None = None,
                version: int | None = None, project: str | None = None) -> DataFrame:
        return self.reads.changes(name, start_commit, end_commit, version, project)

    def feature(self, feature: str, featuregroup: str | None = None, version: int | None = None,
                project: str | None = None) -> DataFrame:
        return self.reads.feature(feature, featuregroup, version, project)

    def sql(self, query: str, project: str | None = None, online: bool = False) -> DataFrame:
        return self.reads.sql(query, project, online)

    def table_name(self, name: str, version: int | None = None, project: str | None = None) -> str:
        return self.reads.table_name(name, version, project)

    # -- queries (featurestore_spark.query) -------------------------------------------------------
    def query(self, name: str, version: int | None = None, project: str | None = None) -> Query:
        """A query of every feature of a feature group version (the latest by default)."""
        return Query.of_group(self.ctx, self.feature_group(name, version, project))

    def query_labels(self, labels: DataFrame, event_time: str | None = None) -> Query:
        """A query from a DataFrame of labels; with ``event_time``, joins are point in time."""
        return Query.of_labels(self.ctx, labels, event_time)

    def features_query(self, features: list[str], project: str | None = None,
                       versions: dict[str, int] | None = None,
                       join_key: str | list[str] | tuple[str, ...] | None = None,
                       labels: DataFrame | None = None, label_event_time: str | None = None,
                       max_age: Any = None) -> tuple[Query, list[str]]:
        """The query of ``features`` found by name, and its column order as asked."""
        from .query.features import features_query
        return features_query(self.ctx, features, project, versions, join_key, labels,
                              label_event_time, max_age)

    # -- training datasets (featurestore_spark.training) ------------------------------------------
    @cached_property
    def training(self) -> TrainingDatasets:
        """The training datasets (``training.TrainingDatasets``)."""
        return TrainingDatasets(self.ctx, self.quality)

    def training_dataset_source(self, name: str, version: int | None = None,
                                project: str | None = None, labels: DataFrame | None = None,
                                query_from_dict: Any = None) -> DataFrame:
        """The rows a training dataset was made from, read again at its recorded commits."""
        return self.training.source(name, version, project, labels, query_from_dict)

    # -- streaming (featurestore_spark.streaming) ---------------------------------------------------
    @cached_property
    def streams(self) -> Streams:
        """Streaming writes into feature groups (``streaming.Streams``)."""
        return Streams(self.ctx, self.writes)

    def insert_stream(self, spec: StreamSpec) -> StreamingQuery:
        """Start a Structured Streaming query writing each micro-batch into a feature group,
        exactly once (``streaming.sink``); returns it."""
        return self.streams.start(spec)

    def stop_streams(self, timeout: float = 60.0) -> int:
        """Stop this store's streaming queries between micro-batches; how many were stopped."""
        return self.streams.stop(timeout)

    # -- online -----------------------------------------------------------------------------------
    def sync_online(self, name: str, version: int | None = None, project: str | None = None,
                    full: bool = False) -> SyncResult:
        """Bring the online table up to the latest commit, incrementally (Delta's change data
        feed) or in full (``OnlineSync.sync``; a group not online yet is made online)."""
        group = self.feature_group(name, version, project)
        if not group.online:
            self.vectors.changed()            # plans of this process see it at once
        if group.external:                    # no commits: loaded whole from its source now
            from .online.sync import SyncResult
            written = self.external.sync_online(group)
            return SyncResult(group.name, group.version, "full", None, None, written, 0)
        return self.online.sync(group, full)

    def check(self, project: str | None = None, repair: bool = False) -> CheckReport:
        """Whether the metadata agrees with the Delta tables, the catalog and the online tables
        (``consistency.check``; without ``repair`` it writes nothing)."""
        from .consistency import Stores, check
        return check(Stores(self.spark, self.metadata, self.offline, self.online_backend),
                     project or self.settings.project, repair)

    def check_online(self, name: str, version: int | None = None,
                     project: str | None = None) -> ConsistencyReport:
        """Compare an online table with the offline latest snapshot (``OnlineSync.check``)."""
        group = self.feature_group(name, version, project)
        return self.online.check(group, self.ctx.read(group) if group.external else None)

    # -- feature vectors (online.vectors; no Spark) ---------------------------------------------------
    def feature_vector_server(self, features: list[str], project: str | None = None,
                              versions: dict[str, int] | None = None) -> FeatureVectorServer:
        """A server of vectors of ``features`` (``Vectors.server``): ``get`` / ``get_batch``."""
        return self.vectors.server(features, project, versions)

    def feature_vector(self, features: list[str], key: Any, project: str | None = None,
                       versions: dict[str, int] | None = None, missing: str = "null") -> dict[str, Any]:
        """One vector by primary key: ``{feature: value}`` (``Vectors.vector``)."""
        return self.vectors.vector(features, key, project, versions, missing)

    def feature_vectors(self, features: list[str], keys: list[Any], project: str | None = None,
                        versions: dict[str, int] | None = None, return_type: str = "dict",
                        missing: str = "null") -> Any:
        """The vectors of a batch of keys, in order (``Vectors.vectors``)."""
        return self.vectors.vectors(features, keys, project, versions, return_type, missing)

    def close(self) -> None:
        """Close the online store's pooled connections and the metadata store's kept ones."""
        self.ctx.metadata.close()
        self.vectors.close()
