"""How a session is built: whatever launched the process wins over the project's defaults, Delta
comes from wherever the user put it, and the cluster checks refuse what cannot work there. Each
case starts its own driver JVM in a subprocess (the suite's session is already running)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from featurestore_spark.config import hadoop_location
from featurestore_spark.session import on_one_machine

from ..conftest import ROOT, settings_env

VENV_BIN = Path(sys.executable).parent
PROBE = """
import json, sys
from featurestore_spark.config import load_settings
from featurestore_spark.errors import ConfigurationError
from featurestore_spark.session import get_spark
try:
    spark = get_spark(load_settings(sys.argv[1]))
except ConfigurationError as e:
    print(json.dumps({"error": str(e)}))
    raise SystemExit(0)
spark.range(3).write.format("delta").save(sys.argv[2])
print(json.dumps({
    "master": spark.sparkContext.master, "app": spark.sparkContext.appName,
    "shuffle": spark.conf.get("spark.sql.shuffle.partitions"),
    "snapshot": spark.conf.get("spark.databricks.delta.snapshotPartitions"),
    "extensions": spark.conf.get("spark.sql.extensions"),
    "rows": spark.read.format("delta").load(sys.argv[2]).count()}))
"""


def _probe(tmp_path: Path, command: list[str], env: dict[str, str]) -> dict:
    script = tmp_path / "probe.py"
    script.write_text(PROBE)
    full_env = {**os.environ, **settings_env(tmp_path / "home", test_conf=False), **env,
                "PATH": f"{VENV_BIN}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(command + [str(script), str(ROOT / "conf" / "featurestore.toml"),
                                    str(tmp_path / "table")],
                         cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_pyspark_submit_args_win_over_the_settings(tmp_path):
    seen = _probe(tmp_path, [sys.executable], {
        "PYSPARK_SUBMIT_ARGS": "--master local[1] --name mine "
                               "--conf spark.sql.shuffle.partitions=7 pyspark-shell"})
    assert seen["master"] == "local[1]" and seen["app"] == "mine" and seen["shuffle"] == "7"
    # what the user left unset still comes from conf/spark-defaults.conf, and Delta works
    assert seen["snapshot"] == "2" and seen["rows"] == 3
    assert "io.delta.sql.DeltaSparkSessionExtension" in seen["extensions"]


def test_spark_submit_master_conf_and_name_win(tmp_path):
    jars = ",".join(str(p) for p in sorted((ROOT / ".cache" / "jars").glob("*.jar")))
    seen = _probe(tmp_path, [str(VENV_BIN / "spark-submit"), "--master", "local[1]",
                             "--name", "submitted", "--conf", "spark.sql.shuffle.partitions=64",
                             "--conf", "spark.sql.extensions=org.example.Missing",
                             "--jars", jars],
                  {"FEATURESTORE_SPARK_JARS_DIR": str(tmp_path / "no-jars-here"),
                   "PYSPARK_PYTHON": sys.executable})
    assert seen["master"] == "local[1]" and seen["app"] == "submitted"
    assert seen["shuffle"] == "64" and seen["snapshot"] == "2" and seen["rows"] == 3
    # the user's extensions are kept, Delta's added (a missing class is only a warning in Spark)
    assert seen["extensions"].split(",") == ["org.example.Missing",
                                             "io.delta.sql.DeltaSparkSessionExtension"]


def test_settings_master_applies_when_nothing_else_sets_one(tmp_path):
    seen = _probe(tmp_path, [sys.executable], {"FEATURESTORE_SPARK_MASTER": "local[1]"})
    assert seen["master"] == "local[1]" and seen["app"] == "featurestore_spark"


def test_delta_missing_from_the_classpath_is_a_clear_error(tmp_path):
    seen = _probe(tmp_path, [sys.executable],
                  {"FEATURESTORE_SPARK_JARS_DIR": str(tmp_path / "no-jars-here")})
    assert "not on the driver's classpath" in seen["error"]
    assert "--packages io.delta:delta-spark_4.1_2.13" in seen["error"]


def test_local_masters_and_hadoop_locations():
    assert on_one_machine("local") and on_one_machine("local[*]") and on_one_machine("local[2,3]")
    assert on_one_machine("local-cluster[2,1,1024]")
    assert not on_one_machine("spark://127.0.0.1:7077") and not on_one_machine("yarn")
    home = Path("/h")
    assert hadoop_location("warehouse", home) == "/h/warehouse"
    assert hadoop_location("/abs/wh", home) == "/abs/wh"
    for uri in ("s3a://bucket/wh", "hdfs://nn:8020/wh", "file:///data/wh", "abfss://c@a.dfs/wh"):
        assert hadoop_location(uri + "/", home) == uri


@pytest.mark.parametrize("relative", [True, False])
def test_warehouse_uri_is_used_as_given(tmp_path, relative):
    from featurestore_spark.config import load_settings
    wh = "wh" if relative else f"file://{tmp_path}/wh"
    settings = load_settings(ROOT / "conf" / "featurestore.toml",
                             {**settings_env(tmp_path), "FEATURESTORE_OFFLINE_WAREHOUSE": wh})
    assert settings.warehouse == (str(tmp_path / "wh") if relative else wh)


@pytest.mark.parametrize("embedded", ["online", "metadata", "metadata and online"])
def test_embedded_sqlite_is_refused_with_a_cluster_master(tmp_path, embedded, caplog):
    from featurestore_spark.config import load_settings
    from featurestore_spark.errors import ConfigurationError
    from featurestore_spark.session import check_cluster
    mysql = {f"FEATURESTORE_{kind.upper()}_BACKEND": "mysql" for kind in ("online", "metadata")
             if kind not in embedded}
    settings = load_settings(ROOT / "conf" / "featurestore.toml", {**settings_env(tmp_path), **mysql})
    check_cluster(settings, "local[2]")                          # one machine: nothing to refuse
    for master in ("spark://10.0.0.1:7077", "yarn", "k8s://https://kube:6443"):
        with pytest.raises(ConfigurationError, match=f"{embedded} store.*SQLite.*MySQL") as e:
            check_cluster(settings, master)
        assert master in str(e.value)
    # shared stores on a cluster: accepted, with a warning for a warehouse on a local path
    shared = load_settings(ROOT / "conf" / "featurestore.toml", {
        **settings_env(tmp_path), "FEATURESTORE_ONLINE_BACKEND": "mysql",
        "FEATURESTORE_METADATA_BACKEND": "mysql"})
    with caplog.at_level("WARNING", logger="featurestore_spark"):
        check_cluster(shared, "yarn")
    assert "local path but the master is yarn" in caplog.text
