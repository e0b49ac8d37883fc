"""Creating feature groups and writing into them (append, overwrite, upsert), and every bad input
refused with nothing written: Delta table, catalog and metadata unchanged."""

from __future__ import annotations

import pytest

from featurestore_spark import Hops, featurestore
from featurestore_spark.errors import InvalidInputError, SchemaMismatchError

from .helpers import rows, snapshot

SCHEMA = "team_id int, name string, score double"


@pytest.fixture
def teams(store):
    df = store.spark.createDataFrame([(1, "a", 1.0), (2, "b", 2.0)], SCHEMA)
    featurestore.create_featuregroup(df, "teams", primary_key=["team_id"], description="teams",
                                     feature_descriptions={"score": "points per game"})
    return store


def test_create_registers_table_and_metadata(teams):
    spark, db = teams.spark, f"{teams.settings.project}_featurestore"
    assert rows(spark.table(f"{db}.teams_1")) == [(1, "a", 1.0), (2, "b", 2.0)]
    assert spark.sql(f"SELECT SUM(score) AS s FROM {db}.teams_1").first().s == 3.0
    g = teams.feature_group("teams")
    assert (g.version, g.primary_key, g.description) == (1, ("team_id",), "teams")
    assert [(f.name, f.type, f.primary) for f in g.features] == \
        [("team_id", "int", True), ("name", "string", False), ("score", "double", False)]
    assert g.features[2].description == "points per game"
    [c] = teams.commits("teams")
    assert (c.commit_id, c.operation, c.rows_inserted) == (0, "create", 2)


def test_primary_key_defaults_to_first_column_and_partitions(store):
    df = store.spark.createDataFrame([(1, "x", 2.0), (2, "y", 3.0)], "k int, region string, v double")
    g = Hops.createFeaturegroup("regions").setDataframe(df).setPartitionBy("region").write()
    assert g.primary_key == ("k",) and g.partition_by == ("region",)
    parts = store.spark.sql(f"DESCRIBE DETAIL delta.`{g.location}`").first().partitionColumns
    assert parts == ["region"]


def test_create_existing_is_refused_but_new_version_allowed(teams):
    df = teams.spark.createDataFrame([(9, "z", 9.0)], SCHEMA)
    before = snapshot(teams, "teams")
    with pytest.raises(InvalidInputError, match="exists already.*version 2"):
        featurestore.create_featuregroup(df, "teams", primary_key="team_id")
    assert snapshot(teams, "teams") == before
    featurestore.create_featuregroup(df, "teams", primary_key="team_id", featuregroup_version=2)
    assert featurestore.get_latest_featuregroup_version("teams") == 2
    assert rows(featurestore.get_featuregroup("teams", featuregroup_version=1)) == \
        [(1, "a", 1.0), (2, "b", 2.0)]
    assert rows(featurestore.get_featuregroup("teams")) == [(9, "z", 9.0)]


def test_bad_create_lists_every_problem_and_writes_nothing(store):
    spark = store.spark
    df = spark.createDataFrame([(1, "a", "x")], "id int, `Bad-Col` string, ts string")
    builder = (Hops.createFeaturegroup("things").setDataframe(df).setPrimaryKey("id", "nope")
               .setPartitionBy("missing").setEventTime("ts"))
    before = snapshot(store, "things")
    with pytest.raises(InvalidInputError) as err:
        builder.write()
    text = str(err.value)
    for expected in ("'Bad-Col' is invalid", "primary key column 'nope'", "partition column 'missing'",
                     "event time column 'ts' is string"):
        assert expected in text
    assert len(err.value.problems) == 4
    assert snapshot(store, "things") == before and before["files"] is None


@pytest.mark.parametrize("name", ["Teams", "teams;drop", "1x", "a-b", ""])
def test_invalid_feature_group_name_is_refused(store, name):
    df = store.spark.createDataFrame([(1,)], "id int")
    with pytest.raises(InvalidInputError, match="feature group name"):
        featurestore.create_featuregroup(df, name)
    assert store.feature_groups() == []


def test_not_a_dataframe_and_bad_version(store):
    with pytest.raises(InvalidInputError) as err:
        Hops.createFeaturegroup("x").setDataframe([1, 2]).setVersion(0).write()
    assert len(err.value.problems) == 2


