"""Access records (情報提供等記録) and the values the log hands back: receipts, tree heads, proofs.

Every value is frozen. An :class:`AccessRecord` validates itself on construction, so that nothing the
log cannot store identically on every backend (or that it must never hold, such as a 個人番号) gets in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypeVar

from renkei.audit.errors import RecordInvalid

TEXT_MAX = 256
ITEMS_MAX = 512
_PERSONAL_NUMBER = re.compile(r"\d{12}")
_E = TypeVar("_E", bound=StrEnum)


class Side(StrEnum):
    """Which end of an exchange wrote the record: both ends keep one (記録は照会側・提供側の双方に残す)."""

    REQUESTER = "requester"  # 照会者側
    PROVIDER = "provider"  # 提供者側


class Outcome(StrEnum):
    """How the exchange ended."""

    PROVIDED = "provided"  # 提供した
    DENIED = "denied"  # 提供を拒否 (not allowed)
    ERROR = "error"  # 障害で提供できなかった


def _text(name: str, value: object, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise RecordInvalid(f"{name} must be text, not {type(value).__name__}", field=name)
    if not value and not allow_empty:
        raise RecordInvalid(f"{name} must not be empty", field=name)
    if len(value) > TEXT_MAX:
        raise RecordInvalid(f"{name} has {len(value)} characters; at most {TEXT_MAX}", field=name)
    if "\x00" in value:
        raise RecordInvalid(f"{name} contains NUL", field=name)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RecordInvalid(f"{name} contains a lone surrogate", field=name) from None
    return value


def _instant(name: str, value: object) -> datetime:
    if not isinstance(value, datetime):
        raise RecordInvalid(f"{name} must be a datetime, not {type(value).__name__}", field=name)
    if value.tzinfo is None or value.utcoffset() is None:
        raise RecordInvalid(f"{name} must be timezone-aware, got naive {value.isoformat()}", field=name)
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Party:
    """An organisation (機関) and its member system (業務ユニット instance), e.g. ``JP/LG/131016`` and
    ``JP/LG/131016/u17``."""

    organisation: str
    member: str

    def __post_init__(self) -> None:
        _text("organisation", self.organisation)
        _text("member", self.member)


@dataclass(frozen=True, slots=True)
class InformationItem:
    """One 特定個人情報の項目 as the spec names it (item id and its name)."""

    id: str
    name: str

    def __post_init__(self) -> None:
        _text("item id", self.id)
        _text("item name", self.name, allow_empty=True)


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """One 情報提供等の記録 (番号法 第23条) as one end of an exchange keeps it.

    ``subject`` is the person as this deployment's opaque per-base person index key (so the portal can
    list a person's records); it is never a 個人番号, and twelve digits are refused outright. Times are
    tz-aware and kept in UTC. ``provided_at`` is ``None`` when nothing was provided.
    """

    record_id: str  # 記録番号: chosen by the writer (a UUID), the key of idempotent appends
    side: Side  # 照会側 / 提供側
    requester: Party  # 照会者 (機関 + 業務ユニット)
    provider: Party  # 提供者 (機関 + 業務ユニット)
    requested_at: datetime  # 照会日時
    provided_at: datetime | None  # 提供日時
    information: str  # 特定個人情報の名称 (information kind id of the spec)
    items: tuple[InformationItem, ...]  # 特定個人情報の項目
    purpose: str  # 事務 (the legal basis the query was made under)
    withheld: bool  # 不開示: not shown to the person (e.g. 犯罪捜査)
    subject: str  # 本人: per-base person index key, never a 個人番号
    message_id: str  # exchange message id
    request_hash: str  # hash of the request the response is bound to
    outcome: Outcome  # provided / denied / error

    def __post_init__(self) -> None:
        _text("record_id", self.record_id)
        object.__setattr__(self, "side", _enum(Side, "side", self.side))
        object.__setattr__(self, "outcome", _enum(Outcome, "outcome", self.outcome))
        if not isinstance(self.requester, Party) or not isinstance(self.provider, Party):
            raise RecordInvalid("requester and provider must be parties", field="requester")
        object.__setattr__(self, "requested_at", _instant("requested_at", self.requested_at))
        if self.provided_at is not None:
            object.__setattr__(self, "provided_at", _instant("provided_at", self.provided_at))
        _text("information", self.information)
        items = tuple(self.items)
        if len(items) > ITEMS_MAX or not all(isinstance(i, InformationItem) for i in items):
            raise RecordInvalid(f"items must be at most {ITEMS_MAX} information items", field="items")
        object.__setattr__(self, "items", items)
        _text("purpose", self.purpose)
        if not isinstance(self.withheld, bool):
            raise RecordInvalid("withheld must be a bool", field="withheld")
        _text("subject", self.subject)
        if _PERSONAL_NUMBER.fullmatch(self.subject):
            # A 個人番号 must never reach the log: only 符号 or internal keys travel between organisations.
            raise RecordInvalid("subject must be a person index key, never a 個人番号", field="subject")
        _text("message_id", self.message_id)
        _text("request_hash", self.request_hash)


def _enum(kind: type[_E], name: str, value: object) -> _E:
    if type(value) is kind:  # the usual case: already a member
        return value
    allowed = ", ".join(m.value for m in kind)
    if not isinstance(value, str):
        raise RecordInvalid(f"{name} must be one of {allowed}, not {value!r}", field=name)
    try:
        return kind(value)
    except ValueError:
        raise RecordInvalid(f"{name} must be one of {allowed}, not {value!r}", field=name) from None


@dataclass(frozen=True, slots=True)
class RecordReceipt:
    """What an append returns: where the record sits in the log (its leaf index) and its leaf hash."""

    record_id: str
    index: int
    leaf_hash: bytes
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class LoggedRecord:
    """A record as the log holds it. ``record`` is ``None`` once retention dropped its body."""

    index: int
    record_id: str
    leaf_hash: bytes
    recorded_at: datetime
    record: AccessRecord | None


@dataclass(frozen=True, slots=True)
class SignedTreeHead:
    """A signed tree head (STH): the log's size and root at ``timestamp_ms``, signed with Ed25519.

    The signed bytes are :func:`renkei.audit.heads.head_message` (layout in ``docs/audit.md``).
    """

    tree_size: int
    timestamp_ms: int
    root_hash: bytes
    key_id: bytes
    signature: bytes

    @property
    def timestamp(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """RFC 9162 §2.1.3 inclusion proof of ``leaf_hash`` at ``leaf_index`` in the tree of ``head``."""

    record_id: str
    leaf_index: int
    leaf_hash: bytes
    path: tuple[bytes, ...]
    head: SignedTreeHead
    public_key: bytes


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """RFC 9162 §2.1.4 consistency proof between two published heads (``first`` before ``second``)."""

    first: SignedTreeHead
    second: SignedTreeHead
    path: tuple[bytes, ...]
    public_key: bytes


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing :func:`renkei.audit.auditor.verify_log` found wrong.

    ``index`` is the first record index the finding implicates (for a head whose root the records do not
    reproduce, the first index that the previous good head does not vouch for); ``head_size`` names the
    tree head concerned, if any.
    """

    message: str
    index: int | None = None
    head_size: int | None = None


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of recomputing the whole log against every published head."""

    records: int
    heads: int
    findings: tuple[Finding, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first_bad_index(self) -> int | None:
        """The lowest record index any finding implicates (``None`` when none does)."""
        indices = [f.index for f in self.findings if f.index is not None]
        return min(indices) if indices else None
