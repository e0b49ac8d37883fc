"""Two real processes upsert into one feature group at once: both land, or one fails with a
ConcurrentWriteError, and nothing of a landed write is lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from featurestore_spark import featurestore
from tests.conftest import ROOT, settings_env

HERE = Path(__file__).parent


def test_two_processes_upsert_at_once(store, fs_home, tmp_path):
    spark = store.spark
    featurestore.create_featuregroup(
        spark.createDataFrame([(0, "t0", 0.0)], "team_id int, name string, score double"),
        "teams", primary_key="team_id")
    env = {**os.environ, **settings_env(fs_home, store.settings.project),
           "FEATURESTORE_SPARK_MASTER": "local[1]", "PYTHONPATH": str(ROOT)}
    barrier = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, str(HERE / "concurrent_writer.py"), str(barrier),
                               str(first), "50"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
             for first in (100, 200)]
    for p in procs:   # wait until both sessions are up, then release them together
        assert json.loads(p.stdout.readline()) == {"ready": True}
    barrier.touch()
    results = []
    for p in procs:
        out, _ = p.communicate(timeout=300)
        assert p.returncode == 0
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert any(r["ok"] for r in results)
    for r in results:
        assert r["ok"] or r["error"] == "ConcurrentWriteError"
    landed = {0} | {k for r, first in zip(results, (100, 200)) if r["ok"]
                    for k in range(first, first + 50)}
    got = {row.team_id for row in featurestore.get_featuregroup("teams").collect()}
    assert got == landed
    commits = store.commits("teams")
    assert sorted(c.commit_id for c in commits[1:]) == sorted(r["commit"] for r in results if r["ok"])
    assert all(c.rows_inserted == 50 for c in commits[1:])
