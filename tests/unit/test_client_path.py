"""Which MySQL client lookups use, in processes that import pandas first (as most notebooks and
model servers do): the C extension through the start-up hook _featurestore_spark_preload.pth, and
else one warning naming the cause and the cost. Against the test MariaDB, no mocks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import mysql_env

HERE = Path(__file__).resolve().parent
ROWS = [[[1, 0.5]], [[2, 1.5]], [], [[1, 0.5]], [[1, 0.5], [2, 1.5]]]


def run_child(mysql_settings, **env: str) -> dict:
    done = subprocess.run([sys.executable, str(HERE / "lookup_child.py")], capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, **mysql_env(mysql_settings), **env})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_lookups_take_the_c_extension_in_a_process_that_imported_pandas_first(mysql_settings):
    seen = run_child(mysql_settings)
    assert seen["hashlib_first"], "pandas no longer imports hashlib: the test proves nothing"
    assert seen["preload"] == "loaded"
    assert seen["have_cext"] is True, seen["client_path"]
    assert seen["statements"] == ["NativeStatement"]
    assert seen["client_path"] == "C extension (NativeStatement)"
    assert seen["rows"] == ROWS
    assert seen["warnings"] == []


def test_the_fallback_to_pure_python_logs_one_warning_with_cause_and_cost(mysql_settings):
    """With the hook off, pandas first really loses the C extension: the lookups still answer,
    through the prepared cursor, and one warning (not one per statement) says why and what it
    costs."""
    seen = run_child(mysql_settings, FEATURESTORE_PRELOAD="0")
    assert seen["hashlib_first"]
    assert seen["preload"] == "off (FEATURESTORE_PRELOAD=0)"
    assert seen["have_cext"] is False
    assert seen["statements"] == ["CursorStatement"]
    assert seen["rows"] == ROWS
    fallback = [w for w in seen["warnings"] if "pure-Python prepared cursor" in w]
    assert len(fallback) == 1, seen["warnings"]
    warning = fallback[0]
    assert warning.startswith("featurestore_spark.online.mysql: ")
    assert "OPENSSL_3." in warning and "not found" in warning           # the loader's words
    assert "FEATURESTORE_PRELOAD=0" in warning and "import pandas" in warning   # the cause
    assert "extra round trip" in warning and "1.5x slower" in warning        # the cost
    assert "_featurestore_spark_preload.pth" in warning                       # the fix
    assert seen["client_path"].startswith("pure Python (cursor) because _mysql_connector does "
                                          "not load (")


def test_doctor_tells_the_client_lookups_use_without_spark(mysql_settings, tmp_path):
    env = {**os.environ, **mysql_env(mysql_settings), "FEATURESTORE_ONLINE_BACKEND": "mysql",
           "FEATURESTORE_HOME": str(tmp_path)}
    # the CLI's main, then a word on whether a SparkContext or its JVM gateway was started
    code = ("import sys; from featurestore_spark.cli import main; rc = main(['doctor']); "
            "from pyspark import SparkContext as C; "
            "print('spark:', C._active_spark_context is None and C._gateway is None); sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    facts = dict(line.split(":", 1) for line in done.stdout.splitlines() if ":" in line)
    facts = {k: v.strip() for k, v in facts.items()}
    assert facts["python"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")
    assert facts["pyspark"][0].isdigit() and facts["delta-spark"][0].isdigit()
    assert facts["online store"] == f"mysql {mysql_settings.describe()}"
    assert facts["online server"].startswith("answers: ") and "MariaDB" in facts["online server"]
    assert facts["start-up hook"].startswith("installed at ")
    assert facts["lookup client, this process"] == "C extension (NativeStatement)"
    assert facts["lookup client, pandas imported first"] == "C extension (NativeStatement)"
    assert "no problems found" in done.stdout
    assert facts["spark"] == "True" and not list(tmp_path.iterdir())   # no Spark, no store made

    exe = Path(sys.executable).with_name("featurestore")            # the console script
    off = subprocess.run([str(exe), "doctor", "--json"], capture_output=True, text=True,
                         timeout=120, env={**env, "FEATURESTORE_PRELOAD": "0"})
    assert off.returncode == 1, off.stdout + off.stderr
    report = json.loads(off.stdout)
    assert report["facts"]["lookup client, pandas imported first"].startswith(
        "pure Python (cursor) because _mysql_connector does not load")
    assert len(report["problems"]) == 1 and "pandas first" in report["problems"][0]
