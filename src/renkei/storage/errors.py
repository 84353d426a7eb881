"""Errors of the ``storage`` context.

Adapters translate driver exceptions into these, so that no caller ever sees SQLAlchemy, sqlite3 or
psycopg types; the dotted ``code`` is what health checks and the API report.
"""

# Named after the failure, as the other contexts name theirs (spec.errors.UnknownUnit);
# the dotted code is the contract.

from __future__ import annotations

from renkei.errors import InvalidInput, RenkeiError


class StorageError(RenkeiError):
    """The database refused or failed an operation for a reason not covered by a subclass."""

    code = "storage.failed"
    http_status = 500


class StorageUnavailable(StorageError):
    """The database cannot be reached: server down, socket or file gone, disk unreadable."""

    code = "storage.unavailable"
    http_status = 503


class StorageBusy(StorageUnavailable):
    """The database is reachable but stayed locked past the timeout, or aborted a transaction to break a
    deadlock or serialization conflict; trying again later may succeed."""

    code = "storage.busy"
    http_status = 503


class StorageConflict(StorageError):
    """The write contradicts what is already stored (a published spec version with another digest …)."""

    code = "storage.conflict"
    http_status = 409


class StorageValueInvalid(StorageError, InvalidInput):
    """A value cannot be stored identically on every backend (NUL in text, naive timestamp …)."""

    code = "storage.value.invalid"
    http_status = 400


class StorageUrlInvalid(StorageError):
    """The database URL names no backend renkei supports, or is malformed."""

    code = "storage.url.invalid"
    http_status = 500


class MigrationFailed(StorageError):
    """Upgrading the schema failed; the database is left at the revision it had before."""

    code = "storage.migration.failed"
    http_status = 500


class MigrationPending(StorageError):
    """The schema is not at the revision this code expects: run the migrations."""

    code = "storage.migration.pending"
    http_status = 503
