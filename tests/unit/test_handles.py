"""Feature group handles (hsfs vocabulary), on SQLite and on MariaDB metadata."""

from __future__ import annotations

import re

import pytest

from featurestore_spark import FeatureGroupNotFound, InvalidInputError, StatisticsConfig, featurestore

from ..conftest import ROOT, RUN, settings_env
from .test_metadata import mysql_database

OFF = {"enabled": False}          # no statistics on write: these tests are about the handles


def rows(df, order="id"):
    return [tuple(r) for r in df.orderBy(order).collect()]


@pytest.fixture(params=["sqlite", "mysql"])
def hstore(request, spark, fs_home):
    """A FeatureStore of a project of this test's own, its metadata in SQLite, then MariaDB."""
    import featurestore_spark as fs
    from featurestore_spark.config import load_settings

    slug = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")[:30]
    env = settings_env(fs_home, f"h{RUN}{request.param[0]}_{slug}")
    if request.param == "sqlite":
        store = fs.connect(load_settings(ROOT / "conf" / "featurestore.toml", env), spark)
        yield store
        store.close()
        return
    mysql_env = request.getfixturevalue("mysql_env")
    with mysql_database(request.getfixturevalue("mysql_settings")) as (database, _):
        env = {**env, **mysql_env, "FEATURESTORE_METADATA_BACKEND": "mysql",
               "FEATURESTORE_METADATA_DATABASE": database}
        store = fs.connect(load_settings(ROOT / "conf" / "featurestore.toml", env), spark)
        yield store
        store.close()


def test_get_or_create_insert_read_select_and_delete(hstore, spark):
    fs = hstore
    fg = fs.get_or_create_feature_group("teams", description="clubs", primary_key=["id"],
                                        statistics_config=OFF)
    assert fg.version == 1 and fg.primary_key == ["id"] and fg.features == []
    with pytest.raises(FeatureGroupNotFound, match="not created yet"):
        fg.read()
    first = fg.insert(spark.createDataFrame([(1, "ajax", 2.5), (2, "psv", 1.0)],
                                            "id int, name string, rating double"))
    assert first is not None and first.operation == "create"
    assert [f.name for f in fg.features] == ["id", "name", "rating"]
    assert fg.get_feature("rating").type == "double" and fg.description == "clubs"
    again = fs.get_or_create_feature_group("teams", primary_key=["other"])   # settings unused
    assert again.version == 1 and again.primary_key == ["id"]

    fg.insert(spark.createDataFrame([(2, "psv", 3.0), (3, "az", 0.5)], "id int, name string, rating double"))
    assert rows(fg.read()) == [(1, "ajax", 2.5), (2, "psv", 3.0), (3, "az", 0.5)]      # upsert
    fg.insert(spark.createDataFrame([(4, "nac", 1.5)], "id int, name string, rating double"),
              operation="insert")
    assert len(fg.read(dataframe_type="pandas")) == 4
    details = fg.commit_details()
    assert [d["operation"] for d in details.values()] == ["append", "upsert", "create"]
    assert list(details)[-1] == first.commit_id and len(fg.commit_details(limit=1)) == 1
    assert rows(fg.read(wallclock_time=first.commit_id)) == [(1, "ajax", 2.5), (2, "psv", 1.0)]
    assert rows(fg.as_of(first.commit_id).read()) == [(1, "ajax", 2.5), (2, "psv", 1.0)]
    changes = fg.read_changes(first.commit_id)
    assert {r["id"] for r in changes.where("_change_type = 'insert'").collect()} == {3, 4}

    fg.insert(spark.createDataFrame([(9, "fcu", 9.0)], "id int, name string, rating double"),
              overwrite=True)
    assert rows(fg.read()) == [(9, "fcu", 9.0)]
    assert len(fg.show(5)) == 1

    # a join in the tutorials' words: select_except on one, select_all on the other
    players = fs.get_or_create_feature_group("players", primary_key=["pid"], statistics_config=OFF)
    players.save(spark.createDataFrame([(7, 9, 31), (8, 9, 22)], "pid int, id int, age int"))
    joined = players.select_except(["pid"]).join(fg.select(["id", "name"]), on="id").read()
    assert sorted(tuple(r) for r in joined.collect()) == [(9, 22, "fcu"), (9, 31, "fcu")]
    assert fg.filter("rating > 5").read().count() == 1

    # two handles of one group agree after a write through a third path (the functions)
    other = fs.get_feature_group("teams")
    featurestore.insert_into_featuregroup(
        spark.createDataFrame([(10, "vvv", 1.0)], "id int, name string, rating double"), "teams",
        featurestore=fs.settings.project, mode="append")
    assert fg.commit_details() == other.commit_details() and len(other.read(dataframe_type="pandas")) == 2
    fg.update_description("football clubs").update_feature_description("rating", "Elo, scaled")
    assert other.description == "football clubs"
    assert other.get_feature("rating").description == "Elo, scaled"

    assert [h.version for h in fs.get_feature_groups("teams")] == [1]
    v2 = fs.create_feature_group("teams", primary_key=["id"], statistics_config=OFF)
    assert v2.version is None                      # chosen when it is saved: the next one
    v2.save(spark.createDataFrame([(1, "x")], "id int, name string"))
    assert v2.version == 2 and fs.get_feature_group("teams").version == 2
    v2.delete()
    with pytest.raises(FeatureGroupNotFound):
        fs.get_feature_group("teams", version=2)
    assert fs.get_feature_group("teams").version == 1


