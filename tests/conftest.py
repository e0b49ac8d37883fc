"""One SparkSession for the whole run; each test gets its own project (feature store database)
in a shared temporary home, so tests do not see each other's feature groups."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_counter = itertools.count()


def settings_env(home: Path, project: str = "tests") -> dict[str, str]:
    return {
        "FEATURESTORE_HOME": str(home),
        "FEATURESTORE_PROJECT": project,
        "FEATURESTORE_SPARK_MASTER": "local[2]",
        "FEATURESTORE_SPARK_JARS_DIR": str(ROOT / ".cache" / "jars"),
        "FEATURESTORE_SPARK_DEFAULTS_FILE": str(ROOT / "conf" / "spark-defaults.conf"),
        "FEATURESTORE_SPARK_LOG4J_FILE": str(ROOT / "conf" / "log4j2.properties"),
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

    slug = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")[:40]
    project = f"p{next(_counter)}_{slug}"
    settings = load_settings(ROOT / "conf" / "featurestore.toml", settings_env(fs_home, project))
    return fs.connect(settings, spark)
