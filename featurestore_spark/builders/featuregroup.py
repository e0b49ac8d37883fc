"""Builders of feature group operations, in the camelCase of io.hops.util.Hops and PySpark."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from ..dataframes import convert
from ..errors import InvalidInputError
from ..feature_store import FeatureStore, default_store
from ..metadata import Commit, FeatureGroup
from ..spec import DATAFRAME_TYPES
from .quality import StatisticsSetters

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

FEATURESTORE_SUFFIX = "_featurestore"


def project_of(featurestore: str | None) -> str | None:
    """``demo_featurestore`` (the database, as Hops names it) or ``demo`` (the project)."""
    if featurestore is not None and featurestore.endswith(FEATURESTORE_SUFFIX):
        return featurestore[: -len(FEATURESTORE_SUFFIX)]
    return featurestore


def columns(cols: str | Iterable[str]) -> tuple[str, ...]:
    return (cols,) if isinstance(cols, str) else tuple(cols)


@dataclass(frozen=True)
class Builder:
    store: FeatureStore | None = field(default=None, kw_only=True)

    def _fs(self) -> FeatureStore:
        return self.store or default_store()

    def setStore(self, store: FeatureStore) -> Any:
        """Use ``store`` instead of the default one of ``connect()``."""
        return replace(self, store=store)


@dataclass(frozen=True)
class SpecBuilder(Builder):
    spec: Any = None

    def _with(self, **changes: Any) -> Any:
        return replace(self, spec=replace(self.spec, **changes))

    def setFeaturestore(self, featurestore: str) -> Any:
        """The project (``demo``) or its feature store (``demo_featurestore``)."""
        return self._with(project=project_of(featurestore))

    def setVersion(self, version: int) -> Any:
        return self._with(version=version)


@dataclass(frozen=True)
class LabelSetters(SpecBuilder):
    """``setTags({"owner": "growth"}).setKeywords("churn", "billing")``: labels the created
    version; checked before anything is written."""
    tags: tuple[tuple[str, Any], ...] = ()
    keywords: tuple[str, ...] = ()

    def setTags(self, tags: Mapping[str, Any]) -> Any:
        return replace(self, tags=tuple(dict(tags).items()))

    def setKeywords(self, *keywords: str | Iterable[str]) -> Any:
        return replace(self, keywords=tuple(k for arg in keywords for k in columns(arg)))

    def _check_labels(self) -> None:
        from ..registry.faces import check
        store = self._fs()
        check(store, self.spec.project or store.settings.project, dict(self.tags), self.keywords)

    def _label(self, kind: str, project: str, name: str, version: int) -> None:
        from ..metadata.base import Subject
        from ..registry.faces import label
        if self.tags or self.keywords:
            label(self._fs(), Subject(project, kind, name, version), dict(self.tags), self.keywords)


@dataclass(frozen=True)
class JobSetter(SpecBuilder):
    def setJobName(self, job_name: str) -> Any:
        """The job the commit records as its maker (default: the Spark application's name and
        id)."""
        return self._with(job_name=job_name)


@dataclass(frozen=True)
class OnDemandSetters(SpecBuilder):
    """``setOnDemand(True).setJdbcConnector(sc).setSqlQuery(query)`` (or a file connector with
    ``setPath`` and ``setDataFormat``): an external group, read from its source (see
    ``connectors.external``), instead of one written from a DataFrame."""
    on_demand: bool = False
    source: tuple[tuple[str, Any], ...] = ()      # storage_connector, query, path, ...

    def _source(self, **changes: Any) -> Any:
        return replace(self, source=tuple({**dict(self.source), **changes}.items()))

    def setOnDemand(self, on_demand: bool = True) -> Any:
        return replace(self, on_demand=on_demand)

    def setStorageConnector(self, connector: Any) -> Any:
        """A storage connector or its name."""
        return self._source(storage_connector=connector)

    setJdbcConnector = setStorageConnector

    def setSqlQuery(self, query: str) -> Any:
        return self._source(query=query)

    def setPath(self, path: str) -> Any:
        return self._source(path=path)

    def setDataFormat(self, data_format: str) -> Any:
        return self._source(data_format=data_format)

    def setOptions(self, options: Mapping[str, str]) -> Any:
        """Spark read options of the source (``{"header": "true"}`` for csv)."""
        return self._source(options=dict(options))

    def _write_external(self) -> FeatureGroup:
        from ..connectors.external import ExternalSpec
        s, source = self.spec, dict(self.source)
        problems = [f"an on-demand feature group reads its source: {what} does not apply"
                    for what, given in (("setDataframe", s.dataframe is not None),
                                        ("setPartitionBy", bool(s.partition_by)),
                                        ("setOffline(False)", not s.offline),
                                        ("setExpectationSuite", s.expectation_suite is not None))
                    if given]
        if "storage_connector" not in source:
            problems.append("give its storage connector: setJdbcConnector(sc) or "
                            "setStorageConnector(sc)")
        if problems:
            raise InvalidInputError(f"cannot create feature group {s.name!r}", problems)
        return self._fs().create_external(ExternalSpec(
            s.name, source["storage_connector"], s.project, s.version, source.get("query"),
            source.get("path", ""), source.get("data_format"), source.get("options", {}),
            s.primary_key, s.event_time, s.description, s.online, s.statistics, s.dependencies))


@dataclass(frozen=True)
class CreateFeaturegroup(StatisticsSetters, LabelSetters, JobSetter, OnDemandSetters):
    """``Hops.createFeaturegroup("teams").setDataframe(df).setPrimaryKey("team_id").write()``;
    ``Hops.createFeaturegroup("sales").setOnDemand(True).setJdbcConnector(sc)
    .setSqlQuery("SELECT ...").write()`` registers an external one."""

    def setDataframe(self, df: DataFrame) -> CreateFeaturegroup:
        return self._with(dataframe=df)

    def setPrimaryKey(self, *cols: str | Iterable[str]) -> CreateFeaturegroup:
        """One column, several, or a list: ``setPrimaryKey("a", "b")``."""
        return self._with(primary_key=tuple(c for arg in cols for c in columns(arg)))

    def setPartitionBy(self, *cols: str | Iterable[str]) -> CreateFeaturegroup:
        return self._with(partition_by=tuple(c for arg in cols for c in columns(arg)))

    def setEventTime(self, column: str) -> CreateFeaturegroup:
        return self._with(event_time=column)

    def setDescription(self, description: str) -> CreateFeaturegroup:
        return self._with(description=description)

    def setFeatureDescriptions(self, descriptions: Mapping[str, str]) -> CreateFeaturegroup:
        return self._with(feature_descriptions=tuple(descriptions.items()))

    def setOnline(self, online: bool = True) -> CreateFeaturegroup:
        """Also create the online table and fill it with the latest row per key."""
        return self._with(online=online)

    def setOffline(self, offline: bool = True) -> CreateFeaturegroup:
        """``setOffline(False)`` with ``setOnline()``: the data goes online only."""
        return self._with(offline=offline)

    def setExpectationSuite(self, suite: Any) -> CreateFeaturegroup:
        """A great_expectations suite (an ExpectationSuite, or its dict or JSON) that this and
        every later write is validated with before anything is written."""
        return self._with(expectation_suite=suite)

    def setDependencies(self, *dependencies: str | Iterable[str]) -> CreateFeaturegroup:
        """The datasets it is computed from (paths or tables): ``featurestore stale`` lists it
        when one changed after its last commit."""
        return self._with(dependencies=dependencies[0] if len(dependencies) == 1 else dependencies)

    def setValidationIngestionPolicy(self, policy: str) -> CreateFeaturegroup:
        """``STRICT`` (default: data that fails the suite is refused) or ``ALWAYS`` (written,
        and the report kept with the commit)."""
        return self._with(validation_policy=policy)

    def write(self) -> FeatureGroup:
        """Create the feature group version; returns its metadata."""
        self._check_labels()
        group = self._write_external() if self.on_demand else self._fs().create(self.spec)
        self._label("fg", group.project, group.name, group.version)
        return group


@dataclass(frozen=True)
class InsertIntoFeaturegroup(StatisticsSetters, JobSetter):
    """``Hops.insertIntoFeaturegroup("teams").setDataframe(df).setMode("upsert").write()``"""

    def setDataframe(self, df: DataFrame) -> InsertIntoFeaturegroup:
        return self._with(dataframe=df)

    def setMode(self, mode: str) -> InsertIntoFeaturegroup:
        """``append`` (default), ``overwrite`` or ``upsert`` (MERGE on the primary key)."""
        return self._with(mode=mode)

    def setSchemaEvolution(self, evolve: bool = True) -> InsertIntoFeaturegroup:
        """Add the DataFrame's new columns to the feature group."""
        return self._with(evolve_schema=evolve)

    def setOnline(self, online: bool = True) -> InsertIntoFeaturegroup:
        """Write online too (the default for an online feature group); ``False``: offline
        only, the online table catches up at the next sync."""
        return self._with(online=online)

    def setOffline(self, offline: bool = True) -> InsertIntoFeaturegroup:
        """``setOffline(False)``: write the online table only."""
        return self._with(offline=offline)

    def write(self) -> Commit | None:
        return self._fs().insert(self.spec)


