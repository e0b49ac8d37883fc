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
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from .hops import Hops
from .metadata import Commit, FeatureGroup

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

from .feature_store import default_store


def _on(builder: Any, featurestore: str | None, version: int | None) -> Any:
    if featurestore is not None:
        builder = builder.setFeaturestore(featurestore)
    return builder if version is None else builder.setVersion(version)


def create_featuregroup(df: DataFrame, featuregroup: str, primary_key: str | Iterable[str] = (),
                        description: str = "", featurestore: str | None = None,
                        featuregroup_version: int = 1, partition_by: str | Iterable[str] = (),
                        event_time: str | None = None,
                        feature_descriptions: Mapping[str, str] | None = None) -> FeatureGroup:
    """Create ``featuregroup`` version ``featuregroup_version`` from ``df``. Without a primary
    key, the first column is the key (as in hops-util-py)."""
    b = (Hops.createFeaturegroup(featuregroup).setDataframe(df).setPrimaryKey(primary_key)
         .setPartitionBy(partition_by).setDescription(description)
         .setFeatureDescriptions(feature_descriptions or {}))
    if event_time is not None:
        b = b.setEventTime(event_time)
    return _on(b, featurestore, featuregroup_version).write()


def insert_into_featuregroup(df: DataFrame, featuregroup: str, featurestore: str | None = None,
                             featuregroup_version: int | None = None, mode: str = "append",
                             schema_evolution: bool = False) -> Commit:
    """Write ``df`` into a feature group: ``append``, ``overwrite`` or ``upsert``."""
    b = (Hops.insertIntoFeaturegroup(featuregroup).setDataframe(df).setMode(mode)
         .setSchemaEvolution(schema_evolution))
    return _on(b, featurestore, featuregroup_version).write()


def get_featuregroup(featuregroup: str, featurestore: str | None = None,
                     featuregroup_version: int | None = None, dataframe_type: str = "spark",
                     as_of: int | datetime | date | str | None = None) -> Any:
    """A feature group's data, latest or ``as_of`` a commit id or point in time."""
    b = Hops.getFeaturegroup(featuregroup).setDataframeType(dataframe_type)
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


def sql(query: str, featurestore: str | None = None, dataframe_type: str = "spark") -> Any:
    """Spark SQL against the feature store database (feature groups are ``<name>_<version>``)."""
    b = Hops.queryFeaturestore(query).setDataframeType(dataframe_type)
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
