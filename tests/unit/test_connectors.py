"""Storage connectors (issue 16, item 1), on the real parts: JDBC against the project's MariaDB
through Spark's JDBC source, S3 against the moto server through s3a, files on the local file
system; secrets only by reference, never kept or shown; the project's own connectors; every face
(FeatureStore, hops-util-py functions, Hops builder, CLI)."""

from __future__ import annotations

import json

import mysql.connector
import pytest

from featurestore_spark import featurestore
from featurestore_spark.cli import main as cli
from featurestore_spark.connectors import StorageConnectorNotFound
from featurestore_spark.errors import FeatureStoreError, InvalidInputError
from featurestore_spark.hops import Hops

from ..conftest import ROOT, read_env_file, settings_env
from .helpers import rows

SECRET_ENV = "FS_TEST_SALES_PASSWORD"


@pytest.fixture
def sales_db(mysql_settings, store):
    """A database ``<project>_sales`` on the test MariaDB with table teams (3 rows)."""
    db = f"{store.settings.project}_sales"[:64]
    conn = mysql.connector.connect(**mysql_settings.connect_args())
    cur = conn.cursor()
    cur.execute(f"CREATE DATABASE `{db}`")
    cur.execute(f"CREATE TABLE `{db}`.teams (team_id INT PRIMARY KEY, name VARCHAR(20))")
    cur.execute(f"INSERT INTO `{db}`.teams VALUES (1, 'ajax'), (2, 'psv'), (3, 'az')")
    conn.commit()
    yield db
    cur.execute(f"DROP DATABASE `{db}`")
    conn.close()


def test_a_jdbc_connector_reads_through_spark_and_keeps_no_password(store, sales_db, mysql_settings,
                                                                     monkeypatch, fs_home, capsys,
                                                                     tmp_path):
    m = mysql_settings
    url = f"jdbc:mysql://{m.host}:{m.port}/{sales_db}?permitMysqlScheme"
    with pytest.raises(InvalidInputError) as clear:
        store.create_storage_connector("sales", "jdbc", url=url, user=m.user, password=m.password)
    assert "password is never stored: give password_env=" in str(clear.value)
    assert m.password not in str(clear.value)
    made = store.create_storage_connector("sales", "jdbc", url=url, user=m.user,
                                          driver="org.mariadb.jdbc.Driver", password_env=SECRET_ENV,
                                          description="the sales database")
    # the password is read when the connector is used: unset, a clear error
    with pytest.raises(InvalidInputError, match=f"environment variable {SECRET_ENV}, which is not set"):
        made.read(store.spark, table="teams")
    monkeypatch.setenv(SECRET_ENV, m.password)
    got = store.get_storage_connector("sales")
    assert got == made
    assert rows(got.read(store.spark, query="SELECT team_id, name FROM teams WHERE team_id < 3")) \
        == [(1, "ajax"), (2, "psv")]
    assert rows(got.read(store.spark, table="teams")) == [(1, "ajax"), (2, "psv"), (3, "az")]
    # a wrong password: a clear error, the secret never in it
    monkeypatch.setenv(SECRET_ENV, "not-the-password-42")
    with pytest.raises(FeatureStoreError) as denied:
        got.read(store.spark, table="teams")
    assert "Access denied" in str(denied.value) and "not-the-password-42" not in str(denied.value)
    # a secrets file (an absolute path) works the same
    secret_file = tmp_path / "sales.pw"
    secret_file.write_text(m.password + "\n")
    by_file = store.create_storage_connector("sales_by_file", "jdbc", url=url, user=m.user,
                                             driver="org.mariadb.jdbc.Driver",
                                             password_file=str(secret_file))
    assert rows(by_file.read(table="teams"))[0] == (1, "ajax")          # the active session
    # kept without secrets: the metadata holds the references only
    kept = store.metadata.list_documents(store.settings.project, "sc")
    assert m.password not in json.dumps([d.body for d in kept])
    assert kept[0].body["password_env"] == SECRET_ENV
    assert m.password not in repr(by_file) + json.dumps(by_file.describe())
    # the CLI shows it, the secret by reference
    for key, value in settings_env(fs_home, store.settings.project).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv(SECRET_ENV, m.password)
    assert cli(["connectors", "--project", store.settings.project]) == 0
    out = capsys.readouterr().out
    assert "sales" in out and url in out and f"password env {SECRET_ENV}" in out
    assert f"{store.settings.project}_training_datasets" in out          # the project's own
    assert cli(["connectors", "--project", store.settings.project, "--json"]) == 0
    listed = capsys.readouterr().out
    assert str(secret_file) in listed and m.password not in out + listed


