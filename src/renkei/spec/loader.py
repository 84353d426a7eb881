"""Loads the spec data files, validates each against the models (the meta-schema) and cross-checks
every reference. A file that breaks a rule refuses to load with an error naming the file and field."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from renkei.spec.errors import SpecLoadError
from renkei.spec.models import (
    CodeDictionary,
    DataItem,
    Flow,
    FlowRow,
    FlowsFile,
    InformationKind,
    ItemType,
    ServiceKind,
    Spec,
    SpecHeader,
    Unit,
    UnitSelector,
)
from renkei.types import UnitNumber

M = TypeVar("M", bound=BaseModel)

_RANGE = re.compile(r"^(\d+)-(\d+)$")


def default_data_dir() -> Traversable:
    """The spec shipped inside the package."""
    return resources.files("renkei.spec").joinpath("data")


def load_spec(data_dir: Traversable | Path | None = None) -> Spec:
    """Load, validate and cross-check the spec in ``data_dir`` (the packaged spec by default)."""
    root: Traversable = data_dir if data_dir is not None else default_data_dir()
    header = _model(SpecHeader, root, "spec.yaml")
    units = _models(Unit, root, "units.yaml", "units")
    codes = _models(CodeDictionary, root, "codes.yaml", "dictionaries")
    parameters = _models(DataItem, root, "parameters.yaml", "parameters")
    info_dir = root.joinpath("information")
    kinds = tuple(
        _model(InformationKind, info_dir, entry.name)
        for entry in sorted(info_dir.iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".yaml")
    )
    flows_file = _model(FlowsFile, root, "flows.yaml")
    flows = tuple(_expand(row, units, f"flows.yaml: rows[row={row.row}]") for row in flows_file.rows)
    spec = Spec(
        header=header,
        units=units,
        codes=codes,
        parameters=parameters,
        information=kinds,
        flows=flows,
        labels=flows_file.labels,
    )
    _cross_check(spec, flows_file.rows)
    return spec


def _read(root: Traversable, name: str) -> Any:
    entry = root.joinpath(name)
    try:
        text = entry.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecLoadError(f"{name}: spec data file is missing", file=name) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecLoadError(f"{name}: not valid YAML: {exc}", file=name) from None


def _located(name: str, exc: ValidationError, prefix: str = "") -> SpecLoadError:
    problems = []
    for err in exc.errors():
        where = prefix + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        problems.append(f"{where.lstrip('.') or '(root)'}: {err['msg']}")
    return SpecLoadError(f"{name}: " + "; ".join(problems), file=name, fields=problems)


def _model(model: type[M], root: Traversable, name: str) -> M:
    try:
        return model.model_validate(_read(root, name))
    except ValidationError as exc:
        raise _located(name, exc) from None


def _models(model: type[M], root: Traversable, name: str, key: str) -> tuple[M, ...]:
    raw = _read(root, name)
    if not isinstance(raw, Mapping) or not isinstance(raw.get(key), list):
        raise SpecLoadError(f"{name}: expected a mapping with a list under {key!r}", file=name)
    out = []
    for i, entry in enumerate(raw[key]):
        try:
            out.append(model.model_validate(entry))
        except ValidationError as exc:
            raise _located(name, exc, prefix=f"{key}[{i}]") from None
    return tuple(out)


def _select(selectors: Iterable[UnitSelector], existing: Sequence[int], where: str) -> list[UnitNumber]:
    chosen: list[UnitNumber] = []
    for sel in selectors:
        if isinstance(sel, int):
            numbers = [sel]
        else:
            m = _RANGE.match(sel)
            if m is None:
                raise SpecLoadError(f"{where}: {sel!r} is neither a unit number nor a range like '5-22'")
            lo, hi = int(m.group(1)), int(m.group(2))
            numbers = [n for n in existing if lo <= n <= hi]
        for n in numbers:
            if n not in existing:
                raise SpecLoadError(f"{where}: unit {n} does not exist")
            if n not in chosen:
                chosen.append(UnitNumber(n))
    return chosen


def _expand(row: FlowRow, units: Sequence[Unit], where: str) -> Flow:
    existing = [u.number for u in units]
    senders = [n for n in _select(row.from_, existing, where + ".from") if n not in row.except_]
    receivers = [n for n in _select(row.to, existing, where + ".to") if n not in row.except_]
    if not senders or not receivers:
        raise SpecLoadError(f"{where}: expands to no sender or no receiver")
    return Flow(
        row=row.row,
        information=row.information,
        senders=tuple(senders),
        receivers=tuple(receivers),
        provenance=row.provenance,
        labels=row.labels,
        note=row.note,
    )


def _cross_check(spec: Spec, rows: Sequence[FlowRow]) -> None:
    def fail(message: str, file: str) -> SpecLoadError:
        return SpecLoadError(f"{file}: {message}", file=file)

    numbers = [u.number for u in spec.units]
    if len(set(numbers)) != len(numbers):
        raise fail("duplicate unit numbers", "units.yaml")
    for u in spec.units:
        if u.superseded_by is not None and u.superseded_by not in numbers:
            raise fail(
                f"units[number={u.number}].superseded_by: unit {u.superseded_by} does not exist", "units.yaml"
            )
    dictionaries = {c.id for c in spec.codes}
    if len(dictionaries) != len(spec.codes):
        raise fail("duplicate dictionary ids", "codes.yaml")
    kind_ids = [k.id for k in spec.information]
    if len(set(kind_ids)) != len(kind_ids):
        raise fail("duplicate information ids", "information/")
    service_ids = [s.id for _, s in spec.services()]
    dup = sorted({s for s in service_ids if service_ids.count(s) > 1})
    if dup:
        raise fail(f"duplicate service ids {dup}", "information/")

    def check_item(item: DataItem, where: str, file: str) -> None:
        if item.type is ItemType.CODE and item.code not in dictionaries:
            raise fail(f"{where}.code: unknown code dictionary {item.code!r}", file)

    for i, p in enumerate(spec.parameters):
        check_item(p, f"parameters[{i}]", "parameters.yaml")
    for kind in spec.information:
        file = f"information/{kind.id}.yaml"
        for i, item in enumerate(kind.items):
            check_item(item, f"items[{i}]", file)
        for service in kind.services:
            for r in service.request:
                try:
                    spec.request_item(kind, r)
                except KeyError:
                    raise fail(f"services[id={service.id}].request: unknown item {r!r}", file) from None
            if service.kind is ServiceKind.NOTIFICATION:
                assert service.event_code is not None  # guaranteed by the model
                if service.event_code not in dictionaries:
                    raise fail(f"services[id={service.id}].event_code: unknown dictionary", file)
                known = {c.code for c in spec.dictionary(service.event_code).codes}
                bad = [e for e in service.events if e not in known]
                if bad:
                    raise fail(
                        f"services[id={service.id}].events: codes {bad} not in {service.event_code}", file
                    )
    known_kinds = set(kind_ids)
    for row in rows:
        bad = [i for i in row.information if i not in known_kinds]
        if bad:
            raise fail(f"rows[row={row.row}].information: unknown information {bad}", "flows.yaml")
    row_numbers = [r.row for r in rows]
    if len(set(row_numbers)) != len(row_numbers):
        raise fail("duplicate row numbers", "flows.yaml")
    labels = {lab.label for lab in spec.labels}
    for row in rows:
        if set(row.labels) - labels:
            raise fail(
                f"rows[row={row.row}].labels: unknown labels {sorted(set(row.labels) - labels)}", "flows.yaml"
            )
    for lab in spec.labels:
        if lab.sender not in numbers:
            raise fail(f"labels[label={lab.label}].sender: unit {lab.sender} does not exist", "flows.yaml")
        bad = [i for i in lab.information if i not in known_kinds]
        if bad:
            raise fail(f"labels[label={lab.label}].information: unknown information {bad}", "flows.yaml")
