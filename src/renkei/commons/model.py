"""The Commons' internal model of an alert: OASIS CAP 1.2 shaped, with the Commons EDXL-DE 1.0 envelope.

One model serves every edge. :class:`Alert` holds exactly what a CAP 1.2 ``<alert>`` holds (so CAP XML →
model → CAP XML is lossless); :class:`Distribution` is the EDXL-DE 1.0 envelope the 公共情報コモンズ (L-Alert)
puts around it, carrying in each :class:`ContentObject` either a CAP :class:`Alert` or a
:class:`CommonsReport` (the Commons' own typed content), together with the Commons document identity
(``documentID``, ``documentRevision``, ``previousDocumentRevision``).

Type-specific content (避難情報, 避難所, 災害対策本部, 被害情報, 土砂災害警戒情報, お知らせ/イベント) is
carried in CAP ``eventCode`` and ``parameter`` entries with the documented names below;
:func:`content_of` reads it from an :class:`Info` and :func:`with_content` writes it, so the typed view
never drifts from the CAP form.

Conventions:

* every ``datetime`` is timezone-aware and whole seconds (CAP's dateTime has no fractions);
* sequences are tuples, every class frozen: a model value never changes after it was built;
* CAP enumerations are ``StrEnum`` whose value is the CAP spelling (``Status.EXERCISE == "Exercise"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Final, TypeAlias

from renkei.commons.errors import ContentMalformed, InvalidModel

CAP_NAMESPACE: Final = "urn:oasis:names:tc:emergency:cap:1.2"
EDXL_NAMESPACE: Final = "urn:oasis:names:tc:emergency:EDXL:DE:1.0"
#: Namespace of the Commons extensions in EDXL (document identity) and of the Commons report content.
COMMONS_NAMESPACE: Final = "urn:renkei:commons:1.0"

#: ``geocode`` / EDXL ``valueListUrn`` name for a 6-digit 全国地方公共団体コード (with check digit).
GEOCODE_LOCAL_GOVERNMENT: Final = "地方公共団体コード"
#: Alternative geocode names accepted as the same code (documented in docs/commons.md).
GEOCODE_LOCAL_GOVERNMENT_ALIASES: Final = frozenset(
    {GEOCODE_LOCAL_GOVERNMENT, "全国地方公共団体コード", "LGCode", "JIS X 0402"}
)
#: ``eventCode`` name carrying the Commons message kind (:class:`MessageKind` value).
EVENT_CODE_KIND: Final = "公共情報コモンズ:情報種別"
#: ``parameter`` name marking a correction of an erroneous report (誤報): value 訂正 or 取消.
PARAMETER_CORRECTION: Final = "公共情報コモンズ:誤報"


class ModelEnum(StrEnum):
    """A CAP / EDXL enumeration; :meth:`parse` gives a typed error instead of ``ValueError``."""

    @classmethod
    def parse(cls, text: str) -> ModelEnum:
        try:
            return cls(text)
        except ValueError:
            allowed = ", ".join(m.value for m in cls)
            raise InvalidModel(
                f"{cls.__name__}: {text!r} is not one of {allowed}", field=cls.__name__, value=text
            ) from None


class Status(ModelEnum):
    """CAP ``status``. Only ``Actual`` is real; 訓練 (Exercise) and テスト (Test/System) never are."""

    ACTUAL = "Actual"
    EXERCISE = "Exercise"
    SYSTEM = "System"
    TEST = "Test"
    DRAFT = "Draft"


class MsgType(ModelEnum):
    """CAP ``msgType``."""

    ALERT = "Alert"
    UPDATE = "Update"
    CANCEL = "Cancel"
    ACK = "Ack"
    ERROR = "Error"


class Scope(ModelEnum):
    """CAP ``scope``."""

    PUBLIC = "Public"
    RESTRICTED = "Restricted"
    PRIVATE = "Private"


class Category(ModelEnum):
    """CAP ``category``."""

    GEO = "Geo"
    MET = "Met"
    SAFETY = "Safety"
    SECURITY = "Security"
    RESCUE = "Rescue"
    FIRE = "Fire"
    HEALTH = "Health"
    ENV = "Env"
    TRANSPORT = "Transport"
    INFRA = "Infra"
    CBRNE = "CBRNE"
    OTHER = "Other"


class ResponseType(ModelEnum):
    """CAP ``responseType``."""

    SHELTER = "Shelter"
    EVACUATE = "Evacuate"
    PREPARE = "Prepare"
    EXECUTE = "Execute"
    AVOID = "Avoid"
    MONITOR = "Monitor"
    ASSESS = "Assess"
    ALL_CLEAR = "AllClear"
    NONE = "None"


class Urgency(ModelEnum):
    """CAP ``urgency``."""

    IMMEDIATE = "Immediate"
    EXPECTED = "Expected"
    FUTURE = "Future"
    PAST = "Past"
    UNKNOWN = "Unknown"


class Severity(ModelEnum):
    """CAP ``severity``."""

    EXTREME = "Extreme"
    SEVERE = "Severe"
    MODERATE = "Moderate"
    MINOR = "Minor"
    UNKNOWN = "Unknown"


class Certainty(ModelEnum):
    """CAP ``certainty``."""

    OBSERVED = "Observed"
    LIKELY = "Likely"
    POSSIBLE = "Possible"
    UNLIKELY = "Unlikely"
    UNKNOWN = "Unknown"


class DistributionStatus(ModelEnum):
    """EDXL-DE ``distributionStatus``."""

    ACTUAL = "Actual"
    EXERCISE = "Exercise"
    SYSTEM = "System"
    TEST = "Test"


class DistributionType(ModelEnum):
    """EDXL-DE ``distributionType`` values the Commons uses (Report = 新規, Update = 更新, Cancel = 取消)."""

    REPORT = "Report"
    UPDATE = "Update"
    CANCEL = "Cancel"


class MessageKind(ModelEnum):
    """Commons message kinds (情報種別); the value is the Japanese name carried in ``eventCode``."""

    EVACUATION = "避難情報"
    SHELTER = "避難所情報"
    DISASTER_HQ = "災害対策本部設置状況"
    DAMAGE = "被害情報"
    LANDSLIDE_ALERT = "土砂災害警戒情報"
    NOTICE = "お知らせ"
    EVENT = "イベント"


class EvacuationLevel(ModelEnum):
    """避難情報 levels in force since 2021-05-20 (災害対策基本法改正), with the 警戒レベル they belong to."""

    ELDERLY_EVACUATION = "高齢者等避難"  # 警戒レベル3
    EVACUATION_ORDER = "避難指示"  # 警戒レベル4
    EMERGENCY_SAFETY = "緊急安全確保"  # 警戒レベル5

    @property
    def alert_level(self) -> int:
        """The 警戒レベル (3, 4 or 5)."""
        return {"高齢者等避難": 3, "避難指示": 4, "緊急安全確保": 5}[self.value]


#: Names from before 2021 (and the seed) mapped onto today's levels. 避難勧告 was abolished in 2021 and its
#: areas now receive 避難指示; 避難準備 became 高齢者等避難.
LEGACY_EVACUATION_NAMES: Final[dict[str, EvacuationLevel]] = {
    "避難準備": EvacuationLevel.ELDERLY_EVACUATION,
    "避難準備情報": EvacuationLevel.ELDERLY_EVACUATION,
    "避難準備・高齢者等避難開始": EvacuationLevel.ELDERLY_EVACUATION,
    "高齢者等避難": EvacuationLevel.ELDERLY_EVACUATION,
    "避難勧告": EvacuationLevel.EVACUATION_ORDER,
    "避難指示": EvacuationLevel.EVACUATION_ORDER,
    "避難指示（緊急）": EvacuationLevel.EVACUATION_ORDER,
    "避難指示(緊急)": EvacuationLevel.EVACUATION_ORDER,
    "緊急安全確保": EvacuationLevel.EMERGENCY_SAFETY,
}


def evacuation_level(name: str) -> EvacuationLevel:
    """Map a current or legacy 避難情報 name (避難準備, 避難勧告 …) onto today's :class:`EvacuationLevel`."""
    try:
        return LEGACY_EVACUATION_NAMES[name.strip()]
    except KeyError:
        raise ContentMalformed(f"unknown 避難情報 level {name!r}", value=name) from None


