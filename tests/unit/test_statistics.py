"""featurestore_spark.statistics: every statistic checked against numpy/pandas computed from the
same Python lists the DataFrame was made of; the number of Spark jobs, the empty DataFrame, the
settings' checks, drift between two computations and the figures."""

from __future__ import annotations

import json
import math
import random
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from featurestore_spark.errors import InvalidInputError
from featurestore_spark.statistics import (StatisticsConfig, cluster_figure, compare, compute,
                                           config_problems, correlation_figure,
                                           histogram_figure, save_figure)
from featurestore_spark.statistics.compare import _regrid, psi
from featurestore_spark.statistics.compute import PERCENTILE_ACCURACY, PERCENTILES, TOP_K

N = 200
NUMERIC = ["x", "y", "n", "big", "const", "dec"]
ONLY = dict(descriptive_statistics=False, feature_histograms=False, feature_correlation=False,
            cluster_analysis=False)
PNG = b"\x89PNG\r\n\x1a\n"


def _maybe(rng: random.Random, value, p: float = 0.1):
    return None if rng.random() < p else value


@pytest.fixture(scope="module")
def data() -> dict[str, list]:
    """The columns as Python lists: nulls, a constant, a string, a bool, a date, a decimal, an
    array (not supported: skipped)."""
    rng = random.Random(20260101)
    cats = [f"v{i:02d}" for i in range(30)]
    x = [_maybe(rng, rng.gauss(10, 3)) for _ in range(N)]
    return {
        "x": x,
        "y": [_maybe(rng, 2 * v + rng.gauss(0, 2) if v is not None else rng.gauss(20, 6))
              for v in x],
        "n": [_maybe(rng, rng.randint(0, 50)) for _ in range(N)],
        "big": [rng.randint(-10 ** 12, 10 ** 12) for _ in range(N)],
        "const": [3.5] * N,
        "dec": [_maybe(rng, Decimal(f"{rng.uniform(0, 1000):.2f}"), 0.05) for _ in range(N)],
        "s": [_maybe(rng, rng.choices(cats, weights=[60 - 2 * i for i in range(30)])[0])
              for _ in range(N)],
        "b": [_maybe(rng, rng.random() < 0.3) for _ in range(N)],
        "d": [_maybe(rng, date(2024, 1, 1) + timedelta(days=rng.randint(0, 365)))
              for _ in range(N)],
        "ts": [_maybe(rng, datetime(2024, 1, 1) + timedelta(seconds=rng.randint(0, 10 ** 7)))
               for _ in range(N)],
        "arr": [[i, i + 1] for i in range(N)],
    }


@pytest.fixture(scope="module")
def frame(spark, data):
    from pyspark.sql import types as T
    schema = T.StructType([
        T.StructField("x", T.DoubleType()), T.StructField("y", T.DoubleType()),
        T.StructField("n", T.IntegerType()), T.StructField("big", T.LongType()),
        T.StructField("const", T.DoubleType()), T.StructField("dec", T.DecimalType(10, 2)),
        T.StructField("s", T.StringType()), T.StructField("b", T.BooleanType()),
        T.StructField("d", T.DateType()), T.StructField("ts", T.TimestampType()),
        T.StructField("arr", T.ArrayType(T.IntegerType()))])
    return spark.createDataFrame(list(zip(*(data[f.name] for f in schema.fields))), schema)


@pytest.fixture(scope="module")
def stats(frame) -> dict:
    return compute(frame, StatisticsConfig(), job="unit test")


def _series(data, name) -> pd.Series:
    return pd.Series([None if v is None else float(v) for v in data[name]], dtype="float64")


def test_result_is_json_with_every_part(stats):
    json.dumps(stats, allow_nan=False)                 # no NaN, no inf, only JSON types
    assert stats["row_count"] == N
    assert stats["columns"] == ["x", "y", "n", "big", "const", "dec", "s", "b", "d", "ts"]
    assert stats["skipped"] == ["arr"]
    assert stats["config"] == StatisticsConfig().to_dict()
    assert {"descriptive", "histograms", "correlations", "clusters"} <= set(stats)


def test_descriptive_numeric_matches_pandas(stats, data):
    for name in NUMERIC:
        s, d = _series(data, name), stats["descriptive"][name]
        assert d["count"] == s.count() and d["null_count"] == s.isna().sum(), name
        assert d["completeness"] == pytest.approx(s.count() / N, rel=1e-12)
        for key, expected in (("mean", s.mean()), ("stddev", s.std(ddof=1)), ("min", s.min()),
                              ("max", s.max()), ("sum", s.sum())):
            assert d[key] == pytest.approx(expected, rel=1e-9, abs=1e-12), (name, key)
        distinct = s.nunique()
        assert abs(d["approx_distinct"] - distinct) <= 0.05 * distinct, name
    assert stats["descriptive"]["const"]["stddev"] == 0.0


