"""Materialize feature groups offline -> online: incrementally from the last synced commit (the
Delta change data feed), or in full. Run it after offline-only writes, on a schedule, or again
after a sync that was cut off.

    spark-submit ... jobs/online_sync.py [NAME ...] [--version N] [--full] [--check]

Without names it syncs every online feature group of the configured project. Exit code 1 when
``--check`` finds an online table that differs from its offline latest snapshot.
"""

from __future__ import annotations

import argparse
import logging
import sys

import featurestore_spark as fs
from featurestore_spark.logs import setup_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="feature groups (default: every online one)")
    parser.add_argument("--version", type=int, help="with one name: that version (default latest)")
    parser.add_argument("--full", action="store_true", help="rewrite the online tables whole")
    parser.add_argument("--check", action="store_true", help="compare with offline afterwards")
    args = parser.parse_args(argv)
    setup_logging()   # INFO progress lines; libraries quiet (FEATURESTORE_LOG_LEVEL)
    log = logging.getLogger("online_sync")
    store = fs.connect()
    if args.names:
        targets = [(n, args.version) for n in args.names]
    else:
        latest = {g.name: g for g in store.feature_groups() if g.online}
        targets = [(g.name, g.version) for g in latest.values()]
    if not targets:
        log.warning("no online feature groups in project %s", store.settings.project)
    status = 0
    for i, (name, version) in enumerate(targets, 1):
        result = store.sync_online(name, version, full=args.full)
        to = "from its source" if result.to_commit is None else f"to commit {result.to_commit}"
        print(f"[{i}/{len(targets)}] {result.name} v{result.version}: {result.mode} sync {to} "
              f"({result.rows_written} rows written, {result.rows_deleted} deleted)", flush=True)
        if args.check:
            report = store.check_online(name, result.version)
            print(f"    online {'equals' if report.consistent else 'DIFFERS FROM'} offline: "
                  f"{report.online_rows} keys online, {report.offline_rows} offline, "
                  f"{report.missing_online} missing, {report.extra_online} extra, "
                  f"{report.different} different", flush=True)
            status = status or (0 if report.consistent else 1)
    store.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
