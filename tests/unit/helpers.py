"""What a test compares before and after a write that must not write anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from featurestore_spark.names import database_name

from ..conftest import ROOT, read_env_file


def snapshot(store, name: str, version: int = 1) -> dict:
    """Delta (files, latest version, rows), catalog tables and metadata of a feature group."""
    project = store.settings.project
    location = Path(store.offline.location(project, name, version))
    state: dict = {
        "files": sorted(str(p.relative_to(location)) for p in location.rglob("*"))
        if location.exists() else None,
        "tables": sorted(t.name for t in store.spark.catalog.listTables(database_name(project))),
        "groups": [(g.name, g.version, g.features) for g in store.metadata.list_feature_groups(project)],
    }
    if (location / "_delta_log").exists():
        state["delta_version"] = store.spark.sql(
            f"DESCRIBE HISTORY delta.`{location}` LIMIT 1").first().version
        state["rows"] = sorted(map(tuple, store.spark.read.format("delta").load(str(location))
                                   .collect()))
        state["commits"] = store.metadata.commits(project, name, version) if any(
            g[0] == name and g[1] == version for g in state["groups"]) else None
    return state


def rows(df) -> list[tuple]:
    return sorted(tuple(r) for r in df.collect())


def make_registry(spark, home, project):
    """A project with feature group customers (two commits with statistics, keywords, a tag) and
    a feature view of it with a written training dataset (the registry's tests)."""
    from featurestore_spark.config import load_settings
    from featurestore_spark.feature_store import FeatureStore
    from tests.conftest import ROOT, settings_env
    settings = load_settings(ROOT / "conf" / "featurestore.toml", settings_env(home, project))
    store = FeatureStore.connect(settings, spark)
    rows = [(i, float(i % 7), "gold" if i % 3 else "silver", i % 2) for i in range(60)]
    df = spark.createDataFrame(rows, "customer_id int, tenure double, tier string, churned int")
    fg = store.get_or_create_feature_group("customers", primary_key=["customer_id"],
                                           description="who our customers are")
    fg.insert(df)
    fg.compute_statistics()
    fg.insert(spark.createDataFrame([(100, 3.0, "gold", 1)], df.schema))
    fg.compute_statistics()
    fg.add_keywords(["retention"])
    fg.add_tag("owner", {"team": "growth"})
    fg.update_feature_description("tenure", "months as a customer")
    view = store.create_feature_view("churn", fg.select_all(), labels=["churned"],
                                     description="churn model features")
    view.create_training_data(data_format="parquet")
    return store


class Lake(NamedTuple):
    """An s3 connector ``lake`` on a bucket of the test's own, and a boto3 client of it."""
    connector: Any
    client: Any
    bucket: str
    secret: str
    settings: dict[str, str]

    def keys(self, prefix: str) -> list[str]:
        listed = self.client.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return [o["Key"] for o in listed.get("Contents", [])]


def make_lake(store, monkeypatch, suffix: str, path: str, secret_env: str) -> Lake:
    """An s3 connector ``lake`` (keys from ``secret_env``, set here) under ``path`` of a bucket of
    the test's own (``<project>-<suffix>``: Hadoop keeps one file system per bucket and process,
    and the shared bucket's name is also the test MySQL's password), on the moto server."""
    s3 = read_env_file(ROOT / ".cache" / "s3.env")
    assert s3, "no test S3 server: run `make s3` (make test starts it)"
    import boto3
    secret = s3["FEATURESTORE_TEST_S3_SECRET_KEY"]
    monkeypatch.setenv(secret_env, secret)
    client = boto3.client("s3", endpoint_url=s3["FEATURESTORE_TEST_S3_ENDPOINT"],
                          aws_access_key_id=s3["FEATURESTORE_TEST_S3_ACCESS_KEY"],
                          aws_secret_access_key=secret,
                          region_name=s3["FEATURESTORE_TEST_S3_REGION"])
    bucket = store.settings.project.replace("_", "-")[:55] + "-" + suffix
    client.create_bucket(Bucket=bucket)
    connector = store.create_storage_connector(
        "lake", "s3", bucket=bucket, path=path, endpoint=s3["FEATURESTORE_TEST_S3_ENDPOINT"],
        region=s3["FEATURESTORE_TEST_S3_REGION"],
        access_key=s3["FEATURESTORE_TEST_S3_ACCESS_KEY"], secret_key_env=secret_env)
    return Lake(connector, client, bucket, secret, s3)
