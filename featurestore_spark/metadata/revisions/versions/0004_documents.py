"""JSON documents about a version: statistics per commit, expectation suites, validation
reports."""

import sqlalchemy as sa
from alembic import op

from featurestore_spark.metadata.revisions import INT, KEY, LONG, has_table

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    if has_table(op.get_bind(), "documents"):
        return
    op.create_table(
        "documents",
        sa.Column("project", KEY, nullable=False),
        sa.Column("kind", KEY, nullable=False),
        sa.Column("name", KEY, nullable=False),
        sa.Column("version", INT, nullable=False),
        sa.Column("number", INT, nullable=False),
        sa.Column("created_at", KEY, nullable=False),
        sa.Column("body", LONG, nullable=False),
        sa.PrimaryKeyConstraint("project", "kind", "name", "version", "number"))
