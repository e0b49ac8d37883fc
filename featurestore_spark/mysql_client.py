"""Connections to a MySQL or MariaDB server, shared by the metadata and online backends."""

from __future__ import annotations

import sys
from typing import Any

from .config import MysqlSettings
from .names import quote

UNKNOWN_DATABASE = 1049
NATIVE = "C extension (NativeStatement)"
PRELOAD_FIX = ("install featurestore_spark into this environment with pip (editable or not): its "
               "_featurestore_spark_preload.pth loads the C extension as Python starts; or import "
               "featurestore_spark before pandas")


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
    conn: Any = mysql.connector.connect(**args)   # not pooled: a connection, with .database
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


def c_extension_problem() -> str | None:
    """None when mysql-connector's C extension is loaded in this process, else why not: the
    ImportError's text and what caused it, in words for a user."""
    import mysql.connector
    if mysql.connector.HAVE_CEXT:
        return None
    try:
        import _mysql_connector  # noqa: F401
    except ImportError as e:
        error = " ".join(str(e).split())
    else:
        return "mysql.connector was imported without it (HAVE_CEXT is False)"
    preload = getattr(sys.modules.get("featurestore_spark_preload"), "status", "did not run")
    cause = (f"_mysql_connector does not load ({error}); start-up hook "
             f"_featurestore_spark_preload.pth: {preload}")
    if "OPENSSL_" in error:
        cause += ("; hashlib or ssl (`import pandas` imports them) loaded the system's OpenSSL "
                  "first, older than the one the connector bundles")
    return cause


def client_path() -> str:
    """The client that MySQL lookups use in this process: :data:`NATIVE`, or ``pure Python
    (cursor) because ...``."""
    problem = c_extension_problem()
    return NATIVE if problem is None else f"pure Python (cursor) because {problem}"
