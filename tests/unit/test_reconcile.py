"""Metadata and Delta that disagree: a writer killed between its Delta commit and the
registration, a registration that fails (its undo unregistered too), changes made to a table
outside the feature store. The next write registers what it finds; ``featurestore check`` reports
every disagreement between metadata, Delta, catalog and online tables, and ``--repair`` fixes what
it can; ``sql()`` runs queries only."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from featurestore_spark import featurestore
from featurestore_spark.cli import main as cli
from featurestore_spark.errors import FeatureStoreError, InvalidInputError, MetadataStoreError
from featurestore_spark.names import database_name
from featurestore_spark.offline.delta import DELETING

from ..conftest import ROOT, settings_env
from .helpers import rows

SCHEMA = "team_id int, name string, score double"


HERE = Path(__file__).parent


@pytest.fixture
def teams(store, monkeypatch):
    """Feature group teams (commit 0: teams 1 and 2); commits count as settled at once."""
    from featurestore_spark.offline import reconcile
    monkeypatch.setattr(reconcile, "IN_FLIGHT_SECONDS", 0)
    featurestore.create_featuregroup(frame(store, (1, "a", 1.0), (2, "b", 2.0)), "teams",
                                     primary_key="team_id")
    return store


def frame(store, *data):
    return store.spark.createDataFrame(list(data), SCHEMA)


def operations(store, name="teams"):
    return [(c.commit_id, c.operation) for c in store.commits(name)]


def test_a_commit_whose_writer_was_killed_is_registered_by_the_next_write(teams, fs_home,
                                                                           tmp_path, monkeypatch):
    """A real writer process, SIGKILLed between its Delta commit and the registration."""
    env = {**os.environ, **settings_env(fs_home, teams.settings.project),
           "FEATURESTORE_SPARK_MASTER": "local[1]", "PYTHONPATH": str(ROOT)}
    barrier = tmp_path / "go"
    barrier.touch()
    writer = subprocess.Popen([sys.executable, str(HERE / "concurrent_writer.py"), str(barrier),
                               "3", "1", "stall"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        assert json.loads(writer.stdout.readline()) == {"ready": True}
        assert json.loads(writer.stdout.readline()) == {"committed": True}
    finally:
        writer.kill()                                             # SIGKILL: nothing of it runs
        writer.wait(timeout=60)
    assert writer.returncode == -signal.SIGKILL
    assert operations(teams) == [(0, "create")]
    report = teams.check()
    assert not report.consistent
    assert report.problems == [
        "teams v1: Delta commit 1 is not registered: an upsert of this feature store that was "
        "never registered (its writer stopped between the Delta commit and the metadata); the "
        "next write registers it, or run `featurestore check --repair`"]
    # a write right after it leaves it to its writer (it may be registering it this second)
    from featurestore_spark.offline import reconcile
    monkeypatch.setattr(reconcile, "IN_FLIGHT_SECONDS", 3600)
    featurestore.insert_into_featuregroup(frame(teams, (4, "d", 4.0)), "teams")
    assert operations(teams) == [(0, "create"), (2, "append")]
    assert "Delta commit 1 is not registered" in teams.check().problems[0]
    assert "(in flight: its writer may be registering it now)" in teams.check().problems[0]
    # once it is older, the next write registers it, gap and all
    monkeypatch.setattr(reconcile, "IN_FLIGHT_SECONDS", 0)
    featurestore.insert_into_featuregroup(frame(teams, (5, "e", 5.0)), "teams")
    assert operations(teams) == [(0, "create"), (1, "upsert"), (2, "append"), (3, "append")]
    assert [c.rows_inserted for c in teams.commits("teams")] == [2, 1, 1, 1]
    assert rows(featurestore.get_featuregroup("teams")) == [
        (1, "a", 1.0), (2, "b", 2.0), (3, "t3", 3.0), (4, "d", 4.0), (5, "e", 5.0)]
    assert teams.check().consistent


def test_a_locked_metadata_store_undoes_the_write_and_both_are_registered_later(teams, monkeypatch):
    """Another process holds the SQLite metadata file's write lock past the timeout: the write
    fails with a MetadataStoreError saying so, its Delta commit is undone by a RESTORE that cannot
    be registered either; once the lock is gone, the next write registers both."""
    from featurestore_spark.metadata.sqlite import SqliteMetadataStore
    impatient = SqliteMetadataStore(teams.settings.metadata_path, timeout_seconds=0.5)
    monkeypatch.setattr(teams.ctx, "metadata", impatient)
    holder = sqlite3.connect(teams.settings.metadata_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")                             # the other writer's lock
    try:
        with pytest.raises(MetadataStoreError) as e:
            featurestore.insert_into_featuregroup(frame(teams, (3, "c", 3.0)), "teams")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "append into teams v1 was undone: its Delta commit 1 could not be registered" in str(e.value)
    assert "database is locked: another process held its write lock for over 0.5 s" in str(e.value)
    assert rows(featurestore.get_featuregroup("teams")) == [(1, "a", 1.0), (2, "b", 2.0)]
    problems = teams.check().problems
    assert len(problems) == 2 and "Delta commit 2 is not registered: a RESTORE that undid a " \
        "write whose registration failed" in problems[1]
    featurestore.insert_into_featuregroup(frame(teams, (4, "d", 4.0)), "teams")
    assert operations(teams) == [(0, "create"), (1, "append"), (2, "undo"), (3, "append")]
    assert rows(featurestore.get_featuregroup("teams")) == [
        (1, "a", 1.0), (2, "b", 2.0), (4, "d", 4.0)]
    assert rows(featurestore.get_featuregroup("teams", as_of=1)) == [
        (1, "a", 1.0), (2, "b", 2.0), (3, "c", 3.0)]               # time travel sees them all
    impatient.close()


def test_changes_made_outside_are_reported_and_repaired(teams, fs_home, monkeypatch, capsys):
    spark, project = teams.spark, teams.settings.project
    for key, value in settings_env(fs_home, project).items():    # the CLI reads settings there
        monkeypatch.setenv(key, value)
    table = f"{database_name(project)}.teams_1"
    spark.sql(f"DELETE FROM {table} WHERE team_id = 1")          # Spark SQL, not the store
    with teams.online.backend.connection(project) as conn:
        conn.cursor().execute("CREATE TABLE stray_1 (x INTEGER)")
        conn.commit()
    ghost = Path(teams.feature_group("teams").location).parent / "ghost_1"
    ghost.mkdir()
    (ghost / "part-0.parquet").write_bytes(b"left by a failed create")
    assert cli(["check", "--project", project]) == 1
    out = capsys.readouterr().out
    assert f"feature store {project}: 1 feature group version(s), 3 problem(s)" in out, out
    assert "teams v1: Delta commit 1 is not registered: a DELETE made outside the feature " \
           "store" in out
    assert "online table stray_1 (" in out and "is no online feature group" in out
    assert f"{ghost} holds files no registered feature group owns" in out
    ghost.joinpath("part-0.parquet").unlink()
    ghost.rmdir()

    assert cli(["check", "--project", project, "--repair", "--json"]) == 1   # stray_1 stays
    import json
    report = json.loads(capsys.readouterr().out)
    assert report["repaired"] == ["teams v1: registered Delta commit 1 as 'external DELETE'"]
    assert [p.split(" (")[0] for p in report["problems"]] == ["online table stray_1"]
    [*_, deleted] = teams.commits("teams")
    assert (deleted.operation, deleted.rows_deleted) == ("external DELETE", 1)
    assert rows(spark.table(table)) == [(2, "b", 2.0)]


def test_a_schema_changed_outside_stops_writes_with_the_reason(teams):
    location = teams.feature_group("teams").location
    (teams.spark.range(2).write.format("delta").mode("overwrite")
     .option("overwriteSchema", "true").save(location))
    with pytest.raises(FeatureStoreError) as stopped:
        featurestore.insert_into_featuregroup(frame(teams, (3, "c", 3.0)), "teams")
    text = str(stopped.value)
    assert "was changed outside the feature store by commit(s) 1" in text
    assert "column 'team_id' (int) of the feature group is missing" in text
    assert "Restore the table to commit 0" in text
    assert operations(teams) == [(0, "create")]
    assert "no longer matches its features" in " ".join(teams.check(repair=True).problems)


def test_sql_runs_queries_only(teams):
    before = rows(featurestore.get_featuregroup("teams"))
    for statement in ("DELETE FROM teams_1", "drop table teams_1", "UPDATE teams_1 SET score = 0",
                      "/* a comment */ -- another\n INSERT INTO teams_1 VALUES (9, 'z', 9.0)",
                      "WITH x AS (SELECT 9, 'z', 9.0) INSERT INTO teams_1 SELECT * FROM x",
                      "FROM teams_1 INSERT INTO teams_1 SELECT *",
                      "SELECT 1; DROP TABLE teams_1", "SET spark.sql.shuffle.partitions = 1",
                      # comments Spark's lexer reads otherwise than a regex (nested, ended by
                      # \r, continued by a backslash): Spark gets the text from the word checked
                      "/* /* */ SHOW */ DROP TABLE teams_1", "-- x\\\nSHOW\nDELETE FROM teams_1",
                      "--\rDELETE FROM teams_1 /*\nSHOW */"):
        with pytest.raises(InvalidInputError) as refused:
            featurestore.sql(statement)
        assert "nothing was written" not in str(refused.value)
    with pytest.raises(InvalidInputError, match="sql\\(\\) reads: .* not DELETE"):
        featurestore.sql("DELETE FROM teams_1")
    with pytest.raises(InvalidInputError, match="TABLE_OR_VIEW_NOT_FOUND"):
        featurestore.sql("SELECT * FROM nosuch")
    assert rows(featurestore.get_featuregroup("teams")) == before
    assert featurestore.sql("-- how many\nSELECT count(*) AS n FROM teams_1;").first().n == 2
    assert rows(featurestore.sql("WITH t AS (SELECT * FROM teams_1) SELECT name FROM t")) == \
        [("a",), ("b",)]
    assert "teams_1" in [r.tableName for r in featurestore.sql("SHOW TABLES").collect()]
    featurestore.sql("EXPLAIN DELETE FROM teams_1").collect()      # plans, runs nothing
    assert rows(featurestore.get_featuregroup("teams")) == before
    assert operations(teams) == [(0, "create")]


def test_check_reports_tables_gone_or_changed_outside_and_interrupted_deletes(store):
    """What `featurestore check` finds when a table is changed behind the store's back: an online
    table dropped or given other columns, a Delta table removed or made anew with fewer commits,
    a delete cut short (its marker left)."""
    spark = store.spark
    df = spark.createDataFrame([(1, "a", 1.0), (2, "b", 2.0)], SCHEMA)
    for name in ("served", "gone", "remade", "halfdeleted"):
        featurestore.create_featuregroup(df, name, primary_key="team_id", online=name == "served")
    featurestore.insert_into_featuregroup(frame(store, (3, "c", 3.0)), "remade")
    assert store.check().consistent
    with store.online.backend.connection(store.settings.project) as conn:
        conn.cursor().execute("DROP TABLE served_1")
        conn.commit()
    location = {n: store.feature_group(n).location for n in ("gone", "remade", "halfdeleted")}
    shutil.rmtree(location["gone"])
    shutil.rmtree(location["remade"])
    df.write.format("delta").save(location["remade"])            # commit 0 only
    Path(location["halfdeleted"], DELETING).touch()
    problems = store.check().problems
    assert problems == [
        "gone v1: no Delta table at " + location["gone"] + ": its data is gone; delete the "
        "feature group",
        "halfdeleted v1: a delete was interrupted: run the delete again",
        "remade v1: commit(s) 1 are registered but the Delta table's latest commit is 0",
        "served v1 is online but has no online table: run `featurestore sync-online served --full`",
    ], problems
    store.sync_online("served", full=True)
    with store.online.backend.connection(store.settings.project) as conn:
        conn.cursor().execute("ALTER TABLE served_1 ADD COLUMN extra INTEGER")
        conn.commit()
    served = [p for p in store.check().problems if p.startswith("served")]
    assert served == ["served v1: the online table's columns (team_id, name, score, extra) are not "
                      "its features' (team_id, name, score): run `featurestore sync-online served "
                      "--full`"]
    # the online store's own SQL reads too
    for statement in ("DELETE FROM served_1", "DROP TABLE served_1", "", "-- only\n"):
        with pytest.raises(InvalidInputError, match=r"sql\(online=True\) reads"):
            featurestore.sql(statement, online=True)
    assert featurestore.sql("SELECT count(*) AS n FROM served_1", online=True).first().n == 2


def test_a_first_sync_that_fails_leaves_the_group_offline_only(store):
    long_key = "k" * 300              # longer than an online string key may be
    featurestore.create_featuregroup(store.spark.createDataFrame([(long_key, 1.0)], "k string, v double"),
                                     "keys", primary_key="k")
    with pytest.raises(InvalidInputError, match="longer than"):
        store.sync_online("keys")
    assert store.feature_group("keys").online is False
