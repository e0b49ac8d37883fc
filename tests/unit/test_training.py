"""Training datasets: every data format round-trips with its types, splits (random by a seeded
hash, or by event time), reads as spark / pandas / numpy, the metadata recorded, the Hops
builders, and a request checked whole before anything is written."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from featurestore_spark import Hops, InvalidInputError, featurestore
from featurestore_spark.errors import TrainingDatasetNotFound

from .helpers import rows

ROWS = [(i, i % 3 == 0, i / 4, f"player {i}", datetime(2024, 1, 1 + i % 28, i % 24, 30, 0, 250000),
         date(2024, 1 + i % 12, 1), None if i % 5 == 0 else i * 10,
         datetime(2023, 12, 31, 23, 59, 59, i)) for i in range(40)]
SCHEMA = ("id int, won boolean, rating double, name string, ts timestamp, d date, score bigint, "
          "local timestamp_ntz")


@pytest.fixture
def df(store):
    return store.spark.createDataFrame(ROWS, SCHEMA)


@pytest.mark.parametrize("data_format", ["parquet", "orc", "csv", "tsv", "avro", "tfrecords"])
def test_every_format_round_trips_with_splits(store, df, data_format):
    td = featurestore.create_training_dataset(df, "matches", data_format=data_format,
                                              splits={"train": 0.75, "test": 0.25}, seed=7)
    assert (td.data_format, td.version, td.split_names) == (data_format, 1, ("train", "test"))
    assert [(f.name, f.type) for f in td.features] == [
        (f.name, f.dataType.simpleString()) for f in df.schema.fields]
    location = Path(td.location)
    assert location == Path(store.settings.training_path) / store.settings.project / "matches_1"
    assert sorted(p.name for p in location.iterdir()) == ["test", "train"]
    everything = featurestore.get_training_dataset("matches")
    assert everything.schema == df.schema and rows(everything) == rows(df)
    train = featurestore.get_training_dataset("matches", split="train")
    test = featurestore.get_training_dataset("matches", split="test")
    assert sorted(rows(train) + rows(test)) == rows(df)
    assert not set(rows(train)) & set(rows(test)) and rows(test)


def test_tsv_is_tab_separated_with_a_header(store, df):
    featurestore.create_training_dataset(df.select("id", "name").where("id < 3"), "plain",
                                         data_format="tsv")
    folder = Path(featurestore.get_training_dataset_path("plain"))
    lines = [line for p in sorted(folder.glob("part-*.csv")) for line in p.read_text().splitlines()]
    assert set(lines) == {"id\tname", "0\tplayer 0", "1\tplayer 1", "2\tplayer 2"}


def test_random_splits_do_not_depend_on_partitioning(store, df):
    featurestore.create_training_dataset(df.repartition(1), "r", data_format="parquet",
                                         splits={"a": 0.5, "b": 0.3, "c": 0.2}, seed=11)
    featurestore.create_training_dataset(df.repartition(7, "name"), "r", data_format="parquet",
                                         splits={"a": 0.5, "b": 0.3, "c": 0.2}, seed=11,
                                         training_dataset_version=2)
    featurestore.create_training_dataset(df, "r", data_format="parquet",
                                         splits={"a": 0.5, "b": 0.3, "c": 0.2}, seed=12,
                                         training_dataset_version=3)

    def split(version: int, name: str) -> list:
        return rows(featurestore.get_training_dataset("r", training_dataset_version=version,
                                                      split=name).select("id"))
    assert [split(1, s) for s in "abc"] == [split(2, s) for s in "abc"]
    assert [split(1, s) for s in "abc"] != [split(3, s) for s in "abc"]
    assert all(split(1, s) for s in "abc") and len(split(1, "a")) > len(split(1, "c"))
    assert store.training.get("r", 1).splits == {
        "kind": "random", "seed": 11, "splits": [{"name": "a", "fraction": 0.5},
                                                 {"name": "b", "fraction": 0.3},
                                                 {"name": "c", "fraction": 0.2}]}
    # without a seed one is drawn, and recorded
    td = featurestore.create_training_dataset(df, "r", data_format="parquet",
                                              splits={"a": 0.5, "b": 0.5},
                                              training_dataset_version=4)
    assert isinstance(td.splits["seed"], int)


def test_splits_partition_the_rows_of_a_source_computed_once(store, df):
    """The splits filter one computation of the source: with a source that differs at every
    evaluation, each row is still in exactly one split."""
    import random

    from pyspark.sql import functions as F
    noise = F.udf(lambda: random.random(), "double").asNondeterministic()
    featurestore.create_training_dataset(df.select("id", noise().alias("noise")), "noisy",
                                         data_format="parquet",
                                         splits={"a": 0.4, "b": 0.3, "c": 0.3}, seed=5)
    ids = [r[0] for s in "abc" for r in rows(featurestore.get_training_dataset(
        "noisy", split=s).select("id"))]
    assert sorted(ids) == list(range(40))


def test_time_splits_by_event_time(store, df):
    td = (Hops.createTrainingDataset("by_time").setDataframe(df).setDataFormat("avro")
          .setSplits({"train": (None, "2024-01-10"), "validation": ("2024-01-10", "2024-01-20"),
                      "test": (datetime(2024, 1, 20), None)})
          .setEventTime("ts").write())
    assert td.splits["kind"] == "time" and td.splits["column"] == "ts"
    assert td.splits["splits"][0] == {"name": "train", "start": None,
                                      "end": "2024-01-10T00:00:00+00:00"}

    def days(split: str) -> set[int]:
        return {r.ts.day for r in featurestore.get_training_dataset("by_time", split=split).collect()}
    assert days("train") == set(range(1, 10)) and days("validation") == set(range(10, 20))
    assert days("test") == set(range(20, 29))
    # a date column, and rows outside every range are left out
    featurestore.create_training_dataset(df, "by_date", data_format="parquet", event_time="d",
                                         splits={"spring": (date(2024, 3, 1), date(2024, 6, 1))})
    got = featurestore.get_training_dataset("by_date").collect()
    assert sorted({r.d.month for r in got}) == [3, 4, 5]


def test_dataframe_types_path_versions_and_listing(store, df):
    small = df.select("id", "rating").where("id < 4")
    featurestore.create_training_dataset(small, "t", data_format="orc")
    featurestore.create_training_dataset(small, "t", data_format="orc", training_dataset_version=2,
                                         description="second")
    pdf = featurestore.get_training_dataset("t", dataframe_type="pandas")
    assert isinstance(pdf, pd.DataFrame) and sorted(pdf["id"]) == [0, 1, 2, 3]
    arr = featurestore.get_training_dataset("t", training_dataset_version=1, dataframe_type="numpy")
    assert isinstance(arr, np.ndarray) and arr.shape == (4, 2)
    assert sorted(featurestore.get_training_dataset("t", dataframe_type="python"),
                  key=lambda r: r["id"])[1] == {"id": 1, "rating": 0.25}
    assert featurestore.get_latest_training_dataset_version("t") == 2
    assert featurestore.get_training_dataset_path("t").endswith("/t_2")
    assert featurestore.get_training_datasets() == ["t_1", "t_2"]
    assert store.training.get("t").description == "second"
    featurestore.delete_training_dataset("t", training_dataset_version=2)
    assert featurestore.get_latest_training_dataset_version("t") == 1
    assert not Path(featurestore.get_training_dataset_path("t")).with_name("t_2").exists()
    with pytest.raises(TrainingDatasetNotFound):
        featurestore.get_training_dataset("t", training_dataset_version=2)
    with pytest.raises(InvalidInputError, match="has no split 'train': it has no splits"):
        featurestore.get_training_dataset("t", split="train")


def test_a_path_of_ones_own(store, df, tmp_path):
    target = tmp_path / "exports" / "matches"
    td = featurestore.create_training_dataset(df, "exported", data_format="parquet",
                                              path=str(target))
    assert td.location == str(target) and (target / "_SUCCESS").exists()
    assert rows(featurestore.get_training_dataset("exported")) == rows(df)


def test_builders_are_immutable(store, df):
    base = Hops.createTrainingDataset("b").setDataframe(df)
    csv = base.setDataFormat("csv")
    assert base.spec.data_format == "tfrecords" and csv.spec.data_format == "csv"
    csv.setVersion(3).write()
    assert Hops.getLatestTrainingDatasetVersion("b").read() == 3
    reader = Hops.getTrainingDataset("b")
    assert reader.setVersion(3).setDataframeType("pandas").read().shape == (40, 8)
    assert reader.version is None and reader.dataframe_type == "spark"
    assert Hops.getTrainingDatasetPath("b").setVersion(3).read().endswith("/b_3")


def test_the_source_records_feature_groups_and_commits(store):
    spark = store.spark
    featurestore.create_featuregroup(spark.createDataFrame([(1, 2.0), (2, 3.0)], "id int, x double"),
                                     "teams", primary_key="id")
    featurestore.insert_into_featuregroup(spark.createDataFrame([(3, 4.0)], "id int, x double"),
                                          "teams")
    labels = spark.createDataFrame([(1, 1), (3, 0)], "id int, label int")
    df = featurestore.get_featuregroup("teams", as_of=0).join(labels, "id")
    td = featurestore.create_training_dataset(df, "labelled", data_format="parquet")
    assert td.source == {"kind": "dataframe", "query": None, "query_class": None,
                         "feature_groups": [{"project": store.settings.project, "name": "teams",
                                             "version": 1, "commit": 0}],
                         "other_inputs": ["LogicalRDD"]}
    assert rows(featurestore.get_training_dataset("labelled")) == [(1, 2.0, 1)]


def test_every_problem_is_reported_before_anything_is_written(store, df):
    featurestore.create_training_dataset(df.limit(1), "taken", data_format="parquet")
    folder = Path(store.settings.training_path) / store.settings.project
    before = sorted(folder.rglob("*"))
    with pytest.raises(InvalidInputError) as e:
        featurestore.create_training_dataset(df, "taken", data_format="xlsx", seed="x",
                                             splits={"train": 0.7, "Bad name": 0.2})
    assert e.value.problems == [
        "data format 'xlsx' is not one of tfrecords, parquet, csv, tsv, avro, orc",
        "seed must be an integer, got 'x'",
        "split name 'Bad name' is invalid: it must be 1-63 characters: a lowercase letter, then "
        "lowercase letters, digits or '_'",
        "the split fractions sum to 0.9, not 1 (train=0.7, Bad name=0.2)",
        "training dataset taken version 1 exists already (latest is 1): ask for version 2 to "
        "create a new one"]
    with pytest.raises(InvalidInputError) as e:
        featurestore.create_training_dataset(df.selectExpr("*", "array(1) AS a"), "Matches!",
                                             data_format="csv", event_time="when",
                                             splits={"x": ("2024-02-01", "2024-01-01"),
                                                     "y": ("2023-12-01", None)})
    assert [p.split(":")[0] for p in e.value.problems] == [
        "training dataset name 'Matches!' is invalid",
        "split 'x' ends (2024-01-01) before it starts (2024-02-01)",
        "splits 'x' and 'y' overlap",
        "csv cannot hold column 'a' of type array<int>",
        "event time 'when' to split by is not a column (the columns are id, won, rating, name, ts, "
        "d, score, local, a)"]
    with pytest.raises(InvalidInputError, match="is string: it must be a timestamp, date or integer"):
        featurestore.create_training_dataset(df, "other", event_time="name",
                                             splits={"x": (None, "2024-01-01")})
    with pytest.raises(InvalidInputError, match="got list"):
        featurestore.create_training_dataset([1, 2], "other")
    assert sorted(folder.rglob("*")) == before
    assert featurestore.get_training_datasets() == ["taken_1"]
