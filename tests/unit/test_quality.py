"""Statistics and validation through the feature store: statistics of every commit as it is
written (statistics on write, as users run it), their comparison between commits, suites
attached and versioned, STRICT rejections that leave Delta, the online table and the metadata
untouched, ALWAYS reports kept with their commit, and training dataset statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import featurestore_spark as fs
from featurestore_spark import CommitNotFound, Hops, InvalidInputError, featurestore
from featurestore_spark.config import load_settings
from featurestore_spark.errors import DataValidationError
from featurestore_spark.metadata import FG_REPORT, FG_STATISTICS, FG_SUITE
from featurestore_spark.spec import ReadSpec
from featurestore_spark.statistics import StatisticsConfig

from ..conftest import ROOT, settings_env
from .helpers import rows, snapshot

LIGHT = StatisticsConfig(cluster_analysis=False, num_bins=5)   # k-means has tests of its own
SCHEMA = "id int, rating double, team string"
NOT_NULL = {"name": "players", "expectations": [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "rating"}},
    {"type": "expect_column_values_to_be_between",
     "kwargs": {"column": "rating", "min_value": 0, "max_value": 10}}]}


@pytest.fixture
def store(spark, fs_home, request):
    """A store of this test's own that computes statistics on write (the default)."""
    project = "q_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40]
    env = {**settings_env(fs_home, project), "FEATURESTORE_STATISTICS_ON_WRITE": "true"}
    return fs.connect(load_settings(ROOT / "conf" / "featurestore.toml", env), spark)


def ratings(spark, data):
    return spark.createDataFrame(data, SCHEMA)


def documents(store, kind, name="players"):
    return [(d.number, d.body) for d in store.metadata.documents(store.settings.project, kind,
                                                                 name, 1)]


def test_statistics_of_every_commit_and_how_they_changed(store):
    first = [(i, float(i % 7), "abc"[i % 3]) for i in range(60)]
    later = [(100 + i, float(i % 7) + 3.0, "c") for i in range(40)]
    featurestore.create_featuregroup(ratings(store.spark, first), "players", primary_key="id",
                                     statistics=LIGHT)
    featurestore.insert_into_featuregroup(ratings(store.spark, later), "players")
    group = store.feature_group("players")
    zero, one = store.quality.statistics(group, 0), store.quality.statistics(group, 1)
    both = pd.DataFrame(first + later, columns=["id", "rating", "team"])
    # each commit's statistics describe the feature group as of that commit
    assert (zero["row_count"], one["row_count"], one["commit"]) == (60, 100, 1)
    assert zero["descriptive"]["rating"]["mean"] == pytest.approx(both.rating[:60].mean())
    assert one["descriptive"]["rating"]["mean"] == pytest.approx(both.rating.mean())
    assert one["descriptive"]["rating"]["stddev"] == pytest.approx(both.rating.std(ddof=1))
    assert store.quality.statistics(group)["commit"] == 1              # the latest
    # the settings are the feature group's: 5 bins, no clusters; commit 1 binned on commit 0's edges
    assert len(zero["histograms"]["rating"]["counts"]) == 5 and "clusters" not in one
    assert one["histograms"]["rating"]["edges"] == zero["histograms"]["rating"]["edges"]
    assert sum(one["histograms"]["rating"]["counts"]) == 100
    assert one["correlations"]["matrix"][0][1] == pytest.approx(both[["id", "rating"]].corr().iloc[0, 1])
    change = store.quality.compare(group, 0, 1)
    rating = change["features"]["rating"]
    assert rating["mean_change"] == pytest.approx(both.rating.mean() - both.rating[:60].mean())
    assert rating["psi"] > 0.1
    same = store.quality.compare(group, 1, 1)
    same_rating = same["features"]["rating"]
    assert same_rating["psi"] == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(CommitNotFound):
        store.quality.statistics(group, 7)


def test_statistics_off_for_a_group_and_made_on_demand(store):
    featurestore.create_featuregroup(ratings(store.spark, [(1, 2.0, "a"), (2, 4.0, "b")]),
                                     "players", statistics=StatisticsConfig(enabled=False))
    assert documents(store, FG_STATISTICS) == []
    group = store.feature_group("players")
    with pytest.raises(InvalidInputError, match="update_featuregroup_stats"):
        store.quality.statistics(group, 0)
    stats = store.quality.compute(group, 0, LIGHT)
    assert stats["descriptive"]["rating"]["max"] == 4.0
    assert [n for n, _ in documents(store, FG_STATISTICS)] == [0]
    with pytest.raises(InvalidInputError) as e:
        featurestore.create_featuregroup(ratings(store.spark, [(1, 2.0, "a")]), "other",
                                         statistics=StatisticsConfig(num_bins=0,
                                                                     stat_columns=("nope",)),
                                         expectation_suite={"name": "s", "expectations": [
                                             {"type": "expect_column_values_to_be_blue",
                                              "kwargs": {"column": "rating"}}]})
    assert len(e.value.problems) >= 3                                   # every problem at once
    assert "other" not in featurestore.get_featuregroups()


