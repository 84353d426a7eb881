"""What the integrated DB needs from storage: one master per tenant, scoped where no caller can forget it.

:class:`MasterDataStore` hands out a :class:`TenantMaster` for one tenant; every read and write through it
touches that tenant's rows only (the SQL adapter puts ``tenant = :tenant`` in every statement; the test
``tests/masterdata/test_tenant_scoping.py`` proves it statement by statement). Rows of another tenant are
neither returned nor writable: an assertion naming another tenant is refused with
``masterdata.tenant.mismatch``. The store is append-only: nothing is ever updated or deleted.

Implemented by ``renkei.storage.sql.masterdata.SqlMasterDataStore`` (SQLite and PostgreSQL).

:class:`IntakeStore` is the intake's own bookkeeping (``renkei.masterdata.intake``): per tenant, the cursor
reached in each hub feed and the events the master refused. It is append-only and tenant-scoped in the same
way (``SqlIntakeStore``).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from renkei.masterdata.models import Assertion, NewVersion, TenantCode, Version


class PersonWriter(Protocol):
    """One write transaction on one person of one tenant, holding that person's lock: applies of events
    for the same person are serialised, so positions and version numbers stay dense."""

    def event(self, event_id: str) -> Assertion | None:
        """The tenant's assertion with this event id (of any person), if it was applied."""
        ...

    def assertions(self) -> list[Assertion]:
        """This person's assertions in arrival order."""
        ...

    def current(self) -> list[Version]:
        """This person's versions not superseded yet (the valid-time line as now believed)."""
        ...

    def next_seq(self) -> int:
        """The number the person's next version gets (0 for a new person)."""
        ...

    def add_assertion(self, assertion: Assertion) -> bool:
        """Store ``assertion``; ``False`` (nothing written) when its event id was taken meanwhile.
        Raises ``masterdata.tenant.mismatch`` when it names another tenant or person."""
        ...

    def supersede(self, seqs: Sequence[int], at: datetime, event_id: str) -> None:
        """Close the recorded interval of the person's current versions ``seqs`` at ``at``, by an event."""
        ...

    def add_versions(self, versions: Sequence[NewVersion], at: datetime) -> None:
        """Add the person's versions, recorded from ``at``."""
        ...


class TenantMaster(Protocol):
    """One tenant's master. Reads run in a transaction of their own."""

    @property
    def tenant(self) -> TenantCode: ...

    def writing(self, atena_number: str) -> AbstractContextManager[PersonWriter]:
        """A write transaction on one person (committed when the block ends without an exception)."""
        ...

    def event(self, event_id: str) -> Assertion | None:
        """The assertion with this event id, if it was applied to this tenant."""
        ...

    def version_at(self, atena_number: str, valid_at: date, known_at: datetime) -> Version | None:
        """The person's version valid on ``valid_at`` as known at ``known_at``, if any."""
        ...

    def versions(self, atena_number: str) -> list[Version]:
        """Every version of the person ever recorded (superseded ones too), by valid and recorded time."""
        ...

    def household_at(
        self, household_number: str, valid_at: date, known_at: datetime, *, active_only: bool = True
    ) -> list[Version]:
        """The versions valid on ``valid_at`` as known at ``known_at`` whose record names the 世帯番号,
        by 宛名番号; with ``active_only`` only those whose person is a member on that day."""
        ...


class MasterDataStore(Protocol):
    """Where the masters of every tenant live."""

    def scoped(self, tenant: TenantCode) -> TenantMaster:
        """The master of ``tenant`` (and of no other)."""
        ...


# --- the intake's bookkeeping (renkei.masterdata.intake) ------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class Feed:
    """One hub feed the intake reads: a publisher's topic, read as ``subscriber`` (the 統合DB member)."""

    subscriber: str
    publisher: str
    topic: str


@dataclass(frozen=True, slots=True)
class Rejection:
    """An event of a feed the master refused for good (``code`` a ``masterdata.*`` code, ``field`` the item
    or argument it names). Carries no personal value: the hub's event id, where it came from, why."""

    tenant: TenantCode
    event_id: str
    feed: Feed
    code: str
    field: str | None
    rejected_at: datetime


class TenantIntake(Protocol):
    """One tenant's intake bookkeeping: feed cursors and refused events, append-only."""

    @property
    def tenant(self) -> TenantCode: ...

    def cursor(self, feed: Feed) -> int:
        """The feed's cursor (the hub sequence after which reading resumes); 0 when never advanced."""
        ...

    def advance(self, feed: Feed, cursor: int, at: datetime, *, applied: int, rejected: int) -> bool:
        """Record that every event of ``feed`` up to ``cursor`` was taken (applied or rejected);
        ``False`` when the cursor was already there or beyond (nothing written)."""
        ...

    def reject(self, rejection: Rejection) -> bool:
        """Record a refused event; ``False`` when it was already recorded (a re-read page)."""
        ...

    def rejections(self, limit: int = 100) -> list[Rejection]:
        """The refused events, most recent first."""
        ...


class IntakeStore(Protocol):
    """Where the intake's bookkeeping of every tenant lives."""

    def scoped(self, tenant: TenantCode) -> TenantIntake:
        """The bookkeeping of ``tenant`` (and of no other)."""
        ...
