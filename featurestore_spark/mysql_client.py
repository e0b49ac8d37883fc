"""Connections to a MySQL or MariaDB server, shared by the metadata and online backends."""

from __future__ import annotations

from typing import Any

from .config import MysqlSettings
from .names import quote

UNKNOWN_DATABASE = 1049


def connect(settings: MysqlSettings, database: str, **extra: Any) -> Any:
    """A mysql-connector connection (autocommit off) to ``database``, a validated name, which is
    created (utf8mb4) when missing. Driver errors are raised as they are: wrap them with
    :func:`reason`."""
    import mysql.connector
    args = dict(settings.connect_args(), collation="utf8mb4_general_ci", autocommit=False, **extra)
    try:
        return mysql.connector.connect(database=database, **args)
    except mysql.connector.errors.ProgrammingError as e:
        if e.errno != UNKNOWN_DATABASE:
            raise
    conn = mysql.connector.connect(**args)
    try:
        conn.cursor().execute(f"CREATE DATABASE IF NOT EXISTS {quote(database)} CHARACTER SET utf8mb4")
        conn.database = database
    except BaseException:
        close_quietly(conn)
        raise
    return conn


def reason(error: Exception, settings: MysqlSettings) -> str:
    """The server's words for a driver error, never the password."""
    text = str(getattr(error, "msg", None) or error)
    return text.replace(settings.password, "***") if settings.password else text


def close_quietly(conn: Any) -> None:
    """Close a connection that may be broken already (an error elsewhere says why)."""
    try:
        conn.close()
    except Exception:
        pass
