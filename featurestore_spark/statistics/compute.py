"""Statistics of a DataFrame computed as Spark jobs: a few passes whatever the number of columns,
and nothing brought to the driver but aggregates and a sample of at most 1,000 2-D points.

Passes: (1) one ``df.agg`` for every descriptive statistic of every column (and the min and max
the histograms need); (2) one ``groupBy`` over ``(column, bin or value)`` pairs exploded from each
row for every histogram, numeric and categorical, each categorical column's top values ranked
within a bounded set (``top_values``) (2 and 3 Spark jobs with adaptive execution, 5 in all, for
5 columns as for 500);
(3) ``Correlation.corr`` over the rows with no null or NaN in the numeric columns; (4) k-means
over those rows standardized, with a PCA projection of a sample for the scatter plot.

Examples
--------
>>> stats = compute(df, StatisticsConfig(cluster_analysis=False), job="matches v1")  # doctest: +SKIP
>>> stats["descriptive"]["goals"]["mean"], stats["histograms"]["goals"]["counts"]    # doctest: +SKIP
(1.4, [10, 31, ...])
"""

from __future__ import annotations

import math
import operator
from functools import reduce
from typing import TYPE_CHECKING, Any, Callable, Mapping, cast

from ..errors import InvalidInputError
from .config import (CATEGORICAL, NUMERIC, TEMPORAL, StatisticsConfig, column_kind,
                     config_problems, edges_problems, equal_edges)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, Row

PERCENTILES = {"p1": 0.01, "p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95,
               "p99": 0.99}
# percentile_approx's accuracy: a percentile's rank is within rows / PERCENTILE_ACCURACY of the
# exact rank (and the value is one of the column's values).
PERCENTILE_ACCURACY = 10_000
# approx_distinct: a DataSketches HLL sketch of the values' 64-bit hashes with 2^12 buckets, about
# 1.6% relative standard error, exact for a few hundred values. (approx_count_distinct keeps one
# aggregation-buffer field per register word: at a 2% rsd, 40 columns take 20 s of codegen.)
HLL_LG_K = 12
TOP_K = 20              # values of a categorical histogram; the rest are counted as "other"
SAMPLE_POINTS = 1_000   # at most this many points of the cluster projection reach the driver
SEED = 42


