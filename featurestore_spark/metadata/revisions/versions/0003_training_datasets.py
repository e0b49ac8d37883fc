"""Training datasets. features: JSON [[name, type], ...]; splits: JSON {"kind", "seed"/"column",
"splits"}; source: JSON {"kind": "query" | "dataframe", "query", "feature_groups", ...}."""

import sqlalchemy as sa
from alembic import op

from featurestore_spark.metadata.revisions import INT, KEY, LONG, has_table

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    if has_table(op.get_bind(), "training_datasets"):
        return
    op.create_table(
        "training_datasets",
        sa.Column("id", INT, primary_key=True, autoincrement=True),
        sa.Column("project", KEY, nullable=False),
        sa.Column("name", KEY, nullable=False),
        sa.Column("version", INT, nullable=False),
        sa.Column("description", LONG, nullable=False),
        sa.Column("data_format", KEY, nullable=False),
        sa.Column("location", LONG, nullable=False),
        sa.Column("features", LONG, nullable=False),
        sa.Column("splits", LONG, nullable=False),
        sa.Column("source", LONG, nullable=False),
        sa.Column("created_at", KEY, nullable=False),
        sa.Column("creator", KEY, nullable=False),
        sa.UniqueConstraint("project", "name", "version"),
        sqlite_autoincrement=True)