class IssueAction(ModelEnum):
    """Whether a 避難情報 / 本部 / 避難所 entry is issued, lifted or merely reported (発令 / 解除)."""

    ISSUED = "発令"
    LIFTED = "解除"


class Correction(ModelEnum):
    """誤報 marker: an Update marked 訂正 or a Cancel marked 取消 (:data:`PARAMETER_CORRECTION`)."""

    CORRECTED = "訂正"
    WITHDRAWN = "取消"


# --- CAP 1.2 ---------------------------------------------------------------------------------------------


def _require_aware(value: datetime | None, what: str) -> None:
    if value is None:
        return
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidModel(f"{what} must carry a UTC offset", field=what)
    if value.microsecond:
        raise InvalidModel(f"{what} must be whole seconds (CAP dateTime has no fractions)", field=what)


@dataclass(frozen=True, slots=True)
class NamedValue:
    """A CAP ``valueName``/``value`` pair: used for ``eventCode``, ``parameter`` and ``geocode``."""

    value_name: str
    value: str


@dataclass(frozen=True, slots=True)
class Reference:
    """One entry of CAP ``references``: ``sender,identifier,sent``."""

    sender: str
    identifier: str
    sent: datetime

    def __post_init__(self) -> None:
        _require_aware(self.sent, "references.sent")


