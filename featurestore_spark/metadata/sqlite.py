"""The embedded metadata store: one SQLite file (WAL, busy timeout) under the feature store home."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .sql import Dialect, SqlMetadataStore

SQLITE = Dialect(
    placeholder="?",
    types={"id": "INTEGER PRIMARY KEY AUTOINCREMENT", "key": "TEXT", "text": "TEXT"},
    begin="BEGIN IMMEDIATE",   # take the write lock up front: no upgrade deadlocks between processes
    integrity_error=sqlite3.IntegrityError,
)


class SqliteMetadataStore(SqlMetadataStore):
    def __init__(self, path: str | Path, timeout_seconds: float = 60.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._timeout = timeout_seconds
        super().__init__(self._open, SQLITE)

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn
