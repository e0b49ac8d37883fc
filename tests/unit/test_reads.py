"""Reads: latest, time travel by commit and by time, history, incremental changes, one feature,
SQL, and the dataframe types."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from featurestore_spark import Hops, featurestore
from featurestore_spark.errors import CommitNotFound, FeatureGroupNotFound, InvalidInputError

from .helpers import rows

SCHEMA = "team_id int, name string, score double"


@pytest.fixture
def history(store):
    """teams with three commits: create, upsert (update 2, insert 3), append 4."""
    spark = store.spark
    featurestore.create_featuregroup(spark.createDataFrame([(1, "a", 1.0), (2, "b", 2.0)], SCHEMA),
                                     "teams", primary_key="team_id")
    time.sleep(1.1)
    featurestore.insert_into_featuregroup(
        spark.createDataFrame([(2, "b", 20.0), (3, "c", 3.0)], SCHEMA), "teams", mode="upsert")
    time.sleep(1.1)
    featurestore.insert_into_featuregroup(spark.createDataFrame([(4, "d", 4.0)], SCHEMA), "teams")
    return store


def test_time_travel_by_commit(history):
    assert rows(featurestore.get_featuregroup("teams", as_of=0)) == [(1, "a", 1.0), (2, "b", 2.0)]
    assert rows(Hops.getFeaturegroup("teams").setAsOf(1).read()) == \
        [(1, "a", 1.0), (2, "b", 20.0), (3, "c", 3.0)]
    assert len(rows(featurestore.get_featuregroup("teams"))) == 4
    with pytest.raises(CommitNotFound, match=r"no commit 7; its commits are \[0, 1, 2\]"):
        featurestore.get_featuregroup("teams", as_of=7)


def test_time_travel_by_time(history):
    commits = featurestore.get_featuregroup_commits("teams")
    just_after_first = commits[0].committed_at + timedelta(milliseconds=500)
    assert rows(featurestore.get_featuregroup("teams", as_of=just_after_first)) == \
        [(1, "a", 1.0), (2, "b", 2.0)]
    naive_utc = commits[1].committed_at.replace(tzinfo=None).isoformat()
    assert len(rows(featurestore.get_featuregroup("teams", as_of=naive_utc))) == 3
    later = datetime.now(timezone.utc) + timedelta(days=1)
    assert len(rows(featurestore.get_featuregroup("teams", as_of=later))) == 4
    with pytest.raises(CommitNotFound, match="no commit at or before"):
        featurestore.get_featuregroup("teams", as_of="2000-01-01T00:00:00")
    with pytest.raises(InvalidInputError, match="not an ISO-8601"):
        featurestore.get_featuregroup("teams", as_of="yesterday")


def test_commit_history_counts_rows(history):
    commits = Hops.getFeaturegroupCommits("teams").read()
    assert [(c.commit_id, c.operation, c.rows_inserted, c.rows_updated, c.rows_deleted)
            for c in commits] == [(0, "create", 2, 0, 0), (1, "upsert", 1, 1, 0), (2, "append", 1, 0, 0)]
    assert commits[0].committed_at < commits[1].committed_at < commits[2].committed_at


def test_incremental_changes(history):
    changes = featurestore.get_featuregroup_changes("teams", start_commit=0, end_commit=1)
    got = sorted((r.team_id, r.score, r._change_type) for r in changes.collect())
    assert got == [(2, 2.0, "update_preimage"), (2, 20.0, "update_postimage"), (3, 3.0, "insert")]
    latest = Hops.getFeaturegroupChanges("teams").setStartCommit(1).read()
    assert [(r.team_id, r._change_type, r._commit_version) for r in latest.collect()] == \
        [(4, "insert", 2)]
    with pytest.raises(InvalidInputError, match="must come after"):
        featurestore.get_featuregroup_changes("teams", start_commit=2, end_commit=1)
    with pytest.raises(InvalidInputError, match="commit 9 is not a commit"):
        featurestore.get_featuregroup_changes("teams", start_commit=9)


def test_feature_and_features(history):
    spark = history.spark
    assert rows(featurestore.get_feature("score")) == [(1.0,), (3.0,), (4.0,), (20.0,)]
    featurestore.create_featuregroup(spark.createDataFrame([(1, 9.0)], "id int, score double"),
                                     "other", primary_key="id")
    with pytest.raises(FeatureGroupNotFound, match="'score' is in feature groups other, teams: "
                                                   "name the feature group"):
        featurestore.get_feature("score")
    assert rows(featurestore.get_feature("score", featuregroup="other")) == [(9.0,)]
    with pytest.raises(FeatureGroupNotFound, match=r"no feature group of feature store \w+ has a "
                                                   r"feature named 'nothing_like_it' \(its feature "
                                                   r"groups: other, teams\): check the name"):
        featurestore.get_feature("nothing_like_it")
    picked = Hops.getFeaturegroup("teams").setFeatures("team_id", "score").setAsOf(0).read()
    assert picked.columns == ["team_id", "score"]
    with pytest.raises(InvalidInputError, match="'nope' is not in it") as e:
        Hops.getFeaturegroup("teams").setFeatures("nope").read()
    assert "nothing was written" not in str(e.value)                   # a read


def test_sql_and_dataframe_types(history):
    spark = history.spark
    before = spark.catalog.currentDatabase()
    result = featurestore.sql("SELECT COUNT(*) AS n, MAX(score) AS m FROM teams_1",
                              dataframe_type="python")
    assert result == [{"n": 4, "m": 20.0}]
    assert spark.catalog.currentDatabase() == before
    pdf = featurestore.get_featuregroup("teams", dataframe_type="pandas", as_of=0)
    assert isinstance(pdf, pd.DataFrame) and sorted(pdf.team_id) == [1, 2]
    arr = featurestore.get_featuregroup("teams", dataframe_type="numpy", as_of=0)
    assert isinstance(arr, np.ndarray) and arr.shape == (2, 3)
    with pytest.raises(InvalidInputError, match="dataframe type 'polars'"):
        featurestore.get_featuregroup("teams", dataframe_type="polars")
    assert featurestore.get_featuregroups() == ["teams_1"]
    assert featurestore.get_project_featurestore() == f"{history.settings.project}_featurestore"


def test_other_project_by_featurestore_name(store, spark, fs_home):
    import featurestore_spark as fs
    from featurestore_spark.config import load_settings
    from tests.conftest import ROOT, settings_env

    df = spark.createDataFrame([(1, 1.0)], "id int, v double")
    featurestore.create_featuregroup(df, "shared", featurestore=f"{store.settings.project}_featurestore")
    other = fs.connect(load_settings(ROOT / "conf" / "featurestore.toml",
                                     settings_env(fs_home, store.settings.project + "_b")), spark)
    assert other.feature_groups() == []
    got = featurestore.get_featuregroup("shared", featurestore=store.settings.project)
    assert rows(got) == [(1, 1.0)]
