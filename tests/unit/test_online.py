"""Online feature groups against both online backends: SQLite (embedded) and a real MariaDB.
Writes, syncs, reads, serving, consistency checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal

import pytest

from featurestore_spark import Hops, featurestore
from featurestore_spark.cli import main as cli
from featurestore_spark.errors import (FeatureVectorNotFound, InvalidInputError, OnlineStoreError,
                                       SchemaMismatchError)
from featurestore_spark.spec import CreateSpec, ReadSpec

from ..conftest import ROOT
from .helpers import rows, snapshot

PLAYERS = "player_id long, team_id int, name string, rating double, updated timestamp"


def players(spark, data):
    return spark.createDataFrame(data, PLAYERS)


T1, T2, T3 = datetime(2026, 1, 1, 10), datetime(2026, 1, 2, 10), datetime(2026, 1, 3, 10)


def online_rows(store, name, version=None):
    return rows(store.read(ReadSpec(name, version=version, online=True)))


def assert_consistent(store, name):
    report = store.check_online(name)
    assert report.consistent, report.as_dict()
    return report


def test_create_online_holds_latest_row_per_key(online_store):
    spark = online_store.spark
    df = players(spark, [(1, 10, "ann", 7.5, T1), (1, 10, "ann", 8.0, T2), (2, 10, "bob", 6.0, T1)])
    group = (Hops.createFeaturegroup("players").setDataframe(df).setPrimaryKey("player_id")
             .setEventTime("updated").setOnline().write())
    assert group.online and group.online_commit == 0
    assert online_rows(online_store, "players") == [(1, 10, "ann", 8.0, T2), (2, 10, "bob", 6.0, T1)]
    assert_consistent(online_store, "players")
    # the offline feature group keeps every row
    assert len(featurestore.get_featuregroup("players").collect()) == 3


def test_types_round_trip(online_store):
    spark = online_store.spark
    schema = ("k string, flag boolean, small tinyint, n int, big bigint, f float, d double, "
              "amount decimal(12,3), day date, at timestamp, tags array<string>, "
              "attrs map<string,int>, point struct<x:double,y:double>")
    awkward = "tab\there, newline\nthere, back\\slash, quote ' \" and ünïcode ✓"
    data = [("a", True, 1, 2, 2**40, 0.5, 1 / 3, Decimal("1234.567"), date(2026, 3, 29),
             datetime(2026, 3, 29, 1, 30, 0, 123456), ["x", awkward], {"m": 1}, (1.0, -2.5)),
            ("A", False, None, None, None, None, float("nan"), None, None, None, None, None, None),
            (awkward, None, -1, -2, -3, -0.25, -1e300, Decimal("-0.001"), date(1970, 1, 1),
             datetime(1999, 12, 31, 23, 59, 59), [], {}, None)]
    df = spark.createDataFrame(data, schema)
    featurestore.create_featuregroup(df, "kinds", primary_key="k", online=True)
    got = {r["k"]: r for r in online_store.read(ReadSpec("kinds", online=True)).collect()}
    assert set(got) == {"a", "A", awkward}           # keys differing in case stay distinct
    assert got["a"].asDict() == {**dict(zip(df.columns, data[0])), "tags": ["x", awkward],
                                  "point": got["a"]["point"]}
    assert tuple(got["a"]["point"]) == (1.0, -2.5)
    assert got["A"]["d"] is None                      # NaN is stored as NULL online
    assert got[awkward]["amount"] == Decimal("-0.001") and got[awkward]["tags"] == []
    assert_consistent(online_store, "kinds")           # NaN and NULL count as equal
    vector = online_store.feature_vector(["flag", "at", "tags", "attrs", "amount", "day"], "a")
    assert vector == {"flag": True, "at": datetime(2026, 3, 29, 1, 30, 0, 123456),
                      "tags": ["x", awkward], "attrs": {"m": 1}, "amount": Decimal("1234.567"),
                      "day": date(2026, 3, 29)}


def test_writes_keep_online_equal_to_offline(online_store):
    spark = online_store.spark
    featurestore.create_featuregroup(players(spark, [(1, 10, "ann", 7.5, T1), (2, 10, "bob", 6.0, T1)]),
                                     "players", primary_key="player_id", event_time="updated",
                                     online=True)
    featurestore.insert_into_featuregroup(players(spark, [(2, 11, "bob", 6.5, T2), (3, 11, "cid", 5.0, T2)]),
                                          "players", mode="upsert")
    report = assert_consistent(online_store, "players")
    assert report.online_commit == report.offline_commit == 1
    # a late row (older event time) appended: the latest row per key stays
    featurestore.insert_into_featuregroup(players(spark, [(2, 9, "old", 1.0, T1)]), "players")
    assert (2, 11, "bob", 6.5, T2) in online_rows(online_store, "players")
    assert_consistent(online_store, "players")
    featurestore.insert_into_featuregroup(players(spark, [(4, 12, "dan", 9.0, T3)]), "players",
                                          mode="overwrite")
    assert online_rows(online_store, "players") == [(4, 12, "dan", 9.0, T3)]
    assert_consistent(online_store, "players")


def test_offline_only_insert_lags_until_sync(online_store):
    spark = online_store.spark
    featurestore.create_featuregroup(players(spark, [(1, 10, "ann", 7.5, T1), (2, 10, "bob", 6.0, T1)]),
                                     "players", primary_key="player_id", event_time="updated",
                                     online=True)
    featurestore.insert_into_featuregroup(players(spark, [(1, 10, "ann", 9.0, T2)]), "players",
                                          mode="upsert", online=False)
    featurestore.insert_into_featuregroup(players(spark, [(2, 10, "bob", 0.0, T2)]), "players",
                                          mode="overwrite", online=False)
    report = online_store.check_online("players")
    assert not report.consistent and report.online_commit == 0 and report.offline_commit == 2
    assert (report.missing_online, report.extra_online, report.different) == (0, 1, 1)
    assert {e["problem"] for e in report.examples} == {"extra online", "different: rating, updated"}
    result = featurestore.sync_online_featuregroup("players")
    assert (result.mode, result.from_commit, result.to_commit) == ("incremental", 0, 2)
    assert (result.rows_written, result.rows_deleted) == (1, 1)
    assert online_rows(online_store, "players") == [(2, 10, "bob", 0.0, T2)]
    assert_consistent(online_store, "players")
    assert featurestore.sync_online_featuregroup("players").mode == "none"
    again = featurestore.sync_online_featuregroup("players", full=True)
    assert again.mode == "full" and online_rows(online_store, "players") == [(2, 10, "bob", 0.0, T2)]


def test_an_incremental_sync_without_event_time_takes_each_keys_last_change(online_store, caplog):
    """Appends and upserts that remove no row: each changed key's row is its last post-image in
    the change feed (no snapshot read); a commit that removes rows goes the snapshot's way."""
    spark = online_store.spark
    featurestore.create_featuregroup(players(spark, [(1, 10, "ann", 7.5, T1), (2, 10, "bob", 6.0, T1)]),
                                     "players", primary_key="player_id", online=True)
    for rows, mode in (([(1, 10, "ann", 8.0, T2)], "upsert"), ([(3, 11, "cid", 5.0, T2)], "append"),
                       ([(1, 12, "ann", 9.5, T3), (3, 11, "cid", 5.5, T3)], "upsert")):
        featurestore.insert_into_featuregroup(players(spark, rows), "players", mode=mode,
                                              online=False)
    caplog.set_level("INFO", logger="featurestore_spark.online.sync")
    result = featurestore.sync_online_featuregroup("players")
    assert (result.mode, result.from_commit, result.to_commit) == ("incremental", 0, 3)
    assert (result.rows_written, result.rows_deleted) == (2, 0)
    assert "commits 1..3 (rows from the change feed)" in caplog.text
    assert online_rows(online_store, "players") == [
        (1, 12, "ann", 9.5, T3), (2, 10, "bob", 6.0, T1), (3, 11, "cid", 5.5, T3)]
    assert_consistent(online_store, "players")
    featurestore.insert_into_featuregroup(players(spark, [(2, 10, "bob", 1.0, T3)]), "players",
                                          mode="overwrite", online=False)
    caplog.clear()
    result = featurestore.sync_online_featuregroup("players")
    assert (result.mode, result.rows_written, result.rows_deleted) == ("incremental", 1, 2)
    assert "commits 4..4" in caplog.text and "change feed" not in caplog.text
    assert online_rows(online_store, "players") == [(2, 10, "bob", 1.0, T3)]
    assert_consistent(online_store, "players")


