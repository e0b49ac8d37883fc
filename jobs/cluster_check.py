"""A check of a feature store deployment: run it with spark-submit on your cluster, with the
settings your jobs use, to see every part work there before real pipelines do.

It writes a small feature store of its own (project ``$FEATURESTORE_PROJECT``): creates an event
feature group and an online one (written to the online store from the executors), upserts,
travels back in time, validates a bad batch away (STRICT), computes statistics on write, joins
labels point in time and writes a training dataset in every format (or those of ``--formats``),
reading each back. It prints one line per check and exits 1 if any fails. Example (see the README,
"On a cluster")::

    spark-submit --master spark://host:7077 --py-files dist/featurestore_spark.zip \\
        --packages io.delta:delta-spark_4.1_2.13:4.4.0 jobs/cluster_check.py [--formats csv,avro]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from typing import Any, Callable

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

import featurestore_spark as fs
from featurestore_spark import featurestore
from featurestore_spark.config import MetadataSettings, load_settings
from featurestore_spark.logs import setup_logging
from featurestore_spark.session import on_one_machine
from featurestore_spark.training.formats import DATA_FORMATS

log = logging.getLogger("cluster_check")
KEYS, DAYS = 40, 6
SUITE = {"name": "scores", "expectations": [
    {"type": "expect_column_values_to_be_between",
     "kwargs": {"column": "score", "min_value": 0, "max_value": 100}}]}


def executor_facts(spark: SparkSession) -> list[tuple[str, str]]:
    """Where each executor found featurestore_spark, and its working folder (one per executor)."""
    def where(_: Any) -> Any:
        import time

        import featurestore_spark as pkg
        time.sleep(0.2)      # so that one executor cannot take every task
        yield pkg.__file__, os.getcwd()
    n = max(2, spark.sparkContext.defaultParallelism) * 2
    return sorted(set(spark.sparkContext.parallelize(range(n), n).mapPartitions(where).collect()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", default=",".join(DATA_FORMATS),
                        help=f"training dataset formats to check (default: all, {','.join(DATA_FORMATS)})")
    formats = [f.strip() for f in parser.parse_args(argv).formats.split(",") if f.strip()]
    if unknown := [f for f in formats if f not in DATA_FORMATS]:
        parser.error(f"unknown format(s) {', '.join(unknown)}: name some of {', '.join(DATA_FORMATS)}")
    setup_logging()
    results: list[tuple[str, bool, str]] = []

    def check(what: str, fn: Callable[[], tuple[bool, str]]) -> None:
        try:
            ok, detail = fn()
        except Exception as e:          # a check that raises has failed; the others still run
            log.exception("%s failed", what)
            ok, detail = False, f"{type(e).__name__}: {e}"
        results.append((what, ok, detail))
        print(f"[{'ok' if ok else 'FAILED'}] {what}: {detail}", flush=True)

    settings = load_settings()
    store = fs.connect(settings)
    spark = store.spark
    master = spark.sparkContext.master
    print(f"== featurestore_spark cluster check: master {master}, warehouse {settings.warehouse}, "
          f"training datasets {settings.training_path}, metadata {settings.metadata.backend}, "
          f"online {settings.online.backend} ==", flush=True)

    def packaging() -> tuple[bool, str]:
        facts = executor_facts(spark)
        files = sorted({f for f, _ in facts})
        folders = sorted({d for _, d in facts})
        return len(folders) >= 1, f"executors import it from {', '.join(files)}; {len(folders)} " \
                                  f"executor folder(s)"
    check("package on the executors", packaging)

    if not on_one_machine(master):
        def sqlite_refused() -> tuple[bool, str]:
            embedded = dataclasses.replace(settings, metadata=MetadataSettings(backend="sqlite"))
            try:
                fs.FeatureStore.connect(embedded, spark)
            except fs.ConfigurationError as e:
                return "MySQL" in str(e), str(e).split(": on a cluster")[0]
            return False, "a SQLite metadata store was accepted on a cluster"
        check("embedded SQLite refused", sqlite_refused)

    days = spark.range(KEYS * DAYS).select(
        (F.col("id") % KEYS).cast("int").alias("user_id"),
        F.timestamp_seconds(F.lit(1_760_000_000) + (F.col("id") / KEYS).cast("int") * 86_400)
        .alias("day"),
        (F.pmod(F.xxhash64("id"), F.lit(100))).cast("double").alias("score"))
    latest = days.groupBy("user_id").agg(F.max_by("score", "day").alias("latest_score"),
                                         F.max("day").alias("day"))

    def create() -> tuple[bool, str]:
        g = featurestore.create_featuregroup(days, "daily_scores", primary_key=["user_id", "day"],
                                             event_time="day", expectation_suite=SUITE,
                                             description="a score per user and day")
        n = featurestore.get_featuregroup("daily_scores").count()
        return n == KEYS * DAYS, f"{g.name} v{g.version} at {g.location}: {n} rows"
    check("create", create)

    def online() -> tuple[bool, str]:
        featurestore.create_featuregroup(latest, "user_scores", primary_key="user_id",
                                         event_time="day", online=True)
        report = featurestore.check_online_featuregroup("user_scores")
        vector = featurestore.get_online_feature_vector(["latest_score"], 7)
        expected = latest.where("user_id = 7").first().latest_score
        return (report.consistent and vector["latest_score"] == expected,
                f"{report.online_rows} keys online ({store.online.backend.describe(settings.project)}), "
                f"vector of user 7 {vector}")
    check("online feature group written from the executors", online)

    def upsert_and_time_travel() -> tuple[bool, str]:
        fix = spark.sql("SELECT 7 AS user_id, 100.0D AS latest_score, TIMESTAMP'2030-01-01' AS day")
        commit = featurestore.insert_into_featuregroup(fix, "user_scores", mode="upsert")
        before = (fs.Hops.getFeaturegroup("user_scores").setAsOf(0).read()
                  .where("user_id = 7").first().latest_score)
        now = featurestore.get_featuregroup("user_scores").where("user_id = 7").first().latest_score
        served = featurestore.get_online_feature_vector(["latest_score"], 7)["latest_score"]
        return (now == 100.0 and before != 100.0 and served == 100.0 and commit.rows_updated == 1,
                f"commit {commit.commit_id}: score {before} at commit 0, {now} now, {served} online")
    check("upsert and time travel", upsert_and_time_travel)

    def strict() -> tuple[bool, str]:
        commits = len(featurestore.get_featuregroup_commits("daily_scores"))
        bad = spark.sql("SELECT 1 AS user_id, TIMESTAMP'2030-01-02' AS day, -5.0D AS score")
        try:
            featurestore.insert_into_featuregroup(bad, "daily_scores", mode="append")
        except fs.DataValidationError:
            after = len(featurestore.get_featuregroup_commits("daily_scores"))
            rows = featurestore.get_featuregroup("daily_scores").count()
            return after == commits and rows == KEYS * DAYS, "refused, nothing written"
        return False, "a negative score was NOT refused"
    check("STRICT validation", strict)

    def statistics() -> tuple[bool, str]:
        stats = featurestore.get_featuregroup_statistics("daily_scores", commit=0)
        mean = stats["descriptive"]["score"]["mean"]
        return stats["row_count"] == KEYS * DAYS, f"{stats['row_count']} rows, score mean {mean:.2f}"
    check("statistics on write", statistics)

    labels = spark.range(KEYS).select(F.col("id").cast("int").alias("user_id"),
                                      F.timestamp_seconds(F.lit(1_760_000_000 + 3 * 86_400 + 60))
                                      .alias("at"), (F.col("id") % 2 == 0).alias("label"))

    def pit_join() -> tuple[bool, str]:
        query = (store.query_labels(labels, event_time="at")
                 .join(store.query("daily_scores").select(["day", "score"]), on="user_id"))
        rows = query.read()
        future = rows.where("day > at").count()
        return rows.count() == KEYS and future == 0, f"{rows.count()} rows, {future} from the future"
    check("point-in-time join", pit_join)

    for data_format in formats:
        def training(data_format: str = data_format) -> tuple[bool, str]:
            query = (store.query_labels(labels, event_time="at")
                     .join(store.query("daily_scores").select(["score"]), on="user_id"))
            td = featurestore.create_training_dataset(query, f"scores_{data_format}",
                                                      data_format=data_format,
                                                      splits={"train": 0.75, "test": 0.25}, seed=7)
            back = featurestore.get_training_dataset(td.name).count()
            return back == KEYS, f"{back} rows in {td.location}"
        check(f"training dataset ({data_format})", training)

    failed = [what for what, ok, _ in results if not ok]
    print(f"cluster check {'passed' if not failed else 'FAILED: ' + ', '.join(failed)} "
          f"({len(results) - len(failed)}/{len(results)} checks)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
