"""Sync into MariaDB: FeatureStore.sync_online(full=True) of a feature group written offline
first (untimed), beside the single-connection executemany baseline (sync_baseline.py, in a
process of its own), with the driver's peak memory during each sync."""

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


def check_synced(store: Any, name: str, rows: int, features: int) -> None:
    """Row count and a few values of the synced table, read back over a plain connection."""
    from featurestore_spark.names import table_name
    backend, table = store.online.backend, table_name(name, 1)
    with backend.connection(store.settings.project) as conn:
        cur = conn.cursor()
        cur.execute(f"SELECT COUNT(*) FROM {backend.q(table)}")
        count = cur.fetchone()[0]
        cur.execute(f"SELECT * FROM {backend.q(table)} WHERE id IN (0, %s, %s)", (rows // 2, rows - 1))
        got = cur.fetchall()
    if count != rows or any(list(r[1:]) != [value(r[0], j) for j in range(features)] for r in got):
        raise RuntimeError(f"online table {table} holds {count} rows, expected {rows}, or wrong values")


def baseline(connect_args: dict, rows: int, features: int, batch: int, table: str) -> dict:
    """Run sync_baseline.py in a process of its own; its JSON result."""
    args = {"rows": rows, "features": features, "batch": batch, "table": table, "prefix": "c",
            "connect": connect_args}
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