def test_online_only_writes_leave_offline_alone(online_store):
    spark = online_store.spark
    featurestore.create_featuregroup(players(spark, [(1, 10, "ann", 7.5, T2)]), "players",
                                     primary_key="player_id", event_time="updated", online=True)
    before = snapshot(online_store, "players")
    update = players(spark, [(1, 10, "ann", 1.0, T1), (2, 10, "bob", 6.0, T1), (2, 10, "bob", 6.5, T3)])
    assert featurestore.insert_into_featuregroup(update, "players", offline=False) is None
    assert snapshot(online_store, "players") == before
    # per key the latest event time wins, in the batch and against what is stored
    expected = [(1, 10, "ann", 7.5, T2), (2, 10, "bob", 6.5, T3)]
    assert online_rows(online_store, "players") == expected
    featurestore.insert_into_featuregroup(update, "players", offline=False)   # the same write again
    assert online_rows(online_store, "players") == expected
    report = online_store.check_online("players")
    assert report.extra_online == 1 and report.different == 0
    # offline=False at create: online only, the Delta table starts empty
    featurestore.create_featuregroup(players(spark, [(5, 1, "eve", 1.0, T1)]), "fresh",
                                     primary_key="player_id", online=True, offline=False)
    assert featurestore.get_featuregroup("fresh").count() == 0
    assert online_rows(online_store, "fresh") == [(5, 1, "eve", 1.0, T1)]


