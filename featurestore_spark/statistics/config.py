"""The statistics settings of a feature group (those of hops-util-py), their checks, and which
columns of a schema the statistics cover.

Examples
--------
>>> config = StatisticsConfig(stat_columns=("goals", "team"), num_bins=10)
>>> StatisticsConfig.from_dict(config.to_dict()) == config
True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import InvalidInputError

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

CORR_METHODS = ("pearson", "spearman")
MAX_BINS = 1000
MAX_CLUSTERS = 100
BOOL_FIELDS = ("descriptive_statistics", "feature_correlation", "feature_histograms",
               "cluster_analysis", "enabled")
# hops-util-py spelt some settings differently; from_dict accepts those spellings too.
ALIASES = {"feature_histogram": "feature_histograms", "statistics_enabled": "enabled"}

NUMERIC = "numeric"          # byte, short, int, long, float, double, decimal: read as double
CATEGORICAL = "categorical"  # string, boolean: top values
TEMPORAL = "temporal"        # date, timestamp, timestamp_ntz: min and max only
_KINDS = {"byte": NUMERIC, "short": NUMERIC, "integer": NUMERIC, "long": NUMERIC,
          "float": NUMERIC, "double": NUMERIC, "decimal": NUMERIC, "string": CATEGORICAL,
          "boolean": CATEGORICAL, "date": TEMPORAL, "timestamp": TEMPORAL,
          "timestamp_ntz": TEMPORAL}


@dataclass(frozen=True)
class StatisticsConfig:
    """Which statistics to compute, and how (the settings of hops-util-py).

    Parameters
    ----------
    descriptive_statistics, feature_correlation, feature_histograms, cluster_analysis : bool
        The parts of the statistics to compute.
    stat_columns : tuple of str, optional
        The columns to describe; ``None`` for every column of a supported type.
    num_bins : int
        Equal-width bins of a numeric histogram (1 to 1000).
    corr_method : str
        ``"pearson"`` or ``"spearman"``.
    num_clusters : int
        k of the k-means cluster analysis (1 to 100; fewer when there are fewer distinct rows).
    enabled : bool
        Whether statistics are computed on create and insert at all.
    """

    descriptive_statistics: bool = True
    feature_correlation: bool = True
    feature_histograms: bool = True
    cluster_analysis: bool = True
    stat_columns: tuple[str, ...] | None = None
    num_bins: int = 20
    corr_method: str = "pearson"
    num_clusters: int = 5
    enabled: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.stat_columns, (list, set, frozenset)):   # a list is a fine input
            object.__setattr__(self, "stat_columns", tuple(self.stat_columns))
        if isinstance(self.stat_columns, tuple):     # feature names as stored: names.feature
            object.__setattr__(self, "stat_columns", tuple(
                c.lower() if isinstance(c, str) else c for c in self.stat_columns))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able settings (``stat_columns`` as a list or None)."""
        d = asdict(self)
        if d["stat_columns"] is not None:
            d["stat_columns"] = list(d["stat_columns"])
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StatisticsConfig:
        """The settings of :meth:`to_dict` (hops-util-py's ``feature_histogram`` spelling too);
        unknown keys raise :class:`InvalidInputError` naming the known ones."""
        names = {f.name for f in fields(cls)}
        given = {ALIASES.get(k, k): v for k, v in d.items()}
        unknown = sorted(k for k in given if k not in names)
        if unknown:
            raise InvalidInputError("statistics settings", [
                f"unknown setting {k!r}: the settings are {', '.join(sorted(names))}"
                for k in unknown])
        stat_columns = given.get("stat_columns")
        if isinstance(stat_columns, list):
            given["stat_columns"] = tuple(stat_columns)
        return cls(**given)


def column_kind(data_type: Any) -> str | None:
    """``numeric``, ``categorical``, ``temporal`` or None (not supported: arrays, maps, ...)."""
    name = data_type.typeName()
    return _KINDS.get(name)


