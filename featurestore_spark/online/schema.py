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

Binary and interval features cannot be online, nor maps with keys other than strings anywhere in
a feature's type (JSON object keys are text: they would come back as strings). NaN and infinite
floats are stored as NULL (MySQL cannot hold them). Online columns are ordered: primary key, other
features, event time last.

Keys obey MySQL's limits on both backends, so that an online feature group moves from SQLite to
MySQL unchanged: a string key column holds at most 255 characters, the whole primary key at most
3072 bytes of InnoDB's index (a string key column counts 255 x 4 bytes of utf8mb4), and float keys
are never NaN or infinite. The schema is checked by :func:`schema_problems`, the values by
:func:`key_value_problems` (one Spark aggregation) before anything is written.
"""

from __future__ import annotations

import json
import numbers
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Context, Decimal
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..errors import InvalidInputError
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
_WIDE = Context(prec=100)      # quantizes any Spark decimal (38 digits) without an overflow
MAX_KEY_CHARS = 255            # a string key column is VARCHAR(255) in MySQL
MAX_KEY_BYTES = 3072           # InnoDB's limit on an index (the primary key), utf8mb4: 4 bytes/char
KEY_BYTES = {"boolean": 1, "tinyint": 1, "smallint": 2, "int": 4, "bigint": 8, "float": 4,
             "double": 8, "date": 3, "timestamp": 8, "timestamp_ntz": 8}    # DATETIME(6): 8
_NON_STRING_MAP = re.compile(r"(?:^|[<,:])map<(?!string,)")   # a map type whose key is not string
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
    problems = type_problems(fields)
    problems += [f"primary key column {n!r} of type {t} cannot be an online key"
                 for n, t in fields if n in primary_key and kind_of(t) == "json"]
    problems += key_size_problems(fields, primary_key)
    if len(project) + len(ONLINE_DATABASE) > MAX_IDENTIFIER:
        problems.append(f"project name {project!r} is too long for an online store: at most "
                        f"{MAX_IDENTIFIER - len(ONLINE_DATABASE)} characters")
    if len(table) + len(STAGING_OLD) > MAX_IDENTIFIER:
        problems.append(f"online table {table!r} (name_version) is too long: at most "
                        f"{MAX_IDENTIFIER - len(STAGING_OLD)} characters")
    return problems


def type_problems(fields: Sequence[tuple[str, str]]) -> list[str]:
    """Features (name, Spark type) whose values cannot travel to an online table and back."""
    problems = [f"feature {n!r} of type {t} cannot be online" for n, t in fields
                if kind_of(t) is None]
    problems += [f"feature {n!r} of type {t} cannot be online: online tables keep maps as JSON "
                 "objects, whose keys are text, so only string map keys come back as they were; "
                 "cast the map keys to string "
                 f"(e.g. transform_keys({n}, (k, v) -> cast(k AS string))) or keep the feature "
                 "offline" for n, t in fields if kind_of(t) == "json" and _NON_STRING_MAP.search(t)]
    return problems


def key_bytes(spark_type: str) -> int | None:
    """The bytes a key column of ``spark_type`` takes in MySQL's primary-key index (None: it
    cannot be a key)."""
    if spark_type in KEY_BYTES:
        return KEY_BYTES[spark_type]
    kind = kind_of(spark_type)
    if kind == "string":
        return MAX_KEY_CHARS * 4
    if kind == "decimal":            # 4 bytes per 9 digits, left and right of the point apart
        found = re.fullmatch(r"decimal\((\d+),\s*(\d+)\)", spark_type)
        precision, scale = (int(found[1]), int(found[2])) if found else (10, 0)
        return sum(d // 9 * 4 + (0, 1, 1, 2, 2, 3, 3, 4, 4)[d % 9]
                   for d in (precision - scale, scale))
    return None


def key_size_problems(fields: Sequence[tuple[str, str]], primary_key: Sequence[str]) -> list[str]:
    """A primary key too wide for InnoDB's index (MySQL would refuse the table with error 1071)."""
    types = dict(fields)
    sizes = [key_bytes(types[k]) for k in primary_key if k in types]
    if None in sizes or sum(s for s in sizes if s) <= MAX_KEY_BYTES:
        return []
    strings = [k for k in primary_key if kind_of(types.get(k, "")) == "string"]
    return [f"primary key ({', '.join(primary_key)}) needs {sum(s for s in sizes if s)} bytes in "
            f"the online table's index, more than the {MAX_KEY_BYTES} bytes InnoDB allows (each "
            f"string key column takes {MAX_KEY_CHARS} characters of 4 bytes: {MAX_KEY_CHARS * 4}"
            f"{'; here ' + ', '.join(strings) if strings else ''}): use fewer or narrower key "
            "columns (e.g. one key column made with sha2(concat_ws(...), 256))"]


