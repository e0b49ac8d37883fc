"""The online store benchmark behind `make bench`.

Lookups: FeatureVectorServer.get (one key) and get_batch (BENCH_BATCH keys) on online feature
groups of BENCH_ROWS rows x 10 and x 50 double features, each beside a raw mysql-connector
primary-key SELECT (an IN list for the batch) on the same table in the same run, over TCP and over
the unix socket. Sync: BENCH_ROWS rows x 20 doubles with sync_online(full=True) beside a
single-connection executemany upsert baseline and the server's floor (one LOAD DATA LOCAL INFILE
of the same rows from one connection), an incremental sync_online after an offline upsert of 1% of
the keys beside the full one, and the driver's peak memory at BENCH_ROWS and BENCH_MEMORY_ROWS
rows. Every target is a ratio against a baseline measured in the same run.

    make bench                          # the full run (1M rows, 5M for the memory check)
    BENCH_ROWS=20000 make bench         # a smoke run (not recorded in bench/RESULTS.md)

Environment: BENCH_ROWS (1000000), BENCH_MEMORY_ROWS (5 x BENCH_ROWS), BENCH_LOOKUPS (timed
single-key lookups per side: 4000, 300 below 1M rows), BENCH_BATCH_LOOKUPS (timed batches per
side: 2000, 100 below 1M rows), BENCH_BATCH (100),
BENCH_PARTITIONS (4), BENCH_RECORD (1 when BENCH_ROWS >= 1000000: append to bench/RESULTS.md),
BENCH_KEEP (1: keep the benchmark's online database), BENCH_SPARK_MASTER (local[2]),
BENCH_MEMORY_MASTER (the memory runs' own session: local-cluster[2,1,1536]; empty, the default
below 1M rows: in the main session).

The process imports pandas first, as most notebooks and model servers do, and measures the lookups
there: the report says whether the C extension was in use and each lookup's ratio to the raw query.
"""

from __future__ import annotations

# pandas first, as most notebooks and model servers import it: it imports hashlib, which loads the
# system's OpenSSL, after which mysql-connector's C extension loads only because the start-up
# hook _featurestore_spark_preload.pth loaded it already. The lookups are measured in this process.
import pandas  # noqa: F401  isort: skip
import sys  # isort: skip

PANDAS_FIRST = "_hashlib" in sys.modules and "featurestore_spark" not in sys.modules

import featurestore_spark  # noqa: E402,F401  isort: skip
import mysql.connector  # noqa: E402  isort: skip

import logging
import os
import shutil
import time
from pathlib import Path

import lookup_bench as lk
import report as rp
import sync_bench as sb

PROJECT = "fsbench"
LOOKUP_GROUPS = ((10, "lk10", "a"), (50, "lk50", "b"))
RATIO_TARGET = 1.2
SYNC_TARGET = 2.0
FLOOR_TARGET = 0.8       # full sync rows/s over the LOAD DATA floor's
INCREMENTAL_TARGET = 20.0  # full sync seconds over an incremental sync's of 1% changed keys
CHANGED_EVERY = 100      # the incremental sync's changed keys: every 100th (1%)
SHIFT = 0.5              # what the upsert adds to their values
FLAT_MIB = 50.0          # the driver's peak may not grow more than this from 1x to 5x the rows


say, env_int = rp.say, rp.env_int