@dataclass(frozen=True, slots=True)
class Point:
    """A WGS 84 point (latitude, longitude in decimal degrees)."""

    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class Polygon:
    """A CAP ``polygon``: closed ring of ≥ 4 points (first == last); validity is checked by the validator."""

    points: tuple[Point, ...]


@dataclass(frozen=True, slots=True)
class Circle:
    """A CAP ``circle``: centre and radius in kilometres."""

    center: Point
    radius_km: float


@dataclass(frozen=True, slots=True)
class Area:
    """A CAP ``area``. ``altitude``/``ceiling`` are in feet above mean sea level, as CAP says."""

    area_desc: str
    polygons: tuple[Polygon, ...] = ()
    circles: tuple[Circle, ...] = ()
    geocodes: tuple[NamedValue, ...] = ()
    altitude: float | None = None
    ceiling: float | None = None

    def local_government_codes(self) -> tuple[str, ...]:
        """The 地方公共団体コード among the geocodes (any documented alias name)."""
        return tuple(g.value for g in self.geocodes if g.value_name in GEOCODE_LOCAL_GOVERNMENT_ALIASES)


@dataclass(frozen=True, slots=True)
class Resource:
    """A CAP ``resource``: a file related to the info (map image, PDF …)."""

    resource_desc: str
    mime_type: str
    size: int | None = None
    uri: str | None = None
    deref_uri: str | None = None
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class Info:
    """A CAP ``info`` block: one language's description of the event, its urgency and its areas."""

    categories: tuple[Category, ...]
    event: str
    urgency: Urgency
    severity: Severity
    certainty: Certainty
    language: str = "ja-JP"
    response_types: tuple[ResponseType, ...] = ()
    audience: str | None = None
    event_codes: tuple[NamedValue, ...] = ()
    effective: datetime | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    sender_name: str | None = None
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    web: str | None = None
    contact: str | None = None
    parameters: tuple[NamedValue, ...] = ()
    resources: tuple[Resource, ...] = ()
    areas: tuple[Area, ...] = ()

    def __post_init__(self) -> None:
        _require_aware(self.effective, "info.effective")
        _require_aware(self.onset, "info.onset")
        _require_aware(self.expires, "info.expires")

    def parameter(self, name: str) -> str | None:
        """The first parameter value named ``name``, or ``None``."""
        return next((p.value for p in self.parameters if p.value_name == name), None)

    def event_code(self, name: str) -> str | None:
        """The first eventCode value named ``name``, or ``None``."""
        return next((c.value for c in self.event_codes if c.value_name == name), None)

    @property
    def kind(self) -> MessageKind | None:
        """The Commons message kind from ``eventCode`` :data:`EVENT_CODE_KIND`, if present and known."""
        value = self.event_code(EVENT_CODE_KIND)
        if value is None:
            return None
        try:
            return MessageKind(value)
        except ValueError:
            return None


