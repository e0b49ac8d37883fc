"""``featurestore``: list, describe and show the history of feature groups; sync and check online.

``list``, ``describe`` and ``history`` read only the metadata store and start no Spark, so they
answer in well under a second; ``sync-online`` and ``check-online`` run Spark jobs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from datetime import datetime
from typing import Any, Sequence

from .config import load_settings
from .errors import FeatureStoreError
from .metadata import Commit, FeatureGroup, MetadataStore, open_metadata_store
from .names import database_name, table_name

log = logging.getLogger(__name__)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows as aligned text columns under a header line."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _time(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


def _history(commits: list[Commit]) -> str:
    return table(["commit", "time (UTC)", "operation", "inserted", "updated", "deleted", "by"],
                 [(c.commit_id, _time(c.committed_at), c.operation, c.rows_inserted,
                   c.rows_updated, c.rows_deleted, c.creator) for c in commits])


def cmd_list(meta: MetadataStore, project: str, args: argparse.Namespace) -> str | Any:
    groups = meta.list_feature_groups(project)
    summaries = []
    for g in groups:
        commits = meta.commits(g.project, g.name, g.version)
        summaries.append({"name": g.name, "version": g.version, "features": len(g.features),
                          "primary_key": list(g.primary_key), "commits": len(commits),
                          "last_commit": commits[-1].commit_id if commits else None,
                          "last_commit_time": commits[-1].committed_at if commits else None,
                          "description": g.description})
    if args.json:
        return summaries
    if not summaries:
        return f"no feature groups in feature store {database_name(project)}"
    return table(["name", "version", "features", "primary key", "commits", "last commit (UTC)",
                  "description"],
                 [(s["name"], s["version"], s["features"], ", ".join(s["primary_key"]), s["commits"],
                   _time(s["last_commit_time"]) if s["last_commit_time"] else "", s["description"])
                  for s in summaries])


def _describe(meta: MetadataStore, g: FeatureGroup) -> dict[str, Any]:
    versions = [x.version for x in meta.list_feature_groups(g.project) if x.name == g.name]
    return {**dataclasses.asdict(g), "table": f"{database_name(g.project)}.{table_name(g.name, g.version)}",
            "versions": versions,
            "commits": [dataclasses.asdict(c) for c in meta.commits(g.project, g.name, g.version)]}


def cmd_describe(meta: MetadataStore, project: str, args: argparse.Namespace) -> str | Any:
    g = meta.get_feature_group(project, args.name, args.version)
    info = _describe(meta, g)
    if args.json:
        return info
    facts = [("table", info["table"]), ("description", g.description),
             ("primary key", ", ".join(g.primary_key)), ("partitioned by", ", ".join(g.partition_by)),
             ("event time", g.event_time or ""), ("versions", ", ".join(map(str, info["versions"]))),
             ("created", f"{_time(g.created_at)} by {g.creator}"), ("location", g.location),
             ("online", "no" if not g.online else f"yes, synced to commit {g.online_commit}")]
    features = table(["feature", "type", "key", "partition", "description"],
                     [(f.name, f.type, "yes" if f.primary else "", "yes" if f.partition else "",
                       f.description) for f in g.features])
    commits = meta.commits(g.project, g.name, g.version)
    head = "\n".join(f"{k + ':':<16}{v}" for k, v in facts)
    return f"{g.name} version {g.version}\n{head}\n\n{features}\n\n{_history(commits)}"


def cmd_history(meta: MetadataStore, project: str, args: argparse.Namespace) -> str | Any:
    g = meta.get_feature_group(project, args.name, args.version)
    commits = meta.commits(g.project, g.name, g.version)
    if args.json:
        return [dataclasses.asdict(c) for c in commits]
    return f"{g.name} version {g.version}\n{_history(commits)}"


def _store(args: argparse.Namespace) -> Any:
    from .feature_store import FeatureStore
    return FeatureStore.connect(load_settings(args.conf))


def cmd_sync_online(meta: MetadataStore, project: str, args: argparse.Namespace) -> str | Any:
    result = _store(args).sync_online(args.name, args.version, project, full=args.full)
    if args.json:
        return dataclasses.asdict(result)
    return (f"{result.name} version {result.version}: {result.mode} sync, commit "
            f"{result.from_commit} -> {result.to_commit}, {result.rows_written} rows written, "
            f"{result.rows_deleted} deleted")


def cmd_check_online(meta: MetadataStore, project: str, args: argparse.Namespace) -> str | Any:
    report = _store(args).check_online(args.name, args.version, project)
    args.exit_code = 0 if report.consistent else 1
    if args.json:
        return report.as_dict()
    verdict = "consistent" if report.consistent else "NOT consistent"
    lines = [f"{report.name} version {report.version}: online is {verdict} with the offline "
             f"latest snapshot (offline commit {report.offline_commit}, online synced to "
             f"{report.online_commit})",
             table(["", "keys"], [("offline", report.offline_rows), ("online", report.online_rows),
                                  ("missing online", report.missing_online),
                                  ("extra online", report.extra_online),
                                  ("different values", report.different)])]
    if report.examples:
        lines.append(table(["key", "problem"], [(json.dumps(e["key"], default=str), e["problem"])
                                                 for e in report.examples]))
    return "\n\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="featurestore", description=__doc__.splitlines()[0])
    p.add_argument("--conf", help="settings file (default: $FEATURESTORE_CONF or conf/featurestore.toml)")
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_text, func in (("list", "the feature groups of a project", cmd_list),
                                  ("describe", "one feature group: schema, keys, versions, commits",
                                   cmd_describe),
                                  ("history", "the commits of a feature group", cmd_history),
                                  ("sync-online", "bring an online table up to the latest commit "
                                   "(Spark)", cmd_sync_online),
                                  ("check-online", "compare an online table with the offline "
                                   "latest snapshot (Spark; exit 1 when they differ)",
                                   cmd_check_online)):
        s = sub.add_parser(name, help=help_text)
        if name != "list":
            s.add_argument("name")
            s.add_argument("--version", type=int, help="default: the latest")
        if name == "sync-online":
            s.add_argument("--full", action="store_true", help="rewrite the whole online table")
        s.add_argument("--project", help="default: the configured project")
        s.add_argument("--json", action="store_true", help="JSON for scripts")
        s.set_defaults(func=func)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (2 on an error, with the message on stderr).

    Examples
    --------
    >>> main(["list", "--json"])     # doctest: +SKIP
    """
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.conf)
        project = args.project or settings.project
        out = args.func(open_metadata_store(settings), project, args)
    except FeatureStoreError as e:
        print(f"featurestore: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(out, indent=2, default=_jsonable) if args.json else out)
    return getattr(args, "exit_code", 0)


if __name__ == "__main__":
    raise SystemExit(main())
