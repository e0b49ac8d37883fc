"""``FeatureStore.sql``: Spark SQL that reads, and nothing else.

A query (``SELECT``, ``WITH``, ``VALUES``, ``TABLE``, ``FROM``) runs as the subquery of
``SELECT * FROM (...)``, where Spark's parser accepts queries only: a ``WITH ... INSERT``, a
``FROM t INSERT ...`` or a second statement is a syntax error there, never run. ``SHOW``,
``DESCRIBE`` and ``EXPLAIN`` (which only plans) run as they are. Anything else (``DELETE``,
``DROP TABLE``, ``INSERT``, ``SET`` ...) is refused before Spark sees it: the feature store's
writes are what change feature groups, so that the metadata records every change."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..errors import InvalidInputError, reason
from ..logs import quiet_analysis

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

QUERIES = ("SELECT", "WITH", "VALUES", "TABLE", "FROM", "(")
READ_ONLY_COMMANDS = ("SHOW", "DESCRIBE", "DESC", "EXPLAIN")
_COMMENTS = re.compile(r"\s+|--[^\n]*(\n|$)|/\*.*?\*/", re.S)


def body(statement: str) -> str:
    """``statement`` from its first word on: the leading whitespace and comments skipped, and
    only those, so that Spark reads first the very word checked (its lexer nests ``/* */`` and
    ends ``--`` elsewhere than this regex: what it gets must not start with a comment)."""
    position = 0
    while (m := _COMMENTS.match(statement, position)) and m.end() > position:
        position = m.end()
    return statement[position:]


def first_word(statement: str) -> str:
    """The statement's first keyword in capitals (``(`` for a parenthesized query), after any
    leading comments."""
    rest = body(statement)
    if rest.startswith("("):
        return "("
    word = re.match(r"[A-Za-z_]+", rest)
    return word.group(0).upper() if word else rest[:1]


def online_query(statement: str) -> str:
    """``statement`` if it is a query (``SELECT``, ``WITH``) for the online store's own SQL;
    InvalidInputError for anything else (Spark's JDBC source would run it as a subquery, where
    a DELETE is only a syntax error of the server's: say what is wrong instead)."""
    word = first_word(statement) if isinstance(statement, str) and statement.strip() else ""
    if word not in ("SELECT", "WITH", "("):
        raise InvalidInputError("cannot run the SQL statement", [
            f"sql(online=True) reads: it runs queries (SELECT, WITH) in the online store's SQL, "
            f"not {word or repr(statement)}"], write=False)
    return body(statement).strip().rstrip(";").rstrip()


def run_read_only(spark: SparkSession, statement: str) -> DataFrame:
    """``statement`` analysed (not run) as a read-only DataFrame; InvalidInputError for any other
    statement, and for one Spark cannot parse or analyse (the message says why)."""
    from pyspark.errors import AnalysisException
    what = "cannot run the SQL statement"
    if not isinstance(statement, str) or not statement.strip():
        raise InvalidInputError(what, [f"a SQL query string is required, got {statement!r}"],
                                write=False)
    word = first_word(statement)
    text = body(statement).strip().rstrip(";").rstrip()
    if word in QUERIES:
        text = f"SELECT * FROM (\n{text}\n) AS __fs_query"
    elif word not in READ_ONLY_COMMANDS:
        raise InvalidInputError(what, [
            f"sql() reads: it runs queries ({', '.join(QUERIES[:-1])}) and SHOW, DESCRIBE and "
            f"EXPLAIN, not {word}. Feature groups change through the feature store's writes "
            "(insert, upsert, overwrite, delete), which keep the metadata in step"], write=False)
    try:
        with quiet_analysis():            # the error is ours to report
            return spark.sql(text)
    except AnalysisException as e:        # ParseException included
        raise InvalidInputError(what, [reason(e)], write=False) from None
