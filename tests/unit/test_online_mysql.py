"""The online store against real MariaDB servers: a sync cut off by the server going away, SQL
injection attempts, and passwords kept out of logs, errors and metadata."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

import featurestore_spark as fs
from featurestore_spark import featurestore
from featurestore_spark.config import load_settings
from featurestore_spark.errors import InvalidInputError, OnlineStoreError
from featurestore_spark.spec import ReadSpec

from ..conftest import ROOT, settings_env
from .conftest import mysql_env
from .helpers import rows, snapshot

SERVER = ROOT / "conf" / "mariadb" / "server.sh"
ROWS = 30_000


class PrivateServer:
    """A MariaDB of this test's own (conf/mariadb/server.sh on a data folder under /tmp), so it
    can be stopped and started without disturbing the server the other tests share."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="fsdb"))     # short: socket paths are limited
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.env = {**os.environ, "MARIADB_DIR": str(self.dir / "db"),
                    "MARIADB_ENV_FILE": str(self.dir / "mysql.env"), "MYSQL_HOST": "127.0.0.1",
                    "MYSQL_PORT": str(self.port), "MYSQL_USER": "cutoff",
                    "MYSQL_PASSWORD": "cut-off-pw"}

    def run(self, command: str) -> None:
        done = subprocess.run([str(SERVER), command], env=self.env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr

    def settings_env(self) -> dict[str, str]:
        return {"FEATURESTORE_MYSQL_HOST": "127.0.0.1", "FEATURESTORE_MYSQL_PORT": str(self.port),
                "FEATURESTORE_MYSQL_USER": "cutoff", "FEATURESTORE_MYSQL_PASSWORD": "cut-off-pw",
                "FEATURESTORE_MYSQL_UNIX_SOCKET": ""}

    def close(self) -> None:
        subprocess.run([str(SERVER), "stop"], env=self.env, capture_output=True, timeout=120)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_server():
    if shutil.which("mariadbd") is None:
        pytest.fail("mariadbd is not installed: run `make mysql` (or `make test`), which installs it")
    server = PrivateServer()
    try:
        server.run("ensure")
        yield server
    finally:
        server.close()


def _store(spark, fs_home, project: str, mysql: dict[str, str], **extra: str) -> fs.FeatureStore:
    env = {**settings_env(fs_home, project), "FEATURESTORE_ONLINE_BACKEND": "mysql", **mysql,
           **extra}
    return fs.connect(load_settings(ROOT / "conf" / "featurestore.toml", env), spark)


def _count(server: PrivateServer, sql: str) -> int | None:
    import mysql.connector
    try:
        conn = mysql.connector.connect(host="127.0.0.1", port=server.port, user="cutoff",
                                       password="cut-off-pw", database="cutoff_online",
                                       connection_timeout=2)
    except mysql.connector.Error:
        return None
    try:
        cur = conn.cursor()
        cur.execute(sql)
        return cur.fetchone()[0]
    finally:
        conn.close()


def test_sync_cut_off_by_the_server_completes_when_run_again(spark, fs_home, private_server):
    """Stop the server while an incremental sync writes, start it, sync again: online equals
    the offline latest snapshot, and the cut-off sync did not record itself as done."""
    from pyspark.sql import functions as F
    rows = 4 * ROWS      # a sync long enough to be stopped mid-way on 2 busy cores
    store = _store(spark, fs_home, "cutoff", private_server.settings_env(),
                   FEATURESTORE_ONLINE_BATCH_SIZE="100")
    base = spark.range(rows).select(F.col("id").alias("k"), (F.col("id") * 0.5).alias("x"))
    featurestore.create_featuregroup(base.repartition(4), "big", primary_key="k", online=True)
    # offline only: every key changes and a tenth of them are deleted (overwrite)
    update = (spark.range(rows).where("id % 10 != 0")
              .select(F.col("id").alias("k"), F.lit(-1.0).alias("x")).repartition(4))
    featurestore.insert_into_featuregroup(update, "big", mode="overwrite", online=False)
    assert store.feature_group("big").online_commit == 0

    outcome: dict = {}

    def sync() -> None:
        try:
            outcome["result"] = store.sync_online("big")
        except Exception as e:           # noqa: BLE001 - the test inspects it
            outcome["error"] = e

    worker = threading.Thread(target=sync)
    worker.start()
    progress = None
    deadline = time.monotonic() + 120
    while worker.is_alive() and time.monotonic() < deadline:
        progress = _count(private_server, "SELECT COUNT(*) FROM big_1 WHERE x = -1")
        if progress:                         # part of the rows are written: pull the plug
            private_server.run("stop")
            break
        time.sleep(0.02)
    worker.join(300)
    assert progress, "the sync finished before the server could be stopped mid-way"
    assert progress < rows - rows // 10, "the server was stopped after the sync had written all"
    error = outcome.get("error")
    assert isinstance(error, OnlineStoreError), outcome
    assert "online table big_1" in str(error) and f"127.0.0.1:{private_server.port}" in str(error)
    assert store.feature_group("big").online_commit == 0      # not recorded as synced

    private_server.run("start")
    store.close()
    again = store.sync_online("big")
    assert (again.mode, again.from_commit, again.to_commit) == ("incremental", 0, 1)
    report = store.check_online("big")
    assert report.consistent, report.as_dict()
    assert report.online_rows == rows - rows // 10
    assert store.feature_group("big").online_commit == 1


def test_injection_through_names_and_keys_is_refused_or_harmless(spark, fs_home, mysql_settings):
    store = _store(spark, fs_home, "inject", mysql_env(mysql_settings))
    try:
        df = spark.createDataFrame([("a", 1.0), ("b'; DROP TABLE users_1; --", 2.0)],
                                   "k string, v double")
        featurestore.create_featuregroup(df, "users", primary_key="k", online=True)
        before = rows(store.read(ReadSpec("users", online=True)))
        bad_names = ["users`; DROP TABLE users_1; --", "users_1` WHERE 1=1 --", "x'\"",
                     "Users", "users; SELECT 1"]
        for name in bad_names:
            state = snapshot(store, "users")
            with pytest.raises(InvalidInputError, match="name .* is invalid"):
                featurestore.create_featuregroup(df, name, primary_key="k", online=True)
            with pytest.raises(InvalidInputError, match="is invalid"):
                featurestore.get_featuregroup(name, online=True)
            with pytest.raises(InvalidInputError, match="is invalid"):
                featurestore.sync_online_featuregroup(name)
            assert snapshot(store, "users") == state
        evil = spark.createDataFrame([("a", 1.0)], "k string, `v`` = 0; DROP TABLE users_1; --` double")
        with pytest.raises(InvalidInputError, match="is invalid"):
            featurestore.create_featuregroup(evil, "evil", primary_key="k", online=True)
        with pytest.raises(InvalidInputError):
            store.feature_vector(["v` FROM users_1; DROP TABLE users_1; --"], "a")
        # key values are bound parameters: they match only themselves
        for key in ["a' OR '1'='1", "a\" OR \"1\"=\"1", "' OR 1=1 --", "a`"]:
            assert store.feature_vector(["v"], key) == {"v": None}
        assert store.feature_vector(["v"], "b'; DROP TABLE users_1; --") == {"v": 2.0}
        assert store.feature_vectors(["v"], ["a", "x') OR ('1'='1", "b'; DROP TABLE users_1; --"]) \
            == [{"v": 1.0}, {"v": None}, {"v": 2.0}]
        assert rows(store.read(ReadSpec("users", online=True))) == before
        with store.online.backend.connection("inject") as conn:
            cur = conn.cursor()
            cur.execute("SHOW TABLES")
            assert [r[0] for r in cur.fetchall()] == ["users_1"]
    finally:
        store.close()
        with store.online.backend.connection("inject") as conn:
            conn.cursor().execute("DROP DATABASE IF EXISTS `inject_online`")


def test_passwords_stay_out_of_logs_errors_and_metadata(spark, fs_home, mysql_settings, caplog):
    password = mysql_settings.password
    assert len(password) >= 6, "the test server's password is too short to search for"
    caplog.set_level(logging.DEBUG)
    store = _store(spark, fs_home, "secrets", mysql_env(mysql_settings))
    try:
        df = spark.createDataFrame([(1, 0.5), (2, 1.5)], "id int, v double")
        featurestore.create_featuregroup(df, "things", primary_key="id", online=True)
        featurestore.insert_into_featuregroup(df, "things", mode="upsert")
        store.sync_online("things", full=True)
        assert store.feature_vector(["v"], 2) == {"v": 1.5}
        texts = [repr(store.settings), str(store.settings.mysql), store.online.backend.describe("x")]
        # a wrong password: refused with an error that names the server, not the password
        wrong = "Wr0ng-but-secret-pw"
        bad = _store(spark, fs_home, "secrets", {**mysql_env(mysql_settings),
                                                 "FEATURESTORE_MYSQL_PASSWORD": wrong})
        with pytest.raises(OnlineStoreError) as refused:
            bad.feature_vector(["v"], 1)
        texts.append(str(refused.value))
        with pytest.raises(OnlineStoreError) as refused_write:
            featurestore.insert_into_featuregroup(df, "things", mode="upsert")
        texts.append(str(refused_write.value))
        assert mysql_settings.describe() in str(refused.value)
        # reads of the online table through Spark's JDBC: an OnlineStoreError, not Py4JJavaError
        for read in (lambda: bad.read(ReadSpec("things", online=True)),
                     lambda: bad.check_online("things"),
                     lambda: bad.sql("SELECT v FROM things_1", online=True)):
            with pytest.raises(OnlineStoreError, match="Access denied") as refused_read:
                read()
            assert f"{mysql_settings.host}:{mysql_settings.port}/secrets_online" in \
                str(refused_read.value)
            texts.append(str(refused_read.value))
    finally:
        store.close()
    texts.append(caplog.text)
    # every stored row, read through SQLite: reading the file's bytes here would drop this
    # process's locks on it (POSIX locks go with any close of the file), and a process on the
    # same home closing last would then delete the WAL index under this one's connections
    # (later: "disk I/O error")
    with closing(sqlite3.connect(store.settings.metadata_path)) as db:
        metadata = "\n".join(db.iterdump())
    for text in texts:
        assert password not in text and wrong not in text
    assert "things" in metadata and password not in metadata and wrong not in metadata
    with store.online.backend.connection("secrets") as conn:
        conn.cursor().execute("DROP DATABASE IF EXISTS `secrets_online`")


def test_native_lookup_statements_match_the_prepared_cursor(mysql_settings, monkeypatch):
    """Lookups run through the C extension's statement (no cursor): the same rows and Python
    values as mysql-connector's prepared cursor, errors as mysql-connector's error classes, and
    a connection that failed is not reused. Floats and Decimals reach the C extension only as
    text (its binder overruns its heap for a Decimal and narrows a float to 4 bytes)."""
    from decimal import Decimal

    import mysql.connector

    from featurestore_spark.mysql_client import c_extension_problem
    from featurestore_spark.online.mysql import MysqlBackend, NativeStatement
    from featurestore_spark.online.serving import ConnectionPool
    from featurestore_spark.online.sql import CursorStatement

    backend = MysqlBackend(mysql_settings)
    with backend.connection("native") as conn:
        cur = conn.cursor()
        cur.execute("DROP TABLE IF EXISTS t")
        cur.execute("CREATE TABLE t (k VARCHAR(20) PRIMARY KEY, b BOOLEAN, n BIGINT, d DOUBLE, "
                    "m DECIMAL(12,3), day DATE, at DATETIME(6), j JSON, s TEXT)")
        cur.execute("INSERT INTO t VALUES ('a', 1, 9007199254740993, 0.1, 1234.567, "
                    "'2026-03-29', '2026-03-29 01:30:00.123456', '{\"x\": [1, 2]}', 'ünï ✓'), "
                    "('b', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)")
        conn.commit()
    sql = "SELECT k, b, n, d, m, day, at, j, s FROM `t` WHERE `k` IN (%s, %s, %s)"
    conn = backend.lookup_connection("native")
    try:
        # the comparison means something only on the C extension: without it, fail and say why
        assert mysql.connector.HAVE_CEXT, f"no C extension for lookups: {c_extension_problem()}"
        native = backend.lookup_statement(conn, sql)
        assert isinstance(native, NativeStatement), type(native)
        cursor = CursorStatement(conn.cursor(prepared=True), sql)
        for params in (("a", "b", "zz"), ("zz", "y", "x"), ("b", "b", "a")):
            got, want = native.rows(params), cursor.rows(params)
            assert got == want and [list(map(type, r)) for r in got] == [list(map(type, r)) for r in want]
        native_rows = native.rows(("a", "b", "zz"))
        assert len(native_rows) == 2
        # the rows come from the statement's fetch_row, then get_rows frees the result: the
        # connection has nothing unread (cmd_stmt_close below would refuse otherwise)
        assert not conn.unread_result and not native._stmt.have_result_set
        with pytest.raises(mysql.connector.Error):
            native.rows(("a", "b"))                            # one parameter short
        native.close()
        sent, execute = [], conn.cmd_stmt_execute
        monkeypatch.setattr(conn, "cmd_stmt_execute",
                            lambda stmt, *p, **k: sent.append(p) or execute(stmt, *p, **k))
        casts = backend.lookup_statement(
            conn, "SELECT CAST(%s AS DOUBLE), CAST(%s AS DECIMAL(65, 30)), %s, %s")
        assert casts.rows((0.1, Decimal("1.5"), float("nan"), Decimal("-inf"))) == \
            [(0.1, Decimal("1.5"), None, None)]
        assert [list(map(type, p)) for p in sent] == [[str, str, type(None), type(None)]]
        casts.close()
        cursor.close()
    finally:
        conn.close()
    pool = ConnectionPool(backend, "native", 2)
    try:
        assert pool.rows(sql, ("a", "zz", "zz"))[0][0] == "a"
        with pytest.raises(mysql.connector.Error, match="doesn't exist"):
            pool.rows("SELECT k FROM `no_such_table` WHERE k = %s", ("a",))
        assert pool._idle.qsize() == 0                         # the failed connection was closed
        assert pool.rows(sql, ("b", "zz", "zz"))[0][0] == "b"
        # the server closes the idle pooled connection (its wait_timeout passes): the next lookup
        # reconnects and answers instead of failing the caller
        idle = pool._idle.queue[0][0]
        first_id = idle.connection_id
        idle.cursor().execute("SET SESSION wait_timeout = 1")
        time.sleep(2.5)
        assert pool.rows(sql, ("a", "b", "zz")) == native_rows
        assert pool._idle.qsize() == 1 and pool._idle.queue[0][0].connection_id != first_id
    finally:
        pool.close()
        with backend.connection("native") as conn:
            conn.cursor().execute("DROP DATABASE IF EXISTS `native_online`")
