"""The online store: online tables of feature groups in SQLite (embedded) or MySQL (shared),
written from the executors, synced from the offline Delta tables, read by primary key."""

from __future__ import annotations

from ..config import Settings
from .sql import SqlOnlineBackend


def open_online_backend(settings: Settings) -> SqlOnlineBackend:
    """The online backend the settings name (load_settings has checked it)."""
    if settings.online.backend == "mysql":
        from .mysql import MysqlBackend
        return MysqlBackend(settings.mysql)
    from .sqlite import SqliteBackend
    return SqliteBackend(settings.online_path)


__all__ = ["SqlOnlineBackend", "open_online_backend"]
