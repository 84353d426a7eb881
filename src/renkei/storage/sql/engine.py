"""Opening storage: :func:`create_storage` turns a database URL into the :class:`Storage` that ``app.py``
passes to services."""

from __future__ import annotations

from renkei.storage.ports import Storage
from renkei.storage.sql.backend import build_engine
from renkei.storage.sql.database import SqlDatabase
from renkei.storage.sql.migration import migrate as migrate_schema
from renkei.storage.sql.repositories import ConnectionSource, SqlRepositories


def create_storage(url: str, *, migrate: bool = True) -> Storage:
    """Storage on the database at ``url`` (``sqlite:///path`` or ``postgresql+psycopg://…``).

    With ``migrate`` (the default) the schema is first upgraded to the head revision (a no-op when it is
    there). The caller owns the result and closes it (``storage.close()`` or ``with``). Raises
    ``storage.url.invalid``, ``storage.unavailable`` or ``storage.migration.failed``.
    """
    engine = build_engine(url)
    try:
        if migrate:
            migrate_schema(engine)
        database = SqlDatabase(engine)
    except BaseException:
        engine.dispose()
        raise
    # Outside a unit of work, every repository call runs in a transaction of its own.
    repositories = SqlRepositories(database.begin)
    return Storage(
        database=database,
        spec_releases=repositories.spec_releases,
        transaction=database.transaction,
    )


def connection_source(storage: Storage) -> ConnectionSource:
    """The SQL connection source behind ``storage``, for the composition root to hand to a context's SQL
    adapter (``renkei/storage/sql/<context>.py``): ``with source(write) as connection: …`` runs in a
    transaction of its own."""
    database = storage.database
    if not isinstance(database, SqlDatabase):  # pragma: no cover - create_storage always builds one
        raise TypeError(f"not an SQL storage: {database!r}")
    return database.begin
