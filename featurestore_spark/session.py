"""The SparkSession: the one a job or notebook already has, or one built so that whatever launched
this process (spark-submit, pyspark, ``PYSPARK_SUBMIT_ARGS``) wins over the project's defaults.

Precedence, highest first: an active session as it is; the launcher's ``--master``, ``--name``,
``--conf``, ``--jars`` and ``--packages``; the settings (``[spark] master``, ``app_name``) and
``conf/spark-defaults.conf``, which only fill what the launcher left unset. Delta's extension and
catalog are added when missing, never replacing the user's own extensions.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Settings
from .errors import ConfigurationError, reason

if TYPE_CHECKING:
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
DELTA_PACKAGE = "io.delta:delta-spark_4.1_2.13:4.4.0"
# The JARs `make setup` resolves into .cache/jars (conf/jars/pom.xml): Delta, the JDBC drivers of
# the online stores, and the training dataset formats avro and tfrecord.
REQUIRED_JARS = ("delta-spark_4.1_2.13", "delta-storage",       # Delta Lake
                 "mariadb-java-client", "sqlite-jdbc",            # JDBC reads of online tables
                 "spark-avro_2.13", "tensorflow-hadoop")          # training dataset formats
_ONE_MACHINE = re.compile(r"local(-cluster)?(\[[^\]]*\])?$")


def delta_jars(jars_dir: str | Path) -> list[str]:
    """The JARs of ``jars_dir`` (one folder, or several separated by commas: e.g. the s3a JARs'
    beside Delta's), or a ConfigurationError naming the required ones that are missing."""
    folders = [Path(f).expanduser().resolve() for f in str(jars_dir).split(",") if f.strip()]
    jars = sorted(str(p) for folder in folders if folder.is_dir() for p in folder.glob("*.jar"))
    missing = [a for a in REQUIRED_JARS if not any(Path(j).name.startswith(a + "-") for j in jars)]
    if missing:
        raise ConfigurationError(
            f"JARs missing from {', '.join(map(str, folders))}: {', '.join(missing)}. Run `make "
            "setup` (it resolves them from Maven Central with Maven, see conf/jars/pom.xml), or "
            "point FEATURESTORE_SPARK_JARS_DIR at a folder that holds them.")
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


def on_one_machine(master: str) -> bool:
    """``local``, ``local[4]``, ``local-cluster[2,1,1024]``: the driver and every executor on this
    machine, sharing its disk (``spark://``, ``yarn``, ``k8s://`` may not)."""
    return bool(_ONE_MACHINE.match(master))


def project_conf(settings: Settings) -> dict[str, str]:
    """What the project would like a session it builds to have; the launcher's values win."""
    conf = read_spark_defaults(settings.spark.defaults_file)
    conf.setdefault("spark.master", settings.spark.master)
    conf.setdefault("spark.app.name", settings.spark.app_name)
    conf.setdefault("spark.sql.warehouse.dir", settings.warehouse)
    try:
        conf["spark.jars"] = ",".join(filter(None, [conf.get("spark.jars", "")]
                                             + delta_jars(settings.spark.jars_dir)))
    except ConfigurationError as e:
        # --jars or --packages may bring Delta instead: the classpath check after start decides
        log.debug("not adding cached JARs: %s", e)
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
    return conf


def launcher_conf(defaults: dict[str, str]) -> SparkConf:
    """The driver JVM's SparkConf (what spark-submit or ``PYSPARK_SUBMIT_ARGS`` set), with
    ``defaults`` filling only what it leaves unset.

    The only private PySpark call of the package: ``SparkContext._ensure_initialized`` starts (or,
    under spark-submit, joins) the JVM before any SparkConf exists, so that ``SparkConf()`` loads
    the launcher's settings from the JVM and the SparkContext takes that conf as it is (PySpark
    otherwise lets a builder's options override ``--master`` and ``--conf``). Without a JVM yet,
    ``defaults`` go to spark-submit as ``--conf`` ahead of ``PYSPARK_SUBMIT_ARGS``, whose own
    ``--master``/``--conf`` therefore win; JVM-level settings (``spark.jars``, driver options)
    take effect only this way. ``tests/unit/test_session.py`` fails if an upgrade breaks this.
    """
    from pyspark import SparkConf, SparkContext

    launch = SparkConf(loadDefaults=False).setAll(list(defaults.items()))
    SparkContext._ensure_initialized(conf=launch)      # private: see the docstring
    conf = SparkConf()                                 # JVM-backed: the launcher's settings
    for key, value in defaults.items():
        conf.setIfMissing(key, value)
    extensions = [e for e in (conf.get("spark.sql.extensions") or "").split(",") if e.strip()]
    if DELTA_EXTENSION not in extensions:
        conf.set("spark.sql.extensions", ",".join(extensions + [DELTA_EXTENSION]))
    conf.setIfMissing("spark.sql.catalog.spark_catalog", DELTA_CATALOG)
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
            + f" and Delta on the classpath (--packages {DELTA_PACKAGE} or --jars with the JARs "
            "of `make setup`), or let featurestore_spark build the session (no active session).")


