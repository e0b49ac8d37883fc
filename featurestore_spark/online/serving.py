"""Feature-vector serving: primary-key lookups in online tables, for inference.

A :class:`FeatureVectorServer` is planned once for a list of features (which feature group holds
each, the statements to run) and then answers lookups over pooled connections with statements
built once: one query per feature group for a single key, and one per feature group for a whole
batch of keys (an ``IN`` list), never one per key.

Columns are named table-qualified (``"t"."c"``): SQLite reads an unknown bare double-quoted name
as a string, and a plan that outlived its feature group would serve column names as values. A
column or table that is gone is an OnlineStoreError that says so; ``FeatureStore.feature_vector``
re-plans when the metadata's generation number changed, so it serves the current versions.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import sys
import threading
from dataclasses import dataclass
from collections.abc import Mapping, Sequence
from typing import Any, cast

from ..errors import FeatureStoreError, FeatureVectorNotFound, InvalidInputError, OnlineStoreError
from ..metadata import FeatureGroup
from ..mysql_client import close_quietly
from ..names import table_name
from ..query.resolve import resolve
from .schema import (OnlineSchema, key_encoders, key_types, key_values, online_schema,
                     python_decoders)
from .sql import SqlOnlineBackend

log = logging.getLogger(__name__)
MISSING = ("null", "error")
RETURN_TYPES = ("dict", "pandas")
MAX_STATEMENTS = 32


class ConnectionPool:
    """Open connections to one project's online database, reused across lookups (thread-safe).
    Each connection keeps its prepared statements by SQL text, so each is prepared once."""

    def __init__(self, backend: SqlOnlineBackend, project: str, size: int) -> None:
        self.backend, self.project = backend, project
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue(maxsize=size)
        self._lock = threading.Lock()

    def rows(self, sql: str, params: Sequence[Any]) -> list[tuple]:
        """Every row of ``sql`` with ``params``, on an idle connection (or a new one). A pooled
        connection that the server closed meanwhile (``wait_timeout``, a restart) is replaced
        and the lookup run once more; a connection that failed is never put back."""
        try:
            held, pooled = self._idle.get_nowait(), True
        except queue.Empty:
            held, pooled = (self.backend.lookup_connection(self.project), {}), False
        try:
            rows = self._run(held, sql, params)
        except Exception as error:
            lost = pooled and self.backend.lost(held[0], error)
            close_quietly(held[0])
            if not lost:
                raise
            log.info("a pooled online connection of %s was closed by the server: reconnecting",
                     self.project)
            held = (self.backend.lookup_connection(self.project), {})
            try:
                rows = self._run(held, sql, params)
            except BaseException:
                close_quietly(held[0])
                raise
        except BaseException:
            close_quietly(held[0])
            raise
        try:
            self._idle.put_nowait(held)
        except queue.Full:
            close_quietly(held[0])
        return rows

    def _run(self, held: tuple[Any, dict[str, Any]], sql: str, params: Sequence[Any]) -> list[tuple]:
        conn, statements = held
        statement = statements.get(sql)
        if statement is None:
            if len(statements) >= MAX_STATEMENTS:   # batch statements vary with the batch size
                statements.pop(next(iter(statements))).close()
            statement = statements[sql] = self.backend.lookup_statement(conn, sql)
        return statement.rows(params)

    def close(self) -> None:
        while True:
            try:
                close_quietly(self._idle.get_nowait()[0])
            except queue.Empty:
                return


@dataclass(frozen=True)
class _Part:
    """The features served from one feature group."""
    group: FeatureGroup
    schema: OnlineSchema
    features: tuple[str, ...]        # in the group
    outputs: tuple[str, ...]         # the names they get in the vector
    table: str                       # the online table
    single: str                      # SELECT ... WHERE k = ?
    select: str                      # SELECT features, keys FROM t WHERE (without the condition)
    key_columns: tuple[str, ...]     # the keys, qualified, for the IN condition of a batch
    key_marks: tuple[str, ...]       # the parameter marker each key is compared with
    scalars: frozenset[type] = frozenset()   # one-column key: value types taken as they are

    @property
    def keys(self) -> tuple[str, ...]:
        return self.group.primary_key


class FeatureVectorServer:
    """Looks up feature vectors by primary key across one or more online feature groups.

    Examples
    --------
    >>> server = store.feature_vector_server(["avg_attendance", "players.age"])  # doctest: +SKIP
    >>> server.get({"team_id": 3, "player_id": 17})                              # doctest: +SKIP
    {'avg_attendance': 5210.0, 'age': 24}
    """

    def __init__(self, backend: SqlOnlineBackend, pool: ConnectionPool,
                 parts: Sequence[tuple[FeatureGroup, Sequence[str], Sequence[str]]]) -> None:
        self.backend, self.pool = backend, pool
        built = []
        for group, features, outputs in parts:
            schema = online_schema(group)
            name = table_name(group.name, group.version)
            table, q = backend.q(name), backend.q
            # qualified, so that a column that is gone is an error, never a string literal
            cols = ", ".join(f"{table}.{q(f)}" for f in features)
            keys = tuple(f"{table}.{q(k)}" for k in group.primary_key)
            marks = tuple(backend.key_mark(c) for c in schema.keys)
            where = " AND ".join(f"{k} = {m}" for k, m in zip(keys, marks))
            built.append(_Part(group, schema, tuple(features), tuple(outputs), name,
                               f"SELECT {cols} FROM {table} WHERE {where}",
                               f"SELECT {cols}, {', '.join(keys)} FROM {table} WHERE ", keys,
                               marks, key_types(schema.keys[0]) if len(keys) == 1 else frozenset()))
        self.parts = tuple(built)
        self.features = tuple(o for p in self.parts for o in p.outputs)
        self.key_names = tuple(dict.fromkeys(k for p in self.parts for k in p.keys))
        # per part: the decoders of its features and the encoders of its keys, None where every
        # one is the identity (the common case on MySQL: values go through untouched)
        self._codecs = []
        for p in self.parts:
            decoders = dict(zip(p.schema.names, python_decoders(p.schema, backend.text_times)))
            wanted = [decoders[f] for f in p.features]
            encoders = key_encoders(p.schema, backend.text_times)
            self._codecs.append((wanted if any(wanted) else None,
                                 encoders if any(encoders) else None))
        # batch statements by (part, number of keys), built once
        self._batch_sql: dict[tuple[int, int], str] = {}

    # -- keys -------------------------------------------------------------------------------------
    def _key(self, key: Any, part: _Part, encoders: list | None) -> tuple:
        if type(key) in part.scalars and len(self.key_names) == 1:     # the common case, first
            return (key,) if encoders is None else (encoders[0](key),)
        if isinstance(key, Mapping):
            missing = [k for k in part.keys if k not in key]
            if missing:            # key names given in another case (names are case-insensitive)
                key = {k.lower() if isinstance(k, str) else k: v for k, v in key.items()}
                missing = [k for k in part.keys if k not in key]
            if missing:
                raise InvalidInputError("cannot look up a feature vector",
                                        [f"the key has no value for {', '.join(missing)} "
                                         f"(feature group {part.group.name} is keyed by "
                                         f"{', '.join(part.keys)})"], write=False)
            values = tuple(key[k] for k in part.keys)
        elif len(self.key_names) == 1:
            values = (key,)
        elif isinstance(key, (tuple, list)) and len(key) == len(self.key_names):
            by_name = dict(zip(self.key_names, key))
            values = tuple(by_name[k] for k in part.keys)
        else:
            raise InvalidInputError("cannot look up a feature vector",
                                    [f"give the key as a dict of {', '.join(self.key_names)}, "
                                     f"got {key!r}"], write=False)
        # of the keys' types (a list for a one-column key, "abc" for an int key: an error)
        values = key_values(part.schema.keys, values, f"{part.group.name} v{part.group.version}")
        if encoders is None:
            return values
        return tuple(v if e is None else e(v) for e, v in zip(encoders, values))

    @staticmethod
    def _decode(row: Sequence[Any], decoders: list | None) -> Sequence[Any]:
        if decoders is None:
            return row
        return [v if d is None else d(v) for v, d in zip(row, decoders)]

    # -- lookups ----------------------------------------------------------------------------------
    def get(self, key: Any, missing: str = "null") -> dict[str, Any]:
        """The vector of one key: ``{feature: value}`` in the order the features were asked.
        A key missing from a feature group gives None values, or FeatureVectorNotFound when
        ``missing="error"``."""
        vector: dict[str, Any] = {}
        for part, (decoders, encoders) in zip(self.parts, self._codecs):
            params = self._key(key, part, encoders)
            try:
                rows = self.pool.rows(part.single, params)
            except Exception as e:
                raise self._failure(part, e) from None
            if not rows:
                if missing == "error":
                    raise FeatureVectorNotFound(f"key {key!r} is not in online feature group "
                                                f"{part.group.name} v{part.group.version}")
                vector.update(dict.fromkeys(part.outputs))
            else:
                vector.update(zip(part.outputs, self._decode(rows[0], decoders)))
        return vector

    def get_batch(self, keys: Sequence[Any], return_type: str = "dict",
                  missing: str = "null") -> Any:
        """The vectors of many keys, in their order: a list of dicts, or a pandas DataFrame
        (``return_type="pandas"``). One query per feature group for the whole batch."""
        if return_type not in RETURN_TYPES:
            raise InvalidInputError("cannot look up feature vectors",
                                    [f"return type {return_type!r} is not one of "
                                     f"{', '.join(RETURN_TYPES)}"], write=False)
        vectors: list[dict[str, Any]] = []
        absent: list[str] = []
        for index, (part, (decoders, encoders)) in enumerate(zip(self.parts, self._codecs)):
            plain = (encoders is None and len(part.keys) == 1 and len(self.key_names) == 1
                     and set(map(type, keys)) <= part.scalars)
            # rows are (features..., keys...): zip(outputs, row) stops before the keys
            wanted = keys if plain else [self._key(k, part, encoders) for k in keys]
            try:
                found = self._fetch(index, part, list(dict.fromkeys(wanted)), plain)
            except Exception as e:
                raise self._failure(part, e) from None
            rows = [found.get(w) for w in wanted]
            if decoders is not None:
                rows = [None if r is None else self._decode(r, decoders) for r in rows]
            outputs, empty = part.outputs, (None,) * len(part.outputs)
            if None in rows:
                absent += [f"{k!r} in {part.group.name}" for k, r in zip(keys, rows) if r is None]
                rows = [empty if r is None else r for r in rows]
            filled = cast("list[Sequence[Any]]", rows)   # no None left: the absent ones are empty
            if index == 0:
                vectors = [dict(zip(outputs, r)) for r in filled]
            else:
                for vector, r in zip(vectors, filled):
                    vector.update(zip(outputs, r))
        if absent and missing == "error":
            raise FeatureVectorNotFound(f"{len(absent)} key(s) not in the online store: "
                                        + ", ".join(absent[:20]))
        if return_type == "pandas":
            import pandas as pd
            return pd.DataFrame.from_records(vectors, columns=list(self.features))
        return vectors

    def _fetch(self, index: int, part: _Part, keys: list[Any], plain: bool) -> dict[Any, Sequence[Any]]:
        """Rows (features, then keys) of ``keys`` by key, in one statement per up to 1,000 keys.
        ``plain``: keys are single values, else tuples in the stored form."""
        found: dict[Any, Sequence[Any]] = {}
        n_keys = len(part.keys)
        for start in range(0, len(keys), 1000):
            chunk = keys[start:start + 1000]
            sql = self._batch_sql.get((index, len(chunk)))
            if sql is None:
                if len(self._batch_sql) >= 256:
                    self._batch_sql.clear()
                sql = self._batch_sql[(index, len(chunk))] = (
                    part.select + self._key_condition(part.key_columns, part.key_marks, len(chunk)))
            if plain:
                found.update({row[-1]: row for row in self.pool.rows(sql, chunk)})
            else:
                rows = self.pool.rows(sql, [v for k in chunk for v in k])
                found.update({row[-n_keys:]: row for row in rows})
        return found

    @staticmethod
    def _key_condition(keys: tuple[str, ...], marks: tuple[str, ...], n: int) -> str:
        """``t.k IN (?, ...)``, or ``(t.k1, t.k2) IN ((?, ?), ...)``, for ``n`` keys."""
        if len(keys) == 1:
            return f"{keys[0]} IN ({', '.join(marks * n)})"
        one = "(" + ", ".join(marks) + ")"
        return f"({', '.join(keys)}) IN ({', '.join([one] * n)})"

    def _failure(self, part: _Part, error: Exception) -> Exception:
        """What a lookup of ``part`` that failed with ``error`` raises: a driver's error as an
        OnlineStoreError that says what is missing (a table or columns: the feature group
        changed after this plan, or its online table outside the feature store) or else why."""
        if isinstance(error, FeatureStoreError) or not _driver_error(error):
            return error
        g, where = part.group, self.backend.describe(self.pool.project)
        try:
            columns = self.backend.columns_of(self.pool.project, part.table)
        except Exception:                    # the store is unreachable: the error says why
            columns = []
        replan = ("plan the feature vectors again (FeatureStore.feature_vector_server) if the "
                  "feature group changed since, or make its online table again with "
                  f"FeatureStore.sync_online({g.name!r}, {g.version}, full=True)")
        if columns is None:
            return OnlineStoreError(f"cannot look up feature group {g.name} v{g.version}: its "
                                    f"online table {part.table} does not exist in {where}: "
                                    + replan)
        gone = [c for c in dict.fromkeys(part.features + part.keys)
                if columns and c not in columns]
        if gone:
            return OnlineStoreError(f"cannot look up feature group {g.name} v{g.version}: its "
                                    f"online table {part.table} in {where} has no column "
                                    f"{', '.join(map(repr, gone))}: " + replan)
        text = str(getattr(error, "msg", None) or error)
        password = getattr(getattr(self.backend, "mysql", None), "password", "")
        return OnlineStoreError(f"cannot look up feature group {g.name} v{g.version} in the "
                                f"online store {where}: "
                                + (text.replace(password, "***") if password else text))

    def close(self) -> None:
        self.pool.close()


def _driver_error(error: Exception) -> bool:
    """An error of the SQLite or MySQL driver (mysql.connector is loaded when it raised)."""
    mysql = sys.modules.get("mysql.connector")
    return isinstance(error, sqlite3.Error) or (mysql is not None
                                                and isinstance(error, mysql.Error))


def plan(groups: Sequence[FeatureGroup], features: Sequence[str],
         versions: Mapping[str, int] | None = None
         ) -> list[tuple[FeatureGroup, list[str], list[str]]]:
    """Which online feature group serves each feature (found as :func:`..query.resolve.resolve`
    finds it: ``feature``, ``featuregroup.feature`` or ``featuregroup_<version>.feature``;
    ``versions`` pins versions). A bare ``feature`` is looked for in the online feature groups
    only (at the version used: pinned, or the latest). Returns (group, features, output names)
    per feature group."""
    used: dict[str, FeatureGroup] = {}
    for g in groups:                   # by name and version: the last one kept is the latest
        if (versions or {}).get(g.name, g.version) == g.version:
            used[g.name] = g
    found = resolve(groups, features, versions, search=[n for n, g in used.items() if g.online],
                    scope="online feature group")
    problems = list(found.problems)
    for f in found.features:           # a bare name that only offline feature groups have
        offline = [f"{g.name} v{g.version}" for g in used.values() if f.feature in g.feature_names]
        if f.problem is not None and f.wanted == f.feature and not f.owners and offline:
            problems[problems.index(f.problem)] = (
                f"feature {f.wanted!r} is only in feature groups that are not online: "
                f"{', '.join(offline)} (create them with online=True, or sync them online)")
    chosen = []
    for group, names in found.by_group():
        if not group.online:
            problems.append(f"feature group {group.name} v{group.version} is not online (create "
                            "it with online=True, or sync it online)")
        chosen.append((group, names, list(names)))
    outputs = [o for _, _, outs in chosen for o in outs]
    problems += [f"feature {o!r} is asked for twice: vectors need distinct names"
                 for o in sorted({o for o in outputs if outputs.count(o) > 1})]
    if problems:
        raise InvalidInputError("cannot serve feature vectors", problems, write=False)
    return chosen


def check_missing(missing: str) -> list[str]:
    return [] if missing in MISSING else [f"missing must be one of {', '.join(MISSING)}, got {missing!r}"]
