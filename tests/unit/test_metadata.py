"""The metadata store contract, run against SQLite and MySQL (MariaDB), and what only MySQL has:
the migration lock, connection errors, a FeatureStore whose metadata lives on the server."""

from __future__ import annotations

import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator

import mysql.connector
import pytest

from featurestore_spark.config import MysqlSettings
from featurestore_spark.errors import (ConfigurationError, FeatureGroupExists,
                                       FeatureGroupNotFound, MetadataStoreError,
                                       TrainingDatasetExists, TrainingDatasetNotFound)
from featurestore_spark.metadata import (FG_STATISTICS, FG_SUITE, TD_STATISTICS, Commit, Document,
                                         Feature, FeatureGroup, MetadataStore, TrainingDataset)
from sqlalchemy.exc import IntegrityError

from featurestore_spark.metadata.upgrade import head
from featurestore_spark.metadata.mysql import MysqlMetadataStore, migration_lock
from featurestore_spark.metadata.sqlite import SqliteMetadataStore

from ..conftest import ROOT, settings_env
from .conftest import Backend, mysql_database
from .helpers import rows

T0 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)
Query = Callable[[str], list]


def group(name="teams", version=1, project="p") -> FeatureGroup:
    return FeatureGroup(project, name, version, "d",
                        (Feature("id", "int", "key", True), Feature("x", "double")),
                        ("id",), (), None, f"/w/{name}_{version}", T0, "me")


def commit(i: int) -> Commit:
    return Commit(i, T0, "append", 10 * i, i, 0, "me")


def other_commit(i: int) -> Commit:
    """Another Delta commit with the id of ``commit(i)`` (a later timestamp)."""
    return Commit(i, T0 + timedelta(seconds=1), "append", 1, 0, 0, "me")


# -- the contract: every backend --------------------------------------------------------------------
def test_migrations_are_applied_once(backend):
    store = backend.open()
    assert store.schema_version() == head()
    backend.open()  # reopening must not re-apply
    assert backend.query("SELECT version_num FROM alembic_version") == [(head(),)]


def test_register_read_and_commits(backend):
    store = backend.open()
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


def test_names_are_case_sensitive_and_sorted_alike(backend):
    store = backend.open()
    for name in ("b", "a_2", "a"):
        store.create_feature_group(group(name, project="q"), commit(0))
    store.create_feature_group(group("a", project="Q"), commit(0))
    assert [(g.project, g.name) for g in store.list_feature_groups()] == [
        ("Q", "a"), ("q", "a"), ("q", "a_2"), ("q", "b")]
    with pytest.raises(FeatureGroupNotFound):
        store.get_feature_group("q", "A")


def test_online_flag_and_long_text(backend):
    store = backend.open()
    long_type = "struct<" + ",".join(f"f{i}:string" for i in range(3000)) + ">"   # > 64 KiB
    described = replace(group(), description="é" * 70_000,
                        features=(Feature("id", "int", "key", True), Feature("s", long_type)))
    store.create_feature_group(described, commit(0))
    store.set_online(described, True, 0)
    got = store.get_feature_group("p", "teams", 1)
    assert (got.online, got.online_commit) == (True, 0)
    assert got.description == described.description and got.features[1].type == long_type
    store.set_online(got, False, None)
    got = store.get_feature_group("p", "teams", 1)
    assert (got.online, got.online_commit) == (False, None)


def test_duplicate_registration_is_refused_and_atomic(backend):
    store = backend.open()
    store.create_feature_group(group(), commit(0))
    changed = FeatureGroup(**{**group().__dict__, "description": "other"})
    with pytest.raises(FeatureGroupExists):
        store.create_feature_group(changed, commit(5))
    assert store.get_feature_group("p", "teams", 1).description == "d"
    assert store.commits("p", "teams", 1) == [commit(0)]


