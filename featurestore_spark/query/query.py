"""Query: an immutable description of which features to read from which feature groups, at which
commits, joined how. Every method returns a new Query; the one it was called on does not change.

A query starts from a feature group (``store.query("players")``) or from a DataFrame of labels
(``store.query_labels(df, event_time="ts")``), and is composed with ``select`` / ``selectAll`` /
``selectExcept``, ``join``, ``filter`` and ``asOf``. ``read()`` builds the Spark DataFrame (no
rows go through the driver), ``toSql()`` gives the same as Spark SQL text, and ``to_dict()`` /
``Query.from_dict()`` record it as plain JSON, with the commit each feature group is read at once
``pinned()``, so the same rows can be read again later.

Joins
-----
- Keys: ``on`` (columns of the same name on both sides: one output column each, as SQL's USING),
  or ``left_on`` / ``right_on`` (``group.column`` picks the left feature group). Without them,
  the keys are inferred: the first left feature group (in join order) that has every column of
  the right one's primary key, or whose own primary key the right one has.
- Point in time: when the left side (the query's first feature group, or the labels) and the
  joined feature group both have an event time, each left row gets the joined group's latest
  row at or before its own event time (see :mod:`.pit`); ``point_in_time=False`` joins plainly.
- Filters: ``filter`` on a query without joins filters that feature group (or the labels) before
  any join and may name any of its features; ``filter`` on a query with joins filters the joined
  rows and names their output columns. Filters are SQL expression strings (a Column cannot be
  recorded), checked by Spark's parser and analyser when given.

Examples
--------
>>> q = (store.query_labels(labels, event_time="ts")
...      .join(store.query("players").select(["rating", "age"]))
...      .join(store.query("teams").selectExcept(["updated"]), max_age=timedelta(days=30)))
... # doctest: +SKIP
>>> q.read().show()                                     # doctest: +SKIP
>>> record = q.pinned().to_dict()                       # doctest: +SKIP
>>> Query.from_dict(record, store, labels=labels).read()   # the same rows, later  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence, cast

from ..dataframes import convert
from ..errors import InvalidInputError, reason
from ..logs import quiet_analysis
from ..metadata import FeatureGroup
from ..names import database_name, quote, table_name
from ..spec import DATAFRAME_TYPES
from .build import Source, make_plan, output_columns, to_frame, to_sql
from .parts import (LABELS, PIT_JOIN_TYPES, Join, Part, event_time_kind, find_left, infer_keys,
                    join_type_of, key_problems)
from .serialize import query_from_dict, query_to_dict

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from ..context import Context



def _names(arg: str | Iterable[str]) -> list[str]:
    """Feature names as stored (lowercased: see ``names.feature``)."""
    return [n.lower() if isinstance(n, str) else n for n in ([arg] if isinstance(arg, str) else arg)]


@dataclass(frozen=True)
class Query:
    """Features of one or more feature groups (and labels), joined; immutable."""
    root: Part
    joins: tuple[Join, ...] = ()
    filters: tuple[str, ...] = ()                   # over the output columns, after the joins
    store: Context | None = field(default=None, compare=False, repr=False)

    # -- making ------------------------------------------------------------------------------------
    @classmethod
    def of_group(cls, store: Context, group: FeatureGroup) -> Query:
        """Every feature of a feature group version, at its latest commit."""
        return cls(Part(group.feature_names, group=group), store=store)

    @classmethod
    def of_labels(cls, store: Context, labels: DataFrame,
                  event_time: str | None = None) -> Query:
        """Every column of ``labels``; ``event_time`` (a timestamp, date or integer column) makes
        the joins onto feature groups with an event time point-in-time correct."""
        from ..dataframes import lower_columns
        from ..spec import is_dataframe
        what = "cannot start a query from labels"
        labels = lower_columns(labels, what, write=False)
        event_time = event_time.lower() if isinstance(event_time, str) else event_time
        problems = []
        if not is_dataframe(labels):
            problems.append(f"labels must be a Spark DataFrame, got {type(labels).__name__}")
        elif event_time is not None and event_time not in labels.columns:
            problems.append(f"event time {event_time!r} is not a column of the labels "
                            f"({', '.join(labels.columns)})")
        if not problems:
            part = Part(tuple(labels.columns), labels=labels, label_event_time=event_time)
            if event_time is not None and event_time_kind(part) is None:
                problems.append(f"event time {event_time!r} of the labels is "
                                f"{part.type_of(event_time)}: it must be a timestamp, date or "
                                "integer")
        if problems:
            raise InvalidInputError(what, problems, write=False)
        return cls(part, store=store)

    # -- what it is --------------------------------------------------------------------------------
    @property
    def parts(self) -> tuple[Part, ...]:
        return (self.root, *(j.right for j in self.joins))

    @property
    def columns(self) -> list[str]:
        """The names of the output columns, in order."""
        return [name for name, _ in output_columns(self.parts, self.joins)]

    def __repr__(self) -> str:
        text = f"Query({self.root.title} {list(self.root.features)}"
        for j in self.joins:
            keys = ", ".join(f"{self.parts[i].alias}.{c}={j.right.alias}.{r}"
                             for (i, c), r in zip(j.left_keys, j.right_keys))
            pit = " point-in-time" if j.point_in_time else ""
            text += f" {j.join_type}{pit} join {j.right.title} {list(j.right.features)} on {keys}"
        return text + (f" where {' and '.join(self.filters)})" if self.filters else ")")

    def _fail(self, what: str, problems: list[str]) -> None:
        if problems:
            raise InvalidInputError(what, problems, write=False)

    def _spark(self) -> SparkSession:
        if self.root.labels is not None:
            return self.root.labels.sparkSession
        return self._store().spark

    def _store(self) -> Context:
        if self.store is None:
            raise InvalidInputError("cannot run the query", [
                "it has no feature store: make it with store.query(...) or Query.from_dict(d, store)"],
                write=False)
        return self.store

    def _collisions(self, parts: Sequence[Part], joins: Sequence[Join]) -> list[str]:
        seen: dict[str, list[str]] = {}
        for name, (i, column) in output_columns(parts, joins):
            seen.setdefault(name, []).append(f"{parts[i].alias}.{column}")
        return [f"output column {name!r} would come from {' and '.join(where)}: select it from "
                "one of them, or join with a prefix" for name, where in seen.items()
                if len(where) > 1]

    # -- selecting ---------------------------------------------------------------------------------
    def _with_root_features(self, features: Sequence[str], what: str) -> Query:
        root = replace(self.root, features=tuple(dict.fromkeys(features)))
        problems = [] if features else ["select at least one feature"]
        self._fail(what, problems + self._collisions((root, *self.parts[1:]), self.joins))
        return replace(self, root=root)

    def select(self, features: str | Iterable[str]) -> Query:
        """Only these features of the query's first feature group (or labels), in this order."""
        names = _names(features)
        unknown = [f for f in names if f not in self.root.columns]
        self._fail(f"cannot select from {self.root.title}",
                   [f"{self.root.title} has no feature {f!r} (it has "
                    f"{', '.join(self.root.columns)})" for f in unknown])
        return self._with_root_features(names, f"cannot select from {self.root.title}")

    def select_all(self) -> Query:
        """Every feature of the query's first feature group (or every label column)."""
        return self._with_root_features(self.root.columns, f"cannot select from {self.root.title}")

    def select_except(self, features: str | Iterable[str]) -> Query:
        """Every feature of the query's first feature group but these."""
        names = _names(features)
        self._fail(f"cannot select from {self.root.title}",
                   [f"{self.root.title} has no feature {f!r}" for f in names
                    if f not in self.root.columns])
        return self._with_root_features([c for c in self.root.columns if c not in names],
                                        f"cannot select from {self.root.title}")

    # -- joining -----------------------------------------------------------------------------------
    def join(self, other: Query, on: str | Iterable[str] | None = None,
             left_on: str | Iterable[str] | None = None,
             right_on: str | Iterable[str] | None = None, join_type: str = "left",
             prefix: str | None = None, point_in_time: bool | None = None,
             max_age: timedelta | float | None = None) -> Query:
        """This query joined with ``other`` (a query of one feature group).

        Parameters
        ----------
        other : the feature group to join, e.g. ``store.query("teams").select(["attendance"])``.
        on : key columns that both sides have (one output column each).
        left_on, right_on : key columns of different names, pairwise; ``group.column`` in
            ``left_on`` picks which left feature group.
        join_type : ``left`` (default), ``inner``, ``right``, ``full``, ``left_semi`` or
            ``left_anti`` (a point-in-time join: ``left`` or ``inner``).
        prefix : put before the names of ``other``'s features in the output.
        point_in_time : None (default) joins point in time when both sides have an event time;
            False joins plainly; True requires it.
        max_age : with a point-in-time join, a feature row older than this (a timedelta, or
            seconds; the event time's own units for integer event times) is not used.
        """
        what = f"cannot join {getattr(getattr(other, 'root', None), 'title', repr(other))}"
        if not isinstance(other, Query):
            raise InvalidInputError(what, [f"join takes a Query (store.query(name)), got "
                                           f"{type(other).__name__}"], write=False)
        problems = []
        if other.joins or other.filters:
            problems.append("the joined query must be one feature group: join the feature "
                            "groups one after another, a.join(b).join(c)")
        if other.root.group is None:
            problems.append("labels can only be the first part of a query: start from them, "
                            "store.query_labels(df).join(...)")
        how = join_type_of(join_type)
        if how is None:
            problems.append(f"join type {join_type!r} is not one of inner, left, right, full, "
                            "left_semi, left_anti")
        if prefix is not None and not isinstance(prefix, str):
            problems.append(f"prefix must be a string, got {prefix!r}")
        self._fail(what, problems)
        right = other.root
        visible = [j for j in range(len(self.parts))      # semi and anti joins add no columns
                   if j == 0 or self.joins[j - 1].join_type not in ("left_semi", "left_anti")]
        left_parts = [self.parts[j] for j in visible]
        keys, problems = self._keys(left_parts, visible, right, on, left_on, right_on)
        join = Join(right, keys[0], keys[1], how or "left", using=keys[2], prefix=prefix or "")
        if not problems:
            problems += key_problems(self.parts, join)
        pit, age, pit_problems = self._point_in_time(right, how, point_in_time, max_age)
        problems += pit_problems
        if not problems:
            join = replace(join, point_in_time=pit, max_age=age)
            problems += self._collisions((*self.parts, right), (*self.joins, join))
        self._fail(what, problems)
        return replace(self, joins=self.joins + (join,))

    def _keys(self, left_parts: list[Part], visible: list[int], right: Part, on: Any,
              left_on: Any, right_on: Any) -> tuple[tuple, list[str]]:
        problems: list[str] = []
        if on is not None and (left_on is not None or right_on is not None):
            return ((), (), True), ["give either on, or left_on and right_on"]
        if (left_on is None) != (right_on is None):
            return ((), (), True), ["give left_on and right_on together"]
        if on is not None or left_on is not None:
            lefts, rights = (_names(on), _names(on)) if on is not None else (
                _names(left_on), _names(right_on))
            if not lefts or len(lefts) != len(rights):
                return ((), (), True), [f"left_on and right_on must name as many columns "
                                        f"(got {lefts} and {rights})"]
            keys = []
            for lc, rc in zip(lefts, rights):
                found = find_left(left_parts, lc)
                if found is None:
                    problems.append(f"join key {lc!r} is not a column of "
                                    f"{' or '.join(p.title for p in left_parts)}")
                else:
                    keys.append((visible[found[0]], found[1]))
                if rc not in right.columns:
                    problems.append(f"join key {rc!r} is not a column of {right.title} (it has "
                                    f"{', '.join(right.columns)})")
            return (tuple(keys), tuple(rights), on is not None), problems
        inferred = infer_keys(left_parts, right)
        if inferred is None:
            described = "; ".join(f"{p.title} is keyed by ({', '.join(p.primary_key)})"
                                  if p.primary_key else f"{p.title} have no primary key"
                                  for p in (*left_parts, right))
            return ((), (), True), [f"no common key between {' and '.join(p.title for p in left_parts)}"
                                    f" and {right.title} ({described}): give the join key with "
                                    "on=, or left_on= and right_on="]
        inferred_keys = tuple((visible[i], c) for i, c in inferred)
        return (inferred_keys, tuple(c for _, c in inferred), True), []

    def _point_in_time(self, right: Part, how: str | None, point_in_time: bool | None,
                       max_age: Any) -> tuple[bool, float | None, list[str]]:
        """Whether the join is point in time, its max age (seconds), and the problems of
        asking for it."""
        left_kind, right_kind = event_time_kind(self.root), event_time_kind(right)
        both = left_kind is not None and left_kind == right_kind
        problems = []
        if point_in_time and not both:
            problems.append(
                f"a point-in-time join needs event times of one kind on both sides: "
                f"{self.root.title} has {self.root.event_time or 'none'}, {right.title} has "
                f"{right.event_time or 'none'}")
        if isinstance(max_age, timedelta):
            max_age = max_age.total_seconds()
        if max_age is not None and (isinstance(max_age, bool)
                                    or not isinstance(max_age, (int, float)) or max_age < 0):
            problems.append(f"max_age must be a timedelta or a number of seconds >= 0, got "
                            f"{max_age!r}")
            max_age = None
        pit = both if point_in_time is None else bool(point_in_time)
        if not pit and max_age is not None:
            problems.append("max_age applies to point-in-time joins only")
        if pit and how not in PIT_JOIN_TYPES:
            problems.append(f"a point-in-time join is left or inner, not {how}")
        return pit, None if max_age is None else float(max_age), problems

    # -- filtering ---------------------------------------------------------------------------------
    def filter(self, condition: str) -> Query:
        """Rows for which the SQL expression ``condition`` holds, e.g. ``"rating > 7"``: on a
        query without joins, rows of its feature group (any of its features); on one with
        joins, the joined rows (their output columns)."""
        what = "cannot filter the query"
        if not isinstance(condition, str):
            kind = type(condition).__name__
            self._fail(what, [f"filter takes a SQL expression string, e.g. 'rating > 7', not a "
                              f"{kind}: a {kind} cannot be recorded with a training dataset"
                              if kind == "Column" else
                              f"filter takes a SQL expression string, got {condition!r}"])
        if not condition.strip():
            self._fail(what, ["the filter is empty"])
        self._fail(what, self._check_filter(condition))
        if self.joins:
            return replace(self, filters=self.filters + (condition,))
        return replace(self, root=replace(self.root, filters=self.root.filters + (condition,)))

    def _check_filter(self, condition: str) -> list[str]:
        """Parse and analyse ``condition`` against the columns it may name (no rows read)."""
        from pyspark.errors import AnalysisException
        from pyspark.sql.types import StructField, StructType
        if self.joins:
            fields = [StructField(name, self.parts[i].data_type(c))
                      for name, (i, c) in output_columns(self.parts, self.joins)]
        else:
            fields = [StructField(c, self.root.data_type(c)) for c in self.root.columns]
        empty = self._spark().createDataFrame([], StructType(fields))
        try:
            with quiet_analysis():
                analysed = empty.where(condition)._jdf.queryExecution().analyzed()
        except AnalysisException as e:
            return [f"filter {condition!r}: {reason(e)}"]
        if not analysed.condition().deterministic():
            return [f"filter {condition!r} is not deterministic: a query must give the same "
                    "rows when it is read again"]
        return []

    # -- time travel -------------------------------------------------------------------------------
    def as_of(self, point: Any) -> Query:
        """Read the feature groups as they were: a point in time (a datetime, date or ISO
        string; naive times are UTC) for every feature group of the query so far; a commit id
        when the query has one feature group; or ``{name: commit id or time}`` per feature
        group. Feature groups joined later are read at their latest commit."""
        from ..context import utc
        groups = [i for i, p in enumerate(self.parts) if p.group is not None]
        problems: list[str] = []

        def normal(value: Any, label: str) -> int | str | None:
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                return value
            if isinstance(value, (datetime, date, str)):
                try:
                    return utc(value).isoformat()
                except InvalidInputError as e:
                    problems.extend(e.problems)
                    return None
            problems.append(f"{label}: as of takes a commit id or a point in time, got {value!r}")
            return None

        if isinstance(point, Mapping):
            names = {p.alias for p in self.parts} | {table_name(p.group.name, p.group.version)
                                                     for p in self.parts if p.group}
            problems += [f"as of names {n!r}, which is not a feature group of the query"
                         for n in point if n not in names]
            chosen = {}
            for i in groups:
                g = cast(FeatureGroup, self.parts[i].group)     # groups: the parts with one
                for key in (table_name(g.name, g.version), g.name):
                    if key in point:
                        chosen[i] = normal(point[key], key)
                        break
        elif isinstance(point, int) and not isinstance(point, bool) and len(groups) != 1:
            problems.append(f"commit {point} is a commit of one feature group and the query has "
                            f"{len(groups)}: give {{name: commit}}")
            chosen = {}
        else:
            chosen = {i: normal(point, "as of") for i in groups}
        problems += [f"{self.parts[i].title} is an external feature group: it has no commits to "
                     "travel to (name the groups to read as of a time: {name: time})"
                     for i, v in chosen.items() if v is not None
                     and cast(FeatureGroup, self.parts[i].group).external]
        self._fail("cannot time travel", problems)
        parts = [replace(p, as_of=chosen[i]) if i in chosen else p
                 for i, p in enumerate(self.parts)]
        return self._with_parts(parts)

    def _with_parts(self, parts: Sequence[Part]) -> Query:
        joins = tuple(replace(j, right=p) for j, p in zip(self.joins, parts[1:]))
        return replace(self, root=parts[0], joins=joins)

    def pinned(self) -> Query:
        """This query with every feature group's commit fixed: "latest" and points in time
        become the commit ids they are now, as the metadata store records them."""
        store = self._store()
        parts = []
        for p in self.parts:
            if p.group is not None and not p.group.external:     # external: read as it is now
                g = p.group
                if p.as_of is None:
                    commit = store.metadata.commits(g.project, g.name, g.version)[-1].commit_id
                else:
                    commit = store.commit_as_of(g, p.as_of)
                p = replace(p, as_of=commit)
            parts.append(p)
        return self._with_parts(parts)

    def commits(self) -> dict[str, int]:
        """The commit each feature group would be read at now: ``{name_version: commit}``."""
        return {table_name(p.group.name, p.group.version): cast(int, p.as_of)   # pinned: commit ids
                for p in self.pinned().parts if p.group is not None and not p.group.external}

    # -- running -----------------------------------------------------------------------------------
    def _plan(self) -> Any:
        pinned = self.pinned()
        return make_plan(pinned.parts, pinned.joins, pinned.filters,
                         [cast("int | None", p.as_of) for p in pinned.parts])   # pinned: commit ids

    def read(self, dataframe_type: str = "spark") -> Any:
        """The rows: a Spark DataFrame (default; nothing is read until an action runs, but for
        a sample of the keys and event times of a point-in-time join over large feature groups:
        one Spark job that finds hot keys, see :mod:`.pit_skew`), or ``pandas`` / ``numpy`` / ``python``
        (brought to the driver)."""
        if dataframe_type not in DATAFRAME_TYPES:
            self._fail("cannot read the query", [f"dataframe type {dataframe_type!r} is not one "
                                                 f"of {', '.join(DATAFRAME_TYPES)}"])
        def read(source: Source) -> DataFrame:
            if source.part.group is None:     # the labels part, which has them
                return cast("DataFrame", source.part.labels)
            return self._store().read(source.part.group, source.commit)   # pinned: its commit

        def size(source: Source) -> int | None:
            return None if source.part.group is None else self._store().size(source.part.group)

        return convert(to_frame(self._plan(), read, size), dataframe_type)

    def to_sql(self, labels: str | None = None, register: bool = True) -> str:
        """The query as Spark SQL, with every feature group at its commit (``VERSION AS OF``)
        and point-in-time joins as window functions (see :mod:`.pit`); ``labels`` names a
        table or temporary view holding the labels of a query that starts from them. An
        external feature group is read as the temporary view ``<project>_<name>_<version>``,
        registered in this session now (the SQL runs in this session only; ``register=False``
        only names it: the SQL to show, without reading the group's source)."""
        if self.root.group is None:
            import re
            if not isinstance(labels, str) or not re.fullmatch(r"\w+(\.\w+)?", labels):
                self._fail("cannot render the query as SQL", [
                    "it starts from a labels DataFrame: name a table or temporary view holding "
                    f"them, to_sql(labels='my_labels') (got {labels!r})"])

        def relation(source: Source) -> str:
            g = source.part.group
            if g is None:     # the root: labels was checked to be a name above
                return ".".join(quote(n) for n in cast(str, labels).split("."))
            if g.external:    # a temporary view of this session, as the Hopsworks client does
                view = f"{g.project}_{table_name(g.name, g.version)}"
                if register:
                    self._store().read(g).createOrReplaceTempView(view)
                return quote(view)
            return (f"{quote(database_name(g.project))}.{quote(table_name(g.name, g.version))} "
                    f"VERSION AS OF {int(cast(int, source.commit))}")   # pinned: a commit id

        return to_sql(self._plan(), relation)

    # -- recording ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The query as JSON-able data (call ``pinned()`` first to record the commits read)."""
        return query_to_dict(self.root, self.joins, self.filters)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], store: Any,
                  labels: DataFrame | None = None) -> Query:
        """The query ``to_dict`` recorded, over ``store`` (a FeatureStore, or its ``ctx``; and
        ``labels`` when it started from labels: a DataFrame with the columns it recorded)."""
        return query_from_dict(cls, data, getattr(store, "ctx", store), labels)

    # camelCase, as the rest of the fluent API (PySpark style: both spellings work)
    selectAll = select_all
    selectExcept = select_except
    asOf = as_of
    toSql = to_sql


__all__ = ["LABELS", "Query"]
