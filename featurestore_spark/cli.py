"""``featurestore``: feature groups and their history, online copy, statistics and validation.

``list``, ``describe``, ``history``, ``validation`` and ``statistics`` (without ``--compute``) read
only the metadata store and start no Spark, so they answer in well under a second; ``doctor``
tells versions, backends and which client lookups use, without Spark;
``sync-online``, ``check-online`` and ``statistics --compute`` run Spark jobs. Feature views:
``views``, ``describe-view`` (no Spark) and ``check-skew`` (see ``cli_views``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import re
import sys
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, cast

from .cli_registry import add_parsers as add_registry_parsers
from .cli_views import add_parsers as add_view_parsers
from .config import Settings, load_settings
from .errors import CommitNotFound, FeatureStoreError, InvalidInputError
from .logs import setup_logging
from .metadata import FG_FRESHNESS, Commit, FeatureGroup, MetadataStore, open_metadata_store
from .metadata.base import Subject
from .names import database_name, table_name
from .quality import Quality
from .text import table

if TYPE_CHECKING:
    from .context import Context

log = logging.getLogger(__name__)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _time(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


def _history(commits: list[Commit]) -> str:
    return table(["commit", "time (UTC)", "operation", "inserted", "updated", "deleted", "by", "job"],
                 [(c.commit_id, _time(c.committed_at), c.operation, c.rows_inserted,
                   c.rows_updated, c.rows_deleted, c.creator, c.job) for c in commits])


def cmd_list(meta: MetadataStore, project: str, args: argparse.Namespace) -> str | Any:
    groups = meta.list_feature_groups(project)
    summaries: list[dict[str, Any]] = []
    for g in groups:
        commits = meta.commits(g.project, g.name, g.version)
        summaries.append({"name": g.name, "version": g.version, "features": len(g.features),
                          "primary_key": list(g.primary_key), "commits": len(commits),
                          "last_commit": commits[-1].commit_id if commits else None,
                          "last_commit_time": commits[-1].committed_at if commits else None,
                          "external": g.external, "description": g.description})
    if args.json:
        return summaries
    if not summaries:
        return f"no feature groups in feature store {database_name(project)}"
    return table(["name", "version", "features", "primary key", "commits", "last commit (UTC)",
                  "description"],
                 [(s["name"], s["version"], s["features"], ", ".join(s["primary_key"]),
                   "external" if s["external"] else s["commits"],
                   _time(s["last_commit_time"]) if s["last_commit_time"] else "", s["description"])
                  for s in summaries])


def _describe(meta: MetadataStore, g: FeatureGroup) -> dict[str, Any]:
    versions = meta.feature_group_versions(g.project, g.name)
    subject = Subject(g.project, "fg", g.name, g.version)
    return {**dataclasses.asdict(g), "table": None if g.external else
            f"{database_name(g.project)}.{table_name(g.name, g.version)}",
            "versions": versions, "keywords": meta.keywords(subject), "tags": meta.tags(subject),
            "freshness": [{"commit": d.number, **d.body} for d in meta.documents(
                g.project, FG_FRESHNESS, g.name, g.version)][-10:],
            "commits": [dataclasses.asdict(c) for c in meta.commits(g.project, g.name, g.version)]}


def cmd_describe(meta: MetadataStore, project: str, args: argparse.Namespace) -> str | Any:
    g = meta.get_feature_group(project, args.name, args.version)
    info = _describe(meta, g)
    if args.json:
        return info
    where = ([("source", _source(g.source))] if g.source is not None
             else [("table", info["table"])])
    facts = [*where, ("description", g.description),
             ("primary key", ", ".join(g.primary_key)), ("partitioned by", ", ".join(g.partition_by)),
             ("event time", g.event_time or ""), ("versions", ", ".join(map(str, info["versions"]))),
             ("created", f"{_time(g.created_at)} by {g.creator}"),
             *([] if g.external else [("location", g.location)]),
             ("online", "no" if not g.online else "yes, loaded from its source" if g.external
              else f"yes, synced to commit {g.online_commit}"),
             ("computed from", ", ".join(g.dependencies)),
             *([("freshness", _freshness(info["freshness"][-1]))] if info["freshness"] else []),
             ("keywords", ", ".join(info["keywords"])),
             ("tags", ", ".join(f"{k}={json.dumps(v)}" for k, v in info["tags"].items()))]
    features = table(["feature", "type", "key", "partition", "description"],
                     [(f.name, f.type, "yes" if f.primary else "", "yes" if f.partition else "",
                       f.description) for f in g.features])
    commits = meta.commits(g.project, g.name, g.version)
    head = "\n".join(f"{k + ':':<16}{v}" for k, v in facts)
    history = "an external feature group: no commits" if g.external else _history(commits)
    return f"{g.name} version {g.version}\n{head}\n\n{features}\n\n{history}"


def _freshness(last: Mapping[str, Any]) -> str:
    """A streamed micro-batch's lag from event to readable, in one line."""
    return (f"p50 {last['p50_ms'] / 1000:.1f} s, p99 {last['p99_ms'] / 1000:.1f} s from event to "
            f"readable {last['readable']} (commit {last['commit']}, {last['rows']} rows, "
            f"stream batch {last['batch']})")


