"""Card transactions as Kafka events, for jobs/stream_ingest.py: JSON (default) or Avro values
keyed by card, written with Spark's Kafka sink (no client library of its own).

    spark-submit ... jobs/kafka_produce.py --topic transactions [--bootstrap 127.0.0.1:9192]
        [--events 1000] [--cards 50] [--format json|avro] [--start 2025-01-01T00:00:00]

Event i is card ``1 + i % cards``, at ``start`` + i seconds, amount ``(i * 37) % 100``: the same
events every run.
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from featurestore_spark.logs import setup_logging

from stream_ingest import AVRO_SCHEMA      # the consumer's schema (jobs/ is this script's path)

log = logging.getLogger("kafka_produce")


def transactions(spark: SparkSession, events: int, cards: int, start: datetime) -> DataFrame:
    return spark.range(events).select(
        (F.col("id") % cards + 1).cast("int").alias("card_id"), F.col("id").alias("tx_id"),
        (F.lit(start).cast("timestamp") + F.make_interval(secs=F.col("id"))).alias("ts"),
        ((F.col("id") * 37) % 100).cast("double").alias("amount"))


def produce(df: DataFrame, bootstrap: str, topic: str, data_format: str = "json") -> None:
    from pyspark.sql.avro.functions import to_avro
    value = (to_avro(F.struct(*df.columns), AVRO_SCHEMA) if data_format == "avro"
             else F.to_json(F.struct(*df.columns)))
    (df.select(F.col("card_id").cast("string").alias("key"), value.alias("value"))
     .write.format("kafka").option("kafka.bootstrap.servers", bootstrap)
     .option("topic", topic).save())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topic", required=True)
    parser.add_argument("--bootstrap", default="127.0.0.1:9192")
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--cards", type=int, default=50)
    parser.add_argument("--format", choices=("json", "avro"), default="json")
    parser.add_argument("--start", type=datetime.fromisoformat,
                        default=datetime(2025, 1, 1))
    args = parser.parse_args(argv)
    setup_logging()
    spark = SparkSession.builder.appName("kafka_produce").getOrCreate()
    produce(transactions(spark, args.events, args.cards, args.start), args.bootstrap, args.topic,
            args.format)
    log.info("%d events (%s) written to topic %s at %s", args.events, args.format, args.topic,
             args.bootstrap)
    return 0


if __name__ == "__main__":
    sys.exit(main())
