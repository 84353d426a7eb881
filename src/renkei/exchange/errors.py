"""Typed errors of the exchange, each in one of X-Road's fault families (``Client.*`` / ``Server.*``).

The dotted ``code`` is renkei's stable contract; ``xroad_code`` is the X-Road fault code an X-Road client
switches on. ``api/errors.py`` puts both in the problem+json body (``code`` and ``xroad_code``), and
``rule`` names the check that denied an access (``spec.matrix``, ``registry.purpose`` …).
"""

from __future__ import annotations

from typing import Any, ClassVar

from renkei.errors import RenkeiError


class ExchangeError(RenkeiError):
    """Root of the exchange's errors."""

    code = "exchange.error"
    http_status = 500
    xroad_code: ClassVar[str] = "Server.ServiceFailed"

    def __init__(self, message: str, /, **detail: Any) -> None:
        super().__init__(message, xroad_code=self.xroad_code, **detail)


# --- Client.* ------------------------------------------------------------------------------------------


class BadRequest(ExchangeError):
    """The request is malformed: headers, path, JSON, or a body the service's schema refuses."""

    code = "exchange.request.invalid"
    http_status = 400
    xroad_code = "Client.BadRequest"


class MalformedJson(BadRequest):
    code = "exchange.request.malformed"


class BodyTooLarge(BadRequest):
    code = "exchange.request.too_large"
    http_status = 413


class IndividualNumberRefused(BadRequest):
    """A 個人番号 in the body: only 符号 or 宛名番号 may travel through the hub."""

    code = "exchange.request.individual_number"


class InvalidClient(BadRequest):
    """``X-Road-Client`` is missing, malformed, or not the member that signed the request."""

    code = "exchange.client.invalid"
    xroad_code = "Client.InvalidClientIdentifier"


class InvalidSignature(ExchangeError):
    """The registry's request signature is missing, wrong, altered, stale or replayed."""

    code = "exchange.client.unauthenticated"
    http_status = 401
    xroad_code = "Client.InvalidSignature"


class AccessDenied(ExchangeError):
    """An authorisation rule refused the query; ``rule`` names it."""

    code = "exchange.client.unauthorised"
    http_status = 403
    xroad_code = "Client.AccessDenied"


class ServiceNotFound(ExchangeError):
    """The path names no member, or a member that does not provide the service."""

    code = "exchange.service.unknown"
    http_status = 404
    xroad_code = "Client.ServiceNotFound"


class PersonUnknown(ExchangeError):
    """The caller's 宛名番号 or 符号 resolves to no person in the linkage base."""

    code = "exchange.person.unknown"
    http_status = 404
    xroad_code = "Client.PersonUnknown"


class IdempotencyConflict(ExchangeError):
    """The same ``Idempotency-Key`` came with another body."""

    code = "exchange.idempotency.conflict"
    http_status = 409
    xroad_code = "Client.IdempotencyConflict"


class ResultNotFound(ExchangeError):
    """No asynchronous result with this id for this client (another client's ids are not revealed)."""

    code = "exchange.result.unknown"
    http_status = 404
    xroad_code = "Client.ResultNotFound"


# --- Server.* ------------------------------------------------------------------------------------------


class ServiceFailed(ExchangeError):
    """The provider answered with an error or with a body the service's response schema refuses."""

    code = "exchange.provider.failed"
    http_status = 502
    xroad_code = "Server.ServiceFailed"


class ProviderUnreachable(ExchangeError):
    code = "exchange.provider.unreachable"
    http_status = 502
    xroad_code = "Server.Unreachable"


class ProviderTimeout(ExchangeError):
    code = "exchange.provider.timeout"
    http_status = 504
    xroad_code = "Server.Timeout"


class HubFailed(ExchangeError):
    """The hub itself failed (storage, records): nothing was returned to the client."""

    code = "exchange.hub.failed"
    http_status = 500
    xroad_code = "Server.ServerProxy.InternalError"


# --- across deployments (federation) ----------------------------------------------------------------


class PeerRequestInvalid(BadRequest):
    """A request forwarded by a peer hub names a client that peer does not host, or carries a 宛名番号 (only
    the provider organisation's 符号 crosses deployments)."""

    code = "exchange.peer.invalid"
    xroad_code = "Client.InvalidClientIdentifier"


class RemoteRefused(ExchangeError):
    """The peer deployment hosting the provider refused the query (a ``Client.*`` fault there): its code,
    X-Road code and rule are in ``remote_code``, ``remote_xroad_code``, ``remote_rule``."""

    code = "exchange.remote.refused"
    http_status = 403
    xroad_code = "Client.RemoteRefused"


class RemoteFailed(ExchangeError):
    """The peer deployment answered with a ``Server.*`` fault or an unreadable answer."""

    code = "exchange.remote.failed"
    http_status = 502
    xroad_code = "Server.RemoteFailed"


class RouteAmbiguous(ExchangeError):
    """Several peer deployments host the provider's organisation and none names the member system: the
    operators' trust lists disagree (``peers`` names them)."""

    code = "exchange.route.ambiguous"
    http_status = 502
    xroad_code = "Server.RouteAmbiguous"


class PeerUnavailable(ExchangeError):
    """The peer deployment could not be reached, did not answer in time, or failed the mutual TLS check
    (``reason`` and ``peer_code``, the ``tenancy.peer.*`` code, say which). Nothing was recorded as
    provided; a retry (the same ``Idempotency-Key``) completes once the peer is back."""

    code = "exchange.peer.unavailable"
    http_status = 502
    xroad_code = "Server.PeerUnavailable"