@dataclass(frozen=True)
class GetFeaturegroup(SpecBuilder):
    """``Hops.getFeaturegroup("teams").setAsOf("2026-11-24 10:00:00").read()``"""

    def setAsOf(self, as_of: int | datetime | date | str) -> GetFeaturegroup:
        """A commit id, or a point in time (naive times are UTC)."""
        return self._with(as_of=as_of)

    def setFeatures(self, *features: str | Iterable[str]) -> GetFeaturegroup:
        return self._with(features=tuple(f for arg in features for f in columns(arg)))

    def setDataframeType(self, dataframe_type: str) -> GetFeaturegroup:
        """``spark`` (default), ``pandas``, ``numpy`` or ``python``."""
        return self._with(dataframe_type=dataframe_type)

    def setOnline(self, online: bool = True) -> GetFeaturegroup:
        """Read the online table (the latest row per key) instead of the Delta table."""
        return self._with(online=online)

    def read(self) -> Any:
        return self._fs().read(self.spec)


def check_type(dataframe_type: str) -> None:
    if dataframe_type not in DATAFRAME_TYPES:
        raise InvalidInputError("cannot read", [f"dataframe type {dataframe_type!r} is not one "
                                                f"of {', '.join(DATAFRAME_TYPES)}"], write=False)


