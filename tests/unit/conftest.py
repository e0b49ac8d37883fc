"""Fixtures of the unit tests that run against both online backends."""

from __future__ import annotations

import itertools
import re

import pytest

from ..conftest import ROOT, RUN, settings_env

_counter = itertools.count()


def mysql_env(mysql) -> dict[str, str]:
    """FEATURESTORE_MYSQL_* for a MysqlSettings."""
    return {"FEATURESTORE_MYSQL_HOST": mysql.host, "FEATURESTORE_MYSQL_PORT": str(mysql.port),
            "FEATURESTORE_MYSQL_USER": mysql.user, "FEATURESTORE_MYSQL_PASSWORD": mysql.password,
            "FEATURESTORE_MYSQL_UNIX_SOCKET": mysql.unix_socket}


@pytest.fixture(params=["sqlite", "mysql"])
def online_env(request, fs_home) -> dict[str, str]:
    """The settings (as FEATURESTORE_* variables) of a project of this test's own whose online
    backend is SQLite, then MariaDB."""
    slug = re.sub(r"[^a-z0-9]+", "_", request.node.name.lower()).strip("_")[:36]
    env = {**settings_env(fs_home, f"o{RUN}{next(_counter)}_{slug}"),
           "FEATURESTORE_ONLINE_BACKEND": request.param}
    if request.param == "mysql":
        env.update(mysql_env(request.getfixturevalue("mysql_settings")))
    return env


@pytest.fixture
def online_store(online_env, spark):
    """A FeatureStore of ``online_env``, set as the default store; its online database is
    dropped afterwards."""
    import featurestore_spark as fs
    from featurestore_spark.config import load_settings

    store = fs.connect(load_settings(ROOT / "conf" / "featurestore.toml", online_env), spark)
    yield store
    store.close()
    if store.settings.online.backend == "mysql":
        with store.online.backend.connection(store.settings.project) as conn:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{store.settings.project}_online`")
