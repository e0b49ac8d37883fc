"""Alembic's environment: runs the revisions on the connection ``metadata.upgrade`` passes in
``config.attributes["connection"]`` (never from a URL: the store made the connection)."""

from alembic import context

context.configure(connection=context.config.attributes["connection"])
with context.begin_transaction():
    context.run_migrations()
