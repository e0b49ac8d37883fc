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
    by several rows are problems (which one wins would be arbitrary)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    w = Window.partitionBy(*[quote(k) for k in primary_key]).orderBy(F.col(quote(event_time)).desc())
    ranked = df.withColumn("__fs_rank", F.rank().over(w)).withColumn("__fs_row", F.row_number().over(w))
    ties = (ranked.where("__fs_rank = 1 AND __fs_row = 2").select(*map(quote, primary_key), quote(event_time))
            .limit(EXAMPLES).collect())
    problems = [f"primary key {dict((k, r[k]) for k in primary_key)} has several rows with its "
                f"latest event time {r[event_time]}" for r in ties]
    return ranked.where("__fs_row = 1").drop("__fs_rank", "__fs_row"), problems
