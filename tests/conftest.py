"""One SparkSession per test process (one, or with `make test TEST_WORKERS=2` two pytest-xdist
workers, each given whole test files); each test gets its own project (feature store database)
in a shared temporary home, so tests do not see each other's feature groups."""

from __future__ import annotations

import itertools
import os
import re
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_counter = itertools.count()
# in every project (and so MySQL database) name of this run: two runs against one MariaDB (two
# checkouts, a helper's run beside yours) never share a database
RUN = uuid.uuid4().hex[:4]
# one per process: under pytest-xdist (make test) each worker has its own, named after it
_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
FATAL_LOG = ROOT / ".cache" / (f"pytest-fatal-{_WORKER}.log" if _WORKER else "pytest-fatal.log")


def pytest_sessionstart(session: pytest.Session) -> None:
    """A fatal error of the test process (a C library aborting, say) is dumped, every thread's
    stack, into .cache/pytest-fatal.log (pytest-fatal-gw0.log ... for xdist's workers), which
    `make test` prints the crashing thread of: CI shows the end of the output, where stderr's
    dump would have only the main thread's bottom."""
    import faulthandler
    FATAL_LOG.parent.mkdir(exist_ok=True)
    session.config._fatal_log = FATAL_LOG.open("w")        # kept open for the whole run
    faulthandler.enable(file=session.config._fatal_log, all_threads=True)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """End the process with pytest's status as soon as pytest is done (the first atexit handler
    to run), without the interpreter's teardown of every module: CI's test process once died of
    a segmentation fault in that teardown after all tests had passed (a C library's objects
    freed in arbitrary order; not reproduced here), which failed the run. Set
    FEATURESTORE_TEST_FULL_SHUTDOWN=1 to go through the teardown, with the fatal-error handler
    armed (pytest's faulthandler plugin turns it off in its unconfigure): a crash there lands in
    .cache/pytest-fatal.log."""
    import atexit
    import faulthandler
    import os
    import sys

    log = getattr(session.config, "_fatal_log", None)
    if os.environ.get("FEATURESTORE_TEST_FULL_SHUTDOWN") == "1":
        if log is not None:
            atexit.register(faulthandler.enable, file=log, all_threads=True)
        return
    status = int(exitstatus)

    def leave() -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    atexit.register(leave)