@dataclass(frozen=True)
class GetFeature(Builder):
    """``Hops.getFeature("average_attendance").setFeaturegroup("teams").read()``"""
    feature: str = ""
    featuregroup: str | None = None
    version: int | None = None
    project: str | None = None
    dataframe_type: str = "spark"

    def setFeaturegroup(self, featuregroup: str) -> GetFeature:
        return replace(self, featuregroup=featuregroup)

    def setVersion(self, version: int) -> GetFeature:
        return replace(self, version=version)

    def setFeaturestore(self, featurestore: str) -> GetFeature:
        return replace(self, project=project_of(featurestore))

    def setDataframeType(self, dataframe_type: str) -> GetFeature:
        return replace(self, dataframe_type=dataframe_type)

    def read(self) -> Any:
        check_type(self.dataframe_type)
        df = self._fs().feature(self.feature, self.featuregroup, self.version, self.project)
        return convert(df, self.dataframe_type)


@dataclass(frozen=True)
class QueryFeaturestore(Builder):
    """``Hops.queryFeaturestore("SELECT * FROM teams_1").read()``"""
    query: str = ""
    project: str | None = None
    dataframe_type: str = "spark"
    online: bool = False

    def setFeaturestore(self, featurestore: str) -> QueryFeaturestore:
        return replace(self, project=project_of(featurestore))

    def setDataframeType(self, dataframe_type: str) -> QueryFeaturestore:
        return replace(self, dataframe_type=dataframe_type)

    def setOnline(self, online: bool = True) -> QueryFeaturestore:
        """Run the query in the online store (its own SQL dialect) instead of Spark SQL."""
        return replace(self, online=online)

    def read(self) -> Any:
        check_type(self.dataframe_type)
        df = self._fs().sql(self.query, self.project, online=self.online)
        return convert(df, self.dataframe_type)


@dataclass(frozen=True)
class NamedBuilder(Builder):
    name: str = ""
    version: int | None = None
    project: str | None = None

    def setVersion(self, version: int) -> Any:
        return replace(self, version=version)

    def setFeaturestore(self, featurestore: str) -> Any:
        return replace(self, project=project_of(featurestore))


@dataclass(frozen=True)
class GetLatestFeaturegroupVersion(NamedBuilder):
    def read(self) -> int:
        return self._fs().latest_version(self.name, self.project)


@dataclass(frozen=True)
class GetFeaturegroupCommits(NamedBuilder):
    """The commits of a version, oldest first: id, time, operation, rows inserted/updated/deleted."""

    def read(self) -> list[Commit]:
        return self._fs().commits(self.name, self.version, self.project)


@dataclass(frozen=True)
class DeleteFeaturegroup(NamedBuilder):
    """``Hops.deleteFeaturegroup("teams").setVersion(1).write()`` (the version is required)."""

    def write(self) -> None:
        if self.version is None:
            raise InvalidInputError(f"cannot delete feature group {self.name!r}",
                                    ["name the version to delete with setVersion()"])
        self._fs().delete(self.name, self.version, self.project)


@dataclass(frozen=True)
class GetFeaturegroupChanges(NamedBuilder):
    """``Hops.getFeaturegroupChanges("teams").setStartCommit(0).setEndCommit(2).read()``:
    what the commits after the start commit, up to the end commit, changed."""
    start_commit: int | None = None
    end_commit: int | None = None

    def setStartCommit(self, commit: int) -> GetFeaturegroupChanges:
        return replace(self, start_commit=commit)

    def setEndCommit(self, commit: int) -> GetFeaturegroupChanges:
        return replace(self, end_commit=commit)

    def read(self) -> DataFrame:
        if self.start_commit is None:
            raise InvalidInputError(f"cannot read the changes of {self.name!r}",
                                    ["name the commit to start after with setStartCommit()"],
                                    write=False)
        return self._fs().changes(self.name, self.start_commit, self.end_commit, self.version,
                                  self.project)
