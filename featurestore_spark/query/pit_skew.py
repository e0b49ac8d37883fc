"""Hot keys of a point-in-time join, cut into event-time ranges so that no task holds them whole.

The join (see :mod:`.pit`) puts every row of a key into one window partition, so one task. A key
that holds a large share of the rows (a hot key: one device, one big customer) makes that task
the straggler, and at scale the one that runs out of memory. Before the join is built:

1. One small Spark job counts a sample of the rows of both sides (key and event time only) and
   names the keys with at least half of a task's share of them (rows / shuffle partitions).
2. If there are any, a second one takes those keys' event-time quantiles from the sample; each
   hot key is cut there into ranges of about a quarter of a task's share (``Skew.slices``).
3. A range is a window partition of its own: the window is partitioned by the key and a place
   number, chosen per range so that the ranges of the hot keys hash to different tasks
   (Spark's hash partitioning is ``pmod(hash(columns), partitions)``, which ``F.hash`` computes;
   were that to change, only the balance would suffer, never the rows).
4. What a left row of a range would have seen from the rows of earlier ranges is each right
   side's latest row before the range: one aggregation over the hot keys' right rows
   (``max_by`` in the window's order) per range, copied into every later range ("carried"
   rows, ordered before the range's own rows since their event times are earlier).

Keys that are not hot keep one partition each, as before. The cuts come from a sample, so they
only decide the balance: every cut gives the same rows.

The sampling job reads the key and event time of every row (about a second per 4 million rows
on 2 cores), so a query samples only when its feature groups' files hold at least
``spark.featurestore.pointInTime.skewMinBytes`` (256 MiB; the sizes of Delta tables from their
logs; external groups are not counted): below that no task can hold much.
``spark.featurestore.pointInTime.skewSplit = false`` turns it off.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from functools import cached_property, reduce
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import ConfigurationError
from ..names import quote

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.types import DataType

log = logging.getLogger(__name__)

ORD, PLACE, COUNT, GROUPING = "__fs_o", "__fs_place", "__fs_n", "__fs_g"
SWITCH = "spark.featurestore.pointInTime.skewSplit"
MIN_BYTES = "spark.featurestore.pointInTime.skewMinBytes"
_UNITS = {"": 1, "k": 2 ** 10, "m": 2 ** 20, "g": 2 ** 30, "t": 2 ** 40}


@dataclass(frozen=True)
class Skew:
    """How hot keys are found and cut."""
    fraction: float = 0.01      # of the rows sampled
    min_sampled: int = 2000     # a smaller sample (small data): no cut
    slices: int = 4             # a range holds about 1/slices of a task's share of the rows
    max_keys: int = 32          # hot keys cut at most (the largest)
    max_ranges: int = 64        # ranges per hot key at most
    seed: int = 20261130


SKEW = Skew()
OFF = Skew(fraction=0.0)


def worth(spark: SparkSession, sizes: Sequence[int | None]) -> Skew:
    """SKEW when the sides' known sizes in bytes reach ``skewMinBytes``, else OFF."""
    text = spark.conf.get(MIN_BYTES, "256m") or "0"
    found = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)i?b?\s*", text.lower())
    if found is None:
        raise ConfigurationError(f"{MIN_BYTES} must be a size such as 256m or 1g (got {text!r})")
    least = int(found[1]) * _UNITS[found[2]]
    return SKEW if sum(s or 0 for s in sizes) >= least else OFF


def partitions(spark: SparkSession) -> int:
    """The number of partitions of the window's shuffle."""
    conf = spark.conf
    on = lambda key: (conf.get(key, "true") or "").lower() == "true"  # noqa: E731
    initial = conf.get("spark.sql.adaptive.coalescePartitions.initialPartitionNum", None)
    if initial and on("spark.sql.adaptive.enabled") and \
            on("spark.sql.adaptive.coalescePartitions.enabled"):
        return int(initial)
    try:
        return int(conf.get("spark.sql.shuffle.partitions", "200") or 200)
    except ValueError:          # "auto" on some platforms: Spark's default
        return 200


