"""The human reference of the spec (``docs/spec.md``), generated: never edit it by hand."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from renkei.spec.export.naming import lower_camel
from renkei.spec.export.openapi import PATH_PREFIX
from renkei.spec.models import DataItem, InformationKind, ServiceKind, Spec, UnitStatus

INFERRED_MARK = "†"


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "○" if value else ""
    return str(value).replace("|", "\\|").replace("\r\n", " ").replace("\n", " ")


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def _units(numbers: Iterable[int]) -> str:
    return ", ".join(str(n) for n in numbers)


def _kind_ref(spec: Spec, information: str) -> str:
    return f"{spec.kind(information).name} (`{information}`)"


def _items_table(items: Sequence[DataItem]) -> list[str]:
    header = [
        "#",
        "ID",
        "名称",
        "English",
        "型 (type)",
        "桁 (length)",
        "コード (code)",
        "個人情報",
        "特定個人情報",
        "必須 (required)",
        "庁内のみ (local only)",
    ]
    rows = [
        [
            n,
            f"`{i.id}`",
            i.name,
            i.name_en,
            i.type.value,
            i.length,
            f"`{i.code}`" if i.code else None,
            i.personal,
            i.specific_personal,
            i.required,
            i.local_only,
        ]
        for n, i in enumerate(items, start=1)
    ]
    return _table(header, rows)


def _changelog(spec: Spec) -> list[str]:
    lines = ["## 変更履歴 (Change log)", ""]
    for entry in spec.header.changelog:
        lines += [f"### {entry.version} ({entry.date.isoformat()})", ""]
        lines += [f"- {change}" for change in entry.changes]
        lines.append("")
    return lines


def _units_section(spec: Spec) -> list[str]:
    rows = []
    for u in spec.units:
        status = u.status.value
        if u.status is UnitStatus.SUPERSEDED and u.superseded_by is not None:
            status += f" → {u.superseded_by}"
        rows.append([u.number, u.name, u.name_en, status, "、".join(u.standard_2021), u.note])
    header = [
        "番号 (number)",
        "名称 (name)",
        "English",
        "状態 (status)",
        "標準化対象業務 (2021)",
        "備考 (note)",
    ]
    return ["## 業務ユニット (Business units)", "", *_table(header, rows)]


def _matrix(spec: Spec) -> list[str]:
    inferred = {f.row for f in spec.flows if f.provenance == "seed-inferred"}
    cells: dict[tuple[int, int], set[int]] = {}
    for flow in spec.flows:
        for s in flow.senders:
            for r in flow.receivers:
                cells.setdefault((s, r), set()).add(flow.row)
    order = [u.number for u in spec.units]
    senders = [n for n in order if any(s == n for s, _ in cells)]
    receivers = [n for n in order if any(r == n for _, r in cells)]
    lines = [
        "## 連携マトリクス (Linkage matrix)",
        "",
        "行は送信元、列は送信先の業務ユニット番号です。セルの数字は下の連携一覧の行番号で、"
        f"{INFERRED_MARK} は図から推定した行 (seed-inferred) です。",
        f"(Rows: sending unit; columns: receiving unit; cells: row numbers of the flows table; "
        f"{INFERRED_MARK} marks rows inferred from the diagram.)",
        "",
    ]
    rows = []
    for s in senders:
        row: list[object] = [f"**{s}** {spec.unit(s).name}"]
        for r in receivers:
            numbers = sorted(cells.get((s, r), set()))
            row.append(", ".join(f"{n}{INFERRED_MARK if n in inferred else ''}" for n in numbers))
        rows.append(row)
    lines += _table(["送信元＼送信先 (from＼to)", *(str(r) for r in receivers)], rows)
    lines += ["凡例 (legend): " + "、".join(f"{n} {spec.unit(n).name}" for n in receivers), ""]
    flow_rows = [
        [
            f.row,
            "、".join(_kind_ref(spec, i) for i in f.information),
            _units(f.senders),
            _units(f.receivers),
            f.provenance,
            ", ".join(f"({label})" for label in f.labels),
            f.note,
        ]
        for f in spec.flows
    ]
    header = [
        "行 (row)",
        "連携データ (information)",
        "送信元 (from)",
        "送信先 (to)",
        "出典 (provenance)",
        "ラベル (labels)",
        "備考 (note)",
    ]
    lines += ["### 連携一覧 (Flows)", "", *_table(header, flow_rows)]
    if spec.labels:
        label_rows = [
            [f"({lab.label})", lab.text, lab.sender, "、".join(_kind_ref(spec, i) for i in lab.information)]
            for lab in spec.labels
        ]
        header = ["ラベル (label)", "図の表記 (text)", "送信元 (sender)", "連携データ (information)"]
        lines += ["### ラベル (Labels)", "", *_table(header, label_rows)]
    return lines


def _request_line(spec: Spec, kind: InformationKind, ids: Sequence[str], optional: Sequence[str] = ()) -> str:
    return "、".join(
        f"`{i}` {spec.request_item(kind, i).name}" + ("（任意 optional）" if i in optional else "")
        for i in ids
    )


def _kind_section(spec: Spec, kind: InformationKind) -> list[str]:
    rows = sorted({f.row for f in spec.flows if kind.id in f.information})
    lines = [f"### {kind.name} (`{kind.id}`)", "", f"*{kind.name_en}*", ""]
    if kind.description:
        lines += [kind.description, ""]
    lines += [
        f"- キー (key): {'、'.join(f'`{k}`' for k in kind.key)}",
        f"- 連携マトリクスの行 (matrix rows): {', '.join(str(r) for r in rows) or '—'}",
        "",
        "#### データ項目 (Items)",
        "",
        *_items_table(kind.items),
        "#### サービス (Services)",
        "",
    ]
    for service in kind.services:
        if service.kind is ServiceKind.QUERY:
            lines += [
                f"##### `{service.id}` {service.name} (照会 query)",
                "",
                f"*{service.name_en}*",
                "",
                f"- 照会条件 (request): {_request_line(spec, kind, service.request, service.optional)}",
                f"- 応答 (response): {_request_line(spec, kind, service.response)}",
                f"- REST: `POST {PATH_PREFIX}/{service.id}`",
                f"- SOAP: operation `{lower_camel(service.id)}`",
                "",
            ]
        else:
            assert service.event_code is not None
            dictionary = spec.dictionary(service.event_code)
            events = "、".join(f"{e} {dictionary.label(e)}" for e in service.events)
            lines += [
                f"##### `{service.id}` {service.name} (異動通知 notification)",
                "",
                f"*{service.name_en}*",
                "",
                f"- イベント (events, `{dictionary.id}`): {events}",
                f"- データ (data): {_request_line(spec, kind, service.response)}",
                "",
            ]
    return lines


def _codes_section(spec: Spec) -> list[str]:
    lines = ["## コード辞書 (Code dictionaries)", ""]
    for d in spec.codes:
        lines += [f"### {d.name} (`{d.id}`)", "", f"*{d.name_en}*", ""]
        lines += _table(
            ["コード (code)", "名称 (name)", "English"], [[c.code, c.name, c.name_en] for c in d.codes]
        )
    return lines


def build_spec_markdown(spec: Spec) -> str:
    """The whole spec as one Markdown document."""
    header = spec.header
    lines = [
        f"# {header.name} {spec.version}",
        "",
        "> この文書は標準仕様データ (`src/renkei/spec/data/`) から `renkei spec export` が生成します。"
        "手で編集しないでください。",
        "> (Generated from the spec data by `renkei spec export`; do not edit by hand.)",
        "",
        f"出典 (source): {header.source}",
        "",
        *_changelog(spec),
        *_units_section(spec),
        *_matrix(spec),
        "## 連携データ (Information kinds)",
        "",
        *[f"- [{k.name}](#{k.id}) `{k.id}`: {k.name_en}" for k in spec.information],
        "",
    ]
    for kind in spec.information:
        lines += [f'<a id="{kind.id}"></a>', "", *_kind_section(spec, kind)]
    lines += ["## 照会条件 (Query parameters)", "", *_items_table(spec.parameters), *_codes_section(spec)]
    while lines and lines[-1] == "":
        lines.pop()
    return "\n".join(lines) + "\n"
