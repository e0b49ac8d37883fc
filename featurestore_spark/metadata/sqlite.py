"""The embedded metadata store: one SQLite file (WAL, busy timeout) under the feature store home."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event

from .sql import WRITE, SqlMetadataStore


class SqliteMetadataStore(SqlMetadataStore):
    def __init__(self, path: str | Path, timeout_seconds: float = 60.0) -> None:
        self.path, self.timeout_seconds = Path(path), timeout_seconds
        self.path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(f"sqlite:///{self.path}",
                               connect_args={"timeout": timeout_seconds,
                                             "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None    # transactions are begun below, not by sqlite3
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA foreign_keys=ON")

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # a write takes the write lock up front: no upgrade deadlocks between processes
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE)
                                 else "BEGIN")

        super().__init__(engine)

    def describe(self) -> str:
        return f"sqlite {self.path}"

    def failure(self, error: Any) -> str:
        if "locked" in str(error):
            return (f"{error}: another process held its write lock for over "
                    f"{self.timeout_seconds:g} s ([metadata] lock_timeout_seconds)")
        return str(error)
