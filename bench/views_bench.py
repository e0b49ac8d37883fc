"""The feature view benchmark behind `make bench BENCH=views`: what transformation functions cost.

Online: `fv.get_feature_vector` of a view with 3 built-in transformations (min_max_scaler,
standard_scaler, robust_scaler) over a 50-feature online group (MariaDB over TCP), beside the
same call on a view of the same query without transformations, in the same process: both sides
alternate in blocks of 5 calls with the same random keys. Target: p50 at most 1.3x.

Offline: `fv.train_test_split(test_size=0.2, seed=1)` of BENCH_ROWS rows with 5 transformations
(min_max_scaler, standard_scaler, robust_scaler, quantile_binner, label_encoder: their statistics
fitted on the training split, then applied) beside the same split without transformations;
each run writes X_train, X_test, y_train and y_test into Spark's `noop` sink (everything
computed, nothing to the driver), in cycles of plain, transformed, transformed, plain after a
warm-up of each. Target: at most 1.5x (total time).

    make bench BENCH=views                      # 1M rows, recorded in bench/RESULTS.md
    BENCH_ROWS=50000 make bench BENCH=views     # a smoke run (not recorded)

Environment: BENCH_ROWS (1000000), BENCH_LOOKUP_ROWS (100000), BENCH_LOOKUPS (3000),
BENCH_SPLIT_CYCLES (2), BENCH_RECORD (1 when BENCH_ROWS >= 1000000).
"""

from __future__ import annotations

import featurestore_spark  # noqa: F401  isort: skip  (before ssl: see featurestore_spark/__init__)

import random
import shutil
import time

import report as rp

PROJECT = "fsviews"
BLOCK = 5
ONLINE_TARGET, SPLIT_TARGET = 1.3, 1.5


def wide_frame(spark, rows: int, features: int):
    from pyspark.sql import functions as F
    return spark.range(0, rows, 1, 4).select(
        "id", *[(F.col("id") * (7919 * (j + 1)) % 10007 / F.lit(100.0)).alias(f"f{j}")
                for j in range(features)])


def split_frame(spark, rows: int):
    from pyspark.sql import functions as F
    h = lambda salt: F.pmod(F.xxhash64("id", F.lit(salt)), F.lit(100_000)) / F.lit(1000.0)
    return spark.range(0, rows, 1, 4).select(
        "id", h(1).alias("a"), h(2).alias("b"), h(3).alias("c"), h(4).alias("d"),
        F.concat(F.lit("cat_"), F.pmod(F.col("id"), F.lit(50))).alias("e"),
        (F.pmod(F.col("id"), F.lit(2))).cast("int").alias("label"))


