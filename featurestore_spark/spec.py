"""Plain frozen specs of the operations: what builders and functions hand to the FeatureStore."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, TypeGuard

from .names import feature, features, name_problem
from .statistics.config import StatisticsConfig

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

WRITE_MODES = ("append", "overwrite", "upsert")
DATAFRAME_TYPES = ("spark", "pandas", "numpy", "python")


def is_dataframe(df: Any) -> TypeGuard[DataFrame]:
    from pyspark.sql import DataFrame
    return isinstance(df, DataFrame)


def identity_problems(name: Any, project: Any, version: Any, optional_version: bool,
                      kind: str = "feature group") -> list[str]:
    """What is wrong with a feature group's (or a ``kind``'s) name, project and version."""
    problems = [p for p in (name_problem(kind, name),) if p]
    if project is not None and (p := name_problem("project", project)):
        problems.append(p)
    if not (version is None and optional_version) and not (
            isinstance(version, int) and not isinstance(version, bool) and version >= 1):
        problems.append(f"version must be a positive integer, got {version!r}")
    return problems


def job_problems(job_name: Any) -> list[str]:
    if job_name is None or (isinstance(job_name, str) and 0 < len(job_name.strip()) <= 255):
        return []
    return [f"job_name must be a non-empty string of at most 255 characters, got {job_name!r}"]


def dependency_problems(dependencies: Any) -> list[str]:
    """What is wrong with the datasets a feature group declares it is computed from: paths
    (a Hadoop URI or a local path) or catalog tables, as strings."""
    if not isinstance(dependencies, (list, tuple)):
        return [f"dependencies must be a list of paths or tables, got {dependencies!r}"]
    return [f"dependency {d!r} is not a path or table name (a non-empty string)"
            for d in dependencies if not isinstance(d, str) or not d.strip()]


@dataclass(frozen=True)
class CreateSpec:
    name: str
    dataframe: DataFrame | None = None
    project: str | None = None                 # None: the configured project
    version: int = 1
    primary_key: tuple[str, ...] = ()          # empty: the first column, as hops-util-py does
    partition_by: tuple[str, ...] = ()
    event_time: str | None = None
    description: str = ""
    feature_descriptions: tuple[tuple[str, str], ...] = ()
    online: bool = False                       # also create an online table, and fill it
    offline: bool = True                       # False: the Delta table starts empty
    statistics: StatisticsConfig = StatisticsConfig()   # kept as the feature group's settings
    expectation_suite: Any = None              # a great_expectations suite, checked on every write
    validation_policy: str = "STRICT"          # STRICT: refuse failing data; ALWAYS: write, report
    validate: bool = True                      # False: this write skips the suite (no report)
    one_row_per_key: bool = False              # True: the latest row per key, as an upsert keeps
    dependencies: tuple[str, ...] = ()         # the paths or tables it is computed from
    job_name: str | None = None                # None: the Spark application's name and id

    def __post_init__(self) -> None:            # feature names as stored: see names.feature
        object.__setattr__(self, "primary_key", features(self.primary_key))
        object.__setattr__(self, "partition_by", features(self.partition_by))
        object.__setattr__(self, "event_time", feature(self.event_time))
        if isinstance(self.dependencies, (str, list)):          # one path, or a list of them
            object.__setattr__(self, "dependencies", (self.dependencies,)
                               if isinstance(self.dependencies, str) else tuple(self.dependencies))
        if isinstance(self.feature_descriptions, (list, tuple)):
            object.__setattr__(self, "feature_descriptions", tuple(
                (feature(d[0]), *d[1:]) if isinstance(d, (list, tuple)) and d else d
                for d in self.feature_descriptions))

    def problems(self) -> list[str]:
        problems = identity_problems(self.name, self.project, self.version, optional_version=False)
        problems += job_problems(self.job_name) + dependency_problems(self.dependencies)
        if not self.offline and not self.online:
            problems.append("a write with offline=False must be online=True")
        if not is_dataframe(self.dataframe):
            problems.append(f"a Spark or pandas DataFrame is required, got {type(self.dataframe).__name__}")
        elif self.dataframe is not None:
            unknown = [n for n, _ in self.feature_descriptions if n not in self.dataframe.columns]
            problems += [f"description given for {n!r}, which is not a column" for n in unknown]
        return problems


@dataclass(frozen=True)
class InsertSpec:
    name: str
    dataframe: DataFrame | None = None
    project: str | None = None
    version: int | None = None                 # None: the latest version
    mode: str = "append"
    evolve_schema: bool = False
    online: bool | None = None                 # None: online when the feature group is online
    offline: bool = True
    statistics: StatisticsConfig | None = None  # None: the feature group's settings
    validate: bool = True                      # False: this write skips the suite (no report)
    job_name: str | None = None                # None: the Spark application's name and id
    txn: tuple[str, int] | None = None         # a stream's (id, micro-batch): written once only
    replayed: bool = False                     # a batch a stopped query may have committed:
                                               # its commit is looked for in the whole history

    def problems(self) -> list[str]:
        problems = identity_problems(self.name, self.project, self.version, optional_version=True)
        problems += job_problems(self.job_name)
        if not self.offline and self.online is False:
            problems.append("a write with offline=False must be online=True")
        if not is_dataframe(self.dataframe):
            problems.append(f"a Spark or pandas DataFrame is required, got {type(self.dataframe).__name__}")
        if self.mode not in WRITE_MODES:
            problems.append(f"mode {self.mode!r} is not one of {', '.join(WRITE_MODES)}")
        return problems


@dataclass(frozen=True)
class ReadSpec:
    name: str
    project: str | None = None
    version: int | None = None                 # None: the latest version
    as_of: int | datetime | date | str | None = None   # a commit id, or a point in time (UTC)
    features: tuple[str, ...] | None = None     # None: every feature
    dataframe_type: str = "spark"
    online: bool = False                       # read the online table (the latest row per key)

    def __post_init__(self) -> None:
        if self.features is not None:
            object.__setattr__(self, "features", features(self.features))

    def problems(self) -> list[str]:
        problems = identity_problems(self.name, self.project, self.version, optional_version=True)
        if self.online and self.as_of is not None:
            problems.append("the online store holds only the latest values: time travel (as of) "
                            "reads the offline feature group")
        if self.as_of is not None and (isinstance(self.as_of, bool) or not isinstance(
                self.as_of, (int, datetime, date, str))):
            problems.append(f"as of must be a commit id or a timestamp, got {self.as_of!r}")
        if self.dataframe_type not in DATAFRAME_TYPES:
            problems.append(f"dataframe type {self.dataframe_type!r} is not one of "
                            f"{', '.join(DATAFRAME_TYPES)}")
        return problems
