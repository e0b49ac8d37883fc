"""Feature groups, their features and commits."""

from typing import Any

import sqlalchemy as sa
from alembic import op

from featurestore_spark.metadata.revisions import INT, KEY, LONG, has_table

revision = "0001"
down_revision = None


def upgrade() -> None:
    bind = op.get_bind()
    if not has_table(bind, "feature_groups"):
        op.create_table(
            "feature_groups",
            sa.Column("id", INT, primary_key=True, autoincrement=True),
            sa.Column("project", KEY, nullable=False),
            sa.Column("name", KEY, nullable=False),
            sa.Column("version", INT, nullable=False),
            sa.Column("description", LONG, nullable=False),
            sa.Column("primary_key", LONG, nullable=False),
            sa.Column("partition_by", LONG, nullable=False),
            sa.Column("event_time", KEY),
            sa.Column("location", LONG, nullable=False),
            sa.Column("created_at", KEY, nullable=False),
            sa.Column("creator", KEY, nullable=False),
            sa.UniqueConstraint("project", "name", "version"),
            sqlite_autoincrement=True)
    children: tuple[tuple[str, list[Any]], ...] = (
            ("features", [sa.Column("position", INT, nullable=False),
                          sa.Column("name", KEY, nullable=False),
                          sa.Column("type", LONG, nullable=False),
                          sa.Column("description", LONG, nullable=False),
                          sa.PrimaryKeyConstraint("feature_group_id", "name")]),
            ("commits", [sa.Column("commit_id", INT, nullable=False),
                         sa.Column("committed_at", KEY, nullable=False),
                         sa.Column("operation", KEY, nullable=False),
                         sa.Column("rows_inserted", INT, nullable=False),
                         sa.Column("rows_updated", INT, nullable=False),
                         sa.Column("rows_deleted", INT, nullable=False),
                         sa.Column("creator", KEY, nullable=False),
                         sa.PrimaryKeyConstraint("feature_group_id", "commit_id")]))
    for table, columns in children:
        if not has_table(bind, table):
            op.create_table(table, sa.Column("feature_group_id", INT,
                                             sa.ForeignKey("feature_groups.id", ondelete="CASCADE"),
                                             nullable=False), *columns)