def test_schema_evolution_resyncs_in_full(online_store):
    spark = online_store.spark
    featurestore.create_featuregroup(players(spark, [(1, 10, "ann", 7.5, T1)]), "players",
                                     primary_key="player_id", online=True)
    wider = spark.createDataFrame([(2, 10, "bob", 6.0, T2, 31)], PLAYERS + ", age int")
    featurestore.insert_into_featuregroup(wider, "players", schema_evolution=True)
    assert online_rows(online_store, "players") == [(1, 10, "ann", 7.5, T1, None),
                                                    (2, 10, "bob", 6.0, T2, 31)]
    assert_consistent(online_store, "players")


def test_feature_vectors_across_feature_groups(online_store):
    spark = online_store.spark
    featurestore.create_featuregroup(players(spark, [(1, 10, "ann", 7.5, T1), (2, 11, "bob", 6.0, T1)]),
                                     "players", primary_key="player_id", online=True)
    teams = spark.createDataFrame([(10, "reds", 3, 51000.0), (11, "blues", 1, 32000.0)],
                                  "team_id int, team_name string, division int, attendance double")
    featurestore.create_featuregroup(teams, "teams", primary_key="team_id", online=True)
    features = ["rating", "teams.team_name", "attendance", "players.name"]
    assert online_store.feature_vector(features, {"player_id": 1, "team_id": 10}) == {
        "rating": 7.5, "name": "ann", "team_name": "reds", "attendance": 51000.0}
    keys = [{"player_id": 2, "team_id": 11}, {"player_id": 9, "team_id": 10},
            {"player_id": 1, "team_id": 99}, {"player_id": 2, "team_id": 11}]
    got = featurestore.get_online_feature_vectors(features, keys)
    assert got == [{"rating": 6.0, "name": "bob", "team_name": "blues", "attendance": 32000.0},
                   {"rating": None, "name": None, "team_name": "reds", "attendance": 51000.0},
                   {"rating": 7.5, "name": "ann", "team_name": None, "attendance": None},
                   {"rating": 6.0, "name": "bob", "team_name": "blues", "attendance": 32000.0}]
    pdf = Hops.getFeatureVector(features).setKeys(keys).setReturnType("pandas").read()
    assert list(pdf.columns) == ["rating", "name", "team_name", "attendance"]
    assert pdf["team_name"].tolist() == ["blues", "reds", None, "blues"]
    with pytest.raises(FeatureVectorNotFound, match="player_id"):
        online_store.feature_vectors(features, keys, missing="error")
    with pytest.raises(FeatureVectorNotFound):
        online_store.feature_vector(["rating"], 42, missing="error")
    assert online_store.feature_vector(["rating"], 42) == {"rating": None}
    assert online_store.feature_vectors(["rating"], []) == []


