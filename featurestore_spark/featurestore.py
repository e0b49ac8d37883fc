"""The hops-util-py style functions, over the same builders as ``Hops`` (one code path).

Parameter names follow hops-util-py. Reads default to the latest version (hops-util-py defaults
to 1); ``featurestore`` is a project (``demo``) or its feature store (``demo_featurestore``).

Examples
--------
>>> from featurestore_spark import featurestore
>>> featurestore.create_featuregroup(df, "teams", primary_key=["team_id"])   # doctest: +SKIP
>>> featurestore.insert_into_featuregroup(fixes, "teams", mode="upsert")     # doctest: +SKIP
>>> featurestore.get_featuregroup("teams", as_of=0, dataframe_type="pandas") # doctest: +SKIP
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Iterable, Mapping, cast

from .builders.quality import statistics_config
from .errors import InvalidInputError
from .hops import Hops
from .metadata import Commit, FeatureGroup, TrainingDataset
from .statistics.config import StatisticsConfig

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from .connectors import StorageConnector
    from .query import Query

from .feature_store import default_store


_HOPS_STATISTICS = ("descriptive_statistics", "feature_correlation", "feature_histograms",
                    "cluster_analysis", "stat_columns", "num_bins", "corr_method", "num_clusters")


def _hops_settings(arguments: Mapping[str, Any]) -> dict[str, Any]:
    return {k: arguments[k] for k in _HOPS_STATISTICS}


def _on(builder: Any, featurestore: str | None, version: int | None) -> Any:
    if featurestore is not None:
        builder = builder.setFeaturestore(featurestore)
    return builder if version is None else builder.setVersion(version)


def create_featuregroup(df: DataFrame, featuregroup: str, primary_key: str | Iterable[str] = (),
                        description: str = "", featurestore: str | None = None,
                        featuregroup_version: int = 1, partition_by: str | Iterable[str] = (),
                        event_time: str | None = None,
                        feature_descriptions: Mapping[str, str] | None = None,
                        online: bool = False, offline: bool = True,
                        descriptive_statistics: bool | None = None,
                        feature_correlation: bool | None = None,
                        feature_histograms: bool | None = None,
                        cluster_analysis: bool | None = None,
                        stat_columns: Iterable[str] | None = None, num_bins: int | None = None,
                        corr_method: str | None = None, num_clusters: int | None = None,
                        statistics: StatisticsConfig | None = None,
                        expectation_suite: Any = None,
                        validation_ingestion_policy: str = "STRICT",
                        dependencies: Iterable[str] = (),
                        job_name: str | None = None) -> FeatureGroup:
    """Create ``featuregroup`` version ``featuregroup_version`` from ``df``. Without a primary
    key, the first column is the key (as in hops-util-py). ``online``: also create its online
    table and fill it; ``offline=False``: the data goes online only.

    Statistics: the settings of hops-util-py (``descriptive_statistics`` ... ``num_clusters``,
    or all at once as ``statistics``) are kept as the feature group's and used for every commit.
    ``expectation_suite``: a great_expectations suite every write is validated with first;
    ``validation_ingestion_policy`` STRICT refuses failing data, ALWAYS writes it and keeps the
    report. ``dependencies``: the paths or tables it is computed from (``featurestore stale``);
    ``job_name``: what the commit records as its maker (default: the Spark application)."""
    b = (Hops.createFeaturegroup(featuregroup).setDataframe(df).setPrimaryKey(primary_key)
         .setPartitionBy(partition_by).setDescription(description)
         .setFeatureDescriptions(feature_descriptions or {}).setOnline(online).setOffline(offline)
         .setExpectationSuite(expectation_suite)
         .setValidationIngestionPolicy(validation_ingestion_policy).setDependencies(dependencies))
    config = statistics_config(statistics, **_hops_settings(locals()))
    if config is not None:
        b = b.setStatistics(config)
    if job_name is not None:
        b = b.setJobName(job_name)
    if event_time is not None:
        b = b.setEventTime(event_time)
    return _on(b, featurestore, featuregroup_version).write()


def insert_into_featuregroup(df: DataFrame, featuregroup: str, featurestore: str | None = None,
                             featuregroup_version: int | None = None, mode: str = "append",
                             schema_evolution: bool = False, online: bool | None = None,
                             offline: bool = True, descriptive_statistics: bool | None = None,
                             feature_correlation: bool | None = None,
                             feature_histograms: bool | None = None,
                             cluster_analysis: bool | None = None,
                             stat_columns: Iterable[str] | None = None, num_bins: int | None = None,
                             corr_method: str | None = None, num_clusters: int | None = None,
                             statistics: StatisticsConfig | None = None,
                             job_name: str | None = None) -> Commit | None:
    """Write ``df`` into a feature group: ``append``, ``overwrite`` or ``upsert``. ``online``
    (default: whether the feature group is online) also brings its online table up to date;
    ``offline=False`` writes the online table only (and returns None: no offline commit).
    The data is validated with the feature group's expectation suite first; the statistics
    settings given here replace the feature group's for this commit's statistics."""
    b = (Hops.insertIntoFeaturegroup(featuregroup).setDataframe(df).setMode(mode)
         .setSchemaEvolution(schema_evolution).setOffline(offline))
    config = statistics_config(statistics, **_hops_settings(locals()))
    if config is not None:
        b = b.setStatistics(config)
    if online is not None:
        b = b.setOnline(online)
    if job_name is not None:
        b = b.setJobName(job_name)
    return _on(b, featurestore, featuregroup_version).write()


def insert_into_featuregroup_stream(df: DataFrame, featuregroup: str,
                                    featurestore: str | None = None,
                                    featuregroup_version: int | None = None, mode: str = "upsert",
                                    query_name: str | None = None,
                                    checkpoint_dir: str | None = None, trigger: Any = None,
                                    statistics_every: int = 1, output_mode: str = "update",
                                    online: bool | None = None, dead_letter: bool = False,
                                    job_name: str | None = None) -> Any:
    """Start writing the streaming DataFrame ``df`` into a feature group, each micro-batch an
    ``upsert`` (or ``append``) offline and online, exactly once; returns Spark's StreamingQuery
    (see ``FeatureGroup.insert_stream``)."""
    from .builders.featuregroup import project_of
    from .streaming import StreamSpec
    return default_store().insert_stream(StreamSpec(
        featuregroup, df, project_of(featurestore), featuregroup_version, mode, query_name,
        checkpoint_dir, trigger, output_mode, online, statistics_every, job_name=job_name,
        dead_letter=dead_letter))


def create_on_demand_featuregroup(sql_query: str, featuregroup: str, jdbc_connector_name: str,
                                  featurestore: str | None = None, description: str = "",
                                  featuregroup_version: int = 1,
                                  primary_key: str | Iterable[str] = (),
                                  event_time: str | None = None) -> FeatureGroup:
    """Register an external feature group: ``sql_query`` run through JDBC connector
    ``jdbc_connector_name`` whenever it is read (hops-util-py's on-demand feature group)."""
    b = (Hops.createFeaturegroup(featuregroup).setOnDemand(True)
         .setJdbcConnector(jdbc_connector_name).setSqlQuery(sql_query)
         .setDescription(description).setPrimaryKey(primary_key))
    if event_time is not None:
        b = b.setEventTime(event_time)
    return _on(b, featurestore, featuregroup_version).write()


def get_featuregroup(featuregroup: str, featurestore: str | None = None,
                     featuregroup_version: int | None = None, dataframe_type: str = "spark",
                     as_of: int | datetime | date | str | None = None, online: bool = False) -> Any:
    """A feature group's data, latest or ``as_of`` a commit id or point in time; ``online``:
    its online table (the latest row per key)."""
    b = Hops.getFeaturegroup(featuregroup).setDataframeType(dataframe_type).setOnline(online)
    if as_of is not None:
        b = b.setAsOf(as_of)
    return _on(b, featurestore, featuregroup_version).read()


def get_feature(feature: str, featurestore: str | None = None, featuregroup: str | None = None,
                featuregroup_version: int | None = None, dataframe_type: str = "spark") -> Any:
    """One feature; name the feature group when several have a feature of that name."""
    b = Hops.getFeature(feature).setDataframeType(dataframe_type)
    if featuregroup is not None:
        b = b.setFeaturegroup(featuregroup)
    return _on(b, featurestore, featuregroup_version).read()


def get_features(features: list[str], featurestore: str | None = None,
                 featuregroups_version_dict: Mapping[str, int] | None = None,
                 join_key: str | list[str] | None = None, dataframe_type: str = "spark") -> Any:
    """Features from the feature groups that have them, joined: each named ``feature``,
    ``featuregroup.feature`` or ``featuregroup_<version>.feature``. The feature groups are
    inner-joined on keys inferred from their primary keys (or on ``join_key``), point in time
    when both have an event time. ``featuregroups_version_dict`` pins versions, and bare names
    are then looked for in those feature groups only.

    Examples
    --------
    >>> featurestore.get_features(["rating", "teams.attendance"], join_key="team_id")  # doctest: +SKIP
    """
    b = Hops.getFeatures(features).setDataframeType(dataframe_type)
    b = b.setFeaturegroupVersions(featuregroups_version_dict or {})
    if join_key is not None:
        b = b.setJoinKey(join_key)
    return (b if featurestore is None else b.setFeaturestore(featurestore)).read()


def get_query(featuregroup: str, featurestore: str | None = None,
              featuregroup_version: int | None = None) -> Query:
    """A Query of every feature of a feature group, to compose (``select``, ``join``,
    ``filter``, ``as_of``) and ``read()``."""
    from .builders.featuregroup import project_of
    return default_store().query(featuregroup, featuregroup_version, project_of(featurestore))

def sql(query: str, featurestore: str | None = None, dataframe_type: str = "spark",
        online: bool = False) -> Any:
    """Spark SQL against the feature store database (feature groups are ``<name>_<version>``);
    ``online``: the query runs in the online store's own SQL, read through JDBC."""
    b = Hops.queryFeaturestore(query).setDataframeType(dataframe_type).setOnline(online)
    return _on(b, featurestore, None).read()


def get_latest_featuregroup_version(featuregroup: str, featurestore: str | None = None) -> int:
    return _on(Hops.getLatestFeaturegroupVersion(featuregroup), featurestore, None).read()


def get_featuregroup_commits(featuregroup: str, featurestore: str | None = None,
                             featuregroup_version: int | None = None) -> list[Commit]:
    """The commits of a feature group version, oldest first."""
    return _on(Hops.getFeaturegroupCommits(featuregroup), featurestore, featuregroup_version).read()


def get_featuregroup_changes(featuregroup: str, start_commit: int, end_commit: int | None = None,
                             featurestore: str | None = None,
                             featuregroup_version: int | None = None) -> DataFrame:
    """What the commits after ``start_commit`` up to ``end_commit`` (default latest) changed."""
    b = Hops.getFeaturegroupChanges(featuregroup).setStartCommit(start_commit)
    if end_commit is not None:
        b = b.setEndCommit(end_commit)
    return _on(b, featurestore, featuregroup_version).read()


def delete_featuregroup(featuregroup: str, featurestore: str | None = None,
                        featuregroup_version: int = 1) -> None:
    _on(Hops.deleteFeaturegroup(featuregroup), featurestore, featuregroup_version).write()


def get_featuregroups(featurestore: str | None = None) -> list[str]:
    """``<name>_<version>`` of every feature group in the feature store."""
    from .builders.featuregroup import project_of
    return [f"{g.name}_{g.version}" for g in default_store().feature_groups(project_of(featurestore))]


def get_project_featurestore() -> str:
    """The feature store database of the configured project."""
    return f"{default_store().settings.project}_featurestore"


def sync_online_featuregroup(featuregroup: str, featurestore: str | None = None,
                             featuregroup_version: int | None = None, full: bool = False) -> Any:
    """Bring a feature group's online table up to its latest commit (``full``: rewrite it)."""
    b = Hops.syncOnlineFeaturegroup(featuregroup).setFull(full)
    return _on(b, featurestore, featuregroup_version).write()


def check_online_featuregroup(featuregroup: str, featurestore: str | None = None,
                              featuregroup_version: int | None = None) -> Any:
    """Compare an online table with the offline latest snapshot; ``.consistent`` says if equal."""
    return _on(Hops.checkOnlineFeaturegroup(featuregroup), featurestore, featuregroup_version).read()


def get_online_feature_vector(features: list[str], key: Any, featurestore: str | None = None,
                              featuregroups_version_dict: Mapping[str, int] | None = None,
                              missing: str = "null") -> dict[str, Any]:
    """The feature vector of one primary key (a dict of key columns, or a single value)."""
    b = Hops.getFeatureVector(features).setKey(key).setMissing(missing)
    b = b.setFeaturegroupVersions(featuregroups_version_dict or {})
    return (b if featurestore is None else b.setFeaturestore(featurestore)).read()


def get_online_feature_vectors(features: list[str], keys: list[Any],
                               featurestore: str | None = None,
                               featuregroups_version_dict: Mapping[str, int] | None = None,
                               return_type: str = "dict", missing: str = "null") -> Any:
    """The feature vectors of a batch of keys, in order: a list of dicts or a pandas DataFrame."""
    b = (Hops.getFeatureVector(features).setKeys(keys).setMissing(missing)
         .setReturnType(return_type).setFeaturegroupVersions(featuregroups_version_dict or {}))
    return (b if featurestore is None else b.setFeaturestore(featurestore)).read()


# -- training datasets ----------------------------------------------------------------------------
def create_training_dataset(df: Any, training_dataset: str, description: str = "",
                            featurestore: str | None = None, data_format: str = "tfrecords",
                            training_dataset_version: int = 1,
                            splits: Mapping[str, Any] | None = None, seed: int | None = None,
                            event_time: str | None = None,
                            path: str | None = None,
                            statistics: StatisticsConfig | None = None,
                            sink: StorageConnector | str | None = None) -> TrainingDataset:
    """Write ``df`` (a Spark DataFrame, or a query to make it again later) as training dataset
    ``training_dataset`` version ``training_dataset_version``, in ``data_format`` (tfrecords,
    parquet, csv, tsv, avro, orc), under the feature store's training dataset folder or
    ``path``. ``splits``: ``{"train": 0.8, "test": 0.2}`` (random; ``seed`` makes it
    repeatable and is recorded) or ``{"train": (start, end), ...}`` ranges of ``event_time``.
    ``sink``: a storage connector (s3, hdfs, file; its name or the object) the files go to,
    ``path`` then being their folder under it (default ``<name>_<version>``).

    Examples
    --------
    >>> featurestore.create_training_dataset(df, "matches", data_format="parquet",
    ...                                      splits={"train": 0.8, "test": 0.2}, seed=42)  # doctest: +SKIP
    >>> featurestore.create_training_dataset(df, "matches", data_format="parquet",
    ...                                      sink="ml_lake")                               # doctest: +SKIP
    """
    b = (Hops.createTrainingDataset(training_dataset).setDataFormat(data_format)
         .setDescription(description).setSplits(splits or {}))
    from .training.lineage import is_query
    b = b.setQuery(df) if is_query(df) else b.setDataframe(df)
    if seed is not None:
        b = b.setSeed(seed)
    if event_time is not None:
        b = b.setEventTime(event_time)
    if path is not None:
        b = b.setPath(path)
    if statistics is not None:
        b = b.setStatistics(statistics)
    if sink is not None:
        b = b.setSink(sink)
    return _on(b, featurestore, training_dataset_version).write()


def get_training_dataset(training_dataset: str, featurestore: str | None = None,
                         training_dataset_version: int | None = None,
                         dataframe_type: str = "spark", split: str | None = None) -> Any:
    """A training dataset's rows (the latest version by default): every split, or ``split``;
    ``dataframe_type`` spark, pandas, numpy or python."""
    b = Hops.getTrainingDataset(training_dataset).setDataframeType(dataframe_type)
    if split is not None:
        b = b.setSplit(split)
    return _on(b, featurestore, training_dataset_version).read()


def get_training_dataset_path(training_dataset: str, featurestore: str | None = None,
                              training_dataset_version: int | None = None,
                              split: str | None = None) -> str:
    """The folder of a training dataset version (or of one of its splits)."""
    b = Hops.getTrainingDatasetPath(training_dataset)
    if split is not None:
        b = b.setSplit(split)
    return _on(b, featurestore, training_dataset_version).read()


def get_training_dataset_tf_record_schema(training_dataset: str, featurestore: str | None = None,
                                          training_dataset_version: int | None = None
                                          ) -> dict[str, dict[str, Any]]:
    """The feature spec of a tfrecords training dataset: ``{name: {"kind": "FixedLenFeature" |
    "VarLenFeature", "dtype": ..., "shape": [...]}}`` (``training.tensorflow_feature_spec``
    turns it into TensorFlow's)."""
    b = Hops.getTrainingDatasetTfRecordSchema(training_dataset)
    return _on(b, featurestore, training_dataset_version).read()


def get_latest_training_dataset_version(training_dataset: str,
                                        featurestore: str | None = None) -> int:
    return _on(Hops.getLatestTrainingDatasetVersion(training_dataset), featurestore, None).read()


def get_training_datasets(featurestore: str | None = None) -> list[str]:
    """``<name>_<version>`` of every training dataset in the feature store."""
    from .builders.featuregroup import project_of
    return [f"{d.name}_{d.version}"
            for d in default_store().training.list(project_of(featurestore))]


def create_feature_view(feature_view: str, query: Query, labels: str | Iterable[str] = (),
                        transformation_functions: Iterable[Any] = (), description: str = "",
                        inference_helper_columns: str | Iterable[str] = (),
                        featurestore: str | None = None, version: int | None = None) -> Any:
    """Register a feature view of ``query`` (the builder ``Hops.createFeatureView``); returns
    its handle (``featurestore_spark.views.FeatureView``)."""
    builder = (Hops.createFeatureView(feature_view).setQuery(query).setLabels(labels)
               .setInferenceHelperColumns(inference_helper_columns)
               .setTransformationFunctions(list(transformation_functions))
               .setDescription(description))
    return _on(builder, featurestore, version).write()


def get_feature_view(feature_view: str, featurestore: str | None = None,
                     feature_view_version: int | None = None) -> Any:
    """The handle of a feature view (the latest version by default)."""
    return _on(Hops.getFeatureView(feature_view), featurestore, feature_view_version).read()


def recreate_training_dataset(training_dataset: str, featurestore: str | None = None,
                              training_dataset_version: int | None = None,
                              new_version: int | None = None, path: str | None = None,
                              labels: DataFrame | None = None,
                              sink: StorageConnector | str | None = None) -> TrainingDataset:
    """Write a training dataset made from a query again, as ``new_version`` (default: the
    next): its recorded query at its recorded commits, so the same rows in the same splits,
    even after the feature groups were updated; through the storage connector it was written
    to, or ``sink``."""
    b = Hops.recreateTrainingDataset(training_dataset).setLabels(labels)
    if sink is not None:
        b = b.setSink(sink)
    if new_version is not None:
        b = b.setNewVersion(new_version)
    if path is not None:
        b = b.setPath(path)
    return _on(b, featurestore, training_dataset_version).write()


def delete_training_dataset(training_dataset: str, featurestore: str | None = None,
                            training_dataset_version: int = 1) -> None:
    """Remove a training dataset version: its files and its registration."""
    _on(Hops.deleteTrainingDataset(training_dataset), featurestore, training_dataset_version).write()


# -- statistics and validation -----------------------------------------------------------------------
def _group(featuregroup: str, featurestore: str | None, version: int | None) -> Any:
    from .builders.featuregroup import project_of
    store = default_store()
    return store, store.feature_group(featuregroup, version, project_of(featurestore))


def get_featuregroup_statistics(featuregroup: str, featurestore: str | None = None,
                                featuregroup_version: int | None = None,
                                commit: int | None = None) -> dict[str, Any]:
    """The statistics of a feature group as of ``commit`` (default: the latest commit that has
    them): ``descriptive``, ``histograms``, ``correlations``, ``clusters``, with ``commit``.

    Examples
    --------
    >>> featurestore.get_featuregroup_statistics("teams")["descriptive"]["budget"]["mean"]  # doctest: +SKIP
    """
    store, group = _group(featuregroup, featurestore, featuregroup_version)
    return store.quality.statistics(group, commit)


def update_featuregroup_stats(featuregroup: str, featurestore: str | None = None,
                              featuregroup_version: int | None = None, commit: int | None = None,
                              descriptive_statistics: bool | None = None,
                              feature_correlation: bool | None = None,
                              feature_histograms: bool | None = None,
                              cluster_analysis: bool | None = None,
                              stat_columns: Iterable[str] | None = None,
                              num_bins: int | None = None, corr_method: str | None = None,
                              num_clusters: int | None = None,
                              statistics: StatisticsConfig | None = None) -> dict[str, Any]:
    """Compute (again) the statistics of ``commit`` (default: the latest) as Spark jobs and
    keep them. Settings given become the feature group's."""
    store, group = _group(featuregroup, featurestore, featuregroup_version)
    config = statistics_config(statistics or store.quality.config(group), **_hops_settings(locals()))
    if config != store.quality.config(group):
        store.quality.set_config(group, config)
    if group.external and commit is not None:
        raise InvalidInputError(f"cannot compute the statistics of {featuregroup!r} at commit "
                                f"{commit}", [f"{group.name} v{group.version} is an external "
                                              "feature group: it has no commits (leave commit out:"
                                              " its source now, as a new run)"], write=False)
    if commit is None and not group.external:     # external: of its source now, as a new run
        commit = store.metadata.commits(group.project, group.name, group.version)[-1].commit_id
    return store.quality.compute(group, commit)


def compare_featuregroup_statistics(featuregroup: str, old_commit: int, new_commit: int,
                                    featurestore: str | None = None,
                                    featuregroup_version: int | None = None) -> dict[str, Any]:
    """How the features changed between two commits: per feature the change in mean and in
    null fraction, and the population stability index (PSI) of their histograms."""
    store, group = _group(featuregroup, featurestore, featuregroup_version)
    return store.quality.compare(group, old_commit, new_commit)


def _figures(stats: dict[str, Any], kind: str, feature: str | None) -> Any:
    from .statistics import cluster_figure, correlation_figure, histogram_figure
    if kind == "correlations":
        return correlation_figure(stats)
    if kind == "clusters":
        return cluster_figure(stats)
    if feature is not None:
        return histogram_figure(stats, feature)
    return {f: histogram_figure(stats, f) for f in stats.get("histograms", {})}


def visualize_featuregroup_distributions(featuregroup: str, feature: str | None = None,
                                         featurestore: str | None = None,
                                         featuregroup_version: int | None = None,
                                         commit: int | None = None) -> Any:
    """The histogram of ``feature`` as a matplotlib Figure (every histogram, by feature, when
    None); ``figure.savefig(path)`` writes a PNG."""
    return _figures(get_featuregroup_statistics(featuregroup, featurestore, featuregroup_version,
                                                commit), "histograms", feature)


def visualize_featuregroup_correlations(featuregroup: str, featurestore: str | None = None,
                                        featuregroup_version: int | None = None,
                                        commit: int | None = None) -> Any:
    """The correlation heat map of the numeric features, a matplotlib Figure."""
    return _figures(get_featuregroup_statistics(featuregroup, featurestore, featuregroup_version,
                                                commit), "correlations", None)


def visualize_featuregroup_clusters(featuregroup: str, featurestore: str | None = None,
                                    featuregroup_version: int | None = None,
                                    commit: int | None = None) -> Any:
    """The k-means clusters of a sample in two dimensions (PCA), a matplotlib Figure."""
    return _figures(get_featuregroup_statistics(featuregroup, featurestore, featuregroup_version,
                                                commit), "clusters", None)


def get_training_dataset_statistics(training_dataset: str, featurestore: str | None = None,
                                    training_dataset_version: int | None = None) -> dict[str, Any]:
    """The statistics of a training dataset's rows (computed when it was written, or by
    :func:`update_training_dataset_stats`)."""
    from .builders.featuregroup import project_of
    store = default_store()
    td = store.training.get(training_dataset, training_dataset_version, project_of(featurestore))
    return store.quality.training_dataset_statistics(td)


def update_training_dataset_stats(training_dataset: str, featurestore: str | None = None,
                                  training_dataset_version: int | None = None,
                                  statistics: StatisticsConfig | None = None) -> dict[str, Any]:
    """Compute (again) the statistics of a training dataset's rows and keep them."""
    from .builders.featuregroup import project_of
    store = default_store()
    project = project_of(featurestore)
    td = store.training.get(training_dataset, training_dataset_version, project)
    rows = store.training.read(td.name, td.version, project=project)
    # on demand, it returns the statistics or raises (None only when they are skipped on write)
    return cast("dict[str, Any]", store.quality.training_statistics(td, rows, statistics,
                                                                   on_demand=True))


def visualize_training_dataset_distributions(training_dataset: str, feature: str | None = None,
                                             featurestore: str | None = None,
                                             training_dataset_version: int | None = None) -> Any:
    return _figures(get_training_dataset_statistics(training_dataset, featurestore,
                                                    training_dataset_version), "histograms", feature)


def visualize_training_dataset_correlations(training_dataset: str, featurestore: str | None = None,
                                            training_dataset_version: int | None = None) -> Any:
    return _figures(get_training_dataset_statistics(training_dataset, featurestore,
                                                    training_dataset_version), "correlations", None)


def visualize_training_dataset_clusters(training_dataset: str, featurestore: str | None = None,
                                        training_dataset_version: int | None = None) -> Any:
    return _figures(get_training_dataset_statistics(training_dataset, featurestore,
                                                    training_dataset_version), "clusters", None)


def attach_expectation_suite(featuregroup: str, expectation_suite: Any,
                             validation_ingestion_policy: str = "STRICT",
                             featurestore: str | None = None,
                             featuregroup_version: int | None = None) -> int:
    """Validate every later write of the feature group with ``expectation_suite`` (a
    great_expectations ExpectationSuite, or its dict or JSON; None detaches the current one);
    returns the suite's new version number."""
    store, group = _group(featuregroup, featurestore, featuregroup_version)
    return store.quality.attach(group, expectation_suite, validation_ingestion_policy)


def get_expectation_suite(featuregroup: str, featurestore: str | None = None,
                          featuregroup_version: int | None = None) -> dict[str, Any] | None:
    """The feature group's current suite (canonical dict) with its ``policy`` and ``version``,
    or None without one."""
    store, group = _group(featuregroup, featurestore, featuregroup_version)
    suite, policy, version = store.quality.suite(group)
    return None if suite is None else {**suite, "policy": policy, "version": version}


def get_validation_reports(featuregroup: str, featurestore: str | None = None,
                           featuregroup_version: int | None = None,
                           commit: int | None = None) -> list[dict[str, Any]]:
    """The validation reports kept with the feature group's commits (of one ``commit``)."""
    store, group = _group(featuregroup, featurestore, featuregroup_version)
    return store.quality.reports(group, commit)


def validate(df: DataFrame, featuregroup: str, featurestore: str | None = None,
             featuregroup_version: int | None = None) -> dict[str, Any]:
    """Validate ``df`` with the feature group's suite without writing anything: the report."""
    store, group = _group(featuregroup, featurestore, featuregroup_version)
    return store.quality.check(group, df)


# -- tags, keywords and search (the registry) ------------------------------------------------------
def _labelled(kind: str, name: str, featurestore: str | None, version: int | None,
              feature: str | None = None) -> tuple[Any, Any]:
    from .builders.featuregroup import project_of
    from .registry.faces import subject
    store = default_store()
    return store.metadata, subject(store, kind, name, project_of(featurestore), version, feature)


def add_featuregroup_tag(featuregroup: str, name: str, value: Any, featurestore: str | None = None,
                         featuregroup_version: int | None = None, feature: str | None = None) -> None:
    """Tag a feature group version (the latest by default), or one of its features."""
    from .registry.labels import put_tag
    meta, s = _labelled("fg", featuregroup, featurestore, featuregroup_version, feature)
    put_tag(meta, s, name, value)


def get_featuregroup_tags(featuregroup: str, featurestore: str | None = None,
                          featuregroup_version: int | None = None,
                          feature: str | None = None) -> dict[str, Any]:
    meta, s = _labelled("fg", featuregroup, featurestore, featuregroup_version, feature)
    return cast(dict, meta.tags(s))


def remove_featuregroup_tag(featuregroup: str, name: str, featurestore: str | None = None,
                            featuregroup_version: int | None = None,
                            feature: str | None = None) -> None:
    meta, s = _labelled("fg", featuregroup, featurestore, featuregroup_version, feature)
    if not meta.delete_tag(s, name):
        raise KeyError(f"no tag {name!r} to remove")


def add_featuregroup_keywords(featuregroup: str, keywords: Iterable[str],
                              featurestore: str | None = None,
                              featuregroup_version: int | None = None,
                              feature: str | None = None) -> None:
    from .registry.labels import keyword_list
    meta, s = _labelled("fg", featuregroup, featurestore, featuregroup_version, feature)
    meta.add_keywords(s, keyword_list(keywords))


def get_featuregroup_keywords(featuregroup: str, featurestore: str | None = None,
                              featuregroup_version: int | None = None,
                              feature: str | None = None) -> list[str]:
    meta, s = _labelled("fg", featuregroup, featurestore, featuregroup_version, feature)
    return cast(list, meta.keywords(s))


def add_training_dataset_tag(training_dataset: str, name: str, value: Any,
                             featurestore: str | None = None,
                             training_dataset_version: int | None = None) -> None:
    from .registry.labels import put_tag
    meta, s = _labelled("td", training_dataset, featurestore, training_dataset_version)
    put_tag(meta, s, name, value)


def get_training_dataset_tags(training_dataset: str, featurestore: str | None = None,
                              training_dataset_version: int | None = None) -> dict[str, Any]:
    meta, s = _labelled("td", training_dataset, featurestore, training_dataset_version)
    return cast(dict, meta.tags(s))


def remove_training_dataset_tag(training_dataset: str, name: str, featurestore: str | None = None,
                                training_dataset_version: int | None = None) -> None:
    meta, s = _labelled("td", training_dataset, featurestore, training_dataset_version)
    if not meta.delete_tag(s, name):
        raise KeyError(f"no tag {name!r} to remove")


def add_training_dataset_keywords(training_dataset: str, keywords: Iterable[str],
                                  featurestore: str | None = None,
                                  training_dataset_version: int | None = None) -> None:
    from .registry.labels import keyword_list
    meta, s = _labelled("td", training_dataset, featurestore, training_dataset_version)
    meta.add_keywords(s, keyword_list(keywords))


def get_training_dataset_keywords(training_dataset: str, featurestore: str | None = None,
                                  training_dataset_version: int | None = None) -> list[str]:
    meta, s = _labelled("td", training_dataset, featurestore, training_dataset_version)
    return cast(list, meta.keywords(s))


def search(text: str, featurestore: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Feature groups, features, views and training datasets matching ``text``, best first."""
    from .builders.featuregroup import project_of
    return default_store().search(text, limit, project=project_of(featurestore))


def create_storage_connector(name: str, connector_type: str, featurestore: str | None = None,
                             **settings: Any) -> Any:
    """Keep a storage connector (see ``FeatureStore.create_storage_connector``)."""
    from .builders.featuregroup import project_of
    return default_store().create_storage_connector(name, connector_type,
                                                    project=project_of(featurestore), **settings)


def get_storage_connector(storage_connector_name: str, featurestore: str | None = None) -> Any:
    from .builders.featuregroup import project_of
    return default_store().get_storage_connector(storage_connector_name,
                                                 project=project_of(featurestore))
