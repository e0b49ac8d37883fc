"""The streaming benchmark behind `make bench BENCH=stream`: Kafka -> an online feature group.

Throughput: BENCH_EVENTS card transactions (JSON, BENCH_CARDS cards) are put on a topic first,
then `fg.insert_stream` upserts them into an online group (Delta + MariaDB over TCP) with an
availableNow trigger, BENCH_PER_BATCH events a micro-batch: events per second from the query's
start to its end. Beside it, in the same run: `fg.insert` (an upsert) of the same rows, read
from the same topic as a batch, into a second online group: rows per second.

Freshness: a producer writes events stamped with the time they are sent, BENCH_LIVE_RATE a
second (default: half the measured throughput) in one write every 2 seconds, for
BENCH_LIVE_SECONDS, while a stream with a 2-second processing-time trigger upserts them into a
third online group. Each micro-batch's commit keeps the p50 and p99 of (readable online - event
time) over its events (`fg.freshness`); the run reports those of the batches of the live phase.

    make bench BENCH=stream                          # recorded in bench/RESULTS.md
    BENCH_EVENTS=100000 make bench BENCH=stream      # a smoke run (not recorded)

Environment: BENCH_EVENTS (1000000), BENCH_CARDS (100000), BENCH_PER_BATCH (200000),
BENCH_LIVE_SECONDS (120), BENCH_LIVE_RATE (0: half the throughput), BENCH_RECORD (1 when
BENCH_EVENTS >= 1000000).
"""

from __future__ import annotations

import featurestore_spark  # noqa: F401  isort: skip  (before ssl: see featurestore_spark/__init__)

import shutil
import statistics
import threading
import time
import uuid

import report as rp

PROJECT = "fsstream"
EVENT = "card_id INT, tx_id BIGINT, ts TIMESTAMP, amount DOUBLE"
KAFKA_ENV = rp.ROOT / ".cache" / "kafka.env"


def bootstrap() -> str:
    for line in KAFKA_ENV.read_text().splitlines() if KAFKA_ENV.is_file() else []:
        if line.startswith("FEATURESTORE_TEST_KAFKA_BOOTSTRAP="):
            return line.split("=", 1)[1]
    raise SystemExit("no Kafka broker: run `make bench BENCH=stream` (it runs `make kafka`)")


def produce(spark, server: str, topic: str, first: int, count: int, cards: int,
            stamp=None) -> None:
    """Events first..first+count-1 on ``topic`` (JSON, keyed by card); ``stamp``: their event
    time (default: one millisecond apart from 2025-01-01)."""
    from pyspark.sql import functions as F
    ts = stamp if stamp is not None else (
        F.lit("2025-01-01").cast("timestamp") + F.make_interval(secs=F.col("id") / 1000))
    events = spark.range(first, first + count, 1, 2).select(
        (F.col("id") % cards + 1).cast("int").alias("card_id"), F.col("id").alias("tx_id"),
        ts.alias("ts"), (F.col("id") * 37 % 1000 / 10).alias("amount"))
    (events.select(F.col("card_id").cast("string").alias("key"),
                   F.to_json(F.struct(*events.columns)).alias("value"))
     .write.format("kafka").option("kafka.bootstrap.servers", server).option("topic", topic)
     .save())


def stream_of(spark, server: str, topic: str, per_batch: int | None = None):
    from pyspark.sql import functions as F
    reader = (spark.readStream.format("kafka").option("kafka.bootstrap.servers", server)
              .option("subscribe", topic).option("startingOffsets", "earliest"))
    if per_batch:
        reader = reader.option("maxOffsetsPerTrigger", per_batch)
    return (reader.load().select(F.from_json(F.col("value").cast("string"), EVENT).alias("e"))
            .select("e.*"))


def group(fs, name: str):
    fg = fs.create_feature_group(name, primary_key=["card_id"], event_time="ts",
                                 online_enabled=True, statistics_config={"enabled": False})
    fg.save(fs.spark.createDataFrame([], EVENT))
    return fg


def live(fs, server: str, cards: int, rate: int, seconds: int, first: int) -> dict:
    """The freshness phase (see the module's docstring)."""
    from pyspark.sql import functions as F
    fg, topic = group(fs, "card_live"), f"bench-live-{uuid.uuid4().hex[:8]}"
    produce(fs.spark, server, topic, first, 1, cards, F.current_timestamp())   # the topic
    query = fg.insert_stream(stream_of(fs.spark, server, topic), query_name="live",
                             trigger={"processingTime": "2 seconds"}, statistics_every=0)
    sent, stop = [1], threading.Event()

    def producer() -> None:
        started = time.monotonic()
        while not stop.is_set() and time.monotonic() - started < seconds:
            tick = time.monotonic()
            produce(fs.spark, server, topic, first + sent[0], rate * 2, cards,
                    F.current_timestamp())
            sent[0] += rate * 2
            stop.wait(max(0.0, 2 - (time.monotonic() - tick)))

    thread = threading.Thread(target=producer, name="bench-producer")
    started = time.monotonic()
    thread.start()
    thread.join()
    produced_s = time.monotonic() - started
    while query.isActive:            # until the stream has caught up with what was sent
        progress = query.lastProgress
        if progress and progress["numInputRows"] == 0 and not query.status["isDataAvailable"]:
            break
        time.sleep(0.5)
    caught_up_s = time.monotonic() - started
    fs.stop_streams()
    if query.exception() is not None:
        raise query.exception()
    docs = fs.metadata.documents(PROJECT, "fg.freshness", "card_live", 1)
    batches = [d.body for d in docs if d.body["rows"] > 0]
    return {"sent": sent[0], "produced_s": produced_s, "caught_up_s": caught_up_s,
            "batches": len(batches),
            "p50": statistics.median(b["p50_ms"] for b in batches) if batches else float("nan"),
            "p99": max((b["p99_ms"] for b in batches), default=float("nan")),
            "p50_best": min((b["p50_ms"] for b in batches), default=float("nan")),
            "p50_worst": max((b["p50_ms"] for b in batches), default=float("nan"))}


