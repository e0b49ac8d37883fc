"""``featurestore statistics`` and ``featurestore validation`` over a real feature store (the
values checked against pandas on the same rows), and jobs/compute_statistics.py run in this
process (its spark-submit run is in tests/e2e/test_statistics_job.py)."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pandas as pd
import pytest

from featurestore_spark import featurestore
from featurestore_spark.cli import main as cli
from featurestore_spark.statistics import StatisticsConfig

from ..conftest import ROOT, settings_env

LIGHT = StatisticsConfig(cluster_analysis=False, num_bins=5)     # k-means: one case below
SCHEMA = "id int, rating double, minutes double, team string"
COLUMNS = ["id", "rating", "minutes", "team"]
FIRST = [(i, None if i % 10 == 0 else float(i % 7), i * 1.5, "abc"[i % 3]) for i in range(30)]
LATER = [(100 + i, float(i % 7) + 3.0, 60.0, "c") for i in range(10)]
PNG = b"\x89PNG\r\n\x1a\n"
NOT_NULL = {"name": "ratings_ok", "expectations": [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "rating"}},
    {"type": "expect_column_values_to_be_between",
     "kwargs": {"column": "rating", "min_value": 0, "max_value": 10}}]}


@pytest.fixture
def env(store, fs_home, monkeypatch):
    """The store's settings in the environment, as the CLI and the job read them."""
    for key, value in {**settings_env(fs_home, store.settings.project),
                       "FEATURESTORE_CONF": str(ROOT / "conf" / "featurestore.toml")}.items():
        monkeypatch.setenv(key, value)
    return store


def players(spark, data):
    return spark.createDataFrame(data, SCHEMA)


def psi(old: pd.Series, new: pd.Series, edges: list[float]) -> float:
    """The PSI of two samples over fixed histogram edges (values outside in the end bins)."""
    shares = []
    for values in (old.dropna(), new.dropna()):
        counts = np.histogram(values.clip(edges[0], edges[-1]), edges)[0]
        shares.append(np.maximum(counts / counts.sum(), 1e-6))
    return float(((shares[1] - shares[0]) * np.log(shares[1] / shares[0])).sum())


def cells(out: str, feature: str) -> list[str]:
    """The cells of ``feature``'s row in a printed table (blank cells left out)."""
    return next(line.split() for line in out.splitlines() if line.split()[:1] == [feature])


