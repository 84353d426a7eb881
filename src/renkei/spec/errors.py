"""Errors of the ``spec`` context."""

from __future__ import annotations

from renkei.errors import NotFound, RenkeiError


class SpecLoadError(RenkeiError):
    """A spec data file is malformed or breaks the meta-schema; the message names the file and field."""

    code = "spec.load.invalid"
    http_status = 500


class UnknownUnit(NotFound):
    code = "spec.unit.unknown"


class UnknownInformation(NotFound):
    code = "spec.information.unknown"


class UnknownService(NotFound):
    code = "spec.service.unknown"


class InstanceInvalid(RenkeiError):
    """An instance document (JSON, XML or CSV) does not conform to an information kind."""

    code = "spec.instance.invalid"
    http_status = 422


class InstanceRefused(RenkeiError):
    """An instance document is hostile or too large (entities, DTDs, bombs, wrong encoding)."""

    code = "spec.instance.refused"
    http_status = 400
