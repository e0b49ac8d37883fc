"""Errors raised by featurestore_spark. Every one derives from :class:`FeatureStoreError`."""

from __future__ import annotations

from typing import Iterable


def reason(error: BaseException) -> str:
    """The first non-blank line of ``error``'s message (Spark's start with a newline), or its
    class name when it has no message."""
    return next((line.strip() for line in str(error).splitlines() if line.strip()),
                type(error).__name__)


class FeatureStoreError(Exception):
    """Root of all featurestore_spark errors."""


class ConfigurationError(FeatureStoreError):
    """The settings, the Spark session or the set-up is not usable (e.g. Delta is missing)."""


class InvalidInputError(FeatureStoreError, ValueError):
    """The request is wrong; ``problems`` lists every problem found, and nothing was written.
    ``write=False`` for requests that write nothing anyway (reads, lookups): their message does
    not say "nothing was written"."""

    def __init__(self, what: str, problems: Iterable[str], *, write: bool = True) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        outcome = ", nothing was written" if write else ""
        super().__init__(f"{what}: {len(self.problems)} problem(s){outcome}:\n{lines}")


class SchemaMismatchError(InvalidInputError):
    """The DataFrame's columns or types differ from the feature group's."""


class FeatureGroupNotFound(FeatureStoreError, LookupError):
    """No feature group (or version) of that name in the feature store."""


class FeatureGroupExists(FeatureStoreError):
    """A feature group with that name and version exists already."""


class CommitNotFound(FeatureStoreError, LookupError):
    """The commit or point in time asked for does not exist in the feature group's history."""


class ConcurrentWriteError(FeatureStoreError):
    """Another writer committed to the same feature group first; this write was not applied."""


class OnlineStoreError(FeatureStoreError):
    """The online store could not be reached or written; the message says what to run again."""


class MetadataStoreError(FeatureStoreError):
    """The metadata store could not be reached or migrated; the message says where and why."""


class StorageError(FeatureStoreError):
    """A path of the warehouse or of a training dataset cannot be written: a file where a folder
    must be, no permission, a read-only or full file system. The message names the path."""


class IncompleteDeleteError(FeatureStoreError):
    """A delete stopped part of the way; the message says what is left and that running the
    delete again finishes it."""


class FeatureVectorNotFound(FeatureStoreError, LookupError):
    """A key asked for is not in the online store (raised only when missing keys are errors)."""


class FeatureViewNotFound(FeatureStoreError, LookupError):
    """No such feature view (version), training data version of one, or transformation function."""


class TrainingDatasetNotFound(FeatureStoreError, LookupError):
    """No training dataset (or version) of that name in the feature store."""


class TrainingDatasetExists(FeatureStoreError):
    """A training dataset with that name and version exists already."""


class DataValidationError(FeatureStoreError):
    """The data failed its expectation suite under the STRICT policy; nothing was written.
    ``report`` is the validation report (a dict)."""

    def __init__(self, what: str, report: dict) -> None:
        self.report = report
        failed = [r for r in report.get("results", []) if not r.get("success")]
        lines = "\n".join(f"  - {r['expectation_type']} {r.get('kwargs', {})}: {r.get('observed', '')}"
                          for r in failed[:20])
        super().__init__(f"{what}: {len(failed)} expectation(s) failed, nothing was written:\n{lines}")
