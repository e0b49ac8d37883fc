"""Checks of a DataFrame against a feature group, run before anything is written. Each returns a
list of problems (empty when fine). Data checks are Spark aggregations; only a handful of example
keys ever reach the driver."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from ..metadata import Feature, FeatureGroup
from ..names import name_problem, quote

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

EVENT_TIME_TYPES = ("timestamp", "timestamp_ntz", "date", "bigint", "int")
EXAMPLES = 10


def column_problems(df: DataFrame, primary_key: Sequence[str], partition_by: Sequence[str],
                    event_time: str | None) -> list[str]:
    """Problems with the columns a new feature group would get from ``df``."""
    problems = [p for c in df.columns if (p := name_problem("feature", c))]
    seen: set[str] = set()
    for c in df.columns:
        if c.lower() in seen:
            problems.append(f"column {c!r} appears more than once")
        seen.add(c.lower())
    types = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    for role, cols in (("primary key", primary_key), ("partition", partition_by)):
        problems += [f"{role} column {c!r} is not a column of the DataFrame" for c in cols
                     if c not in types]
    if event_time is not None:
        if event_time not in types:
            problems.append(f"event time column {event_time!r} is not a column of the DataFrame")
        elif types[event_time] not in EVENT_TIME_TYPES:
            problems.append(f"event time column {event_time!r} is {types[event_time]}; it must be "
                            f"one of {', '.join(EVENT_TIME_TYPES)}")
    if partition_by and set(partition_by) >= set(df.columns):
        problems.append("every column is a partition column: keep at least one data column")
    return problems


def schema_problems(group: FeatureGroup, df: DataFrame,
                    evolve: bool) -> tuple[list[str], tuple[Feature, ...]]:
    """Differences between ``df`` and the feature group's features, and the feature list after the
    write (with new columns appended when ``evolve``)."""
    expected = {f.name: f.type for f in group.features}
    actual = {f.name: f.dataType.simpleString() for f in df.schema.fields}
    problems = [f"column {n!r} ({t}) of the feature group is missing from the DataFrame"
                for n, t in expected.items() if n not in actual]
    problems += [f"column {n!r} is {actual[n]} in the DataFrame but {t} in the feature group"
                 for n, t in expected.items() if n in actual and actual[n] != t]
    new = [(n, t) for n, t in actual.items() if n not in expected]
    if new and not evolve:
        problems += [f"column {n!r} ({t}) is not in the feature group; ask for schema evolution "
                     "to add it" for n, t in new]
    problems += [p for n, _ in new if (p := name_problem("feature", n))]
    return problems, group.features + tuple(Feature(n, t) for n, t in new)


def null_problems(df: DataFrame, columns: Sequence[str], role: str) -> list[str]:
    """Rows whose ``columns`` are null (one Spark job)."""
    from pyspark.sql import functions as F
    if not columns:
        return []
    counts = df.agg(*[F.count(F.when(F.col(quote(c)).isNull(), 1)).alias(f"c{i}")
                      for i, c in enumerate(columns)]).first()
    return [f"{counts[i]} row(s) have a null {role} {c!r}" for i, c in enumerate(columns)
            if counts[i]]


def duplicate_key_problems(df: DataFrame, primary_key: Sequence[str]) -> list[str]:
    """Keys that occur in more than one row (one Spark job, a few examples to the driver)."""
    keys = [quote(k) for k in primary_key]
    from pyspark.sql import functions as F
    dups = (df.groupBy(*keys).agg(F.count("*").alias("__fs_n")).where("__fs_n > 1")
            .limit(EXAMPLES).collect())
    return [f"primary key {dict((k, r[k]) for k in primary_key)} occurs in {r['__fs_n']} rows"
            for r in dups]


def latest_per_key(df: DataFrame, primary_key: Sequence[str],
                   event_time: str) -> tuple[DataFrame, list[str]]:
    """One row per key: the one with the latest event time. Keys whose latest event time is shared
    by several rows are problems (which one wins would be arbitrary).

    One aggregation by key, no window (a window over a batch whose key is a constant, such as
    ``SELECT 4 AS team_id, ...``, is planned without partitions, and Spark warns about it in every
    query of the result): rows are numbered, and per key the greatest ``(event time, number)``
    and ``(event time, -number)`` are found; they differ when several rows share the latest event
    time. The row kept is the one with the greatest ``(event time, number)``."""
    from pyspark.sql import functions as F
    keys = list(primary_key)
    rest = [c for c in df.columns if c not in keys]
    at = F.col(quote(event_time))
    number = F.col("__fs_n")
    numbered = df.select(*map(quote, df.columns), F.monotonically_increasing_id().alias("__fs_n"))
    aggregates = [F.max(F.struct(at.alias("t"), number.alias("n"))).alias("__fs_hi"),
                  F.max(F.struct(at.alias("t"), (-number).alias("n"))).alias("__fs_lo")]
    if rest:
        row = F.struct(*[F.col(quote(c)).alias(f"c{i}") for i, c in enumerate(rest)])
        aggregates.append(F.max_by(row, F.struct(at, number)).alias("__fs_row"))
    latest = numbered.groupBy(*map(quote, keys)).agg(*aggregates)
    shown = [quote(k) for k in keys] + ([] if event_time in keys else
                                        [F.col("__fs_hi.t").alias(event_time)])
    ties = (latest.where(F.col("__fs_hi.n") != -F.col("__fs_lo.n")).select(*shown)
            .limit(EXAMPLES).collect())
    problems = [f"primary key {dict((k, r[k]) for k in primary_key)} has several rows with its "
                f"latest event time {r[event_time]}" for r in ties]
    columns = [F.col(quote(c)) if c in keys else F.col(f"__fs_row.c{rest.index(c)}").alias(c)
               for c in df.columns]
    return latest.select(*columns), problems
