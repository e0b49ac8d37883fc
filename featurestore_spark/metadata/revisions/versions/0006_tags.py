"""The registry: tags (a name and a JSON value) and keywords of feature groups, their features,
feature views and training datasets, the JSON Schemas that tags obey, and the words search finds
(filled when the store is opened: metadata.search_index)."""

import sqlalchemy as sa
from alembic import op

from featurestore_spark.metadata.revisions import INT, KEY, LONG, NAME, has_table

revision = "0006"
down_revision = "0005"

SUBJECT = ("project", "kind", "name", "version", "part")


def _subject() -> list[sa.Column]:
    return [sa.Column("project", NAME, nullable=False), sa.Column("kind", NAME, nullable=False),
            sa.Column("name", NAME, nullable=False), sa.Column("version", INT, nullable=False),
            sa.Column("part", NAME, nullable=False)]


def upgrade() -> None:
    bind = op.get_bind()
    if not has_table(bind, "tags"):
        op.create_table("tags", *_subject(), sa.Column("tag", NAME, nullable=False),
                        sa.Column("value", LONG, nullable=False),
                        sa.PrimaryKeyConstraint(*SUBJECT, "tag"))
    if not has_table(bind, "keywords"):
        op.create_table("keywords", *_subject(), sa.Column("keyword", NAME, nullable=False),
                        sa.PrimaryKeyConstraint(*SUBJECT, "keyword"))
    if not has_table(bind, "tag_schemas"):
        op.create_table("tag_schemas", sa.Column("project", NAME, nullable=False),
                        sa.Column("tag", NAME, nullable=False),
                        sa.Column("schema", LONG, nullable=False),
                        sa.PrimaryKeyConstraint("project", "tag"))
    if not has_table(bind, "search_terms"):
        op.create_table("search_terms", sa.Column("project", NAME, nullable=False),
                        sa.Column("term", NAME, nullable=False),
                        sa.Column("kind", NAME, nullable=False),
                        sa.Column("name", NAME, nullable=False),
                        sa.Column("version", INT, nullable=False),
                        sa.Column("part", NAME, nullable=False),
                        sa.Column("field", KEY, nullable=False),
                        sa.PrimaryKeyConstraint("project", "term", "kind", "name", "version",
                                                "part", "field"))
    if not any(i["name"] == "search_terms_subject"
               for i in sa.inspect(bind).get_indexes("search_terms")):
        op.create_index("search_terms_subject", "search_terms",
                        ["project", "name", "version", "kind"])