def test_statistics_config_round_trip_and_statistics(store, spark):
    fg = store.get_or_create_feature_group("t", primary_key=["id"], statistics_config=OFF)
    assert fg.statistics_config == StatisticsConfig(enabled=False)
    fg.insert(spark.createDataFrame([(i, float(i)) for i in range(8)], "id int, x double"))
    with pytest.raises(InvalidInputError, match="none were computed"):
        fg.get_statistics()
    fg.statistics_config = {"enabled": True, "histograms": False, "correlations": False,
                            "columns": ["x"]}            # the Hopsworks client's spellings
    fg.update_statistics_config()
    again = store.get_feature_group("t")
    assert again.statistics_config == StatisticsConfig(
        feature_histograms=False, feature_correlation=False, stat_columns=("x",),
        cluster_analysis=True)
    fg.statistics_config = {"cluster_analysis": False, "columns": ["x"], "histograms": False,
                            "correlations": False}
    fg.update_statistics_config()
    stats = again.compute_statistics()
    assert stats["row_count"] == 8 and set(stats["columns"]) == {"x"}
    assert again.get_statistics()["commit"] == stats["commit"]
    with pytest.raises(InvalidInputError, match="unknown setting 'exact_uniqueness'"):
        fg.statistics_config = {"exact_uniqueness": True}


def test_expectation_suite_and_validation_options(store, spark):
    suite = {"name": "t", "expectations": [
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "x", "min_value": 0, "max_value": 10}}]}
    fg = store.get_or_create_feature_group("t", primary_key=["id"], statistics_config=OFF)
    fg.insert(spark.createDataFrame([(1, 1.0)], "id int, x double"))
    assert fg.get_expectation_suite() is None
    assert fg.save_expectation_suite(suite) >= 1                       # ALWAYS by default
    assert fg.get_expectation_suite()["policy"] == "ALWAYS"
    bad = spark.createDataFrame([(2, 99.0)], "id int, x double")
    assert fg.validate(bad)["success"] is False
    commit = fg.insert(bad)                                           # written, report kept
    assert [r["success"] for r in fg.get_validation_reports(commit.commit_id)] == [False]
    skipped = fg.insert(spark.createDataFrame([(3, 98.0)], "id int, x double"),
                        validation_options={"run_validation": False})
    assert fg.get_validation_reports(skipped.commit_id) == []
    fg.save_expectation_suite(suite, validation_ingestion_policy="STRICT")
    with pytest.raises(Exception, match="expect_column_values_to_be_between"):
        fg.insert(spark.createDataFrame([(4, 97.0)], "id int, x double"))
    assert fg.read().count() == 3
    fg.delete_expectation_suite()
    assert fg.get_expectation_suite() is None


