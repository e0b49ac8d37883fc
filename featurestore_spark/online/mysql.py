"""The shared online store: MySQL or MariaDB. Project ``p``'s online feature store is the database
``p_online``. Executors bulk-load each batch (``LOAD DATA LOCAL INFILE`` into a temporary table,
then ``INSERT ... SELECT ... ON DUPLICATE KEY UPDATE``), falling back to batched multi-row
upserts when the server refuses local files.

Nothing is cut to fit: write sessions run in strict SQL mode (a value too long or out of range
fails the statement), and ``LOAD DATA LOCAL``, which turns such errors into warnings whatever the
mode, fails its batch on any warning but a duplicate key; the batch's transaction is rolled back."""

from __future__ import annotations

import itertools
import logging
import math
import os
import re
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from ..config import MysqlSettings
from ..errors import OnlineStoreError
from ..mysql_client import PRELOAD_FIX, c_extension_problem, connect, reason
from .schema import (MAX_KEY_CHARS, ONLINE_DATABASE, STAGING_OLD, Column, OnlineSchema, batch_rows,
                     batch_tsv)
from .sql import CursorStatement, LookupStatement, SqlOnlineBackend

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)
# packets stay under max_allowed_packet (16 MiB by default): executemany sends one statement
EXECUTEMANY_ROWS = 1000
LOCAL_INFILE_REFUSED = {1148, 2068, 3948}
# the server closed the connection: gone away, lost, lost during query, wait_timeout (MySQL 8),
# killed (MariaDB)
CONNECTION_LOST = {2006, 2013, 2055, 4031, 1927}
DUPLICATE_KEY = 1062            # LOAD DATA keeps the first row of a key: what a fresh load wants
MAX_WARNINGS = 65535            # the most warnings a session keeps (max_error_count)
TYPES = {"bool": "BOOLEAN", "date": "DATE", "timestamp": "DATETIME(6)",
         "timestamp_ntz": "DATETIME(6)", "json": "JSON"}
_fallback_lock = threading.Lock()      # the pure-Python fallback is logged once per process
_fallback_logged = False


def database(project: str) -> str:
    return project + ONLINE_DATABASE


