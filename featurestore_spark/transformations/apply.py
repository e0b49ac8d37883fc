"""Fitting and applying bound transformation functions: statistics from one Spark aggregation
over the training split, then the same statistics offline (Spark expressions and pandas UDFs, on
the executors) and online (Python over one vector)."""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple, Sequence

from ..errors import InvalidInputError
from .builtins import BUILTINS, MAX_CATEGORIES, categories_array
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


def _statistics(bounds: Sequence[Bound], exact_quantiles: bool) -> list[tuple[tuple[int, str], Any]]:
    """``[((function index, statistic), aggregate)]``: every statistic, quantiles from a KLL
    sketch (with a count of NaN values, which a sketch skips), or (``exact_quantiles``) only
    the quantiles, exact."""
    from pyspark.sql import functions as F
    out = []
    for i, b in enumerate(bounds):
        if not b.function.builtin:
            continue
        builtin, col = BUILTINS[b.function.name], F.col(b.features[0])
        if not exact_quantiles:
            for key, agg in builtin.aggregations(col, b.params).items():
                out.append(((i, key), F.slice(agg, 1, MAX_CATEGORIES + 1)
                            if key == "categories" else agg))
        for key, probabilities in builtin.quantiles(b.params).items():
            x = col.cast("double")
            if exact_quantiles:
                out.append(((i, key), F.percentile(x, probabilities)))
                continue
            out.append(((i, key), F.kll_sketch_get_quantile_double(
                F.kll_sketch_agg_double(x, SKETCH_K), F.array(*map(F.lit, probabilities)))))
            out.append(((i, _NAN), F.count_if(F.isnan(x))))
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
    from pyspark.sql import functions as F
    stats: list[dict[str, Any]] = [{} for _ in bounds]
    if not bounds:
        return stats
    first = _statistics(bounds, False)
    row = df.agg(F.count(F.lit(1)).alias("rows"),
                 *[agg.alias(f"s{n}") for n, (_, agg) in enumerate(first)]).first()
    if row is None or not row["rows"]:
        raise InvalidInputError(f"cannot fit transformation functions on {what}", [
            "there are no rows to fit them on (the training split or time window is empty)"],
            write=False)
    values = dict(zip([key for key, _ in first], list(row)[1:]))
    exact = _statistics(bounds, True)
    if exact and row["rows"] <= EXACT_QUANTILE_ROWS:
        quantiles = df.agg(*[agg.alias(f"q{n}") for n, (_, agg) in enumerate(exact)]).first()
        values.update(zip([key for key, _ in exact], list(quantiles or ())))
    elif exact:
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


def _sql_literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"CAST('{value}' AS BIGINT)"
    return f"CAST('{float(value)!r}' AS DOUBLE)"       # repr: the shortest exact form


class Parameters:
    """Fitted statistics as the columns of a one-row relation broadcast to the rows, not as
    literals: Spark writes numeric literals into the Java code it generates, so statistics as
    literals made every fit compile its stages anew (about 0.3 s a stage here, and again on
    each executor); as columns, the code is the same for every fit over the same features.
    One array column per type (an array is one field: past ``spark.sql.codegen.maxFields``
    fields Spark generates no code for a stage). Strings stay literals (Spark keeps them out of
    the code)."""

    def __init__(self) -> None:
        self.values: dict[str, list[Any]] = {"double": [], "bigint": [], "boolean": []}
        self.lookups: list[tuple[Column, list[Any]]] = []

    def __call__(self, value: Any) -> Column:
        from pyspark.sql import functions as F
        if value is None or isinstance(value, str):
            return F.lit(value)
        kind = ("boolean" if isinstance(value, bool) else
                "bigint" if isinstance(value, int) else "double")
        self.values[kind].append(value)
        return F.col(f"{PARAMETER}{kind}")[len(self.values[kind]) - 1]

    def codes(self, col: Column, categories: list[Any]) -> Column:
        """The index of ``col``'s value among ``categories`` (sorted; null for others) from a
        broadcast hash join, not a literal map, which Spark searches key after key (10,000
        categories: 9 s for 800k rows; the join 0.3 s)."""
        from pyspark.sql import functions as F
        self.lookups.append((col, categories))
        return F.col(f"{LOOKUP}{len(self.lookups) - 1}_code")

    def join(self, df: DataFrame) -> DataFrame:
        """``df`` with the statistics as columns (a local relation: no Spark job to broadcast
        it, and the optimizer cannot fold its values back into literals) and the label encoders'
        codes (each table of categories made by a small Spark job when it is broadcast)."""
        from pyspark.sql import functions as F
        out = df
        if kinds := [kind for kind, values in self.values.items() if values]:
            names = ", ".join(f"{PARAMETER}{kind}" for kind in kinds)
            row = ", ".join("array(" + ", ".join(map(_sql_literal, self.values[kind])) + ")"
                            for kind in kinds)
            out = out.crossJoin(F.broadcast(df.sparkSession.sql(
                f"SELECT * FROM VALUES ({row}) AS statistics({names})")))
        for i, (col, categories) in enumerate(self.lookups):
            key, code = f"{LOOKUP}{i}_key", f"{LOOKUP}{i}_code"
            table = df.sparkSession.range(1).select(
                F.posexplode(categories_array(categories)).alias(code, key))
            out = out.join(F.broadcast(table.select(key, F.col(code).cast("bigint").alias(code))),
                           col == F.col(key), "left")
        return out


class SparkOutputs(NamedTuple):
    """Each bound function's output columns (named), by its first feature, over the columns
    of ``parameters``."""
    columns: dict[str, list[Any]]
    parameters: Parameters


def _spark_outputs(b: Bound, stats: Mapping[str, Any], value: Parameters) -> list[Any]:
    from pyspark.sql import functions as F
    cols = [F.col(f) for f in b.features]
    if b.function.builtin:
        return BUILTINS[b.function.name].spark(cols[0], stats, b.params, value)
    from pyspark.sql.functions import pandas_udf
    return [pandas_udf(b.function.fn, b.function.output_type)(*cols)]   # type: ignore[call-overload]


def spark_columns(bounds: Sequence[Bound], stats: Statistics) -> SparkOutputs:
    """The bound functions' outputs: build them once for all the splits of a training dataset
    (each is a few hundred calls into the JVM)."""
    parameters = Parameters()
    return SparkOutputs({b.features[0]: [c.alias(n) for c, n in zip(
        _spark_outputs(b, s, parameters), b.outputs(s))] for b, s in zip(bounds, stats)},
        parameters)


def transform_frame(df: DataFrame, bounds: Sequence[Bound], stats: Statistics,
                    outputs: SparkOutputs | None = None) -> DataFrame:
    """``df`` with each bound function's features replaced by its outputs (where its first
    feature was; ``outputs``: ``spark_columns(bounds, stats)`` when already built), computed by
    Spark on the executors."""
    from pyspark.sql import functions as F
    made, parameters = outputs if outputs is not None else spark_columns(bounds, stats)
    dropped = {f for b in bounds for f in b.features}
    select = []
    for column in df.columns:
        if column in made:
            select += made[column]
        elif column not in dropped:
            select.append(F.col(column))
    return parameters.join(df).select(*select)


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