def test_composite_keys_do_not_collide(online_store):
    spark = online_store.spark
    df = spark.createDataFrame([("a", "bc", 1.0), ("ab", "c", 2.0), ("a|b", "c", 3.0)],
                               "k1 string, k2 string, v double")
    featurestore.create_featuregroup(df, "pairs", primary_key=["k1", "k2"], online=True)
    assert online_store.feature_vector(["v"], {"k1": "a", "k2": "bc"}) == {"v": 1.0}
    assert online_store.feature_vector(["v"], ("ab", "c")) == {"v": 2.0}
    assert [v["v"] for v in online_store.feature_vectors(["v"], [("a|b", "c"), ("a", "bc"), ("abc", "")])] \
        == [3.0, 1.0, None]


def test_bad_requests_are_refused(online_store):
    spark = online_store.spark
    featurestore.create_featuregroup(players(spark, [(1, 10, "ann", 7.5, T1)]), "players",
                                     primary_key="player_id", online=True)
    featurestore.create_featuregroup(players(spark, [(1, 10, "ann", 7.5, T1)]), "others",
                                     primary_key="player_id")
    with pytest.raises(InvalidInputError) as e:
        online_store.feature_vector(["rating", "nope", "teams.x", "others.name"], 1)
    text = str(e.value)
    assert len(e.value.problems) == 3      # rating: from players, the one online feature group
    assert "no online feature group has a feature named 'nope'" in text
    assert "no feature group 'teams'" in text
    assert "others v1 is not online" in text
    with pytest.raises(InvalidInputError, match="not online"):
        featurestore.get_featuregroup("others", online=True)
    with pytest.raises(InvalidInputError, match="only the latest"):
        featurestore.get_featuregroup("players", online=True, as_of=0)
    with pytest.raises(InvalidInputError, match="offline=False must be online=True"):
        featurestore.insert_into_featuregroup(players(spark, []), "others", offline=False, online=False)
    binary = spark.createDataFrame([(1, bytearray(b"x"))], "id int, blob binary")
    before = snapshot(online_store, "blobs")
    with pytest.raises(InvalidInputError, match="'blob' of type binary cannot be online"):
        featurestore.create_featuregroup(binary, "blobs", primary_key="id", online=True)
    assert snapshot(online_store, "blobs") == before
    long_name = "n" * 50          # n..n_1 and the staging suffix would pass MySQL's 64 characters
    before = snapshot(online_store, long_name)
    with pytest.raises(InvalidInputError, match=f"online table '{long_name}_1' .* at most 51"):
        featurestore.create_featuregroup(players(spark, [(1, 10, "ann", 7.5, T1)]), long_name,
                                         primary_key="player_id", online=True)
    assert snapshot(online_store, long_name) == before
    dupes = players(spark, [(3, 1, "x", 1.0, T1), (3, 1, "y", 2.0, T1)])
    with pytest.raises(InvalidInputError, match="one row per key"):     # players has no event time
        featurestore.insert_into_featuregroup(dupes, "players", offline=False)
    with pytest.raises(SchemaMismatchError):
        featurestore.insert_into_featuregroup(spark.createDataFrame([(1,)], "player_id long"),
                                              "players", offline=False)


def test_online_sql_and_delete(online_store):
    spark = online_store.spark
    featurestore.create_featuregroup(players(spark, [(1, 10, "ann", 7.5, T1), (2, 10, "bob", 6.0, T1)]),
                                     "players", primary_key="player_id", online=True)
    got = featurestore.sql("SELECT name FROM players_1 WHERE rating > 7", online=True,
                           dataframe_type="pandas")
    assert got["name"].tolist() == ["ann"]
    featurestore.delete_featuregroup("players")
    with pytest.raises(Exception):
        featurestore.sql("SELECT name FROM players_1", online=True).collect()
    assert online_store.feature_groups() == []