def test_online_and_offline_storage(store, spark):
    fg = store.get_or_create_feature_group("t", primary_key=["id"], online_enabled=True,
                                           statistics_config=OFF)
    with pytest.raises(InvalidInputError, match="storage='offline' applies to later inserts"):
        fg.insert(spark.createDataFrame([(1, 1.0)], "id int, x double"), storage="offline")
    fg.insert(spark.createDataFrame([(1, 1.0)], "id int, x double"))
    assert fg.online_enabled and rows(fg.read(online=True)) == [(1, 1.0)]
    assert fg.insert(spark.createDataFrame([(1, 5.0)], "id int, x double"), storage="online") is None
    assert rows(fg.read(online=True)) == [(1, 5.0)] and rows(fg.read()) == [(1, 1.0)]
    fg.insert(spark.createDataFrame([(2, 2.0)], "id int, x double"), storage="offline")
    assert rows(fg.read(online=True)) == [(1, 5.0)] and rows(fg.read()) == [(1, 1.0), (2, 2.0)]


def test_bad_handle_calls_are_clear_errors_and_write_nothing(store, spark):
    df = spark.createDataFrame([(1, 1.0)], "id int, x double")
    fg = store.get_or_create_feature_group("t", primary_key=["id"], statistics_config=OFF)
    for kwargs, message in (({"operation": "merge"}, "operation 'merge' is not one of"),
                            ({"storage": "disk"}, "storage 'disk' is not"),
                            ({"write_options": {"spark": {}}}, "write option 'spark' is not supported"),
                            ({"validation_options": ["x"]}, "must be a dict")):
        with pytest.raises(InvalidInputError, match=message):
            fg.insert(df, **kwargs)
    assert store.feature_groups() == []
    with pytest.raises(InvalidInputError, match="unknown setting 'primary_keys'"):
        store.get_or_create_feature_group("u", primary_keys=["id"])
    with pytest.raises(InvalidInputError, match="feature group name"):
        store.get_or_create_feature_group("bad name!")
    fg.insert(df)
    with pytest.raises(InvalidInputError, match="exists already: insert"):
        fg.save(df)
    with pytest.raises(InvalidInputError, match="version 1 exists already"):
        store.create_feature_group("t", version=1)
    with pytest.raises(FeatureGroupNotFound):
        store.get_feature_group("nobody")
    with pytest.raises(InvalidInputError, match="has no feature 'y'"):
        fg.update_feature_description("y", "nothing")
    with pytest.raises(InvalidInputError, match="has no feature 'y'"):
        fg.get_feature("y")
    assert [c for c in fg.commit_details()] == [0] and fg.get_feature("x").description == ""


def test_feature_names_are_case_insensitive(store, spark):
    """customerID is stored as customerid and found in any case, on every face; a name that
    breaks the rule even lowercased is refused with the rule; two columns that lowercase alike
    are refused; nothing is written by a refused write."""
    import pandas as pd

    fg = store.get_or_create_feature_group("customers", primary_key=["customerID"],
                                           event_time="SignedUp")
    fg.insert(pd.DataFrame({"customerID": [1, 2], "SignedUp": pd.to_datetime(["2026-01-01"] * 2),
                            "Score": [0.5, 0.7]}))
    assert [f.name for f in fg.features] == ["customerid", "signedup", "score"]
    assert fg.primary_key == ["customerid"] and fg.event_time == "signedup"
    fg.insert(spark.createDataFrame([(2, 0.9)], "CUSTOMERID bigint, score double")
              .selectExpr("CUSTOMERID", "timestamp'2026-02-01' AS SIGNEDUP", "score"))
    assert rows(fg.read(), "customerid") == [
        (1, pd.Timestamp("2026-01-01").to_pydatetime(), 0.5),
        (2, pd.Timestamp("2026-02-01").to_pydatetime(), 0.9)]
    assert fg.select_except(["customerID", "SignedUp"]).read().columns == ["score"]
    assert fg.select(["Score"]).read().columns == ["score"]
    assert fg.get_feature("SCORE").name == "score"
    assert featurestore.get_feature("Score").columns == ["score"]
    assert featurestore.get_features(["customers.Score"]).columns == ["score"]
    text = str(pytest.raises(InvalidInputError, store.get_or_create_feature_group("other").insert,
                             spark.createDataFrame([(1, 2)], "`Bad-Col` int, id int")).value)
    assert "'Bad-Col' is invalid: it must be 1-63 characters" in text
    with pytest.raises(InvalidInputError, match="columns 'Score' and 'score' are both feature 'score'"):
        fg.insert(pd.DataFrame({"customerid": [3], "signedup": pd.to_datetime(["2026-03-01"]),
                                "Score": [1.0], "score": [2.0]}))
    assert len(fg.commit_details()) == 2 and [g.name for g in store.feature_groups()] == ["customers"]
    # a read refuses them too, without claiming that anything was to be written
    labels = spark.createDataFrame([(1, 1)], "customerID int, CUSTOMERID int")
    read = pytest.raises(InvalidInputError, store.query_labels, labels).value
    assert "both feature 'customerid'" in str(read) and "nothing was written" not in str(read)


