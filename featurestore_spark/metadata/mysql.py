"""The shared metadata store: one database (``[metadata] database``) on a MySQL or MariaDB server.

DDL commits implicitly in MySQL, so migrations run under a named server lock: one process
migrates at a time, the others wait and then find the schema up to date. A few idle connections
are kept for reuse (rolled back when put back, so no read snapshot outlives its call).
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import mysql.connector

from ..config import MysqlSettings
from ..errors import ConfigurationError, MetadataStoreError
from ..mysql_client import close_quietly, connect, reason
from ..names import name_problem
from .sql import Dialect, SqlMetadataStore

MYSQL = Dialect(
    placeholder="%s",
    # INT, not BIGINT: InnoDB enforces the REFERENCES of migration 1 and wants equal types
    types={"id": "INTEGER AUTO_INCREMENT PRIMARY KEY",
           "key": "VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",  # case-sensitive
           "text": "MEDIUMTEXT CHARACTER SET utf8mb4"},
    begin="START TRANSACTION",
    integrity_error=mysql.connector.errors.IntegrityError,
)
IDLE_CONNECTIONS = 2


def migration_lock(database: str) -> str:
    """The server lock held while ``database`` is migrated (MySQL caps lock names at 64
    characters; two long names that clash only migrate one after the other)."""
    return f"featurestore_spark.migrate.{database}"[:64]


class MysqlMetadataStore(SqlMetadataStore):
    """Metadata in database ``database`` of the server ``mysql`` names (created if missing).

    Examples
    --------
    >>> store = MysqlMetadataStore(MysqlSettings(password="..."), "featurestore")  # doctest: +SKIP
    """

    def __init__(self, mysql_settings: MysqlSettings, database: str = "featurestore",
                 lock_timeout_seconds: float = 60.0) -> None:
        if (problem := name_problem("metadata database", database)):
            raise ConfigurationError(problem)
        self.mysql, self.database = mysql_settings, database
        self._lock_timeout = lock_timeout_seconds
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue(maxsize=IDLE_CONNECTIONS)
        self._reader: Any = None                  # kept for generation(), in autocommit
        self._reader_lock = threading.Lock()
        super().__init__(self._take, MYSQL)

    def describe(self) -> str:
        """Where the metadata is, for messages (never the password)."""
        return f"mysql {self.mysql.describe()}/{self.database}"

    # -- connections ------------------------------------------------------------------------------
    def _open(self) -> Any:
        """A new connection (autocommit off) to the metadata database, created on first use."""
        try:
            return connect(self.mysql, self.database)
        except mysql.connector.Error as e:
            raise MetadataStoreError(f"cannot connect to the metadata store {self.describe()}: "
                                     f"{reason(e, self.mysql)}") from None

    def _take(self) -> Any:
        """An idle connection that still answers, or a new one."""
        while True:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                return self._open()
            if conn.is_connected():
                return conn
            close_quietly(conn)

    def _release(self, conn: Any) -> None:
        try:
            conn.rollback()                 # ends the read snapshot a SELECT opened
            self._idle.put_nowait(conn)
        except (queue.Full, mysql.connector.Error):
            close_quietly(conn)

    def generation(self) -> int:
        """One round trip, on a connection kept for it (autocommit: it keeps no snapshot); a
        kept connection the server has closed since is replaced once."""
        with self._reader_lock:
            for attempt in (1, 2):
                if self._reader is None:
                    self._reader = self._open()
                    self._reader.autocommit = True
                try:
                    cur = self._reader.cursor()
                    cur.execute(self._GENERATION)
                    return cur.fetchall()[0][0]
                except mysql.connector.Error as e:
                    close_quietly(self._reader)
                    self._reader = None
                    if attempt == 2:
                        raise MetadataStoreError(
                            f"cannot read the metadata store {self.describe()}: "
                            f"{reason(e, self.mysql)}") from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Close the idle connections (the store stays usable: it opens new ones)."""
        with self._reader_lock:
            if self._reader is not None:
                close_quietly(self._reader)
                self._reader = None
        while True:
            try:
                close_quietly(self._idle.get_nowait())
            except queue.Empty:
                return

    # -- migrations -------------------------------------------------------------------------------
    def _migrate(self) -> None:
        """Migrate while holding the database's server lock on a connection of its own."""
        lock = migration_lock(self.database)
        conn = self._open()
        try:
            cur = conn.cursor()
            cur.execute("SELECT GET_LOCK(%s, %s)", (lock, self._lock_timeout))
            if cur.fetchone()[0] != 1:
                raise MetadataStoreError(
                    f"the metadata store {self.describe()} has been migrated by another process "
                    f"for over {self._lock_timeout:g} s (lock {lock!r}): try again once it is done")
            try:
                super()._migrate()
            finally:
                cur.execute("SELECT RELEASE_LOCK(%s)", (lock,))
                cur.fetchall()
        finally:
            close_quietly(conn)