def _literal(value: Any, data_type: DataType) -> Column:
    """A collected key value as a literal of its column's type (a timestamp_ntz comes back as a
    naive datetime, which ``F.lit`` would read in the driver's time zone)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import TimestampNTZType
    if isinstance(data_type, TimestampNTZType):
        return F.lit(value.isoformat(sep=" ")).cast(data_type)
    return F.lit(value).cast(data_type)


def _match(keys: Sequence[str], values: Sequence[Any], types: Sequence[DataType]) -> Column:
    from pyspark.sql import functions as F
    return reduce(lambda a, b: a & b, [F.col(quote(k)) == _literal(v, t)
                                       for k, v, t in zip(keys, values, types)])


@dataclass(frozen=True)
class Split:
    """The hot keys, each with its cut points (event times as the join orders them) and the
    place number of each of its ranges; its columns are built once (each a py4j round trip
    per literal)."""
    keys: tuple[str, ...]
    types: tuple[DataType, ...]
    time: str
    values: tuple[tuple[Any, ...], ...]
    cuts: tuple[tuple[int, ...], ...]
    places: tuple[tuple[int, ...], ...]

    def _case(self, of: Sequence[Column], otherwise: Column) -> Column:
        from pyspark.sql import functions as F
        expr = None
        for values, value in zip(self.values, of):
            m = _match(self.keys, values, self.types)
            expr = F.when(m, value) if expr is None else expr.when(m, value)
        return (otherwise if expr is None else expr.otherwise(otherwise)).cast("int")

    @cached_property
    def hot(self) -> Column:
        return reduce(lambda a, b: a | b, [_match(self.keys, v, self.types) for v in self.values])

    @cached_property
    def ordinal(self) -> Column:
        """The range of a row: how many of its key's cut points its event time reaches."""
        from pyspark.sql import functions as F
        ts = F.col(self.time)
        return self._case([reduce(lambda a, b: a + b, [(ts >= F.lit(c)).cast("int") for c in cuts])
                           for cuts in self.cuts], F.lit(0))

    @cached_property
    def last(self) -> Column:
        from pyspark.sql import functions as F
        return self._case([F.lit(len(cuts)) for cuts in self.cuts], F.lit(0))

    @cached_property
    def place(self) -> Column:
        from pyspark.sql import functions as F
        return self._case([F.element_at(F.array(*[F.lit(p) for p in places]), F.col(ORD) + 1)
                           for places in self.places], F.lit(0))

    def carried(self, rights: Sequence[tuple[DataFrame, str, Column | None]],
                ts_field: str) -> DataFrame:
        """The right rows carried into later ranges: per hot key and range, each right side's
        latest row there (by event time, then its order in the window), copied into every
        later range as one row with the structs of all sides and the latest of their event
        times. ``rights``: per side its rows, its match struct column and its order column
        (None: the event time alone)."""
        from pyspark.sql import functions as F
        keys = [F.col(quote(k)) for k in self.keys]
        ts = F.col(self.time)
        hot = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), [
            frame.where(self.hot).select(*keys, ts, F.col(struct),
                                           (ts if order is None else F.struct(ts, order))
                                           .alias(f"{struct}_by"))
            for frame, struct, order in rights])
        latest = (hot.withColumn(ORD, self.ordinal).groupBy(*keys, F.col(ORD))
                  .agg(*[F.max_by(F.col(struct), F.col(f"{struct}_by")).alias(struct)
                         for _, struct, _ in rights]))
        structs = [F.col(struct) for _, struct, _ in rights]
        later = latest.where(F.col(ORD) < self.last).select(
            *keys, F.explode(F.sequence(F.col(ORD) + 1, self.last)).alias(ORD), *structs)
        newest = structs[0][ts_field] if len(structs) == 1 else \
            F.greatest(*[c[ts_field] for c in structs])
        return later.select(*keys, F.col(ORD), newest.alias(self.time), *structs)


def plan(spark: SparkSession, frames: Sequence[DataFrame], keys: Sequence[str], time: str,
         skew: Skew = SKEW) -> Split | None:
    """The hot keys of ``frames`` (each with the columns ``keys`` and ``time``, the event time
    as a number) and their cuts, or None when there is none (a Spark job that samples them,
    and a second over the sample when there are hot keys)."""
    from pyspark.sql import functions as F
    n = partitions(spark)
    if n < 2 or skew.fraction <= 0 or (spark.conf.get(SWITCH, "true") or "").lower() == "false":
        return None
    cols = [F.col(quote(k)) for k in (*keys, time)]
    usable = reduce(lambda a, b: a & b, [c.isNotNull() for c in cols])
    sample = reduce(lambda a, b: a.unionByName(b), [f.select(*cols).where(usable) for f in frames])
    sample = sample.sample(fraction=skew.fraction, seed=skew.seed).cache()   # read twice at most
    try:
        return _found(spark, sample, keys, time, skew, n)
    finally:
        sample.unpersist()


