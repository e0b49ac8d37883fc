"""What a test compares before and after a write that must not write anything."""

from __future__ import annotations

from pathlib import Path

from featurestore_spark.names import database_name


def snapshot(store, name: str, version: int = 1) -> dict:
    """Delta (files, latest version, rows), catalog tables and metadata of a feature group."""
    project = store.settings.project
    location = Path(store.offline.location(project, name, version))
    state: dict = {
        "files": sorted(str(p.relative_to(location)) for p in location.rglob("*"))
        if location.exists() else None,
        "tables": sorted(t.name for t in store.spark.catalog.listTables(database_name(project))),
        "groups": [(g.name, g.version, g.features) for g in store.metadata.list_feature_groups(project)],
    }
    if (location / "_delta_log").exists():
        state["delta_version"] = store.spark.sql(
            f"DESCRIBE HISTORY delta.`{location}` LIMIT 1").first().version
        state["rows"] = sorted(map(tuple, store.spark.read.format("delta").load(str(location))
                                   .collect()))
        state["commits"] = store.metadata.commits(project, name, version) if any(
            g[0] == name and g[1] == version for g in state["groups"]) else None
    return state


def rows(df) -> list[tuple]:
    return sorted(tuple(r) for r in df.collect())
