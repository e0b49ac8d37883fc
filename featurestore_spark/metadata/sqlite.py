"""The embedded metadata store: one SQLite file (WAL, busy timeout) under the feature store home."""

from __future__ import annotations

import sqlite3
import threading
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
        self._reader: sqlite3.Connection | None = None   # kept for generation(): opening one
        self._reader_lock = threading.Lock()              # costs ~70 times the query
        super().__init__(self._open, SQLITE)

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def generation(self) -> int:
        with self._reader_lock:
            if self._reader is None:
                self._reader = sqlite3.connect(self.path, timeout=self._timeout,
                                               isolation_level=None, check_same_thread=False)
            # fetchall: the statement runs to its end, so no read snapshot is kept open
            return self._reader.execute(self._GENERATION).fetchall()[0][0]

    def close(self) -> None:
        with self._reader_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None
