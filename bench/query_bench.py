"""The query and training-dataset benchmark behind `make bench` (`make bench BENCH=query`).

Point-in-time join: BENCH_ROWS label rows (key, event time, label; a parquet file) joined point in
time with the Query API onto 3 feature groups of BENCH_ROWS rows each (one row per key: key,
event time, 3 doubles; Delta tables written with featurestore_spark), beside a plain equi-join
of the same label file and the same Delta tables in the same run: labels LEFT JOIN fg1 USING (id)
LEFT JOIN fg2 LEFT JOIN fg3, the same output columns. The feature groups hold one row per key
and every label is later than its feature rows, so both give the same rows (checked with
exceptAll at BENCH_ROWS <= BENCH_CHECK_ROWS); no dedup is needed for a 1:1 join. Each run is
evaluated in full into Spark's `noop` sink (every column computed, nothing to the driver), timed
from building the DataFrame to the end of the write, in BENCH_JOIN_CYCLES cycles of baseline, pit,
pit, baseline after BENCH_WARMUPS untimed runs of each (a run takes seconds: the first ones of a
session pay code generation and JIT). Target: pit <= 1.5x the equi-join (total time of all runs;
issue 18; it was 2x in issue 14). At 10M labels and with a skewed key: bench/pit_bench.py.

Training datasets: one BENCH_ROWS-row DataFrame (a bigint key, a timestamp, 4 doubles, 2 ints,
2 strings; read from a parquet file written before, untimed) written as a training dataset in
each format with featurestore.create_training_dataset (no splits), beside Spark's own
`df.write.parquet` of the same DataFrame; one untimed warm-up round, then BENCH_FORMAT_ROUNDS
rounds, the order reversed every other round. Rows per second per format, and the ratio to the
plain parquet write.

    make bench BENCH=query                       # the full run (1M rows), recorded
    BENCH_ROWS=20000 make bench BENCH=query      # a smoke run (not recorded in bench/RESULTS.md)

Environment: BENCH_ROWS (1000000), BENCH_JOIN_CYCLES (3), BENCH_WARMUPS (2),
BENCH_FORMAT_ROUNDS (3), BENCH_CHECK_ROWS (1000000: check the rows up to this size),
BENCH_RECORD (1 when BENCH_ROWS >= 1000000), BENCH_KEEP (1: keep the temporary home),
BENCH_SPARK_MASTER (local[2]), BENCH_HOME_DIR (where the temporary FEATURESTORE_HOME is made).
"""

from __future__ import annotations

import featurestore_spark  # noqa: F401  isort: skip  (before ssl: see featurestore_spark/__init__)

import logging
import os
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import report as rp

PROJECT = "qbench"
GROUPS = 3
FEATURES = ("a", "b", "c")          # doubles per feature group: a1, b1, c1, a2, ...
FORMATS = ("tfrecords", "parquet", "csv", "tsv", "avro", "orc")
REFERENCE = "spark parquet"          # df.write.parquet, the reference of the formats
PIT_TARGET = 1.5                    # x the equi-join (issue 18; 2.0 in issue 14)
TF_WRITE_TARGET = 0.8               # x Spark's parquet writer (issue 18)
TF_READ_TARGET = 500_000            # rows/s (issue 18)
FG_EPOCH = "2026-01-01 00:00:00"     # feature rows: within 30 days after this
LABEL_EPOCH = "2026-03-01 00:00:00"  # labels: within 30 days after this (later than any feature)
SPAN = 30 * 86400

say, env_int = rp.say, rp.env_int


def settings_env(home: Path) -> dict[str, str]:
    return rp.local_settings_env(home, PROJECT)


def memory_total() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            return f"{int(line.split()[1]) / 2 ** 20:.1f} GiB"
    return "?"


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def du_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()
               and not f.name.startswith((".", "_"))) / 2 ** 20


def timed(action) -> float:
    t0 = time.perf_counter()
    action()
    return time.perf_counter() - t0


def noop(df) -> None:
    """Evaluate every column of ``df`` without bringing rows to the driver."""
    df.write.format("noop").mode("overwrite").save()


