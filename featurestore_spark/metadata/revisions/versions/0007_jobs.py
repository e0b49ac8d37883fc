"""Provenance: the job that made each commit (a Spark application's name and id, or a name the
writer gave), and the datasets a feature group was computed from (a JSON list of paths or tables;
NULL for groups registered before this revision: none declared)."""

import sqlalchemy as sa
from alembic import op

from featurestore_spark.metadata.revisions import KEY, LONG, has_column

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    bind = op.get_bind()
    if not has_column(bind, "commits", "job"):
        op.add_column("commits", sa.Column("job", KEY, nullable=False, server_default=""))
    if not has_column(bind, "feature_groups", "dependencies"):
        op.add_column("feature_groups", sa.Column("dependencies", LONG))
