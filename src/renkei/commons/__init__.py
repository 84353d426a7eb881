"""Public Information Commons (公共情報コモンズ / L-Alert): CAP 1.2 / EDXL-DE 1.0 model and tools.

Public API (stable; import from the module named, the package re-exports only the model):

``renkei.commons.model`` — frozen dataclasses, CAP-shaped
    :class:`Alert` (identifier, sender, sent, status, msg_type, scope, source, restriction, addresses,
    codes, note, references, incidents, infos), :class:`Info`, :class:`Area`, :class:`Resource`,
    :class:`NamedValue` (eventCode / parameter / geocode), :class:`Reference`, :class:`Point`,
    :class:`Polygon`, :class:`Circle`; enums :class:`Status`, :class:`MsgType`, :class:`Scope`,
    :class:`Category`, :class:`ResponseType`, :class:`Urgency`, :class:`Severity`, :class:`Certainty`.
    EDXL-DE: :class:`Distribution`, :class:`ContentObject` (document_id, document_revision,
    previous_document_revision, payload = Alert | CommonsReport), :class:`TargetArea`,
    :class:`DistributionStatus`, :class:`DistributionType`, :class:`CommonsReport`.
    Commons kinds: :class:`MessageKind` (避難情報, 避難所情報, 災害対策本部設置状況, 被害情報,
    土砂災害警戒情報, お知らせ, イベント), :class:`EvacuationLevel` + :func:`evacuation_level`
    (legacy 避難準備/避難勧告 mapping),
    typed content (:class:`EvacuationContent`, :class:`ShelterContent`, :class:`DisasterHQContent`,
    :class:`DamageContent`, :class:`LandslideContent`, :class:`NoticeContent`) with
    :func:`content_of(info)` / :func:`with_content(info, content)`;
    :class:`Correction` (誤報 訂正/取消).
``renkei.commons.xmlsafe``
    ``parse_untrusted(data, limits=XmlLimits()) -> lxml element``: refuses DOCTYPE/ENTITY,
    more than 5 MiB, deeper than 64.
``renkei.commons.cap``
    ``parse_cap(data: bytes) -> Alert``; ``to_cap_xml(alert) -> bytes`` (UTF-8, CAP 1.2 namespace).
``renkei.commons.edxl``
    ``parse_edxl(data: bytes) -> Distribution``; ``to_edxl_xml(distribution) -> bytes``;
    ``distribution_for(alert, document_id=..., document_revision=..., ...) -> Distribution``;
    ``alert_of(distribution, content) -> Alert`` (a Commons report seen as CAP).
``renkei.commons.validation``
    ``validate(data: bytes, profile=JapaneseProfile()) -> Report`` (CAP or EDXL, all findings, never
    raises); ``validate_alert(alert, profile=...) -> Report``; ``validate_element(lxml element)``;
    :class:`Report` (``ok``, ``errors``, ``warnings``, ``findings``, ``rules``); :class:`Finding`
    (``rule``, ``severity``, ``path``, ``message_ja``, ``message_en``); ``RULES`` (rule id → Rule).
``renkei.commons.lifecycle``
    ``is_real(alert)``, ``status_label(alert)`` (【訓練】/【テスト】/【訂正】/【取消】), :class:`AlertState`
    (active/superseded/cancelled/expired), :class:`AlertHistory(clock)` (``add``, ``add_distribution``,
    ``state_of``, ``chain``, ``incident``, ``current(incident)``, ``active``); builders ``update``,
    ``cancel``, ``correct`` (誤報 訂正), ``withdraw`` (誤報 取消).
``renkei.commons.render``
    :class:`ChannelLimits`, ``tv_banner``, ``data_broadcast``, ``radio_script``,
    ``area_mail`` (緊急速報メール, full-width counting), ``web_page`` (HTML), ``alert_json``,
    ``cap_xml``, :class:`AtomFeed` (append-only, fat and thin entries).
``renkei.commons.mapsvg``
    ``map_svg(alert, municipalities=None) -> str``.
``renkei.commons.errors``
    ``CommonsError`` root; ``XmlRefused``, ``CapMalformed``, ``EdxlMalformed``, ``ContentMalformed``,
    ``InvalidModel``, ``ChainConflict``, ``RenderTooLong`` (codes ``commons.<noun>.<problem>``).

See docs/commons.md for the CAP ↔ model ↔ EDXL mapping tables and the validation rule ids.
"""

from __future__ import annotations

from renkei.commons.model import (
    Alert,
    Area,
    Category,
    Certainty,
    Circle,
    CommonsReport,
    ContentObject,
    Correction,
    DamageContent,
    DisasterHQContent,
    Distribution,
    DistributionStatus,
    DistributionType,
    EvacuationContent,
    EvacuationEntry,
    EvacuationLevel,
    Info,
    IssueAction,
    LandslideContent,
    MessageKind,
    MsgType,
    NamedValue,
    NoticeContent,
    Point,
    Polygon,
    Reference,
    Resource,
    ResponseType,
    Scope,
    Severity,
    ShelterContent,
    ShelterEntry,
    Status,
    TargetArea,
    Urgency,
    content_of,
    evacuation_level,
    with_content,
)

__all__ = [
    "Alert",
    "Area",
    "Category",
    "Certainty",
    "Circle",
    "CommonsReport",
    "ContentObject",
    "Correction",
    "DamageContent",
    "DisasterHQContent",
    "Distribution",
    "DistributionStatus",
    "DistributionType",
    "EvacuationContent",
    "EvacuationEntry",
    "EvacuationLevel",
    "Info",
    "IssueAction",
    "LandslideContent",
    "MessageKind",
    "MsgType",
    "NamedValue",
    "NoticeContent",
    "Point",
    "Polygon",
    "Reference",
    "Resource",
    "ResponseType",
    "Scope",
    "Severity",
    "ShelterContent",
    "ShelterEntry",
    "Status",
    "TargetArea",
    "Urgency",
    "content_of",
    "evacuation_level",
    "with_content",
]
