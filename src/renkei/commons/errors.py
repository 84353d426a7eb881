"""Errors of the ``commons`` context (公共情報コモンズ).

Codes are ``commons.<noun>.<problem>``; the API maps them with ``http_status``. Validation findings are not
exceptions: :mod:`renkei.commons.validation` collects them as :class:`~renkei.commons.validation.Finding`
objects in a report. These exceptions are for inputs that cannot be read at all.
"""

from __future__ import annotations

from renkei.errors import InvalidInput, RenkeiError


class CommonsError(RenkeiError):
    """Root of the ``commons`` context's errors."""

    code = "commons.error"
    http_status = 400


class InvalidModel(CommonsError, InvalidInput):
    """A model value was built with something the model cannot hold (naive datetime, bad enum …)."""

    code = "commons.model.invalid"
    http_status = 422


class XmlRefused(CommonsError, InvalidInput):
    """Untrusted XML refused before or while parsing: DOCTYPE/ENTITY, too large, too deep, not well formed."""

    code = "commons.xml.refused"
    http_status = 400


class CapMalformed(CommonsError, InvalidInput):
    """Well-formed XML that is not a readable CAP 1.2 alert (wrong root, unreadable date, bad enum …)."""

    code = "commons.cap.malformed"
    http_status = 422


class EdxlMalformed(CommonsError, InvalidInput):
    """Well-formed XML that is not a readable EDXL-DE 1.0 distribution as the Commons uses it."""

    code = "commons.edxl.malformed"
    http_status = 422


class ContentMalformed(CommonsError, InvalidInput):
    """Type-specific Commons content (parameters of 避難情報, 避難所 …) that cannot be read."""

    code = "commons.content.malformed"
    http_status = 422


class ChainConflict(CommonsError, InvalidInput):
    """A lifecycle operation that does not fit the chain (duplicate message, unknown reference …)."""

    code = "commons.chain.conflict"
    http_status = 409


class RenderTooLong(CommonsError, InvalidInput):
    """A channel's length limit was exceeded and the channel is configured to refuse rather than split."""

    code = "commons.render.too_long"
    http_status = 422
