"""Fitting and applying bound transformation functions: statistics from one Spark aggregation
over the training split, then the same statistics offline (Spark expressions and pandas UDFs, on
the executors) and online (Python over one vector)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ..errors import InvalidInputError
from .builtins import BUILTINS, MAX_CATEGORIES
from .functions import Bound

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

Statistics = Sequence[Mapping[str, Any]]     # one dict per bound function, in order


def problems(bounds: Sequence[Bound], columns: Sequence[str], what: str) -> list[str]:
    """Features the functions name that the rows lack, and features transformed twice."""
    out = [f"{b.function.name} transforms {f!r}, which is not a feature of the {what} "
           f"({', '.join(columns)})" for b in bounds for f in b.features if f not in columns]
    seen: list[str] = []
    for b in bounds:
        out += [f"{f!r} is transformed twice" for f in b.features if f in seen]
        seen += b.features
    return out


def fit(df: DataFrame, bounds: Sequence[Bound]) -> list[dict[str, Any]]:
    """The statistics every bound function needs, from ``df`` (the training split) in one Spark
    aggregation; only the statistics come to the driver."""
    from pyspark.sql import functions as F
    aggs, names = [], []
    for i, b in enumerate(bounds):
        if b.function.builtin:
            for key, agg in BUILTINS[b.function.name].aggregations(F.col(b.features[0]), b.params).items():
                aggs.append(agg.alias(f"s{i}_{key}"))
                names.append((i, key))
    stats: list[dict[str, Any]] = [{} for _ in bounds]
    if aggs:
        row = df.agg(*aggs).first()
        for (i, key), value in zip(names, row if row is not None else []):
            stats[i][key] = list(value) if isinstance(value, (list, tuple)) else value
    for b, s in zip(bounds, stats):
        if len(s.get("categories") or ()) > MAX_CATEGORIES:
            raise InvalidInputError(f"cannot fit {b.function.name} on {b.features[0]!r}", [
                f"{len(s['categories'])} categories in the training data: at most "
                f"{MAX_CATEGORIES} (encode a feature of fewer values)"])
    return stats


def _spark_outputs(b: Bound, stats: Mapping[str, Any]) -> list[Any]:
    from pyspark.sql import functions as F
    cols = [F.col(f) for f in b.features]
    if b.function.builtin:
        return BUILTINS[b.function.name].spark(cols[0], stats, b.params)
    from pyspark.sql.functions import pandas_udf
    return [pandas_udf(b.function.fn, b.function.output_type)(*cols)]   # type: ignore[call-overload]


def transform_frame(df: DataFrame, bounds: Sequence[Bound], stats: Statistics) -> DataFrame:
    """``df`` with each bound function's features replaced by its outputs (where its first
    feature was), computed by Spark on the executors."""
    from pyspark.sql import functions as F
    made = {b.features[0]: (b, s) for b, s in zip(bounds, stats)}
    dropped = {f for b in bounds for f in b.features}
    select = []
    for column in df.columns:
        if column in made:
            b, s = made[column]
            select += [c.alias(n) for c, n in zip(_spark_outputs(b, s), b.outputs(s))]
        elif column not in dropped:
            select.append(F.col(column))
    return df.select(*select)


def _scalar(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and value != value else value   # NaN: null


def _python_outputs(b: Bound, stats: Mapping[str, Any], values: list[Any]) -> list[Any]:
    if b.function.builtin:
        return BUILTINS[b.function.name].python(values[0], stats, b.params)
    import pandas as pd
    out = b.function.fn(*[pd.Series([v]) for v in values])     # type: ignore[misc]
    return [_scalar(out.iloc[0] if hasattr(out, "iloc") else out)]


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
