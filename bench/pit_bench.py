"""Point-in-time joins at scale, issue 18 item 3 (`make bench BENCH=pit`).

Scale run: BENCH_PIT_ROWS labels (id, ts, label; parquet) joined point in time with the Query API
onto 3 feature groups of BENCH_PIT_ROWS rows (bench/query_bench.py's shapes: one row per key, an
event time, 3 doubles; Delta), beside the equi-join labels LEFT JOIN each group's Delta table
USING (id). Each run is written with `df.write.mode("overwrite").parquet`, timed from building the
DataFrame to the end of the write: BENCH_PIT_CYCLES cycles of equi, pit, pit, equi after
BENCH_WARMUPS untimed runs of each. Label rows/s written to parquet is what Hopsworks publishes
(383k rows/s on 16 vCPU). Failed tasks: numFailedTasks of the jobs of each run's job group, read
from Spark's REST API (the UI is on, on a free port).

Skew run: BENCH_SKEW_ROWS labels and 3 groups sk1..sk3 of BENCH_SKEW_ROWS rows; key 0 holds 10%
of each group (a history at distinct times) and 10% of the labels (from before its first feature
row to after its last, every 5th at the time of one); the other keys one row each. The pit join's
rows are first compared with a reference made without a window (equi-joins on key and hour
bucket, groupBy max_by), exceptAll both ways: any difference fails the bench. Then BENCH_SKEW_RUNS
timed pit runs to parquet after BENCH_WARMUPS warm-ups; per run, the shuffle records read by each
task of the stage that reads the most of them (the window's), from the REST API, tasks that read
none left out. AQE's partition coalescing is off in the skew run (BENCH_SKEW_COALESCE=1: on), so
a task is one shuffle partition: coalescing packs partitions by bytes and hides the hot one.

Targets: at 10M labels >= 120k label rows/s (median of the pit runs) on 2 cores, no failed task;
skew run: no task reading more than 2x the median task's shuffle records.

    make bench BENCH=pit                                                 # full size, recorded
    BENCH_PIT_ROWS=200000 BENCH_SKEW_ROWS=100000 make bench BENCH=pit   # a smoke run

Environment: BENCH_PIT_ROWS (10000000), BENCH_SKEW_ROWS (1000000), BENCH_PIT_CYCLES (1),
BENCH_SKEW_RUNS (2), BENCH_WARMUPS (1), BENCH_SKEW_COALESCE (0), BENCH_DRIVER_MEMORY (8g),
BENCH_SHUFFLE_PARTITIONS (64), BENCH_SPARK_MASTER (local[2]), BENCH_RECORD (1 at the default
sizes or above), BENCH_KEEP (1: keep the temporary home), BENCH_HOME_DIR (where it is made).
"""

from __future__ import annotations

import featurestore_spark  # noqa: F401  isort: skip  (before ssl: see featurestore_spark/__init__)

import json
import logging
import os
import shutil
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import report as rp
from query_bench import (FEATURES, FG_EPOCH, GROUPS, LABEL_EPOCH, SPAN, equi_frame,
                         feature_frame, label_frame, load_average, memory_total, timed)

PROJECT = "pitbench"
RATE_TARGET = 120_000        # label rows/s at 10M on 2 cores (issue 18 item 3)
SKEW_TARGET = 2.0            # max task / median task, shuffle records read
HOT_SHARE = 10               # key 0 holds 1/HOT_SHARE of the rows
BUCKET = 3600                # the reference's time buckets, seconds

say, env_int = rp.say, rp.env_int