# -- data -------------------------------------------------------------------------------------------
def feature_frame(spark, rows: int, i: int):
    """Feature group i: one row per key (0..rows-1), an event time, 3 deterministic doubles."""
    from pyspark.sql import functions as F
    ids = spark.range(rows)
    seconds = (F.col("id") * (7 + i)) % SPAN
    return ids.select(
        "id",
        (F.lit(FG_EPOCH).cast("timestamp") + F.make_dt_interval(secs=seconds)).alias(f"t{i}"),
        *[(F.sin(F.col("id") * (i + k + 1)) * 100).alias(f"{f}{i}")
          for k, f in enumerate(FEATURES)])


def label_frame(spark, rows: int):
    """Labels: every key once, in another order, each later than all its feature rows."""
    from pyspark.sql import functions as F
    ids = spark.range(rows)
    return ids.select(
        ((F.col("id") * 7919) % rows).alias("id"),      # 7919 is prime: a permutation of the keys
        (F.lit(LABEL_EPOCH).cast("timestamp")
         + F.make_dt_interval(secs=(F.col("id") * 13) % SPAN)).alias("ts"),
        (F.col("id") % 2).cast("int").alias("label"))


def dataset_frame(spark, rows: int):
    """The training dataset rows: a key, a timestamp, 4 doubles, 2 ints, 2 strings."""
    from pyspark.sql import functions as F
    c = F.col("id")
    return spark.range(rows).select(
        c.alias("id"),
        (F.lit(FG_EPOCH).cast("timestamp") + F.make_dt_interval(secs=(c * 37) % SPAN)).alias("ts"),
        *[(F.cos(c * (k + 1)) * 10 ** k).alias(f"d{k}") for k in range(4)],
        (c % 97).cast("int").alias("i0"), ((c * 31) % 100_000).cast("int").alias("i1"),
        F.concat(F.lit("user_"), (c % 50_000).cast("string")).alias("s0"),
        F.element_at(F.array(*[F.lit(x) for x in ("home", "away", "neutral", "unknown")]),
                     (c % 4 + 1).cast("int")).alias("s1"))


# -- the two sides ----------------------------------------------------------------------------------
def pit_frame(store, labels):
    q = store.query_labels(labels, event_time="ts")
    for i in range(1, GROUPS + 1):
        q = q.join(store.query(f"fg{i}"))
    return q.read()


def equi_frame(spark, groups, labels, columns):
    df = labels
    for g in groups:
        df = df.join(spark.read.format("delta").load(g.location), on="id", how="left")
    return df.select(*columns)


_UNITS = {"B": 1, "KiB": 2 ** 10, "MiB": 2 ** 20, "GiB": 2 ** 30, "TiB": 2 ** 40}


def last_plan_shape(spark) -> str:
    """The final (adaptive) physical plan of the session's last noop write, read from Spark's
    SQL status store: the operators that cost, and the size of the shuffled data (the sum of the
    shuffle stages' statistics)."""
    executions = spark._jsparkSession.sharedState().statusStore().executionsList()
    text = ""
    for k in range(executions.size() - 1, -1, -1):      # Delta's own jobs come after the write
        text = executions.apply(k).physicalPlanDescription()
        if re.match(r"== Physical Plan ==\s*OverwriteByExpression", text):   # a noop write
            break
    final = text.split("== Final Plan ==", 1)[-1].split("== Initial Plan ==", 1)[0]
    counts = {name: len(re.findall(pattern, final)) for name, pattern in (
        ("shuffles", r"ShuffleQueryStage \(\d+\)"), ("sorts", r"\bSort \(\d+\)"),
        ("SortMergeJoin", r"SortMergeJoin"), ("BroadcastHashJoin", r"BroadcastHashJoin"),
        ("ShuffledHashJoin", r"ShuffledHashJoin"), ("Window", r"\bWindow \(\d+\)"),
        ("Union", r"\bUnion \(\d+\)"))}
    shuffled = sum(float(n) * _UNITS[u] for n, u in re.findall(
        r"ShuffleQueryStage \(\d+\), Statistics\(sizeInBytes=([\d.]+) (\w+)", final))
    return ", ".join([f"{c} {n}" for n, c in counts.items() if c]
                     + [f"{shuffled / 2 ** 20:.0f} MiB shuffled"])


