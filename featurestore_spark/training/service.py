"""TrainingDatasets: create, read and make again the training datasets of a feature store.

A training dataset version is files of one data format in a folder (one sub-folder per split),
registered in the metadata store with its columns, splits and source. Creation checks the whole
request first (one error listing every problem, nothing written), writes the files from the
executors, and registers the version last; if writing or registering fails, the folder is
removed, so a failure leaves neither files nor a registered version. The folder is the feature
store's, one of the user's, or under a storage connector (:mod:`.sinks`).
"""

from __future__ import annotations

import builtins
import getpass
import json
import logging
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..connectors import Connectors, StorageConnector
from ..dataframes import as_spark, convert
from ..errors import InvalidInputError, TrainingDatasetNotFound
from ..metadata import Feature, TrainingDataset
from ..names import name_problem
from ..spec import DATAFRAME_TYPES
from .. import paths
from . import formats, lineage, sinks, splits
from ..statistics.config import config_problems
from .spec import TrainingDatasetSpec, version_problem

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from ..context import Context
    from ..quality import Quality

log = logging.getLogger(__name__)


def _json(value: Any) -> Any:
    """``value`` as the metadata store gives it back (tuples become lists)."""
    return json.loads(json.dumps(value))


def _lost_race(error: BaseException) -> bool:
    """Whether a write failed at once because its folder exists (Spark's or Hadoop's check)."""
    return any(s in str(error) for s in (
        "PATH_ALREADY_EXISTS", "FileAlreadyExistsException"))


