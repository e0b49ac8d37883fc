"""Kafka events for the streaming tests, and a separate process that streams them into feature
group GROUP (default ``card_tx``: an append per micro-batch; keyed by card, with an event time) until a batch
finds nothing new, stops it (``stop_streams``) and prints ``{"done": true}``.

``python stream_writer.py TOPIC CHECKPOINT PER_BATCH N:POINT|- [GROUP]``: the N-th micro-batch that writes
(0 first) stops at POINT, prints ``{"stalled": POINT}`` and sleeps, for test_streaming to SIGKILL
it there. POINT: ``write`` (before its Delta commit), ``commit`` (between the Delta commit and its
registration), ``online`` (registered, the online table not brought up to it, the micro-batch
not committed in the checkpoint)."""

from __future__ import annotations

import itertools
import json
import os
import sys
import time
from typing import Any

EVENT = "card_id INT, tx_id INT, ts TIMESTAMP, amount DOUBLE"


def produce(spark: Any, bootstrap: str, topic: str, events: list[tuple]) -> None:
    """Write ``events`` (rows of EVENT) to ``topic`` as JSON values keyed by card (Spark's Kafka
    sink: no client library of our own)."""
    (spark.createDataFrame(events, EVENT)
     .selectExpr("CAST(card_id AS STRING) AS key", "to_json(struct(*)) AS value")
     .write.format("kafka").option("kafka.bootstrap.servers", bootstrap)
     .option("topic", topic).save())


def events(spark: Any, bootstrap: str, topic: str, per_batch: int) -> Any:
    """The streaming DataFrame of ``topic``'s events from its start, ``per_batch`` a batch."""
    from pyspark.sql import functions as F
    raw = (spark.readStream.format("kafka").option("kafka.bootstrap.servers", bootstrap)
           .option("subscribe", topic).option("startingOffsets", "earliest")
           .option("maxOffsetsPerTrigger", per_batch).load())
    return raw.select(F.from_json(F.col("value").cast("string"), EVENT).alias("e")).select("e.*")


def main(topic: str, checkpoint: str, per_batch: int, stall: str, group: str) -> None:
    import featurestore_spark as fs

    store = fs.connect()
    if stall != "-":
        nth, point = stall.split(":") if ":" in stall else (stall, "commit")
        owner, method = {"write": (store.ctx.offline, "write"),
                         "commit": (store.metadata, "add_commit"),
                         "online": (store.ctx.online, "sync")}[point]
        calls, real = itertools.count(), getattr(owner, method)

        def stalled(*args: Any, **kwargs: Any) -> Any:
            if next(calls) == int(nth):
                print(json.dumps({"stalled": point}), flush=True)
                time.sleep(600)
            return real(*args, **kwargs)
        setattr(owner, method, stalled)
    bootstrap = os.environ["FEATURESTORE_TEST_KAFKA_BOOTSTRAP"]
    query = store.get_feature_group(group).insert_stream(
        events(store.spark, bootstrap, topic, per_batch), operation="insert",
        checkpoint_dir=checkpoint, trigger={"processingTime": "1 second"}, statistics_every=0)
    while query.isActive:               # until a batch finds nothing new, then a stop between two
        time.sleep(0.5)
        progress = query.lastProgress
        if progress and progress["numInputRows"] == 0 and not query.status["isDataAvailable"]:
            store.stop_streams()
    if query.exception() is not None:
        raise query.exception()
    print(json.dumps({"done": True}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), (sys.argv[4:] or ["-"])[0],
         (sys.argv[5:] or ["card_tx"])[0])