def main() -> None:
    rows = env_int("BENCH_ROWS", 1_000_000)
    full = rows >= 1_000_000
    rounds = env_int("BENCH_FORMAT_ROUNDS", 3)
    cycles = env_int("BENCH_JOIN_CYCLES", 3)
    warmups = env_int("BENCH_WARMUPS", 2)
    check_rows = env_int("BENCH_CHECK_ROWS", 1_000_000)
    record = env_int("BENCH_RECORD", 1 if full else 0)
    keep = env_int("BENCH_KEEP", 0)
    logging.basicConfig(level=logging.WARNING)
    machine = rp.machine()
    load_before = load_average()

    import pyspark

    import featurestore_spark as fs
    from featurestore_spark import featurestore
    from featurestore_spark.config import load_settings
    from featurestore_spark.session import get_spark
    from featurestore_spark.spec import CreateSpec

    base = os.environ.get("BENCH_HOME_DIR") or None
    home = Path(tempfile.mkdtemp(prefix="query_bench_", dir=base))
    settings = load_settings(rp.ROOT / "conf" / "featurestore.toml", settings_env(home))
    spark = get_spark(settings)
    spark.sparkContext.setLogLevel("ERROR")
    store = fs.connect(settings, spark)        # also the default store of featurestore.*
    conf = spark.conf
    info = {
        "pyspark": pyspark.__version__,
        "spark master": spark.sparkContext.master,
        "shuffle partitions": conf.get("spark.sql.shuffle.partitions"),
        "adaptive": conf.get("spark.sql.adaptive.enabled"),
        "driver memory": conf.get("spark.driver.memory", "?"),
        **{k: v for k, v in machine.items() if k != "load average"},
        "memory": memory_total(),
        "load average before": load_before,
    }
    print(f"query benchmark: {rows:,} rows; {info['spark master']}, nproc {machine['nproc']}, "
          f"{machine['cpu']}, {info['memory']}; home {home}", flush=True)

    # -- set-up (untimed): 3 feature groups, the labels file, the training dataset source ----------
    setup = {}
    t0 = time.perf_counter()
    groups = []
    for i in range(1, GROUPS + 1):
        groups.append(store.create(CreateSpec(f"fg{i}", feature_frame(spark, rows, i),
                                              primary_key=("id",), event_time=f"t{i}")))
    setup["3 feature groups (store.create)"] = time.perf_counter() - t0
    say(f"created fg1..fg{GROUPS}: {rows:,} rows each in {setup['3 feature groups (store.create)']:.1f} s")
    t0 = time.perf_counter()
    labels_path = home / "labels.parquet"
    label_frame(spark, rows).write.parquet(str(labels_path))
    source_path = home / "dataset_source.parquet"
    dataset_frame(spark, rows).write.parquet(str(source_path))
    setup["labels + dataset source (parquet)"] = time.perf_counter() - t0
    labels = spark.read.parquet(str(labels_path))
    source = spark.read.parquet(str(source_path))

    # -- point-in-time join vs equi-join ------------------------------------------------------------
    columns = pit_frame(store, labels).columns
    make = {"equi-join": lambda: equi_frame(spark, groups, labels, columns),
            "pit": lambda: pit_frame(store, labels)}
    shapes = {}
    checked = "not checked (above BENCH_CHECK_ROWS)"
    if rows <= check_rows:
        pit_df, equi_df = make["pit"](), make["equi-join"]()
        missing, extra = equi_df.exceptAll(pit_df).count(), pit_df.exceptAll(equi_df).count()
        n = pit_df.count()
        if missing or extra or n != rows:
            raise SystemExit(f"point-in-time and equi-join differ: {missing} rows only in the "
                             f"equi-join, {extra} only in the pit join, {n} pit rows")
        checked = f"identical rows (exceptAll both ways empty, {n:,} rows)"
        say(f"checked: {checked}")
    warm: list[tuple[str, float]] = []
    for name in ("equi-join", "pit") * warmups:
        warm.append((name, timed(lambda: noop(make[name]()))))
        say(f"warm-up {name}: {warm[-1][1]:.1f} s")
    runs: list[tuple[str, float]] = []
    for name in ("equi-join", "pit", "pit", "equi-join") * cycles:
        seconds = timed(lambda: noop(make[name]()))
        runs.append((name, seconds))
        shapes[name] = last_plan_shape(spark)
        say(f"{name}: {seconds:.1f} s ({rows / seconds:,.0f} label rows/s)")

    # -- training dataset formats -------------------------------------------------------------------
    out = home / "plain"
    writes: dict[str, list[tuple[float, float]]] = {k: [] for k in (REFERENCE, *FORMATS)}
    order = [REFERENCE, *FORMATS]
    for r in range(rounds + 1):                 # round 0: the untimed warm-up
        for what in (order if r % 2 == 1 else order[::-1]):
            if what == REFERENCE:
                path = out / f"round{r}"
                seconds = timed(lambda: source.write.parquet(str(path)))
            else:
                name = f"td_{what}"
                seconds = timed(lambda: featurestore.create_training_dataset(
                    source, name, data_format=what, training_dataset_version=r + 1))
                path = Path(store.training.path(name, r + 1))
            if r:
                writes[what].append((seconds, du_mib(path)))
            say(f"{f'round {r}' if r else 'warm-up'} {what}: {seconds:.1f} s "
                f"({rows / seconds:,.0f} rows/s)")
    reads: dict[str, list[float]] = {k: [] for k in (REFERENCE, *FORMATS)}
    for r in range(rounds + 1):                 # round 0: the untimed warm-up
        for what in (order if r % 2 == 1 else order[::-1]):
            df = (spark.read.parquet(str(out / f"round{rounds}")) if what == REFERENCE else
                  featurestore.get_training_dataset(f"td_{what}",
                                                    training_dataset_version=rounds + 1))
            seconds = timed(lambda: noop(df))
            if r:
                reads[what].append(seconds)
            say(f"{f'round {r}' if r else 'warm-up'} read {what}: {seconds:.1f} s "
                f"({rows / seconds:,.0f} rows/s)")
    info["load average after"] = load_average()
    from featurestore_spark.training import tfrecord
    info["tfrecords writer"] = ("Python workers (the JVM writer's JAR is not on the classpath)"
                                if tfrecord._warned else "the JVM data source of jvm/")
    elapsed = time.perf_counter() - rp.STARTED

    text = render(rows, info, setup, shapes, checked, warm, runs, writes, reads, rounds,
                  elapsed)
    print()
    print(text)
    if record:
        rp.record(text)
    spark.stop()
    if not keep:
        shutil.rmtree(home, ignore_errors=True)


