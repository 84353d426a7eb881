"""The storage ports: what services may ask of a database, as Protocols.

Contexts depend on these and on :class:`Storage`, never on an adapter; ``app.py`` builds a :class:`Storage`
with :func:`renkei.storage.sql.engine.create_storage` and passes it (with a :class:`Clock`) to services.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol

from renkei.storage.models import SpecRelease


class Clock(Protocol):
    """Where services get the time from (tests freeze it: :mod:`renkei.storage.clock`)."""

    def now(self) -> datetime:
        """The current instant, tz-aware, in UTC."""
        ...


class SpecReleaseRepository(Protocol):
    """Which versions of the standard were put in force, and when (仕様の版の履歴)."""

    def record(self, version: str, digest: str, activated_at: datetime) -> SpecRelease:
        """Record that ``version`` (with spec data fingerprint ``digest``) was activated at ``activated_at``.

        Idempotent: recording a version again with the same digest returns the release already stored
        (with its original ``activated_at``). A published version never changes, so the same version
        with another digest raises ``storage.conflict``. Text containing NUL, lone surrogates or more
        than 128 characters, and naive datetimes, raise ``storage.value.invalid``.
        """
        ...

    def get(self, version: str) -> SpecRelease | None:
        """The release recorded for ``version``, if any."""
        ...

    def current(self) -> SpecRelease | None:
        """The release activated last (latest ``activated_at``; on a tie, the one recorded last)."""
        ...

    def history(self) -> list[SpecRelease]:
        """Every release, oldest activation first (ties in recording order)."""
        ...


class Database(Protocol):
    """The database itself, for operations: health, identity, shutdown."""

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        ...

    def check(self) -> None:
        """Return if the database is reachable and its schema current.

        Raises ``storage.unavailable`` (server down, file gone) or ``storage.migration.pending``, each
        with a message that names the database (never its password).
        """
        ...

    def close(self) -> None:
        """Release every connection. Idempotent; the storage cannot be used afterwards."""
        ...


class Transaction(Protocol):
    """The repositories bound to one database transaction (a unit of work).

    Everything done through them commits together when the ``with`` block ends normally, and nothing of
    it is kept when the block raises. Later issues add repositories here and on :class:`Storage`.
    """

    @property
    def spec_releases(self) -> SpecReleaseRepository: ...


TransactionFactory = Callable[[], AbstractContextManager[Transaction]]
"""Opens a unit of work: ``with storage.transaction() as tx: tx.spec_releases.record(...)``."""


@dataclass(frozen=True, slots=True)
class Storage:
    """Everything persistent, as ``app.py`` hands it to services.

    The repositories here run each call in a transaction of its own; for several writes that must stand
    or fall together use :attr:`transaction`. (Inside a transaction use only ``tx``'s repositories: on
    SQLite a second writer would wait for the first.)
    """

    database: Database
    spec_releases: SpecReleaseRepository
    transaction: TransactionFactory

    def close(self) -> None:
        """Close the database (idempotent)."""
        self.database.close()

    def __enter__(self) -> Storage:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
