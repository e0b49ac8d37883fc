"""The feature store on a real multi-process Spark cluster, as a user deploys it (README, "On a
cluster"): a standalone master and two workers started here, jobs/cluster_check.py submitted from
another folder with the package as a zip in --py-files, executors whose Python has the
dependencies but not the package, metadata and online stores on MariaDB, and the offline
warehouse and training datasets on s3a:// against the project's S3 server (moto)."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from featurestore_spark.packaging import build_zip
from featurestore_spark.training.formats import DATA_FORMATS
from tests.conftest import ROOT, read_env_file

pytestmark = pytest.mark.e2e
CLUSTER = ROOT / "conf" / "spark-cluster" / "cluster.sh"
VENV = ROOT / ".venv"


@pytest.fixture(scope="module")
def cluster():
    """The master URL and the executors' python; a cluster this test started is stopped after."""
    running = subprocess.run([str(CLUSTER), "status"], capture_output=True).returncode == 0
    start = subprocess.run([str(CLUSTER), "start"], capture_output=True, text=True, timeout=300)
    assert start.returncode == 0, start.stdout[-2000:] + start.stderr[-2000:]
    python = subprocess.run([str(CLUSTER), "worker-env"], capture_output=True, text=True,
                            check=True).stdout.strip().splitlines()[-1]
    url = (ROOT / ".cache" / "spark-cluster" / "master.url").read_text().strip()
    yield url, python
    if not running:
        subprocess.run([str(CLUSTER), "stop"], capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def s3_env() -> dict[str, str]:
    found = read_env_file(ROOT / ".cache" / "s3.env")
    if "FEATURESTORE_TEST_S3_ENDPOINT" not in found:
        pytest.fail("no test S3 server: run the tests with `make test` (or `make s3` first), "
                    "which starts one on 127.0.0.1 and writes .cache/s3.env")
    return found


def s3_conf(s3: dict[str, str]) -> list[str]:
    conf = {"endpoint": s3["FEATURESTORE_TEST_S3_ENDPOINT"], "path.style.access": "true",
            "endpoint.region": s3["FEATURESTORE_TEST_S3_REGION"],
            "connection.ssl.enabled": "false",
            "aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
            "access.key": s3["FEATURESTORE_TEST_S3_ACCESS_KEY"],
            "secret.key": s3["FEATURESTORE_TEST_S3_SECRET_KEY"]}
    return [arg for k, v in conf.items() for arg in ("--conf", f"spark.hadoop.fs.s3a.{k}={v}")]


def test_cluster_check_job_on_a_standalone_cluster_with_s3(cluster, s3_env, mysql_env, tmp_path):
    master, executor_python = cluster
    # run from a folder of its own: the package comes from the zip, the settings from the env
    work = tmp_path / "work"
    work.mkdir()
    zip_file = build_zip(work / "featurestore_spark.zip")
    job = Path(shutil.copy(ROOT / "jobs" / "cluster_check.py", work))
    jars = sorted(str(p) for d in ("jars", "jars-s3") for p in (ROOT / ".cache" / d).glob("*.jar"))
    prefix = f"s3a://{s3_env['FEATURESTORE_TEST_S3_BUCKET']}/cluster-{uuid.uuid4().hex[:8]}"
    project = f"cluster_{uuid.uuid4().hex[:6]}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FEATURESTORE_", "PYSPARK_", "PYTHONPATH"))}
    env.update({k: v for k, v in mysql_env.items() if k.startswith("FEATURESTORE_MYSQL_")})
    env.update({
        "SPARK_HOME": str(next((VENV / "lib").glob("python3*/site-packages/pyspark"))),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_DRIVER_PYTHON": str(VENV / "bin" / "python"),
        "PYSPARK_PYTHON": executor_python,
        "FEATURESTORE_HOME": str(tmp_path / "home"), "FEATURESTORE_PROJECT": project,
        "FEATURESTORE_METADATA_BACKEND": "mysql", "FEATURESTORE_ONLINE_BACKEND": "mysql",
        "FEATURESTORE_METADATA_DATABASE": f"{project}_meta",
        "FEATURESTORE_OFFLINE_WAREHOUSE": f"{prefix}/warehouse",
        "FEATURESTORE_TRAINING_PATH": f"{prefix}/training_datasets",
        "FEATURESTORE_STATISTICS_ON_WRITE": "true",
    })
    cmd = [str(VENV / "bin" / "spark-submit"), "--master", master, "--name", "cluster-check",
           "--py-files", str(zip_file), "--jars", ",".join(jars),
           "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.driver.bindAddress=127.0.0.1",
           "--conf", "spark.executor.memory=768m", "--conf", "spark.driver.memory=1g",
           "--conf", "spark.sql.shuffle.partitions=4", "--conf", "spark.ui.enabled=false",
           # start once both executors (one core each) are registered, so both run tasks
           "--conf", "spark.cores.max=2", "--conf", "spark.scheduler.minRegisteredResourcesRatio=1",
           "--conf", "spark.scheduler.maxRegisteredResourcesWaitingTime=120s",
           "--conf", "spark.databricks.delta.snapshotPartitions=2",
           *s3_conf(s3_env), str(job)]                     # a training dataset in every format
    run = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=1200)
    out = run.stdout
    (tmp_path / "stdout.txt").write_text(out)
    (tmp_path / "stderr.txt").write_text(run.stderr)     # Spark's driver log, to look into
    assert run.returncode == 0 and "cluster check passed" in out, out[-6000:]
    assert f"master {master}" in out and f"warehouse {prefix}/warehouse" in out
    # executors found the package in the zip only, and both workers ran tasks
    package_line = next(l for l in out.splitlines() if "package on the executors" in l)
    assert "featurestore_spark.zip/featurestore_spark/__init__.py" in package_line
    assert "2 executor folder(s)" in package_line
    assert "[ok] embedded SQLite refused" in out
    for data_format in DATA_FORMATS:
        assert f"[ok] training dataset ({data_format}): 40 rows in {prefix}/training_datasets/" in out
    # the files are on S3: Delta's log of each feature group, read back with boto3
    import boto3
    s3 = boto3.client("s3", endpoint_url=s3_env["FEATURESTORE_TEST_S3_ENDPOINT"],
                      aws_access_key_id=s3_env["FEATURESTORE_TEST_S3_ACCESS_KEY"],
                      aws_secret_access_key=s3_env["FEATURESTORE_TEST_S3_SECRET_KEY"],
                      region_name=s3_env["FEATURESTORE_TEST_S3_REGION"])
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=s3_env["FEATURESTORE_TEST_S3_BUCKET"], Prefix=prefix.split("/", 3)[3])
        for o in page.get("Contents", [])]
    for table in ("daily_scores_1", "user_scores_1"):
        assert any(f"{project}_featurestore.db/{table}/_delta_log/" in k for k in keys), table
