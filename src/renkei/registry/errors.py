"""Errors of the ``registry`` context: the directory, the certificate authority and request signatures.

Request-authentication errors follow X-Road's habit of one stable code per reason, so a member system can
tell a clock problem (``registry.auth.expired``) from a key problem (``registry.auth.invalid_signature``).
"""

from __future__ import annotations

from renkei.errors import InvalidInput, NotFound, RenkeiError


class RegistryError(RenkeiError):
    """Root of the ``registry`` context's errors."""

    code = "registry.error"
    http_status = 500


# --- the directory -------------------------------------------------------------------------------------


class IdentifierInvalid(RegistryError, InvalidInput):
    """An organisation or member identifier that is malformed (``JP/LG/131016/u06`` is the form)."""

    code = "registry.identifier.invalid"
    http_status = 400


class RegistryInputInvalid(RegistryError, InvalidInput):
    """A name, legal basis or reason that is empty or too long (``detail.field`` names it)."""

    code = "registry.input.invalid"
    http_status = 422


class OrganisationInvalid(RegistryError, InvalidInput):
    """An organisation whose code does not fit its class (団体コード, 法人番号 or agency code)."""

    code = "registry.organisation.invalid"
    http_status = 422


class OrganisationUnknown(RegistryError, NotFound):
    code = "registry.organisation.unknown"
    http_status = 404


class OrganisationExists(RegistryError):
    code = "registry.organisation.exists"
    http_status = 409


class MemberInvalid(RegistryError, InvalidInput):
    """A member system for a unit the spec does not have, or for a superseded unit."""

    code = "registry.member.invalid"
    http_status = 422


class MemberUnknown(RegistryError, NotFound):
    code = "registry.member.unknown"
    http_status = 404


class MemberExists(RegistryError):
    code = "registry.member.exists"
    http_status = 409


class CredentialInvalid(RegistryError, InvalidInput):
    """A public key or certificate that cannot be read, of an unsupported type, or with an empty validity."""

    code = "registry.credential.invalid"
    http_status = 422


class CredentialUnknown(RegistryError, NotFound):
    code = "registry.credential.unknown"
    http_status = 404


class ServiceNotProvidable(RegistryError, InvalidInput):
    """A service the member's unit may not provide: unknown to the spec, or its information kind is not
    sent by that unit in the linkage matrix."""

    code = "registry.service.not_providable"
    http_status = 422


class ServiceUnknown(RegistryError, NotFound):
    """A service that the member system does not provide (or that the spec does not define)."""

    code = "registry.service.unknown"
    http_status = 404


class EndpointInvalid(RegistryError, InvalidInput):
    code = "registry.endpoint.invalid"
    http_status = 422


class PurposeInvalid(RegistryError, InvalidInput):
    """A purpose (事務) naming unknown information kinds or items, or local-only items."""

    code = "registry.purpose.invalid"
    http_status = 422


class PurposeUnknown(RegistryError, NotFound):
    code = "registry.purpose.unknown"
    http_status = 404


class PurposeExists(RegistryError):
    code = "registry.purpose.exists"
    http_status = 409


# --- the certificate authority ------------------------------------------------------------------------


class AuthorityUnavailable(RegistryError):
    """The deployment's CA key or certificate cannot be read, or is unsafe (readable by others)."""

    code = "registry.ca.unavailable"
    http_status = 500


# --- request authentication ---------------------------------------------------------------------------


class AuthenticationError(RegistryError):
    """A request whose signature does not prove which member system sent it. Never says more than needed."""

    code = "registry.auth.failed"
    http_status = 401


class SignatureMissing(AuthenticationError):
    code = "registry.auth.missing"
    http_status = 401


class SignatureInvalid(AuthenticationError):
    """Not a well-formed signature token, a wrong algorithm, or a signature the credential does not verify."""

    code = "registry.auth.invalid_signature"
    http_status = 401


class SignatureExpired(AuthenticationError):
    """``iat`` is outside the accepted window (too old or future-dated), or the credential is not
    valid now."""

    code = "registry.auth.expired"
    http_status = 401


class RequestReplayed(AuthenticationError):
    """A token (its ``jti``) that was already used: each signed request is accepted once."""

    code = "registry.auth.replayed"
    http_status = 401


class SignerUnknown(AuthenticationError):
    """No registered credential has the token's ``kid``, or its member system is no longer registered."""

    code = "registry.auth.unknown_member"
    http_status = 401


class CredentialRevoked(AuthenticationError):
    code = "registry.auth.revoked"
    http_status = 403


class RequestAltered(AuthenticationError):
    """The signature is good but covers another method, path, body or hub than the request received."""

    code = "registry.auth.altered"
    http_status = 401
