"""What the registry's pages show, read from the metadata store only (no Spark): the home page's
lists, a feature group, training dataset or feature view version, and the provenance graph
(feature groups -> views -> training datasets, with the commits each read)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Iterable

from ..errors import FeatureStoreError
from ..metadata import FG_STATISTICS
from ..metadata.base import FEATURE_VIEW, FV_TRAINING, Subject
from ..names import database_name, table_name

if TYPE_CHECKING:
    from ..feature_store import FeatureStore
    from ..metadata import FeatureGroup, TrainingDataset

RECENT_REPORTS = 5


def _labels(store: FeatureStore, subject: Subject) -> dict[str, Any]:
    meta = store.metadata
    return {"keywords": meta.keywords(subject), "tags": meta.tags(subject)}


def _latest(items: Iterable[Any]) -> list[Any]:
    """The latest version of each name, by name."""
    latest: dict[str, Any] = {}
    for item in items:
        if item.name not in latest or item.version > latest[item.name].version:
            latest[item.name] = item
    return [latest[n] for n in sorted(latest)]


def home(store: FeatureStore) -> dict[str, Any]:
    """The latest version of every feature group, view and training dataset of the project."""
    project, meta = store.settings.project, store.metadata
    return {"groups": _latest(meta.list_feature_groups(project)),
            "views": _latest(meta.list_documents(project, FEATURE_VIEW)),
            "datasets": _latest(meta.list_training_datasets(project))}


def group(store: FeatureStore, name: str, version: int | None) -> dict[str, Any]:
    project, meta = store.settings.project, store.metadata
    g = meta.get_feature_group(project, name, version)
    quality = store.quality
    suite, policy, suite_version = quality.suite(g)
    with_statistics = [d.number for d in meta.documents(project, FG_STATISTICS, g.name, g.version)]
    features = [{"feature": f, "event_time": f.name == g.event_time,
                 **_labels(store, Subject(project, "fg", g.name, g.version, f.name))}
                for f in g.features]
    return {"group": g, "table": f"{database_name(project)}.{table_name(g.name, g.version)}",
            "versions": meta.feature_group_versions(project, g.name), "features": features,
            "commits": meta.commits(project, g.name, g.version),
            "suite": json.dumps(suite, indent=2) if suite else None, "policy": policy,
            "suite_version": suite_version,
            "reports": quality.reports(g)[-RECENT_REPORTS:][::-1],
            "statistics_commits": with_statistics,
            **_labels(store, Subject(project, "fg", g.name, g.version))}


def statistics(store: FeatureStore, g: FeatureGroup, commit: int | None) -> dict[str, Any] | None:
    """The statistics of ``commit`` (the latest with some when None), or None."""
    try:
        return store.quality.statistics(g, commit)
    except FeatureStoreError:
        return None


def dataset(store: FeatureStore, name: str, version: int | None, with_spark: bool = False
            ) -> dict[str, Any]:
    project = store.settings.project
    td = store.metadata.get_training_dataset(project, name, version)
    recorded = td.source.get("query")
    return {"dataset": td, "parts": query_parts(recorded or {}),
            "sql": _sql(store, recorded, with_spark) if recorded else None,
            "splits": td.splits.get("splits", []), "split_kind": td.splits.get("kind", "none"),
            "feature_groups": td.source.get("feature_groups") or [],
            "other_inputs": td.source.get("other_inputs") or [],
            "view": _view_of(store, td),
            **_labels(store, Subject(project, "td", td.name, td.version))}


def _sql(store: FeatureStore, recorded: dict[str, Any], with_spark: bool) -> str | None:
    """A recorded query as SQL; None when that needs Spark (point-in-time joins cast with the
    JVM's parsed types) and ``with_spark`` is False."""
    from pyspark.errors import PySparkRuntimeError

    from ..query import Query
    if "labels" in recorded.get("root", {}):
        columns = ", ".join(recorded["root"]["labels"].get("columns", []))
        return f"-- starts from a labels DataFrame ({columns}), joined as listed above"
    if with_spark:
        store.ctx.spark                                         # noqa: B018  (started now)
    try:
        return Query.from_dict(recorded, store).to_sql(register=False)
    except PySparkRuntimeError as e:
        if "SESSION_OR_CONTEXT_NOT_EXISTS" not in str(e):
            raise
        return None
    except FeatureStoreError as e:
        return f"-- cannot be shown as SQL: {e}"


def query_parts(recorded: dict[str, Any]) -> list[dict[str, Any]]:
    """The recorded query's parts, read from its dict (no Spark): what each reads (a feature group
    version at a commit, or the labels), its features, and how it is joined."""
    def source(part: dict[str, Any]) -> dict[str, Any]:
        return part.get("feature_group") or {"labels": True}
    root = recorded.get("root")
    if not root:
        return []
    parts = [{**source(root), "features": root.get("features", []), "join": "",
              "on": "", "as_of": root.get("as_of"), "max_age": None}]
    for j in recorded.get("joins", []):
        right = j.get("right") or {}
        parts.append({**source(right), "features": right.get("features", []),
                      "join": ("point-in-time " if j.get("point_in_time") else "")
                      + j.get("join_type", ""),
                      "on": ", ".join(f"{left} = {key}" for (_, left), key in
                                        zip(j.get("left_keys", []), j.get("right_keys", []))),
                      "as_of": right.get("as_of"), "max_age": j.get("max_age")})
    return parts


def _view_of(store: FeatureStore, td: TrainingDataset) -> tuple[str, int] | None:
    """The feature view version whose training data ``td`` is (named ``<view>_<version>``)."""
    base, _, number = td.name.rpartition("_")
    if not base or not number.isdigit():
        return None
    if store.metadata.documents(td.project, FEATURE_VIEW, base, int(number)):
        return base, int(number)
    return None


def view(store: FeatureStore, name: str, version: int | None, with_spark: bool = False
         ) -> dict[str, Any]:
    from ..views import get
    fv = get(store, name, version)
    recorded = fv.recorded_query
    trainings = store.metadata.documents(store.settings.project, FV_TRAINING, fv.name, fv.version)
    return {"view": fv, "sql": _sql(store, recorded, with_spark), "parts": query_parts(recorded),
            "transformations": [t.to_dict() for t in fv.transformation_functions],
            "trainings": [{"version": t.number, "created_at": t.created_at,
                           "splits": [s["name"] for s in t.body["splits"].get("splits", [])],
                           "materialized": t.body.get("materialized", False),
                           "commits": _commits_read(t.body.get("query") or {})} for t in trainings],
            "dataset_name": f"{fv.name}_{fv.version}",
            **_labels(store, Subject(store.settings.project, "fv", fv.name, fv.version))}


def _commits_read(recorded: dict[str, Any]) -> list[dict[str, Any]]:
    """The feature group versions a recorded (pinned) query reads, with their commits."""
    parts = [recorded.get("root") or {}] + [j.get("right") or {} for j in recorded.get("joins", [])]
    return [{**p["feature_group"], "commit": p.get("as_of")} for p in parts if "feature_group" in p]


def provenance(store: FeatureStore) -> dict[str, Any]:
    """Nodes (feature group versions, view versions, training dataset versions) and edges with
    the commits read, laid out in three columns for the page's SVG."""
    project, meta = store.settings.project, store.metadata
    groups = [(g.name, g.version) for g in meta.list_feature_groups(project)]
    views = [(d.name, d.version, d.body) for d in meta.list_documents(project, FEATURE_VIEW)]
    datasets = meta.list_training_datasets(project)
    nodes = ([{"id": f"fg:{n}:{v}", "kind": "fg", "name": n, "version": v, "column": 0}
              for n, v in groups]
             + [{"id": f"fv:{n}:{v}", "kind": "fv", "name": n, "version": v, "column": 1}
                for n, v, _ in views]
             + [{"id": f"td:{t.name}:{t.version}", "kind": "td", "name": t.name,
                 "version": t.version, "column": 2} for t in datasets])
    edges: list[dict[str, Any]] = []
    for n, v, body in views:
        for read in _commits_read(body.get("query") or {}):
            edges.append({"from": f"fg:{read['name']}:{read['version']}", "to": f"fv:{n}:{v}",
                          "label": ""})
    for t in datasets:
        owner = _view_of(store, t)
        if owner is not None:
            edges.append({"from": f"fv:{owner[0]}:{owner[1]}", "to": f"td:{t.name}:{t.version}",
                          "label": ""})
        for read in t.source.get("feature_groups") or []:
            edges.append({"from": f"fg:{read['name']}:{read['version']}",
                          "to": f"td:{t.name}:{t.version}", "label": f"commit {read['commit']}"})
    known = {n["id"] for n in nodes}
    edges = [e for e in edges if e["from"] in known and e["to"] in known]
    return layout(nodes, edges)


ROW, BOX_W, BOX_H, GAP = 56, 230, 36, 105
WIDTH = 20 + 3 * BOX_W + 2 * GAP


def layout(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> dict[str, Any]:
    """Each node's box (x, y) in its column, and each edge's end points."""
    rows = [0, 0, 0]
    for node in nodes:
        node["x"], node["y"] = 10 + node["column"] * (BOX_W + GAP), 30 + rows[node["column"]] * ROW
        rows[node["column"]] += 1
    where = {n["id"]: n for n in nodes}
    for e in edges:
        a, b = where[e["from"]], where[e["to"]]
        e["x1"], e["y1"] = a["x"] + BOX_W, a["y"] + BOX_H / 2
        e["x2"], e["y2"] = b["x"], b["y"] + BOX_H / 2
    return {"nodes": nodes, "edges": edges, "width": WIDTH, "box_w": BOX_W, "box_h": BOX_H,
            "height": 40 + max(rows + [1]) * ROW}


def result_links(result: dict[str, Any]) -> dict[str, Any]:
    """A search result with the page of each version it lists (``links``: version, address)."""
    kind, name, versions = result["type"], result["name"], result["versions"]
    if kind == "feature":
        links = [(v, f"/fg/{result['feature_group']}/{v}#feature-{name}") for v in versions]
    elif result.get("feature_view"):       # a view's training data: shown on the view's page
        links = [(v, f"/fv/{result['feature_view']}") for v in versions]
    else:
        prefix = {"feature_group": "fg", "feature_view": "fv", "training_dataset": "td"}[kind]
        links = [(v, f"/{prefix}/{name}/{v}") for v in versions]
    return {**result, "links": links}
