"""The SQLite metadata store: migrations, registration, commits, deletion."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

import pytest

from featurestore_spark.errors import FeatureGroupExists, FeatureGroupNotFound
from featurestore_spark.metadata import Commit, Feature, FeatureGroup
from featurestore_spark.metadata.migrations import MIGRATIONS
from featurestore_spark.metadata.sqlite import SqliteMetadataStore

T0 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)


def group(name="teams", version=1, project="p") -> FeatureGroup:
    return FeatureGroup(project, name, version, "d",
                        (Feature("id", "int", "key", True), Feature("x", "double")),
                        ("id",), (), None, f"/w/{name}_{version}", T0, "me")


def commit(i: int) -> Commit:
    return Commit(i, T0, "append", 10 * i, i, 0, "me")


def test_migrations_are_applied_once(tmp_path):
    store = SqliteMetadataStore(tmp_path / "m.db")
    assert store.schema_version() == len(MIGRATIONS)
    SqliteMetadataStore(tmp_path / "m.db")  # reopening must not re-apply
    with sqlite3.connect(tmp_path / "m.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)


def test_register_read_and_commits(tmp_path):
    store = SqliteMetadataStore(tmp_path / "m.db")
    store.create_feature_group(group(), commit(0))
    store.create_feature_group(group(version=2), commit(0))
    got = store.get_feature_group("p", "teams", 1)
    assert got == group()
    assert store.get_feature_group("p", "teams").version == 2
    evolved = got.with_features(got.features + (Feature("y", "string"),))
    store.add_commit(evolved, commit(1))
    assert store.get_feature_group("p", "teams", 1).feature_names == ("id", "x", "y")
    assert store.commits("p", "teams", 1) == [commit(0), commit(1)]
    assert [(g.name, g.version) for g in store.list_feature_groups("p")] == [("teams", 1), ("teams", 2)]
    assert store.list_feature_groups("other") == []


def test_duplicate_registration_is_refused_and_atomic(tmp_path):
    store = SqliteMetadataStore(tmp_path / "m.db")
    store.create_feature_group(group(), commit(0))
    changed = FeatureGroup(**{**group().__dict__, "description": "other"})
    with pytest.raises(FeatureGroupExists):
        store.create_feature_group(changed, commit(5))
    assert store.get_feature_group("p", "teams", 1).description == "d"
    assert store.commits("p", "teams", 1) == [commit(0)]


def test_failed_commit_leaves_nothing(tmp_path):
    store = SqliteMetadataStore(tmp_path / "m.db")
    store.create_feature_group(group(), commit(0))
    with pytest.raises(sqlite3.IntegrityError):   # commit 0 is recorded already
        store.add_commit(group().with_features((Feature("id", "int"),)), commit(0))
    assert store.get_feature_group("p", "teams", 1).feature_names == ("id", "x")


def test_not_found_and_delete(tmp_path):
    store = SqliteMetadataStore(tmp_path / "m.db")
    with pytest.raises(FeatureGroupNotFound, match="teams"):
        store.get_feature_group("p", "teams")
    store.create_feature_group(group(), commit(0))
    store.delete_feature_group("p", "teams", 1)
    with pytest.raises(FeatureGroupNotFound):
        store.get_feature_group("p", "teams", 1)
    with sqlite3.connect(tmp_path / "m.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM commits").fetchone()[0] == 0
        assert conn.execute("SELECT COUNT(*) FROM features").fetchone()[0] == 0
    with pytest.raises(FeatureGroupNotFound):
        store.delete_feature_group("p", "teams", 1)
