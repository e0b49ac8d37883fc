"""The online store over SQL: the part SQLite and MySQL share. A backend is a small picklable
object: the driver uses it for DDL and lookups, and every executor gets a copy to write its
partitions with (no feature data passes through the driver)."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence, cast

from ..errors import OnlineStoreError, reason
from ..mysql_client import close_quietly
from .schema import Column, OnlineSchema, batch_rows, jdbc_custom_schema, wire_frame

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)
DELETE_BATCH = 500              # keys per DELETE statement


class LookupStatement(ABC):
    """One lookup statement on one connection: ``rows(params)`` runs it and returns every row."""

    @abstractmethod
    def rows(self, params: Sequence[Any]) -> list[tuple]:
        ...

    @abstractmethod
    def close(self) -> None:
        ...


class CursorStatement(LookupStatement):
    """Through a DB-API cursor of its own (prepared once, where the driver's cursor prepares)."""

    def __init__(self, cursor: Any, sql: str) -> None:
        self.cursor, self.sql = cursor, sql

    def rows(self, params: Sequence[Any]) -> list[tuple]:
        self.cursor.execute(self.sql, params)
        return self.cursor.fetchall()

    def close(self) -> None:
        self.cursor.close()


class SqlOnlineBackend(ABC):
    """Dialect, connections and statements of one kind of SQL server."""

    placeholder = "?"
    text_times = True           # dates, times and decimals stored as text (SQLite)
    name = "sql"

    # -- what each backend says -------------------------------------------------------------------
    @abstractmethod
    def connect(self, project: str) -> Any:
        """A new DB-API connection to the project's online database (created if missing)."""

    @abstractmethod
    def describe(self, project: str) -> str:
        """Where the project's online database is, for messages (never a password)."""

    @abstractmethod
    def column_type(self, c: Column) -> str: ...

    @abstractmethod
    def table_options(self, conn: Any) -> str: ...

    @abstractmethod
    def upsert_clause(self, schema: OnlineSchema, table: str, conditional: bool) -> str:
        """What follows ``INSERT INTO t (cols) VALUES (...)`` to update an existing key;
        ``conditional``: only when the new event time is at or after the stored one."""

    @abstractmethod
    def table_columns(self, conn: Any, table: str) -> list[str] | None:
        """The columns of ``table`` in order, or None when it does not exist."""

    @abstractmethod
    def table_names(self, conn: Any) -> list[str]:
        """The tables of the connection's database."""

    @abstractmethod
    def swap(self, conn: Any, staging: str, table: str) -> None:
        """Replace ``table`` by ``staging`` atomically."""

    @abstractmethod
    def jdbc_options(self, project: str) -> dict[str, str]:
        """Spark JDBC options (url, driver, credentials) for the project's online database."""

    def write_connection(self, project: str) -> Any:
        """A connection for an executor's writes: values that do not fit are errors, never cut."""
        return self.connect(project)

    def redact(self, text: str) -> str:
        """``text`` without any secret of the settings (a server's error message)."""
        return text

    def describe_jdbc(self, project: str) -> str:
        """Where Spark's JDBC reads go, for messages (never a password)."""
        return self.describe(project)

    def lookup_connection(self, project: str) -> Any:
        """A connection for lookups: each statement sees the latest committed rows and holds no
        lock after it (a pooled connection must not keep a snapshot open)."""
        return self.connect(project)

    def lookup_statement(self, conn: Any, sql: str) -> LookupStatement:
        """``sql`` ready to run many times on ``conn``: kept and reused by the connection pool."""
        return CursorStatement(conn.cursor(), sql)

    def lost(self, conn: Any, error: Exception) -> bool:
        """Whether ``error`` of a statement on ``conn`` says the server closed the connection
        (then a pooled lookup reconnects and runs once more); an embedded database never does."""
        return False

    # -- shared SQL ---------------------------------------------------------------------------------
    def q(self, identifier: str) -> str:
        return '"' + identifier.replace('"', '""') + '"'

    def key_mark(self, c: Column) -> str:
        """The parameter marker a lookup compares key column ``c`` with."""
        return self.placeholder

    def create_table(self, project: str, table: str, schema: OnlineSchema) -> None:
        """(Re)create ``table`` empty: it belongs to a feature group version and nothing else."""
        cols = ", ".join(f"{self.q(c.name)} {self.column_type(c)}" for c in schema.columns)
        keys = ", ".join(self.q(c.name) for c in schema.keys)
        with self.connection(project) as conn:
            cur = conn.cursor()
            cur.execute(f"DROP TABLE IF EXISTS {self.q(table)}")
            cur.execute(f"CREATE TABLE {self.q(table)} ({cols}, PRIMARY KEY ({keys}))"
                        f"{self.table_options(conn)}")
            conn.commit()

    def drop_table(self, project: str, table: str) -> None:
        with self.connection(project) as conn:
            conn.cursor().execute(f"DROP TABLE IF EXISTS {self.q(table)}")
            conn.commit()

    def columns_of(self, project: str, table: str) -> list[str] | None:
        with self.connection(project) as conn:
            return self.table_columns(conn, table)

    def tables(self, project: str) -> list[str]:
        """Every table of the project's online database."""
        with self.connection(project) as conn:
            return sorted(self.table_names(conn))

    def replace(self, project: str, staging: str, table: str) -> None:
        with self.connection(project) as conn:
            self.swap(conn, staging, table)

    def insert_sql(self, table: str, schema: OnlineSchema, conditional: bool) -> str:
        cols = ", ".join(self.q(c.name) for c in schema.columns)
        marks = ", ".join([self.placeholder] * len(schema.columns))
        return (f"INSERT INTO {self.q(table)} ({cols}) VALUES ({marks}) "
                f"{self.upsert_clause(schema, table, conditional)}")

    def key_condition(self, keys: tuple[Column, ...], n: int) -> str:
        """``(k1, k2) IN ((?, ?), ...)`` for ``n`` keys (plain ``k IN (...)`` for one column)."""
        if len(keys) == 1:
            return f"{self.q(keys[0].name)} IN ({', '.join([self.placeholder] * n)})"
        one = "(" + ", ".join([self.placeholder] * len(keys)) + ")"
        return f"({', '.join(self.q(k.name) for k in keys)}) IN ({', '.join([one] * n)})"

    def write_batch(self, conn: Any, table: str, schema: OnlineSchema, batch: pa.RecordBatch,
                    conditional: bool, fresh: bool) -> None:
        """Upsert one batch (``fresh``: into an empty table, with one row per key)."""
        conn.cursor().executemany(self.insert_sql(table, schema, conditional),
                                  batch_rows(batch, schema.columns))

    def write_batches(self, conn: Any, table: str, schema: OnlineSchema,
                      batches: Iterable[pa.RecordBatch], conditional: bool, fresh: bool) -> int:
        """Write every batch with :meth:`write_batch`, each committed; the rows written."""
        written = 0
        for batch in batches:
            self.write_batch(conn, table, schema, batch, conditional, fresh)
            conn.commit()
            written += batch.num_rows
        return written

    def delete_batch(self, conn: Any, table: str, schema: OnlineSchema, batch: pa.RecordBatch) -> None:
        rows = batch_rows(batch, schema.keys)
        cur = conn.cursor()
        for start in range(0, len(rows), DELETE_BATCH):
            chunk = rows[start:start + DELETE_BATCH]
            cur.execute(f"DELETE FROM {self.q(table)} WHERE {self.key_condition(schema.keys, len(chunk))}",
                        [v for row in chunk for v in row])

    class _Connection:
        def __init__(self, backend: SqlOnlineBackend, project: str) -> None:
            self.backend, self.project = backend, project

        def __enter__(self) -> Any:
            self.conn = self.backend.connect(self.project)
            return self.conn

        def __exit__(self, *exc: Any) -> None:
            self.conn.close()

    def connection(self, project: str) -> SqlOnlineBackend._Connection:
        return self._Connection(self, project)

    # -- executors ----------------------------------------------------------------------------------
    def write_frame(self, df: DataFrame, project: str, table: str, schema: OnlineSchema,
                    conditional: bool = False, fresh: bool = False, batch_size: int = 20000,
                    delete: bool = False) -> int:
        """Write (or, with ``delete``, delete the keys of) ``df`` from the executors, each
        partition in batches over its own connection; returns the rows written."""
        frame = wire_frame(df, schema.keys if delete else schema.columns)
        task = _PartitionTask(self, project, table, schema, conditional, fresh, batch_size, delete)
        what = "delete from" if delete else "write to"
        df.sparkSession.sparkContext.setJobDescription(
            f"featurestore: {what} online table {table} of {project}")
        try:
            counts = frame.mapInArrow(task, "rows long").collect()
        except Exception as e:
            raise OnlineStoreError(
                f"could not {what} online table {table} at {self.describe(project)}: "
                f"{_executor_reason(e)}") from e
        finally:
            df.sparkSession.sparkContext.setJobDescription(None)  # type: ignore[arg-type]  # None clears it
        return sum(r[0] for r in counts)

    def read_frame(self, spark: SparkSession, project: str, table: str | None = None,
                   schema: OnlineSchema | None = None, query: str | None = None) -> DataFrame:
        """A Spark JDBC read of a table (typed exactly with ``schema``) or of a query. Spark
        connects here (to resolve the columns): a server that cannot be reached or refuses the
        login, or a query it refuses, is an OnlineStoreError naming the server (never a
        password)."""
        from py4j.protocol import Py4JError
        from pyspark.errors import PySparkException
        reader = spark.read.format("jdbc").options(**self.jdbc_options(project))
        if query is not None:
            reader = reader.option("query", query)
        else:   # a table read: the callers give the table and its schema
            table, schema = cast(str, table), cast(OnlineSchema, schema)
            cols = ", ".join(self.q(c.name) for c in schema.columns)
            reader = (reader.option("query", f"SELECT {cols} FROM {self.q(table)}")
                      .option("customSchema", jdbc_custom_schema(schema)))
        try:
            return reader.load()
        except (Py4JError, PySparkException) as e:
            what = f"online table {table}" if table is not None else "a query of the online store"
            raise OnlineStoreError(f"cannot read {what} at {self.describe_jdbc(project)}: "
                                   f"{self.redact(jdbc_reason(e))}") from None


class _PartitionTask:
    """What each executor runs on its partition's Arrow batches (picklable)."""

    backend: SqlOnlineBackend
    project: str
    table: str
    schema: OnlineSchema
    conditional: bool
    fresh: bool
    batch_size: int
    delete: bool

    def __init__(self, backend: SqlOnlineBackend, project: str, table: str, schema: OnlineSchema,
                 conditional: bool, fresh: bool, batch_size: int, delete: bool) -> None:
        self.__dict__.update(backend=backend, project=project, table=table, schema=schema,
                             conditional=conditional, fresh=fresh, batch_size=batch_size,
                             delete=delete)

    def __call__(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa
        written = 0
        conn = None
        try:
            conn = self.backend.write_connection(self.project)
            if self.delete:
                for batch in _rebatch(batches, self.batch_size):
                    self.backend.delete_batch(conn, self.table, self.schema, batch)
                    conn.commit()
                    written += batch.num_rows
            else:
                written = self.backend.write_batches(conn, self.table, self.schema,
                                                     _rebatch(batches, self.batch_size),
                                                     self.conditional, self.fresh)
        except OnlineStoreError:
            raise
        except Exception as e:
            raise OnlineStoreError(f"{type(e).__name__}: {e}") from None
        finally:
            if conn is not None:
                close_quietly(conn)     # the server may be gone; the error above says so
        yield pa.RecordBatch.from_pydict({"rows": [written]})


def _rebatch(batches: Iterable[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    """Batches of about ``size`` rows (Arrow's are 10,000 by default)."""
    import pyarrow as pa
    buffer: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        buffer.append(batch)
        rows += batch.num_rows
        if rows >= size:
            yield pa.Table.from_batches(buffer).combine_chunks().to_batches()[0]
            buffer, rows = [], 0
    if rows:
        yield pa.Table.from_batches(buffer).combine_chunks().to_batches()[0]


def jdbc_reason(e: Exception) -> str:
    """The innermost cause of a failed JDBC read, as the driver said it (``Access denied for user
    ...``), without Spark's and py4j's wrapping."""
    java = getattr(e, "java_exception", None) or getattr(e, "_origin", None)
    try:
        while java is not None and java.getCause() is not None:
            java = java.getCause()
        if java is not None:
            name = java.getClass().getSimpleName()
            return f"{name}: {java.getMessage()}"
    except Exception:           # the JVM is gone: fall back to the Python text
        pass
    first = next((line for line in str(e).splitlines() if line.strip()), type(e).__name__)
    return first.strip()


def _executor_reason(e: Exception) -> str:
    """The executor's own error out of Spark's wrapping: the line that ends the Python worker's
    traceback (``ModuleNotFoundError: No module named ...``), our own OnlineStoreError's text
    without its class name, and Spark's first line when no traceback is there."""
    lines = str(e).splitlines()
    found = None
    for i, line in enumerate(lines):
        if line.rstrip().endswith("Traceback (most recent call last):"):
            found = next((x for x in lines[i + 1:] if x and not x[0].isspace()), found)
    if found is None:
        found = reason(e)
    name, sep, text = found.partition(": ")
    return text.strip() if sep and name.endswith("OnlineStoreError") else found.strip()