def compute(df: DataFrame, config: StatisticsConfig, job: str = "statistics",
            edges: Mapping[str, list[float]] | None = None) -> dict[str, Any]:
    """The statistics of ``df`` that ``config`` asks for, as JSON-able data.

    Parameters
    ----------
    df : DataFrame
        The rows; numeric, string, boolean, date and timestamp columns are described, others
        (arrays, maps, structs, binary) are listed under ``"skipped"``.
    config : StatisticsConfig
        What to compute (``config.enabled`` is the caller's business: this always computes).
    job : str
        Named in the Spark job descriptions (``featurestore: {job} ...``).
    edges : dict of str to list of float, optional
        Fixed histogram edges per numeric column (a previous commit's ``"edges"``), so that two
        commits are binned alike; values outside them count in the first or last bin.

    Returns
    -------
    dict
        ``row_count``, ``columns``, ``skipped``, ``config``, ``notes`` and, as set in
        ``config``, ``descriptive``, ``histograms``, ``correlations`` and ``clusters``. NaN and
        infinities are None. ``count`` is the non-null count; numeric columns are read as double.
        Correlations and clusters use only the rows with no null or NaN in any numeric column
        (dropped with ``na.drop``); ``rows`` says how many. Cluster centers are in the columns'
        units, the projection is of standardized columns.

    Examples
    --------
    >>> compute(spark.range(3), StatisticsConfig(feature_correlation=False,
    ...         cluster_analysis=False))["descriptive"]["id"]["mean"]   # doctest: +SKIP
    1.0
    """
    edges = dict(edges or {})
    problems = config_problems(config, df.schema)
    kinds = _kinds(df, config) if not problems else {}
    if not problems and config.feature_histograms:
        problems = edges_problems(edges, kinds)
    if problems:
        raise InvalidInputError("statistics settings", problems)
    skipped = [f.name for f in df.schema.fields if column_kind(f.dataType) is None
               and (config.stat_columns is None or f.name in config.stat_columns)]
    numeric = [c for c, k in kinds.items() if k == NUMERIC]
    out: dict[str, Any] = {"row_count": 0, "columns": list(kinds), "skipped": skipped,
                           "config": config.to_dict(), "notes": []}
    sc = df.sparkSession.sparkContext
    before = sc.getLocalProperty("spark.job.description")
    try:
        sc.setJobDescription(f"featurestore: {job} descriptive statistics")
        first = _first_pass(df, kinds, config, edges)
        out["row_count"] = rows = first["rows"]
        if config.descriptive_statistics:
            out["descriptive"] = {c: _descriptive(first, i, k, rows)
                                  for i, (c, k) in enumerate(kinds.items())}
        if config.feature_histograms:
            sc.setJobDescription(f"featurestore: {job} histograms")
            out["histograms"] = _histograms(df, kinds, config, edges, first, out["notes"])
        complete = first.get("complete", 0)
        if config.feature_correlation:
            sc.setJobDescription(f"featurestore: {job} correlations")
            flat = [first[f"{i}_cmin"] == first[f"{i}_cmax"]
                    for i, c in enumerate(kinds) if c in numeric]
            _correlations(df, numeric, complete, flat, config, out)
        if config.cluster_analysis:
            sc.setJobDescription(f"featurestore: {job} clusters")
            _clusters(df, numeric, complete, config, out)
    finally:
        sc.setJobDescription(before)  # type: ignore[arg-type]  # None: no description
    return clean(out)


def col(name: str) -> Column:
    """The column ``name``, quoted (names may hold dots or spaces)."""
    from pyspark.sql import functions as F
    return F.col("`" + name.replace("`", "``") + "`")