def test_s3_and_file_connectors_read_and_write_with_their_own_settings(store, tmp_path, monkeypatch):
    s3 = read_env_file(ROOT / ".cache" / "s3.env")
    assert s3, "no test S3 server: run `make s3` (make test starts it)"
    monkeypatch.setenv("FS_TEST_S3_SECRET", s3["FEATURESTORE_TEST_S3_SECRET_KEY"])
    import boto3
    client = boto3.client("s3", endpoint_url=s3["FEATURESTORE_TEST_S3_ENDPOINT"],
                          aws_access_key_id=s3["FEATURESTORE_TEST_S3_ACCESS_KEY"],
                          aws_secret_access_key=s3["FEATURESTORE_TEST_S3_SECRET_KEY"],
                          region_name=s3["FEATURESTORE_TEST_S3_REGION"])
    # a bucket of this test's own (the shared one's name is also the test MySQL's password,
    # which test_online_mysql looks for in the metadata file)
    bucket = store.settings.project.replace("_", "-")[:55] + "-raw"
    client.create_bucket(Bucket=bucket)
    raw = Hops.createStorageConnector("raw_s3").setType("s3").setBucket(bucket) \
        .setPath(f"{store.settings.project}/raw").setEndpoint(s3["FEATURESTORE_TEST_S3_ENDPOINT"]) \
        .setRegion(s3["FEATURESTORE_TEST_S3_REGION"]) \
        .setAccessKey(s3["FEATURESTORE_TEST_S3_ACCESS_KEY"]).setSecretKeyEnv("FS_TEST_S3_SECRET") \
        .write()
    assert raw.location("clicks") == f"s3a://{bucket}/{store.settings.project}/raw/clicks"
    df = store.spark.createDataFrame([(1, 2.5), (2, 3.5)], "id int, clicks double")
    df.write.options(**raw.spark_options()).parquet(raw.location("clicks"))
    assert rows(raw.read(store.spark, path="clicks")) == [(1, 2.5), (2, 3.5)]
    listed = client.list_objects_v2(Bucket=bucket, Prefix=f"{store.settings.project}/raw/clicks/")
    assert any(o["Key"].endswith(".parquet") for o in listed["Contents"])
    # one process reaches a bucket one way (Hadoop keeps a file system per bucket)
    with pytest.raises(InvalidInputError, match="connector 'raw_s3' reaches bucket"):
        store.create_storage_connector("other_s3", "s3", bucket=bucket, endpoint="http://x:1",
                                       access_key="y", secret_key_env="FS_TEST_S3_SECRET")
    # an unreachable endpoint: a clear error naming the place (a bucket not used before)
    dead = store.create_storage_connector("dead_s3", "s3", bucket="nowhere-bucket",
                                          endpoint="http://127.0.0.1:9", access_key="x",
                                          secret_key_env="FS_TEST_S3_SECRET", options={
                                              "fs.s3a.bucket.nowhere-bucket.attempts.maximum": "1",
                                              "fs.s3a.bucket.nowhere-bucket.retry.limit": "1"})
    with pytest.raises(FeatureStoreError, match="cannot read s3a://nowhere-bucket/x through "
                       "storage connector 'dead_s3'") as unreachable:
        dead.read(store.spark, path="x")
    assert "onnect" in str(unreachable.value)              # Connection refused, said as such
    # files: a local folder, csv with options
    (tmp_path / "teams.csv").write_text("team_id,name\n1,ajax\n2,psv\n")
    local = featurestore.create_storage_connector("local_files", "file", path=str(tmp_path),
                                                  options={"header": "true", "inferSchema": "true"})
    assert featurestore.get_storage_connector("local_files") == local
    assert rows(local.read(store.spark, path="teams.csv", data_format="csv")) == [(1, "ajax"), (2, "psv")]
    with pytest.raises(FeatureStoreError, match="cannot read .*nosuch.csv through storage connector"):
        local.read(store.spark, path="nosuch.csv", data_format="csv")


