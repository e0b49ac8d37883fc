"""Builders of online operations: sync, consistency check, feature-vector lookups."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping

from ..errors import InvalidInputError
from ..online.sync import ConsistencyReport, SyncResult
from .featuregroup import Builder, NamedBuilder, project_of


@dataclass(frozen=True)
class SyncOnlineFeaturegroup(NamedBuilder):
    """``Hops.syncOnlineFeaturegroup("teams").write()``: bring the online table up to the latest
    commit, incrementally (``setFull()``: rewrite it whole)."""
    full: bool = False

    def setFull(self, full: bool = True) -> SyncOnlineFeaturegroup:
        return replace(self, full=full)

    def write(self) -> SyncResult:
        return self._fs().sync_online(self.name, self.version, self.project, self.full)


@dataclass(frozen=True)
class CheckOnlineFeaturegroup(NamedBuilder):
    """``Hops.checkOnlineFeaturegroup("teams").read()``: online versus the offline latest
    snapshot."""

    def read(self) -> ConsistencyReport:
        return self._fs().check_online(self.name, self.version, self.project)


@dataclass(frozen=True)
class GetFeatureVector(Builder):
    """``Hops.getFeatureVector(["age", "teams.rating"]).setKey({"player_id": 7}).read()``, or
    ``.setKeys([...]).setReturnType("pandas").read()`` for a batch."""
    features: tuple[str, ...] = ()
    key: Any = None
    keys: tuple[Any, ...] | None = None
    project: str | None = None
    versions: tuple[tuple[str, int], ...] = ()
    return_type: str = "dict"
    missing: str = "null"

    def setKey(self, key: Any) -> GetFeatureVector:
        return replace(self, key=key)

    def setKeys(self, keys: Iterable[Any]) -> GetFeatureVector:
        return replace(self, keys=tuple(keys))

    def setFeaturestore(self, featurestore: str) -> GetFeatureVector:
        return replace(self, project=project_of(featurestore))

    def setFeaturegroupVersions(self, versions: Mapping[str, int]) -> GetFeatureVector:
        return replace(self, versions=tuple(versions.items()))

    def setReturnType(self, return_type: str) -> GetFeatureVector:
        """``dict`` (default) or ``pandas`` (batches)."""
        return replace(self, return_type=return_type)

    def setMissing(self, missing: str) -> GetFeatureVector:
        """``null`` (default: missing keys give None) or ``error``."""
        return replace(self, missing=missing)

    def read(self) -> Any:
        if (self.key is None) == (self.keys is None):
            raise InvalidInputError("cannot look up feature vectors",
                                    ["give either setKey(key) or setKeys(keys)"], write=False)
        versions = dict(self.versions)
        if self.keys is None:
            return self._fs().feature_vector(list(self.features), self.key, self.project,
                                             versions, self.missing)
        return self._fs().feature_vectors(list(self.features), list(self.keys), self.project,
                                          versions, self.return_type, self.missing)

