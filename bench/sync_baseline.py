"""The sync baselines, run in a process of their own (they hold their rows in Python, which must
not show in the driver's memory), into an empty table of the same DDL as the feature store's online
table, from one mysql-connector connection:

- mode "executemany" (the default): ``INSERT ... VALUES ... ON DUPLICATE KEY UPDATE`` in batches,
  a commit per batch;
- mode "floor": the server's physical floor, the same rows written to a local TSV file first (in
  the text form the feature store's executors send: Arrow's double -> string), then one
  ``LOAD DATA LOCAL INFILE`` of that file and the commit.

    echo '{"rows": 1000000, "features": 20, "batch": 2000, ...}' | python bench/sync_baseline.py

reads its arguments as JSON on stdin (they hold the password: never on the command line) and
prints one JSON line: rows, seconds (of the executemany and commit calls, or of the LOAD DATA and
commit, only: generating the rows or the file is not timed), rows_per_second, have_cext,
connection class.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

import _mysql_connector  # noqa: F401  (before anything imports ssl: see ENVIRONMENT.md)
import mysql.connector


def value(key: int, j: int) -> float:     # lookup_bench.value: the values Spark generates
    return (key * (7919 * (j + 1)) % 10007) / 100.0


def main(args: dict) -> dict:
    rows, features = args["rows"], args["features"]
    table, prefix = args["table"], args["prefix"]
    floor = args.get("mode", "executemany") == "floor"
    conn = mysql.connector.connect(**args["connect"], collation="utf8mb4_general_ci",
                                   autocommit=False, allow_local_infile=floor)
    cur = conn.cursor()
    names = [f"{prefix}{j}" for j in range(features)]
    cur.execute(f"DROP TABLE IF EXISTS `{table}`")
    cur.execute(f"CREATE TABLE `{table}` (`id` BIGINT, "
                + ", ".join(f"`{n}` DOUBLE" for n in names)
                + ", PRIMARY KEY (`id`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 "
                  "COLLATE=utf8mb4_nopad_bin")
    cols = ", ".join(f"`{c}`" for c in ["id"] + names)
    if floor:
        spent = load_file(conn, table, cols, rows, features)
    else:
        spent = upsert(conn, table, cols, names, rows, args["batch"])
    cur.execute(f"SELECT COUNT(*) FROM `{table}`")
    count = cur.fetchone()[0]
    cur.execute(f"SELECT * FROM `{table}` WHERE id IN (0, %s)", (rows - 1,))
    if count != rows or any(list(r[1:]) != [value(r[0], j) for j in range(features)]
                            for r in cur.fetchall()):
        raise SystemExit(f"{table}: {count} rows, expected {rows}, or wrong values")
    if args.get("drop", True):
        cur.execute(f"DROP TABLE `{table}`")
    kind = type(conn).__name__
    conn.close()
    return {"rows": count, "seconds": spent, "rows_per_second": count / spent,
            "have_cext": mysql.connector.HAVE_CEXT, "connection": kind}


def upsert(conn, table: str, cols: str, names: list[str], rows: int, batch: int) -> float:
    """executemany of INSERT ... ON DUPLICATE KEY UPDATE, a commit per batch; the seconds of
    those calls (making the rows is not timed)."""
    cur = conn.cursor()
    marks = ", ".join(["%s"] * (len(names) + 1))
    sql = (f"INSERT INTO `{table}` ({cols}) VALUES ({marks}) ON DUPLICATE KEY UPDATE "
           + ", ".join(f"`{n}` = VALUES(`{n}`)" for n in names))
    spent = 0.0
    clock = time.perf_counter
    for start in range(0, rows, batch):
        chunk = [(k, *[value(k, j) for j in range(len(names))])
                 for k in range(start, min(rows, start + batch))]
        t0 = clock()
        cur.executemany(sql, chunk)
        conn.commit()
        spent += clock() - t0
    return spent


def load_file(conn, table: str, cols: str, rows: int, features: int) -> float:
    """The floor: the rows written to a TSV file (untimed), then LOAD DATA LOCAL INFILE of it
    and the commit; the seconds of those two."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    fd, path = tempfile.mkstemp(prefix="sync_floor_", suffix=".tsv")
    try:
        with os.fdopen(fd, "wb") as f:
            for start in range(0, rows, 100_000):
                ids = np.arange(start, min(rows, start + 100_000), dtype=np.int64)
                texts = [pa.array(ids).cast(pa.string())]       # value(), vectorised
                texts += [pa.array(ids * (7919 * (j + 1)) % 10007 / 100.0).cast(pa.string())
                          for j in range(features)]
                lines = pc.binary_join_element_wise(*texts, "\t").to_pylist()
                f.write(("\n".join(lines) + "\n").encode())
        cur = conn.cursor()
        t0 = time.perf_counter()
        cur.execute(f"LOAD DATA LOCAL INFILE %s INTO TABLE `{table}` CHARACTER SET utf8mb4 "
                    "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
                    f"({cols})", (path,))
        conn.commit()
        return time.perf_counter() - t0
    finally:
        os.unlink(path)


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.stdin.read()))))
