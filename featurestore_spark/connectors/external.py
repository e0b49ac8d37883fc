"""External (on-demand) feature groups: data that stays where it is (a database, an S3 bucket, a
Hadoop folder), registered with its schema, keys and event time, and read through its storage
connector whenever a query, a statistics run or an online load needs it.

An external group is a row of the feature groups like any other (one name space, tags, search,
the registry), with a ``source`` ({"connector", "query" | "path", "data_format", "options"})
and no commits: no Delta table, no time travel, no writes. Its schema is read at creation and
kept; every read compares the source's schema with it and refuses one that changed, naming the
differences. Online, it is loaded whole from a read of its source (``sync_online``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import InvalidInputError
from ..metadata import FeatureGroup
from ..names import feature, features, quote
from ..spec import dependency_problems, identity_problems
from ..statistics.config import StatisticsConfig
from . import SECRET_OPTION, Connectors, StorageConnector

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

FORMATS = ("parquet", "csv", "orc", "avro", "json", "delta")


@dataclass(frozen=True)
class ExternalSpec:
    """What an external feature group is created with (``fs.create_external_feature_group``)."""
    name: str
    storage_connector: Any                     # a StorageConnector or its name
    project: str | None = None
    version: int | None = 1                    # None: the next (handles; checked at save)
    query: str | None = None                   # JDBC: a SELECT
    path: str = ""                             # files: a path under the connector
    data_format: str | None = None             # files: parquet, csv, orc, avro, json, delta
    options: Mapping[str, str] = field(default_factory=dict)   # Spark read options (csv header)
    primary_key: tuple[str, ...] = ()
    event_time: str | None = None
    description: str = ""
    online: bool = False
    statistics: StatisticsConfig = StatisticsConfig()
    dependencies: tuple[str, ...] = ()

    def __post_init__(self) -> None:            # feature names as stored: see names.feature
        object.__setattr__(self, "primary_key", features(self.primary_key))
        object.__setattr__(self, "event_time", feature(self.event_time))

    def problems(self) -> list[str]:
        problems = identity_problems(self.name, self.project, self.version, False)
        problems += dependency_problems(self.dependencies)
        c = self.storage_connector
        if not isinstance(c, (str, StorageConnector)):
            problems.append(f"storage_connector must be a storage connector or its name, got "
                            f"{type(c).__name__}")
        if not isinstance(self.options, Mapping) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.options.items()):
            problems.append("options must be a dict of strings")
        elif (kept := sorted(k for k in self.options
                             if SECRET_OPTION.search(k) or k.lower().startswith("fs."))):
            problems.append(f"options {', '.join(map(repr, kept))} would keep a secret in clear "
                            "or change where the connector's credentials go: set them on the "
                            "connector (secrets by *_env or *_file)")
        if not isinstance(self.description, str):
            problems.append(f"description must be a string, got {self.description!r}")
        return problems


def source_problems(spec: ExternalSpec, connector: StorageConnector) -> list[str]:
    """What is wrong with reading ``spec``'s source through ``connector``."""
    if connector.type == "jdbc":
        problems = [] if isinstance(spec.query, str) and spec.query.strip() else [
            f"{connector.name} is a JDBC connector: give the SQL query to read (query=)"]
        if spec.path or spec.data_format:
            problems.append("a JDBC source is a query: path and data_format are for files")
        return problems
    problems = [] if spec.query is None else [
        f"{connector.name} is a {connector.type} connector: it reads files (path=, data_format=),"
        " not a query"]
    if spec.data_format not in FORMATS:
        problems.append(f"data_format must be one of {', '.join(FORMATS)}, got "
                        f"{spec.data_format!r}")
    if not isinstance(spec.path, str):
        problems.append(f"path must be a path under the connector, got {spec.path!r}")
    else:
        try:
            connector.location(spec.path)
        except InvalidInputError as e:
            problems += e.problems
    return problems


def schema_changes(group: FeatureGroup, df: DataFrame) -> list[str]:
    """How the columns of ``df`` differ from the features ``group`` was created with."""
    kept = {f.name: f.type for f in group.features}
    now = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    return ([f"column {n!r} ({t}) is gone" for n, t in kept.items() if n not in now]
            + [f"column {n!r} is {now[n]} now, it was {t}" for n, t in kept.items()
               if n in now and now[n] != t]
            + [f"column {n!r} ({t}) is new" for n, t in now.items() if n not in kept])


def read_source(spark: SparkSession, connectors: Connectors, source: Mapping[str, Any],
                project: str) -> DataFrame:
    """A source's rows, columns named as features are (lowercased), lazily."""
    from ..dataframes import lower_columns
    connector = connectors.get(project, source["connector"])
    df = connector.read(spark, query=source.get("query"), path=source.get("path", ""),
                        data_format=source.get("data_format") or "parquet",
                        options=source.get("options") or {})
    return lower_columns(df, f"cannot read through {connector.name!r}", write=False)


def read(spark: SparkSession, connectors: Connectors, group: FeatureGroup) -> DataFrame:
    """The rows of an external group now, in its features' order; a source whose schema
    changed since the group was created is an InvalidInputError naming the changes."""
    assert group.source is not None
    df = read_source(spark, connectors, group.source, group.project)
    if (changes := schema_changes(group, df)):
        raise InvalidInputError(
            f"cannot read external feature group {group.name!r} v{group.version}",
            [f"its source changed since it was created: {c}" for c in changes]
            + ["create a new version of the group for the new schema"], write=False)
    return df.select(*[quote(f) for f in group.feature_names])


def no_commits(group: FeatureGroup, what: str) -> InvalidInputError:
    """The error of asking an external group for a commit, a time travel or a write."""
    return InvalidInputError(what, [
        f"{group.name} v{group.version} is an external feature group, read from storage "
        f"connector {group.source['connector'] if group.source else '?'} as it is now: it has "
        "no commits, so no time travel, no changes between commits and no writes"], write=False)


__all__ = ["ExternalSpec", "FORMATS", "no_commits", "read", "read_source"]
