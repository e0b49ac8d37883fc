"""The main job through real spark-submit in a fresh home; then a later job reads what it wrote
by name, and the CLI describes it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, settings_env

pytestmark = pytest.mark.e2e
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin"


def spark_submit(script: str, *args: str, env: dict) -> subprocess.CompletedProcess:
    jars = ",".join(sorted(str(p) for p in (ROOT / ".cache" / "jars").glob("*.jar")))
    cmd = [str(VENV_BIN / "spark-submit"), "--master", "local[2]", "--properties-file",
           str(ROOT / "conf" / "spark-defaults.conf"), "--jars", jars, str(ROOT / "jobs" / script),
           *args]
    return subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_demo_pipeline_under_spark_submit(tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, **settings_env(home, "football", test_conf=False),
           "PYSPARK_PYTHON": str(VENV_BIN / "python"), "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
           "PYTHONPATH": str(ROOT),
           "FEATURESTORE_STATISTICS_ON_WRITE": "true"}          # the default, as users run it
    run = spark_submit("demo_pipeline.py", env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "demo finished" in run.stdout
    assert "attendances_features v1: 20 rows" in run.stdout
    assert ("raw input: external feature group raw_teams v1, 20 rows read through storage "
            "connector raw_files (teams_1), no copy") in run.stdout
    assert "attendances_features v1 online vs offline: consistent (20 keys online" in run.stdout
    assert (home / "warehouse" / "football_featurestore.db" / "teams_features_1" / "_delta_log").is_dir()
    assert (home / "online" / "football.db").is_file()
    # the query planner and a point-in-time training dataset
    assert "get_features average_attendance, average_player_age: 20 rows" in run.stdout
    assert ("training dataset match_outcomes v1 (tfrecords): 760 rows for 760 labels (train "
            in run.stdout)
    assert "0 with features from after kick-off" in run.stdout
    td = home / "training_datasets" / "football" / "match_outcomes_1"
    assert sorted(p.name for p in td.iterdir()) == ["test", "train"]
    assert list((td / "train").glob("part-*"))

    sync = spark_submit("online_sync.py", "--full", "--check", env=env)
    assert sync.returncode == 0, sync.stderr[-3000:]
    assert "[2/2] players_features v1: full sync to commit 0 (20 rows written" in sync.stdout
    assert sync.stdout.count("online equals offline: 20 keys online") == 2

    later = spark_submit("show_featuregroup.py", "attendances_features", "--as-of", "0", env=env)
    assert later.returncode == 0, later.stderr[-3000:]
    assert "football_featurestore.attendances_features_1: 20 rows" in later.stdout

    cli = subprocess.run([str(VENV_BIN / "featurestore"), "list", "--json"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    listed = json.loads(cli.stdout)
    assert sorted(g["name"] for g in listed) == ["attendances_features", "players_features",
                                                 "raw_teams", "season_scores_features",
                                                 "team_form_features", "teams_features"]
    assert [g["external"] for g in listed if g["name"] == "raw_teams"] == [True]


HIVE_WRITER = """
import featurestore_spark as fs
from featurestore_spark import featurestore
spark = fs.connect().spark
featurestore.create_featuregroup(spark.sql(
    "SELECT id AS team_id, CAST(id * 1000 AS DOUBLE) AS average_attendance FROM range(5)"),
    "attendances_features", primary_key="team_id")
featurestore.insert_into_featuregroup(spark.sql(
    "SELECT 3L AS team_id, 12345.0D AS average_attendance"), "attendances_features", mode="upsert")
print("WRITTEN")
# `featurestore check --json` on the job's own session (a third JVM only repeated this one's start)
from featurestore_spark.cli import main
print("CHECK EXIT", main(["check", "--json"]))
"""

PLAIN_READER = """
import sys
from pyspark.sql import SparkSession
jars, url = sys.argv[1], sys.argv[2]
spark = (SparkSession.builder.master("local[1]").config("spark.jars", jars)
         .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
         .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
         .config("spark.sql.catalogImplementation", "hive")
         .config("spark.hadoop.javax.jdo.option.ConnectionURL", url).getOrCreate())
row = spark.table("football_featurestore.attendances_features_1").where("team_id = 3").first()
print("ATTENDANCE", row.average_attendance)
"""


def test_hive_metastore_tables_are_readable_without_featurestore_spark(tmp_path):
    """A job writes with the Hive metastore (a create and an upsert); plain Spark with only Delta
    and that metastore reads the table by name."""
    home = tmp_path / "home"
    env = {**os.environ, **settings_env(home, "football", test_conf=False),
           "PYSPARK_PYTHON": str(VENV_BIN / "python"), "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
           "PYTHONPATH": str(ROOT), "FEATURESTORE_OFFLINE_METASTORE": "hive"}
    writer = tmp_path / "hive_writer.py"
    writer.write_text(HIVE_WRITER)
    run = spark_submit(str(writer), env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    _, _, checked = run.stdout.partition("WRITTEN")
    # featurestore check on a Hive metastore: its catalog entries are checked too, and agree
    report, _, exit_line = checked.rpartition("CHECK EXIT")
    assert exit_line.strip() == "0", run.stdout + run.stderr[-3000:]
    assert json.loads(report)["consistent"] is True and json.loads(report)["feature_groups"] == 1
    jars = ",".join(sorted(str(p) for p in (ROOT / ".cache" / "jars").glob("*.jar")))
    url = f"jdbc:derby:;databaseName={home / 'metastore_db'};create=false"
    plain = subprocess.run([str(VENV_BIN / "python"), "-c", PLAIN_READER, jars, url], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert "ATTENDANCE 12345.0" in plain.stdout      # the upserted correction


def test_churn_feature_view_job_under_spark_submit(tmp_path):
    """make demo's second job: a feature view with transformations, a model, batch scoring and
    an online vector equal to its batch row."""
    env = {**os.environ, **settings_env(tmp_path / "home", "churn", test_conf=False),
           "PYSPARK_PYTHON": str(VENV_BIN / "python"), "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
           "PYTHONPATH": str(ROOT)}
    run = spark_submit("churn_pipeline.py", env=env)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert "churn demo finished" in run.stdout
    assert "training data v1: " in run.stdout and "2000 customers" in run.stdout
    assert "online vector equals the batch row of customer 7: True" in run.stdout