def clean(value: Any) -> Any:
    """``value`` with NaN and infinities as None, tuples as lists and numbers as Python's."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if hasattr(value, "item"):                      # numpy scalars
        return clean(value.item())
    number = float(value)
    return number if math.isfinite(number) else None


def _kinds(df: DataFrame, config: StatisticsConfig) -> dict[str, str]:
    wanted = config.stat_columns
    return {f.name: kind for f in df.schema.fields
            if (kind := column_kind(f.dataType)) is not None
            and (wanted is None or f.name in wanted)}


def _first_pass(df: DataFrame, kinds: dict[str, str], config: StatisticsConfig,
                edges: dict[str, Any]) -> dict[str, Any]:
    """One ``df.agg``: the descriptive statistics of every column, keyed ``{i}_{stat}``."""
    from pyspark.sql import functions as F
    exprs = [F.count(F.lit(1)).alias("rows")]
    numeric = [c for c, k in kinds.items() if k == NUMERIC]
    complete = None
    if numeric and (config.feature_correlation or config.cluster_analysis):
        complete = reduce(operator.and_, [col(c).isNotNull() & ~F.isnan(col(c).cast("double"))
                                          for c in numeric])
        exprs.append(F.count_if(complete).alias("complete"))
    describe, hist = config.descriptive_statistics, config.feature_histograms
    for i, (name, kind) in enumerate(kinds.items()):
        c = col(name)
        x = c.cast("double") if kind == NUMERIC else c
        if describe or (hist and kind != TEMPORAL):
            exprs.append(F.count(c).alias(f"{i}_count"))
        if describe:
            hashed = F.when(c.isNotNull(), F.xxhash64(c))
            exprs.append(F.hll_sketch_estimate(F.hll_sketch_agg(hashed, HLL_LG_K))
                         .alias(f"{i}_approx_distinct"))
        if describe or (hist and kind == NUMERIC and name not in edges):
            low, high = F.min(x), F.max(x)
            if kind != NUMERIC:
                low, high = low.cast("string"), high.cast("string")
            exprs += [low.alias(f"{i}_min"), high.alias(f"{i}_max")]
        if kind == NUMERIC and complete is not None and config.feature_correlation:
            # min and max over the rows the correlations use: is the column constant there?
            exprs += [F.min(F.when(complete, x)).alias(f"{i}_cmin"),
                      F.max(F.when(complete, x)).alias(f"{i}_cmax")]
        if describe and kind == NUMERIC:
            exprs += [F.mean(x).alias(f"{i}_mean"), F.stddev_samp(x).alias(f"{i}_stddev"),
                      F.sum(x).alias(f"{i}_sum"),
                      F.percentile_approx(x, list(PERCENTILES.values()), PERCENTILE_ACCURACY)
                      .alias(f"{i}_percentiles")]
    return df.agg(*exprs).first().asDict()  # type: ignore[union-attr]


def _descriptive(first: dict[str, Any], i: int, kind: str, rows: int) -> dict[str, Any]:
    count = first[f"{i}_count"]
    d = {"count": count, "null_count": rows - count,
         "completeness": count / rows if rows else None,
         "approx_distinct": first[f"{i}_approx_distinct"],
         "min": first[f"{i}_min"], "max": first[f"{i}_max"]}
    if kind == NUMERIC:
        stddev = 0.0 if count > 1 and d["min"] == d["max"] else first[f"{i}_stddev"]
        d.update(mean=first[f"{i}_mean"], stddev=stddev, sum=first[f"{i}_sum"])
        values = first[f"{i}_percentiles"] or [None] * len(PERCENTILES)
        d["percentiles"] = dict(zip(PERCENTILES, values))
    return d


def _histograms(df: DataFrame, kinds: dict[str, str], config: StatisticsConfig,
                fixed: dict[str, Any], first: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """Every histogram in one job: each row exploded into ``(column, value)`` pairs, the bin of
    a numeric value found by one expression whatever the number of columns (its edges looked up
    by column), counted in one ``groupBy``; :func:`top_values` keeps each categorical column's
    top values.

    Bins are numpy.histogram's: edges ``lo + k * step``, a value in bin k when
    ``edges[k] <= x < edges[k + 1]`` (the last bin holds the upper edge), values outside the
    edges in the first or last bin. Given edges are taken as equal-width from their first to
    their last edge (the same numbers when they come from a histogram of ``compute``)."""
    from pyspark.sql import functions as F
    index: list[str]   # the histogrammed columns, in the order of their struct index
    rows, out, index, params, parts = first["rows"], {}, [], [], []
    no_value = F.lit(None).cast("string")
    for i, (name, kind) in enumerate(kinds.items()):
        if kind == NUMERIC:
            e = fixed.get(name)
            e = (equal_edges(float(e[0]), float(e[-1]), len(e) - 1) if e else
                 equal_edges(first[f"{i}_min"], first[f"{i}_max"], config.num_bins))
            if not all(math.isfinite(v) for v in e):
                notes.append(f"no histogram of {name!r}: its values are not all finite")
                continue
            out[name] = {"kind": "numeric", "edges": e, "counts": [0] * (len(e) - 1),
                         "null_count": rows - first[f"{i}_count"]}
            value = F.nanvl(col(name).cast("double"), F.lit(None).cast("double"))
            parts.append(F.struct(F.lit(len(index)).alias("c"), value.alias("x"),
                                  no_value.alias("v")))
            params.append((e[0], e[-1] - e[0], (e[-1] - e[0]) / (len(e) - 1), len(e) - 1))
        elif kind == CATEGORICAL:
            out[name] = {"kind": "categorical", "values": [], "counts": [],
                         "other": first[f"{i}_count"], "null_count": rows - first[f"{i}_count"]}
            parts.append(F.struct(F.lit(len(index)).alias("c"),
                                  F.lit(None).cast("double").alias("x"),
                                  col(name).cast("string").alias("v")))
            params.append((0.0, 1.0, 1.0, 1))
        else:
            continue
        index.append(name)
    if not parts:
        return out
    lo, span, step, bins = (F.get(F.array(*[F.lit(p[k]) for p in params]), F.col("c"))
                            for k in range(4))
    pairs = (df.select(F.explode(F.array(*parts)).alias("e")).select("e.c", "e.x", "e.v")
             .where("x IS NOT NULL OR v IS NOT NULL"))
    guess = F.floor(F.least(F.greatest((F.col("x") - lo) / span * bins, F.lit(0.0)), bins - 1))
    pairs = pairs.select("c", "x", "v", lo.alias("lo"), step.alias("step"), bins.alias("n"),
                         guess.alias("g"))
    x, g, lo, step, n = (F.col(c) for c in ("x", "g", "lo", "step", "n"))
    down = ((x < g * step + lo) & (g > 0)).cast("int")         # numpy's correction of the guess
    up = ((x >= (g + 1) * step + lo) & (g < n - 1)).cast("int")  # against the edges themselves
    counted = (pairs.select("c", F.when(F.col("v").isNull(), g - down + up).alias("b"), "v")
               .groupBy("c", "b", "v").agg(F.count(F.lit(1)).alias("count")))
    found = top_values(counted).collect()
    for c, b, v, count, _ in sorted(found, key=lambda row: (row[0], row[4])):
        h = out[index[c]]
        if h["kind"] == "numeric":
            h["counts"][b] = count
        else:
            h["values"].append(v)
            h["counts"].append(count)
            h["other"] -= count
    return out


def top_values(counted: DataFrame) -> DataFrame:
    """The rows of ``counted`` (``c, b, v, count``: a numeric column's bin ``b`` or a categorical
    column's value ``v``) to keep, with their rank ``r``: every bin, and each categorical column's
    ``TOP_K`` most frequent values (ties by value).

    The window is partitioned by ``(c, b)``: a bin is a partition of one row, and a categorical
    column's values (``b`` null) are ranked together. Its filter is ``r <= TOP_K`` alone, so Spark
    plans it as a window group limit (while ``spark.sql.optimizer.windowGroupLimitThreshold``,
    1000 by default, is at least ``TOP_K``): each task of the ``groupBy`` keeps at most ``TOP_K``
    values per column (a partial top-k, exact since the order is total) before the shuffle, so
    the final ranking of a column sees at most ``TOP_K`` values per task of that ``groupBy``
    however many distinct values the column has. (Ranked over all of them by column alone, a
    high-cardinality column's values would all pass through one task.)"""
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    ranked = Window.partitionBy("c", "b").orderBy(F.desc("count"), F.asc("v"))
    return counted.withColumn("r", F.row_number().over(ranked)).where(F.col("r") <= TOP_K)


def _vectors(df: DataFrame, numeric: list[str]) -> DataFrame:
    """The numeric columns as one vector column ``features``, the rows with a null or NaN in any
    of them dropped (``na.drop``; the assembler's ``handleInvalid="skip"`` would drop them too)."""
    from pyspark.ml.feature import VectorAssembler
    rows = df.select([col(c).cast("double").alias(f"x{i}") for i, c in enumerate(numeric)])
    assembler = VectorAssembler(inputCols=rows.columns, outputCol="features", handleInvalid="skip")
    return assembler.transform(rows.na.drop()).select("features")


def _missing(what: str, numeric: list[str], complete: int, needed: int) -> str:
    if not numeric:
        return f"no {what}: no numeric columns"
    return (f"no {what}: {complete} row(s) with no null or NaN in the numeric columns, "
            f"{needed} needed")


def _correlations(df: DataFrame, numeric: list[str], complete: int, flat: list[bool],
                  config: StatisticsConfig, out: dict[str, Any]) -> None:
    """``Correlation.corr`` over the rows with every numeric column set; None in the row and
    column of a column constant in those rows, its diagonal too (as pandas has it)."""
    if not numeric or complete < 2:
        out["notes"].append(_missing("correlations", numeric, complete, 2))
        return
    if config.corr_method == "spearman":         # ours: Spark's is ~30x its Pearson
        from .rank_correlation import spearman
        values = spearman(df.select([col(c).cast("double").alias(f"x{i}")
                                     for i, c in enumerate(numeric)]).na.drop(), complete)
    else:
        from pyspark.ml.stat import Correlation
        # an aggregation: exactly one row
        values = cast("Row", Correlation.corr(_vectors(df, numeric), "features",
                                              config.corr_method).first())[0].toArray().tolist()
    rows = [[None if flat[i] or flat[j] else v for j, v in enumerate(row)]
            for i, row in enumerate(values)]
    out["correlations"] = {"method": config.corr_method, "columns": numeric, "rows": complete,
                           "matrix": rows}


def _clusters(df: DataFrame, numeric: list[str], complete: int, config: StatisticsConfig,
              out: dict[str, Any]) -> None:
    """k-means (seeded) over the standardized numeric columns of the rows with all of them set;
    centers in the columns' own units; a PCA projection (fitted on all those rows) of a sample of
    at most SAMPLE_POINTS of them for the scatter plot."""
    if not numeric or complete < 1:
        out["notes"].append(_missing("cluster analysis", numeric, complete, 1))
        return
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.feature import PCA, StandardScaler
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F
    vectors = _vectors(df, numeric)
    scaler = StandardScaler(inputCol="features", outputCol="scaled", withMean=True,
                            withStd=True).fit(vectors)
    scaled = scaler.transform(vectors).select("scaled")
    distinct = vectors.distinct().limit(config.num_clusters).count()
    k = min(config.num_clusters, distinct)
    label: Callable[[DataFrame], DataFrame]
    if k >= 2:
        model = KMeans(k=k, seed=SEED, featuresCol="scaled", predictionCol="cluster").fit(scaled)
        centers = [list(c) for c in model.clusterCenters()]
        sizes = list(model.summary.clusterSizes)
        label = model.transform
    else:                                  # one cluster: the mean, which is 0 standardized
        centers, sizes = [[0.0] * len(numeric)], [complete]
        label = lambda frame: frame.withColumn("cluster", F.lit(0))  # noqa: E731
    points: list[Any]   # Rows, or (pc, cluster) pairs
    if distinct >= 2:
        pca = PCA(k=min(2, len(numeric)), inputCol="scaled", outputCol="pc").fit(scaled)
        sample = scaled.sample(fraction=min(1.0, 1.2 * SAMPLE_POINTS / complete), seed=SEED)
        points = (pca.transform(label(sample.limit(SAMPLE_POINTS)))
                  # a column name is taken too (the docstring: Column or str; the stub: Column)
                  .select(vector_to_array("pc").alias("pc"),  # type: ignore[arg-type]
                          "cluster").collect())
        explained = pca.explainedVariance.toArray().tolist()
    else:                                  # identical rows all project onto the origin
        points, explained = [([0.0], 0)] * min(complete, SAMPLE_POINTS), [0.0]
    mean, std = scaler.mean.toArray(), scaler.std.toArray()
    out["clusters"] = {
        "k": len(centers), "columns": numeric, "rows": complete,
        "centers": [[c * s + m for c, s, m in zip(center, std, mean)] for center in centers],
        "sizes": sizes,
        "projection": {"x": [p[0][0] for p in points],
                       "y": [p[0][1] if len(p[0]) > 1 else 0.0 for p in points],
                       "cluster": [int(p[1]) for p in points], "explained_variance": explained}}
