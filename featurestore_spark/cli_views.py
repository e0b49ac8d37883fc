"""The CLI's feature view commands: ``views`` and ``describe-view`` (metadata only, no Spark) and
``check-skew`` (Spark and the online store; exit 1 on any difference)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .config import load_settings
from .metadata import MetadataStore
from .metadata.base import FEATURE_VIEW, FV_TRAINING
from .text import table


def _store(args: argparse.Namespace, spark: bool) -> Any:
    from .feature_store import FeatureStore
    return FeatureStore.connect(load_settings(args.conf), spark=None if spark else False)


def cmd_views(meta: MetadataStore, project: str, args: argparse.Namespace) -> str | Any:
    rows = []
    for d in meta.list_documents(project, FEATURE_VIEW):
        trainings = meta.documents(project, FV_TRAINING, d.name, d.version)
        rows.append({"name": d.name, "version": d.version, "labels": d.body.get("labels", []),
                     "transformations": [f"{t['name']}({', '.join(t['features'])})"
                                         for t in d.body.get("transformations", [])],
                     "training_datasets": [t.number for t in trainings],
                     "description": d.body.get("description", "")})
    if args.json:
        return rows
    if not rows:
        return f"no feature views in project {project}"
    return table(["name", "version", "labels", "transformations", "training data", "description"],
                 [(r["name"], r["version"], ", ".join(r["labels"]), ", ".join(r["transformations"]),
                   ", ".join(map(str, r["training_datasets"])), r["description"]) for r in rows])


def cmd_describe_view(meta: MetadataStore, project: str, args: argparse.Namespace) -> str | Any:
    from .views import get
    fv = get(_store(args, spark=False), args.name, args.version, project)
    trainings = meta.documents(project, FV_TRAINING, fv.name, fv.version)
    out: dict[str, Any] = {"name": fv.name, "version": fv.version, "description": fv.description,
           "query": fv.query.to_sql(register=False), "features": fv.features, "labels": fv.labels,
           "inference_helper_columns": fv.inference_helper_columns,
           "transformations": [{**b.to_dict(), "outputs": b.outputs(
               trainings[-1].body["statistics"][i] if trainings else {"categories": []})}
               for i, b in enumerate(fv.transformation_functions)],
           "training_datasets": [{"version": t.number, "splits": t.body["splits"],
                                  "materialized": t.body.get("materialized", False),
                                  "created_at": t.created_at} for t in trainings],
           "keywords": fv.get_keywords(), "tags": fv.get_tags()}
    if args.json:
        return out
    lines = [f"{fv.name} version {fv.version}" + (f": {fv.description}" if fv.description else ""),
             f"labels: {', '.join(fv.labels) or '(none)'}",
             f"inference helper columns: {', '.join(fv.inference_helper_columns) or '(none)'}",
             f"keywords: {', '.join(out['keywords']) or '(none)'}",
             f"tags: {', '.join(f'{k}={json.dumps(v)}' for k, v in out['tags'].items()) or '(none)'}",
             "", "query (SQL, at the commits it would read now):", out["query"], ""]
    lines.append(table(["transformation", "version", "features", "outputs"],
                       [(t["name"], t["version"], ", ".join(t["features"]), ", ".join(t["outputs"]))
                        for t in out["transformations"]]) if out["transformations"]
                 else "transformations: (none)")
    lines += ["", table(["training data", "splits", "written", "created (UTC)"],
                        [(t["version"], ", ".join(s["name"] for s in t["splits"]["splits"]) or "-",
                          "yes" if t["materialized"] else "in memory",
                          t["created_at"].isoformat(timespec="seconds"))
                         for t in out["training_datasets"]])
              if trainings else "training data: (none yet)"]
    return "\n".join(lines)


def cmd_check_skew(meta: MetadataStore, project: str, args: argparse.Namespace) -> str | Any:
    from .views import get
    fv = get(_store(args, spark=True), args.name, args.version, project)
    report = fv.check_skew(args.sample, args.training_dataset_version, args.seed)
    args.exit_code = 0 if report.ok else 1
    if args.json:
        return report.as_dict()
    head = (f"feature view {report.view} v{report.version} (statistics of training data "
            f"v{report.training_dataset_version}): {report.sampled} keys sampled at commits "
            + ", ".join(f"{k} {v}" for k, v in report.commits.items()))
    if report.ok:
        return head + "\nno skew: the online and offline vectors are equal"
    lines = [head]
    if report.missing_online:
        lines.append(f"{len(report.missing_online)} key(s) missing online, e.g. " + ", ".join(
            json.dumps(k, default=str) for k in report.missing_online[:5]))
    if report.differences:
        lines.append(table(["feature", "keys differing", "share", "examples"], [
            (name, len(d), f"{len(d) / max(report.sampled, 1):.1%}",
             "; ".join(f"{json.dumps(k, default=str)}: offline {off!r}, online {on!r}"
                       for k, off, on in d[:2])) for name, d in report.differences.items()]))
    return "\n".join(lines)


def add_parsers(sub: Any) -> None:
    """The feature view commands, on the CLI's subparsers."""
    views = sub.add_parser("views", help="the feature views of a project (no Spark)")
    describe = sub.add_parser("describe-view", help="one feature view: query as SQL, labels, "
                              "transformations, training data (no Spark)")
    skew = sub.add_parser("check-skew", help="compare online vectors with the offline path's "
                          "rows for sampled keys (Spark; exit 1 on any difference)")
    for s in (describe, skew):
        s.add_argument("name")
        s.add_argument("--version", type=int, help="default: the latest")
    skew.add_argument("--sample", type=int, default=100, help="keys to compare (default 100)")
    skew.add_argument("--training-dataset-version", type=int,
                      help="whose statistics transform (default: the latest)")
    skew.add_argument("--seed", type=int, default=0, help="of the sample (default 0)")
    for s, func in ((views, cmd_views), (describe, cmd_describe_view), (skew, cmd_check_skew)):
        s.add_argument("--project", help="default: the configured project")
        s.add_argument("--json", action="store_true", help="JSON for scripts")
        s.set_defaults(func=func)
