"""How a feature group's Spark schema maps to an online table, and how values travel.

The mapping (Spark type -> MySQL / SQLite column):

=====================================  ===========================  ========
Spark                                  MySQL / MariaDB              SQLite
=====================================  ===========================  ========
boolean                                BOOLEAN                      INTEGER
tinyint, smallint, int, bigint         TINYINT ... BIGINT           INTEGER
float, double                          FLOAT, DOUBLE                REAL
decimal(p,s)                           DECIMAL(p,s)                 TEXT
string, varchar, char                  VARCHAR(255) key, else       TEXT
                                       MEDIUMTEXT (binary collation)
date                                   DATE                         TEXT
timestamp, timestamp_ntz               DATETIME(6), in UTC          TEXT
array, map, struct                     JSON                         TEXT
=====================================  ===========================  ========

Binary and interval features cannot be online. NaN and infinite floats are stored as NULL (MySQL
cannot hold them). Online columns are ordered: primary key, other features, event time last.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..metadata import FeatureGroup
from ..names import quote

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    import pyarrow as pa

MAX_IDENTIFIER = 64            # MySQL's limit on database and table names
ONLINE_DATABASE = "_online"    # project p's online database is p_online
STAGING = "__staging"          # suffix of the table a full sync fills before the swap
STAGING_OLD = STAGING + "_old"  # the longest suffix: the table swapped out
INTEGRAL = {"tinyint": "TINYINT", "smallint": "SMALLINT", "int": "INT", "bigint": "BIGINT"}
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"   # arrow's %S carries the microseconds of timestamp[us]


def kind_of(spark_type: str) -> str | None:
    """The online kind of a Spark type (None: it cannot be online)."""
    t = spark_type
    if t == "boolean":
        return "bool"
    if t in INTEGRAL:
        return "int"
    if t in ("float", "double"):
        return "float"
    if t.startswith("decimal"):
        return "decimal"
    if t == "string" or t.startswith(("varchar", "char")):
        return "string"
    if t in ("date", "timestamp", "timestamp_ntz"):
        return t
    if t.startswith(("array<", "map<", "struct<")):
        return "json"
    return None


@dataclass(frozen=True)
class Column:
    name: str
    spark_type: str
    kind: str
    key: bool


@dataclass(frozen=True)
class OnlineSchema:
    """The columns of a feature group's online table, keys first, event time last."""
    columns: tuple[Column, ...]
    event_time: str | None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def keys(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.key)

    @property
    def values(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if not c.key)


def schema_problems(fields: Sequence[tuple[str, str]], primary_key: Sequence[str],
                    project: str, table: str) -> list[str]:
    """Why features (name, Spark type) with this key cannot be online in ``project``'s online
    store as ``table`` (empty: they can). Names must fit MySQL's 64 characters with the
    suffixes the store adds (``_online``, the staging table of a full sync)."""
    problems = [f"feature {n!r} of type {t} cannot be online" for n, t in fields
                if kind_of(t) is None]
    problems += [f"primary key column {n!r} of type {t} cannot be an online key"
                 for n, t in fields if n in primary_key and kind_of(t) == "json"]
    if len(project) + len(ONLINE_DATABASE) > MAX_IDENTIFIER:
        problems.append(f"project name {project!r} is too long for an online store: at most "
                        f"{MAX_IDENTIFIER - len(ONLINE_DATABASE)} characters")
    if len(table) + len(STAGING_OLD) > MAX_IDENTIFIER:
        problems.append(f"online table {table!r} (name_version) is too long: at most "
                        f"{MAX_IDENTIFIER - len(STAGING_OLD)} characters")
    return problems


def online_schema(group: FeatureGroup) -> OnlineSchema:
    """The online columns of ``group`` (call ``schema_problems`` first)."""
    by_name = {f.name: f for f in group.features}
    order = list(group.primary_key) + [f.name for f in group.features
                                       if f.name not in group.primary_key and f.name != group.event_time]
    if group.event_time and group.event_time not in group.primary_key:
        order.append(group.event_time)
    return OnlineSchema(tuple(Column(n, by_name[n].type, kind_of(by_name[n].type) or "",
                                     n in group.primary_key) for n in order), group.event_time)


def wire_frame(df: DataFrame, columns: Sequence[Column]) -> DataFrame:
    """``df``'s ``columns`` in online column order, nested values as JSON text and NaN/inf floats as NULL: the
    form the executors write (Spark does this part; the rest is done on Arrow batches)."""
    from pyspark.sql import functions as F
    cols = []
    for c in columns:
        col = F.col(quote(c.name))
        if c.kind == "json":
            col = F.to_json(col)
        elif c.kind == "float":
            col = F.when(F.isnan(col) | (F.abs(col) == float("inf")), None).otherwise(col)
        cols.append(col.alias(c.name))
    return df.select(*cols)


