"""The standard as typed data: business units, information kinds, data items, code dictionaries,
linkage flows and services.

These models are the meta-schema of the spec data files: ``renkei spec export`` writes their JSON Schema
as ``spec-metaschema.json`` so vendors can validate their own extensions, and the loader validates every
file against them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from enum import StrEnum
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from renkei.types import CodeDictionaryId, InformationId, ItemId, ServiceId, UnitNumber

_ID = r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class UnitStatus(StrEnum):
    ACTIVE = "active"
    SUPERSEDED = "superseded"


class Unit(_Frozen):
    """業務ユニット: one business system a municipality runs."""

    number: UnitNumber = Field(ge=1, le=99)
    name: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    status: UnitStatus = UnitStatus.ACTIVE
    superseded_by: UnitNumber | None = None
    note: str | None = None
    standard_2021: tuple[str, ...] = ()
    """The 2021 standardisation law's 業務 that map onto this unit (地方公共団体情報システムの標準化)."""


class Code(_Frozen):
    code: str = Field(min_length=1, max_length=10)
    name: str = Field(min_length=1)
    name_en: str | None = None


class CodeDictionary(_Frozen):
    """コード辞書: the allowed values of a coded data item."""

    id: CodeDictionaryId = Field(pattern=_ID)
    name: str
    name_en: str
    description: str | None = None
    source: str | None = None
    """The public code system the dictionary follows (JIS X 0401, ISO 3166-1 numeric …)."""
    open: bool = False
    """An open list: ``codes`` is a representative subset of an external code system, so a value outside
    it is not an error (国籍・地域, 在留資格 …)."""
    codes: tuple[Code, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_codes(self) -> CodeDictionary:
        seen = [c.code for c in self.codes]
        dup = {c for c in seen if seen.count(c) > 1}
        if dup:
            raise ValueError(f"duplicate codes {sorted(dup)}")
        return self

    def label(self, code: str) -> str | None:
        return next((c.name for c in self.codes if c.code == code), None)


class ItemType(StrEnum):
    STRING = "string"
    """Free text, any width (氏名, 住所 …)."""
    KANA = "kana"
    """Full-width katakana with spaces and ー (フリガナ)."""
    DIGITS = "digits"
    """A string of ASCII digits of exactly ``length`` (宛名番号, 郵便番号 …)."""
    INTEGER = "integer"
    AMOUNT = "amount"
    """Yen, an integer."""
    DECIMAL = "decimal"
    DATE = "date"
    DATETIME = "datetime"
    YEAR = "year"
    """A fiscal or calendar year in 西暦 (年度)."""
    BOOLEAN = "boolean"
    CODE = "code"
    """A value of the code dictionary named by ``code``."""


class DataItem(_Frozen):
    """データ項目: one field of an information kind."""

    id: ItemId = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    type: ItemType
    length: int | None = Field(default=None, ge=1, le=4000)
    code: CodeDictionaryId | None = None
    personal: bool
    """個人情報: identifies or describes a natural person."""
    specific_personal: bool = False
    """特定個人情報: 個人番号, or personal information held together with it (番号法 第2条第8項)."""
    required: bool = False
    local_only: bool = False
    """Held only inside the owning unit: no service may carry it (個人番号, 住民票コード)."""
    description: str | None = None

    @model_validator(mode="after")
    def _type_rules(self) -> DataItem:
        if (self.type is ItemType.CODE) != (self.code is not None):
            raise ValueError("'code' names the dictionary exactly when type is 'code'")
        if self.type is ItemType.DIGITS and self.length is None:
            raise ValueError("a 'digits' item needs its 'length'")
        if self.specific_personal and not self.personal:
            raise ValueError("specific_personal implies personal")
        return self


class ServiceKind(StrEnum):
    QUERY = "query"
    """照会応答: a member system asks, the provider answers."""
    NOTIFICATION = "notification"
    """異動通知: the provider publishes changes, subscribers receive them."""


class Service(_Frozen):
    """A query service or change-notification topic through which one information kind travels."""

    id: ServiceId = Field(pattern=_ID)
    kind: ServiceKind
    name: str
    name_en: str
    request: tuple[ItemId, ...] = ()
    """Request items: ids of query parameters (``parameters.yaml``) or of the kind's own items."""
    optional: tuple[ItemId, ...] = ()
    """Request items a caller may leave out (基準日 defaults to today); every other one is required."""
    response: tuple[ItemId, ...] = Field(min_length=1)
    """Items returned (query) or carried by each event (notification)."""
    events: tuple[str, ...] = ()
    """For a notification topic: the event types it carries (codes of ``event_code``)."""
    event_code: CodeDictionaryId | None = None

    @model_validator(mode="after")
    def _kind_rules(self) -> Service:
        if self.kind is ServiceKind.QUERY and (self.events or self.event_code):
            raise ValueError("a query service has no events")
        if self.kind is ServiceKind.QUERY and not self.request:
            raise ValueError("a query service needs request items")
        if set(self.optional) - set(self.request):
            raise ValueError(
                f"optional items {sorted(set(self.optional) - set(self.request))} are not request items"
            )
        if self.kind is ServiceKind.NOTIFICATION and not (self.events and self.event_code):
            raise ValueError("a notification topic needs 'events' and their 'event_code' dictionary")
        return self

    @property
    def required_request(self) -> tuple[ItemId, ...]:
        """The request items a caller must send."""
        return tuple(r for r in self.request if r not in self.optional)


class InformationKind(_Frozen):
    """連携データ: a kind of information one unit sends another, with its items and services."""

    id: InformationId = Field(pattern=_ID)
    name: str = Field(min_length=1)
    name_en: str = Field(min_length=1)
    description: str | None = None
    key: tuple[ItemId, ...] = Field(min_length=1)
    """Items that identify one record (宛名番号, 年度 …)."""
    items: tuple[DataItem, ...] = Field(min_length=1)
    services: tuple[Service, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> InformationKind:
        ids = [i.id for i in self.items]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"duplicate item ids {sorted(dup)}")
        missing = [k for k in self.key if k not in ids]
        if missing:
            raise ValueError(f"key names unknown items {missing}")
        local = {i.id for i in self.items if i.local_only}
        for service in self.services:
            unknown = [r for r in service.response if r not in ids]
            if unknown:
                raise ValueError(f"service {service.id!r} responds with unknown items {unknown}")
            carried = sorted(local & (set(service.request) | set(service.response)))
            if carried:
                raise ValueError(f"service {service.id!r} carries local-only items {carried}")
        return self

    def item(self, item_id: str) -> DataItem:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)

    @property
    def personal(self) -> bool:
        return any(i.personal for i in self.items)