def test_statistics_table_json_plots_and_drift_match_pandas(env, tmp_path, capsys):
    store = env
    featurestore.create_featuregroup(players(store.spark, FIRST), "players", primary_key="id")
    featurestore.update_featuregroup_stats("players", statistics=LIGHT)
    pdf = pd.DataFrame(FIRST, columns=COLUMNS)

    assert cli(["statistics", "players"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("players version 1 commit 0: 30 rows, 4 columns\n")
    assert out.splitlines()[1].split() == ["feature", "count", "completeness", "mean", "stddev",
                                           "min", "max"]
    for name in ("id", "rating", "minutes"):
        count, completeness, mean, stddev, low, high = map(float, cells(out, name)[1:])
        assert (count, completeness) == (pdf[name].count(), pytest.approx(pdf[name].count() / 30))
        assert mean == pytest.approx(pdf[name].mean(), rel=1e-5)
        assert stddev == pytest.approx(pdf[name].std(ddof=1), rel=1e-5)
        assert (low, high) == (pdf[name].min(), pdf[name].max())
    assert cells(out, "team") == ["team", "30", "1", "a", "c"]      # no mean or stddev
    assert "note:" not in out                                       # nothing left out

    assert cli(["statistics", "players", "--json", "--plots", str(tmp_path)]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["name"], stats["version"], stats["commit"], stats["row_count"]) == (
        "players", 1, 0, 30)
    assert stats["descriptive"]["rating"]["mean"] == pytest.approx(pdf.rating.mean())
    assert stats["descriptive"]["rating"]["null_count"] == 3
    assert "clusters" not in stats and len(stats["histograms"]["minutes"]["counts"]) == 5
    folder = tmp_path / "players_v1"
    assert sorted(stats["figures"]) == sorted(str(p) for p in folder.iterdir())
    assert sorted(p.name for p in folder.iterdir()) == [
        "correlations.png", "histogram_id.png", "histogram_minutes.png", "histogram_rating.png",
        "histogram_team.png"]
    assert all(p.read_bytes().startswith(PNG) and p.stat().st_size > 1000
               for p in folder.iterdir())

    # a later commit: computed by the CLI (Spark), compared with the first
    featurestore.insert_into_featuregroup(players(store.spark, LATER), "players")
    both = pd.DataFrame(FIRST + LATER, columns=COLUMNS)
    assert cli(["statistics", "players", "--compute", "--compare", "0", "1",
                "--plots", str(tmp_path / "again")]) == 0
    captured = capsys.readouterr()
    assert "computing the statistics of players v1 commit 1" in captured.err
    out = captured.out
    assert out.startswith("players version 1 commit 1: 40 rows, 4 columns\n")
    assert float(cells(out, "rating")[3]) == pytest.approx(both.rating.mean(), rel=1e-5)
    assert "commit 0 -> 1: +10 rows" in out
    drift = out[out.index("commit 0 -> 1"):]
    feature, kind, mean_change, null_change, psi_shown = cells(drift, "rating")
    assert kind == "numeric"
    assert float(mean_change) == pytest.approx(both.rating.mean() - pdf.rating.mean(), rel=1e-5)
    assert float(mean_change) > 0 and mean_change.startswith("+")
    assert float(null_change) == pytest.approx(3 / 40 - 3 / 30, rel=1e-5)
    edges = stats["histograms"]["rating"]["edges"]                   # commit 1 binned on these
    assert float(psi_shown) == pytest.approx(psi(pdf.rating, both.rating, edges), rel=1e-5)
    assert float(psi_shown) > 0.05
    assert "5 figure(s) written:" in out and (tmp_path / "again" / "players_v1" /
                                              "histogram_rating.png").is_file()
    assert cli(["statistics", "players", "--commit", "0", "--json", "--compare", "0", "1"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["commit"] == 0 and stats["comparison"]["features"]["minutes"]["mean_change"] == \
        pytest.approx(both.minutes.mean() - pdf.minutes.mean())


def test_statistics_errors_exit_1_with_one_line(env, capsys):
    store = env
    featurestore.create_featuregroup(players(store.spark, FIRST[:3]), "players", primary_key="id")
    for args, message in ((["statistics", "nobody"], "feature group nobody does not exist"),
                          (["statistics", "players", "--version", "4"], "players version 4"),
                          (["statistics", "players"], "none were computed for any commit"),
                          (["statistics", "players", "--commit", "7"], "has no commit 7"),
                          (["validation", "nobody", "--json"], "feature group nobody does not")):
        assert cli(args) == 1, args
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.startswith("featurestore: error: ") and message in captured.err
        assert captured.err.count("\n") == 1, captured.err                 # one line
    assert cli(["describe", "nobody"]) == 2                   # the older commands keep their 2


def test_validation_shows_the_suite_and_the_reports(env, capsys):
    store = env
    featurestore.create_featuregroup(players(store.spark, FIRST[1:4]), "players", primary_key="id",
                                     statistics=StatisticsConfig(enabled=False))
    assert cli(["validation", "players"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == ["suite:   none attached", "",
                                                        "no validation reports kept"]
    assert featurestore.attach_expectation_suite("players", NOT_NULL, "ALWAYS") == 1
    commit = featurestore.insert_into_featuregroup(
        players(store.spark, [(50, None, 1.0, "a"), (51, 42.0, 2.0, "b")]), "players")
    assert cli(["validation", "players"]) == 0
    out = capsys.readouterr().out
    assert "suite:   ratings_ok, policy ALWAYS, version 1, 2 expectation(s)" in out
    assert cells(out, str(commit.commit_id)) == [
        "1", "no", "1", "2", "2", "expect_column_values_to_not_be_null,",
        "expect_column_values_to_be_between"]
    assert cli(["validation", "players", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["policy"], shown["suite_version"], shown["expectations"]) == ("ALWAYS", 1, 2)
    assert shown["suite"]["name"] == "ratings_ok"
    assert [(r["commit"], r["success"], r["failed_expectations"]) for r in shown["reports"]] == [
        (1, False, ["expect_column_values_to_not_be_null", "expect_column_values_to_be_between"])]
    assert cli(["validation", "players", "--commit", "0"]) == 0
    assert "no validation reports kept of commit 0" in capsys.readouterr().out
    featurestore.attach_expectation_suite("players", None)
    assert cli(["validation", "players"]) == 0
    assert "suite:   none (detached in version 2)" in capsys.readouterr().out


def _job():
    spec = importlib.util.spec_from_file_location("compute_statistics",
                                                  ROOT / "jobs" / "compute_statistics.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_job_in_process_with_a_training_dataset_and_clusters(env, tmp_path, capsys):
    store = env
    job = _job()
    featurestore.create_featuregroup(players(store.spark, FIRST), "players", primary_key="id",
                                     statistics=LIGHT)
    featurestore.create_training_dataset(players(store.spark, FIRST).drop("team"), "ratings",
                                         data_format="parquet")
    # every name is looked up first: one error naming both, nothing computed
    assert job.main(["players", "nobody", "--training-dataset", "nothing"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "nobody" in err and "nothing" in err
    assert store.metadata.documents(store.settings.project, "fg.statistics", "players", 1) == []
    with pytest.raises(SystemExit) as usage:
        job.main([])
    assert usage.value.code == 2
    # --compare with a commit that is not there: refused before anything is computed
    kept = store.metadata.documents(store.settings.project, "td.statistics", "ratings", 1)
    assert job.main(["players", "--training-dataset", "ratings", "--compare", "0", "7"]) == 1
    err = capsys.readouterr().err
    assert "players v1 has no commit 7 (its commits: 0)" in err and "Traceback" not in err
    assert store.metadata.documents(store.settings.project, "fg.statistics", "players", 1) == []
    assert store.metadata.documents(store.settings.project, "td.statistics", "ratings", 1) == kept

    assert job.main(["--all", "--training-dataset", "ratings", "--compare", "0", "0",
                     "--plots", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "[1/2] players v1 commit 0: 30 rows, 4 columns, " in out
    assert "[2/2] training dataset ratings v1: 30 rows, 3 columns, " in out
    assert cells(out, "rating")[1:] == ["numeric", "+0", "+0", "0"]     # commit 0 against itself
    td = store.quality.training_dataset_statistics(store.training.get("ratings"))
    assert td["clusters"]["k"] == 5 and sum(td["clusters"]["sizes"]) == 27    # rows with no null
    assert (tmp_path / "training_dataset_ratings_v1" / "clusters.png").read_bytes().startswith(PNG)
    assert not (tmp_path / "players_v1" / "clusters.png").exists()          # its own settings
    assert len(list((tmp_path / "players_v1").glob("*.png"))) == 5
