"""From a Query to what runs: a plan of sources and join steps over internal column names, then
either Spark DataFrames (:func:`to_frame`) or Spark SQL text (:func:`to_sql`) from the same plan.

Every column a source contributes is renamed ``__fs<part>_<column>`` as it is read, so the joins
never meet two columns of one name; the selected features get their output names at the end.
Point-in-time joins that follow each other on the same left keys run as one step (one window).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from typing import TYPE_CHECKING, Callable, Sequence, Union, cast

from ..names import quote
from .parts import Join, Part, event_time_kind
from . import pit_skew
from .pit import AsOfRight, as_of_join, as_of_join_sql

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

SQL_JOINS = {"inner": "INNER JOIN", "left": "LEFT OUTER JOIN", "right": "RIGHT OUTER JOIN",
             "full": "FULL OUTER JOIN", "left_semi": "LEFT SEMI JOIN",
             "left_anti": "LEFT ANTI JOIN"}
NO_RIGHT_COLUMNS = ("left_semi", "left_anti")


def output_columns(parts: Sequence[Part], joins: Sequence[Join]) -> list[tuple[str, tuple[int, str]]]:
    """(output name, (part index, column)) of every output column, in order. A key of a
    ``using`` join is one column, at its first place; the right side's other features get the
    join's prefix; semi and anti joins add none."""
    merged: dict[tuple[int, str], tuple[int, str]] = {}
    join: Join | None
    for j, join in enumerate(joins, 1):
        if join.using:
            for (i, left), right in zip(join.left_keys, join.right_keys):
                merged[(j, right)] = merged.get((i, left), (i, left))
    outputs: list[tuple[str, tuple[int, str]]] = []
    for j, part in enumerate(parts):
        join = joins[j - 1] if j else None
        if join is not None and join.join_type in NO_RIGHT_COLUMNS:
            continue
        for feature in part.features:
            if (j, feature) in merged:
                entry = (feature, merged[(j, feature)])
            else:
                entry = ((join.prefix if join else "") + feature, (j, feature))
            if entry not in outputs:
                outputs.append(entry)
    return outputs


@dataclass(frozen=True)
class Source:
    index: int
    part: Part
    commit: int | None                  # the commit read (None: the labels)
    columns: tuple[str, ...]            # the columns read from it

    def name(self, column: str) -> str:
        return f"__fs{self.index}_{column}"


@dataclass(frozen=True)
class Plain:
    right: int
    how: str
    pairs: tuple[tuple[str, str], ...]  # (left, right) internal key columns
    merges: tuple[tuple[str, str], ...]  # keys whose left column takes the right's (right/full)


@dataclass(frozen=True)
class AsOf:
    keys: tuple[str, ...]               # left internal key columns
    time: str                           # left internal event time
    kind: str                           # time | number
    rights: tuple[tuple[int, AsOfRight], ...]


Step = Union[Plain, AsOf]


@dataclass(frozen=True)
class Plan:
    sources: tuple[Source, ...]
    steps: tuple[Step, ...]
    outputs: tuple[tuple[str, str], ...]    # (output name, internal column)
    filters: tuple[str, ...]                # over the output columns


def make_plan(parts: Sequence[Part], joins: Sequence[Join], filters: Sequence[str],
              commits: Sequence[int | None]) -> Plan:
    needed = [list(p.features) for p in parts]
    for j, join in enumerate(joins, 1):
        if join.join_type in NO_RIGHT_COLUMNS:
            needed[j] = []
        for i, column in join.left_keys:
            needed[i].append(column)
        needed[j] += join.right_keys
        if join.point_in_time:     # made so only when both sides have an event time
            needed[0].append(cast(str, parts[0].event_time))
            needed[j].append(cast(str, join.right.event_time))
    sources = tuple(Source(i, p, commits[i], tuple(dict.fromkeys(needed[i])))
                    for i, p in enumerate(parts))
    outputs = tuple((name, sources[i].name(c)) for name, (i, c) in output_columns(parts, joins))
    return Plan(sources, _steps(sources, joins), outputs, tuple(filters))


def _steps(sources: Sequence[Source], joins: Sequence[Join]) -> tuple[Step, ...]:
    steps: list[Step] = []
    for j, join in enumerate(joins, 1):
        left = tuple(sources[i].name(c) for i, c in join.left_keys)
        right = tuple(sources[j].name(c) for c in join.right_keys)
        if join.point_in_time:
            root = sources[0]
            # a point-in-time join: both sides have an event time
            side = AsOfRight(right, sources[j].name(cast(str, join.right.event_time)),
                             tuple(sources[j].name(c) for c in sources[j].columns),
                             join.max_age, join.join_type == "inner")
            last = steps[-1] if steps else None
            if isinstance(last, AsOf) and last.keys == left:        # the same left columns
                steps[-1] = AsOf(last.keys, last.time, last.kind, last.rights + ((j, side),))
            else:
                steps.append(AsOf(left, root.name(cast(str, root.part.event_time)),
                                  event_time_kind(root.part) or "time", ((j, side),)))
            continue
        merges = tuple(zip(left, right)) if join.using and join.join_type in ("right", "full") else ()
        steps.append(Plain(j, join.join_type, tuple(zip(left, right)), merges))
    return tuple(steps)


