"""External (on-demand) feature groups (issue 16, item 2), on the real parts: a JDBC query against
the project's MariaDB, files on the local file system and in the moto S3 server; read, joined
point in time (checked against pandas merge_asof), statistics on demand, loaded online; a source
whose schema changed, a wrong password, an unreachable endpoint; every face."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import mysql.connector
import pandas as pd
import pytest

from featurestore_spark import featurestore
from featurestore_spark.cli import main as cli
from featurestore_spark.errors import FeatureGroupNotFound, FeatureStoreError, InvalidInputError
from featurestore_spark.hops import Hops

from ..conftest import ROOT, settings_env
from .helpers import make_lake, rows

SECRET_ENV = "FS_TEST_EXTERNAL_PASSWORD"
T0 = datetime(2024, 1, 1)


@pytest.fixture
def card_db(mysql_settings, store, monkeypatch):
    """A database ``<project>_cards`` on the test MariaDB with table transactions, and a JDBC
    connector ``cards`` to it (its password from an environment variable)."""
    m = mysql_settings
    db = f"{store.settings.project}_cards"[:64]
    conn = mysql.connector.connect(**m.connect_args(), autocommit=True)
    cur = conn.cursor()
    cur.execute(f"CREATE DATABASE `{db}`")
    cur.execute(f"USE `{db}`")
    cur.execute(f"CREATE TABLE `{db}`.transactions (card_id INT, ts DATETIME, amount DOUBLE)")
    cur.executemany(f"INSERT INTO `{db}`.transactions VALUES (%s, %s, %s)",
                    [(c, T0 + timedelta(hours=h), float(10 * c + h))
                     for c in (1, 2, 3) for h in (0, 2, 5)])
    monkeypatch.setenv(SECRET_ENV, m.password)
    store.create_storage_connector(
        "cards", "jdbc", url=f"jdbc:mysql://{m.host}:{m.port}/{db}?permitMysqlScheme",
        user=m.user, driver="org.mariadb.jdbc.Driver", password_env=SECRET_ENV)
    yield cur
    cur.execute(f"DROP DATABASE `{db}`")
    conn.close()


def test_a_jdbc_external_group_joins_point_in_time_goes_online_and_refuses_time_travel(
        store, card_db, monkeypatch, mysql_settings, caplog):
    fg = store.create_external_feature_group(
        "card_spend", "cards", query="SELECT card_id, ts, amount FROM transactions",
        primary_key=["card_id"], event_time="ts", description="card spend, from the bank db")
    assert "not saved yet" in repr(fg) and fg.primary_key == ["card_id"]
    fg.save()
    got = store.get_external_feature_group("card_spend")
    assert got.version == 1 and got.query.startswith("SELECT") and got.storage_connector.name == "cards"
    assert [(f.name, f.type) for f in got.features] == [("card_id", "int"), ("ts", "timestamp"),
                                                         ("amount", "double")]
    assert store.get_feature_group("card_spend").features == got.features
    assert len(rows(got.read())) == 9
    # nothing was copied: a row added upstream is read at once
    card_db.execute("INSERT INTO transactions VALUES (4, %s, 1.0)", (T0,))
    assert len(rows(got.read())) == 10

    # a point-in-time join of labels onto it, as pandas merge_asof computes it
    labels = pd.DataFrame({"card_id": [1, 1, 2, 3, 5], "at": [T0 + timedelta(hours=h) for h in
                                                              (1, 6, 2, -1, 3)],
                           "fraud": [0, 1, 0, 1, 0]})
    q = store.query_labels(store.spark.createDataFrame(labels), event_time="at") \
        .join(got.select(["amount"]))
    ours = q.read("pandas").sort_values(["card_id", "at"]).reset_index(drop=True)
    upstream = pd.DataFrame([(c, T0 + timedelta(hours=h), float(10 * c + h))
                             for c in (1, 2, 3) for h in (0, 2, 5)] + [(4, T0, 1.0)],
                            columns=["card_id", "ts", "amount"])
    expected = pd.merge_asof(labels.sort_values("at"), upstream.sort_values("ts"), left_on="at",
                             right_on="ts", by="card_id")[["card_id", "at", "fraud", "amount"]]
    expected = expected.sort_values(["card_id", "at"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(ours[expected.columns.tolist()], expected, check_dtype=False)
    # its SQL reads the group as a temporary view of the session, and gives the same rows
    store.spark.createDataFrame(labels).createOrReplaceTempView("card_labels")
    sql = q.to_sql(labels="card_labels")
    assert f"{store.settings.project}_card_spend_1" in sql
    assert sorted(map(tuple, store.spark.sql(sql).collect())) == sorted(map(tuple, q.read().collect()))
    # the recorded query (a training dataset's) names it, without a commit
    assert q.pinned().to_dict()["joins"][0]["right"]["as_of"] is None
    td = featurestore.create_training_dataset(q, "spend_td", data_format="parquet")
    assert td.source["query"]["joins"][0]["right"]["feature_group"]["name"] == "card_spend"
    assert sorted(rows(featurestore.get_training_dataset("spend_td"))) == sorted(rows(q.read()))
    # a feature view over it: training data and batch data, transformed
    scaler = store.get_transformation_function("min_max_scaler")
    view = store.create_feature_view("spend_view", got.select_all(),
                                     transformation_functions=[scaler("amount")])
    x, _ = view.training_data(dataframe_type="pandas")
    assert len(x) == 10 and x["min_max_scaler_amount_"].max() == 1.0
    view.init_batch_scoring(1)
    assert view.get_batch_data().count() == 10

    # no commits: time travel, changes and writes are clear errors
    for attempt in (lambda: got.read(wallclock_time=T0), lambda: got.as_of(T0),
                    lambda: got.read_changes(0), lambda: got.insert(labels),
                    lambda: featurestore.get_featuregroup("card_spend", as_of=T0)):
        with pytest.raises(InvalidInputError, match="external feature group"):
            attempt()
    assert got.commit_details() == {}

    # statistics on demand, numbered by run
    first = got.compute_statistics()
    assert first["commit"] == 1 and first["row_count"] == 10
    assert got.compute_statistics()["commit"] == 2 and got.get_statistics()["commit"] == 2

    # online: loaded whole from the source, the latest row per key; served as vectors
    assert got.sync_online() == 4
    assert store.get_feature_group("card_spend").online_enabled
    online = sorted(rows(got.read(online=True)))
    assert online == [(1, T0 + timedelta(hours=5), 15.0), (2, T0 + timedelta(hours=5), 25.0),
                      (3, T0 + timedelta(hours=5), 35.0), (4, T0, 1.0)]
    assert store.feature_vector(["amount"], 2) == {"amount": 25.0}
    assert store.check_online("card_spend").consistent

    # the source's schema changes: reading names every difference
    store.create_external_feature_group("card_all", "cards", query="SELECT * FROM transactions",
                                        primary_key="card_id").save()
    card_db.execute("ALTER TABLE transactions MODIFY amount VARCHAR(20), ADD COLUMN shop INT")
    with pytest.raises(InvalidInputError, match="column 'amount' is string now, it was double"):
        store.query("card_spend").read()
    # what only shows a query names the group's view without reading the changed source
    assert "card_spend_1" in store.get_feature_view("spend_view").query.to_sql(register=False)
    with pytest.raises(InvalidInputError) as changed:
        store.get_feature_group("card_all").read()
    message = str(changed.value)
    assert "column 'amount' is string now, it was double" in message
    assert "column 'shop' (int) is new" in message

    # a wrong password: a clear error, the secret not in it nor in the log, nothing registered
    monkeypatch.setenv(SECRET_ENV, "not-the-password-7")
    with pytest.raises(FeatureStoreError) as denied:
        store.create_external_feature_group("other_spend", "cards",
                                            query="SELECT * FROM transactions").save()
    assert "Access denied" in str(denied.value)
    assert "not-the-password-7" not in str(denied.value) + caplog.text
    # (what the error goes through: a server that echoes it would be redacted)
    assert store.get_storage_connector("cards").redact("pw not-the-password-7!") == "pw ***!"
    with pytest.raises(FeatureGroupNotFound):
        store.get_feature_group("other_spend")

    # its connector stays while it reads through it; a delete removes the registration and the
    # online table, never the source
    with pytest.raises(InvalidInputError, match="external feature group card_spend v1 reach"):
        store.delete_storage_connector("cards")
    with pytest.raises(InvalidInputError, match="is an external feature group, read from its"):
        store.table_name("card_spend")
    got.delete()
    with pytest.raises(FeatureGroupNotFound):
        store.get_feature_group("card_spend")
    card_db.execute("SELECT COUNT(*) FROM transactions")
    assert card_db.fetchone()[0] == 10


def test_file_external_groups_on_every_face(store, tmp_path, monkeypatch, fs_home, capsys):
    raw = tmp_path / "raw"
    teams = store.spark.createDataFrame([(1, "ajax", 50.0), (2, "psv", 35.0)],
                                        "team_id int, name string, budget double")
    teams.coalesce(1).write.option("header", True).csv(str(raw / "teams_csv"))
    teams.write.parquet(str(raw / "teams_parquet"))
    store.create_storage_connector("raw_files", "file", path=str(raw))
    # the Hops form: setOnDemand with a connector and a path and format
    (Hops.createFeaturegroup("teams_ext").setOnDemand(True).setStorageConnector("raw_files")
     .setPath("teams_parquet").setDataFormat("parquet").setPrimaryKey("team_id")
     .setDescription("teams, from parquet files").write())
    # the hsfs form, csv with its read options
    csv = store.create_external_feature_group(
        "teams_csv", store.get_storage_connector("raw_files"), data_format="csv",
        path="teams_csv", options={"header": "true", "inferSchema": "true"},
        primary_key="team_id")
    csv.statistics_config = {"histograms": False}
    csv.update_statistics_config()            # kept for save(), as on a feature group's handle
    csv.save()
    assert csv.statistics_config.feature_histograms is False
    assert sorted(rows(csv.read())) == [(1, "ajax", 50.0), (2, "psv", 35.0)]
    # a join with a feature group that has commits (a Delta one)
    ratings = store.spark.createDataFrame([(1, 7.5), (2, 6.0)], "team_id int, rating double")
    store.get_or_create_feature_group("ratings", primary_key=["team_id"]).insert(ratings)
    with pytest.raises(InvalidInputError, match="ratings v1 is a feature group with commits"):
        store.get_external_feature_group("ratings")
    assert [h.version for h in store.get_external_feature_groups("teams_csv")] == [1]
    joined = store.get_feature_group("teams_ext").select(["team_id", "name"]) \
        .join(store.get_feature_group("ratings").select(["rating"]))
    assert sorted(rows(joined.read())) == [(1, "ajax", 7.5), (2, "psv", 6.0)]
    # the hops-util-py form of the Hopsworks documentation (a JDBC connector only)
    with pytest.raises(InvalidInputError, match="raw_files is a file connector: it reads files"):
        featurestore.create_on_demand_featuregroup("SELECT 1", "teams_sql", "raw_files")
    # asking for the wrong things: every problem at once, nothing registered
    with pytest.raises(InvalidInputError) as bad:
        store.create_external_feature_group("bad_ext", "raw_files", data_format="xls",
                                            path="../etc").save()
    assert "data_format must be one of" in str(bad.value) and "no URI, no .." in str(bad.value)
    with pytest.raises(InvalidInputError, match="options 'fs.s3a.endpoint', 'password' would"):
        store.create_external_feature_group("bad_ext", "raw_files", path="teams_parquet",
                                            data_format="parquet", options={
                                                "password": "x", "fs.s3a.endpoint": "http://x"})
    with pytest.raises(InvalidInputError, match="no storage connector 'nowhere'"):
        store.create_external_feature_group("bad_ext", "nowhere", query="SELECT 1").save()
    with pytest.raises(InvalidInputError, match="primary key column 'nope' is not a column"):
        store.create_external_feature_group("bad_ext", "raw_files", path="teams_parquet",
                                            data_format="parquet", primary_key="nope").save()
    with pytest.raises(FeatureStoreError, match="cannot read .*teams_missing"):
        store.create_external_feature_group("bad_ext", "raw_files", path="teams_missing",
                                            data_format="parquet").save()
    assert "bad_ext" not in [g.name for g in store.feature_groups()]
    assert store.check().consistent            # no table, no Delta folder: nothing is missing
    # the CLI shows where it is read from; search finds it
    for key, value in settings_env(fs_home, store.settings.project).items():
        monkeypatch.setenv(key, value)
    assert cli(["describe", "teams_csv", "--project", store.settings.project]) == 0
    out = capsys.readouterr().out
    assert "csv files at teams_csv (storage connector raw_files)" in out
    assert "an external feature group: no commits" in out
    assert cli(["list", "--project", store.settings.project, "--json"]) == 0
    listed = {g["name"]: g for g in json.loads(capsys.readouterr().out)}
    assert listed["teams_csv"]["external"] and not listed["ratings"]["external"]
    assert [h["name"] for h in store.search("parquet files")][:1] == ["teams_ext"]


def test_an_s3_external_group_and_an_unreachable_endpoint(store, monkeypatch):
    lake = make_lake(store, monkeypatch, "ext", "events", "FS_TEST_S3_SECRET").connector
    clicks = store.spark.createDataFrame([(1, T0, 3), (1, T0 + timedelta(days=1), 5), (2, T0, 1)],
                                         "user_id int, day timestamp, clicks int")
    clicks.write.options(**lake.spark_options()).parquet(lake.location("clicks"))
    fg = store.create_external_feature_group("clicks", "lake", path="clicks",
                                             data_format="parquet", primary_key=["user_id"],
                                             event_time="day", online_enabled=True)
    fg.save()                                    # online_enabled: loaded online at once
    assert sorted(rows(fg.read())) == sorted(rows(clicks))
    labels = pd.DataFrame({"user_id": [1, 1, 2], "at": [T0 + timedelta(hours=1),
                                                       T0 + timedelta(days=2), T0 - timedelta(1)]})
    joined = store.query_labels(store.spark.createDataFrame(labels), event_time="at") \
        .join(fg.select(["clicks"])).read("pandas").sort_values(["user_id", "at"])
    expected = pd.merge_asof(labels.sort_values("at"),
                             clicks.toPandas().astype({"user_id": "int64"}).sort_values("day"),
                             left_on="at", right_on="day", by="user_id")
    assert joined["clicks"].fillna(-1).tolist() == \
        expected.sort_values(["user_id", "at"])["clicks"].fillna(-1).tolist() == [3, 5, -1]
    assert sorted(rows(fg.read(online=True))) == [(1, T0 + timedelta(days=1), 5), (2, T0, 1)]
    assert fg.compute_statistics()["row_count"] == 3
    # an unreachable endpoint: a clear error naming the place, nothing registered
    store.create_storage_connector("dead_lake", "s3", bucket="nowhere-ext-bucket",
                                   endpoint="http://127.0.0.1:9", access_key="k",
                                   secret_key_env="FS_TEST_S3_SECRET", options={
                                       "fs.s3a.bucket.nowhere-ext-bucket.attempts.maximum": "1",
                                       "fs.s3a.bucket.nowhere-ext-bucket.retry.limit": "1"})
    monkeypatch.setenv("FS_TEST_S3_SECRET", "x")
    with pytest.raises(FeatureStoreError, match="cannot read s3a://nowhere-ext-bucket/clicks"):
        store.create_external_feature_group("dead", "dead_lake", path="clicks",
                                            data_format="parquet").save()
    assert [g.name for g in store.feature_groups()] == ["clicks"]


@pytest.mark.parametrize("online_env", ["mysql"], indirect=True)
def test_the_demo_reads_its_raw_teams_through_a_jdbc_group_when_mysql_is_configured(online_store):
    """make demo's MySQL branch (its e2e run covers the file one): the teams go into a table of
    the server and are read back through the project's own JDBC connector."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("demo_pipeline", ROOT / "jobs" / "demo_pipeline.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    store = online_store
    teams = demo.raw_data(store.spark)["teams"]
    try:
        fg = demo.raw_teams_group(store, teams)
        assert fg.storage_connector.name == f"{store.settings.project}_onlinefeaturestore"
        assert fg.query == f"SELECT * FROM `{store.settings.project}_raw`.`teams_1`"
        assert sorted(rows(fg.read())) == sorted(rows(teams))
        assert [f.type for f in fg.features] == ["int", "string", "double", "int"]
    finally:
        with store.online.backend.connection(store.settings.project) as conn:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{store.settings.project}_raw`")