def test_two_new_handles_agree_and_the_first_insert_upserts(store, spark):
    import datetime as dt
    t1, t2 = dt.datetime(2026, 1, 1), dt.datetime(2026, 2, 1)
    h1 = store.get_or_create_feature_group("events", primary_key=["id"], event_time="at",
                                           statistics_config=False)
    h2 = store.get_or_create_feature_group("events", primary_key=["id"], event_time="at")
    # the first insert is an upsert too: one row per key, the latest
    first = h1.insert(spark.createDataFrame([(1, t1, 1.0), (1, t2, 2.0), (2, t1, 3.0)],
                                            "id int, at timestamp, x double"))
    assert rows(h1.read()) == [(1, t2, 2.0), (2, t1, 3.0)] and first.operation == "create"
    assert h1.statistics_config.enabled is False
    assert rows(h2.read()) == rows(h1.read()) and h2.version == 1     # created meanwhile
    h2.insert(spark.createDataFrame([(2, t2, 4.0)], "id int, at timestamp, x double"))
    assert rows(h1.read()) == [(1, t2, 2.0), (2, t2, 4.0)]
    # changes from before the first commit: every change
    changes = h1.read_changes("2000-01-01")
    assert {r["_commit_version"] for r in changes.collect()} == {0, 1}
    with pytest.raises(InvalidInputError, match="unknown setting 'primary_keys'"):
        store.get_or_create_feature_group("events", primary_keys=["id"])     # exists: still checked
    with pytest.raises(InvalidInputError, match="time_travel_format 'HUDI'"):
        store.get_or_create_feature_group("other", time_travel_format="HUDI")
    with pytest.raises(InvalidInputError, match="version must be a positive integer"):
        store.get_or_create_feature_group("other", version=0)


def test_names_in_any_case_for_lookups_suites_and_labels(store, spark):
    suite = {"name": "s", "expectations": [{"type": "expect_column_values_to_be_between",
                                            "kwargs": {"column": "Score", "min_value": 0,
                                                       "max_value": 1}}]}
    fg = store.get_or_create_feature_group("customers", primary_key=["customerID"],
                                           online_enabled=True, expectation_suite=suite,
                                           validation_ingestion_policy="STRICT")
    fg.insert(spark.createDataFrame([(1, 0.5), (2, 0.7)], "customerID int, Score double"))
    assert fg.get_expectation_suite()["expectations"][0]["kwargs"]["column"] == "score"
    with pytest.raises(Exception, match="expect_column_values_to_be_between"):
        fg.insert(spark.createDataFrame([(3, 5.0)], "customerID int, Score double"))
    assert store.feature_vector(["Score"], {"customerID": 2}) == {"score": 0.7}
    labels = spark.createDataFrame([(1, True), (2, False)], "customerID int, Churned boolean")
    query, order = store.features_query(["Score"], labels=labels, join_key="customerID")
    assert order == ["customerid", "churned", "score"]
    assert sorted(tuple(r) for r in query.read().select(*order).collect()) == [
        (1, True, 0.5), (2, False, 0.7)]
