"""External (on-demand) feature groups: where each is read from (a storage connector with a query
or a path and format, as JSON); NULL for the Delta feature groups, which have commits."""

import sqlalchemy as sa
from alembic import op

from featurestore_spark.metadata.revisions import LONG, has_column

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    if not has_column(op.get_bind(), "feature_groups", "source"):
        op.add_column("feature_groups", sa.Column("source", LONG))
