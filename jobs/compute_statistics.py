"""Compute (again) the statistics of feature groups and training datasets and keep them.

They are computed as Spark jobs and kept in the metadata store. Run it when statistics are not
computed on write (``FEATURESTORE_STATISTICS_ON_WRITE=false``), after a computation that failed,
or to redo them with new settings.

    spark-submit ... jobs/compute_statistics.py [NAME ...] [--all] [--version V] [--commit C]
        [--training-dataset NAME ...] [--compare OLD NEW] [--plots DIR]

Feature groups are taken at their latest version (``--version``) and latest commit
(``--commit``), with their own statistics settings; training datasets with the settings of their
last statistics. ``--compare`` prints per feature how it moved from commit OLD to NEW, ``--plots``
writes the figures as PNG files into ``DIR/<name>_v<version>/`` (a training dataset's into
``DIR/training_dataset_<name>_v<version>/``). Every name is checked before anything is
computed; exit code 1 with the message on an error.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

import featurestore_spark as fs
from featurestore_spark.cli import drift_table, save_figures
from featurestore_spark.errors import FeatureStoreError, InvalidInputError
from featurestore_spark.logs import setup_logging
from featurestore_spark.statistics import StatisticsConfig

log = logging.getLogger("compute_statistics")


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help="feature groups")
    parser.add_argument("--all", action="store_true",
                        help="every feature group of the project (its latest version)")
    parser.add_argument("--version", type=int, help="that version of each NAME (default latest)")
    parser.add_argument("--commit", type=int, help="that commit of each NAME (default latest)")
    parser.add_argument("--training-dataset", nargs="+", action="extend", default=[],
                        metavar="NAME", dest="training_datasets",
                        help="training datasets (latest version, or --version); put feature "
                        "group names before it")
    parser.add_argument("--compare", nargs=2, type=int, metavar=("OLD", "NEW"),
                        help="per feature group, how its features moved from commit OLD to NEW")
    parser.add_argument("--plots", metavar="DIR", help="write the figures as PNG files into DIR")
    args = parser.parse_args(argv)
    if not (args.names or args.all or args.training_datasets):
        parser.error("name feature groups, --all, or --training-dataset NAME")
    if args.all and (args.names or args.version is not None or args.commit is not None):
        parser.error("--all takes every feature group at its latest version and commit: give "
                     "no NAME, --version or --commit with it")
    return args


def _targets(store: fs.FeatureStore, args: argparse.Namespace) -> list[tuple[str, Any, int | None]]:
    """``("fg", group, commit)`` and ``("td", dataset, None)`` of every item asked for, each
    looked up first: one error naming every one that is not there."""
    found: list[tuple[str, Any, int | None]] = []
    problems = []
    if args.all:
        latest = {g.name: g for g in store.feature_groups()}        # listed by version
        found += [("fg", g, _latest(store, g)) for g in latest.values()]
        if not latest:
            log.warning("no feature groups in project %s", store.settings.project)
    for name in args.names:
        try:
            group = store.feature_group(name, args.version)
            commit = (store.commit_as_of(group, args.commit) if args.commit is not None
                      else _latest(store, group))
            found.append(("fg", group, commit))
        except FeatureStoreError as e:
            problems.append(" ".join(str(e).split()))
    for name in args.training_datasets:
        try:
            found.append(("td", store.training.get(name, args.version), None))
        except FeatureStoreError as e:
            problems.append(" ".join(str(e).split()))
    if args.compare:
        problems += [p for kind, group, commit in found if kind == "fg"
                     for p in _compare_problems(store, group, commit, args.compare)]
    if problems:
        raise InvalidInputError("cannot compute statistics", problems)
    return found


def _latest(store: fs.FeatureStore, group: Any) -> int | None:
    """The latest commit of a group (None for an external one: its source now, a new run)."""
    return None if group.external else store.commits(group.name, group.version)[-1].commit_id


def _compare_problems(store: fs.FeatureStore, group: Any, computed: int | None,
                      commits: list[int]) -> list[str]:
    """Why ``--compare OLD NEW`` cannot be shown for ``group`` (checked before any statistics
    are computed): a commit it does not have, or one without statistics that this run does not
    compute."""
    if group.external:
        return [f"--compare: {group.name} v{group.version} is an external feature group: its "
                "statistics runs compare with compare_featuregroup_statistics"]
    ids = [c.commit_id for c in store.commits(group.name, group.version)]
    problems = []
    for commit in commits:
        if commit not in ids:
            problems.append(f"--compare: {group.name} v{group.version} has no commit {commit} "
                            f"(its commits: {', '.join(map(str, ids))})")
            continue
        if commit == computed:
            continue
        try:
            store.quality.statistics(group, commit)
        except InvalidInputError:
            problems.append(f"--compare: {group.name} v{group.version} has no statistics of "
                            f"commit {commit}: compute them first (--commit {commit})")
    return problems


def _training_config(store: fs.FeatureStore, td: Any) -> StatisticsConfig | None:
    """The settings of the training dataset's last statistics (None: the defaults)."""
    try:
        kept = store.quality.training_dataset_statistics(td)
    except InvalidInputError:                                       # none computed yet
        return None
    return StatisticsConfig.from_dict(kept["config"]) if kept.get("config") else None


def _compute(store: fs.FeatureStore, kind: str, item: Any, commit: int | None
             ) -> tuple[str, dict, str]:
    """Compute and keep one item's statistics: its label, the statistics, its plot folder."""
    if kind == "fg":
        stats = store.quality.compute(item, commit)
        which = f"run {stats['commit']} of its source" if item.external else f"commit {commit}"
        return f"{item.name} v{item.version} {which}", stats, f"{item.name}_v{item.version}"
    rows = store.training.read(item.name, item.version, project=item.project)
    stats = store.quality.training_statistics(item, rows, _training_config(store, item),
                                              on_demand=True)
    return (f"training dataset {item.name} v{item.version}", stats,
            f"training_dataset_{item.name}_v{item.version}")


def run(store: fs.FeatureStore, args: argparse.Namespace) -> None:
    targets = _targets(store, args)
    for i, (kind, item, commit) in enumerate(targets, 1):
        started = time.monotonic()
        label, stats, folder = _compute(store, kind, item, commit)
        print(f"[{i}/{len(targets)}] {label}: {stats['row_count']} rows, "
              f"{len(stats.get('columns', []))} columns, {time.monotonic() - started:.1f} s",
              flush=True)
        if args.compare and kind == "fg":
            change = store.quality.compare(item, *args.compare)
            print("    " + drift_table(change).replace("\n", "\n    "), flush=True)
        if args.plots:
            written = save_figures(stats, Path(args.plots) / folder)
            print(f"    {len(written)} figure(s) in {Path(args.plots) / folder}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    setup_logging()   # INFO progress lines; libraries quiet (FEATURESTORE_LOG_LEVEL)
    try:
        store = fs.connect()
    except FeatureStoreError as e:
        print(f"compute_statistics: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    try:
        run(store, args)
    except FeatureStoreError as e:
        print(f"compute_statistics: error: {e}", file=sys.stderr)
        return 1
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
