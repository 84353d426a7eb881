"""Errors of the ``tenancy`` context: federation with other deployments (peers, trust lists, mutual TLS).

Codes are stable: an operator importing a trust list, or the hub forwarding to a peer, tells a tampered
list (``tenancy.trust.signature_invalid``) from an expired one (``tenancy.trust.expired``), and a peer that
is down (``tenancy.peer.unreachable``) from one whose certificate does not verify
(``tenancy.peer.untrusted``).
"""

from __future__ import annotations

from renkei.errors import InvalidInput, NotFound, RenkeiError


class TenancyError(RenkeiError):
    """Root of the ``tenancy`` context's errors."""

    code = "tenancy.error"
    http_status = 500


# --- this deployment ------------------------------------------------------------------------------------


class DeploymentInvalid(TenancyError, InvalidInput):
    """A deployment id or hub URL that is malformed (``DC1``; ``https://host:port``)."""

    code = "tenancy.deployment.invalid"
    http_status = 422


class DeploymentUnconfigured(TenancyError):
    """This deployment has no federation identity yet (``renkei federation init``)."""

    code = "tenancy.deployment.unconfigured"
    http_status = 503


class DeploymentConflict(TenancyError):
    """An attempt to rename this deployment: peers trust it by its id, so the id never changes."""

    code = "tenancy.deployment.conflict"
    http_status = 409


# --- trust lists ------------------------------------------------------------------------------------------


class TrustListInvalid(TenancyError, InvalidInput):
    """A trust list that is not one: unreadable JSON, a missing or malformed field, a CA certificate that
    is not a self-signed CA, too large a file. ``detail.field`` names what is wrong when one field is."""

    code = "tenancy.trust.invalid"
    http_status = 422


class TrustSignatureInvalid(TenancyError, InvalidInput):
    """The trust list's signature does not verify under the CA certificate it carries: it was altered
    after the peer's CA signed it."""

    code = "tenancy.trust.signature_invalid"
    http_status = 422


class TrustExpired(TenancyError, InvalidInput):
    """The trust list, or the CA certificate in it, is not valid now (expired or not yet valid)."""

    code = "tenancy.trust.expired"
    http_status = 422


class TrustFingerprintMismatch(TenancyError, InvalidInput):
    """The CA certificate is not the one the operator was told out of band (``--expect-fingerprint``), or
    a known peer's trust list carries another CA than the one already trusted."""

    code = "tenancy.trust.fingerprint_mismatch"
    http_status = 422


# --- peers ------------------------------------------------------------------------------------------------


class PeerUnknown(TenancyError, NotFound):
    code = "tenancy.peer.unknown"
    http_status = 404


class PeerConflict(TenancyError):
    """A peer that claims this deployment's own id, or a member system another peer already hosts."""

    code = "tenancy.peer.conflict"
    http_status = 409


class RouteAmbiguous(TenancyError):
    """A member system of an organisation that several peers host, none of them listing the system."""

    code = "tenancy.route.ambiguous"
    http_status = 409


class PeerUnreachable(TenancyError):
    """The peer hub could not be reached (connection refused, reset, no answer): it is down or the
    network between the deployments is."""

    code = "tenancy.peer.unreachable"
    http_status = 502


class PeerTimeout(TenancyError):
    code = "tenancy.peer.timeout"
    http_status = 504


class PeerUntrusted(TenancyError):
    """The TLS handshake with the peer failed: its certificate does not chain to the CA in its trust list
    (or has expired), or the peer refused this hub's certificate. ``detail.reason`` says which."""

    code = "tenancy.peer.untrusted"
    http_status = 502


# --- this hub's TLS ---------------------------------------------------------------------------------------


class TlsUnavailable(TenancyError):
    """This hub's TLS key or certificate cannot be read, written or used."""

    code = "tenancy.tls.unavailable"
    http_status = 500
