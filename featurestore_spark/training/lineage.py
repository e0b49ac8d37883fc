"""Where a training dataset's rows come from, recorded so that it can be made again.

The source is a Spark DataFrame or a query. A query is duck-typed (``featurestore_spark.query``'s
``Query`` is one): it has ``to_dict()`` (JSON-able) and ``read()`` (a Spark DataFrame), and
optionally ``pinned()`` (the same query with every feature group fixed at the commit it would
read now) and ``commits()``. The recorded source is::

    {"kind": "query" | "dataframe",
     "query": <to_dict() of the pinned query> | null,
     "query_class": "featurestore_spark.query.query.Query" | null,
     "feature_groups": [{"project": "demo", "name": "teams", "version": 1, "commit": 3}, ...],
     "other_inputs": ["LogicalRDD", ...]}

``feature_groups`` comes from the DataFrame's Spark plan: every Delta table it scans that is a
registered feature group, at the Delta version (commit) the scan reads. ``other_inputs`` names
the plan's other leaves (in-memory data, files that are no feature group): a DataFrame source
with any is not reproducible from the feature store alone.

Made again (:func:`rebuild`), the recorded query is read anew and its plan's commits are checked
against the recorded ones, so that the rows are the same or it fails saying why.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..errors import FeatureStoreError, InvalidInputError
from ..spec import is_dataframe
from .. import paths

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from ..metadata import FeatureGroup, TrainingDataset

log = logging.getLogger(__name__)
QueryFromDict = Callable[[Mapping[str, Any]], Any]


def is_query(source: Any) -> bool:
    return callable(getattr(source, "to_dict", None)) and callable(getattr(source, "read", None))


def resolve(source: Any) -> tuple[DataFrame | None, Any, list[str]]:
    """``(dataframe, pinned query or None, problems)`` of a DataFrame or query source."""
    if is_dataframe(source):
        return source, None, []
    if not is_query(source):
        return None, None, [f"the rows must come from a Spark DataFrame or a query (with to_dict() "
                            f"and read()), got {type(source).__name__}"]
    try:
        query = source.pinned() if callable(getattr(source, "pinned", None)) else source
        df = query.read()
    except InvalidInputError as e:
        return None, None, e.problems
    if not is_dataframe(df):
        return None, None, [f"the query's read() must give a Spark DataFrame, got "
                            f"{type(df).__name__}"]
    return df, query, []


def _leaves(df: DataFrame) -> list[Any]:
    plan = df._jdf.queryExecution().analyzed()
    leaves = plan.collectLeaves()
    return [leaves.apply(i) for i in range(leaves.size())]


def _delta_read(leaf: Any) -> tuple[str, int] | None:
    """(table path, version) of a Delta scan, or None for any other leaf."""
    if not leaf.getClass().getName().endswith("LogicalRelation"):
        return None
    location = leaf.relation().location()
    if "delta" not in location.getClass().getName():
        return None
    return str(location.path().toString()), int(location.getSnapshot().version())


def inputs(spark: SparkSession, df: DataFrame,
           groups: Callable[[], list[FeatureGroup]]) -> tuple[list[dict[str, Any]], list[str]]:
    """The feature group versions ``df`` reads with their commits (``groups``: the registered
    ones), and its other inputs (best effort: a plan it cannot inspect gives no feature groups
    and says so)."""
    try:
        leaves = [(leaf, _delta_read(leaf)) for leaf in _leaves(df)]
    except Exception as e:  # e.g. Spark Connect: no JVM plan to look at
        log.info("cannot inspect the plan of the training dataset's source: %s", e)
        return [], ["a plan that could not be inspected"]
    by_path = ({paths.qualify(spark, g.location): g for g in groups() if not g.external}
               if any(read for _, read in leaves) else {})
    reads: list[dict[str, Any]] = []
    others: list[str] = []
    for leaf, read in leaves:
        group = by_path.get(paths.qualify(spark, read[0])) if read else None
        if group is not None and read is not None:
            entry = {"project": group.project, "name": group.name, "version": group.version,
                     "commit": read[1]}
            if entry not in reads:
                reads.append(entry)
        else:
            other = f"delta table {read[0]}" if read else str(leaf.nodeName())
            if other not in others:
                others.append(other)
    return reads, others


def record(kind: str, query: Any, reads: list[dict[str, Any]], others: list[str]) -> dict[str, Any]:
    """The source as the metadata stores it (JSON-able)."""
    cls = type(query)
    return {"kind": kind, "query": query.to_dict() if query is not None else None,
            "query_class": f"{cls.__module__}.{cls.__qualname__}" if query is not None else None,
            "feature_groups": reads, "other_inputs": others}


def default_query_from_dict(source: Mapping[str, Any], store: Any,
                            labels: DataFrame | None) -> QueryFromDict:
    """``from_dict`` of the recorded query class, for classes of featurestore_spark only (a
    class named in metadata is not imported from anywhere else)."""
    name = source.get("query_class") or ""
    module, _, qualname = name.rpartition(".")
    if not module.startswith("featurestore_spark."):
        raise InvalidInputError("cannot make the training dataset again", [
            f"its query is of class {name!r}, not of featurestore_spark: pass query_from_dict, "
            "a function from the recorded dict to the query"])
    cls = getattr(importlib.import_module(module), qualname)
    return lambda data: cls.from_dict(data, store, labels)


def check_made_from_query(td: TrainingDataset) -> None:
    if td.source.get("kind") != "query":
        raise InvalidInputError(f"cannot make training dataset {td.name} v{td.version} again", [
            "it was made from a DataFrame, which the feature store cannot read again: make "
            "training datasets from a query to make them again later"])


def rebuild(td: TrainingDataset, spark: SparkSession, groups: Callable[[], list[FeatureGroup]],
            query_from_dict: QueryFromDict) -> tuple[Any, DataFrame]:
    """``td``'s recorded query, and its rows read at its recorded commits."""
    check_made_from_query(td)
    source = td.source
    query = query_from_dict(source["query"])
    df = query.read()
    reads, _ = inputs(spark, df, groups)
    recorded = source.get("feature_groups") or []
    if sorted(map(str, reads)) != sorted(map(str, recorded)):
        raise FeatureStoreError(
            f"training dataset {td.name} v{td.version} cannot be made again with the same rows: "
            f"its query now reads {_describe(reads)}, but it was made from {_describe(recorded)} "
            "(a query that was not pinned to commits, or a commit that is no longer readable)")
    external = [f"{p.group.name} v{p.group.version}" for p in getattr(query, "parts", ())
                if getattr(p.group, "external", False)]
    if external:
        log.warning("training dataset %s v%d reads external feature group(s) %s from their "
                    "sources as they are now (they have no commits): its rows are the same only "
                    "where those sources did not change", td.name, td.version, ", ".join(external))
    return query, df


def _describe(reads: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['name']} v{r['version']} at commit {r['commit']}" for r in reads) or \
        "no feature group"