@dataclass(frozen=True, slots=True)
class Alert:
    """A CAP 1.2 ``alert``: the message identity, its handling and its info blocks."""

    identifier: str
    sender: str
    sent: datetime
    status: Status
    msg_type: MsgType
    scope: Scope
    source: str | None = None
    restriction: str | None = None
    addresses: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    note: str | None = None
    references: tuple[Reference, ...] = ()
    incidents: tuple[str, ...] = ()
    infos: tuple[Info, ...] = ()

    def __post_init__(self) -> None:
        _require_aware(self.sent, "alert.sent")

    @property
    def reference_key(self) -> Reference:
        """This alert as another alert's ``references`` entry names it."""
        return Reference(self.sender, self.identifier, self.sent)

    @property
    def correction(self) -> Correction | None:
        """The 誤報 marker (訂正/取消) from any info's :data:`PARAMETER_CORRECTION` parameter."""
        for info in self.infos:
            value = info.parameter(PARAMETER_CORRECTION)
            if value in {c.value for c in Correction}:
                return Correction(value)
        return None


# --- EDXL-DE 1.0 (as the Commons uses it) ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TargetArea:
    """EDXL-DE ``targetArea``: polygons/circles and 地方公共団体コード (``locCodeUN`` is not used)."""

    local_government_codes: tuple[str, ...] = ()
    polygons: tuple[Polygon, ...] = ()
    circles: tuple[Circle, ...] = ()
    countries: tuple[str, ...] = ()
    subdivisions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CommonsReport:
    """The Commons' own typed content (when a content object carries no CAP): a flat, documented form.

    ``items`` use the same names as the CAP parameters of the kind (see :func:`content_of`), so a
    report and a CAP info with the same kind carry the same content.
    """

    kind: MessageKind
    publisher_code: str
    publisher_name: str
    reported_at: datetime
    title: str
    text: str = ""
    area_names: tuple[str, ...] = ()
    items: tuple[NamedValue, ...] = ()

    def __post_init__(self) -> None:
        _require_aware(self.reported_at, "report.reportedAt")


@dataclass(frozen=True, slots=True)
class ContentObject:
    """EDXL-DE ``contentObject`` with the Commons document identity.

    ``document_revision`` counts from 1; an update carries ``previous_document_revision`` = the revision
    it replaces. ``payload`` is the CAP alert or the Commons report inside ``xmlContent/embeddedXMLContent``.
    """

    document_id: str
    document_revision: int
    payload: Alert | CommonsReport
    previous_document_revision: int | None = None
    content_description: str | None = None
    incident_id: str | None = None
    incident_description: str | None = None


@dataclass(frozen=True, slots=True)
class Distribution:
    """An EDXL-DE 1.0 ``EDXLDistribution`` as the 公共情報コモンズ uses it."""

    distribution_id: str
    sender_id: str
    sent: datetime
    status: DistributionStatus
    type: DistributionType
    contents: tuple[ContentObject, ...]
    combined_confidentiality: str = "UNCLASSIFIED AND NOT SENSITIVE"
    language: str | None = "ja-JP"
    sender_roles: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    target_areas: tuple[TargetArea, ...] = ()

    def __post_init__(self) -> None:
        _require_aware(self.sent, "EDXLDistribution.dateTimeSent")


