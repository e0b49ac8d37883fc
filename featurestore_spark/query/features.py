"""get_features: a query of features named one by one, the feature groups found through the
metadata and joined on keys inferred from their primary keys (or one join key for all).

A bare name found in several feature groups is an error listing them, except for a join key:
the key the feature groups are joined on is the same in all of them, and is taken from the
first one. Without labels the feature groups are inner-joined (as hops-util-py does); from
labels, every label row is kept (left joins). Joins are point in time when both sides have an
event time.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Mapping, Sequence, cast

from ..errors import InvalidInputError
from .parts import Part
from .query import Query
from .resolve import resolve

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from ..context import Context

WHAT = "cannot get features"


def _join_all(store: Context, parts: Sequence[tuple[Any, list[str]]],
              labels: DataFrame | None, label_event_time: str | None,
              join_key: Sequence[str] | None, max_age: timedelta | float | None,
              problems: list[str]) -> Query:
    """The feature groups (after the labels, if any) joined one after another."""
    how = "left" if labels is not None else "inner"
    if labels is not None:
        query = Query.of_labels(store, labels, label_event_time)
        rest = parts
    else:
        group, names = parts[0]
        query = Query(Part(tuple(names), group=group), store=store)
        rest = parts[1:]
    for group, names in rest:
        right = Query(Part(tuple(names), group=group), store=store)
        pit = query.root.event_time is not None and group.event_time is not None
        try:
            query = query.join(right, on=join_key, join_type=how,
                               max_age=max_age if pit else None)
        except InvalidInputError as e:
            problems.extend(e.problems)
    return query


def features_query(store: Context, features: Sequence[str], project: str | None = None,
                   versions: Mapping[str, int] | None = None,
                   join_key: str | Sequence[str] | None = None,
                   labels: DataFrame | None = None, label_event_time: str | None = None,
                   max_age: timedelta | float | None = None) -> tuple[Query, list[str]]:
    """The query of ``features`` and the order of its output columns as asked (label columns
    first). See :func:`featurestore_spark.featurestore.get_features`."""
    from ..dataframes import lower_columns
    labels = lower_columns(labels, WHAT, write=False)          # feature names as stored (names.feature)
    label_event_time = label_event_time.lower() if label_event_time else label_event_time
    groups = store.feature_groups(project)
    found = resolve(groups, features, versions, search=list(versions) if versions else None)
    ambiguous = [f for f in found.features if f.problem and len(f.owners) > 1
                 and f.wanted == f.feature]     # (so each has a problem: the casts below)
    problems = [p for p in found.problems if p not in {f.problem for f in ambiguous}]
    keys = None if join_key is None else ([join_key] if isinstance(join_key, str) else
                                          list(join_key))
    parts = found.by_group()
    if not parts and labels is None:
        raise InvalidInputError(WHAT, problems + [cast(str, f.problem) for f in ambiguous], write=False)
    query = _join_all(store, parts, labels, label_event_time, keys, max_age, problems)
    if ambiguous and not problems:
        # a bare name in several feature groups is fine when it is a join key: take it from the
        # first part that has it (after the join, the key is the same on every side)
        joined = {c for j in query.joins if j.using for c in j.right_keys}
        for f in ambiguous:
            first = next((i for i, p in enumerate(query.parts) if f.feature in p.columns), None)
            if f.feature not in joined or first is None:
                problems.append(cast(str, f.problem))
            elif labels is None or first > 0:          # (label columns are all in the output)
                names = parts[first - (labels is not None)][1]
                names += [] if f.feature in names else [f.feature]
        query = _join_all(store, parts, labels, label_event_time, keys, max_age, problems)
    else:
        problems += [cast(str, f.problem) for f in ambiguous]
    if problems:
        raise InvalidInputError(WHAT, problems, write=False)
    wanted = [f.feature for f in found.features]
    order = (list(labels.columns) if labels is not None else []) + wanted
    return query, [c for c in dict.fromkeys(order) if c in query.columns]
