"""JSON Schema 2020-12 of each information kind's record, from the shared type mapping."""

from __future__ import annotations

from typing import Any

from renkei.spec.export.naming import kind_urn, resolve
from renkei.spec.export.typemap import carried_items, object_schema
from renkei.spec.models import InformationKind, Spec

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def build_json_schema(spec: Spec, kind: InformationKind | str) -> dict[str, Any]:
    """The schema of one record of ``kind``: its items as properties, in item order."""
    kind = resolve(spec, kind)
    schema: dict[str, Any] = {
        "$schema": DIALECT,
        "$id": kind_urn(spec, kind),
        "title": kind.name,
        "description": kind.name_en,
    }
    if kind.description:
        schema["x-note"] = kind.description
    schema["x-key"] = list(kind.key)
    schema |= object_schema(spec, carried_items(kind))
    return schema


def build_json_schemas(spec: Spec) -> dict[str, dict[str, Any]]:
    """One schema per information kind, keyed by kind id, in spec order."""
    return {kind.id: build_json_schema(spec, kind) for kind in spec.information}
