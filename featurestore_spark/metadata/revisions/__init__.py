"""Alembic revisions of the metadata store (``env.py`` and ``versions/``), run by
``metadata.upgrade``. A revision, once shipped, is never edited: append one.

Every revision is re-runnable: MySQL commits each DDL statement on its own, so a migration cut
off half-way is finished by running it again (each step checks whether it was done).
These column types are those of the revisions (frozen); ``metadata.schema`` has the current ones.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String, Text, inspect
from sqlalchemy.dialects import mysql

HEAD = "0008"        # the latest revision: change it with every revision appended

KEY = String(255).with_variant(mysql.VARCHAR(255, charset="utf8mb4", collation="utf8mb4_bin"),
                               "mysql", "mariadb")
NAME = String(64).with_variant(mysql.VARCHAR(64, charset="utf8mb4", collation="utf8mb4_bin"),
                               "mysql", "mariadb")
LONG = Text().with_variant(mysql.MEDIUMTEXT(charset="utf8mb4"), "mysql", "mariadb")
INT = Integer()


def has_table(bind: Any, name: str) -> bool:
    return inspect(bind).has_table(name)


def has_column(bind: Any, table: str, column: str) -> bool:
    return any(c["name"] == column for c in inspect(bind).get_columns(table))
