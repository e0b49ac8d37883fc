"""Point-in-time (as-of) joins: each left row gets, from each right side, the latest row of the
same key whose event time is at or before the left row's.

How it runs (the same in :func:`as_of_join` and the SQL of :func:`as_of_join_sql`): the left rows
and the right rows are put in one relation (``UNION ALL``), the right rows carrying their columns
in one struct (the tie-break columns first). One window per key, ordered by (event time, side,
the structs themselves), with the right rows before the left rows at equal times, takes for every
row the last non-null right struct so far;
the left rows are then kept. That is one shuffle by key and one sort, however many right rows a
key has (no range join), and one output row per left row by construction: left rows are never
joined, they only look back. Several right sides on the same left keys share the one window.
A key that holds a large share of the rows is cut into event-time ranges, each a window
partition of its own, with each side's latest row before a range carried into it
(:mod:`.pit_skew`; only the DataFrame form: the SQL of :func:`as_of_join_sql` does not cut).

Rules
-----
- At or before: a right row whose event time equals the left row's is used; a later one never.
- Ties (several right rows of one key at one event time): the one whose columns brought over
  (other than the key and event time, compared in their order, nulls lowest) are greatest in
  Spark's sort order wins; map-typed columns cannot be ordered and are left out of the
  comparison, so rows that differ only in those are tied and either may be used.
- Keys are compared as typed columns (several key columns are never concatenated); right rows
  with a null key or a null event time are never used; left rows with a null key or a null
  event time get nulls.
- ``max_age``: a right row older than that (left time minus right time greater than it) is not
  used, and the left row gets nulls from that side.
- Event times of type timestamp, timestamp_ntz and date are compared as instants (timestamp_ntz
  and date are read in the session time zone), others (int, bigint) as numbers; ``max_age`` is in
  seconds for the former and in the event time's own units for the latter.
- ``inner``: left rows without a row from that side are dropped (the default keeps them).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING, Callable, Mapping, Sequence, cast

from ..names import quote
from . import pit_skew
from .parts import orderable

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import DataType

TS, SIDE, RIGHT_TS = "__fs_ts", "__fs_side", "__fs_rt"
LEFT_SIDE, RIGHT_SIDE = 1, 0
MICROS = 1_000_000


@dataclass(frozen=True)
class AsOfRight:
    """One right side: its key columns (pairwise with the left keys), event time, the columns
    it brings, and its options."""
    keys: tuple[str, ...]
    time: str
    columns: tuple[str, ...]
    max_age: float | None = None        # seconds for times, units for numeric event times
    inner: bool = False


def _limit(max_age: float | None, kind: str) -> float | int | None:
    if max_age is None:
        return None
    return round(max_age * MICROS) if kind == "time" else max_age


def _names(i: int) -> tuple[str, str, str]:
    return f"__fs_r{i}", f"__fs_t{i}", f"__fs_m{i}"


def _ties(right: AsOfRight, type_of: Callable[[str], DataType]) -> list[str]:
    """The columns that order right rows of one key and event time (the tie-break)."""
    return [c for c in right.columns
            if c not in right.keys and c != right.time and orderable(type_of(c))]


def _fields(right: AsOfRight, type_of: Callable[[str], DataType]) -> tuple[list[str], list[str] | None]:
    """The right side's columns in the order of its match struct, the tie-break columns first,
    so that ordering the window by the struct itself breaks ties by the rule (the columns after
    them, keys and event time, only order rows that are tied anyway); and the tie-break columns
    when the struct cannot be ordered (it holds a map), to order by a struct of their own."""
    ties = _ties(right, type_of)
    rest = [c for c in right.columns if c not in ties]
    return ties + rest, None if all(orderable(type_of(c)) for c in rest) else ties


# -- DataFrames ------------------------------------------------------------------------------------
def _order_value(column: Column, kind: str) -> Column:
    from pyspark.sql import functions as F
    return F.unix_micros(column.cast("timestamp")) if kind == "time" else column.cast("bigint")


def as_of_join(left: DataFrame, keys: Sequence[str], time: str,
               rights: Sequence[tuple[DataFrame, AsOfRight]], kind: str,
               skew: pit_skew.Skew | None = None) -> DataFrame:
    """``left`` with the columns of every right side added, one row per left row.

    Parameters
    ----------
    left : the left rows; its column names must not start with ``__fs_`` followed by a letter.
    keys : the left key columns.
    time : the left event time column.
    rights : (DataFrame, AsOfRight) per right side; their column names differ from the left's.
    kind : ``time`` or ``number``, how the event times compare.
    skew : how hot keys are found and cut into event-time ranges (see :mod:`.pit_skew`;
        default ``pit_skew.SKEW``).

    Examples
    --------
    >>> as_of_join(labels, ["player_id"], "ts",
    ...            [(ratings, AsOfRight(("player_id",), "updated", ("rating",)))], "time")
    ... # doctest: +SKIP
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    col = lambda c: F.col(quote(c))  # noqa: E731
    frames = [left.select("*", _order_value(col(time), kind).alias(TS),
                          F.lit(LEFT_SIDE).alias(SIDE))]
    order, carry_order = [], []
    for i, (frame, r) in enumerate(rights):
        struct, tie, _ = _names(i)
        usable = reduce(lambda a, b: a & b, [col(c).isNotNull() for c in (*r.keys, r.time)])
        # the cast: mypy cannot infer a lambda with a default (f: bound per loop iteration)
        fields, ties = _fields(r, cast("Callable[[str], DataType]",
                                       lambda c, f=frame: f.schema[c].dataType))
        extra = [] if ties is None else [
            (F.struct(*[col(c) for c in ties]) if ties else F.lit(None)).alias(tie)]
        frames.append(frame.where(usable).select(
            *[col(rk).alias(lk) for rk, lk in zip(r.keys, keys)],
            _order_value(col(r.time), kind).alias(TS), F.lit(RIGHT_SIDE).alias(SIDE),
            F.struct(*[col(c) for c in fields],
                     _order_value(col(r.time), kind).alias(RIGHT_TS)).alias(struct), *extra))
        order.append(col(struct if ties is None else tie))
        carry_order.append(col(struct) if ties is None else col(tie) if ties else None)
    split = pit_skew.plan(left.sparkSession, frames, keys, TS, skew or pit_skew.SKEW)
    if split is not None:           # hot keys: cut into event-time ranges (see pit_skew)
        carried = split.carried([(frames[i + 1], _names(i)[0], carry_order[i])
                                 for i in range(len(rights))], RIGHT_TS)
        frames = [f.withColumn(pit_skew.ORD, split.ordinal) for f in frames] + [
            carried.withColumn(SIDE, F.lit(RIGHT_SIDE))]
    union = reduce(lambda a, b: a.unionByName(b, allowMissingColumns=True), frames)
    places = []
    if split is not None:
        union = union.withColumn(pit_skew.PLACE, split.place)
        places.append(col(pit_skew.PLACE))
    window = (Window.partitionBy(*[col(k) for k in keys], *places)
              .orderBy(col(TS), col(SIDE), *order)
              .rowsBetween(Window.unboundedPreceding, Window.currentRow))
    looked = union.select(*[col(c) for c in left.columns], col(TS), col(SIDE), *[
        F.last(col(_names(i)[0]), ignorenulls=True).over(window).alias(_names(i)[2])
        for i in range(len(rights))]).where(col(SIDE) == LEFT_SIDE)
    for i, (_, r) in enumerate(rights):
        match = col(_names(i)[2])
        limit = _limit(r.max_age, kind)
        if limit is not None:
            looked = looked.withColumn(_names(i)[2], F.when(
                col(TS) - match[RIGHT_TS] <= F.lit(limit), match))
        if r.inner:
            looked = looked.where(col(_names(i)[2]).isNotNull())
    widened = {c: left.schema[c].dataType for c in keys
               if union.schema[c].dataType != left.schema[c].dataType}
    return looked.select(
        *[col(c).cast(widened[c]).alias(c) if c in widened else col(c) for c in left.columns],
        *[col(_names(i)[2])[c].alias(c) for i, (_, r) in enumerate(rights) for c in r.columns])