def test_percentiles_are_values_within_rank_error(stats, data):
    for name in NUMERIC:
        values = np.sort(_series(data, name).dropna().to_numpy())
        n = len(values)
        slack = n / PERCENTILE_ACCURACY + 1            # the documented rank error, plus rounding
        for key, p in PERCENTILES.items():
            q = stats["descriptive"][name]["percentiles"][key]
            assert q in values, (name, key)
            target = math.ceil(p * n)                  # 1-based rank of the exact percentile
            below, upto = np.sum(values < q), np.sum(values <= q)
            assert below + 1 - slack <= target <= upto + slack, (name, key, q)


def test_descriptive_other_types(stats, data):
    for name in ("s", "b", "d", "ts"):
        values = [v for v in data[name] if v is not None]
        d = stats["descriptive"][name]
        assert (d["count"], d["null_count"]) == (len(values), N - len(values)), name
        assert d["completeness"] == pytest.approx(len(values) / N)
        assert abs(d["approx_distinct"] - len(set(values))) <= 0.05 * len(set(values)), name
        assert "mean" not in d
    s = [v for v in data["s"] if v is not None]
    assert (stats["descriptive"]["s"]["min"], stats["descriptive"]["s"]["max"]) == (min(s), max(s))
    assert (stats["descriptive"]["b"]["min"], stats["descriptive"]["b"]["max"]) == ("false", "true")
    days = [v for v in data["d"] if v is not None]
    assert stats["descriptive"]["d"]["min"] == min(days).isoformat()
    assert stats["descriptive"]["d"]["max"] == max(days).isoformat()
    assert stats["descriptive"]["ts"]["min"] < stats["descriptive"]["ts"]["max"]


def test_numeric_histograms_match_numpy(stats, data):
    for name in NUMERIC:
        values = _series(data, name).dropna().to_numpy()
        counts, edges = np.histogram(values, bins=20, range=(values.min(), values.max()))
        h = stats["histograms"][name]
        assert h["kind"] == "numeric"
        assert h["edges"] == edges.tolist(), name
        assert h["counts"] == counts.tolist(), name
        assert h["null_count"] == N - len(values)
    # a constant column: numpy's convention, one unit wide around the value
    assert stats["histograms"]["const"]["edges"][0] == 3.0
    assert stats["histograms"]["const"]["edges"][-1] == 4.0
    assert sum(stats["histograms"]["x"]["counts"]) == _series(data, "x").count()
    assert stats["histograms"]["x"]["counts"][-1] >= 1            # the maximum, in the last bin
    assert "d" not in stats["histograms"] and "arr" not in stats["histograms"]


def test_values_on_the_edges_fall_in_numpys_bins(spark):
    # 0.1 .. 1.0 in 20 bins: (x - lo) / (hi - lo) * 20 floors to the wrong bin for 8 of the
    # edges themselves; numpy corrects against the edges, and so must we.
    edges = np.linspace(0.1, 1.0, 21)
    values = [float(v) for v in edges] + [0.55, 0.1, 1.0]
    df = spark.createDataFrame([(v,) for v in values], "v double")
    h = compute(df, StatisticsConfig(**{**ONLY, "feature_histograms": True}))["histograms"]["v"]
    counts, expected_edges = np.histogram(values, bins=20, range=(0.1, 1.0))
    assert h["edges"] == expected_edges.tolist()
    assert h["counts"] == counts.tolist()


def test_categorical_histograms_match_value_counts(stats, data):
    for name, show in (("s", str), ("b", lambda v: "true" if v else "false")):
        counts = pd.Series([None if v is None else show(v) for v in data[name]]).value_counts()
        h = stats["histograms"][name]
        assert h["kind"] == "categorical"
        assert h["counts"] == counts.to_list()[:TOP_K], name
        assert all(counts[v] == c for v, c in zip(h["values"], h["counts"]))
        assert h["other"] == counts.sum() - sum(h["counts"])
        assert h["null_count"] == sum(v is None for v in data[name])
    assert len(stats["histograms"]["s"]["values"]) == TOP_K and stats["histograms"]["s"]["other"]


