"""Injected failures: a Delta write that fails in the executors, and a metadata store that fails
after the Delta commit. Either way nothing is left registered or half-written."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from featurestore_spark import featurestore

from .helpers import snapshot

SCHEMA = "team_id int, name string, score double"


def exploding(df):
    """``df`` whose computation fails in an executor on the row with team_id 3."""
    @F.udf("double")
    def boom(team_id, score):
        if team_id == 3:
            raise RuntimeError("injected failure")
        return score
    return df.withColumn("score", boom("team_id", "score"))


def test_failed_create_leaves_nothing(store):
    df = exploding(store.spark.createDataFrame([(1, "a", 1.0), (3, "c", 3.0)], SCHEMA))
    before = snapshot(store, "teams")
    with pytest.raises(Exception, match="injected failure"):
        featurestore.create_featuregroup(df, "teams", primary_key="team_id")
    after = snapshot(store, "teams")
    assert after == before and after["files"] is None and after["groups"] == []
    # and the name is free to be created afterwards
    ok = store.spark.createDataFrame([(1, "a", 1.0)], SCHEMA)
    assert featurestore.create_featuregroup(ok, "teams", primary_key="team_id").version == 1


@pytest.mark.parametrize("mode", ["append", "overwrite", "upsert"])
def test_failed_delta_write_leaves_no_commit(store, mode):
    spark = store.spark
    featurestore.create_featuregroup(spark.createDataFrame([(1, "a", 1.0)], SCHEMA), "teams",
                                     primary_key="team_id")
    before = snapshot(store, "teams")
    bad = exploding(spark.createDataFrame([(2, "b", 2.0), (3, "c", 3.0)], SCHEMA))
    with pytest.raises(Exception, match="injected failure"):
        featurestore.insert_into_featuregroup(bad, "teams", mode=mode)
    after = snapshot(store, "teams")
    assert after["commits"] == before["commits"] and after["rows"] == before["rows"]
    assert after["delta_version"] == before["delta_version"]


def test_failed_registration_undoes_the_delta_commit(store, monkeypatch):
    spark = store.spark
    featurestore.create_featuregroup(spark.createDataFrame([(1, "a", 1.0)], SCHEMA), "teams",
                                     primary_key="team_id")
    before = snapshot(store, "teams")

    def metadata_down(*args, **kwargs):
        raise ConnectionError("metadata store went away")
    monkeypatch.setattr(store.metadata, "add_commit", metadata_down)
    with pytest.raises(ConnectionError):
        featurestore.insert_into_featuregroup(
            spark.createDataFrame([(1, "a", 5.0), (2, "b", 2.0)], SCHEMA), "teams", mode="upsert")
    after = snapshot(store, "teams")
    assert after["commits"] == before["commits"] and after["rows"] == before["rows"]
    monkeypatch.undo()
    # the table is still writable and its history consistent
    c = featurestore.insert_into_featuregroup(spark.createDataFrame([(2, "b", 2.0)], SCHEMA), "teams")
    assert [x.commit_id for x in store.commits("teams")] == [0, c.commit_id]


def test_failed_registration_of_create_removes_the_table(store, monkeypatch):
    def metadata_down(*args, **kwargs):
        raise ConnectionError("metadata store went away")
    monkeypatch.setattr(store.metadata, "create_feature_group", metadata_down)
    before = snapshot(store, "teams")
    with pytest.raises(ConnectionError):
        featurestore.create_featuregroup(store.spark.createDataFrame([(1, "a", 1.0)], SCHEMA),
                                         "teams", primary_key="team_id")
    assert snapshot(store, "teams") == before


def test_an_executor_error_is_reported_with_its_own_line(spark):
    """What a Python worker raised (here: the package missing on the executors, as when a cluster
    job forgets --py-files) reaches the user as that error's line, not Spark's wrapper."""
    from featurestore_spark.online.sql import _executor_reason

    def worker(batches):
        raise ModuleNotFoundError("No module named 'featurestore_spark'")
        yield from batches
    with pytest.raises(Exception) as caught:
        spark.range(2).mapInArrow(worker, "id long").collect()
    assert "An exception was thrown from the Python worker" in str(caught.value)
    assert _executor_reason(caught.value) == \
        "ModuleNotFoundError: No module named 'featurestore_spark'"
