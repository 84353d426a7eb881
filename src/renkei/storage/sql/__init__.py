"""The SQL adapter (SQLAlchemy Core): SQLite for embedded deployments, PostgreSQL for production.

Only ``app.py`` and tests import this package.
"""

from renkei.storage.sql.engine import create_storage
from renkei.storage.sql.migration import migrate

__all__ = ["create_storage", "migrate"]