# -- DataFrames ------------------------------------------------------------------------------------
def to_frame(plan: Plan, read: Callable[[Source], DataFrame],
             size: Callable[[Source], int | None] = lambda s: None) -> DataFrame:
    """The plan's rows, from ``read(source)`` (a feature group at its commit, or the labels);
    ``size(source)``, its bytes if known, decides whether a point-in-time join looks for hot
    keys (see :mod:`.pit_skew`)."""
    from pyspark.sql import functions as F

    col = lambda c: F.col(quote(c))  # noqa: E731
    frames = []
    for s in plan.sources:
        frame = read(s)
        for condition in s.part.filters:
            frame = frame.where(condition)
        frames.append(frame.select(*[col(c).alias(s.name(c)) for c in s.columns]))
    acc = frames[0]
    for step in plan.steps:
        if isinstance(step, Plain):
            on = reduce(lambda a, b: a & b, [col(lk) == col(rk) for lk, rk in step.pairs])
            acc = acc.join(frames[step.right], on, step.how)
            for lk, rk in step.merges:
                acc = acc.withColumn(lk, col(rk) if step.how == "right"
                                     else F.coalesce(col(lk), col(rk)))
        else:
            skew = pit_skew.worth(acc.sparkSession,
                                  [size(plan.sources[j]) for j, _ in step.rights])
            acc = as_of_join(acc, step.keys, step.time,
                             [(frames[j], side) for j, side in step.rights], step.kind, skew)
    out = acc.select(*[col(internal).alias(name) for name, internal in plan.outputs])
    for condition in plan.filters:
        out = out.where(condition)
    return out


# -- SQL -------------------------------------------------------------------------------------------
def _where(filters: Sequence[str]) -> str:
    """The filters ANDed; each ends its own line, so that a ``--`` comment in one ends there."""
    return " WHERE " + " AND ".join(f"({f}\n)" for f in filters) if filters else ""


def to_sql(plan: Plan, relation: Callable[[Source], str]) -> str:
    """The plan as one Spark SQL statement (common table expressions, one per source and step),
    reading each source from ``relation(source)``."""
    ctes = []
    columns: dict[str, list[str]] = {}
    types = {s.name(c): s.part.data_type(c) for s in plan.sources for c in s.columns}
    for s in plan.sources:
        cols = ", ".join(f"{quote(c)} AS {quote(s.name(c))}" for c in s.columns)
        ctes.append((f"__fs_p{s.index}", f"SELECT {cols} FROM {relation(s)}{_where(s.part.filters)}"))
        columns[f"__fs_p{s.index}"] = [s.name(c) for c in s.columns]
    acc = "__fs_p0"
    for n, step in enumerate(plan.steps, 1):
        left = columns[acc]
        if isinstance(step, Plain):
            right = f"__fs_p{step.right}"
            merges = dict(step.merges)
            select = [(f"COALESCE(l.{quote(c)}, r.{quote(merges[c])})" if step.how == "full"
                       else f"r.{quote(merges[c])}") + f" AS {quote(c)}" if c in merges
                      else f"l.{quote(c)}" for c in left]
            out = list(left)
            if step.how not in NO_RIGHT_COLUMNS:
                select += [f"r.{quote(c)}" for c in columns[right]]
                out += columns[right]
            on = " AND ".join(f"l.{quote(a)} = r.{quote(b)}" for a, b in step.pairs)
            body = (f"SELECT {', '.join(select)} FROM {acc} AS l {SQL_JOINS[step.how]} "
                    f"{right} AS r ON {on}")
        else:
            rights = [(f"__fs_p{j}", side) for j, side in step.rights]
            body = as_of_join_sql(acc, left, [types[k] for k in step.keys], step.keys, step.time,
                                  rights, types, step.kind)
            out = left + [c for _, side in step.rights for c in side.columns]
        acc = f"__fs_j{n}"
        ctes.append((acc, body))
        columns[acc] = out
    final = "SELECT " + ", ".join(f"{quote(internal)} AS {quote(name)}"
                                  for name, internal in plan.outputs) + f" FROM {acc}"
    if plan.filters:
        final = f"SELECT * FROM ({final}){_where(plan.filters)}"
    return "WITH " + ",\n".join(f"{name} AS (\n{body}\n)" for name, body in ctes) + "\n" + final