def test_top_values_ranked_within_a_bounded_set(spark, monkeypatch):
    """A high-cardinality column's values do not all pass through one task to be ranked: each
    task of the groupBy keeps its column's TOP_K first (a partial window group limit below the
    shuffle by column), the final ranking sees at most TOP_K per such task; and the histogram is
    exact (ties by value)."""
    import importlib
    module = importlib.import_module("featurestore_spark.statistics.compute")
    top_values, plans = module.top_values, []

    def recorded(counted):
        ranked = top_values(counted)
        plans.append(ranked._jdf.queryExecution().executedPlan().toString())
        return ranked

    rng = random.Random(7)
    values = [f"u{rng.randint(0, 2999):04d}" for _ in range(6000)] + ["hot"] * 40 + ["warm"] * 30
    df = spark.createDataFrame([(v, float(i)) for i, v in enumerate(values)], "s string, x double")
    monkeypatch.setattr(module, "top_values", recorded)
    h = compute(df, StatisticsConfig(**{**ONLY, "feature_histograms": True}))["histograms"]
    counts = pd.Series(values).value_counts()
    expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_K]
    assert list(zip(h["s"]["values"], h["s"]["counts"])) == expected
    assert h["s"]["other"] == len(values) - sum(c for _, c in expected)
    assert sum(h["x"]["counts"]) == len(values)
    lines = plans[0].splitlines()
    final, partial = ([i for i, line in enumerate(lines) if "WindowGroupLimit" in line
                       and f"row_number(), {TOP_K}, {mode}" in line] or [-1]
                      for mode in ("Final", "Partial"))
    assert len(final) == len(partial) == 1 and final[0] >= 0 and partial[0] >= 0, plans[0]
    final, partial = final[0], partial[0]
    between = "\n".join(lines[final:partial])
    assert final < partial and "Exchange hashpartitioning(c#" in between, plans[0]
    assert "HashAggregate" in "\n".join(lines[partial:]), plans[0]    # it ranks the counts


@pytest.mark.parametrize("method", ["pearson", "spearman"])
def test_correlations_match_pandas(frame, data, stats, method):
    result = (stats if method == "pearson" else
              compute(frame, StatisticsConfig(**{**ONLY, "feature_correlation": True},
                                              corr_method=method)))
    rows = pd.DataFrame({c: _series(data, c) for c in NUMERIC}).dropna()
    expected = rows.corr(method=method).to_numpy()
    corr = result["correlations"]
    assert (corr["method"], corr["columns"], corr["rows"]) == (method, NUMERIC, len(rows))
    got = np.array([[np.nan if v is None else v for v in row] for row in corr["matrix"]])
    assert np.array_equal(np.isnan(got), np.isnan(expected))     # None for the constant column
    assert np.allclose(np.nan_to_num(got), np.nan_to_num(expected), atol=1e-6)
    assert corr["matrix"][NUMERIC.index("const")] == [None] * len(NUMERIC)
    if method == "spearman":                                     # scipy's, ties averaged
        from scipy.stats import spearmanr
        varying = [i for i, c in enumerate(NUMERIC) if c != "const"]
        reference = spearmanr(rows.iloc[:, varying].to_numpy()).statistic
        assert np.allclose(got[np.ix_(varying, varying)], reference, atol=1e-12)


def test_spearman_in_small_blocks_over_partitions_is_scipys(spark):
    """The blocks a partition's rows travel in: many per partition, partitions of other sizes,
    ties (rounded values), a negative zero: still scipy's matrix."""
    from scipy.stats import spearmanr

    from featurestore_spark.statistics.rank_correlation import spearman
    rng = np.random.default_rng(7)
    values = np.column_stack([rng.normal(size=500).round(1), rng.integers(0, 5, 500),
                              rng.exponential(size=500), rng.normal(size=500)]).astype(float)
    values[3, 1] = -0.0
    df = spark.createDataFrame(values.tolist(), "a double, b double, c double, d double")
    got = spearman(df.repartition(3), len(values), block=7)
    assert np.allclose(got, spearmanr(values).statistic, atol=1e-12)
    # more partitions than rows: empty partitions, columns sharing a task (few rows: each
    # partition is a task of two stages)
    few = values[:40]
    got = spearman(spark.createDataFrame(few.tolist(), df.schema).repartition(50), len(few),
                   block=3)
    assert np.allclose(got, spearmanr(few).statistic, atol=1e-12)