Provenance = Literal["seed", "seed-inferred"]

UnitSelector = int | str
"""A unit number, or a range ``"5-22"`` meaning every existing unit in it."""


class FlowRow(_Frozen):
    """One row of the linkage matrix as the data file states it (ranges not yet expanded)."""

    row: int = Field(ge=1)
    information: tuple[InformationId, ...] = Field(min_length=1)
    from_: tuple[UnitSelector, ...] = Field(alias="from", min_length=1)
    to: tuple[UnitSelector, ...] = Field(min_length=1)
    except_: tuple[UnitNumber, ...] = Field(default=(), alias="except")
    """Units removed from the expanded ``to`` (and ``from``) ranges."""
    provenance: Provenance
    labels: tuple[str, ...] = ()
    note: str | None = None


class Label(_Frozen):
    """A label (a)–(j) under the seed's diagram: information on arrows whose ends are not printed."""

    label: str = Field(pattern=r"^[a-j]$")
    text: str
    sender: UnitNumber
    information: tuple[InformationId, ...] = Field(min_length=1)


class FlowsFile(_Frozen):
    rows: tuple[FlowRow, ...]
    labels: tuple[Label, ...]


class Flow(_Frozen):
    """One expanded row: who sends which information to whom, and where the standard says so."""

    row: int
    information: tuple[InformationId, ...]
    senders: tuple[UnitNumber, ...]
    receivers: tuple[UnitNumber, ...]
    provenance: Provenance
    labels: tuple[str, ...]
    note: str | None


