"""Builders of training dataset operations, in the camelCase of io.hops.util.Hops and PySpark.

Examples
--------
>>> (Hops.createTrainingDataset("matches").setDataframe(df).setDataFormat("parquet")
...      .setSplits({"train": 0.8, "test": 0.2}).setSeed(42).write())            # doctest: +SKIP
>>> Hops.getTrainingDataset("matches").setSplit("train").setDataframeType("pandas").read()  # doctest: +SKIP
>>> Hops.createTrainingDataset("matches").setDataframe(df).setSink("lake").write()  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..builders.featuregroup import LabelSetters, NamedBuilder
from ..builders.quality import StatisticsSetters
from ..metadata import TrainingDataset

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from ..connectors import StorageConnector


@dataclass(frozen=True)
class CreateTrainingDataset(StatisticsSetters, LabelSetters):
    """``Hops.createTrainingDataset("td").setDataframe(df).setDataFormat("csv").write()``; the
    rows come from a DataFrame or, to be made again later, from a query (``setQuery``)."""

    def setDataframe(self, df: DataFrame) -> CreateTrainingDataset:
        return self._with(source=df)

    def setQuery(self, query: Any) -> CreateTrainingDataset:
        """A query (``to_dict()`` and ``read()``); its commits are pinned and recorded."""
        return self._with(source=query)

    def setDescription(self, description: str) -> CreateTrainingDataset:
        return self._with(description=description)

    def setDataFormat(self, data_format: str) -> CreateTrainingDataset:
        """``tfrecords`` (default), ``parquet``, ``csv``, ``tsv``, ``avro`` or ``orc``."""
        return self._with(data_format=data_format)

    def setSplits(self, splits: Mapping[str, Any]) -> CreateTrainingDataset:
        """``{"train": 0.8, "test": 0.2}`` (random, see ``setSeed``) or
        ``{"train": (None, "2024-01-01"), "test": ("2024-01-01", None)}`` (by ``setEventTime``)."""
        return self._with(splits=tuple(splits.items()))

    def setSeed(self, seed: int) -> CreateTrainingDataset:
        return self._with(seed=seed)

    def setEventTime(self, column: str) -> CreateTrainingDataset:
        """The column that time splits split by."""
        return self._with(event_time=column)

    def setPath(self, path: str) -> CreateTrainingDataset:
        """Write to this (new) folder instead of the feature store's training dataset folder;
        with ``setSink``, the folder under the connector."""
        return self._with(path=path)

    def setSink(self, connector: StorageConnector | str) -> CreateTrainingDataset:
        """Write the files through this storage connector (s3, hdfs or file; the object or its
        name), to ``<its path>/<name>_<version>`` or ``setPath``'s folder under it; the
        metadata stays in the feature store."""
        return self._with(storage_connector=connector)

    def setStorageConnector(self, connector: StorageConnector | str) -> CreateTrainingDataset:
        """Same as ``setSink``."""
        return self.setSink(connector)

    def write(self) -> TrainingDataset:
        """Create the training dataset version; returns its metadata."""
        self._check_labels()
        made = self._fs().training.create(self.spec)
        self._label("td", made.project, made.name, made.version)
        return made


@dataclass(frozen=True)
class GetTrainingDataset(NamedBuilder):
    """``Hops.getTrainingDataset("td").setVersion(1).setSplit("train").read()``"""
    split: str | None = None
    dataframe_type: str = "spark"

    def setSplit(self, split: str) -> GetTrainingDataset:
        return replace(self, split=split)

    def setDataframeType(self, dataframe_type: str) -> GetTrainingDataset:
        """``spark`` (default), ``pandas``, ``numpy`` or ``python``."""
        return replace(self, dataframe_type=dataframe_type)

    def read(self) -> Any:
        return self._fs().training.read(self.name, self.version, self.split,
                                        self.dataframe_type, self.project)


@dataclass(frozen=True)
class GetTrainingDatasetPath(NamedBuilder):
    split: str | None = None

    def setSplit(self, split: str) -> GetTrainingDatasetPath:
        return replace(self, split=split)

    def read(self) -> str:
        return self._fs().training.path(self.name, self.version, self.split, self.project)


@dataclass(frozen=True)
class GetTrainingDatasetTfRecordSchema(NamedBuilder):
    def read(self) -> dict[str, dict[str, Any]]:
        return self._fs().training.tf_record_schema(self.name, self.version, self.project)


@dataclass(frozen=True)
class GetLatestTrainingDatasetVersion(NamedBuilder):
    def read(self) -> int:
        return self._fs().training.latest_version(self.name, self.project)


@dataclass(frozen=True)
class RecreateTrainingDataset(NamedBuilder):
    """``Hops.recreateTrainingDataset("td").setVersion(1).write()``: version 1's recorded query,
    at its recorded commits, written again as a new version with the same rows per split."""
    new_version: int | None = None
    path: str | None = None
    labels: Any = None
    query_from_dict: Callable[[Mapping[str, Any]], Any] | None = None
    storage_connector: StorageConnector | str | None = None

    def setSink(self, connector: StorageConnector | str) -> RecreateTrainingDataset:
        """Write through this storage connector instead of the one the version was written to."""
        return replace(self, storage_connector=connector)

    def setNewVersion(self, version: int) -> RecreateTrainingDataset:
        return replace(self, new_version=version)

    def setPath(self, path: str) -> RecreateTrainingDataset:
        return replace(self, path=path)

    def setLabels(self, labels: DataFrame | None) -> RecreateTrainingDataset:
        """The labels of a query that started from a labels DataFrame."""
        return replace(self, labels=labels)

    def setQueryFromDict(self, make: Callable[[Mapping[str, Any]], Any]) -> RecreateTrainingDataset:
        return replace(self, query_from_dict=make)

    def write(self) -> TrainingDataset:
        return self._fs().training.recreate(self.name, self.version, self.new_version, self.path,
                                            self.project, self.labels, self.query_from_dict,
                                            self.storage_connector)


@dataclass(frozen=True)
class DeleteTrainingDataset(NamedBuilder):
    def write(self) -> None:
        from ..errors import InvalidInputError
        if self.version is None:
            raise InvalidInputError(f"cannot delete training dataset {self.name!r}",
                                    ["name the version to delete with setVersion()"])
        self._fs().training.delete(self.name, self.version, self.project)


__all__ = ["CreateTrainingDataset", "DeleteTrainingDataset", "GetLatestTrainingDatasetVersion",
           "GetTrainingDataset", "GetTrainingDatasetPath", "GetTrainingDatasetTfRecordSchema",
           "RecreateTrainingDataset"]