@pytest.mark.parametrize("k", [2, 7, 20])
def test_spearman_ranks_each_column_in_a_task_of_its_own(spark, k):
    """spearman() ranks the columns after ``by_column``: each column in a partition of its own
    (hashing the column number itself left tasks without a column and others with two or
    three)."""
    from pyspark.sql import functions as F

    from featurestore_spark.statistics.rank_correlation import by_column
    columns = spark.createDataFrame([(c,) for c in range(k)], "c int")
    placed = by_column(columns, k).select("c", F.spark_partition_id().alias("p")).collect()
    assert sorted(r["p"] for r in placed) == list(range(k))
    hashed = columns.repartition(k, "c").select(F.spark_partition_id().alias("p")).distinct()
    assert k == 2 or hashed.count() < k        # what the keys are for


def test_clusters(stats, data):
    rows = pd.DataFrame({c: _series(data, c) for c in NUMERIC}).dropna()
    c = stats["clusters"]
    assert c["k"] == 5 and c["columns"] == NUMERIC and c["rows"] == len(rows)
    assert len(c["centers"]) == 5 and all(len(center) == len(NUMERIC) for center in c["centers"])
    assert sum(c["sizes"]) == len(rows) and len(c["sizes"]) == 5
    for j, name in enumerate(NUMERIC):               # centers are in the columns' own units
        assert all(rows[name].min() - 1e-9 <= center[j] <= rows[name].max() + 1e-9
                   for center in c["centers"])
    p = c["projection"]
    assert len(p["x"]) == len(p["y"]) == len(p["cluster"]) == len(rows)     # all rows < 1000
    assert set(p["cluster"]) <= set(range(5))


def test_clusters_find_separate_groups_and_sample_at_most_1000_points(spark):
    from pyspark.sql import functions as F
    group = F.col("id") % 3
    df = spark.range(3000).select((group * 100 + F.sin("id")).alias("u"),
                                  (group * -50 + F.cos("id")).alias("v"))
    c = compute(df, StatisticsConfig(**{**ONLY, "cluster_analysis": True}, num_clusters=3))
    c = c["clusters"]
    assert sorted(c["sizes"]) == [1000, 1000, 1000]
    assert sorted(round(center[0]) for center in c["centers"]) == [0, 100, 200]
    assert 0 < len(c["projection"]["x"]) <= 1000
    assert len(set(c["projection"]["cluster"])) == 3


def test_empty_dataframe(frame):
    stats = compute(frame.limit(0), StatisticsConfig())
    json.dumps(stats, allow_nan=False)
    assert stats["row_count"] == 0
    for name in NUMERIC:
        d = stats["descriptive"][name]
        assert (d["count"], d["null_count"], d["approx_distinct"]) == (0, 0, 0)
        assert (d["mean"], d["stddev"], d["sum"], d["percentiles"]["p50"]) == (None,) * 4
        assert stats["histograms"][name]["counts"] == [0] * 20
        assert len(stats["histograms"][name]["edges"]) == 21
    assert stats["histograms"]["s"] == {"kind": "categorical", "values": [], "counts": [],
                                        "other": 0, "null_count": 0}
    assert "correlations" not in stats and "clusters" not in stats
    assert any("correlations" in n for n in stats["notes"])
    assert any("cluster" in n for n in stats["notes"])


def test_only_the_parts_asked_for(frame):
    stats = compute(frame, StatisticsConfig(**{**ONLY, "feature_histograms": True},
                                            stat_columns=("x", "s", "arr"), num_bins=5))
    assert set(stats["histograms"]) == {"x", "s"} and stats["skipped"] == ["arr"]
    assert "descriptive" not in stats and "correlations" not in stats
    assert len(stats["histograms"]["x"]["counts"]) == 5


def test_config_problems_lists_every_problem(frame):
    config = StatisticsConfig(descriptive_statistics="yes", stat_columns=("x", "nope", "arr"),
                              num_bins=0, num_clusters=101, corr_method="kendall")
    problems = config_problems(config, frame.schema)
    assert len(problems) == 5, problems
    text = "\n".join(problems)
    for part in ("descriptive_statistics", "'nope'", "x, y, n, big, const, dec, s, b, d, ts",
                 "num_bins", "num_clusters", "kendall"):
        assert part in text
    assert config_problems(StatisticsConfig(num_bins=1001, enabled=1), frame.schema) == [
        "enabled must be True or False, not 1", "num_bins must be an integer from 1 to 1000, not 1001"]
    assert config_problems(StatisticsConfig(stat_columns=["x"]), frame.schema) == []
    with pytest.raises(InvalidInputError) as raised:
        compute(frame, config)
    assert raised.value.problems == problems
    with pytest.raises(InvalidInputError, match="edges of 'x'"):
        compute(frame, StatisticsConfig(), edges={"x": [3.0, 1.0]})