# --- type-specific content -------------------------------------------------------------------------------
# Every content class lists its parameter names once (``_FIELDS``); the CAP parameter name is
# "<kind>:<field>", e.g. "避難情報:発令区分". Counts are decimal integers; absent values are omitted.


@dataclass(frozen=True, slots=True)
class EvacuationEntry:
    """One district's 避難情報: level, 発令/解除, the district and the people concerned."""

    level: EvacuationLevel
    action: IssueAction
    district: str
    households: int | None = None
    persons: int | None = None
    issued_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class EvacuationContent:
    """避難情報: one entry per district, plus the hazard that triggered it (土砂災害, 洪水 …)."""

    entries: tuple[EvacuationEntry, ...]
    hazard: str | None = None


@dataclass(frozen=True, slots=True)
class ShelterEntry:
    """One 避難所: name, open/closed, capacity and current head count (避難者数)."""

    name: str
    is_open: bool
    capacity: int | None = None
    head_count: int | None = None
    address: str | None = None


@dataclass(frozen=True, slots=True)
class ShelterContent:
    """避難所情報: the shelters of the publishing municipality."""

    shelters: tuple[ShelterEntry, ...]


@dataclass(frozen=True, slots=True)
class DisasterHQContent:
    """災害対策本部設置状況: which headquarters (災害対策本部, 警戒本部 …) was set up or dissolved."""

    headquarters: str
    action: IssueAction
    at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DamageContent:
    """被害情報: casualties (人的被害) and buildings (住家被害)."""

    dead: int = 0
    missing: int = 0
    seriously_injured: int = 0
    slightly_injured: int = 0
    destroyed: int = 0
    half_destroyed: int = 0
    partially_damaged: int = 0
    flooded_above_floor: int = 0
    flooded_below_floor: int = 0

    @property
    def injured(self) -> int:
        """All injured (重傷 + 軽傷)."""
        return self.seriously_injured + self.slightly_injured


@dataclass(frozen=True, slots=True)
class LandslideContent:
    """土砂災害警戒情報 (prefecture and JMA jointly): 発表/解除 and the municipalities concerned."""

    action: IssueAction
    municipalities: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NoticeContent:
    """お知らせ / イベント: free text; an event may carry a date and a venue."""

    is_event: bool = False
    starts: datetime | None = None
    venue: str | None = None


Content: TypeAlias = (
    EvacuationContent | ShelterContent | DisasterHQContent | DamageContent | LandslideContent | NoticeContent
)

_DAMAGE_FIELDS: Final[dict[str, str]] = {
    "dead": "死者",
    "missing": "行方不明者",
    "seriously_injured": "重傷者",
    "slightly_injured": "軽傷者",
    "destroyed": "全壊",
    "half_destroyed": "半壊",
    "partially_damaged": "一部破損",
    "flooded_above_floor": "床上浸水",
    "flooded_below_floor": "床下浸水",
}


