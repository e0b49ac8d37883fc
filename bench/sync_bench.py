"""Sync into MariaDB: FeatureStore.sync_online(full=True) of a feature group written offline
first (untimed), beside the single-connection executemany baseline and the server's floor (one
LOAD DATA LOCAL INFILE; both sync_baseline.py, in a process of their own), with the driver's peak
memory during each sync; then an incremental sync_online after an offline upsert of a share of
the keys."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lookup_bench import feature_frame, value
from report import JvmHeap, reset_peak_rss, rss_mib

HERE = Path(__file__).resolve().parent


@dataclass
class SyncRun:
    rows: int
    seconds: float
    driver_rss_before: float = 0.0     # MiB
    driver_rss_peak: float = 0.0       # MiB, VmHWM reset just before the sync
    jvm_heap_max: float = 0.0          # MiB, sampled used heap of the driver JVM
    jvm_old_peak: float = 0.0          # MiB, old generation peak
    jvm_rss_peak: float = 0.0          # MiB, VmHWM of the driver JVM

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


def write_offline(store: Any, name: str, rows: int, features: int, partitions: int) -> None:
    """A feature group in Delta only (what a pipeline has written before it syncs)."""
    from featurestore_spark.spec import CreateSpec
    df = feature_frame(store.spark, rows, features, "c", partitions)
    store.create(CreateSpec(name, df, primary_key=("id",), online=False))


def upsert_offline(store: Any, name: str, rows: int, every: int, features: int,
                   partitions: int, shift: float) -> int:
    """Upsert new values (``changed_value``) of every ``every``-th key into the feature group's
    Delta table only (online sync off); the keys changed."""
    from pyspark.sql import functions as F

    from featurestore_spark.spec import InsertSpec
    df = feature_frame(store.spark, rows, features, "c", partitions)
    df = df.where(F.col("id") % every == 0).select(
        "id", *[(F.col(f"c{j}") + F.lit(shift)).alias(f"c{j}") for j in range(features)])
    store.insert(InsertSpec(name, df, mode="upsert", online=False))
    return len(range(0, rows, every))


def changed_value(key: int, j: int, shift: float) -> float:
    """What ``upsert_offline`` wrote in feature ``j`` of ``key``."""
    return value(key, j) + shift


def timed_incremental(store: Any, name: str, changed: int) -> SyncRun:
    """sync_online(name) after upsert_offline, timed: incremental, exactly the changed keys."""
    gc.collect()
    t0 = time.perf_counter()
    result = store.sync_online(name)
    seconds = time.perf_counter() - t0
    if result.mode != "incremental" or result.rows_written != changed or result.rows_deleted:
        raise RuntimeError(f"sync_online({name!r}) after an upsert of {changed} keys: {result}")
    return SyncRun(result.rows_written, seconds)


def timed_sync(store: Any, name: str, heap: JvmHeap | None = None) -> SyncRun:
    """sync_online(name, full=True), timed; with ``heap``, the driver's memory during it."""
    gc.collect()
    before = 0.0
    if heap is not None:
        reset_peak_rss()
        reset_peak_rss(heap.pid)
        before, _ = rss_mib()
        heap.start()
    t0 = time.perf_counter()
    result = store.sync_online(name, full=True)
    seconds = time.perf_counter() - t0
    if result.mode != "full":
        raise RuntimeError(f"sync_online(full=True) did a {result.mode} sync")
    if heap is None:
        return SyncRun(result.rows_written, seconds)
    heap_max, old_peak = heap.stop()
    return SyncRun(result.rows_written, seconds, before, rss_mib()[1], heap_max, old_peak,
                   rss_mib(heap.pid)[1])


def check_synced(store: Any, name: str, rows: int, features: int, every: int = 0,
                 shift: float = 0.0) -> None:
    """Row count and a few values of the synced table, read back over a plain connection; with
    ``every``, keys upserted by upsert_offline(every, shift) hold the new values, others the old."""
    from featurestore_spark.names import table_name
    backend, table = store.online.backend, table_name(name, 1)
    keys = (0, rows // 2, rows - 1) + ((every, rows // every * every - every, 1, every + 1)
                                        if every else ())
    with backend.connection(store.settings.project) as conn:
        cur = conn.cursor()
        cur.execute(f"SELECT COUNT(*) FROM {backend.q(table)}")
        count = cur.fetchone()[0]
        cur.execute(f"SELECT * FROM {backend.q(table)} WHERE id IN ({', '.join(['%s'] * len(keys))})",
                    keys)
        got = cur.fetchall()
    expect = {k: [changed_value(k, j, shift) if every and k % every == 0 else value(k, j)
                  for j in range(features)] for k in keys}
    if count != rows or len(got) != len(set(keys)) or any(list(r[1:]) != expect[r[0]] for r in got):
        raise RuntimeError(f"online table {table} holds {count} rows, expected {rows}, or wrong values")


def baseline(connect_args: dict, rows: int, features: int, batch: int, table: str,
             mode: str = "executemany") -> dict:
    """Run sync_baseline.py (``mode``: executemany or floor) in a process of its own; its JSON
    result."""
    args = {"rows": rows, "features": features, "batch": batch, "table": table, "prefix": "c",
            "connect": connect_args, "mode": mode}
    out = subprocess.run([sys.executable, str(HERE / "sync_baseline.py")], input=json.dumps(args),
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"the baseline failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory_runs_in(store: Any, rows: list[int], partitions: int) -> list[SyncRun]:
    """sync_online(full=True) of new feature groups of ``rows`` rows, with the driver's memory."""
    heap = JvmHeap(store.spark)
    runs = []
    for i, n in enumerate(rows):
        name = f"mem{i}"
        write_offline(store, name, n, 20, partitions)
        runs.append(timed_sync(store, name, heap))
        check_synced(store, name, n, 20)
        store.delete(name, 1)
        print(f"  memory run {n:,} rows: driver peak RSS {runs[-1].driver_rss_peak:.0f} MiB, "
              f"driver JVM heap max {runs[-1].jvm_heap_max:.0f} MiB", file=sys.stderr, flush=True)
    return runs


def memory_runs(rows: list[int], partitions: int, master: str) -> list[SyncRun]:
    """memory_bench.py in a process (and Spark session) of its own."""
    args = {"rows": rows, "partitions": partitions, "master": master}
    out = subprocess.run([sys.executable, str(HERE / "memory_bench.py"), json.dumps(args)],
                         stdout=subprocess.PIPE, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError("the memory run failed (its errors are above)")
    return [SyncRun(**{k: v for k, v in r.items() if k != "master"})
            for r in json.loads(out.stdout.strip().splitlines()[-1])]