class MysqlBackend(SqlOnlineBackend):
    placeholder = "%s"
    text_times = False
    name = "mysql"

    def __init__(self, mysql: MysqlSettings) -> None:
        self.mysql = mysql
        self._local_infile = True

    def q(self, identifier: str) -> str:
        return "`" + identifier.replace("`", "``") + "`"

    def key_mark(self, c: Column) -> str:
        """Float and decimal keys are bound as text (see :class:`NativeStatement`) and cast by
        the server: to a double, compared as Spark compares (a FLOAT column widened), or to a
        decimal wide enough that a key with more digits than the column keeps stays unequal to
        every stored key (never rounded onto one)."""
        if c.kind == "float":
            return "CAST(%s AS DOUBLE)"
        if c.kind == "decimal":
            found = re.fullmatch(r"decimal\(\d+,\s*(\d+)\)", c.spark_type)
            return f"CAST(%s AS DECIMAL(65, {max(30, int(found[1]) if found else 0)}))"
        return self.placeholder

    def connect(self, project: str) -> Any:
        import mysql.connector
        try:
            return connect(self.mysql, database(project), allow_local_infile=True)
        except mysql.connector.Error as e:
            raise OnlineStoreError(f"cannot connect to the online store {self.describe(project)}: "
                                   f"{reason(e, self.mysql)}") from None

    def write_connection(self, project: str) -> Any:
        """Strict SQL mode whatever the server's default (an INSERT of a too-long key fails, it
        is not cut), and every warning of a LOAD DATA kept to be checked."""
        import mysql.connector
        conn = self.connect(project)
        try:
            conn.cursor().execute(
                "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), "
                f"'STRICT_ALL_TABLES'), SESSION max_error_count = {MAX_WARNINGS}")
        except mysql.connector.Error as e:
            conn.close()
            raise OnlineStoreError(f"cannot set up a write session on the online store "
                                   f"{self.describe(project)}: {reason(e, self.mysql)}") from None
        return conn

    def describe_jdbc(self, project: str) -> str:
        m = self.mysql                 # over TCP, whatever the socket (see jdbc_options)
        return f"mysql {m.user}@{m.host}:{m.port}/{database(project)} (JDBC)"

    def redact(self, text: str) -> str:
        password = self.mysql.password
        return text.replace(password, "***") if password else text

    def lookup_connection(self, project: str) -> Any:
        conn = self.connect(project)
        conn.autocommit = True    # else the pooled connection reads one snapshot forever and
        return conn               # its metadata locks block the RENAME of a full sync

    def lost(self, conn: Any, error: Exception) -> bool:
        import mysql.connector
        if getattr(error, "errno", None) in CONNECTION_LOST:
            return True
        if not isinstance(error, (mysql.connector.InterfaceError, mysql.connector.OperationalError)):
            return False                         # the statement's own error: no retry
        try:
            return not conn.is_connected()      # a ping, only after such an error
        except Exception:
            return True

    def lookup_statement(self, conn: Any, sql: str) -> LookupStatement:
        if _c_connection(conn):
            return NativeStatement(conn, sql)
        _log_fallback(conn)
        return CursorStatement(conn.cursor(prepared=True), sql)   # pure-Python connector

    def describe(self, project: str) -> str:
        return f"mysql {self.mysql.describe()}/{database(project)}"

    def column_type(self, c: Column) -> str:
        if c.kind == "int":
            from .schema import INTEGRAL
            return INTEGRAL[c.spark_type]
        if c.kind == "float":
            return "FLOAT" if c.spark_type == "float" else "DOUBLE"
        if c.kind == "decimal":
            return c.spark_type.upper()
        if c.kind == "string":
            return f"VARCHAR({MAX_KEY_CHARS})" if c.key else "MEDIUMTEXT"
        return TYPES[c.kind]

    def table_options(self, conn: Any) -> str:
        """Binary, no-pad collation: keys 'a', 'A' and 'a ' are three keys, as in Spark."""
        cur = conn.cursor()
        cur.execute("SELECT VERSION()")
        mariadb = "mariadb" in str(cur.fetchone()[0]).lower()
        collation = "utf8mb4_nopad_bin" if mariadb else "utf8mb4_0900_bin"
        return f" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE={collation}"

    def upsert_clause(self, schema: OnlineSchema, table: str, conditional: bool) -> str:
        if not schema.values:
            k = self.q(schema.keys[0].name)
            return f"ON DUPLICATE KEY UPDATE {k} = {k}"
        # assignments run left to right and the event time is the last column, so every IF
        # still compares against the stored event time
        if conditional and schema.event_time:   # stored values qualified: INSERT ... SELECT
            t, et = self.q(table), self.q(schema.event_time)
            sets = [f"{self.q(c.name)} = IF(VALUES({et}) >= {t}.{et}, VALUES({self.q(c.name)}), "
                    f"{t}.{self.q(c.name)})" for c in schema.values]
        else:
            sets = [f"{self.q(c.name)} = VALUES({self.q(c.name)})" for c in schema.values]
        return "ON DUPLICATE KEY UPDATE " + ", ".join(sets)

    def table_columns(self, conn: Any, table: str) -> list[str] | None:
        cur = conn.cursor()
        cur.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = "
                    "DATABASE() AND table_name = %s ORDER BY ordinal_position", (table,))
        return [r[0] for r in cur.fetchall()] or None

    def table_names(self, conn: Any) -> list[str]:
        cur = conn.cursor()
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = "
                    "DATABASE()")
        return [r[0] for r in cur.fetchall()]

    def swap(self, conn: Any, staging: str, table: str) -> None:
        cur = conn.cursor()
        if self.table_columns(conn, table) is None:
            cur.execute(f"RENAME TABLE {self.q(staging)} TO {self.q(table)}")
            return
        old = self.q(table + STAGING_OLD)
        cur.execute(f"DROP TABLE IF EXISTS {old}")
        cur.execute(f"RENAME TABLE {self.q(table)} TO {old}, {self.q(staging)} TO {self.q(table)}")
        cur.execute(f"DROP TABLE {old}")

    def jdbc_options(self, project: str) -> dict[str, str]:
        # over TCP (executors may run on other hosts than the socket's); the jdbc:mysql scheme
        # makes Spark use its MySQL dialect (backquoted names), served by MariaDB Connector/J
        m = self.mysql
        url = f"jdbc:mysql://{m.host}:{m.port}/{database(project)}?permitMysqlScheme"
        return {"url": url, "driver": "org.mariadb.jdbc.Driver", "user": m.user,
                "password": m.password}

    # -- executors --------------------------------------------------------------------------------
    def write_batch(self, conn: Any, table: str, schema: OnlineSchema, batch: pa.RecordBatch,
                    conditional: bool, fresh: bool) -> None:
        if self._local_infile:
            try:
                return self._load(conn, table, schema, batch, conditional, fresh)
            except OnlineStoreError:
                raise
            except Exception as e:
                if getattr(e, "errno", None) not in LOCAL_INFILE_REFUSED:
                    raise
                log.warning("the server refuses LOAD DATA LOCAL INFILE (set local_infile=1 for "
                            "faster writes): using batched upserts")
                conn.rollback()
                self._local_infile = False
        rows = batch_rows(batch, schema.columns)
        cur = conn.cursor()
        sql = self.insert_sql(table, schema, conditional)
        for start in range(0, len(rows), EXECUTEMANY_ROWS):
            cur.executemany(sql, rows[start:start + EXECUTEMANY_ROWS])

    def write_batches(self, conn: Any, table: str, schema: OnlineSchema,
                      batches: Iterable[pa.RecordBatch], conditional: bool, fresh: bool) -> int:
        """As the base class, but a batch's LOAD DATA runs in a thread (the connector lets go of
        the GIL while the server works) while the next batch's text is made. The first batch
        goes alone: it finds out whether the server takes local files."""
        batches = iter(batches)
        written = super().write_batches(conn, table, schema, itertools.islice(batches, 1),
                                        conditional, fresh)
        if not written or not self._local_infile:
            return written + super().write_batches(conn, table, schema, batches, conditional, fresh)

        def load(path: str, rows: int) -> int:
            self._load_file(conn, table, schema, path, conditional, fresh)
            conn.commit()
            return rows
        with ThreadPoolExecutor(1, thread_name_prefix="featurestore-load") as pool:
            pending: Future[int] | None = None
            for batch in batches:
                path = self._tsv_file(batch, schema)
                try:
                    if pending is not None:
                        written += pending.result()
                except BaseException:
                    os.unlink(path)
                    raise
                pending = pool.submit(load, path, batch.num_rows)
            if pending is not None:
                written += pending.result()
        return written

    def _load(self, conn: Any, table: str, schema: OnlineSchema, batch: pa.RecordBatch,
              conditional: bool, fresh: bool) -> None:
        self._load_file(conn, table, schema, self._tsv_file(batch, schema), conditional, fresh)

    @staticmethod
    def _tsv_file(batch: pa.RecordBatch, schema: OnlineSchema) -> str:
        """A temporary file of the batch as LOAD DATA text (the loader deletes it)."""
        fd, path = tempfile.mkstemp(prefix="featurestore_", suffix=".tsv")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(batch_tsv(batch, schema.columns))
        except BaseException:
            os.unlink(path)
            raise
        return path

    def _load_file(self, conn: Any, table: str, schema: OnlineSchema, path: str,
                   conditional: bool, fresh: bool) -> None:
        """A fresh table (one row per key) is loaded directly; otherwise through a temporary
        table merged with INSERT ... SELECT ... ON DUPLICATE KEY UPDATE. Deletes ``path``."""
        cols = ", ".join(self.q(c.name) for c in schema.columns)
        try:
            cur = conn.cursor()
            target = self.q(table)
            if not fresh:
                target = self.q("load_" + table)
                cur.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {target} LIKE {self.q(table)}")
                cur.execute(f"TRUNCATE TABLE {target}")
            cur.execute(f"LOAD DATA LOCAL INFILE %s INTO TABLE {target} CHARACTER SET utf8mb4 "
                        "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
                        f"({cols})", (path,))
        finally:
            os.unlink(path)
        self._check_load(cur, table)
        if not fresh:
            cur.execute(f"INSERT INTO {self.q(table)} ({cols}) SELECT {cols} FROM {target} "
                        f"{self.upsert_clause(schema, table, conditional)}")

    @staticmethod
    def _check_load(cur: Any, table: str) -> None:
        """Fail the batch on what LOAD DATA LOCAL let through as warnings: values cut to fit a
        column (a key longer than its VARCHAR), out of range, NULL made into a default."""
        cur.execute("SHOW WARNINGS")
        shown = cur.fetchall()
        bad = [w for w in shown if w[1] != DUPLICATE_KEY]
        if not bad and len(shown) >= MAX_WARNINGS:
            cur.execute("SHOW COUNT(*) WARNINGS")
            if cur.fetchone()[0] > len(shown):      # some were not listed: they may be bad
                bad = [("Warning", 0, f"more than {MAX_WARNINGS} warnings (write smaller "
                                      "batches: online.batch_size)")]
        if bad:
            listed = "; ".join(f"{w[2]} ({w[1]})" for w in bad[:5])
            more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
            raise OnlineStoreError(
                f"the online store would have cut or changed values loaded into {table}, so the "
                f"batch was not written: {listed}{more}. A key longer than {MAX_KEY_CHARS} "
                "characters or a value out of its column's range is refused")


