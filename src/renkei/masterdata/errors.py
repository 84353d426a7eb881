"""Typed errors of the integrated DB (統合DB, ``masterdata``).

No message or detail here carries a personal value (a name, an address, a date of birth) or a 個人番号: an
error names the item and why it was refused, never what was sent.
"""

from __future__ import annotations

from renkei.errors import RenkeiError


class MasterDataError(RenkeiError):
    """Root of the integrated DB's errors."""

    code = "masterdata.error"
    http_status = 500


# --- tenancy ------------------------------------------------------------------------------------------


class TenantInvalid(MasterDataError):
    """The tenant is not a 全国地方公共団体コード (6 digits whose check digit holds)."""

    code = "masterdata.tenant.invalid"
    http_status = 400


class TenantMismatch(MasterDataError):
    """A write names data of another tenant: an event published by another organisation, or a row that
    belongs to another tenant's master. Nothing is written."""

    code = "masterdata.tenant.mismatch"
    http_status = 403


class TenantForbidden(MasterDataError):
    """The caller is not a member system of the organisation that is the tenant: a municipality reads only
    its own master."""

    code = "masterdata.tenant.forbidden"
    http_status = 403


# --- events -------------------------------------------------------------------------------------------


class EventInvalid(MasterDataError):
    """An 異動 event the master cannot take: unknown topic or event type, items the spec refuses, no 異動日.

    ``field`` names the item or argument; the value itself is never echoed.
    """

    code = "masterdata.event.invalid"
    http_status = 400


class IndividualNumberRefused(EventInvalid):
    """A 個人番号 in an event: the master holds 宛名番号 and 基本4情報, never an individual number."""

    code = "masterdata.event.individual_number"


class EventConflict(MasterDataError):
    """The event id was applied before with other content: an event id names one event for ever."""

    code = "masterdata.event.conflict"
    http_status = 409


# --- reads --------------------------------------------------------------------------------------------


class QueryInvalid(MasterDataError):
    """A read with a malformed 宛名番号 / 世帯番号, ``valid_at`` or ``known_at``."""

    code = "masterdata.query.invalid"
    http_status = 400


class Unauthenticated(MasterDataError):
    """The signed-request token is missing, wrong, altered, stale or replayed (``reason``: the
    ``registry.auth.*`` code)."""

    code = "masterdata.request.unauthenticated"
    http_status = 401


class AccessDenied(MasterDataError):
    """The caller's unit may not read the master: the matrix gives it neither 住基情報 nor 住登外情報."""

    code = "masterdata.access.denied"
    http_status = 403


class PersonUnknown(MasterDataError):
    """No person with this 宛名番号 in the tenant's master (as of the times asked, for the caller's unit)."""

    code = "masterdata.person.unknown"
    http_status = 404


# --- the intake (fed by the hub) ------------------------------------------------------------------------


class IntakeError(MasterDataError):
    """Root of the intake's errors (``renkei.masterdata.intake``)."""

    code = "masterdata.intake.error"
    http_status = 500


class IntakeNotEnrolled(IntakeError):
    """The tenant has no 統合DB subscriber (member system, key, poll subscription) to read the hub with."""

    code = "masterdata.intake.not_enrolled"
    http_status = 404


class IntakeUnitTaken(IntakeError):
    """The unit chosen for the 統合DB subscriber is already registered in the tenant as another system."""

    code = "masterdata.intake.unit_taken"
    http_status = 409


class IntakePersonUnknown(IntakeError):
    """An event's 符号 does not lead to a 宛名番号 of the tenant in the linkage base: the master, keyed by
    宛名番号, cannot place it. The event is skipped with a record."""

    code = "masterdata.intake.person_unknown"
    http_status = 422


class IntakeFeedFailed(IntakeError):
    """The hub refused or failed a feed read (``reason``: the hub's code): nothing of the page is lost, the
    cursor stays where it was and the next pass reads it again."""

    code = "masterdata.intake.feed_failed"
    http_status = 502