def test_null_primary_key_on_create_writes_nothing(store):
    df = store.spark.createDataFrame([(1, 1.0), (None, 2.0)], "id int, v double")
    with pytest.raises(InvalidInputError, match="1 row.*null key.*'id'"):
        featurestore.create_featuregroup(df, "nulls", primary_key="id")
    assert snapshot(store, "nulls")["files"] is None and store.feature_groups() == []


def test_append_and_overwrite(teams):
    spark = teams.spark
    c1 = featurestore.insert_into_featuregroup(spark.createDataFrame([(3, "c", 3.0)], SCHEMA), "teams")
    assert (c1.commit_id, c1.operation, c1.rows_inserted) == (1, "append", 1)
    # columns in another order are matched by name
    other_order = spark.createDataFrame([(4.0, 4, "d")], "score double, team_id int, name string")
    c2 = featurestore.insert_into_featuregroup(other_order, "teams", mode="overwrite")
    assert (c2.operation, c2.rows_inserted, c2.rows_deleted) == ("overwrite", 1, 3)
    assert rows(featurestore.get_featuregroup("teams")) == [(4, "d", 4.0)]


def test_upsert_latest_event_time_wins(store):
    spark = store.spark
    schema = "id int, ts timestamp, v double"
    df = spark.sql("SELECT 1 AS id, TIMESTAMP'2026-01-01 00:00:00' AS ts, 1.0D AS v UNION ALL "
                   "SELECT 2, TIMESTAMP'2026-01-01 00:00:00', 2.0D")
    featurestore.create_featuregroup(df, "events", primary_key="id", event_time="ts")
    batch = spark.createDataFrame([], schema).union(spark.sql(
        "SELECT 2 AS id, TIMESTAMP'2026-02-01 00:00:00' AS ts, 20.0D AS v UNION ALL "
        "SELECT 2, TIMESTAMP'2026-03-01 00:00:00', 21.0D UNION ALL "
        "SELECT 2, TIMESTAMP'2026-01-15 00:00:00', 19.0D UNION ALL "
        "SELECT 3, TIMESTAMP'2026-02-01 00:00:00', 3.0D"))
    c = Hops.insertIntoFeaturegroup("events").setDataframe(batch).setMode("upsert").write()
    assert (c.rows_inserted, c.rows_updated) == (1, 1)
    got = {r.id: r.v for r in featurestore.get_featuregroup("events").collect()}
    assert got == {1: 1.0, 2: 21.0, 3: 3.0}


def test_upsert_composite_key(store):
    spark = store.spark
    df = spark.createDataFrame([(1, "x", 1.0), (1, "y", 2.0)], "a int, b string, v double")
    featurestore.create_featuregroup(df, "pairs", primary_key=["a", "b"])
    featurestore.insert_into_featuregroup(
        spark.createDataFrame([(1, "y", 5.0), (2, "x", 6.0)], "a int, b string, v double"),
        "pairs", mode="upsert")
    assert rows(featurestore.get_featuregroup("pairs")) == [(1, "x", 1.0), (1, "y", 5.0), (2, "x", 6.0)]


def test_upsert_duplicates_without_event_time_are_listed(teams):
    batch = teams.spark.createDataFrame([(1, "a", 5.0), (1, "a", 6.0), (7, "g", 1.0)], SCHEMA)
    before = snapshot(teams, "teams")
    with pytest.raises(InvalidInputError, match=r"\{'team_id': 1\} occurs in 2 rows"):
        featurestore.insert_into_featuregroup(batch, "teams", mode="upsert")
    assert snapshot(teams, "teams") == before


def test_upsert_tied_event_times_are_refused(store):
    spark = store.spark
    df = spark.sql("SELECT 1 AS id, TIMESTAMP'2026-01-01 00:00:00' AS ts, 1.0D AS v")
    featurestore.create_featuregroup(df, "ties", primary_key="id", event_time="ts")
    batch = spark.sql("SELECT 1 AS id, TIMESTAMP'2026-05-01 00:00:00' AS ts, 1.0D AS v UNION ALL "
                      "SELECT 1, TIMESTAMP'2026-05-01 00:00:00', 2.0D")
    before = snapshot(store, "ties")
    with pytest.raises(InvalidInputError, match=r"\{'id': 1\} has 2 rows at event time "
                                                r"2026-05-01 00:00:00"):
        featurestore.insert_into_featuregroup(batch, "ties", mode="upsert")
    assert snapshot(store, "ties") == before


