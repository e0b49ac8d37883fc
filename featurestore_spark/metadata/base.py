"""The metadata store interface and the records it keeps. The metadata store is the source of
truth: a feature group version exists when it is registered here, and its commits are the ones
recorded here."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Sequence


@dataclass(frozen=True)
class Feature:
    name: str
    type: str                  # Spark SQL type, as DataType.simpleString()
    description: str = ""
    primary: bool = False
    partition: bool = False


@dataclass(frozen=True)
class Commit:
    commit_id: int             # the Delta table version this commit produced
    committed_at: datetime     # UTC, the Delta commit's timestamp
    operation: str             # create, append, overwrite or upsert
    rows_inserted: int
    rows_updated: int
    rows_deleted: int
    creator: str
    job: str = ""              # the Spark application (name and id) or the job name given


@dataclass(frozen=True)
class FeatureGroup:
    project: str
    name: str
    version: int
    description: str
    features: tuple[Feature, ...]
    primary_key: tuple[str, ...]
    partition_by: tuple[str, ...]
    event_time: str | None
    location: str              # the Delta table's path
    created_at: datetime
    creator: str
    online: bool = False               # has a table in the online store
    online_commit: int | None = None   # the last commit synced to it (None: never synced)
    dependencies: tuple[str, ...] = ()  # the paths or tables it was computed from
    # an external (on-demand) group: where it is read from, JSON-able ({"connector", "query" |
    # "path", "data_format", "options"}); None: a Delta feature group with commits
    source: Mapping[str, Any] | None = None

    @property
    def external(self) -> bool:
        return self.source is not None

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    def with_features(self, features: tuple[Feature, ...]) -> FeatureGroup:
        from dataclasses import replace
        return replace(self, features=features)


@dataclass(frozen=True)
class TrainingDataset:
    """A training dataset version: files of one format under ``location`` (one sub-folder per
    split when it has splits), and where its rows came from."""
    project: str
    name: str
    version: int
    description: str
    data_format: str           # tfrecords, parquet, csv, tsv, avro or orc
    location: str              # a Hadoop path (folder)
    features: tuple[Feature, ...]   # the columns: name and Spark SQL type
    splits: Mapping[str, Any]  # JSON-able: {"kind": "none" | "random" | "time", ...}
    source: Mapping[str, Any]  # JSON-able: {"kind": "query" | "dataframe", ...}
    created_at: datetime
    creator: str

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def split_names(self) -> tuple[str, ...]:
        return tuple(s["name"] for s in self.splits.get("splits", ()))


@dataclass(frozen=True)
class Document:
    """A JSON document kept about a feature group or training dataset version: the statistics
    of a commit (``number`` is the commit id), a version of its expectation suite (``number``
    counts the suite's versions), the validation report of a commit. ``kind`` starts with
    ``fg.`` or ``td.``: the feature group's or training dataset's, removed with it. Feature views
    (``fv``, ``number`` 0), their training data (``fv.td``, ``number``: the training dataset
    version) and transformation functions (``tf``) are documents too."""
    project: str
    kind: str
    name: str
    version: int
    number: int
    body: Mapping[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class Subject:
    """What a tag or keyword labels: a feature group version (``kind`` "fg"; ``part`` a feature's
    name, or "" for the group), a feature view version ("fv"), a training dataset version
    ("td"), or a feature view's training dataset ("fv.td"; ``part``: its version)."""
    project: str
    kind: str
    name: str
    version: int
    part: str = ""


@dataclass(frozen=True)
class Hit:
    """A search match in the metadata store: its subject, what matched (``field``: name,
    description, feature, feature description, keyword <it>, tag <name>) and a score (higher
    first)."""
    subject: Subject
    field: str
    score: int


FG_SETTINGS, FG_STATISTICS, FG_SUITE, FG_REPORT, TD_STATISTICS = (
    "fg.settings", "fg.statistics", "fg.suite", "fg.report", "td.statistics")
FG_FRESHNESS = "fg.freshness"      # a streamed micro-batch's lag from event to readable (per commit)
FEATURE_VIEW, FV_TRAINING, TRANSFORMATION = "fv", "fv.td", "tf"


class MetadataStore(ABC):
    """What the feature store keeps about feature groups. One implementation per backend."""

    @abstractmethod
    def create_feature_group(self, group: FeatureGroup, first_commit: Commit | None,
                             documents: Sequence[Document] = ()) -> None:
        """Register a new version with its first commit (None: an external group, which has
        none) and ``documents``, atomically.
        Raises FeatureGroupExists when that name and version is registered."""

    @abstractmethod
    def get_feature_group(self, project: str, name: str, version: int | None = None) -> FeatureGroup:
        """The version asked for, or the latest when ``version`` is None.
        Raises FeatureGroupNotFound."""

    @abstractmethod
    def list_feature_groups(self, project: str | None = None) -> list[FeatureGroup]:
        """Every registered version, of one project or of all, by project, name and version."""

    @abstractmethod
    def feature_group_versions(self, project: str, name: str) -> list[int]:
        """The registered versions of feature group ``name``, ascending (empty: none)."""

    @abstractmethod
    def add_commit(self, group: FeatureGroup, commit: Commit,
                   documents: Sequence[Document] = ()) -> None:
        """Record a commit (and ``documents``, atomically with it); ``group.features`` replaces
        the stored features (schema evolution)."""

    @abstractmethod
    def update_descriptions(self, project: str, name: str, version: int,
                            description: str | None = None,
                            features: Mapping[str, str] | None = None) -> None:
        """Replace the version's description (unless None) and those of ``features``
        (name: text), atomically. Raises FeatureGroupNotFound, or InvalidInputError for a
        feature the version does not have."""

    @abstractmethod
    def set_online(self, group: FeatureGroup, online: bool, online_commit: int | None) -> None:
        """Record whether the version is online and the last commit synced to the online store."""

    @abstractmethod
    def generation(self) -> int:
        """A number that changes, in the same transaction, with every change to what is
        registered about feature groups: created, deleted, features changed, online or not (not
        with commits that keep the features). A cheap query: readers that cache what they
        derived from the metadata (feature-vector plans) compare it before each use, which also
        sees the changes other processes make."""

    @abstractmethod
    def commits(self, project: str, name: str, version: int) -> list[Commit]:
        """The commits of a version, oldest first."""

    @abstractmethod
    def delete_feature_group(self, project: str, name: str, version: int) -> None:
        """Forget a version and its features, commits and documents."""

    @abstractmethod
    def create_training_dataset(self, dataset: TrainingDataset) -> None:
        """Register a training dataset version. Raises TrainingDatasetExists when that name and
        version is registered."""

    @abstractmethod
    def get_training_dataset(self, project: str, name: str,
                             version: int | None = None) -> TrainingDataset:
        """The version asked for, or the latest when ``version`` is None.
        Raises TrainingDatasetNotFound."""

    @abstractmethod
    def list_training_datasets(self, project: str | None = None) -> list[TrainingDataset]:
        """Every registered version, of one project or of all, by project, name and version."""

    @abstractmethod
    def delete_training_dataset(self, project: str, name: str, version: int) -> None:
        """Forget a version and its documents. Raises TrainingDatasetNotFound."""

    @abstractmethod
    def put_document(self, document: Document) -> None:
        """Keep ``document``, replacing the one of the same project, kind, name, version and
        number."""

    @abstractmethod
    def documents(self, project: str, kind: str, name: str, version: int,
                  number: int | None = None) -> list[Document]:
        """The documents of a kind about one version (of one ``number``), by number."""

    @abstractmethod
    def add_document(self, document: Document) -> bool:
        """Keep a new document; False (nothing written) when one of its project, kind, name,
        version and number exists: the way to create a definition exactly once."""

    @abstractmethod
    def list_documents(self, project: str, kind: str, name: str | None = None) -> list[Document]:
        """The documents of a kind (of one name), by name, version and number."""

    @abstractmethod
    def delete_documents(self, project: str, kind_prefix: str, name: str, version: int) -> None:
        """Forget the documents of one version whose kind starts with ``kind_prefix``."""

    # -- the registry's labels ------------------------------------------------------------------
    @abstractmethod
    def put_tag(self, subject: Subject, tag: str, value: Any) -> None:
        """Set a tag (a JSON-able value) of a registered subject, in one transaction that checks
        that the subject exists. Raises LookupError when it does not."""

    @abstractmethod
    def tags(self, subject: Subject) -> dict[str, Any]:
        """The subject's tags: name -> value."""

    @abstractmethod
    def delete_tag(self, subject: Subject, tag: str) -> bool:
        """Remove a tag; False when the subject had none of that name."""

    @abstractmethod
    def add_keywords(self, subject: Subject, keywords: Sequence[str]) -> None:
        """Add keywords to a registered subject (those it has are kept once). Raises
        LookupError when the subject does not exist."""

    @abstractmethod
    def keywords(self, subject: Subject) -> list[str]:
        """The subject's keywords, sorted."""

    @abstractmethod
    def delete_keyword(self, subject: Subject, keyword: str) -> bool:
        """Remove a keyword; False when the subject did not have it."""

    @abstractmethod
    def put_tag_schema(self, project: str, tag: str, schema: Mapping[str, Any]) -> None:
        """Keep the JSON Schema that values of tag ``tag`` must obey (replacing one)."""

    @abstractmethod
    def tag_schemas(self, project: str) -> dict[str, dict[str, Any]]:
        """The project's tag schemas: tag name -> JSON Schema."""

    @abstractmethod
    def search(self, project: str, term: str, limit: int) -> list[Hit]:
        """Subjects whose name, description, features, keywords or tags have a word that is or
        begins with ``term`` (any case): found through the database's index of words (about
        20 x ``limit`` index rows at most)."""

    @abstractmethod
    def descriptions(self, subjects: Sequence[Subject]) -> dict[Subject, str]:
        """The descriptions of registered subjects (a feature's, for a feature)."""

    def close(self) -> None:  # noqa: B027  (optional: backends without connections keep it)
        """Release kept connections (the store stays usable; backends without any do nothing)."""
