"""Online lookups: FeatureVectorServer.get / get_batch beside a raw mysql-connector primary-key
SELECT on the same table, same server and transport, through a prepared cursor (binary protocol),
and beside the floor of our own path: our NativeStatement alone on the same SQL (no planning, no
dicts)."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from report import Latency

BLOCK = 5           # lookups per block; ours and raw alternate blocks, the first side rotating


def feature_frame(spark: Any, rows: int, features: int, prefix: str, partitions: int) -> Any:
    """``rows`` rows: a bigint key ``id`` and ``features`` deterministic doubles, made by Spark
    (nothing generated on the driver)."""
    from pyspark.sql import functions as F
    df = spark.range(0, rows, 1, partitions)
    return df.select("id", *[(F.col("id") * (7919 * (j + 1)) % 10007 / F.lit(100.0)).alias(f"{prefix}{j}")
                             for j in range(features)])


def value(key: int, j: int) -> float:
    """What ``feature_frame`` holds in feature ``j`` of ``key`` (for checks and the baseline)."""
    return (key * (7919 * (j + 1)) % 10007) / 100.0


@dataclass
class Comparison:
    what: str            # e.g. "single key, 10 features"
    transport: str       # tcp or socket
    ours: Latency
    raw: Latency
    bare: Latency        # our statement class alone on the same SQL: the floor of our path


class RawLookups:
    """Plain mysql-connector on a given connection: prepared cursors of its own, the statements
    written by hand."""

    def __init__(self, conn: Any, table: str, key: str, columns: Sequence[str]) -> None:
        self.conn = conn
        cols = ", ".join(f"`{c}`" for c in columns)
        self.single_sql = f"SELECT {cols} FROM `{table}` WHERE `{key}` = %s"
        self.batch_head = f"SELECT `{key}`, {cols} FROM `{table}` WHERE `{key}` IN "
        self.single_cur = self.conn.cursor(prepared=True)
        self.batch_cur = self.conn.cursor(prepared=True)
        self._batch_sql: str | None = None
        self._batch_n = 0
        from featurestore_spark.online.mysql import NativeStatement
        self.bare_single = NativeStatement(conn, self.single_sql)
        self._bare_batch: Any = None

    def get(self, key: int) -> list[tuple]:
        self.single_cur.execute(self.single_sql, (key,))
        return self.single_cur.fetchall()

    def get_batch(self, keys: Sequence[int]) -> list[tuple]:
        if self._batch_sql is None or self._batch_n != len(keys):
            self._batch_sql = self.batch_head + "(" + ", ".join(["%s"] * len(keys)) + ")"
            self._batch_n = len(keys)
        self.batch_cur.execute(self._batch_sql, tuple(keys))
        return self.batch_cur.fetchall()

    def bare_get(self, key: int) -> list[tuple]:
        return self.bare_single.rows((key,))

    def bare_get_batch(self, keys: Sequence[int]) -> list[tuple]:
        if self._bare_batch is None or self._batch_n != len(keys):
            from featurestore_spark.online.mysql import NativeStatement
            self.get_batch(keys)               # builds the SQL text for this batch size
            if self._bare_batch is not None:
                self._bare_batch.close()
            self._bare_batch = NativeStatement(self.conn, self._batch_sql)
        return self._bare_batch.rows(tuple(keys))

    def close(self) -> None:
        self.single_cur.close()
        self.batch_cur.close()
        self.bare_single.close()
        if self._bare_batch is not None:
            self._bare_batch.close()


def statement_classes(server: Any) -> set[str]:
    """The classes of the statements the server's idle pooled connections hold (NativeStatement:
    the C extension; CursorStatement: the pure-Python fallback)."""
    return {type(s).__name__ for _, held in list(server.pool._idle.queue) for s in held.values()}


def pooled_connection(server: Any, key: Any) -> Any:
    """The connection ``server``'s pool looks ``key`` up on (one caller: always the same), for
    the raw side to run on too: the same server thread, so that only the client code differs."""
    recording = _Recording(server.pool.backend)
    server.pool.backend = recording
    server.get(key)
    server.pool.backend = recording._backend
    if len(recording.connections) != 1:
        raise RuntimeError("the server's pool opened no connection of its own (opened before?)")
    return recording.connections[0]


def alternate(sides: Sequence[Callable[[Any], Any]], make_arg: Callable[[], Any],
              n: int, warmup: int) -> list[Latency]:
    """``n`` timed calls of each side after ``warmup`` untimed ones, in blocks of ``BLOCK``
    taking turns (the side that goes first rotates too), each call with its own random
    argument."""
    for _ in range(warmup):
        for call in sides:
            call(make_arg())
    timed: list[list[int]] = [[] for _ in sides]
    clock = time.perf_counter_ns
    block = 0
    while len(timed[0]) < n:
        size = min(BLOCK, n - len(timed[0]))
        for i in range(len(sides)):
            side = (block + i) % len(sides)
            call, out = sides[side], timed[side]
            args = [make_arg() for _ in range(size)]
            for a in args:
                t0 = clock()
                call(a)
                out.append(clock() - t0)
        block += 1
    return [Latency(t) for t in timed]


def check_same_answers(server: Any, raw: RawLookups, keys: Sequence[int], outputs: Sequence[str]) -> None:
    """Both sides return the stored values (a benchmark of wrong answers would mean nothing)."""
    vectors = server.get_batch(list(keys))
    rows = {r[0]: r[1:] for r in raw.get_batch(list(keys))}
    for k, v in zip(keys, vectors):
        single = server.get(k)
        if (single != v or [v[o] for o in outputs] != list(rows[k])
                or list(rows[k]) != list(raw.get(k)[0]) or raw.get(k) != raw.bare_get(k)):
            raise RuntimeError(f"ours and raw disagree for key {k}: {v} / {rows[k]}")
        want = [value(k, j) for j in range(len(outputs))]
        if [v[o] for o in outputs] != want:
            raise RuntimeError(f"key {k}: stored {v} but generated {want}")


def run_lookups(server: Any, raw: RawLookups, rows: int, what: str, transport: str,
                n_single: int, n_batch: int, batch: int, warmup: int,
                seed: int) -> list[Comparison]:
    rng = random.Random(seed)
    key = lambda: rng.randrange(rows)
    keys = lambda: rng.sample(range(rows), batch)
    single = alternate((server.get, raw.get, raw.bare_get), key, n_single, warmup)
    many = alternate((server.get_batch, raw.get_batch, raw.bare_get_batch), keys, n_batch,
                     max(warmup // 4, 20))
    return [Comparison(f"single key, {what}", transport, *single),
            Comparison(f"batch of {batch}, {what}", transport, *many)]


# -- one statement per feature group ---------------------------------------------------------------
class _Recording:
    """A backend that remembers the connections the pool opens (everything else delegated)."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self.connections: list[Any] = []

    def lookup_connection(self, project: str) -> Any:
        conn = self._backend.lookup_connection(project)
        self.connections.append(conn)
        return conn

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


