"""The shared metadata store: one database (``[metadata] database``) on a MySQL or MariaDB server.

DDL commits implicitly in MySQL, so migrations run under a named server lock: one process
migrates at a time, the others wait and then find the schema up to date. A few idle connections
are kept for reuse (rolled back when given back, so no read snapshot outlives its call).
"""

from __future__ import annotations

from typing import Any

import mysql.connector
from sqlalchemy import create_engine, text

from ..config import MysqlSettings
from ..errors import ConfigurationError, MetadataStoreError
from ..mysql_client import connect, reason
from ..names import name_problem
from . import search_index, upgrade
from .sql import SqlMetadataStore

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
        # our own connections (the database created when missing, errors without the password);
        # the pool checks an idle one before handing it out and replaces one the server closed
        engine = create_engine("mysql+mysqlconnector://", creator=self._open,
                               pool_size=IDLE_CONNECTIONS, max_overflow=-1, pool_pre_ping=True)
        super().__init__(engine)

    def describe(self) -> str:
        """Where the metadata is, for messages (never the password)."""
        return f"mysql {self.mysql.describe()}/{self.database}"

    def failure(self, error: Any) -> str:
        return reason(error, self.mysql)

    def _open(self) -> Any:
        """A new connection (autocommit off) to the metadata database, created on first use."""
        try:
            return connect(self.mysql, self.database)
        except mysql.connector.Error as e:
            raise MetadataStoreError(f"cannot connect to the metadata store {self.describe()}: "
                                     f"{reason(e, self.mysql)}") from None

    def _autocommit(self, driver_connection: Any) -> None:
        driver_connection.autocommit = True

    def generation(self) -> int:
        """One round trip, on a connection kept for it (autocommit: it keeps no snapshot); a
        kept connection the server has closed since is replaced once."""
        for attempt in (1, 2):
            try:
                return super().generation()
            except mysql.connector.Error as e:
                with self._reader_lock:
                    reader, self._reader = self._reader, None
                if reader is not None:
                    try:
                        reader.close()
                    except Exception:      # noqa: BLE001 - broken already
                        pass
                if attempt == 2:
                    raise MetadataStoreError(f"cannot read the metadata store {self.describe()}: "
                                             f"{reason(e, self.mysql)}") from None
        raise AssertionError("unreachable")

    def _migrate(self) -> None:
        """Migrate while holding the database's server lock, on the migration's connection."""
        lock = migration_lock(self.database)
        with self._engine.connect() as conn:
            got = conn.execute(text("SELECT GET_LOCK(:lock, :timeout)"),
                               {"lock": lock, "timeout": self._lock_timeout}).scalar()
            if got != 1:
                raise MetadataStoreError(
                    f"the metadata store {self.describe()} has been migrated by another process "
                    f"for over {self._lock_timeout:g} s (lock {lock!r}): try again once it is done")
            try:
                conn.commit()
                with conn.begin():
                    upgrade.upgrade(conn)
                with conn.begin():
                    search_index.ensure(conn)
            finally:
                conn.execute(text("SELECT RELEASE_LOCK(:lock)"), {"lock": lock}).all()
                conn.commit()
