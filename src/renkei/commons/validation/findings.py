"""Validation findings, the report that collects them, and the catalogue of rule ids."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, Literal


class Level(StrEnum):
    """A finding's severity: an error makes the document invalid; a warning does not."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Rule:
    """A validation rule: stable id, default severity, and what it says in Japanese and English."""

    id: str
    level: Level
    ja: str
    en: str


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: which rule, where (XPath-like path), how bad, and the message in both languages."""

    rule: str
    severity: Level
    path: str
    message_ja: str
    message_en: str

    def __str__(self) -> str:
        return f"{self.severity.value}: {self.path}: [{self.rule}] {self.message_ja} / {self.message_en}"

    def as_dict(self) -> dict[str, str]:
        """JSON-ready form."""
        return {
            "rule": self.rule,
            "severity": self.severity.value,
            "path": self.path,
            "message_ja": self.message_ja,
            "message_en": self.message_en,
        }


DocumentKind = Literal["cap", "edxl", "unknown"]


@dataclass(frozen=True, slots=True)
class Report:
    """Everything found in one document; never stops at the first problem."""

    kind: DocumentKind
    findings: tuple[Finding, ...] = field(default=())

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Level.ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity is Level.WARNING)

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    @property
    def rules(self) -> frozenset[str]:
        """The ids of every rule that fired."""
        return frozenset(f.rule for f in self.findings)


def _rules(*rules: Rule) -> dict[str, Rule]:
    return {r.id: r for r in rules}


E, W = Level.ERROR, Level.WARNING

#: Every rule, by id. Messages are templates filled with ``detail``.
RULES: Final[dict[str, Rule]] = _rules(
    # input
    Rule("xml.refused", E, "XML を受け付けられません: {detail}", "XML refused: {detail}"),
    Rule(
        "xml.root.unknown",
        E,
        "CAP 1.2 でも EDXL-DE 1.0 でもありません: {detail}",
        "neither CAP 1.2 nor EDXL-DE 1.0: {detail}",
    ),
    # layer (a): XSD
    Rule("xsd.cap", E, "CAP 1.2 スキーマ違反: {detail}", "CAP 1.2 schema violation: {detail}"),
    Rule("xsd.edxl", E, "EDXL-DE 1.0 スキーマ違反: {detail}", "EDXL-DE 1.0 schema violation: {detail}"),
    # layer (b): CAP rules beyond the XSD
    Rule(
        "cap.identifier.restricted_chars",
        E,
        "identifier に空白・カンマ・< ・& は使えません: {detail}",
        "identifier must not contain spaces, commas, < or &: {detail}",
    ),
    Rule(
        "cap.sender.restricted_chars",
        E,
        "sender に空白・カンマ・< ・& は使えません: {detail}",
        "sender must not contain spaces, commas, < or &: {detail}",
    ),
    Rule(
        "cap.references.malformed",
        E,
        "references は「sender,identifier,sent」の空白区切りです: {detail}",
        "references must be space-separated sender,identifier,sent triples: {detail}",
    ),
    Rule(
        "cap.references.required",
        E,
        "msgType {detail} には references が必要です",
        "msgType {detail} requires references",
    ),
    Rule(
        "cap.datetime.zulu",
        E,
        "日時に「Z」は使えません（UTC は -00:00）: {detail}",
        "time zone designator Z is not allowed (write UTC as -00:00): {detail}",
    ),
    Rule(
        "cap.datetime.utc_plus",
        E,
        "UTC は +00:00 ではなく -00:00 と書きます: {detail}",
        "UTC must be written -00:00, not +00:00: {detail}",
    ),
    Rule(
        "cap.datetime.format",
        E,
        "日時は YYYY-MM-DDThh:mm:ss±hh:mm 形式です: {detail}",
        "date and time must be YYYY-MM-DDThh:mm:ss±hh:mm: {detail}",
    ),
    Rule(
        "cap.restriction.scope",
        E,
        "restriction は scope が Restricted のときだけ使えます",
        "restriction is only used with scope Restricted",
    ),
    Rule(
        "cap.restriction.missing",
        E,
        "scope が Restricted のときは restriction が必要です",
        "scope Restricted requires restriction",
    ),
    Rule(
        "cap.addresses.missing",
        E,
        "scope が Private のときは addresses が必要です",
        "scope Private requires addresses",
    ),
    Rule(
        "cap.list.unbalanced_quotes",
        E,
        "空白区切りリストの引用符が閉じていません: {detail}",
        "unbalanced double quotes in a space-delimited list: {detail}",
    ),
    Rule(
        "cap.polygon.format",
        E,
        "polygon は「緯度,経度」の空白区切りです: {detail}",
        "polygon must be space-separated lat,lon pairs: {detail}",
    ),
    Rule(
        "cap.polygon.too_few_points",
        E,
        "polygon には 4 点以上が必要です（{detail} 点）",
        "polygon needs at least 4 points (has {detail})",
    ),
    Rule(
        "cap.polygon.not_closed",
        E,
        "polygon の始点と終点が一致していません",
        "polygon is not closed (first point differs from last)",
    ),
    Rule(
        "cap.polygon.out_of_range",
        E,
        "WGS 84 の範囲外の座標です: {detail}",
        "coordinate outside WGS 84 ranges: {detail}",
    ),
    Rule(
        "cap.polygon.self_intersecting",
        E,
        "polygon が自己交差しています: {detail}",
        "polygon intersects itself: {detail}",
    ),
    Rule(
        "cap.polygon.too_complex",
        W,
        "polygon が複雑すぎるため自己交差を検査していません（{detail} 点）",
        "polygon too complex to check for self-intersection within the budget ({detail} points)",
    ),
    Rule(
        "cap.circle.format",
        E,
        "circle は「緯度,経度 半径」です: {detail}",
        "circle must be 'lat,lon radius': {detail}",
    ),
    Rule(
        "cap.circle.out_of_range",
        E,
        "circle の中心または半径が範囲外です: {detail}",
        "circle centre outside WGS 84 or negative radius: {detail}",
    ),
    Rule(
        "cap.area.ceiling_without_altitude",
        E,
        "ceiling は altitude と共に使います",
        "ceiling may only be used with altitude",
    ),
    Rule(
        "cap.area.ceiling_below_altitude",
        E,
        "ceiling が altitude より低くなっています",
        "ceiling is below altitude",
    ),
    Rule(
        "cap.expires.before_effective",
        E,
        "expires が effective（なければ sent）以前です: {detail}",
        "expires is not after effective (or sent): {detail}",
    ),
    Rule("cap.onset.after_expires", W, "onset が expires より後です", "onset is after expires"),
    Rule(
        "cap.info.language_mismatch",
        W,
        "info の language と本文の言語が一致しません: {detail}",
        "info language does not match its text: {detail}",
    ),
    Rule(
        "cap.info.language_inconsistent",
        W,
        "同じ言語に異なる言語タグが使われています: {detail}",
        "one language is tagged inconsistently across info blocks: {detail}",
    ),
    # layer (c): Japanese profile
    Rule("jp.info.japanese_missing", E, "日本語（ja）の info がありません", "no info block in Japanese (ja)"),
    Rule("jp.text.not_japanese", E, "{detail} に日本語が含まれていません", "{detail} contains no Japanese"),
    Rule(
        "jp.text.halfwidth_kana",
        W,
        "{detail} に半角カナがあります（放送・メールで表示できない場合があります）",
        "{detail} contains half-width katakana, which some channels cannot show",
    ),
    Rule("jp.headline.missing", E, "日本語 info に headline がありません", "Japanese info has no headline"),
    Rule("jp.headline.too_long", E, "headline が長すぎます: {detail}", "headline too long: {detail}"),
    Rule(
        "jp.sender_name.missing",
        W,
        "senderName（発信元の団体名）がありません",
        "senderName (publishing organisation) is missing",
    ),
    Rule(
        "jp.area.geocode_missing",
        W,
        "area に地方公共団体コードがありません",
        "area has no 地方公共団体コード geocode",
    ),
    Rule(
        "jp.geocode.unknown_name",
        W,
        "geocode の valueName「{detail}」は日本プロファイルにありません",
        "geocode valueName {detail} is not one of the Japanese profile names",
    ),
    Rule(
        "jp.geocode.malformed",
        E,
        "地方公共団体コードは 6 桁の数字です: {detail}",
        "地方公共団体コード must be 6 ASCII digits: {detail}",
    ),
    Rule(
        "jp.geocode.check_digit",
        E,
        "地方公共団体コードの検査数字が一致しません: {detail}",
        "地方公共団体コード check digit mismatch: {detail}",
    ),
    Rule(
        "jp.geocode.unknown_municipality",
        E,
        "地方公共団体コード {detail} の団体がありません",
        "no municipality with 地方公共団体コード {detail}",
    ),
    Rule("jp.kind.unknown", E, "情報種別「{detail}」は未定義です", "unknown Commons message kind {detail}"),
    Rule(
        "jp.content.malformed",
        E,
        "種別ごとの内容（parameter）が読めません: {detail}",
        "type-specific parameters cannot be read: {detail}",
    ),
    Rule(
        "jp.evacuation.legacy_level",
        W,
        "旧名称の避難情報です（{detail}）",
        "legacy evacuation level name ({detail})",
    ),
    Rule("jp.correction.msg_type", E, "誤報の{detail}", "correction marker does not fit msgType: {detail}"),
    # EDXL-DE envelope
    Rule(
        "edxl.revision.previous_missing",
        E,
        "{detail} には previousDocumentRevision が必要です",
        "distributionType {detail} requires previousDocumentRevision",
    ),
    Rule(
        "edxl.revision.order",
        E,
        "previousDocumentRevision は documentRevision より小さい値です: {detail}",
        "previousDocumentRevision must be less than documentRevision: {detail}",
    ),
    Rule(
        "edxl.revision.unexpected",
        W,
        "Report に previousDocumentRevision があります",
        "a Report carries previousDocumentRevision",
    ),
    Rule(
        "edxl.status.mismatch",
        E,
        "distributionStatus と CAP の status が一致しません: {detail}",
        "distributionStatus differs from the CAP status: {detail}",
    ),
    Rule(
        "edxl.type.mismatch",
        W,
        "distributionType と CAP の msgType が対応しません: {detail}",
        "distributionType does not match the CAP msgType: {detail}",
    ),
    Rule(
        "edxl.content.missing", E, "contentObject がありません", "the distribution carries no contentObject"
    ),
    Rule("edxl.content.unsupported", E, "未対応の内容です: {detail}", "unsupported content: {detail}"),
)


def finding(rule_id: str, path: str, detail: object = "", severity: Level | None = None) -> Finding:
    """Build the finding of ``rule_id`` at ``path`` with its catalogue messages."""
    rule = RULES[rule_id]
    text = str(detail)
    return Finding(
        rule=rule.id,
        severity=severity or rule.level,
        path=path,
        message_ja=rule.ja.format(detail=text),
        message_en=rule.en.format(detail=text),
    )