def spark_defaults(home: Path) -> Path:
    """conf/spark-defaults.conf with the benchmark's settings, for FEATURESTORE_SPARK_DEFAULTS_FILE
    (the launcher's own --conf, e.g. in PYSPARK_SUBMIT_ARGS, still wins)."""
    from featurestore_spark.session import read_spark_defaults
    conf = read_spark_defaults(rp.ROOT / "conf" / "spark-defaults.conf")
    conf.update({"spark.driver.memory": os.environ.get("BENCH_DRIVER_MEMORY", "8g"),
                 "spark.sql.shuffle.partitions": os.environ.get("BENCH_SHUFFLE_PARTITIONS", "64"),
                 "spark.ui.enabled": "true", "spark.ui.port": "0"})   # the REST API, a free port
    path = home / "spark-defaults.conf"
    path.write_text("".join(f"{k} {v}\n" for k, v in conf.items()))
    return path


# -- Spark's REST API -------------------------------------------------------------------------------
def rest(spark, path: str):
    sc = spark.sparkContext
    url = f"{sc.uiWebUrl}/api/v1/applications/{sc.applicationId}/{path}"
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.load(r)


def group_jobs(spark, group: str) -> list[dict]:
    """The jobs of a job group, once the UI has seen them all end (two equal reads in a row)."""
    seen, deadline = None, time.time() + 30
    while True:
        jobs = [j for j in rest(spark, "jobs") if j.get("jobGroup") == group]
        ids = sorted(j["jobId"] for j in jobs)
        if jobs and all(j["status"] != "RUNNING" for j in jobs) and ids == seen:
            return jobs
        if time.time() > deadline:
            raise SystemExit(f"Spark's REST API shows no ended jobs of job group {group!r}")
        seen = ids
        time.sleep(0.3)


def failed_tasks(jobs: list[dict]) -> int:
    return sum(j["numFailedTasks"] for j in jobs) + sum(j["status"] != "SUCCEEDED" for j in jobs)


def window_tasks(spark, jobs: list[dict]) -> tuple[int, list[int]]:
    """(stage id, shuffle records read per successful task that read any) of the stage of these
    jobs that read the most shuffle records."""
    attempts = [a for sid in sorted({s for j in jobs for s in j["stageIds"]})
                for a in rest(spark, f"stages/{sid}") if a["status"] == "COMPLETE"]
    stage = max(attempts, key=lambda a: a["shuffleReadRecords"])
    tasks = rest(spark, f"stages/{stage['stageId']}/{stage['attemptId']}/taskList?length=100000")
    return stage["stageId"], [n for t in tasks if t["status"] == "SUCCESS"
                              and (n := t["taskMetrics"]["shuffleReadMetrics"]["recordsRead"])]


def written(spark, group: str, make, path: Path) -> float:
    """Seconds to build ``make()`` and write it to parquet at ``path``, as job group ``group``."""
    spark.sparkContext.setJobGroup(group, group)
    return timed(lambda: make().write.mode("overwrite").parquet(str(path)))


