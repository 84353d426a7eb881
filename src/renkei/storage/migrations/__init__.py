"""Alembic migrations of renkei's schema; run them with :func:`renkei.storage.sql.migration.migrate`."""
