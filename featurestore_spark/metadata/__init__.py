"""Metadata stores: the interface, and a factory from settings."""

from __future__ import annotations

from ..config import Settings
from .base import (FG_FRESHNESS, FG_REPORT, FG_SETTINGS, FG_STATISTICS, FG_SUITE, TD_STATISTICS, Commit,
                   Document, Feature, FeatureGroup, MetadataStore, TrainingDataset)


def open_metadata_store(settings: Settings) -> MetadataStore:
    """The metadata store the settings name (load_settings has checked the backend)."""
    if settings.metadata.backend == "mysql":
        from .mysql import MysqlMetadataStore
        return MysqlMetadataStore(settings.mysql, settings.metadata.database,
                                  settings.metadata.lock_timeout_seconds)
    from .sqlite import SqliteMetadataStore
    return SqliteMetadataStore(settings.metadata_path, settings.metadata.lock_timeout_seconds)


__all__ = ["FG_FRESHNESS", "FG_REPORT", "FG_SETTINGS", "FG_STATISTICS", "FG_SUITE", "TD_STATISTICS", "Commit",
           "Document", "Feature", "FeatureGroup", "MetadataStore", "TrainingDataset",
           "open_metadata_store"]
