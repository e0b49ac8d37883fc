"""Bring a metadata store's schema to the latest Alembic revision (``metadata/revisions``).

A store made before the move to Alembic kept its schema version in ``schema_migrations`` (the
numbers 1-5 of the hand-written migrations, the same steps as revisions 0001-0005): it is stamped
with the matching revision first, then upgraded like any other, in place.
"""

from __future__ import annotations

import logging
import tempfile
from contextlib import contextmanager
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from sqlalchemy import inspect, text

from .revisions import HEAD

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)
REVISIONS = Path(__file__).with_name("revisions")
LEGACY = "schema_migrations"          # the hand-written migrations' table (numbers 1-5)


def _config(connection: Any, location: Path) -> Config:
    from alembic.config import Config
    config = Config()
    config.set_main_option("script_location", str(location))
    config.attributes["connection"] = connection
    return config


@contextmanager
def _revisions() -> Iterator[Path]:
    """The revisions' folder; when the package runs from a zip (spark-submit --py-files, a
    driver in cluster deploy mode), a temporary folder of their copies: Alembic reads a folder."""
    if REVISIONS.is_dir():
        yield REVISIONS
        return

    def copy(source: Traversable, target: Path) -> None:
        target.mkdir()
        for item in source.iterdir():
            if item.is_dir():
                copy(item, target / item.name)
            elif item.name.endswith(".py"):
                (target / item.name).write_bytes(item.read_bytes())

    with tempfile.TemporaryDirectory(prefix="featurestore-revisions-") as folder:
        copy(resources.files(__package__) / "revisions", Path(folder) / "revisions")
        yield Path(folder) / "revisions"


def head() -> str:
    """The latest revision, as Alembic finds it in ``revisions/versions`` (``HEAD`` says it
    without loading them: a test holds the two equal)."""
    from alembic.script import ScriptDirectory
    with _revisions() as location:
        revision = ScriptDirectory(str(location)).get_current_head()
    assert revision is not None
    return revision


def current(connection: Any) -> str | None:
    """The revision the database is at (None: none yet)."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(connection: Any) -> None:
    """Upgrade the database ``connection`` (in a transaction) is on to the latest revision
    (Alembic is loaded only when there is something to do)."""
    if current(connection) == HEAD:
        return
    from alembic import command
    inspector = inspect(connection)
    if not inspector.has_table("alembic_version") and inspector.has_table(LEGACY):
        number = connection.execute(text(f"SELECT MAX(version) FROM {LEGACY}")).scalar()
        if number:
            log.info("metadata store of the hand-written migrations (%d): now on Alembic "
                     "revision %04d", number, number)
            with _revisions() as location:
                command.stamp(_config(connection, location), f"{number:04d}")
    log.info("upgrading the metadata store to revision %s", HEAD)
    with _revisions() as location:
        command.upgrade(_config(connection, location), "head")