def _c_connection(conn: Any) -> bool:
    try:
        from mysql.connector.connection_cext import CMySQLConnection
    except ImportError:
        return False
    return isinstance(conn, CMySQLConnection)


def _log_fallback(conn: Any) -> None:
    """One warning per process that lookups lost the C extension's fast path: why, what it costs,
    what to do."""
    global _fallback_logged
    with _fallback_lock:
        if _fallback_logged:
            return
        _fallback_logged = True
    problem = c_extension_problem()
    if problem is None:
        cause, fix = f"the connection is a pure-Python {type(conn).__name__} (use_pure)", ""
    else:
        cause = f"mysql-connector's C extension is not loaded: {problem}"
        fix = f" Fix: {PRELOAD_FIX}."
    log.warning("online lookups fall back to mysql-connector's pure-Python prepared cursor because "
                "%s. It costs an extra round trip (COM_STMT_RESET) per lookup and rows made in "
                "Python: about 1.5x slower.%s", cause, fix)


def _bound(v: Any) -> Any:
    """A lookup parameter as NativeStatement binds it: a float or Decimal as the text the lookup
    SQL casts (NaN and infinities as NULL, which no key equals: online tables store them as
    NULL), anything else as it is."""
    if isinstance(v, float):
        return repr(v) if math.isfinite(v) else None
    if isinstance(v, Decimal):
        return str(v) if v.is_finite() else None
    return v


