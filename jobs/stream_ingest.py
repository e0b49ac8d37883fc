"""A streaming feature pipeline: card transactions from Kafka -> per card, its transactions of
the last hour (a sliding window every 10 minutes, late events up to 10 minutes by a watermark) ->
the online feature group ``card_activity``, written exactly once offline and online.

    spark-submit ... (the JARs of .cache/jars and .cache/jars-kafka) jobs/stream_ingest.py \\
        --topic transactions [--bootstrap 127.0.0.1:9192] [--format json|avro] \\
        [--available-now] [--checkpoint DIR]

Events as jobs/kafka_produce.py writes them. Without ``--available-now`` it runs until SIGTERM
(or Ctrl-C), which stops the query between two micro-batches; a restart resumes from the
checkpoint (default: the feature group's folder under the feature store home).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

import featurestore_spark as fs
from featurestore_spark.logs import setup_logging

log = logging.getLogger("stream_ingest")
GROUP = "card_activity"
EVENT = "card_id INT, tx_id BIGINT, ts TIMESTAMP, amount DOUBLE"
# the events' Avro schema (its JSON form, as from_avro and to_avro take it)
AVRO_SCHEMA = """{"type": "record", "name": "Transaction", "fields": [
  {"name": "card_id", "type": "int"}, {"name": "tx_id", "type": "long"},
  {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-micros"}},
  {"name": "amount", "type": "double"}]}"""


def events(spark: Any, bootstrap: str, topic: str, data_format: str = "json",
           per_batch: int | None = None) -> DataFrame:
    """The topic's transactions as a streaming DataFrame (from the topic's start)."""
    reader = (spark.readStream.format("kafka").option("kafka.bootstrap.servers", bootstrap)
              .option("subscribe", topic).option("startingOffsets", "earliest"))
    if per_batch:
        reader = reader.option("maxOffsetsPerTrigger", per_batch)
    raw = reader.load()
    if data_format == "avro":
        from pyspark.sql.avro.functions import from_avro
        parsed = from_avro(F.col("value"), AVRO_SCHEMA)
    else:
        parsed = F.from_json(F.col("value").cast("string"), EVENT)
    return raw.select(parsed.alias("e")).select("e.*")


def card_activity(transactions: DataFrame) -> DataFrame:
    """Each card's transactions in the hour before each 10-minute mark: count, sum and largest
    amount, with the window's end as the event time."""
    hourly = (transactions.withWatermark("ts", "10 minutes")
              .groupBy("card_id", F.window("ts", "1 hour", "10 minutes"))
              .agg(F.count("*").alias("tx_count_1h"), F.sum("amount").alias("amount_sum_1h"),
                   F.max("amount").alias("amount_max_1h")))
    return hourly.select("card_id", F.col("window.end").alias("window_end"), "tx_count_1h",
                         "amount_sum_1h", "amount_max_1h")


def feature_group(store: fs.FeatureStore) -> Any:
    """The feature group the stream writes (made, empty, on the first run)."""
    fg = store.get_or_create_feature_group(
        GROUP, primary_key=["card_id"], event_time="window_end", online_enabled=True,
        description="each card's transactions in the last hour, from Kafka")
    if not fg.features:                     # not created yet
        schema = "card_id INT, window_end TIMESTAMP, tx_count_1h BIGINT, amount_sum_1h DOUBLE, " \
                 "amount_max_1h DOUBLE"
        fg.save(store.spark.createDataFrame([], schema))
    return fg


def start(store: fs.FeatureStore, bootstrap: str, topic: str, data_format: str = "json",
          available_now: bool = False, checkpoint: str | None = None,
          per_batch: int | None = None) -> Any:
    fg = feature_group(store)
    return fg.insert_stream(card_activity(events(store.spark, bootstrap, topic, data_format,
                                                 per_batch)),
                            query_name="card_activity", checkpoint_dir=checkpoint,
                            trigger={"availableNow": True} if available_now
                            else {"processingTime": "5 seconds"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topic", required=True)
    parser.add_argument("--bootstrap", default="127.0.0.1:9192")
    parser.add_argument("--format", choices=("json", "avro"), default="json")
    parser.add_argument("--available-now", action="store_true",
                        help="read what the topic holds, then stop")
    parser.add_argument("--checkpoint")
    args = parser.parse_args(argv)
    setup_logging()
    store = fs.connect()
    signal.signal(signal.SIGTERM, lambda *_: store.stop_streams())
    query = start(store, args.bootstrap, args.topic, args.format, args.available_now,
                  args.checkpoint)
    try:
        while query.isActive:               # short waits: a signal is handled between them
            query.awaitTermination(1)
    except KeyboardInterrupt:
        store.stop_streams()
    if query.exception() is not None:
        log.error("the stream stopped: %s", query.exception())
        return 1
    group = store.get_feature_group(GROUP)
    log.info("%s v%s: %d commits", GROUP, group.version, len(store.commits(GROUP)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
