"""The integrated DB (統合DB): per tenant, the common 宛名 master and the 住登外 master, bitemporal.

:meth:`MasterData.apply` takes one 異動 event as the hub's notification topics carry it (住民異動通知
``resident-changes``, 住登外者異動通知 ``non-resident-changes``): the person's whole record after the change.
The event becomes an *assertion* — "from 異動日 on, the record is this" — and the person's valid-time line is
recomputed from every assertion known: per 異動日 the latest (by occurrence, then arrival) wins, and each
state lasts until the next 異動日. Versions that no longer hold are closed in recorded time (a supersession
row is added), the new ones are added; nothing is updated or deleted. So an event that arrives late with an
earlier 異動日 slots into the past, and "as of day V as known at instant R" stays answerable for every R.

Applying is idempotent by event id (the same event again changes nothing; the same id with other content is
refused). See docs/masterdata.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from jsonschema import Draft202012Validator

from renkei.errors import RenkeiError
from renkei.identity.scan import contains_individual_number
from renkei.japanese.checkdigit import validate_atena_number, validate_household_number
from renkei.masterdata.errors import (
    EventConflict,
    EventInvalid,
    IndividualNumberRefused,
    QueryInvalid,
    TenantMismatch,
)
from renkei.masterdata.models import (
    JST,
    RESIDENT_TOPIC,
    Applied,
    Assertion,
    JsonValue,
    NewVersion,
    ResidentClass,
    Segment,
    TenantCode,
    Version,
    tenant_code,
)
from renkei.masterdata.ports import MasterDataStore
from renkei.registry.identifiers import MemberClass, MemberId
from renkei.spec.export.openapi import response_schema
from renkei.spec.models import Spec
from renkei.storage.ports import Clock

EVENT_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
"""An event id: 1–128 visible ASCII characters (the outbox's ids are UUIDs)."""
IGNORED_ITEMS = ("person_fugo",)
"""Dropped from an event's items: the master is keyed by 宛名番号; a 符号 is never stored here."""
ACTIVE_RESIDENT = frozenset({"1", "2"})
"""住民状態 of a household member: 住民, 転出予定者 (a 転出 takes effect on its 異動日)."""
ACTIVE_NON_RESIDENT = frozenset({"1"})
"""住登外状態 of a person still dealt with: 登録中."""
NON_RESIDENT_DEATH = "04"


def timeline(assertions: Iterable[Assertion]) -> list[Segment]:
    """A person's valid-time line from their assertions: per 異動日 the winning assertion
    (:attr:`Assertion.order`), each lasting until the next 異動日 (the last one open-ended)."""
    best: dict[date, Assertion] = {}
    for assertion in assertions:
        held = best.get(assertion.valid_from)
        if held is None or assertion.order > held.order:
            best[assertion.valid_from] = assertion
    days = sorted(best)
    ends: list[date | None] = [*days[1:], None]
    return [Segment(day, end, best[day].event_id) for day, end in zip(days, ends, strict=True)]


def fingerprint(topic: str, event_type: str, occurred: datetime, items: Mapping[str, JsonValue]) -> str:
    """SHA-256 of the event's canonical JSON: what "the same event" means for idempotency.

    Base32 (a-z, 2-7), not hex: hex now and then holds twelve digits that pass the 個人番号 check digit,
    which a leak scan of the database cannot tell from a real number.
    """
    body = {"topic": topic, "event_type": event_type, "occurred": occurred.isoformat(), "items": dict(items)}
    canonical = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return opaque(hashlib.sha256(canonical.encode("utf-8")).digest())


def opaque(digest: bytes) -> str:
    """Bytes as lower-case base32 without padding: an identifier no 個人番号 scan mistakes for a number."""
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()


@dataclass(frozen=True, slots=True)
class _Topic:
    resident_class: ResidentClass
    events: frozenset[str]
    items: frozenset[str]
    validator: Draft202012Validator


class MasterData:
    """The integrated DB of every tenant on this deployment (one instance per deployment)."""

    def __init__(self, store: MasterDataStore, spec: Spec, clock: Clock) -> None:
        self._store = store
        self._spec = spec
        self._clock = clock
        self._topics: dict[str, _Topic] = {}
        for resident_class in ResidentClass:
            kind, service = spec.service(resident_class.topic)
            schema = response_schema(spec, kind, service)
            validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
            items = frozenset(service.response)
            self._topics[service.id] = _Topic(resident_class, frozenset(service.events), items, validator)

    @property
    def spec(self) -> Spec:
        return self._spec

    @property
    def topics(self) -> tuple[str, ...]:
        """The notification topics the master takes events of."""
        return tuple(self._topics)

    def today(self) -> date:
        """Today in Japan: the default ``valid_at``."""
        return self._clock.now().astimezone(JST).date()

    # --- writes -------------------------------------------------------------------------------------

    def apply(
        self,
        tenant: str,
        event_id: str,
        event_type: str,
        items: Mapping[str, Any],
        occurred: datetime,
        *,
        topic: str = RESIDENT_TOPIC,
        publisher: str | None = None,
    ) -> Applied:
        """Apply one 異動 event to ``tenant``'s master, idempotently by ``event_id``.

        ``items`` is the topic's record (``atena_number``, ``name``, ``name_kana``, ``birth_date``, ``sex``,
        ``address`` …, ``change_reason``, ``change_date`` (異動日), ``notification_date``); ``event_type``
        a code of the topic's events; ``occurred`` when the change happened (tz-aware). ``publisher``,
        when given, is the member system that published the event: it must belong to the tenant's
        organisation, else ``masterdata.tenant.mismatch``. Raises ``masterdata.event.*`` for anything
        the master cannot take; nothing is written then.
        """
        code = tenant_code(tenant)
        _check_publisher(code, publisher)
        if not isinstance(event_id, str) or not EVENT_ID.fullmatch(event_id):
            raise EventInvalid(
                "イベントIDが不正です (event id: 1-128 visible ASCII characters)", field="event_id"
            )
        spec_topic = self._topics.get(topic) if isinstance(topic, str) else None
        if spec_topic is None:
            raise EventInvalid(
                f"統合DBが受け付けない通知です (topic must be one of {', '.join(self._topics)})",
                field="topic",
            )
        if not isinstance(event_type, str) or event_type not in spec_topic.events:
            raise EventInvalid(
                f"異動事由が {topic} のイベントではありません (event_type is not an event of {topic})",
                field="event_type",
            )
        if not isinstance(occurred, datetime) or occurred.utcoffset() is None:
            raise EventInvalid(
                "発生日時はタイムゾーン付きで指定します (occurred must be tz-aware)", field="occurred"
            )
        record = self._record(spec_topic, topic, event_type, items)
        atena = str(record["atena_number"])
        valid_from = _valid_from(spec_topic.resident_class, event_type, record)
        household = record.get("household_number")
        occurred_utc = occurred.astimezone(UTC)
        digest = fingerprint(topic, event_type, occurred_utc, record)
        master = self._store.scoped(code)
        with master.writing(atena) as writer:
            known = writer.event(event_id)
            if known is not None:
                return _duplicate(known, atena, digest)
            assertions = writer.assertions()
            now = self._clock.now()
            last = max((a.recorded_at for a in assertions), default=None)
            # Recorded time never runs backwards for a person, even if the clock does.
            recorded_at = now if last is None or now >= last else last
            assertion = Assertion(
                tenant=code,
                event_id=event_id,
                topic=topic,
                event_type=event_type,
                atena_number=atena,
                valid_from=valid_from,
                occurred=occurred_utc,
                recorded_at=recorded_at,
                position=len(assertions),
                resident_class=spec_topic.resident_class,
                household_number=None if household is None else str(household),
                active=_active(spec_topic.resident_class, record),
                publisher=publisher,
                fingerprint=digest,
                items=record,
            )
            if not writer.add_assertion(assertion):
                raced = writer.event(event_id)
                if raced is None:  # pragma: no cover - the id was taken, so it is there
                    raise EventConflict(
                        "イベントIDが競合しました (event id taken concurrently)", event_id=event_id
                    )
                return _duplicate(raced, atena, digest)
            wanted = timeline([*assertions, assertion])
            current = writer.current()
            held = {v.segment for v in current}
            keep = set(wanted)
            closing = [v.seq for v in current if v.segment not in keep]
            first = writer.next_seq()
            adding = [NewVersion(first + i, s) for i, s in enumerate(s for s in wanted if s not in held)]
            writer.supersede(closing, recorded_at, event_id)
            writer.add_versions(adding, recorded_at)
        return Applied(code, event_id, atena, False, recorded_at, len(adding), len(closing))

    def _record(
        self, topic: _Topic, topic_id: str, event_type: str, items: Mapping[str, Any]
    ) -> dict[str, JsonValue]:
        if not isinstance(items, Mapping):
            raise EventInvalid("項目はオブジェクトで渡します (items must be a mapping)", field="items")
        record = {k: v for k, v in items.items() if k not in IGNORED_ITEMS}
        for key, value in record.items():
            if not isinstance(key, str):
                raise EventInvalid("項目名は文字列です (item names are text)", field="items")
            _check_value(key, value)
        errors = sorted(topic.validator.iter_errors(record), key=lambda e: [str(p) for p in e.absolute_path])
        if errors:
            # The validator's own messages quote the instance: only the place and the rule are reported.
            error = errors[0]
            place = ".".join(str(p) for p in error.absolute_path) or "items"
            unknown = sorted(set(record) - topic.items)
            if error.validator == "additionalProperties" and unknown:
                place = unknown[0]
            raise EventInvalid(
                f"{topic_id} の項目 {place} が仕様に合いません (item {place} breaks the rule "
                f"'{error.validator}' of the spec)",
                field=place,
                rule=str(error.validator),
                problems=len(errors),
            )
        try:
            record["atena_number"] = validate_atena_number(str(record["atena_number"]))
        except RenkeiError:
            raise EventInvalid(
                "宛名番号の検査用数字が一致しません (atena_number fails its check digit)",
                field="atena_number",
            ) from None
        if "household_number" in record:
            try:
                record["household_number"] = validate_household_number(str(record["household_number"]))
            except RenkeiError:
                raise EventInvalid(
                    "世帯番号の検査用数字が一致しません (household_number fails its check digit)",
                    field="household_number",
                ) from None
        reason = record.get("change_reason")
        if reason is not None and reason != event_type:
            raise EventInvalid(
                "異動事由 (change_reason) がイベント種別と異なります (change_reason differs from event_type)",
                field="change_reason",
            )
        return record

    # --- reads --------------------------------------------------------------------------------------

    def person(
        self,
        tenant: str,
        atena_number: str,
        *,
        valid_at: date | None = None,
        known_at: datetime | None = None,
    ) -> Version | None:
        """The person's version valid on ``valid_at`` (default: today in Japan) as known at ``known_at``
        (default: now), or ``None``."""
        code = tenant_code(tenant)
        atena = _atena(atena_number)
        day, at = self._times(valid_at, known_at)
        return self._store.scoped(code).version_at(atena, day, at)

    def history(self, tenant: str, atena_number: str) -> list[Version]:
        """Every version of the person ever recorded, superseded ones included, in valid then recorded
        order: the full bitemporal picture."""
        code = tenant_code(tenant)
        return self._store.scoped(code).versions(_atena(atena_number))

    def household(
        self,
        tenant: str,
        household_number: str,
        *,
        valid_at: date | None = None,
        known_at: datetime | None = None,
    ) -> list[Version]:
        """The members of the 世帯 on ``valid_at`` as known at ``known_at``: persons whose record then names
        the 世帯番号 and who are 住民 or 転出予定者 on that day, by 宛名番号."""
        code = tenant_code(tenant)
        try:
            number = validate_household_number(household_number)
        except RenkeiError:
            raise QueryInvalid(
                "世帯番号は15桁で検査用数字が一致するものです (household_number: 15 digits, check digit)",
                field="household_number",
            ) from None
        day, at = self._times(valid_at, known_at)
        return self._store.scoped(code).household_at(number, day, at)

    def event(self, tenant: str, event_id: str) -> Assertion | None:
        """The assertion an event became, if it was applied to the tenant."""
        return self._store.scoped(tenant_code(tenant)).event(event_id)

    def _times(self, valid_at: date | None, known_at: datetime | None) -> tuple[date, datetime]:
        if valid_at is not None and (not isinstance(valid_at, date) or isinstance(valid_at, datetime)):
            raise QueryInvalid("valid_at は日付です (valid_at is a date)", field="valid_at")
        if known_at is not None and (not isinstance(known_at, datetime) or known_at.utcoffset() is None):
            raise QueryInvalid(
                "known_at はタイムゾーン付き日時です (known_at must be tz-aware)", field="known_at"
            )
        day = self.today() if valid_at is None else valid_at
        at = self._clock.now() if known_at is None else known_at.astimezone(UTC)
        return day, at


def _check_publisher(tenant: TenantCode, publisher: str | None) -> None:
    if publisher is None:
        return
    try:
        member = MemberId.parse(publisher) if isinstance(publisher, str) else None
    except RenkeiError:
        member = None
    if member is None:
        raise EventInvalid(
            "発行者が業務ユニットIDではありません (publisher is not a member id)", field="publisher"
        )
    org = member.organisation
    if org.member_class is not MemberClass.LG or org.code != tenant:
        raise TenantMismatch(
            f"{org} の異動はテナント {tenant} の統合DBに書き込めません "
            f"(an event published by {org} cannot be written to the master of tenant {tenant})",
            tenant=tenant,
            publisher=str(member),
        )


def _check_value(key: str, value: object) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise EventInvalid(f"項目 {key} に NUL 文字があります (item {key} contains NUL)", field=key)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise EventInvalid(
                f"項目 {key} に不正な文字があります (item {key} contains a lone surrogate)", field=key
            ) from None
        if contains_individual_number(value):
            raise IndividualNumberRefused(
                f"項目 {key} に個人番号が含まれています (item {key} holds an Individual Number; "
                "the master never stores one)",
                field=key,
            )


def _valid_from(resident_class: ResidentClass, event_type: str, record: Mapping[str, JsonValue]) -> date:
    names: tuple[str, ...]
    if resident_class is ResidentClass.RESIDENT:
        names = ("change_date",)
    elif event_type == NON_RESIDENT_DEATH:
        names = ("death_date", "updated_date", "registration_date")
    else:
        names = ("updated_date", "registration_date")
    for name in names:
        if name in record:
            return date.fromisoformat(str(record[name]))
    raise EventInvalid(
        f"異動日がありません: {names[0]} が必要です (valid time needs {names[0]})",
        field=names[0],
    )


def _active(resident_class: ResidentClass, record: Mapping[str, JsonValue]) -> bool:
    if resident_class is ResidentClass.RESIDENT:
        return record.get("resident_status") in ACTIVE_RESIDENT
    return record.get("non_resident_status") in ACTIVE_NON_RESIDENT


def _duplicate(known: Assertion, atena: str, digest: str) -> Applied:
    if known.fingerprint != digest or known.atena_number != atena:
        raise EventConflict(
            "このイベントIDは別の内容で適用済みです (the event id was applied with other content)",
            event_id=known.event_id,
        )
    return Applied(known.tenant, known.event_id, known.atena_number, True, known.recorded_at, 0, 0)


def _atena(text: str) -> str:
    try:
        return validate_atena_number(text)
    except RenkeiError:
        raise QueryInvalid(
            "宛名番号は15桁で検査用数字が一致するものです (atena_number: 15 digits, check digit)",
            field="atena_number",
        ) from None