def _source(source: Any) -> str:
    """Where an external group is read from, in one line."""
    what = source.get("query") or f"{source.get('data_format')} files at {source.get('path') or '/'}"
    return f"{what} (storage connector {source['connector']})"


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
    if result.to_commit is None:
        return (f"{result.name} version {result.version}: loaded from its source, "
                f"{result.rows_written} rows written")
    return (f"{result.name} version {result.version}: {result.mode} sync, commit "
            f"{result.from_commit} -> {result.to_commit}, {result.rows_written} rows written, "
            f"{result.rows_deleted} deleted")


def cmd_check(meta: MetadataStore, project: str, args: argparse.Namespace) -> str | Any:
    report = _store(args).check(project, repair=args.repair)
    args.exit_code = 0 if report.consistent else 1
    return report.as_dict() if args.json else report.text()


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


# -- statistics and validation ---------------------------------------------------------------------
def _quality(meta: MetadataStore) -> Quality:
    """Statistics, comparisons, suites and reports read from the metadata store alone (no
    Spark): Quality's readers use nothing of the store but its ``metadata``."""
    return Quality(cast("Context", SimpleNamespace(metadata=meta)))


def _num(value: Any, sign: str = "") -> str:
    """A table cell: floats to 6 significant digits (``sign="+"`` shows the sign), None blank."""
    if value is None:
        return ""
    if isinstance(value, float):
        return format(value, f"{sign}.6g")
    if isinstance(value, int) and not isinstance(value, bool):
        return format(value, f"{sign}d")
    return str(value)


def _check_commit(meta: MetadataStore, g: FeatureGroup, commit: int | None) -> int | None:
    if commit is not None and not g.external:    # external: runs, checked by quality
        commits = [c.commit_id for c in meta.commits(g.project, g.name, g.version)]
        if commit not in commits:
            raise CommitNotFound(f"{g.name} version {g.version} has no commit {commit}; its "
                                 f"commits are {commits}")
    return commit


def statistics_table(stats: Mapping[str, Any]) -> str:
    """The descriptive statistics as a table: feature, count, completeness, mean, stddev, min,
    max; then the notes (what was not computed, and why) and the columns skipped."""
    described = stats.get("descriptive", {})
    rows = [(c, *(_num(described.get(c, {}).get(k)) for k in
                  ("count", "completeness", "mean", "stddev", "min", "max")))
            for c in stats.get("columns", [])]
    lines = [table(["feature", "count", "completeness", "mean", "stddev", "min", "max"], rows)]
    if "descriptive" not in stats:
        lines.append("no descriptive statistics (descriptive_statistics is off)")
    if stats.get("skipped"):
        lines.append(f"skipped (type not described): {', '.join(stats['skipped'])}")
    lines += [f"note: {n}" for n in stats.get("notes", [])]
    return "\n".join(lines)


