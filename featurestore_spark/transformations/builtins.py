"""The built-in transformation functions: statistics as Spark aggregations, the offline form as a
Spark expression and the online form as plain Python, both over the same kept statistics.

The Spark side is SQL text (parsed by Spark once per expression): built with the Column API,
each function and operator was a call into the JVM that PySpark also annotates with the
caller's frame, several hundred calls and about 0.3 s on the driver per training split.

Each matches scikit-learn's counterpart fitted on the same training split (the tests check it):
``min_max_scaler`` MinMaxScaler, ``standard_scaler`` StandardScaler (population standard
deviation), ``robust_scaler`` RobustScaler (quartiles, linear interpolation), ``label_encoder``
LabelEncoder (sorted categories; one not seen in training gives null), ``one_hot_encoder``
OneHotEncoder (one boolean column per sorted category), ``equal_width_binner`` and
``quantile_binner`` KBinsDiscretizer (uniform / quantile, ordinal); ``log_transform`` is the
natural logarithm (null for values <= 0). Nulls stay null (a one-hot row of a null is all false).
Quantiles are exact (numpy's linear interpolation) on training splits of up to
``apply.EXACT_QUANTILE_ROWS`` rows and from Spark's KLL sketch above (rank error about 1e-4 of
the rows), approximate as Spark ML's scalers are.
Offline and online give equal values, except that the logarithm may differ in the last bit (the
JVM's ``Math.log`` offline, C's ``log`` online).
"""

from __future__ import annotations

import bisect
import json
import math
from typing import Any, Mapping, Protocol


class Value(Protocol):
    """Fitted statistics as Spark SQL (``apply.Parameters``)."""

    def __call__(self, value: Any) -> str: ...

    def codes(self, col: str, categories: list[Any]) -> str: ...