class KeyCheck:
    """What :func:`key_value_problems` looks for, as aggregates over the rows: run alone
    (:meth:`problems`), or observed on the rows as another job reads them (:meth:`observe`,
    then :meth:`observed` once that job is done: no scan of its own)."""

    def __init__(self, df: DataFrame, primary_key: Sequence[str], nulls: bool = False) -> None:
        from pyspark.sql import functions as F
        types = {f.name: f.dataType.simpleString() for f in df.schema.fields}
        nullable = {f.name: f.nullable for f in df.schema.fields}
        self.aggregates: list[Any] = []
        self.reads: list[Callable[..., Any]] = []   # called with the row; i, k bound as defaults
        self.observation: Any = None
        for i, k in enumerate(primary_key):
            kind, col = kind_of(types.get(k, "")), F.col(quote(k))
            if kind == "string":
                self.aggregates += [F.count_if(F.length(col) > MAX_KEY_CHARS).alias(f"long{i}"),
                                    F.max(F.length(col)).alias(f"max{i}")]
                self.reads.append(lambda r, i=i, k=k: r[f"long{i}"] and (
                    f"{r[f'long{i}']} row(s) have a primary key {k!r} longer than the "
                    f"{MAX_KEY_CHARS} characters an online key column holds (the longest has "
                    f"{r[f'max{i}']}): shorten or hash those keys (e.g. sha2({k}, 256)), or keep "
                    "the feature group offline"))
            elif kind == "float":
                self.aggregates.append(F.count_if(F.isnan(col) | (F.abs(col) == float("inf")))
                                       .alias(f"nan{i}"))
                self.reads.append(lambda r, i=i, k=k: r[f"nan{i}"] and (
                    f"{r[f'nan{i}']} row(s) have a NaN or infinite primary key {k!r}, which an "
                    "online table cannot hold (MySQL has no NaN): drop or replace those rows"))
            if nulls and nullable.get(k, True):
                self.aggregates.append(F.count_if(col.isNull()).alias(f"null{i}"))
                self.reads.append(lambda r, i=i, k=k: r[f"null{i}"] and
                                  f"{r[f'null{i}']} row(s) have a null primary key {k!r}")

    def problems(self, df: DataFrame) -> list[str]:
        """One Spark aggregation of ``df`` (only counts and lengths reach the driver)."""
        if not self.aggregates:
            return []
        spark = df.sparkSession
        spark.sparkContext.setJobDescription("featurestore: check online key values")
        try:
            row = df.agg(*self.aggregates).first()
        finally:
            spark.sparkContext.setJobDescription(None)  # type: ignore[arg-type]  # None clears it
        return self._read(row)

    def observe(self, df: DataFrame) -> DataFrame:
        """``df``, counting what :meth:`problems` counts as a later job reads it."""
        if not self.aggregates:
            return df
        from pyspark.sql import Observation
        self.observation = Observation("featurestore_key_check")
        return df.observe(self.observation, *self.aggregates)

    def observed(self) -> list[str]:
        """The problems the job that read the observed rows counted (call it after that job
        succeeded: the counts are there then)."""
        return self._read(self.observation.get) if self.observation is not None else []

    def _read(self, row: Any) -> list[str]:
        return [p for read in self.reads if (p := read(row))]


