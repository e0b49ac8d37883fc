"""``Hops.getFeatures([...])``: the builder of a features query (see :mod:`.features`)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from ..builders.featuregroup import Builder, check_type, columns, project_of
from ..dataframes import convert
from ..names import quote

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from .query import Query


@dataclass(frozen=True)
class GetFeatures(Builder):
    """``Hops.getFeatures(["rating", "teams.attendance"]).setJoinKey("team_id").read()``, or from
    labels, point in time: ``.setLabels(labels_df, "ts").read()``. ``query()`` gives the Query
    (to compose further, render as SQL, or record)."""
    features: tuple[str, ...] = ()
    project: str | None = None
    versions: tuple[tuple[str, int], ...] = ()
    join_key: tuple[str, ...] | None = None
    dataframe_type: str = "spark"
    labels: DataFrame | None = field(default=None, compare=False, repr=False)
    label_event_time: str | None = None
    max_age: timedelta | float | None = None

    def setFeaturestore(self, featurestore: str) -> GetFeatures:
        return replace(self, project=project_of(featurestore))

    def setFeaturegroupVersions(self, versions: Mapping[str, int]) -> GetFeatures:
        """Pin feature groups to versions; bare feature names are then looked for in these
        feature groups only (as hops-util-py's featuregroups_version_dict)."""
        return replace(self, versions=tuple(versions.items()))

    def setJoinKey(self, *keys: str | Iterable[str]) -> GetFeatures:
        """The key column(s) every feature group is joined on (default: inferred)."""
        return replace(self, join_key=tuple(k for arg in keys for k in columns(arg)))

    def setDataframeType(self, dataframe_type: str) -> GetFeatures:
        return replace(self, dataframe_type=dataframe_type)

    def setLabels(self, labels: DataFrame, event_time: str | None = None) -> GetFeatures:
        """Start from these rows (every one is kept); with ``event_time`` each gets the
        features as they were at its time (point in time)."""
        return replace(self, labels=labels, label_event_time=event_time)

    def setMaxAge(self, max_age: timedelta | float) -> GetFeatures:
        """With point-in-time joins: feature rows older than this are not used."""
        return replace(self, max_age=max_age)

    def _query(self) -> tuple[Query, list[str]]:
        return self._fs().features_query(list(self.features), self.project, dict(self.versions),
                                         self.join_key, self.labels, self.label_event_time,
                                         self.max_age)

    def query(self) -> Query:
        return self._query()[0]

    def read(self) -> Any:
        """The features (label columns first, then the features in the order asked)."""
        check_type(self.dataframe_type)
        query, order = self._query()
        return convert(query.read().select(*map(quote, order)), self.dataframe_type)
