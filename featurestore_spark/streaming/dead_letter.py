"""Bad events of a stream: told apart in each micro-batch, and kept in a dead-letter Delta table
of the feature group (``insert_stream(..., dead_letter=True)``) or named in the query's error.

An event is bad when a primary key or the event time is missing (null), or when Spark's
corrupt-record column (``spark.sql.columnNameOfCorruptRecord``, ``_corrupt_record``: put it in
``from_json``'s schema) holds it: a value that does not parse as its type, or no JSON at all.
Kafka's ``topic``, ``partition`` and ``offset`` columns, kept in the streaming DataFrame, name
each bad event's offset. Neither those nor the corrupt-record column are written to the group
(unless they are features of it).

The dead-letter table, ``<home>/streams/<project>/<name>_<version>/dead-letter``, has one row per
bad event: the reason, the event (its columns as JSON, and the raw record when it did not parse),
its Kafka offset when known, the stream, the micro-batch and the offsets that batch read. Its
appends are idempotent like the group's (Delta's transaction of the stream and the batch), so a
replayed batch keeps each bad event once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from ..names import quote

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

KAFKA = ("topic", "partition", "offset")
FOLDER = "dead-letter"                 # not a query name (letters, digits and _ only)
EXAMPLES = 5
SCHEMA = ("reason STRING, event STRING, raw STRING, topic STRING, partition INT, offset BIGINT, "
          "stream STRING, batch_id BIGINT, batch_offsets STRING, failed_at TIMESTAMP")


@dataclass(frozen=True)
class Columns:
    """What a stream's micro-batches carry beside the group's features."""
    required: tuple[str, ...]          # the primary key and the event time
    corrupt: str | None                # Spark's corrupt-record column, when the batch has it
    kafka: tuple[str, ...]             # Kafka's topic, partition and offset kept by the user

    @property
    def extra(self) -> tuple[str, ...]:
        """Columns that are not written to the group."""
        return self.kafka + ((self.corrupt,) if self.corrupt else ())


def columns(spark: SparkSession, df_columns: Sequence[str], features: Sequence[str],
            required: Sequence[str]) -> Columns:
    corrupt = spark.conf.get("spark.sql.columnNameOfCorruptRecord") or "_corrupt_record"
    extra = [c for c in df_columns if c not in features]
    return Columns(tuple(c for c in required if c in df_columns),
                   corrupt if corrupt in extra else None, tuple(c for c in KAFKA if c in extra))


def reason(cols: Columns) -> Column:
    """Why an event is bad ("; "-joined), null for a good one."""
    from pyspark.sql import functions as F
    whys = [F.when(F.col(quote(c)).isNull(), F.lit(f"{c!r} is missing")) for c in cols.required]
    if cols.corrupt:
        whys.append(F.when(F.col(quote(cols.corrupt)).isNotNull(),
                           F.lit("it does not parse (a value of the wrong type, or not JSON)")))
    if not whys:
        return F.lit(None).cast("string")
    return F.nullif(F.concat_ws("; ", *whys), F.lit(""))


def offset_of(cols: Columns) -> Column:
    """``topic/partition/offset`` of an event, or null when the batch does not carry them."""
    from pyspark.sql import functions as F
    if not cols.kafka:
        return F.lit(None).cast("string")
    return F.concat_ws("/", *[F.col(quote(c)).cast("string") for c in cols.kafka])


def examples(bad: DataFrame, cols: Columns) -> list[str]:
    """A few bad events, each with its reason and offset, for an error."""
    from pyspark.sql import functions as F
    features = [quote(c) for c in bad.columns if c not in cols.extra and c != "__reason"]
    rows = bad.select("__reason", offset_of(cols).alias("at"),
                      F.to_json(F.struct(*features)).alias("event"),
                      (F.col(quote(cols.corrupt)) if cols.corrupt else F.lit(None)).alias("raw")
                      ).limit(EXAMPLES).collect()
    return [f"{r['__reason']}{f' at offset {r.at}' if r.at else ''}: "
            f"{r.raw if r.raw is not None else r.event}" for r in rows]


def rows(bad: DataFrame, cols: Columns, stream: str, batch_id: int,
         batch_offsets: str) -> DataFrame:
    """The dead-letter rows of ``bad`` (marked with ``__reason``), in SCHEMA's columns."""
    from pyspark.sql import functions as F
    features = [quote(c) for c in bad.columns if c not in cols.extra and c != "__reason"]
    kafka = {c: F.col(quote(c)) if c in cols.kafka else F.lit(None) for c in KAFKA}
    return bad.select(
        F.col("__reason").alias("reason"), F.to_json(F.struct(*features)).alias("event"),
        (F.col(quote(cols.corrupt)) if cols.corrupt else F.lit(None)).cast("string").alias("raw"),
        kafka["topic"].cast("string").alias("topic"),
        kafka["partition"].cast("int").alias("partition"),
        kafka["offset"].cast("bigint").alias("offset"), F.lit(stream).alias("stream"),
        F.lit(batch_id).cast("bigint").alias("batch_id"),
        F.lit(batch_offsets).alias("batch_offsets"), F.current_timestamp().alias("failed_at"))
