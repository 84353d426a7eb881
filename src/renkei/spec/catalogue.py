"""Plain records of the spec for listings (CLI ``--format json``, the JSON API, the browser).

One place decides these shapes, so the CLI and the API cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from renkei.spec.models import Spec


def unit_records(spec: Spec) -> list[dict[str, Any]]:
    """``{"number", "name", "name_en", "status"}`` for every business unit, by number."""
    return [
        {"number": u.number, "name": u.name, "name_en": u.name_en, "status": u.status.value}
        for u in sorted(spec.units, key=lambda u: u.number)
    ]


def flow_records(spec: Spec) -> list[dict[str, Any]]:
    """One ``{"information", "from", "to", "provenance", "row"}`` per (information, from, to) triple.

    ``information`` is the Japanese name as the matrix prints it; ``from`` and ``to`` are unit numbers.
    """
    return [
        {
            "information": spec.kind(t.information).name,
            "from": t.sender,
            "to": t.receiver,
            "provenance": t.provenance,
            "row": t.row,
        }
        for t in spec.triples()
    ]


def item_records(spec: Spec, information: str | None = None) -> list[dict[str, Any]]:
    """Every data item, with its information kind, optionally of one kind only."""
    kinds = [spec.kind(information)] if information else list(spec.information)
    return [
        {"information": k.id, **item.model_dump(mode="json", exclude_none=True)}
        for k in kinds
        for item in k.items
    ]


def code_records(spec: Spec, dictionary: str | None = None) -> list[dict[str, Any]]:
    """Every code of every dictionary (or of one), flattened."""
    return [
        {"dictionary": d.id, "dictionary_name": d.name, "code": c.code, "name": c.name, "name_en": c.name_en}
        for d in spec.codes
        if dictionary is None or d.id == dictionary
        for c in d.codes
    ]


def service_records(spec: Spec) -> list[dict[str, Any]]:
    """Every query service and notification topic with the information it carries and who provides it."""
    providers: dict[str, set[int]] = {}
    for t in spec.triples():
        providers.setdefault(t.information, set()).add(t.sender)
    return [
        {
            "id": s.id,
            "kind": s.kind.value,
            "name": s.name,
            "name_en": s.name_en,
            "information": k.id,
            "information_name": k.name,
            "providers": sorted(providers.get(k.id, ())),
            "request": list(s.request),
            "response": list(s.response),
            "events": list(s.events),
        }
        for k, s in spec.services()
    ]


def matrix_grid(spec: Spec) -> dict[tuple[int, int], list[int]]:
    """(sender, receiver) → the matrix rows that connect them, for drawing the grid."""
    grid: dict[tuple[int, int], list[int]] = {}
    for flow in spec.flows:
        for s in flow.senders:
            for r in flow.receivers:
                rows = grid.setdefault((s, r), [])
                if flow.row not in rows:
                    rows.append(flow.row)
    return grid