def main() -> None:
    events = rp.env_int("BENCH_EVENTS", 1_000_000)
    cards = rp.env_int("BENCH_CARDS", 100_000)
    per_batch = rp.env_int("BENCH_PER_BATCH", 200_000)
    seconds = rp.env_int("BENCH_LIVE_SECONDS", 120)
    rate = rp.env_int("BENCH_LIVE_RATE", 0)
    record = rp.env_int("BENCH_RECORD", 1 if events >= 1_000_000 else 0)
    from featurestore_spark.config import load_settings
    from featurestore_spark.feature_store import FeatureStore
    from featurestore_spark.session import get_spark
    from pyspark.sql import functions as F

    server, machine = bootstrap(), rp.machine()
    home = rp.ROOT / ".cache" / "bench" / "stream_home"
    shutil.rmtree(home, ignore_errors=True)
    env = rp.settings_env(home, PROJECT, "tcp")
    env["FEATURESTORE_SPARK_JARS_DIR"] = ",".join(
        str(rp.ROOT / ".cache" / d) for d in ("jars", "jars-kafka"))
    settings = load_settings(rp.ROOT / "conf" / "featurestore.toml", env)
    spark = get_spark(settings)
    spark.sparkContext.setLogLevel("ERROR")
    fs = FeatureStore.connect(settings, spark)
    rp.drop_online(fs, PROJECT)

    topic = f"bench-{uuid.uuid4().hex[:8]}"
    started = time.monotonic()
    produce(spark, server, topic, 0, events, cards)
    rp.say(f"{events:,} events on topic {topic} in {time.monotonic() - started:.1f} s")

    # -- throughput: the backlog streamed, beside a batch upsert of the same rows ---------------
    streamed = group(fs, "card_stream")
    started = time.monotonic()
    query = streamed.insert_stream(stream_of(spark, server, topic, per_batch), query_name="bench",
                                   trigger={"availableNow": True}, statistics_every=0)
    query.awaitTermination()
    stream_s = time.monotonic() - started
    batches = len(fs.commits("card_stream")) - 1
    rp.say(f"streamed: {stream_s:.1f} s, {batches} micro-batches, "
           f"{events / stream_s:,.0f} events/s")

    batch = group(fs, "card_batch")
    rows = (spark.read.format("kafka").option("kafka.bootstrap.servers", server)
            .option("subscribe", topic).load()
            .select(F.from_json(F.col("value").cast("string"), EVENT).alias("e")).select("e.*"))
    started = time.monotonic()
    batch.insert(rows, operation="upsert")
    batch_s = time.monotonic() - started
    rp.say(f"batch upsert: {batch_s:.1f} s, {events / batch_s:,.0f} rows/s")
    same = (streamed.read().exceptAll(batch.read()).count(),
            streamed.read(online=True).count() == batch.read(online=True).count())
    if same != (0, True):
        raise SystemExit(f"the streamed and the batch group differ: {same}")

    # -- freshness at a sustained rate ----------------------------------------------------------
    rate = rate or max(100, int(events / stream_s / 2))
    rp.say(f"live: {rate:,} events/s for {seconds} s")
    fresh = live(fs, server, cards, rate, seconds, events)
    rp.say(f"live: {fresh['sent']:,} events, caught up after {fresh['caught_up_s']:.1f} s, "
           f"{fresh['batches']} micro-batches, p50 {fresh['p50']:.0f} ms, "
           f"p99 {fresh['p99']:.0f} ms")

    info = {**machine, "spark master": spark.sparkContext.master,
            "kafka": f"Apache Kafka 4.1.1 (KRaft, one broker, 2 partitions) at {server}"}
    text = "\n".join(rp.heading(f"streaming benchmark (bench/stream_bench.py), {events:,} events",
                                info) + [
        f"Throughput: {events:,} JSON card transactions ({cards:,} cards) on a topic, upserted "
        f"into an online group (Delta + MariaDB, TCP) by `fg.insert_stream` (availableNow, "
        f"{per_batch:,} events a micro-batch, every micro-batch one exactly-once commit, its "
        "checks and the online sync), beside `fg.insert(operation=\"upsert\")` of the same rows "
        "read from the topic as a batch.",
        "",
        rp.table(["write", "seconds", "commits", "events/s", "ratio"],
                 [("insert_stream", stream_s, batches, events / stream_s, batch_s / stream_s),
                  ("insert (batch)", batch_s, 1, events / batch_s, 1.0)]),
        "",
        f"Freshness: {fresh['sent']:,} events sent at {rate:,}/s (one write every 2 s, each "
        f"event stamped when sent) for {seconds} s while a stream (processingTime 2 s) upserts "
        "them into an online group; each micro-batch's commit keeps p50/p99 of (readable "
        f"online - event time). {fresh['batches']} micro-batches, caught up "
        f"{fresh['caught_up_s'] - fresh['produced_s']:.1f} s after the last send. ms.",
        "",
        rp.table(["median of batch p50", "best batch p50", "worst batch p50",
                  "worst batch p99"],
                 [(fresh["p50"], fresh["p50_best"], fresh["p50_worst"], fresh["p99"])]),
    ])
    rp.publish(text, bool(record))
    rp.finish(fs, PROJECT, home)


if __name__ == "__main__":
    main()
