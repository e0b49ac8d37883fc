"""The plain frozen spec of a training dataset creation: what the builder and the functions hand
to the feature store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..names import feature, name_problem
from ..statistics.config import StatisticsConfig
from . import formats


def version_problem(version: Any, optional: bool = False) -> str | None:
    if version is None and optional:
        return None
    if isinstance(version, int) and not isinstance(version, bool) and version >= 1:
        return None
    return f"version must be a positive integer, got {version!r}"


@dataclass(frozen=True)
class TrainingDatasetSpec:
    name: str
    source: Any = field(default=None, compare=False, repr=False)   # a DataFrame or a query
    project: str | None = None                 # None: the configured project
    version: int = 1
    description: str = ""
    data_format: str = "tfrecords"
    splits: tuple[tuple[str, Any], ...] = ()   # (name, fraction) or (name, (start, end))
    seed: int | None = None                    # random splits; None: drawn, and recorded
    event_time: str | None = None              # the column time splits split by
    path: str | None = None                    # None: <training path>/<project>/<name>_<version>
    statistics: StatisticsConfig = StatisticsConfig()   # computed on its rows when written
    # a StorageConnector (s3, hdfs, file) or its name: the files go there, ``path`` being their
    # folder under it (None: <connector's path>/<name>_<version>); see training.sinks
    storage_connector: Any = None

    def __post_init__(self) -> None:            # feature names as stored: see names.feature
        object.__setattr__(self, "event_time", feature(self.event_time))

    def problems(self) -> list[str]:
        """Everything wrong with the request that shows without looking at data or metadata."""
        problems = [p for p in (name_problem("training dataset", self.name),
                                version_problem(self.version)) if p]
        if self.project is not None and (p := name_problem("project", self.project)):
            problems.append(p)
        if formats.normal(self.data_format) not in formats.DATA_FORMATS:
            problems.append(f"data format {self.data_format!r} is not one of "
                            f"{', '.join(formats.DATA_FORMATS)}")
        if not isinstance(self.description, str):
            problems.append(f"description must be a string, got {self.description!r}")
        if self.path is not None and (not isinstance(self.path, str) or not self.path.strip()):
            problems.append(f"path must be a folder path, got {self.path!r}")
        if self.storage_connector is not None and not isinstance(
                getattr(self.storage_connector, "name", self.storage_connector), str):
            problems.append(f"the storage connector must be a StorageConnector or its name, got "
                            f"{type(self.storage_connector).__name__}")
        if self.source is None:
            problems.append("give the rows: a Spark DataFrame (setDataframe) or a query (setQuery)")
        return problems
