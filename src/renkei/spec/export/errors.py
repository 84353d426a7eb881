"""Errors of the spec exports."""

from __future__ import annotations

from renkei.errors import RenkeiError


class ExportConflict(RenkeiError):
    """Two spec identifiers map onto the same generated name (a WSDL operation, a schema component)."""

    code = "spec.export.conflict"
    http_status = 500