def test_strict_rejection_leaves_delta_online_and_metadata_untouched(store):
    good = [(i, float(i % 10), "a") for i in range(20)]
    Hops.createFeaturegroup("players").setDataframe(ratings(store.spark, good)) \
        .setPrimaryKey("id").setOnline(True).setStatistics(LIGHT) \
        .setExpectationSuite(NOT_NULL).setValidationIngestionPolicy("STRICT").write()
    before = snapshot(store, "players")
    online = rows(store.read(ReadSpec("players", online=True)))
    kept = [documents(store, k) for k in (FG_STATISTICS, FG_SUITE, FG_REPORT)]
    bad = ratings(store.spark, [(1, None, "a"), (2, 42.0, "b"), (50, 5.0, "c")])
    for mode in ("append", "upsert", "overwrite"):
        with pytest.raises(DataValidationError) as e:
            featurestore.insert_into_featuregroup(bad, "players", mode=mode)
        failed = {r["expectation_type"] for r in e.value.report["results"] if not r["success"]}
        assert failed == {"expect_column_values_to_not_be_null",
                          "expect_column_values_to_be_between"}
        assert "nothing was written" in str(e.value)
    with pytest.raises(DataValidationError):                    # online-only writes too
        featurestore.insert_into_featuregroup(bad, "players", online=True, offline=False)
    assert snapshot(store, "players") == before
    assert rows(store.read(ReadSpec("players", online=True))) == online
    assert [documents(store, k) for k in (FG_STATISTICS, FG_SUITE, FG_REPORT)] == kept
    # a create that fails its suite creates nothing
    with pytest.raises(DataValidationError):
        featurestore.create_featuregroup(bad, "fresh", primary_key="id", online=True,
                                         expectation_suite=NOT_NULL)
    assert snapshot(store, "fresh") == snapshot(store, "never_made")
    assert "fresh" not in featurestore.get_featuregroups()


def test_always_writes_and_keeps_the_report_with_its_commit(store):
    featurestore.create_featuregroup(ratings(store.spark, [(1, 1.0, "a")]), "players",
                                     statistics=StatisticsConfig(enabled=False))
    group = store.feature_group("players")
    assert store.quality.attach(group, NOT_NULL, "always") == 1
    commit = featurestore.insert_into_featuregroup(
        ratings(store.spark, [(2, None, "b"), (3, 3.0, "c")]), "players")
    assert featurestore.get_featuregroup("players").count() == 3
    reports = store.quality.reports(group)
    assert [(r["commit"], r["success"], r["suite_version"]) for r in reports] == [
        (commit.commit_id, False, 1)]
    assert store.quality.reports(group, commit.commit_id) == reports
    # suites are versioned: a new one, then none
    assert store.quality.attach(group, {**NOT_NULL, "expectations": NOT_NULL["expectations"][:1]},
                                "STRICT") == 2
    assert store.quality.suite(group)[1:] == ("STRICT", 2)
    assert store.quality.attach(group, None) == 3
    assert store.quality.suite(group) == (None, "STRICT", 3)
    featurestore.insert_into_featuregroup(ratings(store.spark, [(4, None, "d")]), "players")
    assert len(store.quality.reports(group)) == 1                        # no suite, no report
    with pytest.raises(InvalidInputError, match="missing"):
        store.quality.attach(group, {"name": "s", "expectations": [
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "missing"}}]})


def test_training_dataset_statistics(store):
    df = ratings(store.spark, [(i, float(i), "ab"[i % 2]) for i in range(30)])
    td = featurestore.create_training_dataset(df, "ratings", data_format="parquet",
                                              splits={"train": 0.7, "test": 0.3}, seed=1,
                                              statistics=LIGHT)
    stats = store.quality.training_dataset_statistics(td)
    assert stats["row_count"] == 30
    assert stats["descriptive"]["rating"]["sum"] == pytest.approx(np.arange(30).sum())
    assert stats["histograms"]["team"]["counts"] == [15, 15]
