"""Reads of the integrated DB by member systems: signed, bound to the tenant, authorised by unit, recorded.

A read is allowed when, in this order:

1. the request carries the hub's signed-request token (``registry.auth``) for exactly this ``GET`` and
   target — else ``masterdata.request.unauthenticated`` (``reason`` = the ``registry.auth.*`` code);
2. the signer is a member system of the organisation that *is* the tenant (``JP/LG/<tenant>/uNN``): a
   municipality reads only its own master — else ``masterdata.tenant.forbidden``;
3. the signer's unit takes part in the spec's matrix for 住基情報 (``resident-record``) or 住登外情報
   (``non-resident-record``) — else ``masterdata.access.denied``. A unit sees the versions of the masters it
   takes part in only; versions of the other master are left out (a person only there is "unknown").

Every version returned leaves access records (情報提供等記録) at both ends through the
:class:`~renkei.audit.ports.AccessRecorder`, written before the answer is returned: no record, no data.
The record's subject is :func:`subject_of` (tenant, 宛名番号): an opaque hash, never a 宛名番号 or 個人番号.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from renkei.audit.models import AccessRecord, InformationItem, Outcome, Party, Side
from renkei.audit.ports import AccessRecorder
from renkei.errors import RenkeiError
from renkei.masterdata.errors import (
    AccessDenied,
    PersonUnknown,
    QueryInvalid,
    TenantForbidden,
    Unauthenticated,
)
from renkei.masterdata.models import ResidentClass, TenantCode, Version, tenant_code
from renkei.masterdata.service import MasterData, opaque
from renkei.registry.auth import RequestAuthenticator
from renkei.registry.identifiers import MemberClass, MemberId, subsystem_code
from renkei.spec.models import Spec
from renkei.storage.ports import Clock

SUBJECT_TAG = b"renkei-masterdata-subject-v1\x00"
"""Domain tag of :func:`subject_of`, so a master's subject never equals another context's subject hash."""
DEFAULT_PURPOSE = "masterdata-read"
"""The 事務 recorded when the caller names none in ``X-Road-Issue``."""
TOKEN = re.compile(r"^[\x21-\x7e]{1,128}$")
DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def subject_of(tenant: str, atena_number: str) -> str:
    """The access records' subject for a person of a tenant's master: ``md-`` and the SHA-256 of
    ``"renkei-masterdata-subject-v1" NUL tenant NUL 宛名番号`` in lower-case base32 without padding.

    A 宛名番号 is unique only inside its municipality, hence the tenant; the tag and the prefix keep it apart
    from the hub's subjects (hashes of person keys). Base32 rather than hex, so that no subject ever holds
    twelve digits a 個人番号 scan would flag.
    """
    data = SUBJECT_TAG + tenant.encode("ascii") + b"\x00" + atena_number.encode("ascii")
    return "md-" + opaque(hashlib.sha256(data).digest())


def _new_id() -> str:
    """A random record or message id (128 bits, base32; a UUID's hex can look like a 個人番号)."""
    return opaque(secrets.token_bytes(16))


def readable_classes(spec: Spec, unit: int) -> frozenset[ResidentClass]:
    """The masters a unit may read: those whose information kind it sends or receives in the matrix."""
    return frozenset(
        c
        for c in ResidentClass
        if any(t.information == c.information and unit in (t.sender, t.receiver) for t in spec.triples())
    )


def parse_valid_at(text: str | None) -> date | None:
    """``valid_at`` of a query string: ``YYYY-MM-DD`` (a Japanese calendar day), or ``None``."""
    if text is None:
        return None
    try:
        if not DATE.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise QueryInvalid(
            "valid_at は YYYY-MM-DD の日付です (valid_at: a date, YYYY-MM-DD)", field="valid_at"
        ) from None


def parse_known_at(text: str | None) -> datetime | None:
    """``known_at`` of a query string: an ISO 8601 instant with its offset (``Z`` or ``%2B09:00``)."""
    if text is None:
        return None
    try:
        if not DATE.fullmatch(text[:10]) or len(text) > 40:
            raise ValueError(text)
        at = datetime.fromisoformat(text)
    except ValueError:
        raise QueryInvalid(
            "known_at は ISO 8601 の日時です (known_at: an ISO 8601 instant such as 2026-04-01T09:00:00Z)",
            field="known_at",
        ) from None
    if at.utcoffset() is None:
        raise QueryInvalid(
            "known_at にはタイムゾーンが必要です (known_at needs an offset: Z or +09:00)", field="known_at"
        )
    return at


@dataclass(frozen=True, slots=True)
class SignedRead:
    """A read as the edge received it: the signature token, the request target as sent (path and query),
    and the optional ``X-Road-Issue`` (purpose) and ``X-Road-Id`` (message id) headers."""

    token: str | None
    target: str
    purpose: str | None = None
    message_id: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """What a read returns: the tenant, the times asked (``None`` for a history) and the versions."""

    tenant: TenantCode
    valid_at: date | None
    known_at: datetime | None
    versions: tuple[Version, ...]


@dataclass(frozen=True, slots=True)
class _Caller:
    member: MemberId
    classes: frozenset[ResidentClass]
    purpose: str
    message_id: str
    request_hash: str
    requested_at: datetime


class MasterDataReader:
    """The read side that member systems reach over HTTP (``api/masterdata.py``)."""

    def __init__(
        self,
        masterdata: MasterData,
        authenticator: RequestAuthenticator,
        recorder: AccessRecorder,
        clock: Clock,
    ) -> None:
        self._masterdata = masterdata
        self._authenticator = authenticator
        self._recorder = recorder
        self._clock = clock
        spec = masterdata.spec
        self._spec = spec
        self._keepers = {
            c: min(t.sender for t in spec.triples() if t.information == c.information) for c in ResidentClass
        }
        self._classes: dict[int, frozenset[ResidentClass]] = {
            int(unit.number): readable_classes(spec, unit.number) for unit in spec.units
        }

    def person(
        self, read: SignedRead, tenant: str, atena_number: str, *, valid_at: str | None, known_at: str | None
    ) -> Answer:
        """The person's version valid on ``valid_at`` as known at ``known_at`` (defaults: today, now)."""
        caller, code = self._admit(read, tenant)
        day = parse_valid_at(valid_at) or self._masterdata.today()
        at = parse_known_at(known_at) or caller.requested_at
        found = self._masterdata.person(code, atena_number, valid_at=day, known_at=at)
        if found is None or found.resident_class not in caller.classes:
            raise PersonUnknown("該当する宛名がありません (no such person in this master at that time)")
        self._record(caller, code, [found])
        return Answer(code, day, at, (found,))

    def history(self, read: SignedRead, tenant: str, atena_number: str) -> Answer:
        """Every version of the person ever recorded (of the masters the caller's unit may read)."""
        caller, code = self._admit(read, tenant)
        versions = [
            v for v in self._masterdata.history(code, atena_number) if v.resident_class in caller.classes
        ]
        if not versions:
            raise PersonUnknown("該当する宛名がありません (no such person in this master)")
        self._record(caller, code, versions)
        return Answer(code, None, None, tuple(versions))

    def household(
        self,
        read: SignedRead,
        tenant: str,
        household_number: str,
        *,
        valid_at: str | None,
        known_at: str | None,
    ) -> Answer:
        """The members of the 世帯 on ``valid_at`` as known at ``known_at`` (an empty list when none)."""
        caller, code = self._admit(read, tenant)
        day = parse_valid_at(valid_at) or self._masterdata.today()
        at = parse_known_at(known_at) or caller.requested_at
        members = [
            v
            for v in self._masterdata.household(code, household_number, valid_at=day, known_at=at)
            if v.resident_class in caller.classes
        ]
        self._record(caller, code, members)
        return Answer(code, day, at, tuple(members))

    # --- admission and records ----------------------------------------------------------------------

    def _admit(self, read: SignedRead, tenant: str) -> tuple[_Caller, TenantCode]:
        requested_at = self._clock.now()
        try:
            member = self._authenticator.authenticate(read.token, "GET", read.target, b"")
        except RenkeiError as error:
            if not error.code.startswith("registry.auth."):
                raise
            raise Unauthenticated(error.message, reason=error.code) from None
        code = tenant_code(tenant)
        organisation = member.organisation
        if organisation.member_class is not MemberClass.LG or organisation.code != code:
            raise TenantForbidden(
                f"{member} はテナント {code} の統合DBを参照できません "
                f"(only member systems of the municipality {code} read its master)",
                tenant=code,
                member=str(member),
            )
        classes = self._classes.get(int(member.unit), frozenset[ResidentClass]())
        if not classes:
            raise AccessDenied(
                f"業務ユニット {member.unit} は住基情報・住登外情報を扱いません "
                f"(unit {member.unit} takes no part in resident-record or non-resident-record)",
                member=str(member),
            )
        purpose = read.purpose if read.purpose and TOKEN.fullmatch(read.purpose) else DEFAULT_PURPOSE
        message_id = read.message_id if read.message_id and TOKEN.fullmatch(read.message_id) else _new_id()
        head = f"GET {read.target}\n{member}\n{message_id}\n".encode()
        request_hash = "sha256:" + opaque(hashlib.sha256(head).digest())
        return _Caller(member, classes, purpose, message_id, request_hash, requested_at), code

    def _record(self, caller: _Caller, tenant: TenantCode, versions: Sequence[Version]) -> None:
        if not versions:
            return
        provided_at = self._clock.now()
        requester = Party(str(caller.member.organisation), str(caller.member))
        # One pair of records per person and master, naming every item returned.
        groups: dict[tuple[str, ResidentClass], set[str]] = {}
        for version in versions:
            groups.setdefault((version.atena_number, version.resident_class), set()).update(version.items)
        records: list[AccessRecord] = []
        for (atena, resident_class), returned in groups.items():
            kind = self._spec.kind(resident_class.information)
            items = tuple(InformationItem(i.id, i.name) for i in kind.items if i.id in returned)
            keeper = f"{caller.member.organisation}/{subsystem_code(self._keepers[resident_class])}"
            provider = Party(str(caller.member.organisation), keeper)
            records.extend(
                AccessRecord(
                    record_id=_new_id(),
                    side=side,
                    requester=requester,
                    provider=provider,
                    requested_at=caller.requested_at,
                    provided_at=provided_at,
                    information=kind.id,
                    items=items,
                    purpose=caller.purpose,
                    withheld=False,
                    subject=subject_of(tenant, atena),
                    message_id=caller.message_id,
                    request_hash=caller.request_hash,
                    outcome=Outcome.PROVIDED,
                )
                for side in (Side.REQUESTER, Side.PROVIDER)
            )
        self._recorder.append_many(records)
