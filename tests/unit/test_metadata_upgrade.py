"""A metadata store made by the hand-written migrations (before SQLAlchemy and Alembic) is upgraded
in place, on SQLite and on MariaDB; the revisions are re-runnable (MySQL commits each DDL)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import datetime, timezone

import mysql.connector
import pytest

from featurestore_spark.metadata import Commit, Document, Feature, FeatureGroup
from featurestore_spark.metadata.mysql import MysqlMetadataStore
from featurestore_spark.metadata.sqlite import SqliteMetadataStore
from featurestore_spark.metadata.upgrade import head

from .legacy_metadata_schema import MIGRATIONS, MYSQL_TYPES, SQLITE_TYPES
from .test_metadata import mysql_database

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def make_legacy(execute, types: dict[str, str], upto: int) -> None:
    """The tables and rows the code before Alembic made: migrations 1..upto, one feature group."""
    execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
            "applied_at VARCHAR(64) NOT NULL)")
    for number, statements in enumerate(MIGRATIONS[:upto], 1):
        for statement in statements:
            execute(statement.format(**types))
        execute(f"INSERT INTO schema_migrations VALUES ({number}, '2026-11-01T00:00:00+00:00')")
    execute("INSERT INTO feature_groups (project, name, version, description, primary_key, "
            "partition_by, event_time, location, created_at, creator) VALUES ('p', 'teams', 1, "
            "'clubs', '[\"id\"]', '[]', NULL, '/w/teams_1', '2026-11-01T00:00:00.000000+00:00', "
            "'me')")
    execute("INSERT INTO features VALUES (1, 0, 'id', 'int', 'the key'), (1, 1, 'x', 'double', '')")
    execute("INSERT INTO commits VALUES (1, 0, '2026-11-01T00:00:00.000000+00:00', 'create', 2, 0, "
            "0, 'me')")


def expected() -> FeatureGroup:
    return FeatureGroup("p", "teams", 1, "clubs", (Feature("id", "int", "the key", True, False),
                                                   Feature("x", "double", "", False, False)),
                        ("id",), (), None, "/w/teams_1", T0, "me")


def check_upgraded(store) -> None:
    assert store.schema_version() == head()
    assert store.get_feature_group("p", "teams", 1) == expected()
    assert store.commits("p", "teams", 1) == [Commit(0, T0, "create", 2, 0, 0, "me")]
    before = store.generation()
    store.add_commit(expected(), Commit(1, T0.replace(hour=1), "append", 1, 0, 0, "me"),
                     [Document("p", "fg.report", "teams", 1, 1, {"ok": True}, T0)])
    store.set_online(expected(), True, 1)
    assert store.generation() == before + 1
    assert [c.commit_id for c in store.commits("p", "teams", 1)] == [0, 1]
    assert store.documents("p", "fg.report", "teams", 1)[0].body == {"ok": True}


@pytest.mark.parametrize("upto", [5, 2])
def test_sqlite_store_of_the_old_schema_is_upgraded_in_place(tmp_path, upto):
    path = tmp_path / "metadata.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        make_legacy(conn.execute, SQLITE_TYPES, upto)
    store = SqliteMetadataStore(path)
    check_upgraded(store)
    store.close()
    again = SqliteMetadataStore(path)                  # reopening applies nothing
    assert again.schema_version() == head() and again.get_feature_group("p", "teams").online
    again.close()


@pytest.mark.parametrize("upto", [5, 2])
def test_mysql_store_of_the_old_schema_is_upgraded_in_place_and_reruns(mysql_settings, upto):
    with mysql_database(mysql_settings) as (database, query):
        with closing(mysql.connector.connect(**mysql_settings.connect_args(),
                                             autocommit=True)) as conn:
            cur = conn.cursor()
            cur.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
            cur.execute(f"USE `{database}`")
            make_legacy(cur.execute, MYSQL_TYPES, upto)
        store = MysqlMetadataStore(mysql_settings, database)
        check_upgraded(store)
        store.close()
        # a migration cut off after its DDL (committed on its own) and before its version row:
        # running it again finishes it
        query("UPDATE alembic_version SET version_num = '0003'")
        again = MysqlMetadataStore(mysql_settings, database)
        assert again.schema_version() == head()
        assert query("SELECT COUNT(*) FROM metadata_generation") == [(1,)]
        assert again.get_feature_group("p", "teams").online
        again.close()


def test_head_names_the_latest_revision():
    """HEAD (read on every open, without loading Alembic) is the revision Alembic finds last."""
    from featurestore_spark.metadata.revisions import HEAD
    assert HEAD == head()


def test_migrations_run_from_the_zipped_package(tmp_path):
    """A driver in cluster deploy mode imports the package from the zip spark-submit ships
    (--py-files): the revisions are read from it too."""
    import os
    import subprocess
    import sys

    from featurestore_spark.packaging import build_zip

    package = build_zip(tmp_path / "featurestore_spark.zip")
    script = ("import featurestore_spark.metadata.sqlite as m, sys\n"
              "assert '.zip' in m.__file__, m.__file__\n"
              f"store = m.SqliteMetadataStore({str(tmp_path / 'm.db')!r})\n"
              "print(store.schema_version())\n")
    env = {**os.environ, "PYTHONPATH": str(package)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == head()
