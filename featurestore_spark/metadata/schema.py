"""The metadata store's tables, in SQLAlchemy Core: one schema for SQLite and MySQL/MariaDB.

The tables are made and changed by the Alembic revisions of ``metadata/revisions`` (append a
revision there when a table changes, and change it here too); the store's statements are built
from these objects, never from SQL text, so both dialects get the same statements.
"""

from __future__ import annotations

from sqlalchemy import (Column, ForeignKey, Index, Integer, MetaData, PrimaryKeyConstraint, String, Table,
                        Text, UniqueConstraint)
from sqlalchemy.dialects import mysql

# a short indexed string: compared byte for byte on MySQL too (names are case-sensitive)
Key = String(255).with_variant(mysql.VARCHAR(255, charset="utf8mb4", collation="utf8mb4_bin"),
                               "mysql", "mariadb")
# a name (names.py: at most 63 characters): the columns of the registry's keys, which MySQL's
# 3072-byte index limit would not take as five Keys
Name = String(64).with_variant(mysql.VARCHAR(64, charset="utf8mb4", collation="utf8mb4_bin"),
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
    Column("dependencies", Long),                        # JSON list of paths or tables, or NULL
    Column("source", Long),                              # JSON of an external group, or NULL
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
    Column("job", Key, nullable=False, server_default=""),   # the application or named job
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

# The registry's labels. A subject: (project, kind, name, version, part): kind "fg" (part: "" or
# a feature's name), "fv" (part ""), "td" (part "") or "fv.td" (part: the view's training
# dataset version); removed with what they label.
SUBJECT = ("project", "kind", "name", "version", "part")


def _subject() -> list[Column]:
    """The subject's columns (new objects for each table)."""
    return [Column(c, Integer if c == "version" else Name, nullable=False) for c in SUBJECT]


tags = Table(
    "tags", metadata,
    *_subject(),
    Column("tag", Name, nullable=False),
    Column("value", Long, nullable=False),               # JSON
    PrimaryKeyConstraint(*SUBJECT, "tag"),
)

keywords = Table(
    "keywords", metadata,
    *_subject(),
    Column("keyword", Name, nullable=False),
    PrimaryKeyConstraint(*SUBJECT, "keyword"),
)

tag_schemas = Table(                                     # JSON Schemas that a tag's values obey
    "tag_schemas", metadata,
    Column("project", Name, nullable=False),
    Column("tag", Name, nullable=False),
    Column("schema", Long, nullable=False),
    PrimaryKeyConstraint("project", "tag"),
)

search_terms = Table(                                    # the words of what search finds, by subject
    "search_terms", metadata,
    Column("project", Name, nullable=False),
    Column("term", Name, nullable=False),                # lowercased: a word, or a whole name
    Column("kind", Name, nullable=False),
    Column("name", Name, nullable=False),
    Column("version", Integer, nullable=False),
    Column("part", Name, nullable=False),
    Column("field", Key, nullable=False),    # name, description, keyword <keyword>, tag <name>
    PrimaryKeyConstraint("project", "term", "kind", "name", "version", "part", "field"),
    Index("search_terms_subject", "project", "name", "version", "kind"),  # reindexing one
)