def supported_columns(schema: StructType) -> list[str]:
    """The columns of ``schema`` whose type the statistics support, in schema order."""
    return [f.name for f in schema.fields if column_kind(f.dataType) is not None]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def config_problems(config: StatisticsConfig, schema: StructType) -> list[str]:
    """Every problem of ``config`` for a DataFrame of ``schema`` (empty when it is usable).

    Examples
    --------
    >>> config_problems(StatisticsConfig(num_bins=0, corr_method="kendall"), df.schema)  # doctest: +SKIP
    ['num_bins must be an integer from 1 to 1000, not 0', "corr_method must be 'pearson' or ..."]
    """
    problems = [f"{name} must be True or False, not {getattr(config, name)!r}"
                for name in BOOL_FIELDS if not isinstance(getattr(config, name), bool)]
    cols = config.stat_columns
    if cols is not None:
        if isinstance(cols, str) or not all(isinstance(c, str) for c in cols):
            problems.append(f"stat_columns must be a list of column names, not {cols!r}")
        else:
            present = [f.name for f in schema.fields]
            unknown = [c for c in cols if c not in present]
            if unknown:
                problems.append(
                    f"stat_columns names {', '.join(map(repr, unknown))}, not in the DataFrame: "
                    f"its columns are {', '.join(present) or '(none)'}; statistics support "
                    f"{', '.join(supported_columns(schema)) or '(none of them)'}")
            doubled = sorted({c for c in cols if cols.count(c) > 1})
            if doubled:
                problems.append(f"stat_columns names {', '.join(map(repr, doubled))} twice")
    if not _is_int(config.num_bins) or not 1 <= config.num_bins <= MAX_BINS:
        problems.append(f"num_bins must be an integer from 1 to {MAX_BINS}, "
                        f"not {config.num_bins!r}")
    if not _is_int(config.num_clusters) or not 1 <= config.num_clusters <= MAX_CLUSTERS:
        problems.append(f"num_clusters must be an integer from 1 to {MAX_CLUSTERS}, "
                        f"not {config.num_clusters!r}")
    if config.corr_method not in CORR_METHODS:
        problems.append(f"corr_method must be 'pearson' or 'spearman', "
                        f"not {config.corr_method!r}")
    return problems


def edges_problems(edges: Mapping[str, Any], kinds: Mapping[str, str | None]) -> list[str]:
    """Problems of fixed histogram edges (``compute(..., edges=...)``) for columns of ``kinds``."""
    problems = []
    for name, e in edges.items():
        if kinds.get(name) != NUMERIC:
            problems.append(f"edges given for {name!r}, not a numeric column the statistics "
                            f"cover ({', '.join(c for c, k in kinds.items() if k == NUMERIC)})")
            continue
        ok = (isinstance(e, (list, tuple)) and 2 <= len(e) <= MAX_BINS + 1
              and all(isinstance(v, (int, float)) and math.isfinite(v) for v in e)
              and all(a < b for a, b in zip(e, e[1:])))
        width = (e[-1] - e[0]) / (len(e) - 1) if ok else 0.0
        if not ok or any(abs((b - a) - width) > 1e-6 * width for a, b in zip(e, e[1:])):
            problems.append(f"edges of {name!r} must be 2 to {MAX_BINS + 1} finite, increasing, "
                            "equally spaced numbers (a histogram's \"edges\")")
    return problems


def equal_edges(low: float | None, high: float | None, bins: int) -> list[float]:
    """``numpy.histogram``'s edges for values from ``low`` to ``high``: ``bins`` equal widths,
    the range widened to ``low - 0.5 .. high + 0.5`` when all values are equal (a constant
    column), and 0 .. 1 when there are no values."""
    if low is None or high is None:
        low, high = 0.0, 1.0
    elif low == high:
        low, high = low - 0.5, high + 0.5
    step = (high - low) / bins
    return [low + k * step for k in range(bins)] + [float(high)]