# -- SQL -------------------------------------------------------------------------------------------
def _sql_order_value(column: str, kind: str) -> str:
    c = quote(column)
    return f"unix_micros(CAST({c} AS TIMESTAMP))" if kind == "time" else f"CAST({c} AS BIGINT)"


def _literal(name: str) -> str:
    return "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _struct(columns: Sequence[str], extra: Sequence[tuple[str, str]] = ()) -> str:
    fields = [f"{_literal(c)}, {quote(c)}" for c in columns] + [f"{_literal(n)}, {e}"
                                                                for n, e in extra]
    return f"named_struct({', '.join(fields)})" if fields else "NULL"


def as_of_join_sql(left: str, left_columns: Sequence[str], key_types: Sequence[DataType],
                   keys: Sequence[str], time: str,
                   rights: Sequence[tuple[str, AsOfRight]], types: Mapping[str, DataType],
                   kind: str) -> str:
    """The SQL of :func:`as_of_join` over relations named ``left`` and the rights' names.

    ``left_columns`` are the left relation's columns, ``key_types`` the types of ``keys`` (the
    union widens keys of different types; they are cast back), ``types`` those of the right
    sides' columns."""
    n = len(rights)
    lcols = ", ".join(quote(c) for c in left_columns)
    shapes = [_fields(r, types.__getitem__) for _, r in rights]
    names = [(_names(i)[0],) if ties is None else _names(i)[:2] for i, (_, ties) in enumerate(shapes)]
    empty = "".join(f", NULL AS {c}" for own in names for c in own)
    branches = [f"SELECT {lcols}, {_sql_order_value(time, kind)} AS {TS}, {LEFT_SIDE} AS {SIDE}"
                f"{empty} FROM {left}"]
    for i, (relation, r) in enumerate(rights):
        fields, ties = shapes[i]
        by_key = dict(zip(keys, r.keys))
        values = ", ".join(f"{quote(by_key[c])} AS {quote(c)}" if c in by_key else f"NULL AS {quote(c)}"
                           for c in left_columns)
        mine = [_struct(fields, [(RIGHT_TS, _sql_order_value(r.time, kind))])]
        if ties is not None:
            mine.append(_struct(ties))
        own = "".join(f", {mine[k]} AS {c}" if j == i else f", NULL AS {c}"
                      for j in range(n) for k, c in enumerate(names[j]))
        usable = " AND ".join(f"{quote(c)} IS NOT NULL" for c in (*r.keys, r.time))
        branches.append(f"SELECT {values}, {_sql_order_value(r.time, kind)} AS {TS}, "
                        f"{RIGHT_SIDE} AS {SIDE}{own} FROM {relation} WHERE {usable}")
    union = "\n    UNION ALL\n    ".join(branches)
    order = ", ".join([TS, SIDE] + [own[-1] for own in names])
    lasts = ", ".join(f"LAST({_names(i)[0]}, TRUE) OVER w AS {_names(i)[2]}" for i in range(n))
    matches = []
    for i, (_, r) in enumerate(rights):
        m, limit = _names(i)[2], _limit(r.max_age, kind)
        matches.append(m if limit is None else
                       f"CASE WHEN {TS} - {m}.{RIGHT_TS} <= {limit!r} THEN {m} END AS {m}")
    inner = [f"{_names(i)[2]} IS NOT NULL" for i, (_, r) in enumerate(rights) if r.inner]
    types = dict(zip(keys, key_types))
    outputs = [f"CAST({quote(c)} AS {types[c].simpleString()}) AS {quote(c)}" if c in types
               else quote(c) for c in left_columns]
    outputs += [f"{_names(i)[2]}.{quote(c)} AS {quote(c)}" for i, (_, r) in enumerate(rights)
                for c in r.columns]
    return (f"SELECT {', '.join(outputs)} FROM (\n"
            f"  SELECT {lcols}, {', '.join(matches)} FROM (\n"
            f"   SELECT {lcols}, {TS}, {SIDE}, {lasts} FROM (\n    {union}\n   )\n"
            f"   WINDOW w AS (PARTITION BY {', '.join(quote(k) for k in keys)} ORDER BY {order} "
            f"ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)\n"
            f"  ) WHERE {SIDE} = {LEFT_SIDE}\n)" + (f" WHERE {' AND '.join(inner)}" if inner else ""))
