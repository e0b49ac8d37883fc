"""Fitting and applying bound transformation functions: statistics from one Spark aggregation
over the training split, then the same statistics offline (Spark expressions and pandas UDFs, on
the executors) and online (Python over one vector)."""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple, Sequence

from ..errors import InvalidInputError
from ..names import quote
from .builtins import BUILTINS, MAX_CATEGORIES, categories_array, double, sql_literal
from .functions import Bound

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

log = logging.getLogger(__name__)
Statistics = Sequence[Mapping[str, Any]]     # one dict per bound function, in order


NUMERIC = re.compile(r"(tinyint|smallint|int|bigint|float|double|decimal\(.*\))")
CATEGORY = re.compile(r"(tinyint|smallint|int|bigint|string|boolean)")


def problems(bounds: Sequence[Bound], types: Mapping[str, str], what: str,
             helpers: Sequence[str] = ()) -> list[str]:
    """Features the functions name that the rows lack (``types``: their columns and Spark
    types) or cannot take, features transformed twice, and inference helpers transformed."""
    out = []
    seen: list[str] = []
    for b in bounds:
        for f in b.features:
            if f not in types:
                out.append(f"{b.function.name} transforms {f!r}, which is not a feature of the "
                           f"{what} ({', '.join(types)})")
            elif f in helpers:
                out.append(f"{b.function.name} transforms {f!r}, an inference helper column "
                           "(helpers are kept out of the features)")
            elif b.function.builtin:
                accepts = BUILTINS[b.function.name].accepts
                rule = NUMERIC if accepts == "numeric" else CATEGORY
                if not rule.fullmatch(types[f]):
                    out.append(f"{b.function.name} takes a {accepts} feature (" + (
                        "a number" if accepts == "numeric" else "a string, integer or boolean")
                        + f"): {f!r} is {types[f]}")
            if f in seen:
                out.append(f"{f!r} is transformed twice")
            seen.append(f)
    return out


EXACT_QUANTILE_ROWS = 100_000   # up to this many training rows quantiles are exact (numpy's)
SKETCH_K = 65_535               # above, from a KLL sketch of this size (Spark's largest)


def _statistics(bounds: Sequence[Bound], exact_quantiles: bool) -> list[tuple[tuple[int, str], str]]:
    """``[((function index, statistic), aggregate as Spark SQL)]``: every statistic, quantiles
    from a KLL sketch (with a count of NaN values, which a sketch skips), or
    (``exact_quantiles``) only the quantiles, exact."""
    out = []
    for i, b in enumerate(bounds):
        if not b.function.builtin:
            continue
        builtin, col = BUILTINS[b.function.name], quote(b.features[0])
        if not exact_quantiles:
            for key, agg in builtin.aggregations(col, b.params).items():
                out.append(((i, key), f"slice({agg}, 1, {MAX_CATEGORIES + 1})"
                            if key == "categories" else agg))
        for key, probabilities in builtin.quantiles(b.params).items():
            x, at = double(col), "array(" + ", ".join(map(sql_literal, probabilities)) + ")"
            if exact_quantiles:
                out.append(((i, key), f"percentile({x}, {at})"))
                continue
            out.append(((i, key), f"kll_sketch_get_quantile_double("
                                  f"kll_sketch_agg_double({x}, {SKETCH_K}), {at})"))
            out.append(((i, _NAN), f"count_if(isnan({x}))"))
    return out


_NAN = "nan values"


