"""jobs/compute_statistics.py through real spark-submit, on a feature group this process wrote
into a fresh home (the job's catalog is loaded from the same metadata store)."""

from __future__ import annotations

import os

import pytest

import featurestore_spark as fs
from featurestore_spark import featurestore
from featurestore_spark.config import load_settings
from tests.conftest import ROOT, settings_env
from tests.e2e.test_demo_job import VENV_BIN, spark_submit

pytestmark = pytest.mark.e2e


def test_compute_statistics_job_under_spark_submit(spark, tmp_path):
    home, plots = tmp_path / "home", tmp_path / "plots"
    settings = settings_env(home, "stats", test_conf=False)   # statistics not computed on write
    store = fs.connect(load_settings(ROOT / "conf" / "featurestore.toml", settings), spark)
    rows = [(i, float(i % 7), i * 1.5, "abc"[i % 3]) for i in range(30)]
    featurestore.create_featuregroup(
        spark.createDataFrame(rows, "id int, rating double, minutes double, team string"),
        "players", primary_key="id")
    group = store.feature_group("players")
    with pytest.raises(fs.InvalidInputError, match="none were computed"):
        store.quality.statistics(group)

    env = {**os.environ, **settings, "PYSPARK_PYTHON": str(VENV_BIN / "python"),
           "PATH": f"{VENV_BIN}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    run = spark_submit("compute_statistics.py", "players", "--plots", str(plots), env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "[1/1] players v1 commit 0: 30 rows, 4 columns, " in run.stdout
    assert f"    6 figure(s) in {plots / 'players_v1'}" in run.stdout
    figures = sorted(p.name for p in (plots / "players_v1").iterdir())
    assert figures == ["clusters.png", "correlations.png", "histogram_id.png",
                       "histogram_minutes.png", "histogram_rating.png", "histogram_team.png"]
    assert all((plots / "players_v1" / f).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
               for f in figures)
    # kept in the metadata store, as this process reads it
    stats = store.quality.statistics(group)
    assert (stats["commit"], stats["row_count"]) == (0, 30)
    assert stats["descriptive"]["minutes"]["mean"] == pytest.approx(sum(r[2] for r in rows) / 30)
    assert stats["clusters"]["k"] == 5
