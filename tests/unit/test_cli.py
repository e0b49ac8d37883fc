"""The featurestore CLI, over a real SQLite metadata store (no Spark)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from featurestore_spark.cli import main
from featurestore_spark.metadata import Commit, Feature, FeatureGroup
from featurestore_spark.metadata.sqlite import SqliteMetadataStore

T = datetime(2026, 11, 24, 10, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)               # no conf/featurestore.toml: defaults apply
    monkeypatch.setenv("FEATURESTORE_HOME", str(tmp_path))
    monkeypatch.setenv("FEATURESTORE_PROJECT", "football")
    meta = SqliteMetadataStore(tmp_path / "metadata.db")
    for version in (1, 2):
        g = FeatureGroup("football", "teams", version, f"teams v{version}",
                         (Feature("team_id", "int", "", True), Feature("region", "string", "", False, True),
                          Feature("budget", "double", "money")),
                         ("team_id",), ("region",), None, f"/w/teams_{version}", T, "ana")
        meta.create_feature_group(g, Commit(0, T, "create", 20, 0, 0, "ana"))
    meta.add_commit(meta.get_feature_group("football", "teams", 1), Commit(1, T, "upsert", 2, 3, 0, "bo"))
    return tmp_path


def test_list(home, capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["name", "version", "features"]
    assert [line.split()[:5] for line in out[2:]] == [["teams", "1", "3", "team_id", "2"],
                                                      ["teams", "2", "3", "team_id", "1"]]
    assert main(["list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(g["name"], g["version"], g["last_commit"]) for g in listed] == [("teams", 1, 1), ("teams", 2, 0)]


def test_empty_project(home, capsys):
    assert main(["list", "--project", "empty"]) == 0
    assert "no feature groups in feature store empty_featurestore" in capsys.readouterr().out
    assert main(["list", "--project", "empty", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_describe(home, capsys):
    assert main(["describe", "teams", "--version", "1"]) == 0
    out = capsys.readouterr().out
    assert "table:          football_featurestore.teams_1" in out
    assert "partitioned by: region" in out and "versions:       1, 2" in out
    assert any(line.split() == ["budget", "double", "money"] for line in out.splitlines())
    assert any(line.split()[:3] == ["1", "2026-11-24T10:00:00+00:00", "upsert"] for line in out.splitlines())
    assert main(["describe", "teams", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["version"], info["primary_key"], info["versions"]) == (2, ["team_id"], [1, 2])
    assert info["features"][1] == {"name": "region", "type": "string", "description": "",
                                   "primary": False, "partition": True}


def test_history(home, capsys):
    assert main(["history", "teams", "--version", "1", "--json"]) == 0
    commits = json.loads(capsys.readouterr().out)
    assert [(c["commit_id"], c["operation"], c["rows_updated"], c["creator"]) for c in commits] == \
        [(0, "create", 0, "ana"), (1, "upsert", 3, "bo")]
    assert commits[1]["committed_at"] == "2026-11-24T10:00:00+00:00"


def test_errors_exit_2_with_the_message(home, capsys):
    assert main(["describe", "nope"]) == 2
    assert "featurestore: error: feature group nope does not exist" in capsys.readouterr().err
    assert main(["history", "teams", "--version", "9"]) == 2
    assert "version 9" in capsys.readouterr().err
    assert main(["--conf", str(home / "missing.toml"), "list"]) == 2
    assert "does not exist" in capsys.readouterr().err


NO_SPARK_CHECK = """
import contextlib, io, json, sys
from importlib.metadata import entry_points
[script] = entry_points(group="console_scripts", name="featurestore")
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = script.load()(["list", "--json"])
context = sys.modules.get("pyspark.core.context") or sys.modules.get("pyspark.context")
print(json.dumps({"code": code, "groups": len(json.loads(out.getvalue())),
                  "context": None if context is None
                  else repr(context.SparkContext._active_spark_context)}))
"""


def test_console_script_starts_no_spark(home):
    """The console script's own function, run to its end: no SparkContext exists after it
    (``context``: None when pyspark's module for it was not even imported)."""
    script = os.path.join(os.path.dirname(sys.executable), "featurestore")
    run = subprocess.run([script, "list", "--json"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert len(json.loads(run.stdout)) == 2
    checked = subprocess.run([sys.executable, "-c", NO_SPARK_CHECK], capture_output=True,
                             text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    found = json.loads(checked.stdout)
    assert (found["code"], found["groups"]) == (0, 2)
    assert found["context"] in (None, "None"), found
