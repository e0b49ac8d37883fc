"""The sync baseline, run in a process of its own (it holds its rows in Python, which must not
show in the driver's memory): one mysql-connector connection, executemany of
``INSERT ... VALUES ... ON DUPLICATE KEY UPDATE`` in batches, a commit per batch, into an empty
table of the same DDL as the feature store's online table.

    echo '{"rows": 1000000, "features": 20, "batch": 2000, ...}' | python bench/sync_baseline.py

reads its arguments as JSON on stdin (they hold the password: never on the command line) and
prints one JSON line: rows, seconds (of the executemany and commit calls only: generating the
rows is not timed), rows_per_second, have_cext, connection class.
"""

from __future__ import annotations

import json
import sys
import time

import _mysql_connector  # noqa: F401  (before anything imports ssl: see ENVIRONMENT.md)
import mysql.connector


def value(key: int, j: int) -> float:     # lookup_bench.value: the values Spark generates
    return (key * (7919 * (j + 1)) % 10007) / 100.0


def main(args: dict) -> dict:
    rows, features, batch = args["rows"], args["features"], args["batch"]
    table, prefix = args["table"], args["prefix"]
    conn = mysql.connector.connect(**args["connect"], collation="utf8mb4_general_ci",
                                   autocommit=False)
    cur = conn.cursor()
    names = [f"{prefix}{j}" for j in range(features)]
    cur.execute(f"DROP TABLE IF EXISTS `{table}`")
    cur.execute(f"CREATE TABLE `{table}` (`id` BIGINT, "
                + ", ".join(f"`{n}` DOUBLE" for n in names)
                + ", PRIMARY KEY (`id`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 "
                  "COLLATE=utf8mb4_nopad_bin")
    cols = ", ".join(f"`{c}`" for c in ["id"] + names)
    marks = ", ".join(["%s"] * (features + 1))
    sql = (f"INSERT INTO `{table}` ({cols}) VALUES ({marks}) ON DUPLICATE KEY UPDATE "
           + ", ".join(f"`{n}` = VALUES(`{n}`)" for n in names))
    spent = 0.0
    clock = time.perf_counter
    for start in range(0, rows, batch):
        chunk = [(k, *[value(k, j) for j in range(features)])
                 for k in range(start, min(rows, start + batch))]
        t0 = clock()
        cur.executemany(sql, chunk)
        conn.commit()
        spent += clock() - t0
    cur.execute(f"SELECT COUNT(*) FROM `{table}`")
    count = cur.fetchone()[0]
    if args.get("drop", True):
        cur.execute(f"DROP TABLE `{table}`")
    kind = type(conn).__name__
    conn.close()
    return {"rows": count, "seconds": spent, "rows_per_second": count / spent,
            "have_cext": mysql.connector.HAVE_CEXT, "connection": kind}


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.stdin.read()))))