def test_failed_commit_leaves_nothing(backend):
    store = backend.open()
    store.create_feature_group(group(), commit(0))
    with pytest.raises(backend.integrity_error):   # another commit 0 is recorded already
        store.add_commit(group().with_features((Feature("id", "int"),)), other_commit(0))
    assert store.get_feature_group("p", "teams", 1).feature_names == ("id", "x")
    # the same commit again (its writer, after a reconcile registered it first): accepted as is
    store.add_commit(group(), commit(0))
    assert store.commits("p", "teams", 1) == [commit(0)]


def test_documents_are_kept_per_version_and_number_and_go_with_it(backend):
    store = backend.open()
    stats = lambda n, body: Document("p", FG_STATISTICS, "teams", 1, n, body, T0)  # noqa: E731
    big = {"histograms": {f"f{i}": {"counts": list(range(200))} for i in range(60)}}  # > 64 KiB
    store.create_feature_group(group(), commit(0), [stats(0, big)])
    store.create_feature_group(group(version=2), commit(0))
    store.add_commit(group(), commit(1), [stats(1, {"mean": 1.5, "name": "é"})])
    store.put_document(Document("p", FG_SUITE, "teams", 1, 1, {"expectations": []}, T0))
    store.put_document(stats(1, {"mean": 2.5}))                  # replaces commit 1's
    got = store.documents("p", FG_STATISTICS, "teams", 1)
    assert [(d.number, d.body) for d in got] == [(0, big), (1, {"mean": 2.5})]
    assert got[0] == stats(0, big)
    assert store.documents("p", FG_STATISTICS, "teams", 1, number=1)[0].body == {"mean": 2.5}
    assert store.documents("p", FG_STATISTICS, "teams", 2) == []
    assert [d.kind for d in store.documents("p", FG_SUITE, "teams", 1)] == [FG_SUITE]
    # a commit that cannot be recorded records none of its documents
    with pytest.raises(backend.integrity_error):
        store.add_commit(group(), other_commit(1), [stats(7, {"x": 1})])
    assert store.documents("p", FG_STATISTICS, "teams", 1, number=7) == []
    with pytest.raises(ValueError):                              # NaN is not JSON
        store.put_document(stats(8, {"x": float("nan")}))
    store.put_document(Document("p", TD_STATISTICS, "teams", 1, 0, {"td": True}, T0))
    store.delete_feature_group("p", "teams", 1)
    assert store.documents("p", FG_STATISTICS, "teams", 1) == []
    assert store.documents("p", FG_SUITE, "teams", 1) == []
    assert store.documents("p", TD_STATISTICS, "teams", 1)[0].body == {"td": True}  # not the group's


def test_not_found_and_delete(backend):
    store = backend.open()
    with pytest.raises(FeatureGroupNotFound, match="teams"):
        store.get_feature_group("p", "teams")
    store.create_feature_group(group(), commit(0))
    store.delete_feature_group("p", "teams", 1)
    with pytest.raises(FeatureGroupNotFound):
        store.get_feature_group("p", "teams", 1)
    assert backend.query("SELECT COUNT(*) FROM commits") == [(0,)]
    assert backend.query("SELECT COUNT(*) FROM features") == [(0,)]
    with pytest.raises(FeatureGroupNotFound):
        store.delete_feature_group("p", "teams", 1)


def test_a_second_store_sees_writes_of_the_first(backend):
    reader, writer = backend.open(), backend.open()
    assert reader.list_feature_groups() == []     # a read before the write must not pin a snapshot
    writer.create_feature_group(group(), commit(0))
    assert reader.get_feature_group("p", "teams", 1) == group()
    writer.add_commit(group(), commit(1))
    assert reader.commits("p", "teams", 1) == [commit(0), commit(1)]


