"""The handle of an external (on-demand) feature group, in the Hopsworks client's vocabulary:
``fs.create_external_feature_group(...)`` returns one, ``save()`` registers it, and
``fs.get_external_feature_group(name)`` gives it back, with its source (``storage_connector``,
``query``, ``path``, ``data_format``, ``options``). Reads, queries, joins, statistics, labels and
``delete`` work as on any feature group's handle (``get_feature_group`` returns one of those for
an external group too), while writes, commits and time travel are refused (its rows are its
source's: ``connectors.external``).

Examples
--------
>>> sales = fs.create_external_feature_group(
...     "sales", storage_connector="warehouse_db", query="SELECT * FROM sales",
...     primary_key=["order_id"], event_time="ts")                           # doctest: +SKIP
>>> sales.save()                                                             # doctest: +SKIP
>>> labels_q.join(sales.select(["amount"])).read()                            # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .connectors.external import ExternalSpec, no_commits
from .errors import InvalidInputError
from .handles import FeatureGroup, Pending
from .handles import statistics_config as to_statistics

if TYPE_CHECKING:
    from .metadata import Commit
    from .store import Store


class ExternalFeatureGroup(FeatureGroup):
    """A handle of an external feature group version (see the module's docstring)."""

    def __init__(self, store: Store, name: str, version: int | None, project: str,
                 spec: ExternalSpec | None = None) -> None:
        super().__init__(store, name, version, project)
        self._spec = spec                       # what save() registers; None once registered

    def __repr__(self) -> str:
        state = " (not saved yet)" if self._spec is not None else ""
        return (f"ExternalFeatureGroup({self._name!r}, version={self._version}, "
                f"project={self._project!r}){state}")

    def _now(self) -> Pending | None:
        s = self._spec
        return None if s is None else Pending(
            s.description, s.primary_key, (), s.event_time, s.online, s.statistics,
            dependencies=s.dependencies)

    def _source(self, key: str) -> Any:
        if self._spec is not None:
            value = self._spec.storage_connector if key == "connector" else getattr(self._spec, key)
            return getattr(value, "name", value)
        return (self._meta().source or {}).get(key)

    # the source, as the Hopsworks client names it
    storage_connector = property(lambda self: self._store.get_storage_connector(
        self._source("connector"), project=self._project))
    query = property(lambda self: self._source("query"))
    path = property(lambda self: self._source("path"))
    data_format = property(lambda self: self._source("data_format"))
    options = property(lambda self: dict(self._source("options") or {}))

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Register it: its source is read for the schema now (an unreachable source, a refused
        login or a missing path is an error, and nothing is registered)."""
        if args or kwargs:
            raise InvalidInputError(f"cannot save external feature group {self._name!r}", [
                "an external feature group takes no rows: its source gives them"])
        if self._spec is None:
            raise InvalidInputError(f"cannot save external feature group {self._name!r}", [
                f"{self._name} v{self._version} is registered already"])
        spec = self._spec
        if spec.version is None:
            spec = replace(spec, version=max(self._store.metadata.feature_group_versions(
                self._project, self._name), default=0) + 1)
        if self._statistics is not None:
            spec = replace(spec, statistics=self._statistics)
        group = self._store.create_external(spec)
        self._version, self._spec, self._statistics = group.version, None, None

    def update_statistics_config(self) -> ExternalFeatureGroup:
        if self._spec is not None and self._statistics is not None:   # kept for save()
            self._spec, self._statistics = replace(self._spec, statistics=self._statistics), None
            return self
        super().update_statistics_config()
        return self

    def insert(self, *args: Any, **kwargs: Any) -> Commit | None:
        raise no_commits(self._meta(), f"cannot insert into {self._name!r}")

    def sync_online(self) -> int:
        """Load its online table with its source's rows now (made online if it is not);
        returns the rows written."""
        group = self._meta()
        return self._store.sync_online(group.name, group.version, group.project).rows_written


def create(store: Store, name: str, storage_connector: Any, *, query: str | None = None,
           data_format: str | None = None, path: str = "", options: Any = None,
           version: int | None = None, description: str = "", primary_key: Any = None,
           event_time: str | None = None, online_enabled: bool = False,
           statistics_config: Any = None, dependencies: Any = (),
           project: str | None = None) -> ExternalFeatureGroup:
    """A handle that ``save()`` registers (``FeatureStore.create_external_feature_group``)."""
    project = project or store.settings.project
    spec = ExternalSpec(name, storage_connector, project, version, query, path or "",
                        data_format, options or {},
                        (primary_key,) if isinstance(primary_key, str) else tuple(primary_key or ()),
                        event_time, description, bool(online_enabled),
                        to_statistics(statistics_config),
                        (dependencies,) if isinstance(dependencies, str) else tuple(dependencies))
    problems = spec.problems() if version is not None else replace(spec, version=1).problems()
    if problems:
        raise InvalidInputError(f"cannot create external feature group {name!r}", problems)
    return ExternalFeatureGroup(store, name, version, project, spec)

