"""Fixtures of the unit tests that run against both online backends."""

from __future__ import annotations

import itertools
import re

import pytest

from ..conftest import ROOT, settings_env

_counter = itertools.count()


def mysql_env(mysql) -> dict[str, str]:
    """FEATURESTORE_MYSQL_* for a MysqlSettings."""
    return {"FEATURESTORE_MYSQL_HOST": mysql.host, "FEATURESTORE_MYSQL_PORT": str(mysql.port),
            "FEATURESTORE_MYSQL_USER": mysql.user, "FEATURESTORE_MYSQL_PASSWORD": mysql.password,
            "FEATURESTORE_MYSQL_UNIX_SOCKET": mysql.unix_socket}


@pytest.fixture(params=["sqlite", "mysql"])
def online_store(request, spark, fs_home):
    """A FeatureStore whose online backend is SQLite, then MariaDB; a project of its own."""
    import featurestore_spark as fs
    from featurestore_spark.config import load_settings

    slug = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")[:36]
    project = f"o{next(_counter)}_{slug}"
    env = {**settings_env(fs_home, project), "FEATURESTORE_ONLINE_BACKEND": request.param}
    if request.param == "mysql":
        env.update(mysql_env(request.getfixturevalue("mysql_settings")))
    store = fs.connect(load_settings(ROOT / "conf" / "featurestore.toml", env), spark)
    yield store
    store.close()
    if request.param == "mysql":
        with store.online.backend.connection(project) as conn:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{project}_online`")