def test_cli_checks_and_syncs_online(online_store, online_env, monkeypatch, capsys):
    spark = online_store.spark
    for key, value in online_env.items():
        monkeypatch.setenv(key, value)
    featurestore.create_featuregroup(players(spark, [(1, 10, "ann", 7.5, T1), (2, 10, "bob", 6.0, T1)]),
                                     "players", primary_key="player_id", online=True)
    assert cli(["check-online", "players"]) == 0
    assert "online is consistent" in capsys.readouterr().out
    featurestore.insert_into_featuregroup(players(spark, [(3, 11, "cid", 5.0, T2)]), "players",
                                          online=False)
    assert cli(["check-online", "players", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["consistent"], report["missing_online"], report["online_commit"],
            report["offline_commit"]) == (False, 1, 0, 1)
    assert report["examples"] == [{"key": {"player_id": 3}, "problem": "missing online"}]
    assert cli(["sync-online", "players"]) == 0
    assert "incremental sync, commit 0 -> 1, 1 rows written" in capsys.readouterr().out
    assert cli(["check-online", "players"]) == 0
    assert cli(["check-online", "nobody"]) == 2
    assert "nobody does not exist" in capsys.readouterr().err


def test_lookups_see_new_writes_and_do_not_block_a_full_sync(online_store):
    spark = online_store.spark
    schema = "id int, v double"
    # no event time, a key twice in Delta: the full sync keeps one row per key without a shuffle
    featurestore.create_featuregroup(spark.createDataFrame([(1, 1.0), (1, 1.0), (2, 2.0)], schema),
                                     "vals", primary_key="id", online=True)
    assert online_rows(online_store, "vals") == [(1, 1.0), (2, 2.0)]
    server = online_store.feature_vector_server(["v"])
    assert server.get_batch([1, 2, 3]) == [{"v": 1.0}, {"v": 2.0}, {"v": None}]
    featurestore.insert_into_featuregroup(spark.createDataFrame([(1, 5.0), (3, 3.0)], schema),
                                          "vals", mode="upsert")
    # the pooled connections read what was committed since, not a snapshot of their first read
    assert server.get(1) == {"v": 5.0} and server.get(3) == {"v": 3.0}
    # and hold no lock that would stop the swap of a full sync
    assert online_store.sync_online("vals", full=True).mode == "full"
    assert server.get_batch([1, 2, 3]) == [{"v": 5.0}, {"v": 2.0}, {"v": 3.0}]
    assert_consistent(online_store, "vals")


# -- plans that outlive their feature groups (issue 12) ----------------------------------------------
def test_cached_plans_follow_a_feature_group_deleted_and_made_again(online_store):
    spark = online_store.spark
    featurestore.create_featuregroup(players(spark, [(1, 10, "ann", 7.5, T1)]), "players",
                                     primary_key="player_id", online=True)
    assert featurestore.get_online_feature_vector(["name", "rating"], 1) == {"name": "ann",
                                                                            "rating": 7.5}
    featurestore.delete_featuregroup("players")
    again = spark.createDataFrame([(1, 3, "zed")], "player_id long, level int, name string")
    featurestore.create_featuregroup(again, "players", primary_key="player_id", online=True)
    # the new schema's values (a stale plan served {'name': 'name'} on SQLite)
    assert featurestore.get_online_feature_vector(["name", "level"], 1) == {"name": "zed", "level": 3}
    assert online_store.feature_vectors(["name"], [1, 2]) == [{"name": "zed"}, {"name": None}]
    with pytest.raises(InvalidInputError, match="no online feature group has a feature named "
                                                "'rating'"):
        featurestore.get_online_feature_vector(["name", "rating"], 1)


def test_unpinned_lookups_serve_the_latest_version(online_store):
    spark = online_store.spark
    featurestore.create_featuregroup(players(spark, [(1, 10, "ann", 7.5, T1)]), "players",
                                     primary_key="player_id", online=True)
    assert online_store.feature_vector(["rating"], 1) == {"rating": 7.5}
    featurestore.create_featuregroup(players(spark, [(1, 10, "ann", 9.5, T2)]), "players",
                                     primary_key="player_id", online=True, featuregroup_version=2)
    assert online_store.feature_vector(["rating"], 1) == {"rating": 9.5}
    assert online_store.feature_vector(["rating"], 1, versions={"players": 1}) == {"rating": 7.5}
    assert online_store.feature_vectors(["players_1.rating"], [1]) == [{"rating": 7.5}]


def test_metadata_changed_by_another_store_or_process_invalidates_cached_plans(online_store,
                                                                               online_env):
    from featurestore_spark.feature_store import FeatureStore

    spark = online_store.spark
    featurestore.create_featuregroup(players(spark, [(1, 10, "ann", 7.5, T1)]), "players",
                                     primary_key="player_id", online=True)
    assert online_store.feature_vector(["name"], 1) == {"name": "ann"}
    other = FeatureStore.connect(online_store.settings, spark)     # its own metadata store
    try:
        other.delete("players", 1)
        other.create(CreateSpec("players", spark.createDataFrame([(1, "bea")],
                                                                "player_id long, name string"),
                                primary_key=("player_id",), online=True))
    finally:
        other.close()
    assert online_store.feature_vector(["name"], 1) == {"name": "bea"}
    # another process (metadata only, no Spark) takes the feature group offline
    child = ("from featurestore_spark.config import load_settings\n"
             "from featurestore_spark.metadata import open_metadata_store\n"
             "m = open_metadata_store(load_settings())\n"
             "m.set_online(m.get_feature_group(load_settings().project, 'players', 1), False, None)\n")
    subprocess.run([sys.executable, "-c", child], check=True, cwd=str(ROOT),
                   env={**os.environ, **online_env}, timeout=120)
    with pytest.raises(InvalidInputError, match="only in feature groups that are not online: "
                                                "players v1"):
        online_store.feature_vector(["name"], 1)


def test_a_lookup_of_a_column_or_table_that_is_gone_is_a_clear_error(online_store):
    spark = online_store.spark
    featurestore.create_featuregroup(players(spark, [(1, 10, "ann", 7.5, T1)]), "players",
                                     primary_key="player_id", online=True)
    server = online_store.feature_vector_server(["name", "rating"])     # held: planned once
    assert server.get(1) == {"name": "ann", "rating": 7.5}
    featurestore.delete_featuregroup("players")
    featurestore.create_featuregroup(spark.createDataFrame([(1, "bea")], "player_id long, name string"),
                                     "players", primary_key="player_id", online=True)
    for lookup in (lambda: server.get(1), lambda: server.get_batch([1, 2])):
        with pytest.raises(OnlineStoreError, match="online table players_1 .* has no column "
                                                   "'rating': plan the feature vectors again"):
            lookup()
    featurestore.delete_featuregroup("players")
    with pytest.raises(OnlineStoreError, match="online table players_1 does not exist"):
        server.get(1)


def test_lookup_messages(online_store):
    spark = online_store.spark
    featurestore.create_featuregroup(players(spark, [(1, 10, "ann", 7.5, T1)]), "players",
                                     primary_key="player_id", online=True)
    scores = spark.createDataFrame([(1, 0.5)], "player_id long, score double")
    featurestore.create_featuregroup(scores, "offline_scores", primary_key="player_id")
    featurestore.create_featuregroup(scores.selectExpr("player_id", "score * 2 AS score"),
                                     "online_scores", primary_key="player_id", online=True)
    # a bare name: the online feature groups only (offline_scores has a score too)
    assert online_store.feature_vector(["score", "name"], 1) == {"score": 1.0, "name": "ann"}
    spark_only = spark.createDataFrame([(1, 2)], "player_id long, goals int")
    featurestore.create_featuregroup(spark_only, "stats", primary_key="player_id")
    with pytest.raises(InvalidInputError) as e:
        online_store.feature_vector(["goals", "nope"], 1, missing="sometimes")
    assert "nothing was written" not in str(e.value)
    with pytest.raises(InvalidInputError) as e:
        online_store.feature_vector(["goals", "nope"], 1)
    text = str(e.value)
    assert "feature 'goals' is only in feature groups that are not online: stats v1" in text
    assert "no online feature group has a feature named 'nope'" in text
    assert "nothing was written" not in text
    for read in (lambda: featurestore.get_featuregroup("stats", online=True),
                 lambda: online_store.feature_vector(["name"], {"team_id": 1}),
                 lambda: online_store.feature_vectors(["name"], [1], return_type="arrow")):
        with pytest.raises(InvalidInputError) as e:
            read()
        assert "problem(s):" in str(e.value) and "nothing was written" not in str(e.value)
    with pytest.raises(InvalidInputError, match="problem\\(s\\), nothing was written"):  # writes
        featurestore.insert_into_featuregroup(spark_only, "stats", mode="merge")