def key_value_problems(df: DataFrame, primary_key: Sequence[str], nulls: bool = False) -> list[str]:
    """Key values of ``df`` an online table cannot hold: string keys longer than
    :data:`MAX_KEY_CHARS` characters, NaN or infinite float keys and, with ``nulls``, null keys.
    One Spark aggregation (only counts and lengths reach the driver), and none at all when no key
    column is a string or a float (or nullable, with ``nulls``)."""
    return KeyCheck(df, primary_key, nulls).problems(df)


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
    form the executors write (Spark does this part; the rest is done on Arrow batches). One
    ``selectExpr`` of SQL text: Column expressions cost several calls into the JVM each, which
    for a small write (an incremental sync) took longer than the plan's execution."""
    exprs = []
    for c in columns:
        name = quote(c.name)
        if c.kind == "json":
            exprs.append(f"to_json({name}) AS {name}")
        elif c.kind == "float":
            exprs.append(f"CASE WHEN isnan({name}) OR abs({name}) = CAST('Infinity' AS DOUBLE) "
                         f"THEN NULL ELSE {name} END AS {name}")
        else:
            exprs.append(f"{name} AS {name}")
    return df.selectExpr(*exprs)


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
    """Per key column, what turns a caller's key value (checked by :func:`key_values`) into the
    stored form (None: as is). Decimals are stored with their scale's digits (``1.500``)."""
    def encode(v: Any) -> str:
        return v.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else str(v)

    def decimal(scale: int) -> Callable[[Any], str | None]:
        exponent = Decimal(1).scaleb(-scale)

        def stored(v: Any) -> str | None:       # None (NULL, equal to no key): more digits than
            d = Decimal(v)                      # the column keeps, so never stored (not rounded)
            fitted = _WIDE.quantize(d, exponent) if d.is_finite() else None
            return str(fitted) if fitted == d else None
        return stored
    out: list[Callable[[Any], Any] | None] = []
    for c in schema.keys:
        if text_times and c.kind == "decimal":
            found = re.fullmatch(r"decimal\(\d+,\s*(\d+)\)", c.spark_type)
            out.append(decimal(int(found[1]) if found else 0))
        elif text_times and c.kind in ("timestamp", "timestamp_ntz", "date"):
            out.append(encode)
        else:
            out.append(None)
    return out


# the Python types a key value of each kind is given as, taken as they are (exact types: bool is
# not an int key, a datetime is not a date key)
KEY_TYPES: dict[str, frozenset[type]] = {
    "int": frozenset({int}), "float": frozenset({float, int}), "string": frozenset({str}),
    "bool": frozenset({bool}), "decimal": frozenset({Decimal, int}), "date": frozenset({date}),
    "timestamp": frozenset({datetime}), "timestamp_ntz": frozenset({datetime})}
_KEY_WORDS = {"int": "an int", "float": "a float (or an int)", "string": "a str",
              "bool": "a bool", "decimal": "a Decimal (or an int)", "date": "a datetime.date",
              "timestamp": "a datetime.datetime", "timestamp_ntz": "a datetime.datetime"}


def key_types(c: Column) -> frozenset[type]:
    """The Python types a value of key column ``c`` may be given as, as it is."""
    return KEY_TYPES.get(c.kind, frozenset())


def _key_value(c: Column, v: Any) -> Any:
    """``v`` as a value of key column ``c``: as it is, or converted from a near type (numpy's
    numbers, pandas' Timestamp); None when it is of the wrong type."""
    if type(v) in KEY_TYPES.get(c.kind, ()):
        return v
    if isinstance(v, bool) or type(v).__name__ in ("bool", "bool_"):   # numpy's too: never a
        return bool(v) if c.kind == "bool" else None                    # number
    if c.kind == "int" and isinstance(v, numbers.Integral):
        return int(v)
    if c.kind == "float" and isinstance(v, numbers.Real):
        return float(v)
    if c.kind == "decimal" and isinstance(v, numbers.Integral):
        return int(v)
    if c.kind in ("timestamp", "timestamp_ntz") and isinstance(v, datetime):
        return datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond,
                        v.tzinfo)
    if c.kind == "string" and isinstance(v, str):
        return str(v)
    return None


def key_values(keys: Sequence[Column], values: Sequence[Any], group: str) -> tuple:
    """``values`` of the key columns ``keys`` checked: a value of the wrong type (``"abc"`` for an
    int key, a list for a one-column key) is an InvalidInputError, never a lookup that silently
    finds nothing."""
    out, problems = [], []
    for c, v in zip(keys, values):
        checked = _key_value(c, v)
        if checked is None:
            problem = (f"key column {c.name!r} of feature group {group} is {c.spark_type}: give "
                       f"{_KEY_WORDS.get(c.kind, 'a scalar')}, got {type(v).__name__} {v!r}")
            if len(keys) == 1 and isinstance(v, (list, tuple, set, frozenset, dict)):
                problem += (f" (its primary key has one column, {c.name}: give the key as that "
                            "one value, or as a dict)")
            problems.append(problem)
        out.append(checked)
    if problems:
        raise InvalidInputError("cannot look up a feature vector", problems, write=False)
    return tuple(out)


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
            # a map, an array or a struct: from_json takes a MapType too, which its stub leaves out
            col = F.from_json(col, _parse_datatype_string(f.type))  # type: ignore[arg-type]
        elif c.kind == "timestamp":
            col = F.concat(col, F.lit("Z")).cast("timestamp")
        elif c.kind not in ("bool", "int", "float"):
            col = col.cast(f.type)
        cols.append(col.alias(f.name))
    return df.select(*cols)
