"""Provenance of writes: the job that made each commit (the Spark application, or job_name=) and
the datasets a feature group is computed from (dependencies=), on every face; `featurestore
stale` lists the groups whose dependencies changed after their last commit: a Delta table by its
commits, files by their modification times, a catalog table through its location."""

from __future__ import annotations

import pytest

from featurestore_spark import featurestore
from featurestore_spark.cli import main as cli
from featurestore_spark.errors import InvalidInputError
from featurestore_spark.hops import Hops

from ..conftest import settings_env


def test_jobs_and_dependencies_are_kept_and_stale_groups_listed(store, fs_home, tmp_path,
                                                                monkeypatch, capsys):
    spark, project = store.spark, store.settings.project
    for key, value in settings_env(fs_home, project).items():     # the CLI reads settings there
        monkeypatch.setenv(key, value)
    raw, events = str(tmp_path / "raw_clicks"), f"file://{tmp_path}/events"
    spark.range(5).write.parquet(raw)
    spark.range(3).write.format("delta").save(events)
    spark.sql(f"CREATE TABLE {project}_src USING parquet LOCATION '{tmp_path}/src' "
              "AS SELECT 1 AS x")
    df = spark.createDataFrame([(1, 2.0), (2, 3.0)], "id int, clicks double")
    featurestore.create_featuregroup(df, "clicks", primary_key="id", job_name="nightly-clicks",
                                     dependencies=[raw, events, f"{project}_src"])
    group = store.feature_group("clicks")
    assert group.dependencies == (raw, events, f"{project}_src")
    featurestore.insert_into_featuregroup(df, "clicks", mode="upsert")
    sc = spark.sparkContext
    assert [c.job for c in store.commits("clicks")] == [
        "nightly-clicks", f"{sc.appName} ({sc.applicationId})"]

    states = store.stale()
    assert [(s.dependency, s.how, s.stale) for s in states] == [
        (raw, "latest file modification", False), (events, "Delta commit 0", False),
        (f"{project}_src", "latest file modification", False)]
    assert cli(["stale", "--project", project]) == 0
    assert "every feature group is fresh" in capsys.readouterr().out

    # the sources move on: a Delta commit, new files; the group is stale until written again
    spark.range(3, 4).write.format("delta").mode("append").save(events)
    spark.range(5, 7).write.mode("append").parquet(raw)
    states = {s.dependency: s for s in store.stale()}
    assert states[events].stale and states[events].how == "Delta commit 1"
    assert states[raw].stale and states[raw].changed_at > states[raw].last_commit_at
    assert not states[f"{project}_src"].stale
    assert cli(["stale", "--project", project]) == 1
    out = capsys.readouterr().out
    assert "1 stale feature group version(s): clicks v1" in out and "Delta commit 1" in out
    featurestore.insert_into_featuregroup(df, "clicks", mode="upsert", job_name="backfill")
    assert not any(s.stale for s in store.stale())
    assert store.commits("clicks")[-1].job == "backfill"

    # a dependency that cannot be found cannot be fresh
    featurestore.create_featuregroup(df, "orphans", primary_key="id", dependencies="no_such_table")
    orphan = next(s for s in store.stale() if s.name == "orphans")
    assert (orphan.stale, orphan.how, orphan.changed_at) == (True, "no such table or path", None)


def test_the_other_faces_take_them_and_bad_ones_are_refused(store):
    spark = store.spark
    df = spark.createDataFrame([(1, 2.0)], "id int, v double")
    Hops.createFeaturegroup("built").setDataframe(df).setPrimaryKey("id") \
        .setDependencies("s3a://bucket/raw", "db.table").setJobName("builder-job").write()
    assert store.feature_group("built").dependencies == ("s3a://bucket/raw", "db.table")
    Hops.insertIntoFeaturegroup("built").setDataframe(df).setMode("upsert").setJobName("again").write()
    assert [c.job for c in store.commits("built")] == ["builder-job", "again"]
    fg = store.get_or_create_feature_group("handled", primary_key=["id"], dependencies="raw/x")
    assert fg.dependencies == ["raw/x"]
    fg.insert(df, job_name="handle-job")
    fg.insert(df, job_name="second")
    assert fg.dependencies == ["raw/x"]
    assert [c.job for c in store.commits("handled")] == ["handle-job", "second"]
    for bad, why in ((dict(dependencies=[""]), "dependency '' is not a path or table name"),
                     (dict(dependencies=5), "dependencies must be a list"),
                     (dict(job_name=""), "job_name must be a non-empty string"),
                     (dict(job_name="j" * 256), "at most 255 characters")):
        with pytest.raises(InvalidInputError, match=why):
            featurestore.create_featuregroup(df, "refused", primary_key="id", **bad)
        with pytest.raises(InvalidInputError, match=why):
            store.get_or_create_feature_group("refused", primary_key=["id"], **{
                k: v for k, v in bad.items() if k == "dependencies"}).insert(
                df, **{k: v for k, v in bad.items() if k == "job_name"})
    with pytest.raises(InvalidInputError, match="job_name must be"):
        featurestore.insert_into_featuregroup(df, "built", job_name=" ")
    assert [g.name for g in store.feature_groups()] == ["built", "handled"]
    assert len(store.commits("built")) == 2
