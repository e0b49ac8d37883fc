"""featurestore_spark.logs: the libraries' loggers quiet by default, FEATURESTORE_LOG_LEVEL turning
them (and ours) back on, entry points' set-up; and a write, in a process of its own as a job runs
it, that prints our progress lines and none of Spark's, MLlib's or great_expectations' noise."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from featurestore_spark import logs
from featurestore_spark.logs import ENV, LIBRARIES, quiet_libraries, setup_logging

from ..conftest import ROOT, settings_env

GE_BASE = "great_expectations.data_context.types.base"


@pytest.fixture
def levels(monkeypatch):
    """The levels of the loggers these tests touch, put back afterwards; FEATURESTORE_LOG_LEVEL
    unset."""
    monkeypatch.delenv(ENV, raising=False)
    names = (*LIBRARIES, "featurestore_spark", GE_BASE, "")
    before = {n: logging.getLogger(n).level for n in names}
    yield
    for name, level in before.items():
        logging.getLogger(name).setLevel(level)


def test_library_loggers_quiet_unless_set(levels):
    logging.getLogger("py4j").setLevel(logging.NOTSET)
    logging.getLogger("matplotlib").setLevel(logging.DEBUG)          # the user's own choice
    logging.getLogger(GE_BASE).setLevel(logging.INFO)               # what its import does
    ours = logging.getLogger("featurestore_spark").level
    assert quiet_libraries() is None
    assert logging.getLogger("py4j").level == logging.WARNING
    assert not logging.getLogger("great_expectations._docs_decorators").isEnabledFor(logging.INFO)
    assert not logging.getLogger(GE_BASE).isEnabledFor(logging.INFO)
    assert logging.getLogger("matplotlib").level == logging.DEBUG    # kept
    assert logging.getLogger("featurestore_spark").level == ours     # ours untouched


@pytest.mark.parametrize("value, level", [("DEBUG", logging.DEBUG), ("debug", logging.DEBUG),
                                          ("WARN", logging.WARNING), ("15", 15)])
def test_env_level_sets_libraries_and_ours(levels, monkeypatch, value, level):
    monkeypatch.setenv(ENV, value)
    logging.getLogger("matplotlib").setLevel(logging.ERROR)
    assert quiet_libraries() == level
    for name in ("great_expectations", "py4j", "matplotlib", "featurestore_spark"):
        assert logging.getLogger(name).level == level, name
    assert logging.getLogger("great_expectations._docs_decorators").getEffectiveLevel() == level


def test_unknown_env_level_is_ignored_with_one_warning(levels, monkeypatch, caplog):
    monkeypatch.setenv(ENV, "loud")
    monkeypatch.setattr(logs, "_warned", False)
    with caplog.at_level(logging.WARNING, logger="featurestore_spark.logs"):
        assert quiet_libraries() is None
        quiet_libraries()
    assert caplog.text.count("FEATURESTORE_LOG_LEVEL='loud' is not a level") == 1
    assert logging.getLogger("great_expectations").level == logging.WARNING


def test_setup_logging_keeps_a_configured_root(levels):
    root = logging.getLogger()
    handlers = list(root.handlers)               # pytest's own capture handlers
    assert setup_logging(logging.WARNING) == logging.WARNING
    assert root.handlers == handlers
    assert logging.getLogger("featurestore_spark").level == logging.WARNING
    with pytest.raises(ValueError, match="not a logging level"):
        setup_logging("chatty")


ENTRY_POINT = """
import logging
from featurestore_spark.logs import setup_logging
setup_logging()
from featurestore_spark.validation import normalize_suite
normalize_suite({"name": "s", "expectations": [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x"}}]})
logging.getLogger("great_expectations.some.module").info("library chatter")
logging.getLogger("py4j.clientserver").debug("library debug")
logging.getLogger("featurestore_spark.feature_store").info("our progress")
logging.getLogger("featurestore_spark.feature_store").debug("our debug")
logging.getLogger("a_job").info("the job's line")
"""


def _entry_point(**env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != ENV}
    run = subprocess.run([sys.executable, "-c", ENTRY_POINT], env={**environ, **env}, cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.stdout + run.stderr


def test_entry_point_shows_progress_not_library_chatter():
    # great_expectations imported (it logs some 200 INFO lines as it is) after a job's set-up
    out = _entry_point()
    assert "INFO featurestore_spark.feature_store: our progress" in out
    assert "INFO a_job: the job's line" in out
    assert "great_expectations" not in out and "our debug" not in out
    assert "library chatter" not in out and "library debug" not in out


def test_entry_point_at_debug_shows_the_libraries():
    out = _entry_point(**{ENV: "DEBUG"})
    assert "INFO great_expectations.some.module: library chatter" in out
    assert "DEBUG py4j.clientserver: library debug" in out
    assert "DEBUG featurestore_spark.feature_store: our debug" in out
    assert "INFO great_expectations._docs_decorators" in out


WRITE = """
import sys
from featurestore_spark.logs import setup_logging
setup_logging()
import featurestore_spark as fs
from featurestore_spark import featurestore
store = fs.connect()
spark = store.spark
df = spark.sql("SELECT CAST(id AS INT) AS team_id, CAST(id AS DOUBLE) * 1000 AS attendance, "
               "concat('t', id % 7) AS city, TIMESTAMP'2026-01-01 00:00:00' AS at FROM range(30)")
suite = {"name": "a", "expectations": [{"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "attendance", "min_value": 0, "max_value": 150000}}]}
featurestore.create_featuregroup(df, "teams", primary_key="team_id", event_time="at",
                                 expectation_suite=suite)
# a batch whose key is a constant (a window by key over it would be planned without partitions,
# and Spark would warn about it on every query of the batch: 26 times in `make demo`)
batch = spark.sql("SELECT 4 AS team_id, 99.0D AS attendance, 't4' AS city, "
                  "TIMESTAMP'2026-06-01 00:00:00' AS at")
commit = featurestore.insert_into_featuregroup(batch, "teams", mode="upsert")
print("UPDATED", commit.rows_updated)
"""


def test_a_write_prints_our_progress_and_no_library_noise(tmp_path):
    """A create and an upsert of a batch with a constant key, both validated by a suite and with
    statistics (MLlib's correlations and k-means): our INFO lines, none of the libraries'."""
    env = {k: v for k, v in os.environ.items() if k != ENV}
    env.update(settings_env(tmp_path / "home", "logs"), FEATURESTORE_STATISTICS_ON_WRITE="true",
               FEATURESTORE_SPARK_MASTER="local[1]")
    script = tmp_path / "write.py"
    script.write_text(WRITE)
    run = subprocess.run([sys.executable, str(script)], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=600)
    out = run.stdout + run.stderr
    assert run.returncode == 0, run.stderr[-3000:]
    assert "UPDATED 1" in run.stdout
    assert "INFO featurestore_spark.feature_groups: upsert into teams v1: commit 1" in out
    assert "INFO featurestore_spark.quality: statistics of teams v1 commit 1" in out
    for noise in ("WindowExec", "No Partition Defined", "great_expectations", "InstanceBuilder",
                  "dev.ludovic.netlib", "CaseInsensitiveStringMap", "locally checkpointed",
                  "Truncated the string representation", " INFO py4j", " INFO alembic"):
        assert noise not in out, (noise, out[-3000:])


def test_quieting_analysis_errors_keeps_pysparks_own_loggers(spark):
    """Quieting PySpark's log of analysis errors must not leave plain loggers of its names behind:
    every later AnalysisException of the process would be a TypeError (a user's, too)."""
    import logging

    from pyspark.errors import AnalysisException
    from pyspark.logger import PySparkLogger

    from featurestore_spark.logs import ANALYSIS_LOGGERS, quiet_analysis
    with quiet_analysis(), pytest.raises(AnalysisException):
        spark.sql("SELECT * FROM no_such_table_anywhere")
    assert all(isinstance(logging.getLogger(n), PySparkLogger) for n in ANALYSIS_LOGGERS)
    with pytest.raises(AnalysisException):          # raised as it is, not as a TypeError
        spark.sql("SELECT * FROM no_such_table_anywhere")
    assert not any(logging.getLogger(n).disabled for n in ANALYSIS_LOGGERS)