def fit(df: DataFrame, bounds: Sequence[Bound], what: str) -> list[dict[str, Any]]:
    """The statistics every bound function needs, from ``df`` (the training split: ``what``)
    in one Spark aggregation; only the statistics come to the driver (an encoder's categories:
    at most ``MAX_CATEGORIES`` + 1, to say that there are too many).

    Quantiles come from a KLL sketch (rank error about 1e-4 of the rows; a sketch compacts at
    random, so two fits of a large split may differ in the last ranks), and from a second
    aggregation, exact as numpy's, when the rows are at most ``EXACT_QUANTILE_ROWS``: on 800k
    rows exact percentiles took 1.1 s, twice the rest of the aggregation, the sketch 0.2 s."""
    stats: list[dict[str, Any]] = [{} for _ in bounds]
    if not bounds:
        return stats
    first = _statistics(bounds, False)
    row = df.selectExpr("count(1) AS rows",
                        *[f"{agg} AS s{n}" for n, (_, agg) in enumerate(first)]).first()
    if row is None or not row["rows"]:
        raise InvalidInputError(f"cannot fit transformation functions on {what}", [
            "there are no rows to fit them on (the training split or time window is empty)"],
            write=False)
    values = dict(zip([key for key, _ in first], list(row)[1:]))
    quantiles = any(BUILTINS[b.function.name].quantiles(b.params) for b in bounds
                    if b.function.builtin)
    if quantiles and row["rows"] <= EXACT_QUANTILE_ROWS:
        exact = _statistics(bounds, True)
        got = df.selectExpr(*[f"{agg} AS q{n}" for n, (_, agg) in enumerate(exact)]).first()
        values.update(zip([key for key, _ in exact], list(got or ())))
    elif quantiles:
        log.info("quantiles on %s from a sketch (%s rows, more than %s for exact ones)",
                 what, row["rows"], EXACT_QUANTILE_ROWS)
    nans = {i for (i, key), value in values.items() if key == _NAN and value}
    for (i, key), value in values.items():
        if key != _NAN:
            stats[i][key] = list(value) if isinstance(value, (list, tuple)) else value
    problems = []
    for i, (b, s) in enumerate(zip(bounds, stats)):
        f = b.features[0]
        if i in nans:
            problems.append(f"{b.function.name} of {f!r}: the training rows hold NaN values "
                            "(its quantiles would not be finite)")
            continue
        if "categories" in s and len(s["categories"]) > MAX_CATEGORIES:
            problems.append(f"{b.function.name} of {f!r}: more than {MAX_CATEGORIES} categories "
                            "in the training rows (encode a feature of fewer values)")
        elif "categories" in s and not s["categories"]:
            problems.append(f"{b.function.name} of {f!r}: no categories (every value is null)")
        try:
            json.dumps(s, allow_nan=False)
        except ValueError:
            problems.append(f"{b.function.name} of {f!r}: its statistics are not finite "
                            f"({s}): the training rows hold NaN or infinite values")
        except TypeError:
            problems.append(f"{b.function.name} of {f!r}: its statistics cannot be kept ({s})")
    if problems:
        raise InvalidInputError(f"cannot fit transformation functions on {what}", problems,
                                write=False)
    return stats


PARAMETER = "__fs_statistic_"     # feature names start with a letter (names.NAME_PATTERN)
LOOKUP = "__fs_lookup_"


class Parameters:
    """Fitted statistics as scalar subqueries over a one-row local relation, not as literals:
    Spark writes numeric literals into the Java code it generates, so statistics as literals
    made every fit compile its stages anew (about 0.3 s a stage here, and again on each
    executor). A subquery's value is computed once per query (no Spark job: the relation is
    local) and reaches the code as one object, so the code is the same for every fit over the
    same features; it costs nothing per row, where the cross join with a broadcast row it
    replaces copied every row (0.1 s per 800k rows). One array per type. Strings stay
    literals (Spark keeps them out of the code). The relation must be an inline table: over a
    one-row ``SELECT`` Spark folds the subquery back into literals."""

    def __init__(self) -> None:
        self.values: dict[str, list[Any]] = {"double": [], "bigint": [], "boolean": []}
        self.lookups: list[tuple[str, list[Any]]] = []

    def __call__(self, value: Any) -> str:
        if value is None or isinstance(value, str):
            return sql_literal(value)
        kind = ("boolean" if isinstance(value, bool) else
                "bigint" if isinstance(value, int) else "double")
        self.values[kind].append(value)
        return f"{quote(PARAMETER + kind)}[{len(self.values[kind]) - 1}]"

    def codes(self, col: str, categories: list[Any]) -> str:
        """The index of ``col``'s value among ``categories`` (sorted; null for others) from a
        broadcast hash join, not a literal map, which Spark searches key after key (10,000
        categories: 9 s for 800k rows; the join 0.3 s)."""
        self.lookups.append((col, categories))
        return quote(f"{LOOKUP}{len(self.lookups) - 1}_code")

    def join(self, df: DataFrame) -> DataFrame:
        """``df`` with the statistics as columns and the label encoders' codes (each table of
        categories made by a small Spark job when it is broadcast)."""
        from pyspark.sql import functions as F
        out = df
        if kinds := [kind for kind, values in self.values.items() if values]:
            names = [f"{PARAMETER}{kind}" for kind in kinds]
            row = ", ".join("array(" + ", ".join(map(sql_literal, self.values[kind])) + ")"
                            for kind in kinds)
            table = df.sparkSession.sql(
                f"SELECT * FROM VALUES ({row}) AS statistics({', '.join(names)})")
            out = out.select("*", *[table.select(n).scalar().alias(n) for n in names])
        for i, (col, categories) in enumerate(self.lookups):
            key, code = quote(f"{LOOKUP}{i}_key"), quote(f"{LOOKUP}{i}_code")
            table = df.sparkSession.range(1).selectExpr(
                f"posexplode({categories_array(categories)}) AS ({code}, {key})")
            out = out.join(F.broadcast(table.selectExpr(key, f"CAST({code} AS BIGINT) AS {code}")),
                           F.expr(f"{col} = {key}"), "left")
        return out