def check_delta_classes(spark: SparkSession) -> None:
    """Raise a ConfigurationError unless Delta's classes are on the driver's classpath (put there
    by ``--packages``, ``--jars``, ``spark.jars`` or the cached JARs: whichever)."""
    from delta.tables import DeltaTable
    try:
        DeltaTable.isDeltaTable(spark, "file:/nonexistent/featurestore-spark-delta-check")
    except Exception as e:   # py4j: "'JavaPackage' object is not callable" when the class is absent
        raise ConfigurationError(
            f"Delta Lake's classes are not on the driver's classpath ({type(e).__name__}: "
            f"{reason(e)}). Give them to spark-submit with "
            f"--packages {DELTA_PACKAGE} or --jars (the JARs `make setup` puts in .cache/jars), "
            "or point FEATURESTORE_SPARK_JARS_DIR at that folder when featurestore_spark starts "
            "the session itself.") from None


def check_cluster(settings: Settings, master: str) -> None:
    """Refuse what cannot work when executors run on other machines than the driver (any
    ``master`` but local ones): the embedded SQLite stores (a file on the driver's disk); warn
    about a warehouse on a local path."""
    if on_one_machine(master):
        return
    embedded = [kind for kind in ("metadata", "online") if getattr(settings, kind).backend == "sqlite"]
    if embedded:
        raise ConfigurationError(
            f"the {' and '.join(embedded)} store{'s are' if len(embedded) > 1 else ' is'} SQLite, "
            f"a file on one machine, but the master is {master}: on a cluster use MySQL or "
            "MariaDB (FEATURESTORE_METADATA_BACKEND=mysql, FEATURESTORE_ONLINE_BACKEND=mysql and "
            "FEATURESTORE_MYSQL_HOST/PORT/USER/PASSWORD, or [metadata]/[online]/[mysql] in the "
            "settings file).")
    if settings.warehouse.startswith(("/", "file:")):
        log.warning("the offline warehouse %s is a local path but the master is %s: every worker "
                    "must see it at the same path (a shared mount); otherwise put it on hdfs://, "
                    "s3a:// or abfss:// (FEATURESTORE_OFFLINE_WAREHOUSE)", settings.warehouse, master)


def get_spark(settings: Settings) -> SparkSession:
    """The active SparkSession if there is one (checked for Delta), else a new one: the
    launcher's settings first, then the project's (see the module docstring).

    Examples
    --------
    >>> from featurestore_spark.config import load_settings
    >>> spark = get_spark(load_settings())  # doctest: +SKIP
    """
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        check_delta(active)
        check_delta_classes(active)
        return active
    conf = launcher_conf(project_conf(settings))
    if on_one_machine(conf.get("spark.master") or ""):
        # PySpark starts workers with $PYSPARK_PYTHON (else the first python3 on PATH); they
        # import this package, so make them this interpreter (its virtual environment)
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    log.info("starting SparkSession (master %s)", conf.get("spark.master"))
    spark = SparkSession.builder.config(conf=conf).getOrCreate()
    check_delta(spark)
    check_delta_classes(spark)
    return spark
