"""The whole schema: ``tables.metadata`` after every context's table module has registered its tables.

A context that owns tables defines them in ``renkei/storage/sql/<context>.py`` on ``tables.metadata``,
adds an import here, and keeps its migrations on its own Alembic branch
(``versions/<context>_0001_….py`` with ``branch_labels=("<context>",)`` and ``down_revision="0001"``).
"""

from __future__ import annotations

from renkei.storage.sql import (
    audit,
    commons,
    exchange,
    identity,
    masterdata,
    notifications,
    registry,
    tables,
    tenancy,
)
from renkei.storage.sql.tables import metadata

__all__ = [
    "audit",
    "commons",
    "exchange",
    "identity",
    "masterdata",
    "metadata",
    "notifications",
    "registry",
    "tables",
    "tenancy",
]
