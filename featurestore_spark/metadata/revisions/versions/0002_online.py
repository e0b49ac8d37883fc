"""Online feature groups: the flag, and the last commit synced to the online store."""

import sqlalchemy as sa
from alembic import op

from featurestore_spark.metadata.revisions import INT, has_column

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    bind = op.get_bind()
    if not has_column(bind, "feature_groups", "online"):
        op.add_column("feature_groups", sa.Column("online", INT, nullable=False,
                                                  server_default="0"))
    if not has_column(bind, "feature_groups", "online_commit"):
        op.add_column("feature_groups", sa.Column("online_commit", INT))