def _found(spark: SparkSession, sample: DataFrame, keys: Sequence[str], time: str, skew: Skew,
           n: int) -> Split | None:
    from pyspark.sql import functions as F
    counted = (sample.groupingSets([[F.col(quote(k)) for k in keys], []], *[F.col(quote(k)) for k in keys])
               .agg(F.count(F.lit(1)).alias(COUNT), F.grouping_id().alias(GROUPING)))
    top = counted.orderBy(F.desc(COUNT)).limit(skew.max_keys + 1).collect()
    total = next((r[COUNT] for r in top if r[GROUPING]), 0)
    hot = {tuple(r[k] for k in keys): r[COUNT] for r in top
           if not r[GROUPING] and r[COUNT] * 2 * n >= total}
    if total < skew.min_sampled or not hot:
        return None
    grid = skew.max_ranges
    types = [sample.schema[k].dataType for k in keys]
    found = (sample.where(reduce(lambda a, b: a | b, [_match(keys, v, types) for v in hot]))
             .groupBy(*[F.col(quote(k)) for k in keys])
             .agg(F.percentile_approx(F.col(time), [j / grid for j in range(1, grid)], 10_000)
                  .alias("q")).collect())
    values, cuts = [], []
    for r in found:
        key = tuple(r[k] for k in keys)
        ranges = min(grid, math.ceil(hot[key] * n * skew.slices / total))
        points = sorted({int(r["q"][round(j * grid / ranges) - 1]) for j in range(1, ranges)})
        if points:
            values.append(key)
            cuts.append(tuple(points))
    if not values:
        return None
    loads = [hot[v] / (len(c) + 1) for v, c in zip(values, cuts)]
    places = _places(spark, types, values, [len(c) + 1 for c in cuts], loads, n)
    log.info("point-in-time join: %d hot key(s) cut into %s event-time ranges (a sample of %d "
             "rows; %d shuffle partitions)", len(values), "/".join(str(len(c) + 1) for c in cuts),
             total, n)
    return Split(tuple(keys), tuple(types), time, tuple(values), tuple(cuts), places)


def _places(spark: SparkSession, types: Sequence[DataType], values: Sequence[tuple[Any, ...]],
            ranges: Sequence[int], loads: Sequence[float], n: int) -> tuple[tuple[int, ...], ...]:
    """A place number per range of each hot key such that the ranges go to the least loaded
    tasks, a key's ranges to different ones while there are enough (one tiny Spark job: the
    smallest place number of 8 x partitions candidates that goes to each task)."""
    from pyspark.sql import functions as F
    candidates = spark.range(0, 8 * n, 1, 1).select(F.col("id").cast("int").alias(PLACE))
    hashed = reduce(lambda a, b: a.unionByName(b), [candidates.select(
        F.lit(i).alias("__fs_i"), PLACE, F.pmod(F.hash(
            *[_literal(v, t) for v, t in zip(value, types)], F.col(PLACE)),
            F.lit(n)).alias("p")) for i, value in enumerate(values)]
    ).groupBy("__fs_i", "p").agg(F.min(PLACE).alias(PLACE)).collect()
    where: dict[int, dict[int, int]] = {}       # key -> task -> a place number going there
    for r in hashed:
        where.setdefault(r["__fs_i"], {}).setdefault(r["p"], r[PLACE])
    load = [0.0] * n
    out: list[tuple[int, ...]] = [()] * len(values)
    for i in sorted(range(len(values)), key=lambda i: -loads[i]):
        free = dict(where.get(i, {}))
        chosen = []
        for _ in range(ranges[i]):
            pool = free or where.get(i, {0: 0})
            task = min(pool, key=lambda p: (load[p], p))
            chosen.append(pool.pop(task) if free else pool[task])
            load[task] += loads[i]
        out[i] = tuple(chosen)
    return tuple(out)