def drift_table(change: Mapping[str, Any]) -> str:
    """How the features moved between two commits (``Quality.compare``): per feature the change
    of mean and of null fraction, and the PSI of the histograms."""
    head = (f"commit {change['from_commit']} -> {change['to_commit']}: "
            f"{_num(change.get('row_count_change'), '+')} rows")
    for key in ("added", "removed"):
        if change.get(key):
            head += f", {key} {', '.join(change[key])}"
    rows = [(name, f.get("kind") or "", _num(f.get("mean_change"), "+"),
             _num(f.get("null_fraction_change"), "+"), _num(f.get("psi")))
            for name, f in change.get("features", {}).items()]
    return head + "\n" + table(["feature", "kind", "mean change", "null fraction change", "PSI"],
                               rows)


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def save_figures(stats: Mapping[str, Any], folder: str | Path) -> list[Path]:
    """Write the figures of ``stats`` as PNG files into ``folder`` (made if missing):
    ``histogram_<feature>.png`` per histogram, ``correlations.png`` and ``clusters.png`` when
    they were computed. Returns the paths written.

    Examples
    --------
    >>> save_figures(store.quality.statistics(group), "plots/players_v1")     # doctest: +SKIP
    [PosixPath('plots/players_v1/histogram_rating.png'), ...]
    """
    from .statistics import cluster_figure, correlation_figure, histogram_figure, save_figure
    folder = Path(folder)
    # (file name, the figure's function, its arguments after stats)
    figures: list[tuple[str, Callable[..., Any], tuple[Any, ...]]] = [
        (f"histogram_{_file_name(f)}.png", histogram_figure, (f,)) for f in stats.get("histograms", {})]
    figures += [(f"{part}.png", make, ()) for part, make in
                (("correlations", correlation_figure), ("clusters", cluster_figure))
                if part in stats]
    written = []
    try:
        for file_name, make, extra in figures:
            written.append(save_figure(make(stats, *extra), folder / file_name))
    except OSError as e:
        raise FeatureStoreError(f"cannot write the figures into {folder}: "
                                f"{e.strerror or e}") from None
    return written