def sql_literal(value: Any) -> str:
    """``value`` as a Spark SQL literal: a number as a cast of its exact text (``repr``), a
    string as a cast of its UTF-8 bytes (nothing to escape)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"CAST('{value}' AS BIGINT)"
    if isinstance(value, str):
        return f"CAST(X'{value.encode().hex()}' AS STRING)"
    return f"CAST('{float(value)!r}' AS DOUBLE)"


def double(col: str) -> str:
    return f"CAST({col} AS DOUBLE)"


MAX_CATEGORIES = 10_000     # an encoder's categories travel to the driver and into the metadata
LOOKUP_CATEGORIES = 64      # above, a label encoder looks its codes up in a broadcast hash join


class Builtin:
    params: Mapping[str, Any] = {}
    output_type = "double"
    accepts = "numeric"        # the features it takes: "numeric" or "category"

    def param_problems(self, params: Mapping[str, Any]) -> list[str]:
        return []

    def aggregations(self, col: str, params: Mapping[str, Any]) -> dict[str, str]:
        """Spark SQL aggregate expressions of the statistics (named) of ``col`` (a feature as
        Spark SQL), over the training split."""
        return {}

    def quantiles(self, params: Mapping[str, Any]) -> dict[str, list[float]]:
        """Quantile statistics (named): their probabilities, each kept as a list of values
        (computed by ``apply.fit``: exact as numpy's on small training splits)."""
        return {}

    def outputs(self, stats: Mapping[str, Any], params: Mapping[str, Any]) -> int | None:
        """How many output columns (None: one, named without an index)."""
        return None

    def spark(self, col: str, stats: Mapping[str, Any], params: Mapping[str, Any],
              value: Value) -> list[str]:
        """The outputs as Spark SQL expressions of ``col``, each statistic through ``value``."""
        raise NotImplementedError

    def python(self, value: Any, stats: Mapping[str, Any], params: Mapping[str, Any]) -> list[Any]:
        raise NotImplementedError


class _Affine(Builtin):
    """(x - center) / scale, scale 1 where the training data gave 0 (as scikit-learn does)."""

    def center_scale(self, stats: Mapping[str, Any]) -> tuple[float, float]:
        raise NotImplementedError

    def spark(self, col: str, stats: Mapping[str, Any], params: Mapping[str, Any],
              value: Value) -> list[str]:
        center, scale = self.center_scale(stats)
        return [f"({double(col)} - {value(center)}) / {value(scale)}"]

    def python(self, value: Any, stats: Mapping[str, Any], params: Mapping[str, Any]) -> list[Any]:
        center, scale = self.center_scale(stats)
        return [None if value is None else (float(value) - center) / scale]


def _nonzero(x: float | None) -> float:
    return 1.0 if not x else float(x)


class MinMaxScaler(_Affine):
    def aggregations(self, col: str, params: Mapping[str, Any]) -> dict[str, str]:
        return {"min": f"min({double(col)})", "max": f"max({double(col)})"}

    def center_scale(self, stats: Mapping[str, Any]) -> tuple[float, float]:
        return float(stats["min"] or 0.0), _nonzero((stats["max"] or 0.0) - (stats["min"] or 0.0))


class StandardScaler(_Affine):
    def aggregations(self, col: str, params: Mapping[str, Any]) -> dict[str, str]:
        return {"mean": f"avg({double(col)})", "stddev": f"stddev_pop({double(col)})"}

    def center_scale(self, stats: Mapping[str, Any]) -> tuple[float, float]:
        return float(stats["mean"] or 0.0), _nonzero(stats["stddev"])


class RobustScaler(_Affine):
    def quantiles(self, params: Mapping[str, Any]) -> dict[str, list[float]]:
        return {"quartiles": [0.25, 0.5, 0.75]}

    def center_scale(self, stats: Mapping[str, Any]) -> tuple[float, float]:
        q1, median, q3 = stats["quartiles"] or (0.0, 0.0, 0.0)
        return float(median), _nonzero(q3 - q1)


class _Categories(Builtin):
    accepts = "category"
    def aggregations(self, col: str, params: Mapping[str, Any]) -> dict[str, str]:
        return {"categories": f"sort_array(collect_set({col}))"}


def category_type(categories: list[Any]) -> str:
    """The Spark type of an encoder's categories (those of one column, kept as JSON)."""
    if isinstance(categories[0], bool):
        return "boolean"
    return "bigint" if isinstance(categories[0], int) else "string"


def categories_array(categories: list[Any]) -> str:
    """``categories`` as one Spark array: a literal JSON text Spark parses once (a literal per
    category made the SQL text long and its parsing slow)."""
    return f"from_json({sql_literal(json.dumps(categories))}, 'array<{category_type(categories)}>')"


class LabelEncoder(_Categories):
    output_type = "bigint"

    def spark(self, col: str, stats: Mapping[str, Any], params: Mapping[str, Any],
              value: Value) -> list[str]:
        cats = stats["categories"]
        if not cats:
            return ["CAST(NULL AS BIGINT)"]
        if len(cats) > LOOKUP_CATEGORIES:
            return [value.codes(col, cats)]
        # the categories as one literal that Spark folds into a map
        return [f"CAST(map_from_arrays({categories_array(cats)}, sequence(0, {len(cats) - 1}))"
                f"[{col}] AS BIGINT)"]

    def python(self, value: Any, stats: Mapping[str, Any], params: Mapping[str, Any]) -> list[Any]:
        cats = stats["categories"]
        i = bisect.bisect_left(cats, value) if value is not None else len(cats)
        return [i if i < len(cats) and cats[i] == value else None]


class OneHotEncoder(_Categories):
    output_type = "boolean"

    def outputs(self, stats: Mapping[str, Any], params: Mapping[str, Any]) -> int | None:
        return len(stats["categories"])

    def spark(self, col: str, stats: Mapping[str, Any], params: Mapping[str, Any],
              value: Value) -> list[str]:
        return [f"coalesce({col} = {value(c)}, false)" for c in stats["categories"]]

    def python(self, value: Any, stats: Mapping[str, Any], params: Mapping[str, Any]) -> list[Any]:
        return [value is not None and value == c for c in stats["categories"]]


class LogTransform(Builtin):
    def spark(self, col: str, stats: Mapping[str, Any], params: Mapping[str, Any],
              value: Value) -> list[str]:
        return [f"CASE WHEN {col} > 0 AND NOT isnan({double(col)}) THEN ln({double(col)}) END"]

    def python(self, value: Any, stats: Mapping[str, Any], params: Mapping[str, Any]) -> list[Any]:
        return [math.log(value) if value is not None and value > 0 and value == value else None]


class _Binner(Builtin):
    """The bin of a value among ``n_bins`` (0 to n_bins - 1) by its inner edges, as
    scikit-learn's KBinsDiscretizer(encode="ordinal") bins: searchsorted(edges[1:-1], side=right)."""
    params = {"n_bins": 5}
    output_type = "bigint"
    dedupe = False

    def param_problems(self, params: Mapping[str, Any]) -> list[str]:
        n = params.get("n_bins")
        if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= 1000:
            return [f"n_bins must be an integer from 2 to 1000, got {n!r}"]
        return []

    def edges(self, stats: Mapping[str, Any], params: Mapping[str, Any]) -> list[float]:
        raise NotImplementedError

    def inner(self, stats: Mapping[str, Any], params: Mapping[str, Any]) -> list[float]:
        """The inner edges, as scikit-learn keeps them: none for a constant feature (every value
        in bin 0), and edges closer than 1e-8 to the one before dropped (quantile bins)."""
        edges = self.edges(stats, params)
        if edges[0] == edges[-1]:
            return []
        kept = [edges[0]]
        for e in edges[1:]:
            if not self.dedupe or e - kept[-1] > 1e-8:
                kept.append(e)
        return kept[1:-1]

    def spark(self, col: str, stats: Mapping[str, Any], params: Mapping[str, Any],
              value: Value) -> list[str]:
        x = double(col)
        count = " + ".join(["0"] + [f"CASE WHEN {x} >= {value(e)} THEN 1 ELSE 0 END"
                                    for e in self.inner(stats, params)])
        return [f"CAST(CASE WHEN {x} IS NOT NULL THEN {count} END AS BIGINT)"]

    def python(self, value: Any, stats: Mapping[str, Any], params: Mapping[str, Any]) -> list[Any]:
        if value is None:
            return [None]
        return [bisect.bisect_right(self.inner(stats, params), float(value))]


class EqualWidthBinner(_Binner):
    def aggregations(self, col: str, params: Mapping[str, Any]) -> dict[str, str]:
        return MinMaxScaler().aggregations(col, params)

    def edges(self, stats: Mapping[str, Any], params: Mapping[str, Any]) -> list[float]:
        lo, hi, n = float(stats["min"] or 0.0), float(stats["max"] or 0.0), params["n_bins"]
        step = (hi - lo) / n
        return [i * step + lo for i in range(n)] + [hi]        # numpy.linspace's points


class QuantileBinner(_Binner):
    dedupe = True
    def quantiles(self, params: Mapping[str, Any]) -> dict[str, list[float]]:
        n = params["n_bins"]
        return {"edges": [i / n for i in range(n + 1)]}

    def edges(self, stats: Mapping[str, Any], params: Mapping[str, Any]) -> list[float]:
        return list(stats["edges"] or [0.0, 0.0])


BUILTINS: dict[str, Builtin] = {
    "min_max_scaler": MinMaxScaler(), "standard_scaler": StandardScaler(),
    "robust_scaler": RobustScaler(), "label_encoder": LabelEncoder(),
    "one_hot_encoder": OneHotEncoder(), "log_transform": LogTransform(),
    "equal_width_binner": EqualWidthBinner(), "quantile_binner": QuantileBinner(),
}
