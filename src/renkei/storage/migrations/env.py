"""Alembic environment: runs the migrations on the connection that
:func:`~renkei.storage.sql.migration.migrate` passes in ``config.attributes["connection"]``.
It reads no ini file and no environment variable."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from renkei.storage.errors import MigrationFailed
from renkei.storage.sql.schema import metadata


def run_migrations() -> None:
    if context.is_offline_mode():
        raise MigrationFailed(
            "offline (--sql) migrations are not supported; use renkei.storage.sql.migrate()"
        )
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise MigrationFailed(
            "the migration environment needs an open connection in config.attributes['connection']; "
            "run migrations with renkei.storage.sql.migrate()"
        )
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
