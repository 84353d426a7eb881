"""The root of renkei's typed errors.

Every context subclasses :class:`RenkeiError` in its own ``errors.py`` with a stable dotted ``code``
(``spec.load.invalid``, ``japanese.checkdigit.mismatch`` …). Only ``renkei.api.errors`` turns them into
``application/problem+json`` or a SOAP Fault; the code is the contract integrators rely on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class RenkeiError(Exception):
    """A failure with a stable dotted code, a message for people and optional structured detail."""

    code: ClassVar[str] = "renkei.error"
    #: HTTP status the API maps this error to; contexts override it per class.
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, /, **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.detail: Mapping[str, Any] = detail

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class InvalidInput(RenkeiError):
    """The caller sent something malformed."""

    code = "renkei.input.invalid"
    http_status = 400


class NotFound(RenkeiError):
    """The thing asked for does not exist."""

    code = "renkei.not_found"
    http_status = 404