def test_generation_moves_with_every_change_a_plan_depends_on(backend):
    store, other = backend.open(), backend.open()
    seen = [store.generation()]

    def moved() -> bool:
        now = store.generation()
        assert other.generation() == now             # the same number for every reader
        seen.append(now)
        return seen[-1] != seen[-2]

    store.create_feature_group(group(), commit(0))
    assert moved()
    other.add_commit(group(), commit(1))              # the same features: plans still hold
    assert not moved()
    other.add_commit(group().with_features(group().features + (Feature("y", "string"),)), commit(2))
    assert moved()
    store.set_online(group(), True, 2)
    assert moved()
    store.set_online(group(), True, 3)                # only the synced commit: no change
    assert not moved()
    store.put_document(Document("p", FG_SUITE, "teams", 1, 1, {"x": 1}, T0))
    assert not moved()
    store.delete_feature_group("p", "teams", 1)
    assert moved()
    store.create_feature_group(group(version=2), commit(0))
    assert moved()
    with pytest.raises(FeatureGroupExists):           # a refused change moves nothing
        store.create_feature_group(group(version=2), commit(0))
    assert not moved()
    store.close()
    assert store.generation() == seen[-1]             # usable after close (a new connection)


def training_dataset(name="td", version=1, project="p", **changes) -> TrainingDataset:
    fields = dict(
        project=project, name=name, version=version, description="für Modelle",
        data_format="tfrecords", location=f"/w/td/{name}_{version}",
        features=(Feature("id", "bigint"), Feature("tags", "array<string>"),
                  Feature("s", "struct<a:int,b:map<string,double>>")),
        splits={"kind": "random", "seed": 7,
                "splits": [{"name": "train", "fraction": 0.8}, {"name": "test", "fraction": 0.2}]},
        source={"kind": "query", "query": {"root": {"features": ["id"], "as_of": 3}},
                "feature_groups": [{"name": "teams", "version": 1, "commit": 3}]},
        created_at=T0, creator="me")
    return TrainingDataset(**{**fields, **changes})


def test_training_datasets_register_read_list_delete(backend):
    store = backend.open()
    with pytest.raises(TrainingDatasetNotFound, match="td"):
        store.get_training_dataset("p", "td")
    assert store.list_training_datasets() == []
    first, second = training_dataset(), training_dataset(version=2, data_format="csv",
                                                         splits={"kind": "none", "splits": []})
    store.create_training_dataset(first)
    store.create_training_dataset(second)
    store.create_training_dataset(training_dataset("other", project="q"))
    assert store.get_training_dataset("p", "td", 1) == first      # JSON and types round-trip
    assert store.get_training_dataset("p", "td") == second        # the latest
    assert first.split_names == ("train", "test") and second.split_names == ()
    assert [(d.name, d.version) for d in store.list_training_datasets("p")] == [("td", 1), ("td", 2)]
    assert [d.project for d in store.list_training_datasets()] == ["p", "p", "q"]
    store.delete_training_dataset("p", "td", 2)
    assert store.get_training_dataset("p", "td").version == 1
    with pytest.raises(TrainingDatasetNotFound):
        store.delete_training_dataset("p", "td", 2)
    assert backend.open().get_training_dataset("p", "td", 1) == first   # another connection


def test_training_dataset_version_is_registered_once(backend):
    store = backend.open()
    store.create_training_dataset(training_dataset())
    with pytest.raises(TrainingDatasetExists):
        store.create_training_dataset(training_dataset(description="other"))
    assert store.get_training_dataset("p", "td", 1).description == "für Modelle"
    long_source = {"kind": "dataframe", "plan": "x" * 100_000}      # > 64 KiB of JSON
    store.create_training_dataset(training_dataset(version=2, source=long_source))
    assert store.get_training_dataset("p", "td", 2).source == long_source


