"""The generation number of the feature groups' metadata (one row), bumped in the transaction of
every change a reader may have derived something from (registration, features, online flag):
readers that cache plans compare it to know they are current."""

import sqlalchemy as sa
from alembic import op

from featurestore_spark.metadata.revisions import INT, has_table

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    bind = op.get_bind()
    if not has_table(bind, "metadata_generation"):
        op.create_table("metadata_generation",
                        sa.Column("id", INT, primary_key=True, autoincrement=False),
                        sa.Column("generation", INT, nullable=False))
    table = sa.table("metadata_generation", sa.column("id"), sa.column("generation"))
    if bind.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0:
        op.bulk_insert(table, [{"id": 1, "generation": 0}])