# -- data -------------------------------------------------------------------------------------------
def hot_step(rows: int) -> int:
    """Seconds between key 0's feature rows: its rows // 10 rows over the span, a multiple of 5."""
    return max(5, SPAN // (rows // HOT_SHARE) // 5 * 5)


def skew_feature_frame(spark, rows: int, i: int):
    """Feature group sk<i>: key 0 holds rows // 10 rows at distinct times over the span, the
    other keys (1..) one row each; the columns of feature_frame."""
    from pyspark.sql import functions as F
    hot, c = rows // HOT_SHARE, F.col("id")
    is_hot = c < hot
    seconds = F.when(is_hot, c * hot_step(rows)).otherwise((c * (7 + i)) % SPAN)
    return spark.range(rows).select(
        F.when(is_hot, F.lit(0)).otherwise(c - hot + 1).cast("bigint").alias("id"),
        (F.lit(FG_EPOCH).cast("timestamp") + F.make_dt_interval(secs=seconds)).alias(f"t{i}"),
        *[(F.sin(c * (i + k + 1)) * 100).alias(f"{f}{i}") for k, f in enumerate(FEATURES)])


def skew_label_frame(spark, rows: int):
    """Labels: rows // 10 on key 0 at distinct times from a tenth of the span before its first
    feature row to a tenth after its last (every 5th at the time of one); the other keys once
    each, in another order, later than their feature rows."""
    from pyspark.sql import functions as F
    hot, c = rows // HOT_SHARE, F.col("id")
    cold = rows - hot
    if cold % 7919 == 0:
        raise SystemExit(f"BENCH_SKEW_ROWS: {cold} cold keys, a multiple of 7919; pick another size")
    is_hot = c < hot
    step = hot_step(rows)          # 6/5 of the feature rows' step: every 5th label at a row's time
    hot_ts = F.lit(FG_EPOCH).cast("timestamp") + F.make_dt_interval(
        secs=(c * 6 - hot // 2) * (step // 5))
    cold_ts = F.lit(LABEL_EPOCH).cast("timestamp") + F.make_dt_interval(secs=(c * 13) % SPAN)
    return spark.range(rows).select(
        F.when(is_hot, F.lit(0)).otherwise((c - hot) * 7919 % cold + 1).cast("bigint").alias("id"),
        F.when(is_hot, hot_ts).otherwise(cold_ts).alias("ts"), (c % 2).cast("int").alias("label"))


def made(spark, store, prefix, feature, label, rows, home):
    """Feature groups <prefix>1..3 (store.create) and a labels parquet file: (names, groups,
    labels read back)."""
    from featurestore_spark.spec import CreateSpec
    names = [f"{prefix}{i}" for i in range(1, GROUPS + 1)]
    groups = [store.create(CreateSpec(n, feature(spark, rows, i), primary_key=("id",),
                                      event_time=f"t{i}")) for i, n in enumerate(names, 1)]
    label(spark, rows).write.parquet(str(home / f"{prefix}_labels.parquet"))
    return names, groups, spark.read.parquet(str(home / f"{prefix}_labels.parquet"))


def pit_frame(store, labels, names):
    q = store.query_labels(labels, event_time="ts")
    for name in names:
        q = q.join(store.query(name))
    return q.read()


def reference(labels, groups, columns):
    """The point-in-time rows without a window: per group, the latest feature row at or before
    each label in the label's hour bucket (equi-join on key and bucket, max_by), else the last
    row of the latest earlier bucket (the last row of each bucket by max_by, joined to the
    label's (key, bucket) on the key with an earlier bucket, max_by)."""
    from pyspark.sql import functions as F
    bucket = lambda c: F.floor(F.unix_seconds(F.col(c)) / BUCKET)  # noqa: E731
    lab = labels.select("id", "ts", bucket("ts").alias("b"))
    out = labels
    for i, fg in enumerate(groups, 1):
        t = f"t{i}"
        mine = [c for c in columns if c in fg.columns and c != "id"]
        feat = fg.select(F.col("id").alias("fid"), bucket(t).alias("fb"),
                         F.struct(*mine).alias("row"), F.col(t))
        same = (lab.join(feat, (lab.id == feat.fid) & (lab.b == feat.fb) & (feat[t] <= lab.ts))
                .groupBy("id", "ts").agg(F.max_by("row", t).alias("same")))
        last = feat.groupBy("fid", "fb").agg(F.max_by("row", t).alias("last"))
        keys = lab.select("id", "b").distinct()
        prev = (keys.join(last, (keys.id == last.fid) & (last.fb < keys.b))
                .groupBy("id", "b").agg(F.max_by("last", "fb").alias("prev")))
        got = (lab.join(same, ["id", "ts"], "left").join(prev, ["id", "b"], "left")
               .select("id", "ts", *[F.coalesce("same", "prev")[c].alias(c) for c in mine]))
        out = out.join(got, ["id", "ts"])
    return out.select(*columns)


def main() -> None:
    rows = env_int("BENCH_PIT_ROWS", 10_000_000)
    skew_rows = env_int("BENCH_SKEW_ROWS", 1_000_000)
    cycles, skew_runs = env_int("BENCH_PIT_CYCLES", 1), env_int("BENCH_SKEW_RUNS", 2)
    warmups = env_int("BENCH_WARMUPS", 1)
    coalesce = env_int("BENCH_SKEW_COALESCE", 0)
    record = env_int("BENCH_RECORD", 1 if rows >= 10_000_000 and skew_rows >= 1_000_000 else 0)
    keep = env_int("BENCH_KEEP", 0)
    logging.basicConfig(level=logging.WARNING)
    machine = rp.machine()
    load_before = load_average()

    import pyspark

    import featurestore_spark as fs
    from featurestore_spark.config import load_settings
    from featurestore_spark.session import get_spark

    base = os.environ.get("BENCH_HOME_DIR") or None
    home = Path(tempfile.mkdtemp(prefix="pit_bench_", dir=base))
    env = {**rp.local_settings_env(home, PROJECT),
           "FEATURESTORE_SPARK_DEFAULTS_FILE": str(spark_defaults(home))}
    settings = load_settings(rp.ROOT / "conf" / "featurestore.toml", env)
    spark = get_spark(settings)
    spark.sparkContext.setLogLevel("ERROR")
    store = fs.connect(settings, spark)
    conf = spark.conf
    info = {
        "pyspark": pyspark.__version__,
        "spark master": spark.sparkContext.master,
        "driver memory": conf.get("spark.driver.memory", "?"),
        "shuffle partitions": conf.get("spark.sql.shuffle.partitions"),
        "adaptive": conf.get("spark.sql.adaptive.enabled"),
        "skew run: AQE coalescing": "on" if coalesce else "off",
        **{k: v for k, v in machine.items() if k != "load average"},
        "memory": memory_total(),
        "load average before": load_before,
    }
    print(f"pit benchmark: {rows:,} labels, skew {skew_rows:,}; {info['spark master']}, "
          f"driver {info['driver memory']}, nproc {machine['nproc']}, {info['memory']}; "
          f"home {home}", flush=True)
    out = home / "out"

    # -- scale run ----------------------------------------------------------------------------------
    t0 = time.perf_counter()
    names, groups, labels = made(spark, store, "fg", feature_frame, label_frame, rows, home)
    setup = {"scale": time.perf_counter() - t0}
    say(f"created fg1..fg{GROUPS} ({rows:,} rows each) and the labels in {setup['scale']:.0f} s")
    columns = pit_frame(store, labels, names).columns
    make = {"equi-join": lambda: equi_frame(spark, groups, labels, columns),
            "pit": lambda: pit_frame(store, labels, names)}
    warm, runs = [], []
    for k, name in enumerate(("equi-join", "pit") * warmups):
        warm.append((name, written(spark, f"pit_bench warm {k}", make[name], out / name)))
        say(f"warm-up {name}: {warm[-1][1]:.1f} s")
    for k, name in enumerate(("equi-join", "pit", "pit", "equi-join") * cycles):
        seconds = written(spark, f"pit_bench scale {k}", make[name], out / name)
        failed = failed_tasks(group_jobs(spark, f"pit_bench scale {k}"))
        runs.append((name, seconds, failed))
        say(f"{name}: {seconds:.1f} s ({rows / seconds:,.0f} label rows/s), {failed} failed tasks")

    # -- skew run -----------------------------------------------------------------------------------
    t0 = time.perf_counter()
    sk_names, sk_groups, skew_labels = made(spark, store, "sk", skew_feature_frame,
                                            skew_label_frame, skew_rows, home)
    setup["skew"] = time.perf_counter() - t0
    say(f"created sk1..sk{GROUPS} ({skew_rows:,} rows, 10% on key 0) in {setup['skew']:.0f} s")
    skew_make = lambda: pit_frame(store, skew_labels, sk_names)  # noqa: E731
    if not coalesce:
        conf.set("spark.sql.adaptive.coalescePartitions.enabled", "false")
    conf.set("spark.featurestore.pointInTime.skewMinBytes", "0")   # sample these small groups too
    # the check: the pit join and the reference, each written to parquet (untimed), compared
    t0 = time.perf_counter()
    written(spark, "pit_bench check", skew_make, out / "check")
    sk_frames = [spark.read.format("delta").load(g.location) for g in sk_groups]
    written(spark, "pit_bench check", lambda: reference(skew_labels, sk_frames,
                                                        skew_make().columns), out / "reference")
    got, want = spark.read.parquet(str(out / "check")), spark.read.parquet(str(out / "reference"))
    missing, extra, n = want.exceptAll(got).count(), got.exceptAll(want).count(), got.count()
    if missing or extra or n != skew_rows:
        raise SystemExit(f"skewed point-in-time join is wrong: {missing} reference rows missing, "
                         f"{extra} rows not in the reference, {n:,} rows for {skew_rows:,} labels")
    checked = f"identical to the reference (exceptAll both ways empty, {n:,} rows)"
    say(f"skew check in {time.perf_counter() - t0:.0f} s: {checked}")
    skew_warm, skew = [], []
    for k in range(warmups):
        skew_warm.append(written(spark, f"pit_bench skew warm {k}", skew_make, out / "skew"))
        say(f"warm-up skewed pit: {skew_warm[-1]:.1f} s")
    for k in range(skew_runs):
        seconds = written(spark, f"pit_bench skew {k}", skew_make, out / "skew")
        jobs = group_jobs(spark, f"pit_bench skew {k}")
        stage, tasks = window_tasks(spark, jobs)
        skew.append((seconds, failed_tasks(jobs), stage, tasks))
        say(f"skewed pit: {seconds:.1f} s, stage {stage}: {len(tasks)} tasks, max/median "
            f"{max(tasks) / statistics.median(tasks):.2f}, {skew[-1][1]} failed tasks")
    conf.set("spark.featurestore.pointInTime.skewSplit", "false")  # the join without the cut
    seconds = written(spark, "pit_bench skew uncut", skew_make, out / "skew")
    jobs = group_jobs(spark, "pit_bench skew uncut")
    stage, tasks = window_tasks(spark, jobs)
    uncut = (seconds, failed_tasks(jobs), stage, tasks)
    say(f"skewed pit without the cut: {seconds:.1f} s, max/median "
        f"{max(tasks) / statistics.median(tasks):.2f}")
    conf.unset("spark.featurestore.pointInTime.skewSplit")
    info["load average after"] = load_average()

    text = render(rows, skew_rows, info, setup, warm, runs, skew_warm, skew, uncut, checked,
                  time.perf_counter() - rp.STARTED)
    rp.publish(text, bool(record))      # printed; appended to bench/RESULTS.md when recorded
    spark.stop()
    if not keep:
        shutil.rmtree(home, ignore_errors=True)


def render(rows, skew_rows, info, setup, warm, runs, skew_warm, skew, uncut, checked,
           elapsed) -> str:
    text = rp.heading(f"point-in-time joins at scale (bench/pit_bench.py), {rows:,} labels", info)
    text.append(
        f"Scale run: {rows:,} label rows (id, ts, label; parquet) joined with "
        "`store.query_labels(labels, event_time=\"ts\").join(store.query(\"fg1\"))...read()` "
        f"onto {GROUPS} feature groups of {rows:,} rows (one per key; Delta), beside the "
        "equi-join labels LEFT JOIN each group's Delta table USING (id); every run written with "
        "`df.write.mode(\"overwrite\").parquet(path)`, timed from building the DataFrame to the "
        f"end of the write; {len(runs) // 4} cycle(s) of equi, pit, pit, equi after "
        f"{len(warm) // 2} untimed warm-up(s) of each; AQE as configured (coalescing on). "
        "Failed tasks: numFailedTasks of the jobs of the run's job group (Spark's REST API).")
    text.append("")
    med = statistics.median
    equi, pit = ([s for n, s, _ in runs if n == kind] for kind in ("equi-join", "pit"))
    rate, failed = rows / med(pit), sum(f for *_, f in runs) + sum(f for _, f, *_ in skew)
    table = [(f"{n} #{k}", s, rows / s, s / med(equi), f) for k, (n, s, f) in enumerate(runs, 1)]
    table += [(f"warm-up {n} (not counted)", s, rows / s, s / med(equi), "") for n, s in warm]
    text.append(rp.table(["run", "seconds", "label rows/s", "x equi median", "failed tasks"],
                         table))
    text += ["", f"Median pit {med(pit):.1f} s, {rate:,.0f} label rows/s; median equi-join "
             f"{med(equi):.1f} s; pit / equi {med(pit) / med(equi):.2f}x.", ""]
    text.append(
        f"Skew run: {skew_rows:,} labels and {GROUPS} feature groups (sk1..sk{GROUPS}) of "
        f"{skew_rows:,} rows, key 0 holding 10% of each (a history at distinct times) and 10% "
        "of the labels (times from before its first feature row to after its last); the other "
        f"keys one row each. Check: the pit join's rows {checked}; the reference joins on key and "
        f"hour bucket and takes max_by aggregations (no window). Timed: the pit join to parquet, "
        f"{len(skew)} run(s) after {len(skew_warm)} warm-up(s). Tasks: the successful tasks of "
        "the run's stage that read the most shuffle records (the window's), each one's "
        "shuffle records read, tasks that read none left out; AQE coalescing "
        f"{info['skew run: AQE coalescing']}. The groups are below the 256 MiB from which a "
        "query samples for hot keys, so the run sets `spark.featurestore.pointInTime."
        "skewMinBytes` to 0; the last run turns the cut off (`skewSplit` false) to show what "
        "it does (not counted).")
    text.append("")
    skew_table = [(f"skewed pit #{k}", s, skew_rows / s, f, stage, len(t), float(med(t)),
                   float(max(t)), max(t) / med(t), rp.verdict(max(t) <= SKEW_TARGET * med(t)))
                  for k, (s, f, stage, t) in enumerate(skew, 1)]
    skew_table += [("warm-up skewed pit (not counted)", s, skew_rows / s, "", "", "", "", "",
                    "", "") for s in skew_warm]
    s, f, stage, t = uncut
    skew_table.append(("without the cut (not counted)", s, skew_rows / s, f, stage, len(t),
                       float(med(t)), float(max(t)), max(t) / med(t), ""))
    text.append(rp.table(["run", "seconds", "label rows/s", "failed tasks", "stage", "tasks",
                          "median records", "max records", "max / median",
                          f"<= {SKEW_TARGET}x"], skew_table))
    worst = max(max(t) / med(t) for *_, t in skew)
    text += ["", "Targets:", "",
             f"- at {rows:,} labels, >= {RATE_TARGET:,} label rows/s written to parquet (median "
             f"of the pit runs): {rp.verdict(rate >= RATE_TARGET)} ({rate:,.0f}; Hopsworks "
             "publishes 383k on 16 vCPU)"
             + ("" if rows >= 10_000_000 else " (below 10M labels: indicative only)"),
             f"- no failed task in the timed runs (scale and skew): {rp.verdict(failed == 0)} "
             f"({failed})",
             f"- skew: no task above {SKEW_TARGET}x the median's shuffle records: "
             f"{rp.verdict(worst <= SKEW_TARGET)} (worst {worst:.2f}x)",
             "", f"Setup (untimed): scale run {setup['scale']:.0f} s, skew run "
             f"{setup['skew']:.0f} s; whole run {elapsed / 60:.1f} min."]
    return "\n".join(text)


if __name__ == "__main__":
    main()