# -- MySQL only -------------------------------------------------------------------------------------
def test_mysql_migration_waits_for_the_lock(mysql_settings):
    with mysql_database(mysql_settings) as (database, query), \
            closing(mysql.connector.connect(**mysql_settings.connect_args())) as holder:
        cur = holder.cursor()
        cur.execute("SELECT GET_LOCK(%s, 0)", (migration_lock(database),))
        assert cur.fetchone() == (1,)
        with pytest.raises(MetadataStoreError, match="another process"):
            MysqlMetadataStore(mysql_settings, database, lock_timeout_seconds=0.2)
        assert query("SHOW TABLES") == []           # nothing migrated while the lock was held
        with ThreadPoolExecutor(1) as pool:
            opening = pool.submit(MysqlMetadataStore, mysql_settings, database)
            time.sleep(0.5)
            assert not opening.done()
            cur.execute("SELECT RELEASE_LOCK(%s)", (migration_lock(database),))
            cur.fetchall()
            store = opening.result(timeout=30)
        assert store.schema_version() == head()
        store.close()


def test_mysql_concurrent_opens_migrate_once(mysql_settings):
    with mysql_database(mysql_settings) as (database, query):
        with ThreadPoolExecutor(4) as pool:
            stores = list(pool.map(lambda _: MysqlMetadataStore(mysql_settings, database), range(4)))
        assert query("SELECT version_num FROM alembic_version") == [(head(),)]
        for store in stores:
            store.close()


def test_mysql_wrong_password_is_a_clear_error(mysql_settings):
    wrong = replace(mysql_settings, password="not-the-Password-4711")
    with pytest.raises(MetadataStoreError, match="Access denied") as e:
        MysqlMetadataStore(wrong, "featurestore_never_created")
    message = str(e.value)
    assert f"{wrong.describe()}/featurestore_never_created" in message
    assert wrong.password not in message
    assert not mysql_settings.password or mysql_settings.password not in message


def test_mysql_database_name_is_checked_before_connecting():
    unreachable = MysqlSettings(unix_socket="/nonexistent/mysqld.sock")   # fails at once
    with pytest.raises(ConfigurationError, match="metadata database"):
        MysqlMetadataStore(unreachable, "meta`; DROP DATABASE x")


def test_feature_store_with_metadata_on_mysql(spark, fs_home, mysql_settings, mysql_env):
    import featurestore_spark as fs
    from featurestore_spark import featurestore
    from featurestore_spark.config import load_settings

    project = f"mysqlmeta_{uuid.uuid4().hex[:8]}"
    with mysql_database(mysql_settings) as (database, query):
        env = {**settings_env(fs_home, project), **mysql_env,
               "FEATURESTORE_METADATA_BACKEND": "mysql", "FEATURESTORE_METADATA_DATABASE": database}
        store = fs.connect(load_settings(ROOT / "conf" / "featurestore.toml", env), spark)
        try:
            assert isinstance(store.metadata, MysqlMetadataStore)
            df = spark.createDataFrame([(1, "ajax", 2.5), (2, "psv", 1.0)],
                                       "team_id int, name string, rating double")
            featurestore.create_featuregroup(df, "teams", primary_key=["team_id"],
                                             description="clubs")
            assert rows(featurestore.get_featuregroup("teams")) == [(1, "ajax", 2.5), (2, "psv", 1.0)]
            assert query("SELECT project, name, version, description FROM feature_groups") == [
                (project, "teams", 1, "clubs")]
            assert query("SELECT name FROM features ORDER BY position") == [
                ("team_id",), ("name",), ("rating",)]
            assert [c.operation for c in featurestore.get_featuregroup_commits("teams")] == ["create"]
            featurestore.delete_featuregroup("teams")
            assert query("SELECT COUNT(*) FROM feature_groups") == [(0,)]
        finally:
            store.close()
            store.metadata.close()


def test_the_schema_module_matches_what_the_migrations_make(backend):
    """metadata/schema.py (what statements are built from) and the Alembic revisions (what
    makes the tables) describe the same tables, columns, types, keys and indexes."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from featurestore_spark.metadata import schema
    store = backend.open()
    with store._engine.connect() as conn:       # noqa: SLF001  (our own store's engine)
        assert compare_metadata(MigrationContext.configure(conn), schema.metadata) == []
