"""The integrated DB's values: tenants, assertions (applied 異動 events) and bitemporal versions.

Two times run through the master (docs/masterdata.md):

- **valid time** (有効時間): when a state was true in the world. It starts at the event's 異動日 and is a
  calendar date in Japan; a version is valid on ``valid_from <= day < valid_to`` (``None``: open).
- **recorded time** (記録時間): when the master learned it. A version is known from ``recorded_from`` until
  ``recorded_to`` (``None``: still believed). Nothing is ever changed or removed: a correction closes the
  recorded interval of the versions it replaces by *adding* a supersession, and adds new versions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from typing import NewType

from renkei.japanese.checkdigit import validate_local_government_code
from renkei.japanese.errors import JapaneseError
from renkei.masterdata.errors import TenantInvalid

TenantCode = NewType("TenantCode", str)
"""A tenant: one municipality, named by its 全国地方公共団体コード (6 digits, check digit last: 131016)."""

JsonValue = str | int | bool
"""An item value as the spec types it (text, integer or boolean)."""

JST = timezone(timedelta(hours=9), "JST")
"""Japan Standard Time: valid time is a Japanese calendar date, so "today" is today in Japan."""

RESIDENT_TOPIC = "resident-changes"
"""住民異動通知: the 住基 異動 topic that feeds the 宛名 master of residents."""
NON_RESIDENT_TOPIC = "non-resident-changes"
"""住登外者異動通知: the topic that feeds the 住登外 master."""


class ResidentClass(StrEnum):
    """住民区分: which master a version belongs to."""

    RESIDENT = "resident"  # 住民 (住民基本台帳に記録された者)
    NON_RESIDENT = "non_resident"  # 住登外 (団体が扱う、住民登録のない者)

    @property
    def information(self) -> str:
        """The spec's information kind for this master."""
        return "resident-record" if self is ResidentClass.RESIDENT else "non-resident-record"

    @property
    def topic(self) -> str:
        return RESIDENT_TOPIC if self is ResidentClass.RESIDENT else NON_RESIDENT_TOPIC


def tenant_code(text: object) -> TenantCode:
    """``text`` as a tenant, or ``masterdata.tenant.invalid`` (6 ASCII digits with a valid check digit)."""
    if not isinstance(text, str):
        raise TenantInvalid("テナントは地方公共団体コードです (the tenant is a local government code)")
    try:
        return TenantCode(validate_local_government_code(text))
    except JapaneseError as error:
        raise TenantInvalid(
            "テナントは6桁の全国地方公共団体コードです (the tenant must be a 6-digit local government code "
            "with a valid check digit, e.g. 131016)",
            reason=error.code,
        ) from None


@dataclass(frozen=True, slots=True)
class Assertion:
    """One applied 異動 event: what the master was told about a person, and when it learned it.

    ``items`` is the person's whole record after the change (the topic's items). ``position`` is the
    arrival order among this person's events (0, 1, …); ``recorded_at`` the instant the master took it.
    """

    tenant: TenantCode
    event_id: str
    topic: str
    event_type: str  # 異動事由 (change-reason) or 住登外異動区分 (non-resident-event)
    atena_number: str  # 宛名番号
    valid_from: date  # 異動日: from when the record is true
    occurred: datetime  # when the change happened at the publisher (tz-aware UTC)
    recorded_at: datetime  # when the master learned it (tz-aware UTC)
    position: int
    resident_class: ResidentClass
    household_number: str | None  # 世帯番号 (residents only)
    active: bool  # 住民 / 転出予定者, or 住登外 登録中: a member of its household on the day
    publisher: str | None  # the member system that published the event, when known
    fingerprint: str  # SHA-256 of the event's canonical JSON: the same id must carry the same event
    items: Mapping[str, JsonValue]

    @property
    def order(self) -> tuple[date, datetime, int]:
        """Which assertion wins for a day: the latest 異動日, then the latest occurrence, then the latest
        arrival. So a late correction with an earlier 異動日 takes its place in valid time."""
        return (self.valid_from, self.occurred, self.position)


@dataclass(frozen=True, slots=True)
class Segment:
    """One piece of a person's valid-time line: ``[valid_from, valid_to)`` as ``event_id`` tells it."""

    valid_from: date
    valid_to: date | None
    event_id: str


@dataclass(frozen=True, slots=True)
class Version:
    """One row of the bitemporal master: a segment of valid time, the recorded interval it was believed
    in, and the assertion that tells it."""

    tenant: TenantCode
    atena_number: str
    seq: int  # per person, in insertion order
    valid_from: date
    valid_to: date | None
    recorded_from: datetime
    recorded_to: datetime | None
    superseded_by: str | None  # the event whose arrival closed the recorded interval
    assertion: Assertion

    @property
    def segment(self) -> Segment:
        return Segment(self.valid_from, self.valid_to, self.assertion.event_id)

    @property
    def resident_class(self) -> ResidentClass:
        return self.assertion.resident_class

    @property
    def household_number(self) -> str | None:
        return self.assertion.household_number

    @property
    def items(self) -> Mapping[str, JsonValue]:
        return self.assertion.items

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)

    def known_at(self, at: datetime) -> bool:
        return self.recorded_from <= at and (self.recorded_to is None or at < self.recorded_to)


@dataclass(frozen=True, slots=True)
class NewVersion:
    """A version the service asks the store to add (the store stamps tenant, person and recorded time)."""

    seq: int
    segment: Segment


@dataclass(frozen=True, slots=True)
class Applied:
    """What :meth:`~renkei.masterdata.service.MasterData.apply` did with one event."""

    tenant: TenantCode
    event_id: str
    atena_number: str
    duplicate: bool  # the event id was applied before (nothing written this time)
    recorded_at: datetime
    added: int  # versions added
    superseded: int  # versions whose recorded interval this event closed
