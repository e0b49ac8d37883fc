"""Deleting a feature group when a part fails on the way: the online store unreachable (a real
MariaDB behind wrong settings), the metadata store failing, files that cannot be removed. A failed
delete leaves the feature group whole, or unregistered with files that running the delete again
removes; a rerun always completes and leaves nothing behind."""

from __future__ import annotations

import itertools
import socket
from pathlib import Path

import pytest

import featurestore_spark as fs
from featurestore_spark import featurestore
from featurestore_spark.config import load_settings
from featurestore_spark.errors import (FeatureGroupNotFound, IncompleteDeleteError,
                                       InvalidInputError, MetadataStoreError, OnlineStoreError)
from featurestore_spark.offline.delta import DELETING
from featurestore_spark.names import database_name

from ..conftest import ROOT, RUN, settings_env
from .conftest import mysql_env
from .helpers import rows, snapshot

SCHEMA = "team_id int, name string, score double"
_counter = itertools.count()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]          # nothing listens there once the socket is closed


def online_tables(store) -> list[str]:
    with store.online.backend.connection(store.settings.project) as conn:
        cur = conn.cursor()
        cur.execute("SHOW TABLES")
        return sorted(r[0] for r in cur.fetchall())


def nothing_left(store, name: str) -> None:
    state = snapshot(store, name)
    assert state["files"] is None and state["groups"] == []
    assert f"{name}_1" not in state["tables"]
    assert not (Path(store.offline.location(store.settings.project, name, 1))).exists()


def test_delete_with_the_online_store_unreachable_leaves_the_group_whole(spark, fs_home,
                                                                          mysql_settings):
    project = f"del{RUN}{next(_counter)}_unreachable"
    env = {**settings_env(fs_home, project), "FEATURESTORE_ONLINE_BACKEND": "mysql",
           **mysql_env(mysql_settings)}
    store = fs.connect(load_settings(ROOT / "conf" / "featurestore.toml", env), spark)
    try:
        df = spark.createDataFrame([(1, "a", 1.0), (2, "b", 2.0)], SCHEMA)
        featurestore.create_featuregroup(df, "teams", primary_key="team_id", online=True)
        before = snapshot(store, "teams")
        assert online_tables(store) == ["teams_1"]
        # the same feature store (metadata, warehouse), its online store out of reach
        for broken in ({"FEATURESTORE_MYSQL_PORT": str(closed_port()),
                        "FEATURESTORE_MYSQL_UNIX_SOCKET": ""},
                       {"FEATURESTORE_MYSQL_PASSWORD": "not-the-password"}):
            cut_off = fs.connect(load_settings(ROOT / "conf" / "featurestore.toml",
                                               {**env, **broken}), spark)
            with pytest.raises(OnlineStoreError) as failed:
                featurestore.delete_featuregroup("teams", featuregroup_version=1)
            text = str(failed.value)
            assert "cannot delete feature group teams v1" in text
            assert "Nothing was deleted" in text and "run the delete again" in text
            assert "not-the-password" not in text and mysql_settings.password not in text
            cut_off.close()
            # whole: metadata, catalog, Delta files and rows, and the online table
            assert snapshot(store, "teams") == before
            assert online_tables(store) == ["teams_1"]
            assert store.feature_vector(["score"], 2) == {"score": 2.0}
        fs.connect(store.settings, spark)                  # the right settings again
        featurestore.delete_featuregroup("teams", featuregroup_version=1)
        nothing_left(store, "teams")
        assert online_tables(store) == []
        assert database_name(project) in [d.name for d in spark.catalog.listDatabases()]
    finally:
        store.close()
        with store.online.backend.connection(project) as conn:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{project}_online`")


def test_delete_with_the_metadata_store_failing_leaves_the_group_registered(store, monkeypatch):
    spark = store.spark
    featurestore.create_featuregroup(spark.createDataFrame([(1, "a", 1.0)], SCHEMA), "teams",
                                     primary_key="team_id", online=True)
    before = snapshot(store, "teams")

    def metadata_down(*args, **kwargs):
        raise ConnectionError("metadata store went away")
    monkeypatch.setattr(store.metadata, "delete_feature_group", metadata_down)
    with pytest.raises(MetadataStoreError) as failed:
        featurestore.delete_featuregroup("teams")
    text = str(failed.value)
    assert "its registration could not be removed (ConnectionError" in text
    assert "its online table was dropped (sync_online makes it again)" in text
    assert "Run the delete again" in text
    assert snapshot(store, "teams") == before             # no marker left either
    monkeypatch.undo()
    # the group is whole: readable, and a sync brings its online table back ...
    assert rows(featurestore.get_featuregroup("teams")) == [(1, "a", 1.0)]
    assert featurestore.sync_online_featuregroup("teams").mode == "full"
    assert store.feature_vector(["score"], 1) == {"score": 1.0}
    # ... or the delete runs again and completes
    featurestore.delete_featuregroup("teams")
    nothing_left(store, "teams")


def test_a_delete_stopped_after_the_registration_is_finished_by_a_rerun(store, monkeypatch):
    spark = store.spark
    featurestore.create_featuregroup(spark.createDataFrame([(1, "a", 1.0)], SCHEMA), "teams",
                                     primary_key="team_id")
    location = Path(store.feature_group("teams").location)
    from featurestore_spark import paths
    real_delete = paths._delete
    calls = []

    def stops_after_one_file(fs_, p):
        calls.append(p.getName())
        if len(calls) == 2:
            raise OSError("injected: the file system went away")
        real_delete(fs_, p)
    monkeypatch.setattr(paths, "_delete", stops_after_one_file)
    with pytest.raises(IncompleteDeleteError) as failed:
        featurestore.delete_featuregroup("teams")
    assert "was deleted from the metadata store" in str(failed.value)
    assert "run the delete again to remove them" in str(failed.value)
    monkeypatch.undo()
    assert DELETING not in calls[:2]                     # the marker goes last
    assert (location / DELETING).exists() and store.feature_groups() == []
    # what is left is not taken for another feature group's data: a create says so
    with pytest.raises(InvalidInputError, match="holds data that no registered feature group"):
        featurestore.create_featuregroup(spark.createDataFrame([(1, "a", 1.0)], SCHEMA), "teams")
    featurestore.delete_featuregroup("teams")              # the rerun finishes the job
    nothing_left(store, "teams")
    with pytest.raises(FeatureGroupNotFound):              # and a third one has nothing to do
        featurestore.delete_featuregroup("teams")
    featurestore.create_featuregroup(spark.createDataFrame([(1, "a", 1.0)], SCHEMA), "teams")


def test_unregistered_files_without_a_delete_marker_are_left_alone(store):
    """Files in a version's folder that no delete marked (a create under way, say) are not
    removed by a delete of that version: it says the version does not exist."""
    spark = store.spark
    location = store.offline.location(store.settings.project, "teams", 1)
    spark.createDataFrame([(1, "a", 1.0)], SCHEMA).write.format("delta").save(location)
    with pytest.raises(FeatureGroupNotFound):
        featurestore.delete_featuregroup("teams")
    assert (Path(location) / "_delta_log").exists()
