"""Names, settings, specs and JAR discovery: no Spark needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from featurestore_spark.config import load_settings
from featurestore_spark.errors import ConfigurationError
from featurestore_spark.hops import Hops
from featurestore_spark.names import name_problem
from featurestore_spark.session import check_delta, delta_jars, read_spark_defaults


@pytest.mark.parametrize("name", ["a", "teams", "average_attendance", "x1_2", "a" * 63])
def test_valid_names(name):
    assert name_problem("feature", name) is None


@pytest.mark.parametrize("name", ["", "Teams", "1abc", "_x", "a-b", "a b", "a;drop table x",
                                  "a`b", "a" * 64, None, 3])
def test_invalid_names(name):
    assert "invalid" in name_problem("feature", name)


def test_settings_env_overrides_file(tmp_path):
    conf = tmp_path / "fs.toml"
    conf.write_text('project = "from_file"\nhome = "h"\n[spark]\nmaster = "local[1]"\n'
                    '[offline]\nwrite_retries = 4\n')
    s = load_settings(conf, {"FEATURESTORE_PROJECT": "from_env", "FEATURESTORE_SPARK_APP_NAME": "x"})
    assert (s.project, s.spark.master, s.spark.app_name, s.offline.write_retries) == \
        ("from_env", "local[1]", "x", 4)
    assert s.metadata_path == Path("h").resolve() / "metadata.db"  # relative to the working dir


@pytest.mark.parametrize("text, env, message", [
    ('[spark]\nmastr = "x"\n', {}, "unknown setting"),
    ('colour = "red"\n', {}, "unknown setting"),
    ("", {"FEATURESTORE_PROJECT": "Bad-Project"}, "project name"),
    ("", {"FEATURESTORE_OFFLINE_WRITE_RETRIES": "many"}, "must be an integer"),
    ("", {"FEATURESTORE_OFFLINE_WRITE_RETRIES": "-1"}, "must be a finite number, 0 or more"),
    ("", {"FEATURESTORE_ONLINE_PLAN_CHECK_SECONDS": "soon"}, "must be a number"),
    ("", {"FEATURESTORE_ONLINE_PLAN_CHECK_SECONDS": "inf"}, "must be a finite number"),
    ("", {"FEATURESTORE_ONLINE_PLAN_CHECK_SECONDS": "nan"}, "must be a finite number"),
    ("", {"FEATURESTORE_METADATA_BACKEND": "oracle"}, "metadata backend 'oracle' is not one of"),
    ("", {"FEATURESTORE_ONLINE_BACKEND": "redis"}, "online backend 'redis' is not one of"),
    ("", {"FEATURESTORE_METADATA_DATABASE": "fs`; DROP"}, "metadata database name .* is invalid"),
    ("[spark\n", {}, "not valid TOML"),
])
def test_bad_settings_are_refused(tmp_path, text, env, message):
    conf = tmp_path / "fs.toml"
    conf.write_text(text)
    with pytest.raises(ConfigurationError, match=message):
        load_settings(conf, env)


def test_missing_settings_file_is_named(tmp_path):
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", {})


def test_missing_jars_are_named(tmp_path):
    (tmp_path / "delta-storage-4.4.0.jar").write_bytes(b"")
    with pytest.raises(ConfigurationError, match=r"delta-spark_4\.1_2\.13.*make setup"):
        delta_jars(tmp_path)
    (tmp_path / "delta-spark_4.1_2.13-4.4.0.jar").write_bytes(b"")
    with pytest.raises(ConfigurationError, match=r"mariadb-java-client, sqlite-jdbc, "
                                                 r"spark-avro_2\.13, tensorflow-hadoop\. Run"):
        delta_jars(tmp_path)
    for jar in ("mariadb-java-client-3.5.6", "sqlite-jdbc-3.50.3.0", "spark-avro_2.13-4.1.1",
                "tensorflow-hadoop-1.15.0"):
        (tmp_path / f"{jar}.jar").write_bytes(b"")
    assert len(delta_jars(tmp_path)) == 6


def test_spark_defaults_parsing(tmp_path):
    f = tmp_path / "spark-defaults.conf"
    f.write_text("# comment\nspark.a   1\n\nspark.b x y\n")
    assert read_spark_defaults(f) == {"spark.a": "1", "spark.b": "x y"}


class _Conf:
    def __init__(self, values):
        self.values = values

    def get(self, key, default=None):
        return self.values.get(key, default)


class _Session:
    def __init__(self, values):
        self.conf = _Conf(values)


def test_session_without_delta_is_refused_clearly():
    with pytest.raises(ConfigurationError, match="DeltaSparkSessionExtension.*DeltaCatalog"):
        check_delta(_Session({}))


def test_builders_are_immutable():
    base = Hops.createFeaturegroup("teams")
    keyed = base.setPrimaryKey("team_id")
    assert base.spec.primary_key == () and keyed.spec.primary_key == ("team_id",)
    assert keyed.setVersion(2).spec.version == 2 and keyed.spec.version == 1
    assert keyed.setFeaturestore("other_featurestore").spec.project == "other"
    assert keyed.setPrimaryKey(["a", "b"]).spec.primary_key == ("a", "b")
    insert = Hops.insertIntoFeaturegroup("teams")
    assert insert.setMode("upsert").spec.mode == "upsert" and insert.spec.mode == "append"