COUNTERS = ("Com_stmt_execute", "Com_stmt_prepare", "Com_stmt_close", "Com_stmt_reset",
            "Questions")


def session_counters(connections: Sequence[Any]) -> dict[str, int]:
    """Server-side statement counters of these sessions, summed."""
    total = dict.fromkeys(COUNTERS, 0)
    marks = ", ".join(["%s"] * len(COUNTERS))
    for conn in connections:
        cur = conn.cursor()
        cur.execute(f"SHOW SESSION STATUS WHERE Variable_name IN ({marks})", COUNTERS)
        for name, v in cur.fetchall():
            total[name] += int(v)
        cur.close()
    return total


def statements_per_call(store: Any, features: Sequence[str], keys: Sequence[int]) -> dict[str, Any]:
    """What the server does for one get and one get_batch over the feature groups of
    ``features`` (after a first call of each, which connects and prepares), counted on the
    server: SHOW SESSION STATUS of the pool's connections."""
    server = store.feature_vector_server(list(features))
    recording = _Recording(server.pool.backend)
    server.pool.backend = recording             # this store's pool: only this check uses it
    out: dict[str, Any] = {"feature_groups": len(server.parts), "keys": len(keys)}
    for what, call in (("get", lambda: server.get(keys[0])),
                       ("get_batch", lambda: server.get_batch(list(keys)))):
        call()
        before = session_counters(recording.connections)
        call()
        after = session_counters(recording.connections)
        # Questions also counts the SHOW STATUS statement of the first reading
        out[what] = {k: after[k] - before[k] - (1 if k == "Questions" else 0) for k in after}
    out["connections"] = len(recording.connections)
    server.close()
    return out
