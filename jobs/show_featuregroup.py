"""Show a feature group from a later job: by its catalog name with plain Spark SQL, and as of a
commit through the API.

    spark-submit ... jobs/show_featuregroup.py NAME [--version N] [--as-of COMMIT_OR_TIME] [-n ROWS]
"""

from __future__ import annotations

import argparse
import sys

import featurestore_spark as fs
from featurestore_spark import featurestore
from featurestore_spark.logs import setup_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("--version", type=int)
    parser.add_argument("--as-of", help="a commit id or an ISO-8601 time (UTC)")
    parser.add_argument("-n", "--rows", type=int, default=10)
    args = parser.parse_args(argv)
    setup_logging()   # INFO progress lines; libraries quiet (FEATURESTORE_LOG_LEVEL)
    store = fs.connect()
    as_of = int(args.as_of) if args.as_of and args.as_of.isdigit() else args.as_of
    df = featurestore.get_featuregroup(args.name, featuregroup_version=args.version, as_of=as_of)
    group = store.feature_group(args.name, args.version)
    where = ("external, read from its source" if group.external
             else store.table_name(args.name, args.version))
    print(f"{where}: {df.count()} rows")
    df.show(args.rows, truncate=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
