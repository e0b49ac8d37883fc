"""The SparkSession: Delta-enabled, built from settings, or the one a job or notebook already has."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Settings
from .errors import ConfigurationError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
# The Delta artifacts a session needs on its classpath (conf/jars/pom.xml resolves them).
REQUIRED_JARS = ("delta-spark_4.1_2.13", "delta-storage",       # Delta Lake
                 "mariadb-java-client", "sqlite-jdbc",            # JDBC reads of online tables
                 "spark-avro_2.13", "tensorflow-hadoop")          # training dataset formats


def delta_jars(jars_dir: str | Path) -> list[str]:
    """The cached Delta JARs, or a ConfigurationError naming those that are missing."""
    folder = Path(jars_dir).expanduser().resolve()
    jars = sorted(str(p) for p in folder.glob("*.jar")) if folder.is_dir() else []
    missing = [a for a in REQUIRED_JARS if not any(Path(j).name.startswith(a + "-") for j in jars)]
    if missing:
        raise ConfigurationError(
            f"JARs missing from {folder}: {', '.join(missing)}. Run `make setup` "
            "(it resolves them from Maven Central with Maven, see conf/jars/pom.xml), or point "
            "FEATURESTORE_SPARK_JARS_DIR at a folder that holds them.")
    return jars


def read_spark_defaults(path: str | Path) -> dict[str, str]:
    """Parse a spark-defaults.conf style file (``key value`` per line, ``#`` comments)."""
    conf: dict[str, str] = {}
    p = Path(path)
    if not p.is_file():
        return conf
    for line in p.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            conf[key] = value.strip()
    return conf


def check_delta(spark: SparkSession) -> None:
    """Raise a ConfigurationError unless ``spark`` has Delta's SQL extension and catalog."""
    extensions = spark.conf.get("spark.sql.extensions", "") or ""
    catalog = spark.conf.get("spark.sql.catalog.spark_catalog", "") or ""
    problems = []
    if DELTA_EXTENSION not in extensions:
        problems.append(f"spark.sql.extensions={DELTA_EXTENSION}")
    if catalog != DELTA_CATALOG:
        problems.append(f"spark.sql.catalog.spark_catalog={DELTA_CATALOG}")
    if problems:
        raise ConfigurationError(
            "the active SparkSession is not configured for Delta Lake; start it with "
            + " and ".join(f"--conf {p}" for p in problems)
            + " and Delta's JARs on the classpath (--jars .cache/jars/*.jar), or let "
            "featurestore_spark build the session (no active session).")


def get_spark(settings: Settings) -> SparkSession:
    """The active SparkSession if there is one (checked for Delta), else a new one from settings.

    Examples
    --------
    >>> from featurestore_spark.config import load_settings
    >>> spark = get_spark(load_settings())  # doctest: +SKIP
    """
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        check_delta(active)
        return active
    conf = read_spark_defaults(settings.spark.defaults_file)
    conf["spark.sql.extensions"] = DELTA_EXTENSION
    conf["spark.sql.catalog.spark_catalog"] = DELTA_CATALOG
    conf["spark.sql.warehouse.dir"] = str(settings.warehouse_path)
    jars = delta_jars(settings.spark.jars_dir)
    conf["spark.jars"] = ",".join(filter(None, [conf.get("spark.jars", "")] + jars))
    java_opts = []
    if settings.offline.metastore == "hive":
        conf["spark.sql.catalogImplementation"] = "hive"
        conf.setdefault("spark.hadoop.javax.jdo.option.ConnectionURL",
                        f"jdbc:derby:;databaseName={settings.home_path / 'metastore_db'};create=true")
        java_opts.append(f"-Dderby.system.home={settings.home_path}")
    log4j = Path(settings.spark.log4j_file)
    if log4j.is_file():
        java_opts.append(f"-Dlog4j2.configurationFile=file:{log4j.resolve()}")
    if java_opts:
        conf["spark.driver.extraJavaOptions"] = " ".join(
            [conf.get("spark.driver.extraJavaOptions", "")] + java_opts).strip()
    if settings.spark.master.startswith("local"):
        # PySpark starts workers with $PYSPARK_PYTHON (else the first python3 on PATH); they
        # import this package, so make them this interpreter (its virtual environment)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(settings.spark.master).appName(settings.spark.app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    log.info("starting SparkSession (master %s)", settings.spark.master)
    spark = builder.getOrCreate()
    check_delta(spark)
    return spark
