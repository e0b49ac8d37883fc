"""The embedded online store: one SQLite file per project under ``<home>/online/`` (WAL, busy
timeout). For one machine: ``make demo``, a first run, tests. Executors must share the file system
with the driver, so on a cluster use MySQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from .schema import Column, OnlineSchema
from .sql import SqlOnlineBackend

TYPES = {"bool": "INTEGER", "int": "INTEGER", "float": "REAL"}


class SqliteBackend(SqlOnlineBackend):
    name = "sqlite"

    def __init__(self, folder: str | Path, timeout_seconds: float = 60.0) -> None:
        self.folder = Path(folder)
        self.timeout = timeout_seconds

    def path(self, project: str) -> Path:
        return self.folder / f"{project}.db"

    def connect(self, project: str) -> sqlite3.Connection:
        self.folder.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path(project), timeout=self.timeout, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def describe(self, project: str) -> str:
        return str(self.path(project))

    def column_type(self, c: Column) -> str:
        return TYPES.get(c.kind, "TEXT")

    def table_options(self, conn: Any) -> str:
        return " WITHOUT ROWID"

    def upsert_clause(self, schema: OnlineSchema, table: str, conditional: bool) -> str:
        keys = ", ".join(self.q(c.name) for c in schema.keys)
        if not schema.values:
            return f"ON CONFLICT ({keys}) DO NOTHING"
        sets = ", ".join(f"{self.q(c.name)} = excluded.{self.q(c.name)}" for c in schema.values)
        clause = f"ON CONFLICT ({keys}) DO UPDATE SET {sets}"
        if conditional and schema.event_time:
            et = self.q(schema.event_time)
            clause += f" WHERE excluded.{et} >= {self.q(table)}.{et}"
        return clause

    def table_columns(self, conn: Any, table: str) -> list[str] | None:
        rows = conn.execute(f"PRAGMA table_info({self.q(table)})").fetchall()
        return [r[1] for r in rows] or None

    def table_names(self, conn: Any) -> list[str]:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        return [r[0] for r in rows]

    def swap(self, conn: Any, staging: str, table: str) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(f"DROP TABLE IF EXISTS {self.q(table)}")
            conn.execute(f"ALTER TABLE {self.q(staging)} RENAME TO {self.q(table)}")
        except BaseException:
            conn.rollback()
            raise
        conn.commit()

    def jdbc_options(self, project: str) -> dict[str, str]:
        self.folder.mkdir(parents=True, exist_ok=True)
        return {"url": f"jdbc:sqlite:{self.path(project).resolve()}", "driver": "org.sqlite.JDBC"}