EVENTS = "id int, ts timestamp, v double"
T1, T2 = "TIMESTAMP'2026-01-01 00:00:00'", "TIMESTAMP'2026-02-01 00:00:00'"


def events(spark, *rows):
    return spark.sql(" UNION ALL ".join(f"SELECT {i} AS id, {t} AS ts, {v}D AS v"
                                        for i, t, v in rows))


def test_upsert_over_a_history_leaves_one_row_per_key_it_names(store):
    """Appends keep a history of a key; an upsert of the key replaces that history by its one
    (latest) row, never copies of it at one event time, and leaves other keys' history alone."""
    spark = store.spark
    t3 = "TIMESTAMP'2026-03-01 00:00:00'"
    featurestore.create_featuregroup(events(spark, (1, T1, 1.0), (1, T2, 2.0), (2, T1, 5.0),
                                            (2, T2, 6.0)), "ev", primary_key="id", event_time="ts")
    c = featurestore.insert_into_featuregroup(events(spark, (1, t3, 9.0), (3, T1, 7.0)), "ev",
                                              mode="upsert")
    assert (c.rows_inserted, c.rows_updated, c.rows_deleted) == (1, 1, 1)
    assert rows(featurestore.get_featuregroup("ev").selectExpr("id", "CAST(ts AS STRING)", "v")) == [
        (1, "2026-03-01 00:00:00", 9.0), (2, "2026-01-01 00:00:00", 5.0),
        (2, "2026-02-01 00:00:00", 6.0), (3, "2026-01-01 00:00:00", 7.0)]


@pytest.mark.parametrize("mode", ["create", "append", "overwrite", "upsert"])
def test_rows_of_one_key_at_one_event_time_are_refused_on_every_write(store, mode):
    """A key and an event time name one event: two rows of them are refused, whether the group
    is online or not, with examples; rows of a key at other times are an event history."""
    spark = store.spark
    if mode != "create":
        featurestore.create_featuregroup(events(spark, (1, T1, 1.0)), "ev", primary_key="id",
                                         event_time="ts")
    tied = events(spark, (1, T2, 1.0), (1, T2, 2.0), (2, T1, 5.0), (2, T1, 5.0), (3, T1, 3.0))
    before = snapshot(store, "ev")
    with pytest.raises(InvalidInputError) as refused:
        if mode == "create":
            featurestore.create_featuregroup(tied, "ev", primary_key="id", event_time="ts")
        else:
            featurestore.insert_into_featuregroup(tied, "ev", mode=mode)
    text = str(refused.value)
    assert "{'id': 1} has 2 rows at event time 2026-02-01 00:00:00" in text
    assert "{'id': 2} has 2 rows at event time 2026-01-01 00:00:00" in text   # not the latest
    assert "rows of one primary key at one event time are refused" in text
    assert len(refused.value.problems) == 3
    assert snapshot(store, "ev") == before
    history = events(spark, (1, T2, 1.0), (2, T1, 5.0), (2, T2, 6.0))       # no ties
    if mode == "create":
        featurestore.create_featuregroup(history, "ev", primary_key="id", event_time="ts")
    else:
        featurestore.insert_into_featuregroup(history, "ev", mode=mode)
    assert len(featurestore.get_featuregroup("ev").collect()) == \
        {"create": 3, "append": 4, "overwrite": 3, "upsert": 2}[mode]


def test_an_append_of_an_event_already_stored_is_refused(store):
    spark = store.spark
    featurestore.create_featuregroup(events(spark, (1, T1, 1.0), (2, T1, 2.0)), "ev",
                                     primary_key="id", event_time="ts")
    before = snapshot(store, "ev")
    with pytest.raises(InvalidInputError) as refused:
        featurestore.insert_into_featuregroup(events(spark, (2, T1, 9.0), (2, T2, 3.0)), "ev")
    text = str(refused.value)
    assert "{'id': 2} has a row at event time 2026-01-01 00:00:00 in ev v1 already" in text
    assert "upsert or overwrite" in text
    assert snapshot(store, "ev") == before
    featurestore.insert_into_featuregroup(events(spark, (2, T2, 3.0)), "ev")   # a later event
    assert len(featurestore.get_featuregroup("ev").collect()) == 3


