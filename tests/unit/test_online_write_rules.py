"""The rules of every write, with an online table (SQLite and a real MariaDB): rows of one key at one
event time are refused on create, append, overwrite and upsert, offline and online only; an empty
batch is a no-op that leaves Delta, the metadata and the online table alone."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest

from featurestore_spark import featurestore
from featurestore_spark.errors import InvalidInputError
from featurestore_spark.spec import ReadSpec

from .helpers import rows, snapshot

PLAYERS = "player_id long, team_id int, name string, rating double, updated timestamp"
T1, T2 = datetime(2026, 1, 1), datetime(2026, 2, 1)


def players(spark, data):
    return spark.createDataFrame(data, PLAYERS)


def online_rows(store, name):
    return rows(store.read(ReadSpec(name, online=True)))


def online_tables(store) -> list[str]:
    with store.online.backend.connection(store.settings.project) as conn:
        cur = conn.cursor()
        if store.settings.online.backend == "mysql":
            cur.execute("SHOW TABLES")
        else:
            cur.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return sorted(r[0] for r in cur.fetchall())


def test_ties_are_refused_on_every_write_of_an_online_group(online_store):
    """The issue's case: two rows of player 1 at T2 were accepted by create and append, online
    served one, a point-in-time join picked the other, and check_online said consistent."""
    spark = online_store.spark
    tied = players(spark, [(1, 10, "ann", 7.5, T2), (1, 10, "ann", 8.0, T2), (2, 10, "bob", 6.0, T1)])
    with pytest.raises(InvalidInputError, match=r"\{'player_id': 1\} has 2 rows at event time "
                                                r"2026-02-01 00:00:00"):
        featurestore.create_featuregroup(tied, "players", primary_key="player_id",
                                         event_time="updated", online=True)
    state = snapshot(online_store, "players")
    assert state["files"] is None and state["groups"] == [] and online_tables(online_store) == []

    featurestore.create_featuregroup(players(spark, [(1, 10, "ann", 7.5, T1)]), "players",
                                     primary_key="player_id", event_time="updated", online=True)
    before, served = snapshot(online_store, "players"), online_rows(online_store, "players")
    for mode in ("append", "overwrite", "upsert"):
        for offline in (True, False):         # offline=False: the online table only
            with pytest.raises(InvalidInputError, match="rows of one primary key at one event"):
                featurestore.insert_into_featuregroup(tied, "players", mode=mode, offline=offline)
    with pytest.raises(InvalidInputError, match="has a row at event time 2026-01-01 00:00:00 in "
                                                "players v1 already"):
        featurestore.insert_into_featuregroup(players(spark, [(1, 10, "ann", 9.9, T1)]), "players")
    assert snapshot(online_store, "players") == before
    assert online_rows(online_store, "players") == served
    report = online_store.check_online("players")
    assert report.consistent, report.as_dict()


def test_an_empty_batch_changes_nothing_offline_or_online(online_store, caplog):
    caplog.set_level(logging.INFO, logger="featurestore_spark")
    spark = online_store.spark
    featurestore.create_featuregroup(players(spark, [(1, 10, "ann", 7.5, T1), (2, 10, "bob", 6.0, T1)]),
                                     "players", primary_key="player_id", event_time="updated",
                                     online=True)
    before, served = snapshot(online_store, "players"), online_rows(online_store, "players")
    group = online_store.feature_group("players")
    empty = players(spark, [])
    for mode in ("append", "upsert"):
        for offline in (True, False):
            assert featurestore.insert_into_featuregroup(empty, "players", mode=mode,
                                                         offline=offline) is None
            where = "" if offline else " online"
            assert (f"{mode} into players v1{where}: the DataFrame is empty, nothing was written "
                    "(no commit)") in caplog.text
    assert snapshot(online_store, "players") == before
    assert online_store.feature_group("players") == group          # online commit unchanged
    assert online_rows(online_store, "players") == served
    assert online_store.check_online("players").consistent