def test_config_round_trip():
    config = StatisticsConfig(stat_columns=["a", "b"], num_bins=7, corr_method="spearman")
    assert config.stat_columns == ("a", "b")
    assert StatisticsConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert StatisticsConfig.from_dict({"feature_histogram": False}).feature_histograms is False
    with pytest.raises(InvalidInputError, match="unknown setting 'bins'"):
        StatisticsConfig.from_dict({"bins": 3})


def test_jobs_bounded_whatever_the_number_of_columns(spark):
    from pyspark.sql import functions as F
    sc = spark.sparkContext
    config = StatisticsConfig(feature_correlation=False, cluster_analysis=False)
    jobs = {}
    for width in (5, 40):
        df = spark.range(100).select(*[(F.sin(F.col("id") * (k + 1)) * 10).alias(f"c{k}")
                                       for k in range(width)])
        sc.setJobGroup(f"statistics_{width}", f"{width} columns")
        sc.setJobDescription("outer")
        try:
            stats = compute(df, config)
        finally:
            sc.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
        assert len(stats["histograms"]) == width
        assert sc.getLocalProperty("spark.job.description") == "outer"   # restored
        jobs[width] = len(sc.statusTracker().getJobIdsForGroup(f"statistics_{width}"))
    sc.setJobDescription(None)  # type: ignore[arg-type]
    assert jobs[5] == jobs[40] and 2 <= jobs[5] <= 6, jobs


def test_compare_shifted_and_identical(spark):
    from pyspark.sql import functions as F
    config = StatisticsConfig(feature_correlation=False, cluster_analysis=False, num_bins=10)
    base = spark.range(200).select((F.col("id") * 1.0).alias("v"),
                                   (F.col("id") % 4).cast("string").alias("w"),
                                   F.lit(1).alias("gone"))
    shifted = base.select((F.col("v") + 50).alias("v"),
                          F.when(F.col("w") == "0", "9").otherwise(F.col("w")).alias("w"),
                          F.lit(2).alias("new"))
    old, again = compute(base, config), compute(base, config)
    same = compare(old, again)
    json.dumps(same, allow_nan=False)
    assert same["features"]["v"] == {"kind": "numeric", "mean_change": 0.0, "psi": 0.0,
                                     "null_fraction_change": 0.0, "psi_method": "same edges"}
    assert same["features"]["w"]["psi"] == 0.0
    drift = compare(old, compute(shifted, config))
    assert drift["features"]["v"]["mean_change"] == pytest.approx(50.0)
    assert drift["features"]["v"]["psi"] > 0.1
    assert drift["features"]["v"]["psi_method"].startswith("union grid")
    assert drift["features"]["w"]["psi"] > 0.1
    assert (drift["added"], drift["removed"]) == (["new"], ["gone"])
    # the new commit binned on the old edges: values above them count in the last bin
    edges = old["histograms"]["v"]["edges"]
    pinned = compute(shifted, config, edges={"v": edges})
    assert pinned["histograms"]["v"]["edges"] == edges
    values = np.arange(200) + 50.0
    assert pinned["histograms"]["v"]["counts"] == np.histogram(
        np.clip(values, edges[0], edges[-1]), bins=edges)[0].tolist()
    fixed = compare(old, pinned)["features"]["v"]
    assert fixed["psi_method"] == "same edges" and fixed["psi"] > 0.1


def test_psi_helpers():
    assert _regrid({"edges": [0.0, 2.0], "counts": [4]}, [0.0, 1.0, 2.0, 3.0]) == [2.0, 2.0, 0.0]
    assert psi([1, 1], [1, 1]) == 0.0
    assert psi([0, 0], [1, 1]) is None
    assert psi([1, 3], [3, 1]) == pytest.approx(2 * 0.5 * math.log(3))


def test_figures_saved_as_png(stats, tmp_path):
    figures = {"x": histogram_figure(stats, "x"), "s": histogram_figure(stats, "s"),
               "corr": correlation_figure(stats), "clusters": cluster_figure(stats)}
    for name, figure in figures.items():
        path = save_figure(figure, tmp_path / "figures" / f"{name}.png")
        assert path.read_bytes()[:8] == PNG, name
    with pytest.raises(InvalidInputError, match="statistics have no histogram of 'nope': "
                                                "computed for x, y, n, big, const, dec, s, b"):
        histogram_figure(stats, "nope")
    partial = {k: v for k, v in stats.items() if k not in ("correlations", "clusters")}
    with pytest.raises(InvalidInputError, match="no correlations"):
        correlation_figure(partial)
    with pytest.raises(InvalidInputError, match="no clusters"):
        cluster_figure(partial)
