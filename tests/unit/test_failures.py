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


# -- the file system refuses: a file where a folder must be, a read-only folder, a full disk ------
def test_a_warehouse_under_a_file_is_refused_at_connect(spark, fs_home, tmp_path):
    import featurestore_spark as fs
    from featurestore_spark.config import load_settings
    from featurestore_spark.errors import StorageError

    from ..conftest import ROOT, settings_env
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    for warehouse in (blocker / "warehouse", blocker):
        env = {**settings_env(fs_home, "under_a_file"),
               "FEATURESTORE_OFFLINE_WAREHOUSE": str(warehouse)}
        with pytest.raises(StorageError) as refused:
            fs.connect(load_settings(ROOT / "conf" / "featurestore.toml", env), spark)
        text = str(refused.value)
        assert f"{blocker} is a file, where a folder must be" in text
        assert "cannot open feature store under_a_file" in text
        assert "FEATURESTORE_OFFLINE_WAREHOUSE" in text
    assert blocker.read_text() == "not a folder"


def test_a_training_dataset_path_under_a_file_is_refused(store, tmp_path):
    from featurestore_spark.errors import InvalidInputError
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    df = store.spark.createDataFrame([(1, "a", 1.0)], SCHEMA)
    with pytest.raises(InvalidInputError) as refused:
        featurestore.create_training_dataset(df, "td", data_format="parquet",
                                             path=str(blocker / "td"))
    assert f"{blocker} is a file, where a folder must be" in str(refused.value)
    assert blocker.read_text() == "not a folder" and featurestore.get_training_datasets() == []


def _chattr(flag: str, *folders) -> bool:
    import subprocess
    done = subprocess.run(["chattr", flag, *map(str, folders)], capture_output=True)
    return done.returncode == 0


def test_a_read_only_folder_gives_a_storage_error_and_writes_nothing(store):
    """chmod does not stop root (the tests run as root here): an immutable folder (chattr +i)
    does; where chattr cannot be used, the test is skipped."""
    from pathlib import Path

    from featurestore_spark.errors import StorageError
    spark = store.spark
    featurestore.create_featuregroup(spark.createDataFrame([(1, "a", 1.0)], SCHEMA), "teams",
                                     primary_key="team_id")
    table = Path(store.feature_group("teams").location)
    before = snapshot(store, "teams")
    if not _chattr("+i", table.parent):
        pytest.skip("chattr +i is not possible here: no read-only folder that stops root")
    try:
        with pytest.raises(StorageError) as refused:
            featurestore.create_featuregroup(spark.createDataFrame([(1, "a", 1.0)], SCHEMA),
                                             "other", primary_key="team_id")
        assert "cannot create other v1" in str(refused.value)
        assert str(table.parent / "other_1") in str(refused.value)
    finally:
        _chattr("-i", table.parent)
    assert [g.name for g in store.feature_groups()] == ["teams"]
    assert _chattr("+i", table, table / "_delta_log")
    try:
        with pytest.raises(StorageError) as refused:
            featurestore.insert_into_featuregroup(spark.createDataFrame([(2, "b", 2.0)], SCHEMA),
                                                  "teams")
        assert f"cannot append into teams v1: {table} cannot be written" in str(refused.value)
        assert "Operation not permitted" in str(refused.value)
    finally:
        _chattr("-i", table, table / "_delta_log")
    assert snapshot(store, "teams") == before
    featurestore.insert_into_featuregroup(spark.createDataFrame([(2, "b", 2.0)], SCHEMA), "teams")


def test_a_full_disk_gives_a_storage_error_and_leaves_nothing(store, tmp_path):
    """A tmpfs of 256 KiB stands for a full disk; where it cannot be mounted (not root), the test
    is skipped."""
    import subprocess

    from featurestore_spark.errors import StorageError
    full = tmp_path / "full"
    full.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(full)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        big = store.spark.range(100_000).selectExpr("CAST(id AS INT) AS team_id",
                                                    "uuid() AS name", "rand() AS score")
        with pytest.raises(StorageError) as refused:
            featurestore.create_training_dataset(big, "td", data_format="csv",
                                                 path=str(full / "td"))
        text = str(refused.value)
        assert f"cannot create training dataset td v1: {full / 'td'} cannot be written: the " \
               "file system is full" in text
        assert featurestore.get_training_datasets() == [] and list(full.iterdir()) == []
    finally:
        subprocess.run(["umount", "-l", str(full)], capture_output=True)