def render(rows, info, setup, shapes, checked, warm, runs, writes, reads, rounds,
           elapsed) -> str:
    out = rp.heading(f"query benchmark (bench/query_bench.py), {rows:,} rows", info)
    out.append(
        f"Point-in-time join: {rows:,} label rows (id, ts, label; a parquet file) joined with "
        f"`store.query_labels(labels, event_time=\"ts\").join(store.query(\"fg1\"))"
        f".join(...fg2).join(...fg3).read()` onto {GROUPS} feature groups of {rows:,} rows "
        f"(id, event time, {len(FEATURES)} doubles; Delta, one row per key). Equi-join: the same "
        "labels file LEFT JOIN each feature group's Delta table (`spark.read.format(\"delta\")"
        ".load`) USING (id), the same output columns; no dedup (one row per key already), so both "
        "are 1:1 joins and give the same rows (every label is later than its feature rows; "
        f"{checked}). Each run writes every column to Spark's `noop` sink, timed from building "
        f"the DataFrame to the end of the write; {len(runs) // 4} cycle(s) of baseline, pit, pit, "
        f"baseline after {len(warm) // 2} untimed warm-up run(s) of each (shown last).")
    out.append("")
    equi = [s for n, s in runs if n == "equi-join"]
    pit = [s for n, s in runs if n == "pit"]
    ratio = sum(pit) / sum(equi)
    table_rows = [(f"{n} #{k + 1}", s, rows / s, s / (sum(equi) / len(equi)), "")
                  for n, group in (("equi-join", equi), ("pit", pit)) for k, s in enumerate(group)]
    median = statistics.median(pit) / statistics.median(equi)
    table_rows += [(f"equi-join, all {len(equi)} runs", sum(equi), len(equi) * rows / sum(equi),
                    1.0, ""),
                   (f"pit, all {len(pit)} runs", sum(pit), len(pit) * rows / sum(pit), ratio,
                    rp.verdict(ratio <= PIT_TARGET)),
                   ("pit median / equi-join median", statistics.median(pit),
                    rows / statistics.median(pit), median, "")]
    table_rows += [(f"warm-up {n} (not counted)", s, rows / s, s / (sum(equi) / len(equi)), "")
                   for n, s in warm]
    out.append(rp.table(["join", "seconds", "label rows/s", "x equi-join", f"<= {PIT_TARGET}x"],
                        table_rows))
    out += ["", "Final physical plans (adaptive execution; Spark's SQL status store):", "",
            f"- equi-join: {shapes['equi-join']}", f"- pit: {shapes['pit']}", ""]
    ref = writes[REFERENCE]
    ref_rate = rows * len(ref) / sum(s for s, _ in ref)
    out.append(
        f"Training datasets: the same {rows:,}-row DataFrame (id bigint, ts timestamp, 4 doubles, "
        "2 ints, 2 strings; read from a parquet file) written with "
        "`featurestore.create_training_dataset(df, name, data_format=...)` (no splits; the time "
        "includes its checks, lineage and registration), beside `df.write.parquet(path)` of the "
        f"same DataFrame; an untimed warm-up round, then {rounds} round(s), the order reversed "
        "every other round. rows/s over all timed rounds; MiB on disk of one version. Reads: "
        "`featurestore.get_training_dataset(name)` of the last version (every column to the "
        "`noop` sink), beside `spark.read.parquet` of the last plain file, in rounds the same way.")
    out.append("")
    fmt_rows = []
    read_ref = rows * len(reads[REFERENCE]) / sum(reads[REFERENCE])
    rates = {}
    for what, done in writes.items():
        seconds = [s for s, _ in done]
        rate = rows * len(seconds) / sum(seconds)
        read_rate = rows * len(reads[what]) / sum(reads[what])
        rates[what] = (rate / ref_rate, read_rate)
        fmt_rows.append((what, " / ".join(f"{s:.1f}" for s in seconds), rate, rate / ref_rate,
                         done[-1][1], " / ".join(f"{s:.1f}" for s in reads[what]), read_rate,
                         read_rate / read_ref))
    out.append(rp.table(["format", "write s per round", "write rows/s", "x spark parquet",
                         "MiB", "read s per round", "read rows/s", "x spark parquet"], fmt_rows))
    tf_write, tf_read = rates["tfrecords"]
    out += ["", "Targets:", "",
            f"- point-in-time join <= {PIT_TARGET}x the equi-join of the same tables: "
            f"{rp.verdict(ratio <= PIT_TARGET)} ({ratio:.2f}x the total time; medians "
            f"{median:.2f}x; single runs {min(pit) / max(equi):.2f}x-{max(pit) / min(equi):.2f}x)",
            f"- tfrecords written at >= {TF_WRITE_TARGET}x the rows/s of Spark's parquet writer: "
            f"{rp.verdict(tf_write >= TF_WRITE_TARGET)} ({tf_write:.2f}x)",
            f"- tfrecords read at >= {TF_READ_TARGET:,} rows/s into Spark: "
            f"{rp.verdict(tf_read >= TF_READ_TARGET)} ({tf_read:,.0f} rows/s)",
            "", "Setup (untimed): " + ", ".join(f"{k} {v:.0f} s" for k, v in setup.items())
            + f"; whole run {elapsed / 60:.1f} min."]
    return "\n".join(out)


if __name__ == "__main__":
    main()