def main() -> None:
    rows = env_int("BENCH_ROWS", 1_000_000)
    memory_rows = env_int("BENCH_MEMORY_ROWS", 5 * rows)
    full = rows >= 1_000_000
    n_single = env_int("BENCH_LOOKUPS", 4000 if full else 300)
    n_batch = env_int("BENCH_BATCH_LOOKUPS", 2000 if full else 100)
    batch = env_int("BENCH_BATCH", 100)
    partitions = env_int("BENCH_PARTITIONS", 4)
    record = env_int("BENCH_RECORD", 1 if full else 0)
    keep = env_int("BENCH_KEEP", 0)
    memory_master = os.environ.get("BENCH_MEMORY_MASTER", "local-cluster[2,1,1536]" if full else "")
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    machine = rp.machine()

    from featurestore_spark.config import load_settings
    from featurestore_spark.feature_store import FeatureStore
    from featurestore_spark.mysql_client import NATIVE, client_path
    from featurestore_spark.names import table_name
    from featurestore_spark.session import get_spark
    from featurestore_spark.spec import CreateSpec

    path = client_path()
    if path != NATIVE:     # the fallback logged its warning; the bare side needs the C extension
        raise SystemExit(f"online benchmark: lookups would use {path}; see `featurestore doctor`")
    home = rp.ROOT / ".cache" / "bench" / "home"
    shutil.rmtree(home, ignore_errors=True)
    settings = {t: load_settings(rp.ROOT / "conf" / "featurestore.toml", rp.settings_env(home, PROJECT, t))
                for t in ("tcp", "socket")}
    spark = get_spark(settings["tcp"])
    spark.sparkContext.setLogLevel("ERROR")
    stores = {t: FeatureStore.connect(s, spark) for t, s in settings.items()}
    tcp = stores["tcp"]
    backend = tcp.online.backend
    with backend.connection(PROJECT) as conn:        # a clean online database
        cur = conn.cursor()
        cur.execute(f"DROP DATABASE IF EXISTS `{PROJECT}_online`")
    with backend.connection(PROJECT) as conn:
        cur = conn.cursor()
        cur.execute("SELECT VERSION()")
        server_version = cur.fetchone()[0]
        connection_class = type(conn).__name__
    import pyspark
    info = {
        "pandas imported first": "yes (hashlib loaded before featurestore_spark)" if PANDAS_FIRST
                                 else "NO",
        "HAVE_CEXT": mysql.connector.HAVE_CEXT,
        "lookup client": path,
        "connection class": connection_class,
        "mysql-connector-python": mysql.connector.__version__,
        "server": server_version,
        "pyspark": pyspark.__version__,
        "spark master": spark.sparkContext.master,
        **machine,
    }
    print(f"online store benchmark: {rows:,} rows; pandas imported first: "
          f"{'yes' if PANDAS_FIRST else 'NO'}; HAVE_CEXT={info['HAVE_CEXT']} ({connection_class});"
          f" lookups: {path}; server {server_version}; nproc {machine['nproc']}", flush=True)

    # -- lookup tables (online-only writes: offline=False, the Delta tables stay empty) ----------
    setup = []
    for features, name, prefix in LOOKUP_GROUPS:
        t0 = time.perf_counter()
        df = lk.feature_frame(spark, rows, features, prefix, partitions)
        tcp.create(CreateSpec(name, df, primary_key=("id",), online=True, offline=False))
        setup.append((name, features, time.perf_counter() - t0))
        say(f"wrote online {name}: {rows:,} x {features} in {setup[-1][2]:.1f} s")

    # -- lookups ---------------------------------------------------------------------------------
    comparisons: list[lk.Comparison] = []
    for features, name, prefix in LOOKUP_GROUPS:
        table = table_name(name, 1)
        outputs = [f"{prefix}{j}" for j in range(features)]
        with backend.connection(PROJECT) as conn:      # the table into the buffer pool
            cur = conn.cursor()
            cur.execute(f"SELECT SUM(`{outputs[-1]}`) FROM `{table}`")
            cur.fetchall()
        for transport, store in stores.items():
            server = store.feature_vector_server([f"{name}.{o}" for o in outputs])
            raw = lk.RawLookups(lk.pooled_connection(server, 0), table, "id", outputs)
            lk.check_same_answers(server, raw, [0, rows // 3, rows - 1], outputs)
            comparisons += lk.run_lookups(server, raw, rows, f"{features} features", transport,
                                          n_single, n_batch, batch, warmup=300,
                                          seed=features * 10 + len(transport))
            used = lk.statement_classes(server)
            if used != {"NativeStatement"}:
                raise SystemExit(f"online benchmark: the lookups ran through {used}, not the C "
                                 "extension's NativeStatement")
            raw.close()
            store.close()     # a new pool (and connection) for the next table
            for c in comparisons[-2:]:
                say(f"{c.what:28} {c.transport:6} ours p50 {c.ours.p50:.3f} p99 {c.ours.p99:.3f}"
                    f" | raw p50 {c.raw.p50:.3f} p99 {c.raw.p99:.3f}"
                    f" | bare p50 {c.bare.p50:.3f} ms")
    counted = FeatureStore.connect(settings["tcp"], spark)     # a pool of its own
    statements = lk.statements_per_call(
        counted, [f"{n}.{p}{j}" for f, n, p in LOOKUP_GROUPS for j in range(f)],
        list(range(0, rows, max(1, rows // batch)))[:batch])
    counted.close()
    for store in stores.values():
        store.close()     # the pooled lookup connections hold their tables' metadata locks
    say(f"statements per call over {statements['feature_groups']} feature groups: "
        f"get {statements['get']}, get_batch {statements['get_batch']}")

    for _, name, _ in LOOKUP_GROUPS:      # the sync starts from the same server state as
        tcp.delete(name, 1)               # its baseline: without the lookup tables

    # -- sync: baseline, floor, ours, ours, floor, baseline (drift cancels) ----------------------
    connect_args = {**settings["tcp"].mysql.connect_args(), "database": f"{PROJECT}_online"}
    # the session's first sync of a plan pays Spark's code generation and JIT (measured: the
    # first dedup job of a session about 3x slower than the next): shown, not in the ratio
    warm_rows = max(10_000, rows // 10)
    sb.write_offline(tcp, "warmup", warm_rows, 20, partitions)
    warm = sb.timed_sync(tcp, "warmup")
    say(f"warm-up sync_online(full=True) {warm_rows:,} rows: {warm.rows_per_second:,.0f} rows/s")
    changed = sb.upsert_offline(tcp, "warmup", warm_rows, CHANGED_EVERY, 20, partitions, SHIFT)
    warm_inc = sb.timed_incremental(tcp, "warmup", changed)
    sb.check_synced(tcp, "warmup", warm_rows, 20, CHANGED_EVERY, SHIFT)
    tcp.delete("warmup", 1)
    say(f"warm-up incremental sync_online {changed:,} keys: {warm_inc.seconds:.2f} s")
    sb.write_offline(tcp, "sync1", rows, 20, partitions)
    bases, floors, ours = [], [], []
    for side in ("baseline", "floor", "ours", "ours", "floor", "baseline"):
        if side == "baseline":
            bases.append(sb.baseline(connect_args, rows, 20, 2000, "baseline_upsert"))
            say(f"baseline executemany {rows:,} rows: {bases[-1]['rows_per_second']:,.0f} rows/s")
        elif side == "floor":
            floors.append(sb.baseline(connect_args, rows, 20, 0, "baseline_floor", "floor"))
            say(f"floor LOAD DATA {rows:,} rows: {floors[-1]['rows_per_second']:,.0f} rows/s")
        else:
            ours.append(sb.timed_sync(tcp, "sync1"))
            sb.check_synced(tcp, "sync1", rows, 20)
            say(f"sync_online(full=True) {rows:,} rows: {ours[-1].rows_per_second:,.0f} rows/s")
    changed = sb.upsert_offline(tcp, "sync1", rows, CHANGED_EVERY, 20, partitions, SHIFT)
    incremental = sb.timed_incremental(tcp, "sync1", changed)
    sb.check_synced(tcp, "sync1", rows, 20, CHANGED_EVERY, SHIFT)
    say(f"incremental sync_online {changed:,} keys: {incremental.seconds:.2f} s")
    tcp.delete("sync1", 1)
    if not memory_master:         # in this session: its JVM also runs the tasks
        memory = sb.memory_runs_in(tcp, [rows, memory_rows], partitions)
    if not keep:
        with backend.connection(PROJECT) as conn:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{PROJECT}_online`")
    spark.stop()          # its cores and memory to the memory runs' session
    if memory_master:
        memory = sb.memory_runs([rows, memory_rows], partitions, memory_master)
    info["load average after"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    info["baseline HAVE_CEXT"] = bases[0]["have_cext"]
    info["floor connection"] = floors[0]["connection"]
    info["memory run master"] = memory_master or f"{info['spark master']} (the same session)"
    text = render(rows, n_single, n_batch, batch, partitions, info, setup, comparisons,
                  statements, bases, floors, ours, warm, incremental, warm_inc, memory,
                  time.perf_counter() - started)
    print()
    print(text)
    if record:
        rp.record(text)
    if not keep:
        shutil.rmtree(home, ignore_errors=True)


def render(rows, n_single, n_batch, batch, partitions, info, setup, comparisons, statements,
           bases, floors, ours, warm, incremental, warm_inc, memory, elapsed) -> str:
    out = rp.heading(f"{rows:,} rows", info)
    out.append(f"Lookups, measured in a process that imported pandas before featurestore_spark "
               f"(pandas first: {info['pandas imported first']}; client: {info['lookup client']}):"
               f" {n_single} timed single-key lookups and {n_batch} timed batches of "
               f"{batch} random keys per side, after warm-up, in alternating blocks of "
               f"{lk.BLOCK}. Ours: FeatureVectorServer.get / get_batch (dicts). Raw: "
               "mysql-connector prepared cursors (binary protocol, as ours) on the very connection "
               "ours' pool uses (same server thread), `SELECT cols FROM t WHERE id = %s` / "
               "`WHERE id IN (...)`, fetchall(). Bare: the C-extension statement ours runs "
               "(online.mysql.NativeStatement: one round trip per execution, where the prepared "
               "cursor sends a COM_STMT_RESET first, and rows made in C) alone on the raw SQL, "
               "giving tuples: what ours adds on top of it is planning, key handling and the dicts. "
               "Latencies in ms; lookups/s for one caller back to back (keys/s for batches).")
    out.append("")
    rows_ = []
    for c in comparisons:
        per = batch if c.what.startswith("batch") else 1
        r50, r99 = c.ours.p50 / c.raw.p50, c.ours.p99 / c.raw.p99
        rows_.append((c.what, c.transport, c.ours.p50, c.raw.p50, r50, c.ours.p99, c.raw.p99,
                      r99, c.ours.per_second * per, c.raw.per_second * per,
                      rp.verdict(r50 <= RATIO_TARGET and r99 <= RATIO_TARGET),
                      c.bare.p50, c.ours.p50 / c.bare.p50))
    out.append(rp.table(["lookup", "transport", "ours p50", "raw p50", "p50 x", "ours p99",
                         "raw p99", "p99 x", "ours keys/s", "raw keys/s",
                         f"<= {RATIO_TARGET}x", "bare p50", "ours / bare p50"], rows_))
    groups = statements["feature_groups"]
    single_s, batch_s = statements["get"], statements["get_batch"]
    ok_stmt = batch_s["Com_stmt_execute"] == groups and single_s["Com_stmt_execute"] == groups
    out += ["", f"Statements the server ran for one call over {groups} feature groups (a second "
            "call: the first connects and prepares), counted on the server with SHOW SESSION "
            f"STATUS on the pool's {statements['connections']} connection(s):", ""]
    out.append(rp.table(["call"] + [c.replace("Com_", "") for c in lk.COUNTERS],
                        [("get (1 key)", *single_s.values()),
                         (f"get_batch ({statements['keys']} keys)", *batch_s.values())]))
    out += ["", f"One statement per feature group: {rp.verdict(ok_stmt)}. "
            + ("A get_batch re-prepares its statements on every call (stmt_prepare and "
               "stmt_close above 0): a prepare round trip more per feature group. "
               if batch_s["Com_stmt_prepare"] else "")
            + ("Every execute is preceded by a COM_STMT_RESET round trip (mysql-connector's "
               "prepared cursor, raw side too). " if single_s["Com_stmt_reset"] else ""), ""]
    base_rate = sum(b["rows"] for b in bases) / sum(b["seconds"] for b in bases)
    our_rate = sum(r.rows for r in ours) / sum(r.seconds for r in ours)
    ratio = our_rate / base_rate
    floor_rate = sum(f["rows"] for f in floors) / sum(f["seconds"] for f in floors)
    floor_ratio = our_rate / floor_rate
    out.append(f"Sync: {rows:,} rows x 20 DOUBLE features over TCP, run as baseline, floor, ours, "
               "ours, floor, baseline, after an untimed warm-up sync of another feature group in the "
               "same session (the session's first sync pays Spark's code generation and JIT; it is "
               "shown below, outside the ratio). Ours: FeatureStore.sync_online(name, full=True) of "
               "a feature group written to Delta before (untimed): Delta read, a check of the key "
               "values (one Spark aggregation), no dedup (the group has no event time: the fresh "
               "load keeps one row per key), executors bulk-load a staging table (LOAD DATA LOCAL INFILE, "
               f"{partitions} partitions, {info['spark master']}) and swap it in. Baseline: one "
               "mysql-connector connection in a process of its own, executemany of INSERT ... ON "
               "DUPLICATE KEY UPDATE in batches of 2,000, a commit per batch, into an empty table "
               "of the same DDL (only executemany + commit timed). Floor: the server's physical "
               "floor, the same rows written to a local TSV file first (untimed; the text our "
               "executors send), then one LOAD DATA LOCAL INFILE of it into an empty table of the "
               "same DDL and the commit, timed alone, from one mysql-connector connection "
               f"({info['floor connection']}) in a process of its own. The lookup tables are "
               "dropped before.")
    out.append("")
    def line(what, n, seconds, note=""):
        return (what, n, seconds, n / seconds, n / seconds / base_rate, n / seconds / floor_rate,
                note)
    sync_rows = [line(f"baseline executemany #{i + 1}", b["rows"], b["seconds"])
                 for i, b in enumerate(bases)]
    sync_rows += [line(f"floor LOAD DATA LOCAL INFILE #{i + 1}", f["rows"], f["seconds"])
                  for i, f in enumerate(floors)]
    sync_rows += [line(f"sync_online(full=True) #{i + 1}", r.rows, r.seconds)
                  for i, r in enumerate(ours)]
    sync_rows += [line("warm-up sync_online (first in session)", warm.rows, warm.seconds,
                       "not counted")]
    sync_rows += [line("baseline, both runs", sum(b["rows"] for b in bases),
                       sum(b["seconds"] for b in bases)),
                  line("floor, both runs", sum(f["rows"] for f in floors),
                       sum(f["seconds"] for f in floors)),
                  line("sync_online, both runs", sum(r.rows for r in ours),
                       sum(r.seconds for r in ours),
                       f"{rp.verdict(ratio >= SYNC_TARGET)} / {rp.verdict(floor_ratio >= FLOOR_TARGET)}")]
    out.append(rp.table(["sync", "rows", "seconds", "rows/s", "x baseline", "x floor",
                         f">= {SYNC_TARGET}x baseline / >= {FLOOR_TARGET}x floor"], sync_rows))
    full_seconds = sum(r.seconds for r in ours) / len(ours)
    speedup = full_seconds / incremental.seconds
    out += ["", f"Incremental sync: after the full syncs, {incremental.rows:,} keys "
            f"(every {CHANGED_EVERY}th: {incremental.rows / rows:.0%}) upserted offline with new "
            "values (InsertSpec mode upsert, online=False; untimed), then sync_online(name) timed "
            "(Delta change data feed since the synced commit: a group without an event time "
            "takes each changed key's last post-image from it, no snapshot scan; the rows "
            "upserted from the executors); checked: mode incremental, rows written "
            "equal to the changed keys, their new values read back from MariaDB. The warm-up "
            "group had the same before it was dropped (not counted). Full: the mean of the two "
            "full syncs above.", ""]
    out.append(rp.table(["sync", "keys", "seconds", "full seconds / this",
                         f">= {INCREMENTAL_TARGET:.0f}x"],
                        [("sync_online(full=True), mean", rows, full_seconds, 1.0, ""),
                         ("incremental sync_online", incremental.rows, incremental.seconds, speedup,
                          rp.verdict(speedup >= INCREMENTAL_TARGET)),
                         ("warm-up incremental (first in session)", warm_inc.rows,
                          warm_inc.seconds, "", "not counted")]))
    small, big = memory[0], memory[-1]
    growth = max(big.driver_rss_peak - small.driver_rss_peak, big.jvm_old_peak - small.jvm_old_peak)
    where = (f"in a Spark session of its own ({info['memory run master']}: the executors run "
             "in JVMs of their own, so the driver JVM is the driver alone)"
             if info["memory run master"].startswith("local-cluster") else
             f"in the same session ({info['spark master']}: its JVM also runs the tasks, so the "
             "JVM figures are not the driver's alone)")
    out += ["", f"Driver memory during sync_online(full=True), {where}. MiB. Python driver: "
            "RSS before and peak (VmHWM, "
            "reset through /proc/self/clear_refs just before the sync). Driver JVM: used heap "
            "(sampled every 0.2 s, garbage included), old generation peak (pool peak counter, "
            "reset before) and peak RSS (VmHWM, reset before).", ""]
    out.append(rp.table(["rows", "seconds", "rows/s", "Python RSS before", "Python peak RSS",
                         "JVM heap max", "JVM old gen peak", "JVM peak RSS"],
                        [(r.rows, r.seconds, r.rows_per_second, r.driver_rss_before,
                          r.driver_rss_peak, r.jvm_heap_max, r.jvm_old_peak, r.jvm_rss_peak)
                         for r in memory]))
    flat = growth <= FLAT_MIB
    out += ["", f"From {small.rows:,} to {big.rows:,} rows the Python driver's peak RSS changes "
            f"{big.driver_rss_peak - small.driver_rss_peak:+.1f} MiB and the driver JVM's old "
            f"generation peak {big.jvm_old_peak - small.jvm_old_peak:+.1f} MiB (flat: neither "
            f"grows more than {FLAT_MIB:.0f} MiB)."]
    single = [r for r in rows_ if r[0].startswith("single")]
    batches = [r for r in rows_ if r[0].startswith("batch")]
    out += ["", "Targets:", "",
            f"- single-key lookup p50 and p99 <= {RATIO_TARGET}x raw: "
            + rp.verdict(all(r[10] == "met" for r in single))
            + f" (worst p50 x {max(r[4] for r in single):.2f}, p99 x {max(r[7] for r in single):.2f})",
            f"- batch lookup p50 and p99 <= {RATIO_TARGET}x raw: "
            + rp.verdict(all(r[10] == "met" for r in batches))
            + f" (worst p50 x {max(r[4] for r in batches):.2f}, p99 x {max(r[7] for r in batches):.2f})",
            f"- one query per feature group for a batch: {rp.verdict(ok_stmt)}",
            f"- sync >= {SYNC_TARGET}x the executemany baseline: {rp.verdict(ratio >= SYNC_TARGET)} "
            f"({ratio:.2f}x)",
            f"- full sync >= {FLOOR_TARGET}x the LOAD DATA floor: "
            f"{rp.verdict(floor_ratio >= FLOOR_TARGET)} ({floor_ratio:.2f}x: "
            f"{our_rate:,.0f} vs {floor_rate:,.0f} rows/s)",
            f"- incremental sync of {incremental.rows / rows:.0%} changed keys >= "
            f"{INCREMENTAL_TARGET:.0f}x faster than a full one: "
            f"{rp.verdict(speedup >= INCREMENTAL_TARGET)} ({speedup:.1f}x: "
            f"{incremental.seconds:.2f} s vs {full_seconds:.2f} s)",
            f"- driver memory flat from 1x to {big.rows // max(1, small.rows)}x the rows: "
            f"{rp.verdict(flat)} ({growth:+.1f} MiB)",
            "", "Setup (untimed in the figures above): "
            + ", ".join(f"{n} {rows:,} x {f} online-only write {s:.0f} s" for n, f, s in setup)
            + f"; whole run {elapsed / 60:.1f} min."]
    return "\n".join(out)


if __name__ == "__main__":
    main()