class TrainingDatasets:
    """The training datasets of a :class:`~featurestore_spark.FeatureStore` (``store.training``).

    Examples
    --------
    >>> spec = TrainingDatasetSpec("matches", df, data_format="parquet",
    ...                            splits=(("train", 0.8), ("test", 0.2)))  # doctest: +SKIP
    >>> td = store.training.create(spec)                                     # doctest: +SKIP
    >>> store.training.read("matches", split="train", dataframe_type="pandas")    # doctest: +SKIP
    """

    def __init__(self, ctx: Context, quality: Quality) -> None:
        self.store, self.quality = ctx, quality
        self.metadata = ctx.metadata
        self.connectors = Connectors(ctx.metadata, ctx.settings)

    @property
    def spark(self) -> SparkSession:
        return self.store.spark

    def _project(self, project: str | None) -> str:
        project = project or self.store.settings.project
        if (problem := name_problem("project", project)):
            raise InvalidInputError("cannot open feature store", [problem], write=False)
        return project

    def location(self, project: str, name: str, version: int) -> str:
        return paths.join(self.store.settings.training_path, f"{project}/{name}_{version}")

    # -- metadata ---------------------------------------------------------------------------------
    def get(self, name: str, version: int | None = None,
            project: str | None = None) -> TrainingDataset:
        """The metadata of a version (the latest when ``version`` is None)."""
        problems = [p for p in (name_problem("training dataset", name),
                                version_problem(version, optional=True)) if p]
        if problems:
            raise InvalidInputError(f"cannot find training dataset {name!r}", problems, write=False)
        return self.metadata.get_training_dataset(self._project(project), name, version)

    def list(self, project: str | None = None) -> builtins.list[TrainingDataset]:
        return self.metadata.list_training_datasets(self._project(project))

    def latest_version(self, name: str, project: str | None = None) -> int:
        return self.get(name, None, project).version

    def path(self, name: str, version: int | None = None, split: str | None = None,
             project: str | None = None) -> str:
        """The folder of a version, or of one of its splits."""
        td = self.get(name, version, project)
        return td.location if split is None else self._split_paths(td, split)[0]

    def tf_record_schema(self, name: str, version: int | None = None,
                         project: str | None = None) -> dict[str, dict[str, Any]]:
        """The TFRecord feature spec of a version stored as tfrecords (see
        :func:`.tfrecord.tf_record_schema`)."""
        from .tfrecord import tf_record_schema
        td = self.get(name, version, project)
        if td.data_format != "tfrecords":
            raise InvalidInputError(f"cannot give the tf record schema of {name!r}", [
                f"version {td.version} is stored as {td.data_format}, not tfrecords"], write=False)
        return tf_record_schema(td.features)

    # -- create -----------------------------------------------------------------------------------
    def create(self, spec: TrainingDatasetSpec) -> TrainingDataset:
        """Write a new training dataset version; returns its metadata. Its rows come from a Spark
        DataFrame, a query, or a pandas DataFrame (converted on the driver:
        ``dataframes.as_spark``)."""
        source = as_spark(self.store.spark, spec.source,
                          f"cannot create training dataset {spec.name!r}")
        return self._create(spec, lineage.resolve(source) if source is not None
                            else (None, None, []))

    def _create(self, spec: TrainingDatasetSpec, resolved: tuple[DataFrame | None, Any, builtins.list[str]],
                more_source: dict[str, Any] | None = None) -> TrainingDataset:
        problems = spec.problems()
        project = spec.project or self.store.settings.project
        data_format = formats.normal(spec.data_format)
        split_plan, split_problems = splits.plan(dict(spec.splits) if spec.splits else None,
                                                 spec.seed, spec.event_time)
        problems += split_problems
        if not (name_problem("training dataset", spec.name) or name_problem("project", project)):
            existing = [d.version for d in self.metadata.list_training_datasets(project)
                        if d.name == spec.name]
            if spec.version in existing:
                problems.append(f"training dataset {spec.name} version {spec.version} exists "
                                f"already (latest is {max(existing)}): ask for version "
                                f"{max(existing) + 1} to create a new one")
        df, query, source_problems = resolved
        problems += source_problems
        features: tuple[Feature, ...] = ()
        if df is not None:
            features = tuple(Feature(f.name, f.dataType.simpleString()) for f in df.schema.fields)
            if isinstance(data_format, str) and data_format in formats.DATA_FORMATS:
                problems += formats.type_problems(data_format, features)
            problems += splits.frame_problems(df, split_plan)
            problems += config_problems(spec.statistics, df.schema)
        sink, sink_problems = sinks.resolve(self.connectors, project, spec.storage_connector)
        options, option_problems = sinks.options(sink)
        problems += sink_problems + option_problems
        if sink is not None:
            location, location_problems = sinks.location(sink, spec.path, spec.name, spec.version)
            problems += location_problems
        else:
            location = (spec.path.rstrip("/") if isinstance(spec.path, str) and spec.path.strip()
                        else self.location(project, spec.name, spec.version))
        if not problems:
            problems += self._folder_problems(sink, location, options)
        if problems or df is None:
            raise InvalidInputError(f"cannot create training dataset {spec.name!r}", problems)
        reads, others = lineage.inputs(self.spark, df, self.metadata.list_feature_groups)
        td = TrainingDataset(
            project=project, name=spec.name, version=spec.version, description=spec.description,
            data_format=str(data_format), location=location, features=features,
            splits=_json(split_plan), source=_json({**lineage.record(
                "query" if query is not None else "dataframe", query, reads, others),
                **sinks.record(sink), **(more_source or {})}),
            created_at=datetime.now(timezone.utc), creator=getpass.getuser())
        statistics = self.store.settings.statistics.on_write and spec.statistics.enabled
        # the splits and the statistics read one result: computed once (kept by the executors)
        kept = df.persist() if statistics or td.splits["kind"] != "none" else None
        try:
            with paths.storage_errors(self.spark, location,
                                      f"cannot create training dataset {td.name} v{td.version}",
                                      options=options):
                self._write(td, df, options)
            if statistics:
                self.quality.training_statistics(td, df, spec.statistics)
        finally:
            if kept is not None:
                kept.unpersist()
        return self.metadata.get_training_dataset(project, td.name, td.version)

    def _folder_problems(self, sink: StorageConnector | None, location: str,
                         options: dict[str, str]
                         ) -> builtins.list[str]:
        """Why ``location`` cannot become the new dataset's folder (it exists, a file is in the
        way, or its file system cannot be reached)."""
        from py4j.protocol import Py4JError
        from pyspark.errors import PySparkException
        try:
            there = paths.exists(self.spark, location, options=options)
        except (Py4JError, PySparkException) as e:
            return [sinks.unreachable(sink, location, e)]
        if there:
            return [f"{location} exists already: remove it, or write the training dataset "
                    "somewhere else (path) or as another version"]
        if (reason := paths.folder_problem(self.spark, location, options=options)):
            return [f"{location} cannot be the training dataset's folder: {reason}"]
        return []

    def _write(self, td: TrainingDataset, df: DataFrame,
               options: dict[str, str] | None = None) -> None:
        """Write every split, then register; on any failure remove the folder (it did not exist
        before) and let the error through. A first write that finds the folder made meanwhile
        (another writer of the same version) leaves it alone. ``options``: the Hadoop settings
        of the storage connector the folder is under."""
        sc = self.spark.sparkContext
        log.info("creating training dataset %s version %d (%s) in %s", td.name, td.version,
                 td.data_format, td.location)
        written = False
        try:
            for split, rows in splits.split_frames(df, td.splits):
                where = td.location if split is None else paths.join(td.location, split)
                sc.setJobDescription(f"featurestore: training dataset {td.name} v{td.version}"
                                     + (f" split {split}" if split else ""))
                try:
                    formats.write(rows, td.data_format, where, td.features, options=options)
                except BaseException as e:
                    written = written or not _lost_race(e)    # did it write anything?
                    raise
                written = True
            self.metadata.create_training_dataset(td)
        except BaseException:
            if not written:
                raise
            log.warning("training dataset %s version %d failed: removing %s", td.name,
                        td.version, td.location)
            try:
                paths.delete(self.spark, td.location, options=options)
            except Exception:  # keep the original error; say what is left behind
                log.exception("could not remove %s after a failed write", td.location)
            raise
        finally:
            sc.setJobDescription(None)  # type: ignore[arg-type]

    # -- read -------------------------------------------------------------------------------------
    def _split_paths(self, td: TrainingDataset, split: str | None) -> builtins.list[str]:
        names = td.split_names
        if split is None:
            return [paths.join(td.location, s) for s in names] if names else [td.location]
        if split not in names:
            have = f"its splits are {', '.join(names)}" if names else "it has no splits"
            raise InvalidInputError(f"cannot read training dataset {td.name!r}", [
                f"version {td.version} has no split {split!r}: {have}"], write=False)
        return [paths.join(td.location, split)]

    def read(self, name: str, version: int | None = None, split: str | None = None,
             dataframe_type: str = "spark", project: str | None = None) -> Any:
        """The rows of a version (every split, or ``split``) as ``dataframe_type``: ``spark``
        (lazy), ``pandas``, ``numpy`` or ``python`` (brought to the driver)."""
        if dataframe_type not in DATAFRAME_TYPES:
            raise InvalidInputError(f"cannot read training dataset {name!r}", [
                f"dataframe type {dataframe_type!r} is not one of {', '.join(DATAFRAME_TYPES)}"],
                write=False)
        td = self.get(name, version, project)
        df = formats.read(self.spark, td.data_format, self._split_paths(td, split), td.features,
                          options=sinks.recorded_options(self.connectors, td))
        return convert(df, dataframe_type)

    # -- again ------------------------------------------------------------------------------------
    def _rebuild(self, td: TrainingDataset, labels: DataFrame | None,
                 query_from_dict: lineage.QueryFromDict | None) -> tuple[Any, DataFrame]:
        lineage.check_made_from_query(td)
        make = query_from_dict or lineage.default_query_from_dict(td.source, self.store, labels)
        return lineage.rebuild(td, self.spark, self.metadata.list_feature_groups, make)

    def source(self, name: str, version: int | None = None, project: str | None = None,
               labels: DataFrame | None = None,
               query_from_dict: lineage.QueryFromDict | None = None) -> DataFrame:
        """The rows a version was made from, read again from its recorded query at its recorded
        commits (``labels``: the labels DataFrame of a query that started from labels;
        ``query_from_dict``: how to make the query from its recorded dict, by default the
        recorded class's ``from_dict``)."""
        return self._rebuild(self.get(name, version, project), labels, query_from_dict)[1]

    def recreate(self, name: str, version: int | None = None, new_version: int | None = None,
                 path: str | None = None, project: str | None = None,
                 labels: DataFrame | None = None,
                 query_from_dict: lineage.QueryFromDict | None = None,
                 storage_connector: StorageConnector | str | None = None) -> TrainingDataset:
        """Write a version again as ``new_version`` (default: the next one): the same query at
        the same commits, format and splits (same seed or ranges), so the same rows per split;
        through the storage connector it was written to (or ``storage_connector``), ``path``
        under it."""
        td = self.get(name, version, project)
        if storage_connector is None:
            storage_connector = sinks.recorded_name(td)
        query, df = self._rebuild(td, labels, query_from_dict)
        plan = td.splits
        split_spec = tuple((s["name"], s["fraction"] if plan["kind"] == "random"
                            else (s["start"], s["end"])) for s in plan.get("splits", ()))
        spec = TrainingDatasetSpec(
            td.name, query, td.project,
            self.latest_version(name, td.project) + 1 if new_version is None else new_version,
            td.description, td.data_format, split_spec, plan.get("seed"), plan.get("column"),
            path, storage_connector=storage_connector)
        return self._create(spec, (df, query, []), {"recreated_from": td.version})

    def delete(self, name: str, version: int, project: str | None = None) -> None:
        """Remove a version: its files, then its registration."""
        td = self.get(name, version, project)
        paths.delete(self.spark, td.location,
                     options=sinks.recorded_options(self.connectors, td))
        self.metadata.delete_training_dataset(td.project, td.name, td.version)


__all__ = ["TrainingDatasetNotFound", "TrainingDatasets"]