def _p(kind: MessageKind, name: str, value: object, index: int | None = None) -> NamedValue:
    suffix = "" if index is None else f"[{index}]"
    if isinstance(value, datetime):
        text = format_cap_datetime(value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    return NamedValue(f"{kind.value}:{name}{suffix}", text)


def content_parameters(content: Content) -> tuple[MessageKind, tuple[NamedValue, ...]]:
    """Encode typed content as its kind and CAP parameters (names documented in docs/commons.md)."""
    out: list[NamedValue] = []
    if isinstance(content, EvacuationContent):
        kind = MessageKind.EVACUATION
        if content.hazard is not None:
            out.append(_p(kind, "災害種別", content.hazard))
        for i, e in enumerate(content.entries, start=1):
            out += [_p(kind, "発令区分", e.level.value, i), _p(kind, "発令状況", e.action.value, i)]
            out.append(_p(kind, "地区", e.district, i))
            if e.households is not None:
                out.append(_p(kind, "対象世帯数", e.households, i))
            if e.persons is not None:
                out.append(_p(kind, "対象人数", e.persons, i))
            if e.issued_at is not None:
                out.append(_p(kind, "発令日時", e.issued_at, i))
    elif isinstance(content, ShelterContent):
        kind = MessageKind.SHELTER
        for i, s in enumerate(content.shelters, start=1):
            out += [_p(kind, "避難所名", s.name, i), _p(kind, "開設状況", "開設" if s.is_open else "閉鎖", i)]
            if s.capacity is not None:
                out.append(_p(kind, "収容人数", s.capacity, i))
            if s.head_count is not None:
                out.append(_p(kind, "避難者数", s.head_count, i))
            if s.address is not None:
                out.append(_p(kind, "所在地", s.address, i))
    elif isinstance(content, DisasterHQContent):
        kind = MessageKind.DISASTER_HQ
        out += [_p(kind, "本部種別", content.headquarters), _p(kind, "設置状況", content.action.value)]
        if content.at is not None:
            out.append(_p(kind, "日時", content.at))
    elif isinstance(content, DamageContent):
        kind = MessageKind.DAMAGE
        out += [_p(kind, label, getattr(content, attr)) for attr, label in _DAMAGE_FIELDS.items()]
    elif isinstance(content, LandslideContent):
        kind = MessageKind.LANDSLIDE_ALERT
        out.append(_p(kind, "発表状況", content.action.value))
        out += [_p(kind, "対象市町村", m, i) for i, m in enumerate(content.municipalities, start=1)]
    else:
        kind = MessageKind.EVENT if content.is_event else MessageKind.NOTICE
        if content.starts is not None:
            out.append(_p(kind, "開始日時", content.starts))
        if content.venue is not None:
            out.append(_p(kind, "会場", content.venue))
    return kind, tuple(out)


def with_content(info: Info, content: Content) -> Info:
    """Return ``info`` with its kind eventCode and kind parameters replaced by ``content``'s."""
    kind, params = content_parameters(content)
    prefixes = tuple(f"{k.value}:" for k in MessageKind)
    kept_params = tuple(p for p in info.parameters if not p.value_name.startswith(prefixes))
    kept_codes = tuple(c for c in info.event_codes if c.value_name != EVENT_CODE_KIND)
    return replace(
        info,
        event_codes=(NamedValue(EVENT_CODE_KIND, kind.value), *kept_codes),
        parameters=(*params, *kept_params),
    )


@dataclass
class _Reader:
    kind: MessageKind
    values: dict[str, str] = field(default_factory=dict)

    def text(self, name: str, index: int | None = None) -> str | None:
        return self.values.get(name if index is None else f"{name}[{index}]")

    def required(self, name: str, index: int | None = None) -> str:
        value = self.text(name, index)
        if value is None:
            where = name if index is None else f"{name}[{index}]"
            raise ContentMalformed(f"{self.kind.value}: parameter {self.kind.value}:{where} is missing")
        return value

    def integer(self, name: str, index: int | None = None) -> int | None:
        value = self.text(name, index)
        if value is None:
            return None
        if not value.isascii() or not value.isdigit():
            raise ContentMalformed(f"{self.kind.value}:{name}: {value!r} is not a count", value=value)
        return int(value)

    def when(self, name: str, index: int | None = None) -> datetime | None:
        value = self.text(name, index)
        return None if value is None else parse_cap_datetime(value)

    def indices(self, name: str) -> list[int]:
        found: list[int] = []
        i = 1
        while f"{name}[{i}]" in self.values:
            found.append(i)
            i += 1
        return found


def _enum_or_malformed(enum: type[ModelEnum], text: str) -> ModelEnum:
    try:
        return enum.parse(text)
    except InvalidModel as error:
        raise ContentMalformed(error.message) from None


def content_from_items(kind: MessageKind, items: tuple[NamedValue, ...]) -> Content:
    """Decode typed content of ``kind`` from parameters/items named ``<kind>:<field>``."""
    prefix = f"{kind.value}:"
    reader = _Reader(kind)
    for item in items:
        if item.value_name.startswith(prefix):
            reader.values.setdefault(item.value_name[len(prefix) :], item.value)
    if kind is MessageKind.EVACUATION:
        entries = tuple(
            EvacuationEntry(
                level=evacuation_level(reader.required("発令区分", i)),
                action=IssueAction(_enum_or_malformed(IssueAction, reader.required("発令状況", i))),
                district=reader.required("地区", i),
                households=reader.integer("対象世帯数", i),
                persons=reader.integer("対象人数", i),
                issued_at=reader.when("発令日時", i),
            )
            for i in reader.indices("発令区分")
        )
        return EvacuationContent(entries, hazard=reader.text("災害種別"))
    if kind is MessageKind.SHELTER:
        shelters = []
        for i in reader.indices("避難所名"):
            state = reader.required("開設状況", i)
            if state not in {"開設", "閉鎖"}:
                raise ContentMalformed(f"避難所情報:開設状況[{i}] must be 開設 or 閉鎖, not {state!r}")
            shelters.append(
                ShelterEntry(
                    name=reader.required("避難所名", i),
                    is_open=state == "開設",
                    capacity=reader.integer("収容人数", i),
                    head_count=reader.integer("避難者数", i),
                    address=reader.text("所在地", i),
                )
            )
        return ShelterContent(tuple(shelters))
    if kind is MessageKind.DISASTER_HQ:
        return DisasterHQContent(
            headquarters=reader.required("本部種別"),
            action=IssueAction(_enum_or_malformed(IssueAction, reader.required("設置状況"))),
            at=reader.when("日時"),
        )
    if kind is MessageKind.DAMAGE:
        counts = {attr: reader.integer(label) or 0 for attr, label in _DAMAGE_FIELDS.items()}
        return DamageContent(**counts)
    if kind is MessageKind.LANDSLIDE_ALERT:
        return LandslideContent(
            action=IssueAction(_enum_or_malformed(IssueAction, reader.required("発表状況"))),
            municipalities=tuple(reader.required("対象市町村", i) for i in reader.indices("対象市町村")),
        )
    return NoticeContent(
        is_event=kind is MessageKind.EVENT, starts=reader.when("開始日時"), venue=reader.text("会場")
    )


def content_of(info: Info) -> Content | None:
    """The typed Commons content of ``info`` (``None`` when it carries no known kind eventCode)."""
    kind = info.kind
    return None if kind is None else content_from_items(kind, info.parameters)


# --- CAP dateTime ---------------------------------------------------------------------------------------


def format_cap_datetime(value: datetime) -> str:
    """Write a CAP 1.2 dateTime: ``2024-07-01T09:30:00+09:00``; UTC is written ``-00:00`` (never ``Z``)."""
    _require_aware(value, "dateTime")
    text = value.isoformat(timespec="seconds")
    return text[:-6] + "-00:00" if text.endswith("+00:00") else text


def parse_cap_datetime(text: str) -> datetime:
    """Read a CAP 1.2 dateTime (explicit numeric offset, whole seconds); raise :class:`InvalidModel`."""
    stripped = text.strip()
    if (
        len(stripped) != 25
        or stripped[10] != "T"
        or stripped[19] not in "+-"
        or not stripped.isascii()
        or stripped.endswith("Z")
    ):
        raise InvalidModel(f"{text!r} is not a CAP dateTime (YYYY-MM-DDThh:mm:ss±hh:mm)", value=text)
    try:
        return datetime.fromisoformat(stripped)
    except ValueError:
        raise InvalidModel(f"{text!r} is not a valid date and time", value=text) from None