def main() -> None:
    rows = rp.env_int("BENCH_ROWS", 1_000_000)
    lookup_rows = rp.env_int("BENCH_LOOKUP_ROWS", 100_000)
    lookups = rp.env_int("BENCH_LOOKUPS", 3000)
    cycles = rp.env_int("BENCH_SPLIT_CYCLES", 2)
    record = rp.env_int("BENCH_RECORD", 1 if rows >= 1_000_000 else 0)
    from featurestore_spark.config import load_settings
    from featurestore_spark.feature_store import FeatureStore
    from featurestore_spark.session import get_spark

    machine = rp.machine()
    home = rp.ROOT / ".cache" / "bench" / "views_home"
    shutil.rmtree(home, ignore_errors=True)
    settings = load_settings(rp.ROOT / "conf" / "featurestore.toml",
                             rp.settings_env(home, PROJECT, "tcp"))
    spark = get_spark(settings)
    spark.sparkContext.setLogLevel("ERROR")
    fs = FeatureStore.connect(settings, spark)
    rp.drop_online(fs, PROJECT)
    tf = fs.get_transformation_function
    off = {"enabled": False}

    # -- online --------------------------------------------------------------------------------
    wide = fs.create_feature_group("wide", primary_key=["id"], online_enabled=True,
                                   statistics_config=off)
    wide.insert(wide_frame(spark, lookup_rows, 50))
    rp.say(f"wrote wide: {lookup_rows:,} x 50, online")
    plain = fs.create_feature_view("wide_plain", wide.select_all())
    plain.init_serving(None)
    scaled = fs.create_feature_view("wide_scaled", wide.select_all(), transformation_functions=[
        tf("min_max_scaler")("f0"), tf("standard_scaler")("f1"), tf("robust_scaler")("f2")])
    scaled.training_data()
    scaled.init_serving(1)
    rng = random.Random(7)
    for _ in range(300):                                        # warm-up: pools, plans
        k = {"id": rng.randrange(lookup_rows)}
        plain.get_feature_vector(k)
        scaled.get_feature_vector(k)
    timed: dict[str, list[int]] = {"plain": [], "scaled": []}
    clock = time.perf_counter_ns
    block = 0
    while len(timed["plain"]) < lookups:
        keys = [{"id": rng.randrange(lookup_rows)} for _ in range(BLOCK)]
        for side in (("plain", "scaled") if block % 2 == 0 else ("scaled", "plain")):
            view = plain if side == "plain" else scaled
            for k in keys:
                t0 = clock()
                view.get_feature_vector(k)
                timed[side].append(clock() - t0)
        block += 1
    ours, base = rp.Latency(timed["scaled"]), rp.Latency(timed["plain"])
    online_ratio = ours.p50 / base.p50
    rp.say(f"get_feature_vector: scaled p50 {ours.p50:.3f} ms p99 {ours.p99:.3f} | plain p50 "
           f"{base.p50:.3f} p99 {base.p99:.3f} ms | x{online_ratio:.2f}")

    # -- offline -------------------------------------------------------------------------------
    big = fs.create_feature_group("big", primary_key=["id"], statistics_config=off)
    big.insert(split_frame(spark, rows))
    rp.say(f"wrote big: {rows:,} rows")
    bare = fs.create_feature_view("big_plain", big.select_all(), labels=["label"])
    five = fs.create_feature_view("big_five", big.select_all(), labels=["label"],
                                  transformation_functions=[
                                      tf("min_max_scaler")("a"), tf("standard_scaler")("b"),
                                      tf("robust_scaler")("c"), tf("quantile_binner")("d"),
                                      tf("label_encoder")("e")])

    def run(view) -> float:
        t0 = time.perf_counter()
        for part in view.train_test_split(test_size=0.2, seed=1):
            part.write.format("noop").mode("overwrite").save()
        return time.perf_counter() - t0

    run(bare), run(five)                                       # warm-up
    times: dict[str, list[float]] = {"plain": [], "five": []}
    for _ in range(cycles):
        for side in ("plain", "five", "five", "plain"):
            times[side].append(run(bare if side == "plain" else five))
            rp.say(f"train_test_split {side}: {times[side][-1]:.1f} s")
    split_ratio = sum(times["five"]) / sum(times["plain"])

    info = {**machine, "spark master": spark.sparkContext.master}
    text = "\n".join(rp.heading(f"feature view benchmark (bench/views_bench.py), {rows:,} rows",
                                info) + [
        "Online: `fv.get_feature_vector({\"id\": k})` of a view with 3 built-in transformations "
        f"(min_max_scaler, standard_scaler, robust_scaler) over a {lookup_rows:,} x 50 online "
        f"group (MariaDB, TCP), beside the same query's view without transformations; "
        f"{lookups} timed calls each, alternating in blocks of {BLOCK}, after 300 untimed. ms.",
        "",
        rp.table(["view", "p50", "p99", "calls/s"],
                 [("3 transformations", ours.p50, ours.p99, ours.per_second),
                  ("no transformations", base.p50, base.p99, base.per_second)]),
        "",
        f"Offline: `fv.train_test_split(test_size=0.2, seed=1)` of {rows:,} rows (id, 4 doubles, "
        "a 50-category string, a label) into the noop sink (X_train, X_test, y_train, y_test), "
        "with 5 transformations (min_max_scaler, standard_scaler, robust_scaler, "
        "quantile_binner, label_encoder: fitted on the training split) and without; "
        f"{cycles} cycles of plain, five, five, plain after a warm-up. Seconds.",
        "",
        rp.table(["split", "runs", "total s", "per run s"],
                 [(k, len(v), sum(v), sum(v) / len(v)) for k, v in times.items()]),
        "",
        "Targets:",
        "",
        f"- get_feature_vector with 3 transformations p50 <= {ONLINE_TARGET}x untransformed: "
        f"{rp.verdict(online_ratio <= ONLINE_TARGET)} ({online_ratio:.2f}x)",
        f"- train_test_split with 5 transformations <= {SPLIT_TARGET}x without: "
        f"{rp.verdict(split_ratio <= SPLIT_TARGET)} ({split_ratio:.2f}x)",
    ])
    rp.publish(text, bool(record))
    rp.finish(fs, PROJECT, home)


if __name__ == "__main__":
    main()
