"""The main job: a football feature pipeline (the example of the Hopsworks docs), end to end.

It generates a small deterministic raw dataset with Spark (teams, players, match attendances,
season scores; the teams registered as an external feature group, read where they are kept),
computes five feature groups and writes them, upserts a correction, reads the older commit back
by time travel, serves feature vectors from the online store, joins features with
``get_features``, and writes a training dataset of match outcomes whose features are joined point
in time (each match sees the team's form as it was before kick-off). It prints a summary. Run it
with ``make demo`` (spark-submit) or ``python jobs/demo_pipeline.py``; the feature store lands in
``$FEATURESTORE_HOME`` (``.featurestore/`` by default). Re-running creates new versions of the
feature groups.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

import featurestore_spark as fs
from featurestore_spark import Hops, featurestore
from featurestore_spark.connectors import StorageConnectorNotFound
from featurestore_spark.logs import setup_logging

log = logging.getLogger("demo_pipeline")

TEAMS, PLAYERS_PER_TEAM, MATCHES, SEASONS = 20, 25, 38, 5
# a great_expectations suite (its JSON form): attendances are known and plausible
ATTENDANCE_SUITE = {"name": "attendances", "expectations": [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "average_attendance"}},
    {"type": "expect_column_values_to_be_between",
     "kwargs": {"column": "average_attendance", "min_value": 0, "max_value": 150_000}}]}


def pick(col: str, salt: int, modulo: int) -> F.Column:
    """A deterministic pseudo-random integer in [0, modulo) from a column."""
    return F.pmod(F.xxhash64(F.col(col), F.lit(salt)), F.lit(modulo))


def raw_data(spark: SparkSession) -> dict[str, DataFrame]:
    teams = spark.range(1, TEAMS + 1).select(
        F.col("id").cast("int").alias("team_id"),
        F.concat(F.lit("team_"), F.col("id")).alias("team_name"),
        (pick("id", 1, 90_000_000) + 10_000_000).cast("double").alias("team_budget"),
        (pick("id", 2, TEAMS) + 1).cast("int").alias("team_position"))
    players = spark.range(TEAMS * PLAYERS_PER_TEAM).select(
        F.col("id").cast("int").alias("player_id"),
        (F.col("id") % TEAMS + 1).cast("int").alias("team_id"),
        (pick("id", 3, 18) + 17).cast("int").alias("age"),
        (pick("id", 4, 500) / 100 + 5).alias("rating"))
    attendances = spark.range(TEAMS * MATCHES).select(
        (F.col("id") % TEAMS + 1).cast("int").alias("team_id"),
        F.timestamp_seconds(F.lit(1_754_000_000) + (F.col("id") / TEAMS).cast("int") * 604_800)
        .alias("match_time"),
        (pick("id", 5, 40_000) + 5_000).cast("double").alias("attendance"))
    scores = spark.range(TEAMS * SEASONS).select(
        (F.col("id") % TEAMS + 1).cast("int").alias("team_id"),
        (pick("id", 6, TEAMS) + 1).cast("int").alias("position"))
    return {"teams": teams, "players": players, "attendances": attendances, "scores": scores}


def features(raw: dict[str, DataFrame]) -> dict[str, tuple[DataFrame, dict]]:
    """The feature groups: DataFrame and create options of each."""
    players = raw["players"].groupBy("team_id").agg(
        F.avg("age").alias("average_player_age"), F.avg("rating").alias("average_player_rating"),
        F.sum("rating").alias("sum_player_rating"))
    attendances = raw["attendances"].groupBy("team_id").agg(
        F.avg("attendance").alias("average_attendance"), F.sum("attendance").alias("sum_attendance"),
        F.max("match_time").alias("last_match_time"))
    scores = raw["scores"].groupBy("team_id").agg(
        F.avg("position").alias("average_position"), F.min("position").alias("best_position"))
    # the form of each team after each match: a row per (team, match), with its event time
    last_three = (Window.partitionBy("team_id").orderBy("match_time").rowsBetween(-2, 0))
    form = raw["attendances"].select(
        "team_id", "match_time", F.avg("attendance").over(last_three).alias("recent_attendance"),
        F.count("*").over(last_three.rowsBetween(Window.unboundedPreceding, 0))
        .alias("matches_played"))
    return {
        "teams_features": (raw["teams"], {"description": "budget and league position of each team"}),
        "players_features": (players, {"description": "player age and rating averaged per team",
                                       "online": True}),
        "attendances_features": (attendances, {"description": "home match attendance per team",
                                               "event_time": "last_match_time", "online": True,
                                               "expectations": ATTENDANCE_SUITE}),
        "season_scores_features": (scores, {"description": "final positions over past seasons"}),
        "team_form_features": (form, {"description": "attendance over the last three matches, "
                                      "after each match", "event_time": "match_time",
                                      "primary_key": ["team_id", "match_time"]}),
    }


def match_labels(spark: SparkSession) -> DataFrame:
    """What a model learns to predict: did the team win the match it played 3 days after each
    attendance record (kick-off time, and the outcome)."""
    return spark.range(TEAMS * MATCHES).select(
        (F.col("id") % TEAMS + 1).cast("int").alias("team_id"),
        F.timestamp_seconds(F.lit(1_754_000_000 + 3 * 86_400)
                            + (F.col("id") / TEAMS).cast("int") * 604_800).alias("kickoff"),
        (pick("id", 7, 2) == 1).alias("won"))


def next_version(name: str) -> int:
    try:
        return featurestore.get_latest_featuregroup_version(name) + 1
    except fs.FeatureGroupNotFound:
        return 1


def raw_teams_group(store: fs.FeatureStore, teams: DataFrame) -> Any:
    """The raw teams as an external feature group, read where they are: a table of the MySQL
    server through JDBC when the online store is MySQL (the project's own connector), else
    parquet files through a file connector. Returns its handle."""
    version = next_version("raw_teams")
    project = store.settings.project
    if store.settings.online.backend == "mysql":
        import mysql.connector

        from featurestore_spark.online.mysql import database
        db = f"{project}_raw"            # the raw data's own database, beside the online one
        server = mysql.connector.connect(**store.settings.mysql.connect_args())
        for name in (db, database(project)):   # the connector's URL names the online database
            server.cursor().execute(f"CREATE DATABASE IF NOT EXISTS `{name}`")
        server.close()
        connector = store.get_storage_connector(f"{project}_onlinefeaturestore")
        (teams.write.format("jdbc").options(**connector.spark_options())
         .option("dbtable", f"`{db}`.`teams_{version}`").mode("overwrite").save())
        source = {"query": f"SELECT * FROM `{db}`.`teams_{version}`"}
    else:
        try:
            connector = store.get_storage_connector("raw_files")
        except StorageConnectorNotFound:
            connector = store.create_storage_connector(
                "raw_files", "file", path=f"{store.settings.home_path}/raw",
                description="the raw inputs of the demo")
        teams.write.mode("overwrite").parquet(connector.location(f"teams_{version}"))
        source = {"path": f"teams_{version}", "data_format": "parquet"}
    fg = store.create_external_feature_group(
        "raw_teams", connector, version=version, primary_key=["team_id"],
        description="the raw teams, where they are kept", **source)
    fg.save()
    return fg


def next_training_version(name: str) -> int:
    try:
        return featurestore.get_latest_training_dataset_version(name) + 1
    except fs.TrainingDatasetNotFound:
        return 1


def main() -> int:
    setup_logging()   # INFO progress lines; libraries quiet (FEATURESTORE_LOG_LEVEL)
    store = fs.connect()
    spark = store.spark
    log.info("feature store %s_featurestore in %s", store.settings.project,
             store.settings.home_path)

    raw = raw_data(spark)
    raw_teams = raw_teams_group(store, raw["teams"])     # read through its connector from now on
    raw["teams"] = raw_teams.read()
    written = {}
    for name, (df, options) in features(raw).items():
        version = next_version(name)
        builder = (Hops.createFeaturegroup(name).setDataframe(df)
                   .setPrimaryKey(options.get("primary_key", "team_id"))
                   .setVersion(version).setDescription(options["description"]))
        if "event_time" in options:
            builder = builder.setEventTime(options["event_time"])
        builder = builder.setOnline(options.get("online", False))   # online: served by key
        if "expectations" in options:        # every write of it is validated first
            builder = builder.setExpectationSuite(options["expectations"])
        written[name] = builder.write()
        log.info("created %s version %d", name, version)

    # A correction arrives: team 3's attendance was mis-counted. Two rows for the key: the one
    # with the latest event time wins.
    att = written["attendances_features"]
    correction = spark.sql(
        "SELECT 3 AS team_id, 12345.0D AS average_attendance, 469110.0D AS sum_attendance, "
        "TIMESTAMP'2026-06-01 00:00:00' AS last_match_time UNION ALL "
        "SELECT 3, 99999.0D, 99999.0D, TIMESTAMP'2026-05-01 00:00:00'")
    # Through a feature group handle, in the Hopsworks client's words: insert upserts on the key
    att_fg = store.get_feature_group(att.name, version=att.version)
    commit = att_fg.insert(correction)

    # A bad batch is refused by the suite (STRICT): nothing of it is written anywhere
    bad = spark.sql("SELECT 4 AS team_id, -10.0D AS average_attendance, 0.0D AS sum_attendance, "
                    "TIMESTAMP'2026-06-02 00:00:00' AS last_match_time")
    try:
        featurestore.insert_into_featuregroup(bad, att.name, featuregroup_version=att.version,
                                              mode="upsert")
        refused = "NOT refused"
    except fs.DataValidationError as e:
        failed = [r["expectation_type"] for r in e.report["results"] if not r["success"]]
        refused = f"refused by its suite ({', '.join(failed)}), nothing written"
    # the statistics of both commits (computed as each was written, unless statistics on write
    # are turned off: then on demand), and how the features changed between them
    for c in (0, commit.commit_id):
        try:
            statistics = featurestore.get_featuregroup_statistics(
                att.name, featuregroup_version=att.version, commit=c)
        except fs.InvalidInputError:
            statistics = featurestore.update_featuregroup_stats(
                att.name, featuregroup_version=att.version, commit=c)
    change = featurestore.compare_featuregroup_statistics(att.name, 0, commit.commit_id,
                                                          featuregroup_version=att.version)

    before = att_fg.read(wallclock_time=0).where("team_id = 3").first()     # time travel
    after = (Hops.getFeaturegroup(att.name).setVersion(att.version).read()   # the builders' face
             .where("team_id = 3").first())
    joined = featurestore.sql(
        f"SELECT t.team_id, t.team_position, p.average_player_age, a.average_attendance "
        f"FROM teams_features_{written['teams_features'].version} t "
        f"JOIN players_features_{written['players_features'].version} p USING (team_id) "
        f"JOIN {att.name}_{att.version} a USING (team_id) ORDER BY t.team_id LIMIT 5")

    # Serving: feature vectors by primary key from the online store, as a model would read them
    serve = ["average_player_age", "average_player_rating", "average_attendance"]
    versions = {n: written[n].version for n in ("players_features", "attendances_features")}
    vector = featurestore.get_online_feature_vector(serve, 3, featuregroups_version_dict=versions)
    batch = featurestore.get_online_feature_vectors(serve, [1, 2, 3, 999], return_type="pandas",
                                                    featuregroups_version_dict=versions)
    report = featurestore.check_online_featuregroup(att.name, featuregroup_version=att.version)

    # The query planner: features found by name in their feature groups and joined on team_id
    found = featurestore.get_features(["average_attendance", "average_player_age"],
                                      featuregroups_version_dict={n: g.version for n, g in
                                                                  written.items()})
    # A training dataset: each match gets the team's form as it was at kick-off (point in time)
    # and its players' averages; split 80/20 by a seeded hash, written as TFRecords
    form, players = written["team_form_features"], written["players_features"]
    labels = match_labels(spark)
    query = (store.query_labels(labels, event_time="kickoff")
             .join(store.query(form.name, form.version)
                   .select(["match_time", "recent_attendance", "matches_played"]), on="team_id")
             .join(store.query(players.name, players.version)
                   .select(["average_player_age", "average_player_rating"]), on="team_id"))
    td = featurestore.create_training_dataset(
        query, "match_outcomes", description="match outcomes with the team's form at kick-off",
        data_format="tfrecords", splits={"train": 0.8, "test": 0.2}, seed=42,
        training_dataset_version=next_training_version("match_outcomes"))
    split_rows = {s: featurestore.get_training_dataset(td.name, training_dataset_version=td.version,
                                                       split=s).count() for s in td.split_names}
    written_rows = featurestore.get_training_dataset(td.name, training_dataset_version=td.version)
    from_the_future = written_rows.where("match_time > kickoff").count()

    print("\n== featurestore_spark demo ==")
    print(f"feature store: {store.settings.project}_featurestore in {store.settings.home_path}")
    for name, group in written.items():
        n = featurestore.get_featuregroup(name, featuregroup_version=group.version).count()
        print(f"  {name} v{group.version}: {n} rows, {len(group.features)} features, "
              f"key {', '.join(group.primary_key)}")
    raw_rows = raw_teams.read().count()
    print(f"raw input: external feature group {raw_teams.name} v{raw_teams.version}, "
          f"{raw_rows} rows read through storage connector "
          f"{raw_teams.storage_connector.name} ({raw_teams.query or raw_teams.path}), no copy")
    print(f"upsert into {att.name} v{att.version}: commit {commit.commit_id}, "
          f"{commit.rows_updated} row(s) updated, {commit.rows_inserted} inserted")
    print(f"team 3 average_attendance: {before.average_attendance} at commit 0 (time travel), "
          f"{after.average_attendance} now")
    print(f"a negative attendance for team 4: {refused}")
    mean = change["features"]["average_attendance"]["mean_change"]
    print(f"statistics of {att.name} commit {statistics['commit']} (computed as Spark jobs): "
          f"{statistics['row_count']} rows, average_attendance mean "
          f"{statistics['descriptive']['average_attendance']['mean']:.1f} ({mean:+.1f} since "
          f"commit 0)")
    print("first teams, joined across feature groups:")
    for row in joined.collect():
        print("  " + ", ".join(f"{k}={v}" for k, v in row.asDict().items()))
    print(f"online store ({store.settings.online.backend}): vector of team 3: {vector}")
    print("batch of teams 1, 2, 3, 999 (unknown):")
    print("  " + batch.to_string().replace("\n", "\n  "))
    print(f"{att.name} v{att.version} online vs offline: "
          f"{'consistent' if report.consistent else 'NOT consistent'} "
          f"({report.online_rows} keys online, synced to commit {report.online_commit})")
    print(f"get_features average_attendance, average_player_age: {found.count()} rows, "
          f"columns {', '.join(found.columns)}")
    print(f"training dataset {td.name} v{td.version} ({td.data_format}): "
          f"{sum(split_rows.values())} rows for {labels.count()} labels "
          f"({', '.join(f'{k} {v}' for k, v in split_rows.items())}), "
          f"{from_the_future} with features from after kick-off, in {td.location}")
    ok = (after.average_attendance == 12345.0 and before.average_attendance != 12345.0
          and vector["average_attendance"] == 12345.0 and report.consistent
          and found.count() == TEAMS and sum(split_rows.values()) == TEAMS * MATCHES
          and from_the_future == 0 and refused.startswith("refused") and raw_rows == TEAMS)
    print("demo " + ("finished" if ok else "FAILED: a check above does not hold"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
