"""Storage: ports (Protocols) that services depend on, and the SQL adapter in :mod:`renkei.storage.sql`.

Only ``app.py`` (and tests) import the adapter; contexts import from here.
"""

from renkei.storage.clock import FixedClock, SteppingClock, SystemClock
from renkei.storage.errors import (
    MigrationFailed,
    MigrationPending,
    StorageBusy,
    StorageConflict,
    StorageError,
    StorageUnavailable,
    StorageUrlInvalid,
    StorageValueInvalid,
)
from renkei.storage.models import SpecRelease
from renkei.storage.ports import Clock, Database, SpecReleaseRepository, Storage, Transaction

__all__ = [
    "Clock",
    "Database",
    "FixedClock",
    "MigrationFailed",
    "MigrationPending",
    "SpecRelease",
    "SpecReleaseRepository",
    "SteppingClock",
    "Storage",
    "StorageBusy",
    "StorageConflict",
    "StorageError",
    "StorageUnavailable",
    "StorageUrlInvalid",
    "StorageValueInvalid",
    "SystemClock",
    "Transaction",
]
