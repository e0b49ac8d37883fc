"""A Python of its own that imports pandas FIRST (as notebooks and model servers do), then looks
keys up through the online store's connection pool in the test MariaDB (FEATURESTORE_MYSQL_*
variables); prints one JSON line: the client path taken, the rows, the warnings logged. Used by
test_client_path."""

import pandas  # noqa: F401  isort: skip  (first: it imports hashlib, loading the system's OpenSSL)
import sys  # isort: skip

HASHLIB_FIRST = "_hashlib" in sys.modules and "featurestore_spark" not in sys.modules

import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402

PROJECT = "clientpath"


class Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.name}: {record.getMessage()}")


def main() -> None:
    import mysql.connector

    from featurestore_spark.config import MysqlSettings
    from featurestore_spark.mysql_client import client_path
    from featurestore_spark.online.mysql import MysqlBackend
    from featurestore_spark.online.serving import ConnectionPool

    caught = Warnings()
    logging.getLogger().addHandler(caught)
    env = os.environ
    settings = MysqlSettings(host=env["FEATURESTORE_MYSQL_HOST"],
                             port=int(env["FEATURESTORE_MYSQL_PORT"]),
                             user=env["FEATURESTORE_MYSQL_USER"],
                             password=env["FEATURESTORE_MYSQL_PASSWORD"],
                             unix_socket=env.get("FEATURESTORE_MYSQL_UNIX_SOCKET", ""))
    backend = MysqlBackend(settings)
    with backend.connection(PROJECT) as conn:
        cur = conn.cursor()
        cur.execute("DROP TABLE IF EXISTS t")
        cur.execute("CREATE TABLE t (k INT PRIMARY KEY, v DOUBLE)")
        cur.execute("INSERT INTO t VALUES (1, 0.5), (2, 1.5)")
        conn.commit()
    pool = ConnectionPool(backend, PROJECT, 2)
    try:
        found = [pool.rows("SELECT k, v FROM t WHERE k = %s", (k,)) for k in (1, 2, 3, 1)]
        found.append(pool.rows("SELECT k, v FROM t WHERE k IN (%s, %s)", (2, 1)))
        statements = sorted({type(s).__name__ for _, held in list(pool._idle.queue)
                             for s in held.values()})
    finally:
        pool.close()
        with backend.connection(PROJECT) as conn:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{PROJECT}_online`")
    preload = getattr(sys.modules.get("featurestore_spark_preload"), "status", "did not run")
    print(json.dumps({"hashlib_first": HASHLIB_FIRST, "have_cext": mysql.connector.HAVE_CEXT,
                      "preload": preload, "client_path": client_path(),
                      "statements": statements, "rows": found, "warnings": caught.messages}))


if __name__ == "__main__":
    main()
