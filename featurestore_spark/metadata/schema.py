"""The metadata store's tables, in SQLAlchemy Core: one schema for SQLite and MySQL/MariaDB.

The tables are made and changed by the Alembic revisions of ``metadata/revisions`` (append a
revision there when a table changes, and change it here too); the store's statements are built
from these objects, never from SQL text, so both dialects get the same statements.
"""

from __future__ import annotations

from sqlalchemy import (Column, ForeignKey, Integer, MetaData, PrimaryKeyConstraint, String, Table,
                        Text, UniqueConstraint)
from sqlalchemy.dialects import mysql

# a short indexed string: compared byte for byte on MySQL too (names are case-sensitive)
Key = String(255).with_variant(mysql.VARCHAR(255, charset="utf8mb4", collation="utf8mb4_bin"),
                               "mysql", "mariadb")
# a long string: JSON, descriptions, locations
Long = Text().with_variant(mysql.MEDIUMTEXT(charset="utf8mb4"), "mysql", "mariadb")

metadata = MetaData()

feature_groups = Table(
    "feature_groups", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", Key, nullable=False),
    Column("name", Key, nullable=False),
    Column("version", Integer, nullable=False),
    Column("description", Long, nullable=False),
    Column("primary_key", Long, nullable=False),         # JSON list
    Column("partition_by", Long, nullable=False),        # JSON list
    Column("event_time", Key),
    Column("location", Long, nullable=False),
    Column("created_at", Key, nullable=False),           # UTC ISO-8601 text (sorts in time order)
    Column("creator", Key, nullable=False),
    Column("online", Integer, nullable=False, server_default="0"),
    Column("online_commit", Integer),
    UniqueConstraint("project", "name", "version"),
    sqlite_autoincrement=True,
)

features = Table(
    "features", metadata,
    Column("feature_group_id", Integer, ForeignKey("feature_groups.id", ondelete="CASCADE"),
           nullable=False),
    Column("position", Integer, nullable=False),
    Column("name", Key, nullable=False),
    Column("type", Long, nullable=False),
    Column("description", Long, nullable=False),
    PrimaryKeyConstraint("feature_group_id", "name"),
)

commits = Table(
    "commits", metadata,
    Column("feature_group_id", Integer, ForeignKey("feature_groups.id", ondelete="CASCADE"),
           nullable=False),
    Column("commit_id", Integer, nullable=False),
    Column("committed_at", Key, nullable=False),
    Column("operation", Key, nullable=False),
    Column("rows_inserted", Integer, nullable=False),
    Column("rows_updated", Integer, nullable=False),
    Column("rows_deleted", Integer, nullable=False),
    Column("creator", Key, nullable=False),
    PrimaryKeyConstraint("feature_group_id", "commit_id"),
)

training_datasets = Table(
    "training_datasets", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", Key, nullable=False),
    Column("name", Key, nullable=False),
    Column("version", Integer, nullable=False),
    Column("description", Long, nullable=False),
    Column("data_format", Key, nullable=False),
    Column("location", Long, nullable=False),
    Column("features", Long, nullable=False),            # JSON [[name, type], ...]
    Column("splits", Long, nullable=False),              # JSON {"kind", "seed"/"column", "splits"}
    Column("source", Long, nullable=False),              # JSON {"kind": "query" | "dataframe", ...}
    Column("created_at", Key, nullable=False),
    Column("creator", Key, nullable=False),
    UniqueConstraint("project", "name", "version"),
    sqlite_autoincrement=True,
)

documents = Table(                                       # statistics, suites, reports: JSON
    "documents", metadata,
    Column("project", Key, nullable=False),
    Column("kind", Key, nullable=False),
    Column("name", Key, nullable=False),
    Column("version", Integer, nullable=False),
    Column("number", Integer, nullable=False),
    Column("created_at", Key, nullable=False),
    Column("body", Long, nullable=False),
    PrimaryKeyConstraint("project", "kind", "name", "version", "number"),
)

metadata_generation = Table(                             # one row: see MetadataStore.generation
    "metadata_generation", metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("generation", Integer, nullable=False),
)
