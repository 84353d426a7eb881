"""JSON Schema of the spec data files, generated from the pydantic models that the loader validates them
with, so that vendors can check their own extensions before loading them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from renkei.spec.export.jsonschema import DIALECT
from renkei.spec.models import CodeDictionary, DataItem, FlowsFile, InformationKind, SpecHeader, Unit

METASCHEMA_ID = "urn:renkei:spec-metaschema"

_LISTS: tuple[tuple[str, str, str, type[BaseModel]], ...] = (
    ("UnitsFile", "units.yaml", "units", Unit),
    ("CodesFile", "codes.yaml", "dictionaries", CodeDictionary),
    ("ParametersFile", "parameters.yaml", "parameters", DataItem),
)
_FILES: tuple[tuple[str, str], ...] = (
    ("spec.yaml", "SpecHeader"),
    ("units.yaml", "UnitsFile"),
    ("codes.yaml", "CodesFile"),
    ("parameters.yaml", "ParametersFile"),
    ("information/*.yaml", "InformationKind"),
    ("flows.yaml", "FlowsFile"),
)


def build_metaschema() -> dict[str, Any]:
    """One JSON Schema document with a ``$defs`` entry per spec file type.

    ``x-renkei-files`` maps each file (glob) to its definition; the root accepts any of them.
    """
    models: list[type[BaseModel]] = [SpecHeader, Unit, CodeDictionary, DataItem, InformationKind, FlowsFile]
    _, generated = models_json_schema([(m, "validation") for m in models], ref_template="#/$defs/{model}")
    defs: dict[str, Any] = dict(generated["$defs"])
    for name, file, key, model in _LISTS:
        defs[name] = {
            "title": file,
            "type": "object",
            "properties": {key: {"type": "array", "items": {"$ref": f"#/$defs/{model.__name__}"}}},
            "required": [key],
        }
    return {
        "$schema": DIALECT,
        "$id": METASCHEMA_ID,
        "title": "renkei spec data files",
        "description": "標準仕様データファイルのスキーマ (schema of the spec data files)",
        "x-renkei-files": {file: f"#/$defs/{name}" for file, name in _FILES},
        "anyOf": [{"$ref": f"#/$defs/{name}"} for _, name in _FILES],
        "$defs": dict(sorted(defs.items())),
    }
