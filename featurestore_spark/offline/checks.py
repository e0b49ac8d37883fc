"""Checks of a DataFrame against a feature group, run before anything is written. Each returns a
list of problems (empty when fine). Data checks are Spark aggregations; only a handful of example
keys ever reach the driver."""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence, cast

from ..metadata import Feature, FeatureGroup
from ..names import name_problem, quote

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, Row

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
    return rows_and_null_problems(df, columns, role)[1] if columns else []


def rows_and_null_problems(df: DataFrame, columns: Sequence[str],
                           role: str) -> tuple[int, list[str]]:
    """The number of rows of ``df``, and the rows whose ``columns`` are null (one Spark job)."""
    from pyspark.sql import functions as F
    # a global aggregation: exactly one row
    counts = cast("Row", df.agg(F.count(F.lit(1)).alias("n"),
                                *[F.count(F.when(F.col(quote(c)).isNull(), 1)).alias(f"c{i}")
                                  for i, c in enumerate(columns)]).first())
    return counts["n"], [f"{counts[f'c{i}']} row(s) have a null {role} {c!r}"
                         for i, c in enumerate(columns) if counts[f"c{i}"]]


def duplicate_key_problems(df: DataFrame, primary_key: Sequence[str]) -> list[str]:
    """Keys that occur in more than one row (one Spark job, a few examples to the driver)."""
    keys = [quote(k) for k in primary_key]
    from pyspark.sql import functions as F
    dups = (df.groupBy(*keys).agg(F.count("*").alias("__fs_n")).where("__fs_n > 1")
            .limit(EXAMPLES).collect())
    return [f"primary key {dict((k, r[k]) for k in primary_key)} occurs in {r['__fs_n']} rows"
            for r in dups]


TIES = ("rows of one primary key at one event time are refused on every write of a feature group "
        "with an event time: a key and an event time name one event, so a point-in-time join "
        "and the online table could each pick another of them. Keep one row per key and event "
        "time")


def event_time_ties(df: DataFrame, primary_key: Sequence[str], event_time: str) -> list[str]:
    """Rows of ``df`` that share their primary key and event time (one Spark job, a few example
    keys to the driver); with any, the rule as the last problem."""
    from pyspark.sql import functions as F
    cols = list(dict.fromkeys([*primary_key, event_time]))
    dups = (df.groupBy(*map(quote, cols)).agg(F.count(F.lit(1)).alias("__fs_n"))
            .where("__fs_n > 1").limit(EXAMPLES).collect())
    problems = [f"primary key {dict((k, r[k]) for k in primary_key)} has {r['__fs_n']} rows at "
                f"event time {r[event_time]}" for r in dups]
    return problems + [TIES] if problems else []


def stored_event_problems(df: DataFrame, stored: DataFrame, primary_key: Sequence[str],
                          event_time: str, where: str) -> list[str]:
    """Rows of ``df`` whose primary key and event time a row of ``stored`` has already (one
    Spark job over the key and event time columns, a few examples to the driver); with any, the
    rule as the last problem."""
    cols = list(dict.fromkeys([*primary_key, event_time]))
    quoted = list(map(quote, cols))
    found = (df.select(*quoted).join(stored.select(*quoted), cols, "left_semi")
             .limit(EXAMPLES).collect())
    problems = [f"primary key {dict((k, r[k]) for k in primary_key)} has a row at event time "
                f"{r[event_time]} in {where} already" for r in found]
    return problems + [TIES + " (to replace stored rows, upsert or overwrite them)"] \
        if problems else []


def latest_per_key(df: DataFrame, primary_key: Sequence[str], event_time: str | None) -> DataFrame:
    """One row per key: the one with the latest event time (lazy: no Spark job).

    The tie policy: rows that share a key and an event time are refused before they are written
    (``event_time_ties``, on every write), so the latest row of a key is one row and which one is
    kept is never arbitrary. Without an event time any one row of a key is kept: writes that need
    one row per key refuse duplicate keys first (``duplicate_key_problems``).

    One aggregation by key, no window (a window over a batch whose key is a constant, such as
    ``SELECT 4 AS team_id, ...``, is planned without partitions, and Spark warns about it in every
    query of the result)."""
    if not event_time:
        return df.dropDuplicates(list(primary_key))
    return last_per_key(df, primary_key, event_time, df.columns)


def last_per_key(df: DataFrame, keys: Sequence[str], order: str,
                 columns: Sequence[str]) -> DataFrame:
    """The ``columns`` of one row per key: the one with the greatest ``order`` (lazy: one
    aggregation by key, ``max_by`` of a struct of the other columns; no window)."""
    from pyspark.sql import functions as F
    rest = [c for c in columns if c not in keys]
    if not rest:          # every column is a key column: one row per key already
        return df.select(*map(quote, columns)).distinct()
    row = "struct(" + ", ".join(f"{quote(c)} AS c{i}" for i, c in enumerate(rest)) + ")"
    latest = (df.groupBy(*map(quote, keys))
              .agg(F.expr(f"max_by({row}, {quote(order)}) AS __fs_row")))
    return latest.selectExpr(*[quote(c) if c in keys else f"__fs_row.c{rest.index(c)} AS {quote(c)}"
                               for c in columns])