@pytest.mark.parametrize("mode", ["append", "upsert"])
def test_an_empty_batch_is_a_no_op_that_says_so(teams, mode, caplog):
    import logging
    caplog.set_level(logging.INFO, logger="featurestore_spark")
    empty = teams.spark.createDataFrame([], SCHEMA)
    before = snapshot(teams, "teams")
    assert featurestore.insert_into_featuregroup(empty, "teams", mode=mode) is None
    assert f"{mode} into teams v1: the DataFrame is empty, nothing was written (no commit)" \
        in caplog.text
    assert snapshot(teams, "teams") == before
    # a bad empty batch is still refused: the request is checked all the same
    with pytest.raises(SchemaMismatchError):
        featurestore.insert_into_featuregroup(empty.drop("name"), "teams", mode=mode)
    # and the next write commits right after the last one
    c = featurestore.insert_into_featuregroup(
        teams.spark.createDataFrame([(2, "b", 5.0)], SCHEMA), "teams", mode="upsert")
    assert [x.commit_id for x in teams.commits("teams")] == [0, c.commit_id] and c.commit_id == 1


def test_an_empty_overwrite_empties_the_feature_group(teams):
    c = featurestore.insert_into_featuregroup(teams.spark.createDataFrame([], SCHEMA), "teams",
                                              mode="overwrite")
    assert (c.commit_id, c.rows_inserted, c.rows_deleted) == (1, 0, 2)
    assert featurestore.get_featuregroup("teams").count() == 0


@pytest.mark.parametrize("mode", ["append", "overwrite", "upsert"])
def test_schema_mismatch_lists_differences_and_writes_nothing(teams, mode):
    bad = teams.spark.createDataFrame([(1, 5, "x")], "team_id int, score int, extra string")
    before = snapshot(teams, "teams")
    with pytest.raises(SchemaMismatchError) as err:
        featurestore.insert_into_featuregroup(bad, "teams", mode=mode)
    text = str(err.value)
    assert "'name' (string) of the feature group is missing" in text
    assert "'score' is int in the DataFrame but double" in text
    assert "'extra' (string) is not in the feature group" in text
    assert snapshot(teams, "teams") == before


@pytest.mark.parametrize("mode", ["append", "upsert"])
def test_null_key_on_insert_writes_nothing(teams, mode):
    bad = teams.spark.createDataFrame([(None, "n", 1.0), (5, "e", 1.0)], SCHEMA)
    before = snapshot(teams, "teams")
    with pytest.raises(InvalidInputError, match="null key"):
        featurestore.insert_into_featuregroup(bad, "teams", mode=mode)
    assert snapshot(teams, "teams") == before


def test_bad_mode_and_unknown_group(teams):
    df = teams.spark.createDataFrame([(1, "a", 1.0)], SCHEMA)
    with pytest.raises(InvalidInputError, match="mode 'merge' is not one of"):
        featurestore.insert_into_featuregroup(df, "teams", mode="merge")
    with pytest.raises(InvalidInputError, match="does not exist"):
        featurestore.insert_into_featuregroup(df, "nobody")


@pytest.mark.parametrize("mode", ["append", "upsert"])
def test_schema_evolution_adds_columns_when_asked(teams, mode):
    key = 2 if mode == "upsert" else 3      # upsert updates an existing row, append adds one
    df = teams.spark.createDataFrame([(key, "b", 7.0, 70)], SCHEMA + ", rank int")
    featurestore.insert_into_featuregroup(df, "teams", mode=mode, schema_evolution=True)
    g = teams.feature_group("teams")
    assert g.feature_names == ("team_id", "name", "score", "rank")
    got = {r.team_id: r.rank for r in featurestore.get_featuregroup("teams").collect()}
    assert got == {1: None, 2: 70 if mode == "upsert" else None, key: 70}


