"""Every artefact generated from a :class:`~renkei.spec.models.Spec`, deterministically (same spec,
byte-identical files; no timestamps). Never edit the generated files by hand.

Layout written by :func:`write_exports`::

    openapi.json                      OpenAPI 3.1.0 (X-Road REST paths, webhooks)
    jsonschema/<kind>.schema.json     JSON Schema 2020-12 of one record
    xsd/<kind>.xsd                    XML Schema (a record or a <records> list)
    wsdl/renkei.wsdl                  WSDL 1.1 SOAP 1.1 document/literal of every query service
    csv/<kind>.layout.json            CSV layout
    spec-metaschema.json              JSON Schema of the spec data files
    spec.md                           the human reference (docs/spec.md)

JSON keeps construction order where it carries meaning (properties in item order, columns, paths in
spec order) and is sorted where it does not (the metaschema).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from renkei.spec.export.csvlayout import build_csv_layout, csv_header
from renkei.spec.export.jsonschema import build_json_schema, build_json_schemas
from renkei.spec.export.markdown import build_spec_markdown
from renkei.spec.export.metaschema import build_metaschema
from renkei.spec.export.openapi import build_openapi
from renkei.spec.export.wsdl import build_service_xsd, build_wsdl
from renkei.spec.export.xsd import build_xsd
from renkei.spec.models import Spec

__all__ = [
    "build_csv_layout",
    "build_json_schema",
    "build_json_schemas",
    "build_metaschema",
    "build_openapi",
    "build_service_xsd",
    "build_spec_markdown",
    "build_wsdl",
    "build_xsd",
    "csv_header",
    "dump_json",
    "render_exports",
    "write_exports",
]


def dump_json(document: Any, *, sort_keys: bool = False) -> str:
    """The canonical text of a JSON export: UTF-8 characters kept, 2-space indent, trailing newline."""
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=sort_keys) + "\n"


def render_exports(spec: Spec) -> dict[str, str]:
    """Every export as text, keyed by its path relative to the output directory (sorted)."""
    files: dict[str, str] = {
        "openapi.json": dump_json(build_openapi(spec)),
        "wsdl/renkei.wsdl": build_wsdl(spec),
        "spec-metaschema.json": dump_json(build_metaschema(), sort_keys=True),
        "spec.md": build_spec_markdown(spec),
    }
    for kind_id, schema in build_json_schemas(spec).items():
        files[f"jsonschema/{kind_id}.schema.json"] = dump_json(schema)
    for kind in spec.information:
        files[f"xsd/{kind.id}.xsd"] = build_xsd(spec, kind)
        files[f"csv/{kind.id}.layout.json"] = dump_json(build_csv_layout(spec, kind))
    return dict(sorted(files.items()))


def write_exports(spec: Spec, out_dir: Path) -> list[Path]:
    """Write every export under ``out_dir`` (UTF-8, LF) and return the written paths, sorted.

    Files of kinds no longer in the spec are left alone; export into an empty directory to avoid them.
    """
    written = []
    for relative, text in render_exports(spec).items():
        path = out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    return sorted(written)
