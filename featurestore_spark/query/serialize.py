"""A Query as plain JSON-able data and back: which feature groups (project, name, version), at
which commits, which features, the joins with their keys, and the filters. A training dataset
records this (of a pinned query) to read the same rows again later.

Example of the recorded form::

    {"format": "featurestore_spark.query/1",
     "root": {"labels": {"columns": ["player_id", "ts", "won"], "event_time": "ts"},
              "features": ["player_id", "ts", "won"], "filters": [], "as_of": null},
     "joins": [{"right": {"feature_group": {"project": "demo", "name": "players", "version": 1},
                          "features": ["rating"], "filters": [], "as_of": 3},
                "left_keys": [[0, "player_id"]], "right_keys": ["player_id"],
                "join_type": "left", "using": true, "prefix": "",
                "point_in_time": true, "max_age": null}],
     "filters": []}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, TypeVar

from ..errors import FeatureGroupNotFound, InvalidInputError
from .parts import Join, Part, join_type_of

Q = TypeVar("Q")          # the query class (query.Query), made with cls(root, joins, filters, store=)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from ..context import Context

FORMAT = "featurestore_spark.query/1"


def _part_to_dict(part: Part) -> dict[str, Any]:
    if part.group is not None:
        g = part.group
        source: dict[str, Any] = {"feature_group": {"project": g.project, "name": g.name,
                                                    "version": g.version}}
    else:
        source = {"labels": {"columns": list(part.columns), "event_time": part.label_event_time}}
    return {**source, "features": list(part.features), "filters": list(part.filters),
            "as_of": part.as_of}


def query_to_dict(root: Part, joins: Sequence[Join], filters: Sequence[str]) -> dict[str, Any]:
    """A query's parts as plain data (``Query.to_dict``)."""
    return {
        "format": FORMAT,
        "root": _part_to_dict(root),
        "joins": [{"right": _part_to_dict(j.right),
                   "left_keys": [[i, c] for i, c in j.left_keys],
                   "right_keys": list(j.right_keys), "join_type": j.join_type,
                   "using": j.using, "prefix": j.prefix, "point_in_time": j.point_in_time,
                   "max_age": j.max_age} for j in joins],
        "filters": list(filters),
    }


def _part_from_dict(data: Mapping[str, Any], store: Context, labels: DataFrame | None,
                    problems: list[str]) -> Part | None:
    features = tuple(data.get("features") or ())
    common: dict[str, Any] = {"filters": tuple(data.get("filters") or ()), "as_of": data.get("as_of")}
    if "feature_group" in data:
        ref = data["feature_group"]
        try:
            group = store.feature_group(ref["name"], ref["version"], ref["project"])
        except (FeatureGroupNotFound, InvalidInputError, KeyError, TypeError) as e:
            problems.append(f"feature group {ref!r}: {e}")
            return None
        problems += [f"{group.name} v{group.version} has no feature {f!r}" for f in features
                     if f not in group.feature_names]
        return Part(features, group=group, **common)
    recorded = data.get("labels") or {}
    if labels is None:
        problems.append("the query starts from labels: pass them, from_dict(d, store, labels=df)")
        return None
    from ..dataframes import lower_columns
    labels = lower_columns(labels, "cannot read the recorded query", write=False)   # as Query.of_labels does
    missing = [c for c in recorded.get("columns", ()) if c not in labels.columns]
    if missing:
        problems.append(f"the labels have no column {', '.join(map(repr, missing))}")
        return None
    return Part(features, labels=labels, label_event_time=recorded.get("event_time"), **common)


def query_from_dict(cls: Callable[..., Q], data: Mapping[str, Any], store: Context,
                    labels: DataFrame | None = None) -> Q:
    what = "cannot read the recorded query"
    if not isinstance(data, Mapping) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, Mapping) else type(data).__name__
        raise InvalidInputError(what, [f"it is not a recorded query of format {FORMAT} "
                                       f"(found {found!r})"], write=False)
    problems: list[str] = []
    root = _part_from_dict(data["root"], store, labels, problems)
    joins = []
    for j in data.get("joins", ()):
        right = _part_from_dict(j["right"], store, None, problems)
        how = join_type_of(j.get("join_type"))
        if how is None:
            problems.append(f"join type {j.get('join_type')!r} is not known")
        if right is not None and how is not None:
            joins.append(Join(right, tuple((int(i), str(c)) for i, c in j["left_keys"]),
                              tuple(j["right_keys"]), how, bool(j.get("using", True)),
                              j.get("prefix") or "", bool(j.get("point_in_time")),
                              j.get("max_age")))
    if problems or root is None:
        raise InvalidInputError(what, problems, write=False)
    return cls(root, tuple(joins), tuple(data.get("filters") or ()), store=store)
