"""The one naming rule for projects, feature groups and features, and quoting for SQL.

A name is 1-63 characters: a lowercase letter first, then lowercase letters, digits or ``_``.
Names are checked before any SQL is built; identifiers are still quoted when rendered. Feature
(column) names are case-insensitive: given in any case, they are stored and matched lowercased.
"""

from __future__ import annotations

import re

NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,62}")
NAME_RULE = "1-63 characters: a lowercase letter, then lowercase letters, digits or '_'"


def name_problem(kind: str, name: object) -> str | None:
    """Return why ``name`` is not a valid ``kind`` name, or None when it is."""
    if isinstance(name, str) and NAME_PATTERN.fullmatch(name):
        return None
    return f"{kind} name {name!r} is invalid: it must be {NAME_RULE}"


def feature(name: object) -> object:
    """A feature (column) name as stored: lowercased, as Spark's catalog and the Hopsworks client
    keep them (``customerID`` is ``customerid``); anything not a string as it is, for the checks
    to refuse."""
    return name.lower() if isinstance(name, str) else name


def features(names: object) -> tuple:
    """:func:`feature` of each of ``names`` (a string is one name)."""
    if isinstance(names, str):
        return (feature(names),)
    return tuple(feature(n) for n in names) if isinstance(names, (list, tuple)) else names  # type: ignore[return-value]


def database_name(project: str) -> str:
    """The metastore database of a project's feature store."""
    return f"{project}_featurestore"


def table_name(name: str, version: int) -> str:
    """The Delta table of feature group ``name`` version ``version``."""
    return f"{name}_{version}"


def quote(identifier: str) -> str:
    """Quote a (validated) identifier for Spark SQL."""
    return "`" + identifier.replace("`", "``") + "`"
