"""Injected failures while a training dataset is written: in the executors, in a later split, in
the metadata store. Each leaves neither files nor a registered version, and the name free."""

from __future__ import annotations

from pathlib import Path

import pytest

from featurestore_spark import featurestore
from featurestore_spark.training import formats

from .test_failures import exploding     # fails in an executor on team_id 3

SCHEMA = "team_id int, name string, score double"


def state(store) -> tuple[list, list]:
    """The files under the project's training dataset folder, and the registered versions."""
    root = Path(store.settings.training_path) / store.settings.project
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    return files, featurestore.get_training_datasets()


@pytest.mark.parametrize("data_format", ["parquet", "tfrecords"])
def test_a_failure_in_the_executors_leaves_nothing(store, data_format):
    df = store.spark.createDataFrame([(i, f"n{i}", i / 2) for i in range(6)], SCHEMA)
    before = state(store)
    with pytest.raises(Exception, match="injected failure"):
        featurestore.create_training_dataset(exploding(df), "td", data_format=data_format,
                                             splits={"train": 0.5, "test": 0.5}, seed=1)
    assert state(store) == before
    assert featurestore.create_training_dataset(df, "td", data_format=data_format).version == 1


def test_a_failure_in_a_later_split_removes_the_earlier_ones(store, monkeypatch):
    df = store.spark.createDataFrame([(i, f"n{i}", i / 2) for i in range(6)], SCHEMA)
    written = []
    real_write = formats.write

    def second_fails(rows, data_format, path, features, options=None):
        if written:
            raise OSError("disk full")
        real_write(rows, data_format, path, features, options)
        written.append(path)
    monkeypatch.setattr(formats, "write", second_fails)
    before = state(store)
    with pytest.raises(OSError, match="disk full"):
        featurestore.create_training_dataset(df, "td", data_format="orc",
                                             splits={"train": 0.5, "test": 0.5})
    assert written and not Path(written[0]).exists() and state(store) == before


def test_a_failed_registration_removes_the_files(store, monkeypatch):
    def metadata_down(*args, **kwargs):
        raise ConnectionError("metadata store went away")
    monkeypatch.setattr(store.metadata, "create_training_dataset", metadata_down)
    before = state(store)
    with pytest.raises(ConnectionError):
        featurestore.create_training_dataset(store.spark.range(5), "td", data_format="csv")
    assert state(store) == before


def test_null_inside_an_array_fails_the_tfrecord_write_cleanly(store):
    df = store.spark.sql("SELECT 1 AS id, array(1, NULL) AS xs")
    before = state(store)
    with pytest.raises(Exception, match="null elements inside an array"):
        featurestore.create_training_dataset(df, "td")
    assert state(store) == before


@pytest.mark.parametrize("data_format", ["parquet", "tfrecords"])
def test_losing_a_race_for_the_folder_leaves_the_winners_files(store, monkeypatch, data_format):
    from featurestore_spark import paths
    location = Path(store.training.location(store.settings.project, "td", 1))
    location.mkdir(parents=True)
    (location / "part-0-of-the-other-writer").write_text("theirs")
    monkeypatch.setattr(paths, "exists", lambda spark, path, options=None: False)   # it came after the check
    with pytest.raises(Exception, match="PATH_ALREADY_EXISTS|FileAlreadyExistsException"):
        featurestore.create_training_dataset(store.spark.range(3), "td", data_format=data_format)
    assert (location / "part-0-of-the-other-writer").read_text() == "theirs"
    assert featurestore.get_training_datasets() == []
