"""Training datasets on external storage (issue 16, item 3): written through a storage connector
(an s3 bucket on the moto server through s3a, a local folder), the metadata in the store; read
back, their statistics, made again (to the same connector) and deleted as internal ones; a JDBC
connector, an unknown name, a missing secret and an unreachable endpoint refused before anything
is written or registered; the secret nowhere in the metadata or the errors."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from featurestore_spark import Hops, InvalidInputError, featurestore

from .helpers import Lake, make_lake, rows

SECRET_ENV = "FS_TEST_TD_S3_SECRET"
SCHEMA = "id int, won boolean, rating double, name string"
N = 40


def players(store):
    return store.spark.createDataFrame(
        [(i, i % 3 == 0, i / 4, f"player {i}") for i in range(N)], SCHEMA)


@pytest.fixture
def lake(store, monkeypatch) -> Lake:
    return make_lake(store, monkeypatch, "td", "training", SECRET_ENV)


def metadata_text(store) -> str:
    """Every training dataset's metadata row and the connectors' documents, as text."""
    tds = [asdict(d) for d in store.training.list()]
    return json.dumps(tds, default=str) + json.dumps(
        [c.describe() for c in store.get_storage_connectors()])


def test_a_training_dataset_on_s3_reads_back_is_made_again_and_deleted(store, lake):
    featurestore.create_featuregroup(players(store), "players", primary_key="id")
    query = store.get_feature_group("players").select_all()
    td = featurestore.create_training_dataset(query, "matches", data_format="parquet",
                                              splits={"train": 0.7, "test": 0.3}, seed=5,
                                              sink="lake")
    assert td.location == f"s3a://{lake.bucket}/training/matches_1"
    assert td.source["storage_connector"] == "lake" and td.source["kind"] == "query"
    assert any(k.endswith(".parquet") for k in lake.keys("training/matches_1/train/"))
    assert any(k.endswith(".parquet") for k in lake.keys("training/matches_1/test/"))
    # read back equal: every split, and each
    source = rows(players(store))
    assert rows(featurestore.get_training_dataset("matches")) == source
    before = {s: rows(featurestore.get_training_dataset("matches", split=s))
              for s in ("train", "test")}
    assert sorted(before["train"] + before["test"]) == source and before["test"]
    assert featurestore.get_training_dataset_path("matches", split="test") == \
        f"s3a://{lake.bucket}/training/matches_1/test"
    # statistics, of the rows read back from the bucket
    stats = featurestore.update_training_dataset_stats("matches")
    assert stats and featurestore.get_training_dataset_statistics("matches")
    # made again: a new version in the same bucket, the same rows per split
    again = featurestore.recreate_training_dataset("matches", training_dataset_version=1)
    assert (again.version, again.location, again.source["storage_connector"]) == (
        2, f"s3a://{lake.bucket}/training/matches_2", "lake")
    assert again.source["recreated_from"] == 1
    for split, expected in before.items():
        assert rows(featurestore.get_training_dataset("matches", training_dataset_version=2,
                                                      split=split)) == expected
    # the connector is needed by them: kept while they are
    with pytest.raises(InvalidInputError, match="training dataset matches v1, training dataset "
                       "matches v2 reach their data through it"):
        store.delete_storage_connector("lake")
    assert lake.secret not in metadata_text(store)
    # the bucket's settings went with each call, never onto the session's Hadoop configuration
    session_conf = store.spark.sparkContext._jsc.hadoopConfiguration()
    assert session_conf.get(f"fs.s3a.bucket.{lake.bucket}.secret.key") is None
    assert session_conf.get(f"fs.s3a.bucket.{lake.bucket}.endpoint") is None
    # deleted: its files are gone from the bucket, the other version's stay
    featurestore.delete_training_dataset("matches", training_dataset_version=1)
    assert lake.keys("training/matches_1/") == [] and lake.keys("training/matches_2/")
    assert [d.version for d in store.training.list()] == [2]
    featurestore.delete_training_dataset("matches", training_dataset_version=2)
    assert lake.keys("training/matches_2/") == []    # (s3a may keep the marker of training/)
    store.delete_storage_connector("lake")


def test_the_builder_writes_csv_to_a_path_under_the_connector(store, lake):
    df = players(store)
    td = (Hops.createTrainingDataset("plain").setDataframe(df).setDataFormat("csv")
          .setSplits({"a": 0.5, "b": 0.5}).setSeed(1).setSink(lake.connector)
          .setPath("exports/plain").write())
    assert td.location == f"s3a://{lake.bucket}/training/exports/plain"
    assert any(k.endswith(".csv") for k in lake.keys("training/exports/plain/a/"))
    back = Hops.getTrainingDataset("plain").read()
    assert back.schema == df.schema and rows(back) == rows(df)
    # the alias, and a connector object that is not the one kept under its name
    from dataclasses import replace
    with pytest.raises(InvalidInputError, match="is not the one kept under that name"):
        (Hops.createTrainingDataset("other").setDataframe(df)
         .setStorageConnector(replace(lake.connector, path="elsewhere")).write())


def test_a_feature_views_split_goes_to_the_connector_as_tfrecords(store, lake):
    fg = store.get_or_create_feature_group("players", primary_key=["id"])
    fg.insert(players(store))
    fv = store.create_feature_view("pv", fg.select_all(), labels=["won"])
    version, job = fv.create_train_test_split(test_size=0.25, seed=3, data_format="tfrecords",
                                              storage_connector="lake")
    assert job is None
    td = store.training.get(f"pv_{fv.version}", version)
    assert td.location == f"s3a://{lake.bucket}/training/pv_{fv.version}_{version}"
    keys = lake.keys(f"training/pv_{fv.version}_{version}/train/")
    # written by the executors through pyarrow's S3 file system, with the connector's settings
    assert any(k.endswith(".tfrecord") for k in keys) and any(k.endswith("/_SUCCESS") for k in keys)
    assert not [k for k in keys if "_temporary" in k]      # the tasks' staging, moved and gone
    x_train, x_test, y_train, y_test = fv.get_train_test_split(version)
    assert x_train.count() + x_test.count() == N and y_test.count() == x_test.count()
    ids = sorted(r.id for r in x_train.collect()) + sorted(r.id for r in x_test.collect())
    assert sorted(ids) == list(range(N))


def test_a_file_connector_sink(store, tmp_path):
    folder = tmp_path / "exports"
    store.create_storage_connector("exports", "file", path=str(folder))
    df = players(store)
    td = featurestore.create_training_dataset(df, "local", data_format="orc", sink="exports")
    assert td.location == f"{folder}/local_1" and Path(td.location).is_dir()
    assert rows(featurestore.get_training_dataset("local")) == rows(df)
    featurestore.delete_training_dataset("local", training_dataset_version=1)
    assert not Path(td.location).exists()


def test_sinks_that_cannot_be_written_are_refused_with_nothing_registered(store, lake, monkeypatch):
    df = players(store)
    store.create_storage_connector("sales", "jdbc", url="jdbc:mysql://db:3306/sales", user="u",
                                   password_env="FS_TEST_SALES_PASSWORD")
    with pytest.raises(InvalidInputError) as refused:        # every problem at once
        featurestore.create_training_dataset(df, "td", data_format="xml", sink="sales")
    message = str(refused.value)
    assert "storage connector 'sales' is JDBC: a training dataset is files" in message
    assert "data format 'xml' is not one of" in message
    with pytest.raises(InvalidInputError, match=r"no storage connector 'nosuch' in project .*"
                       r"create it first.*the project's file connectors: .*lake"):
        featurestore.create_training_dataset(df, "td", data_format="parquet", sink="nosuch")
    with pytest.raises(InvalidInputError, match="the storage connector must be a "
                       "StorageConnector or its name, got int"):
        featurestore.create_training_dataset(df, "td", data_format="parquet", sink=3)
    with pytest.raises(InvalidInputError, match=r"path '\.\./up' of storage connector 'lake'"):
        featurestore.create_training_dataset(df, "td", data_format="parquet", sink="lake",
                                             path="../up")
    monkeypatch.delenv(SECRET_ENV)
    with pytest.raises(InvalidInputError, match=f"{SECRET_ENV}, which is not set"):
        featurestore.create_training_dataset(df, "td", data_format="parquet", sink="lake")
    monkeypatch.setenv(SECRET_ENV, lake.secret)
    # an endpoint nothing answers on (a bucket of its own: not yet reached in this process)
    dead_bucket = lake.bucket[:-3] + "-dead"
    store.create_storage_connector(
        "dead", "s3", bucket=dead_bucket, endpoint="http://127.0.0.1:9", access_key="x",
        secret_key_env=SECRET_ENV, options={f"fs.s3a.bucket.{dead_bucket}.attempts.maximum": "1",
                                            f"fs.s3a.bucket.{dead_bucket}.retry.limit": "1"})
    with pytest.raises(InvalidInputError) as unreachable:
        featurestore.create_training_dataset(df, "td", data_format="parquet", sink="dead")
    message = str(unreachable.value)
    assert f"s3a://{dead_bucket}/td_1 cannot be reached through storage connector 'dead'" in message
    assert "onnect" in message and lake.secret not in message
    assert featurestore.get_training_datasets() == []
    assert lake.keys("") == []