class NativeStatement(LookupStatement):
    """A server-side prepared statement run through the C extension's connection statement API
    (``cmd_stmt_prepare`` / ``cmd_stmt_execute`` / ``get_rows``, public methods of
    ``CMySQLConnection``).

    A prepared cursor costs two round trips per call (it sends COM_STMT_RESET before every
    execution) and a Python loop per row and column when fetching; here an execution is one round
    trip and the C extension makes the rows. Values are bound as parameters all the same. The
    connector maps errors to its own error classes. (Lookup latency: bench/RESULTS.md.)
    Known in the C extension 26.10 (valgrind): a prepare that fails reads its error message from
    the statement it has just freed (a read, no corruption); see also ``rows``."""

    def __init__(self, conn: Any, sql: str) -> None:
        self._conn = conn
        self._stmt = conn.cmd_stmt_prepare(sql.replace("%s", "?").encode())

    def rows(self, params: Sequence[Any]) -> list[tuple]:
        conn, stmt = self._conn, self._stmt
        # Floats and Decimals go as text, which the lookup SQL casts (MysqlBackend.key_mark):
        # the C extension (26.10) binds a float as a 4-byte FLOAT (a DOUBLE key 0.1 is never
        # found) and, for a Decimal, writes past the end of its bind array (a heap overrun that
        # crashed later garbage collections). tests/unit/test_online_mysql.py checks both.
        conn.cmd_stmt_execute(stmt, *map(_bound, params))
        # The rows straight from the statement's fetch_row (the C extension converts them):
        # get_rows loops over every column of every row in Python for VECTOR columns, which
        # lookup tables never have, a quarter of a 100-key lookup's time. get_rows then sees the
        # end of the rows, and frees the result as it does for any statement; on an error it
        # also maps the error as for any statement. (tests/unit/test_online_mysql.py checks it.)
        rows, fetch = [], stmt.fetch_row
        try:
            while row := fetch():
                rows.append(row)
        except Exception:                                  # noqa: BLE001  (get_rows raises it)
            pass
        rest = conn.get_rows(prep_stmt=stmt)[0]
        return rows + rest if rest else rows

    def close(self) -> None:
        self._conn.cmd_stmt_close(self._stmt)