def cmd_statistics(meta: MetadataStore, project: str, args: argparse.Namespace) -> str | Any:
    g = meta.get_feature_group(project, args.name, args.version)
    commit = _check_commit(meta, g, args.commit)
    quality = _quality(meta)
    if args.compute:
        store = _store(args)
        if commit is None and not g.external:     # external: of its source now, a new run
            commit = meta.commits(g.project, g.name, g.version)[-1].commit_id
        print(f"computing the statistics of {g.name} v{g.version} "
              f"{'from its source' if g.external else f'commit {commit}'} (Spark) ...",
              file=sys.stderr, flush=True)
        started = time.monotonic()
        commit = store.quality.compute(g, commit)["commit"]
        print(f"computed in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    stats = quality.statistics(g, commit)
    change = None
    if args.compare:
        for c in args.compare:
            _check_commit(meta, g, c)
        change = quality.compare(g, *args.compare)
    figures = []
    if args.plots:
        figures = save_figures(stats, Path(args.plots) / f"{_file_name(g.name)}_v{g.version}")
    if args.json:
        return {"name": g.name, "version": g.version, **stats,
                **({"comparison": change} if change is not None else {}),
                **({"figures": [str(p) for p in figures]} if args.plots else {})}
    parts = [f"{g.name} version {g.version} commit {stats['commit']}: {stats['row_count']} rows, "
             f"{len(stats.get('columns', []))} columns\n{statistics_table(stats)}"]
    if change is not None:
        parts.append(drift_table(change))
    if args.plots:
        parts.append(f"{len(figures)} figure(s) written:\n" + "\n".join(map(str, figures)))
    return "\n\n".join(parts)


def _failed_types(report: Mapping[str, Any]) -> list[str]:
    return [r["expectation_type"] for r in report.get("results", []) if not r.get("success")]


def cmd_validation(meta: MetadataStore, project: str, args: argparse.Namespace) -> str | Any:
    g = meta.get_feature_group(project, args.name, args.version)
    commit = _check_commit(meta, g, args.commit)
    quality = _quality(meta)
    suite, policy, suite_version = quality.suite(g)
    reports = quality.reports(g, commit)
    expectations = len(suite["expectations"]) if suite else 0
    if args.json:
        return {"name": g.name, "version": g.version, "suite": suite, "policy": policy,
                "suite_version": suite_version, "expectations": expectations,
                "reports": [{**r, "failed_expectations": _failed_types(r)} for r in reports]}
    if suite is not None:
        about = (f"suite:   {suite['name']}, policy {policy}, version {suite_version}, "
                 f"{expectations} expectation(s)")
    elif suite_version:
        about = f"suite:   none (detached in version {suite_version})"
    else:
        about = "suite:   none attached"
    which = "" if commit is None else f" of commit {commit}"
    if not reports:
        kept = f"no validation reports kept{which}"
    else:
        kept = f"validation reports{which}:\n" + table(
            ["commit", "success", "suite version", "evaluated", "failed", "failed expectations"],
            [(r["commit"], "yes" if r.get("success") else "no", r.get("suite_version"),
              r.get("evaluated"), r.get("failed"), ", ".join(_failed_types(r)))
             for r in reports])
    return f"{g.name} version {g.version}\n{about}\n\n{kept}"


def _one_line(error: FeatureStoreError) -> str:
    """The error's message on one line (an InvalidInputError's problems joined by "; ")."""
    if isinstance(error, InvalidInputError) and error.problems:
        what = str(error).split(f": {len(error.problems)} problem(s)", 1)[0]
        return f"{what}: {'; '.join(error.problems)}"
    return " ".join(str(error).split())


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
    stats = _quality_parser(sub, "statistics", cmd_statistics,
                            "the statistics of a commit: descriptive table, drift, figures")
    stats.add_argument("--compute", action="store_true",
                       help="compute them first (Spark), as of --commit or the latest commit")
    stats.add_argument("--compare", nargs=2, type=int, metavar=("OLD", "NEW"),
                       help="also how the features moved from commit OLD to NEW (mean, nulls, PSI)")
    stats.add_argument("--plots", metavar="DIR",
                       help="write the figures as PNG files into DIR/<name>_v<version>/")
    _quality_parser(sub, "validation", cmd_validation,
                    "the expectation suite of a feature group and the validation reports kept")
    check = sub.add_parser("check", help="whether the metadata agrees with the Delta tables, "
                           "the catalog and the online tables (Spark; exit 1 when not)")
    check.add_argument("--repair", action="store_true", help="register unregistered Delta "
                       "commits and recreate missing catalog tables; report the rest")
    check.add_argument("--project", help="default: the configured project")
    check.add_argument("--json", action="store_true", help="JSON for scripts")
    check.set_defaults(func=cmd_check)
    add_view_parsers(sub)
    add_registry_parsers(sub)
    doctor = sub.add_parser("doctor", help="versions, backends and the client lookups use (no "
                            "Spark; exit 1 on a problem)")
    doctor.add_argument("--json", action="store_true", help="JSON for scripts")
    return p


def cmd_doctor(settings: Settings, args: argparse.Namespace) -> str | Any:
    from .doctor import report
    found = report(settings, args.conf)
    args.exit_code = 1 if found.problems else 0
    return found.as_dict() if args.json else found.text()


def _quality_parser(sub: Any, name: str, func: Any, help_text: str) -> argparse.ArgumentParser:
    s = sub.add_parser(name, help=help_text, description=help_text)
    s.add_argument("name")
    s.add_argument("--version", type=int, help="default: the latest")
    s.add_argument("--commit", type=int, help=(
        "default: the latest commit that has statistics (with --compute: the latest commit)"
        if name == "statistics" else "only this commit's report (default: every report kept)"))
    s.add_argument("--project", help="default: the configured project")
    s.add_argument("--json", action="store_true", help="JSON for scripts")
    s.set_defaults(func=func, error_code=1)
    return s


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code. On an error the message is one line on stderr and the
    exit code is 2 (1 for ``statistics`` and ``validation``).

    Examples
    --------
    >>> main(["list", "--json"])     # doctest: +SKIP
    """
    args = parser().parse_args(argv)
    setup_logging(logging.WARNING, "%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.conf)
        if args.command == "doctor":       # reads no metadata: it must work when nothing else does
            out = cmd_doctor(settings, args)
        else:
            out = args.func(open_metadata_store(settings), args.project or settings.project, args)
    except FeatureStoreError as e:
        print(f"featurestore: error: {_one_line(e)}", file=sys.stderr)
        return getattr(args, "error_code", 2)
    print(json.dumps(out, indent=2, default=_jsonable) if args.json else out)
    return getattr(args, "exit_code", 0)


if __name__ == "__main__":
    raise SystemExit(main())