def test_connectors_are_checked_listed_and_deleted(store):
    project = store.settings.project
    own = [c.name for c in store.get_storage_connectors()]
    assert own == [f"{project}_featurestore", f"{project}_training_datasets"]
    assert store.get_storage_connector(f"{project}_Training_Datasets").path == \
        f"{store.settings.training_path}/{project}"
    for name, kind, fields, why in (
            ("Bad Name", "file", {"path": "/x"}, "storage connector name 'Bad Name' is invalid"),
            ("c", "ftp", {}, "connector type 'ftp' is not one of jdbc, s3, hdfs, file"),
            ("c", "jdbc", {"user": "u"}, "a jdbc connector needs url"),
            ("c", "jdbc", {"url": "mysql://x"}, "a JDBC URL starts with jdbc:"),
            ("c", "jdbc", {"url": "jdbc:mysql://x?password=p"}, "the URL holds a password"),
            ("c", "jdbc", {"url": "jdbc:mysql://u:p@x/db"}, "the URL holds a password"),
            ("c", "jdbc", {"url": "jdbc:x", "options": {"password": "p"}},
             "options 'password' would keep a secret in clear"),
            ("c", "s3", {"bucket": "b-1", "options": {"fs.s3a.secret.key": "s"}},
             "options 'fs.s3a.secret.key' would keep a secret in clear"),
            ("c", "jdbc", {"url": "jdbc:x", "password_file": "pw.txt"}, "must be an absolute path"),
            ("c", "s3", {"bucket": "s3://lake/raw"}, "is not a bucket name"),
            ("c", "s3", {"bucket": "lake", "access_key": "AKIA"}, "needs both access_key and"),
            ("c", "s3", {"bucket": "b-1", "secret_key": "s"}, "secret_key is never stored"),
            ("c", "s3", {"bucket": "b-1", "secret_key_env": "A", "secret_key_file": "/f"},
             "not both"),
            ("c", "file", {"path": "/x", "bucket": "b"}, "'bucket' is not a setting of a file"),
            ("c", "file", {"path": "/x", "options": {"a": 1}}, "options must be a dict of strings"),
            (f"{project}_featurestore", "file", {"path": "/x"}, "one of the project's own")):
        with pytest.raises(InvalidInputError, match=why):
            store.create_storage_connector(name, kind, **fields)
    store.create_storage_connector("archive", "hdfs", path="hdfs://nn:8020/archive")
    with pytest.raises(InvalidInputError, match="exists already"):
        store.create_storage_connector("archive", "file", path="/elsewhere")
    assert store.get_storage_connector("archive").location("2026") == "hdfs://nn:8020/archive/2026"
    store.delete_storage_connector("archive")
    with pytest.raises(StorageConnectorNotFound, match="no storage connector 'archive'"):
        Hops.getStorageConnector("archive").read()
    with pytest.raises(InvalidInputError, match="one of the project's own"):
        store.delete_storage_connector(f"{project}_featurestore")
    assert [c.name for c in store.get_storage_connectors()] == own