class Triple(_Frozen):
    """(information, from, to): the unit of authorisation."""

    information: InformationId
    sender: UnitNumber
    receiver: UnitNumber
    row: int
    provenance: Provenance


class ChangeLogEntry(_Frozen):
    version: str
    date: dt.date
    changes: tuple[str, ...] = Field(min_length=1)


class SpecHeader(_Frozen):
    name: str
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    source: str
    changelog: tuple[ChangeLogEntry, ...] = Field(min_length=1)


class Spec(_Frozen):
    """The whole standard, cross-checked: every reference resolves."""

    header: SpecHeader
    units: tuple[Unit, ...]
    codes: tuple[CodeDictionary, ...]
    parameters: tuple[DataItem, ...]
    information: tuple[InformationKind, ...]
    flows: tuple[Flow, ...]
    labels: tuple[Label, ...]

    @property
    def version(self) -> str:
        return self.header.version

    @cached_property
    def digest(self) -> str:
        """SHA-256 of the canonical JSON of the whole spec: a published version never changes."""
        return hashlib.sha256(self.model_dump_json().encode("utf-8")).hexdigest()

    @cached_property
    def _units(self) -> dict[int, Unit]:
        return {u.number: u for u in self.units}

    @cached_property
    def _kinds(self) -> dict[str, InformationKind]:
        return {k.id: k for k in self.information}

    @cached_property
    def _services(self) -> dict[str, tuple[InformationKind, Service]]:
        found: dict[str, tuple[InformationKind, Service]] = {}
        for kind, service in self.services():
            found.setdefault(service.id, (kind, service))
        return found

    @cached_property
    def _codes(self) -> dict[str, CodeDictionary]:
        return {c.id: c for c in self.codes}

    @cached_property
    def _triples(self) -> dict[tuple[str, int, int], Triple]:
        found: dict[tuple[str, int, int], Triple] = {}
        for t in self._all_triples():
            found.setdefault((t.information, t.sender, t.receiver), t)
        return found

    def _all_triples(self) -> Iterator[Triple]:
        for flow in self.flows:
            for info in flow.information:
                for s in flow.senders:
                    for r in flow.receivers:
                        yield Triple(
                            information=info, sender=s, receiver=r, row=flow.row, provenance=flow.provenance
                        )

    def unit(self, number: int) -> Unit:
        from renkei.spec.errors import UnknownUnit

        try:
            return self._units[number]
        except KeyError:
            raise UnknownUnit(
                f"業務ユニット {number} は標準仕様にありません (no such unit)", unit=number
            ) from None

    def kind(self, information: str) -> InformationKind:
        from renkei.spec.errors import UnknownInformation

        found = self._kinds.get(information) or next(
            (k for k in self.information if k.name == information), None
        )
        if found is None:
            raise UnknownInformation(
                f"連携データ {information!r} は標準仕様にありません (no such information kind)",
                information=information,
            )
        return found

    def dictionary(self, code_id: str) -> CodeDictionary:
        return self._codes[code_id]

    def parameter(self, item_id: str) -> DataItem:
        for p in self.parameters:
            if p.id == item_id:
                return p
        raise KeyError(item_id)

    def services(self) -> Iterator[tuple[InformationKind, Service]]:
        for kind in self.information:
            for service in kind.services:
                yield kind, service

    def service(self, service_id: str) -> tuple[InformationKind, Service]:
        from renkei.spec.errors import UnknownService

        found = self._services.get(service_id)
        if found is not None:
            return found
        raise UnknownService(
            f"サービス {service_id!r} は標準仕様にありません (no such service)", service=service_id
        )

    def request_item(self, kind: InformationKind, item_id: str) -> DataItem:
        """A request item resolves to a query parameter first, then to the kind's own item."""
        try:
            return self.parameter(item_id)
        except KeyError:
            return kind.item(item_id)

    def triples(self) -> tuple[Triple, ...]:
        """Every distinct (information, from, to) the matrix allows, first row that says so."""
        return tuple(self._triples.values())

    def rule(self, information: str, sender: int, receiver: int) -> Triple | None:
        """The matrix row allowing ``sender`` to send ``information`` to ``receiver``, or None."""
        return self._triples.get((self.kind(information).id, sender, receiver))