class SparkOutputs(NamedTuple):
    """Each bound function's output columns (named; Spark SQL, or a Column for a user's
    function), by its first feature, over the columns of ``parameters``."""
    columns: dict[str, list[str | Column]]
    parameters: Parameters


def _spark_outputs(b: Bound, stats: Mapping[str, Any], names: list[str],
                   value: Parameters) -> list[str | Column]:
    if b.function.builtin:
        made = BUILTINS[b.function.name].spark(quote(b.features[0]), stats, b.params, value)
        return [f"{sql} AS {quote(n)}" for sql, n in zip(made, names)]
    from pyspark.sql import functions as F
    from pyspark.sql.functions import pandas_udf
    udf = pandas_udf(b.function.fn, b.function.output_type)   # type: ignore[call-overload]
    return [udf(*[F.col(f) for f in b.features]).alias(names[0])]


def spark_columns(bounds: Sequence[Bound], stats: Statistics) -> SparkOutputs:
    """The bound functions' outputs: build them once for all the splits of a training dataset."""
    parameters = Parameters()
    return SparkOutputs({b.features[0]: _spark_outputs(b, s, b.outputs(s), parameters)
                         for b, s in zip(bounds, stats)}, parameters)


def transform_frame(df: DataFrame, bounds: Sequence[Bound], stats: Statistics,
                    outputs: SparkOutputs | None = None) -> DataFrame:
    """``df`` with each bound function's features replaced by its outputs (where its first
    feature was; ``outputs``: ``spark_columns(bounds, stats)`` when already built), computed by
    Spark on the executors."""
    from pyspark.sql import functions as F
    made, parameters = outputs if outputs is not None else spark_columns(bounds, stats)
    dropped = {f for b in bounds for f in b.features}
    select: list[str | Column] = []
    for column in df.columns:
        if column in made:
            select += made[column]
        elif column not in dropped:
            select.append(quote(column))
    joined = parameters.join(df)
    if len(texts := [c for c in select if isinstance(c, str)]) == len(select):
        return joined.selectExpr(*texts)             # one call into the JVM
    return joined.select(*[F.expr(c) if isinstance(c, str) else c for c in select])


def plain(value: Any) -> Any:
    """A value as the online store gives it: numpy scalars as Python ones, pandas' NA as None."""
    if value is not None and type(value).__name__ in ("NAType", "NaTType"):
        return None
    return value.item() if hasattr(value, "item") and not isinstance(value, (str, bytes)) else value


def _scalar(value: Any, kind: str) -> Any:
    """A UDF's output value as the offline pandas UDF gives it for its type (NaN: null)."""
    value = plain(value)
    if value is None or (isinstance(value, float) and value != value):
        return None
    cast = {"double": float, "float": float, "bigint": int, "int": int, "string": str,
            "boolean": bool}.get(kind)
    return cast(value) if cast is not None else value


def _python_outputs(b: Bound, stats: Mapping[str, Any], values: list[Any]) -> list[Any]:
    if b.function.builtin:
        return BUILTINS[b.function.name].python(values[0], stats, b.params)
    import pandas as pd
    out = b.function.fn(*[pd.Series([v]) for v in values])     # type: ignore[misc]
    return [_scalar(out.iloc[0] if hasattr(out, "iloc") else out, b.function.output_type)]


def transform_vector(vector: Mapping[str, Any], bounds: Sequence[Bound],
                     stats: Statistics) -> dict[str, Any]:
    """One vector (``{feature: value}``, in order) transformed as ``transform_frame`` does."""
    made = {b.features[0]: (b, s) for b, s in zip(bounds, stats)}
    dropped = {f for b in bounds for f in b.features}
    out: dict[str, Any] = {}
    for name, value in vector.items():
        if name in made:
            b, s = made[name]
            out.update(zip(b.outputs(s), _python_outputs(b, s, [vector.get(f) for f in b.features])))
        elif name not in dropped:
            out[name] = value
    return out