def test_delete_feature_group(teams):
    location = teams.feature_group("teams").location
    Hops.deleteFeaturegroup("teams").setVersion(1).write()
    assert teams.feature_groups() == []
    assert snapshot(teams, "teams")["files"] is None
    assert "teams_1" not in snapshot(teams, "teams")["tables"]
    with pytest.raises(InvalidInputError, match="setVersion"):
        Hops.deleteFeaturegroup("teams").write()
    assert location


def test_existing_name_and_bad_columns_are_reported_together(teams):
    df = teams.spark.createDataFrame([(1, "a")], "team_id int, `Na-me` string")
    with pytest.raises(InvalidInputError) as err:
        featurestore.create_featuregroup(df, "teams", primary_key="nope")
    text = str(err.value)
    assert "exists already" in text and "'Na-me' is invalid" in text and "'nope'" in text


@pytest.mark.parametrize("project", ["x`; DROP DATABASE y", "Other", "a-b"])
def test_invalid_project_is_refused_before_any_sql(store, project):
    databases = sorted(d.name for d in store.spark.catalog.listDatabases())
    with pytest.raises(InvalidInputError, match="project name"):
        featurestore.sql("SELECT 1", featurestore=project)
    with pytest.raises(InvalidInputError, match="project name"):
        featurestore.get_featuregroup("teams", featurestore=project)
    assert sorted(d.name for d in store.spark.catalog.listDatabases()) == databases


def test_pandas_and_numpy_frames_are_written_like_spark_ones(store):
    """hops-util-py took pandas and numpy frames: every write takes them, converted on the driver
    through Arrow; one Arrow cannot convert is refused with nothing written."""
    import numpy as np
    import pandas as pd
    when = pd.to_datetime(["2024-01-01 10:00", "2024-01-02 11:00"])
    pdf = pd.DataFrame({"team_id": [1, 2], "name": ["a", None], "score": [1.5, np.nan],
                        "updated": when})
    g = featurestore.create_featuregroup(pdf, "teams", primary_key="team_id", event_time="updated")
    assert [(f.name, f.type) for f in g.features] == [
        ("team_id", "bigint"), ("name", "string"), ("score", "double"), ("updated", "timestamp")]
    read = featurestore.get_featuregroup("teams", dataframe_type="pandas")
    assert read.sort_values("team_id")["updated"].tolist() == when.tolist()
    upsert = pd.DataFrame({"team_id": [2, 3], "name": ["b", "c"], "score": [2.0, 3.0],
                           "updated": pd.to_datetime(["2024-02-01", "2024-02-01"])})
    commit = Hops.insertIntoFeaturegroup("teams").setDataframe(upsert).setMode("upsert").write()
    assert (commit.rows_inserted, commit.rows_updated) == (1, 1)
    assert rows(featurestore.get_featuregroup("teams").select("team_id", "name")) == [(1, "a"), (2, "b"), (3, "c")]

    before = snapshot(store, "teams")
    mixed = upsert.assign(score=[1.0, "high"])          # a column Arrow cannot type
    with pytest.raises(InvalidInputError, match="cannot be converted through Arrow"):
        featurestore.insert_into_featuregroup(mixed, "teams")
    with pytest.raises(InvalidInputError, match="column name 0 is not a string"):
        featurestore.insert_into_featuregroup(pd.DataFrame([[1]]), "teams")
    with pytest.raises(InvalidInputError, match="column 'name' has no value to tell its type"):
        featurestore.insert_into_featuregroup(upsert.assign(name=[None, None]), "teams")
    assert snapshot(store, "teams") == before

    featurestore.create_featuregroup(np.array([[1, 2.5], [2, 3.5]]), "matrix")
    assert rows(featurestore.get_featuregroup("matrix")) == [(1.0, 2.5), (2.0, 3.5)]   # columns col_0, col_1
    with pytest.raises(InvalidInputError, match="must have 2 dimensions"):
        featurestore.create_featuregroup(np.array([1, 2]), "vector")
    featurestore.create_training_dataset(pdf.drop(columns="updated"), "td", data_format="parquet")
    assert sorted(featurestore.get_training_dataset("td", dataframe_type="pandas")["team_id"]) == [1, 2]