def _text(arr: pa.Array, kind: str) -> pa.Array:
    """An Arrow column as text in the online store's form (NULLs kept)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    if kind == "bool":
        return arr.cast(pa.int8()).cast(pa.string())
    if kind == "timestamp":
        return pc.strftime(arr.cast(pa.timestamp("us", tz="UTC")), format=TIME_FORMAT)
    if kind == "timestamp_ntz":
        return pc.strftime(arr.cast(pa.timestamp("us")), format=TIME_FORMAT)
    return arr.cast(pa.string())


def batch_rows(batch: pa.RecordBatch, columns: tuple[Column, ...]) -> list[tuple]:
    """Rows of DB-API parameters: numbers as numbers, the rest as the text the store keeps."""
    import pyarrow as pa
    lists = []
    for c, arr in zip(columns, batch.columns):
        if c.kind in ("int", "float", "string", "json"):
            lists.append(arr.to_pylist())
        elif c.kind == "bool":
            lists.append(arr.cast(pa.int8()).to_pylist())
        else:
            lists.append(_text(arr, c.kind).to_pylist())
    return list(zip(*lists))


def batch_tsv(batch: pa.RecordBatch, columns: tuple[Column, ...]) -> bytes:
    """The batch as LOAD DATA text: tab-separated, backslash escapes, NULL as \\N."""
    import pyarrow as pa
    import pyarrow.compute as pc
    texts = []
    for c, arr in zip(columns, batch.columns):
        t = _text(arr, c.kind)
        if c.kind in ("string", "json"):
            for raw, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
                t = pc.replace_substring(t, raw, escaped)
        texts.append(pc.fill_null(t, "\\N"))
    lines = pc.binary_join_element_wise(*texts, "\t")
    whole = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(lines)], pa.int32()), lines), "\n")
    return whole[0].as_py().encode("utf-8") + b"\n"


# -- reading back ---------------------------------------------------------------------------------
def _parse_time(s: Any) -> Any:
    return datetime.fromisoformat(s) if isinstance(s, str) else s


def python_decoders(schema: OnlineSchema, text_times: bool) -> list[Callable[[Any], Any] | None]:
    """Per column, what turns a stored value back into the feature's Python value (None: as is).
    ``text_times``: dates, times and decimals are stored as text (SQLite)."""
    def none_safe(f: Callable[[Any], Any]) -> Callable[[Any], Any]:
        return lambda v: None if v is None else f(v)
    out: list[Callable[[Any], Any] | None] = []
    for c in schema.columns:
        if c.kind == "bool":
            out.append(none_safe(bool))
        elif c.kind == "json":
            out.append(none_safe(json.loads))
        elif text_times and c.kind in ("timestamp", "timestamp_ntz"):
            out.append(none_safe(_parse_time))
        elif text_times and c.kind == "date":
            out.append(none_safe(date.fromisoformat))
        elif text_times and c.kind == "decimal":
            out.append(none_safe(Decimal))
        else:
            out.append(None)
    return out


def key_encoders(schema: OnlineSchema, text_times: bool) -> list[Callable[[Any], Any] | None]:
    """Per key column, what turns a caller's key value into the stored form (None: as is)."""
    def encode(v: Any) -> str:
        return v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else str(v)
    return [encode if text_times and c.kind in ("timestamp", "timestamp_ntz", "date", "decimal")
            else None for c in schema.keys]


def jdbc_custom_schema(schema: OnlineSchema) -> str:
    """Spark's ``customSchema`` for a JDBC read: exact numeric getters, text for the rest."""
    def spark_type(c: Column) -> str:
        if c.kind in ("bool", "int", "float"):
            return c.spark_type
        return "string"
    return ", ".join(f"{quote(c.name)} {spark_type(c)}" for c in schema.columns)


def spark_decode(df: DataFrame, group: FeatureGroup) -> DataFrame:
    """A JDBC read of an online table (``jdbc_custom_schema``) in the feature group's types and
    column order."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import _parse_datatype_string
    kinds = {c.name: c for c in online_schema(group).columns}
    cols = []
    for f in group.features:
        c, col = kinds[f.name], F.col(quote(f.name))
        if c.kind == "json":
            col = F.from_json(col, _parse_datatype_string(f.type))
        elif c.kind == "timestamp":
            col = F.concat(col, F.lit("Z")).cast("timestamp")
        elif c.kind not in ("bool", "int", "float"):
            col = col.cast(f.type)
        cols.append(col.alias(f.name))
    return df.select(*cols)
