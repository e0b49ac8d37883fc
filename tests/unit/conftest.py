"""Fixtures of the unit tests that run against both backends (online stores, metadata stores)."""

from __future__ import annotations

import itertools
import re
import sqlite3
import uuid
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import mysql.connector
import pytest
from sqlalchemy.exc import IntegrityError

from featurestore_spark.metadata import MetadataStore
from featurestore_spark.metadata.mysql import MysqlMetadataStore
from featurestore_spark.metadata.sqlite import SqliteMetadataStore

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


Query = Callable[[str], list]


@contextmanager
def mysql_database(mysql_settings) -> Iterator[tuple[str, Query]]:
    """A database name of its own (the store creates it) and a raw query on it; dropped after."""
    database = f"test_meta_{uuid.uuid4().hex[:12]}"

    def query(statement: str) -> list:
        with closing(mysql.connector.connect(**mysql_settings.connect_args(), database=database,
                                             autocommit=True)) as conn:
            cur = conn.cursor()
            cur.execute(statement)
            return [tuple(r) for r in cur.fetchall()] if cur.with_rows else []

    try:
        yield database, query
    finally:
        with closing(mysql.connector.connect(**mysql_settings.connect_args())) as conn:
            conn.cursor().execute(f"DROP DATABASE IF EXISTS `{database}`")


@dataclass(frozen=True)
class Backend:
    """One backend under test: ``open()`` opens a store on the same database each time;
    ``query`` reads that database without the store."""
    open: Callable[[], MetadataStore]
    query: Query
    integrity_error: type[Exception]


@pytest.fixture(params=["sqlite", "mysql"])
def backend(request, tmp_path) -> Iterator[Backend]:
    if request.param == "sqlite":
        path = tmp_path / "m.db"

        def query(statement: str) -> list:
            with closing(sqlite3.connect(path, isolation_level=None)) as conn:   # autocommit
                return conn.execute(statement).fetchall()

        yield Backend(lambda: SqliteMetadataStore(path), query, IntegrityError)
        return
    mysql_settings = request.getfixturevalue("mysql_settings")
    opened: list[MysqlMetadataStore] = []

    def open_store() -> MysqlMetadataStore:
        opened.append(MysqlMetadataStore(mysql_settings, database))
        return opened[-1]

    with mysql_database(mysql_settings) as (database, query):
        yield Backend(open_store, query, IntegrityError)
        for store in opened:
            store.close()