# For the tests' tiny tables: interpreted expressions instead of generated code (compiling it
# costs more than running it on a few rows), no adaptive re-planning, fewer tasks, and a driver
# JVM that compiles with C1 only and collects with one thread (a short run on 2 cores). Measured
# on test_writes + test_reads: 222 s -> 195 s (Spark settings) -> 175 s (JVM options). The e2e
# jobs run with conf/spark-defaults.conf as it is.
TEST_SPARK_CONF = {"spark.sql.codegen.wholeStage": "false", "spark.sql.adaptive.enabled": "false",
                   "spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2",
                   "spark.databricks.delta.snapshotPartitions": "1",
                   "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}


def spark_defaults_for_tests() -> Path:
    """conf/spark-defaults.conf with TEST_SPARK_CONF on top, as a file of .cache/."""
    path = ROOT / ".cache" / "spark-test-defaults.conf"
    base = (ROOT / "conf" / "spark-defaults.conf").read_text()
    text = base + "\n# tests/conftest.py: TEST_SPARK_CONF\n" + "".join(
        f"{k} {v}\n" for k, v in TEST_SPARK_CONF.items())
    if not path.is_file() or path.read_text() != text:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    return path


def settings_env(home: Path, project: str = "tests", test_conf: bool = True) -> dict[str, str]:
    """The settings of a test's feature store (``test_conf``: with TEST_SPARK_CONF; the e2e jobs
    run without it, as users do)."""
    return {
        "FEATURESTORE_HOME": str(home),
        "FEATURESTORE_PROJECT": project,
        "FEATURESTORE_SPARK_MASTER": "local[2]",
        # with the s3a JARs (storage connectors read and write s3a://) and Spark's Kafka source
        # (tests/unit/test_streaming)
        "FEATURESTORE_SPARK_JARS_DIR": ",".join(str(ROOT / ".cache" / d)
                                                for d in ("jars", "jars-s3", "jars-kafka")),
        "FEATURESTORE_SPARK_DEFAULTS_FILE": str(spark_defaults_for_tests() if test_conf else
                                                ROOT / "conf" / "spark-defaults.conf"),
        "FEATURESTORE_SPARK_LOG4J_FILE": str(ROOT / "conf" / "log4j2.properties"),
        # statistics are Spark jobs of their own on every write: only the tests of statistics
        # (tests/unit/test_quality.py) and the e2e job compute them on write
        "FEATURESTORE_STATISTICS_ON_WRITE": "false",
        # lookups check their plans against the metadata on every call, so that a test sees a
        # change at once (the default, 1 s, spares that query on a serving path)
        "FEATURESTORE_ONLINE_PLAN_CHECK_SECONDS": "0",
    }


@pytest.fixture(scope="session")
def fs_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("featurestore_home")


@pytest.fixture(scope="session")
def spark(fs_home: Path):
    from featurestore_spark.config import load_settings
    from featurestore_spark.session import get_spark

    session = get_spark(load_settings(ROOT / "conf" / "featurestore.toml", settings_env(fs_home)))
    yield session
    session.stop()


@pytest.fixture
def store(spark, fs_home: Path, request: pytest.FixtureRequest):
    """A FeatureStore on a project of this test's own, set as the default store."""
    import featurestore_spark as fs
    from featurestore_spark.config import load_settings

    slug = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")[:36]
    project = f"p{RUN}{next(_counter)}_{slug}"
    settings = load_settings(ROOT / "conf" / "featurestore.toml", settings_env(fs_home, project))
    return fs.connect(settings, spark)


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (the .cache/mysql.env that `make mysql` writes)."""
    if not path.is_file():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v for k, v in pairs}


MYSQL_KEYS = ("HOST", "PORT", "USER", "PASSWORD", "UNIX_SOCKET")


@pytest.fixture(scope="session")
def mysql_env() -> dict[str, str]:
    """FEATURESTORE_MYSQL_* of the test server (environment first, then .cache/mysql.env)."""
    import os
    found = {**read_env_file(ROOT / ".cache" / "mysql.env"),
             **{k: v for k, v in os.environ.items() if k.startswith(("FEATURESTORE_MYSQL_",
                                                                      "FEATURESTORE_TEST_MYSQL_"))}}
    if "FEATURESTORE_MYSQL_HOST" not in found:
        pytest.fail("no test MySQL configured: run the tests with `make test` (or `make mysql` "
                    "first), which starts a project-local MariaDB and writes .cache/mysql.env")
    return found


@pytest.fixture(scope="session")
def mysql_settings(mysql_env):
    """The test server's MysqlSettings, checked with a real login."""
    import mysql.connector
    from featurestore_spark.config import MysqlSettings

    settings = MysqlSettings(**{k.lower(): (int(mysql_env[f"FEATURESTORE_MYSQL_{k}"]) if k == "PORT"
                                            else mysql_env.get(f"FEATURESTORE_MYSQL_{k}", ""))
                                for k in MYSQL_KEYS})
    try:
        mysql.connector.connect(**settings.connect_args(), connection_timeout=5).close()
    except mysql.connector.Error as e:
        pytest.fail(f"the test MySQL at {settings.describe()} does not answer ({e.msg}): run "
                    "`make mysql` (or `make test`)")
    return settings


@pytest.fixture(autouse=True)
def _collect_after_each_test(request: pytest.FixtureRequest):
    """A full garbage collection after every test (FEATURESTORE_TEST_GC_EACH=0 turns it off),
    its test named in .cache/pytest-fatal.log first, so that memory corrupted by native code
    crashes next to the test that did it, and the log (printed by make test) names that test.
    The test process died that way, at random places, until mysql-connector's C extension was
    no longer handed Decimal lookup keys (it wrote past its bind array: see
    online.mysql.NativeStatement)."""
    yield
    import os
    if os.environ.get("FEATURESTORE_TEST_GC_EACH", "1") != "0":
        import gc
        log = getattr(request.config, "_fatal_log", None)
        if log is not None and not log.closed:
            log.write(f"gc after {request.node.nodeid}\n")
            log.flush()
        gc.collect()
