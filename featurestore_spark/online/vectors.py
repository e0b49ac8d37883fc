"""Feature vectors for inference: servers planned once per list of features, pooled connections
per project, and plans kept current with the metadata's generation number. Needs no Spark."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError
from .serving import ConnectionPool, FeatureVectorServer, check_missing, plan

if TYPE_CHECKING:
    from ..context import Context

MAX_PLANS = 64


class Vectors:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._pools: dict[str, ConnectionPool] = {}
        # each plan with the metadata generation it was checked against, and when
        self._servers: dict[tuple, tuple[int, FeatureVectorServer, float]] = {}

    def server(self, features: list[str], project: str | None = None,
               versions: dict[str, int] | None = None) -> FeatureVectorServer:
        """A server of vectors of ``features`` (``feature`` or ``featuregroup.feature``, from
        one or more online feature groups; ``versions`` pins feature group versions). Build it
        once and call ``get(key)`` / ``get_batch(keys)`` for every request."""
        project = self.ctx.project(project)
        parts = plan(self.ctx.metadata.list_feature_groups(project), features, versions)
        backend = self.ctx.online_backend
        pool = self._pools.get(project)
        if pool is None:
            pool = self._pools[project] = ConnectionPool(backend, project,
                                                         self.ctx.settings.online.pool_size)
        return FeatureVectorServer(backend, pool, parts)

    def cached_server(self, features: list[str], project: str | None,
                      versions: dict[str, int] | None) -> FeatureVectorServer:
        """The cached plan of these features, planned again when the metadata's generation
        number moved since (a feature group created, deleted, changed or taken online, by any
        process). The generation is read at most once per ``[online] plan_check_seconds`` (a
        small metadata query; 0: on every call), so a change shows within that time."""
        cache_key = (project, tuple(features), tuple(sorted((versions or {}).items())))
        cached = self._servers.get(cache_key)
        now = time.monotonic()
        if cached is not None and now - cached[2] < self.ctx.settings.online.plan_check_seconds:
            return cached[1]
        generation = self.ctx.metadata.generation()    # read before planning: a change during
        if cached is not None and cached[0] == generation:   # it makes the next call plan again
            self._servers[cache_key] = (generation, cached[1], now)
            return cached[1]
        server = self.server(features, project, versions)
        self._servers.pop(cache_key, None)
        if len(self._servers) >= MAX_PLANS:
            self._servers.pop(next(iter(self._servers)))
        self._servers[cache_key] = (generation, server, now)
        return server

    def vector(self, features: list[str], key: Any, project: str | None = None,
               versions: dict[str, int] | None = None, missing: str = "null") -> dict[str, Any]:
        if (problems := check_missing(missing)):
            raise InvalidInputError("cannot look up a feature vector", problems, write=False)
        return self.cached_server(features, project, versions).get(key, missing)

    def vectors(self, features: list[str], keys: list[Any], project: str | None = None,
                versions: dict[str, int] | None = None, return_type: str = "dict",
                missing: str = "null") -> Any:
        if (problems := check_missing(missing)):
            raise InvalidInputError("cannot look up feature vectors", problems, write=False)
        return self.cached_server(features, project, versions).get_batch(keys, return_type,
                                                                         missing)

    def changed(self) -> None:
        """What is registered changed in this process: plan again on the next call."""
        self._servers.clear()

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        self._servers.clear()
