"""Trust lists: what one deployment tells another about itself, signed by its CA, exchanged out of band.

A trust list is a UTF-8 JSON document::

    {
      "format": "renkei-trust-list/1",
      "deployment": "DC1",
      "hub_url": "https://127.0.0.1:8443",
      "ca_certificate": "-----BEGIN CERTIFICATE-----\\n…",
      "organisations": ["JP/LG/131016"],
      "members": ["JP/LG/131016/u06", "JP/LG/131016/u17"],
      "issued_at": "2026-04-01T09:00:00Z",
      "expires_at": "2026-05-01T09:00:00Z",
      "signature": {"algorithm": "ecdsa-p256-sha256", "value": "<base64url, no padding>"}
    }

The signature is the CA key's over the *canonical* JSON of every other field (keys sorted, no spaces,
UTF-8, ``ensure_ascii=False``), so re-indenting the file does not break it and changing any value does.
It proves the list was not altered after the CA signed it; that the CA is the peer's own is what the
operators confirm out of band by comparing its SHA-256 fingerprint (``--expect-fingerprint``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from renkei.errors import RenkeiError
from renkei.registry.ca import signature_verifies
from renkei.registry.identifiers import MemberId, OrganisationId
from renkei.tenancy.errors import TrustExpired, TrustListInvalid, TrustSignatureInvalid
from renkei.tenancy.models import check_deployment_id, check_hub_url

FORMAT: Final = "renkei-trust-list/1"
MAX_BYTES: Final = 1024 * 1024
MAX_ENTRIES: Final = 10_000
ECDSA_P256: Final = "ecdsa-p256-sha256"
ED25519: Final = "ed25519"
_Id = TypeVar("_Id", OrganisationId, MemberId)
_FIELDS: Final = frozenset(
    {
        "format",
        "deployment",
        "hub_url",
        "ca_certificate",
        "organisations",
        "members",
        "issued_at",
        "expires_at",
        "signature",
    }
)


@dataclass(frozen=True, slots=True)
class TrustList:
    """A deployment's trust list, as read and verified (or about to be signed)."""

    deployment: str
    hub_url: str
    ca_certificate_pem: str
    organisations: tuple[OrganisationId, ...]
    members: tuple[MemberId, ...]
    issued_at: datetime
    expires_at: datetime

    def body(self) -> dict[str, Any]:
        """Every field but the signature, in the document's shapes."""
        return {
            "format": FORMAT,
            "deployment": self.deployment,
            "hub_url": self.hub_url,
            "ca_certificate": self.ca_certificate_pem,
            "organisations": [str(o) for o in self.organisations],
            "members": [str(m) for m in self.members],
            "issued_at": _instant_text(self.issued_at),
            "expires_at": _instant_text(self.expires_at),
        }


def canonical(body: dict[str, Any]) -> bytes:
    """The bytes a trust list's signature covers."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def algorithm_of(certificate: x509.Certificate) -> str:
    key = certificate.public_key()
    if isinstance(key, ed25519.Ed25519PublicKey):
        return ED25519
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return ECDSA_P256
    raise TrustListInvalid("the CA key is neither EC P-256 nor Ed25519", field="ca_certificate")


def write_trust_list(trust_list: TrustList, signature: bytes) -> bytes:
    """The document: the body and ``signature`` (by the CA key over :func:`canonical` of the body)."""
    certificate = _certificate(trust_list.ca_certificate_pem)
    document = trust_list.body()
    document["signature"] = {
        "algorithm": algorithm_of(certificate),
        "value": base64.urlsafe_b64encode(signature).rstrip(b"=").decode("ascii"),
    }
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def read_trust_list(data: bytes, now: datetime) -> TrustList:
    """Parse and verify a trust list: every field well formed, the CA certificate a self-signed CA valid at
    ``now``, the list itself valid at ``now``, and the signature good under that CA.

    Raises ``tenancy.trust.invalid``, ``tenancy.trust.expired`` or ``tenancy.trust.signature_invalid``.
    """
    document = _document(data)
    body = {k: v for k, v in document.items() if k != "signature"}
    if body.get("format") != FORMAT:
        raise TrustListInvalid(f"not a {FORMAT} document", field="format")
    certificate = _certificate(_text(body, "ca_certificate", 64 * 1024))
    _check_ca(certificate)
    trust_list = TrustList(
        deployment=_field(body, "deployment", check_deployment_id),
        hub_url=_field(body, "hub_url", check_hub_url),
        ca_certificate_pem=_text(body, "ca_certificate", 64 * 1024),
        organisations=_identifiers(body, "organisations", OrganisationId.parse),
        members=_identifiers(body, "members", MemberId.parse),
        issued_at=_instant(body, "issued_at"),
        expires_at=_instant(body, "expires_at"),
    )
    _check_signature(certificate, document.get("signature"), canonical(body))
    # Checked after the signature: an altered list is reported as altered, whatever its dates say.
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    if not start <= now <= end:
        raise TrustExpired(
            f"the CA certificate of {trust_list.deployment} is not valid now"
            f" (valid from {start.isoformat()} to {end.isoformat()})",
            deployment=trust_list.deployment,
            reason="ca_certificate",
        )
    if not trust_list.issued_at <= trust_list.expires_at:
        raise TrustListInvalid("expires_at is before issued_at", field="expires_at")
    if not now <= trust_list.expires_at:
        raise TrustExpired(
            f"the trust list of {trust_list.deployment} expired at {trust_list.expires_at.isoformat()}:"
            " ask its operator for a fresh one",
            deployment=trust_list.deployment,
            reason="trust_list",
        )
    return trust_list


def _document(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_BYTES:
        raise TrustListInvalid(f"a trust list is at most {MAX_BYTES} bytes, this one has {len(data)}")

    def no_duplicates(pairs: Sequence[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            raise TrustListInvalid("a key appears twice in one object")
        return dict(pairs)

    try:
        document = json.loads(data.decode("utf-8"), object_pairs_hook=no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise TrustListInvalid(f"not UTF-8 JSON: {type(exc).__name__}") from None
    if not isinstance(document, dict):
        raise TrustListInvalid("a trust list is a JSON object")
    unknown = sorted(set(document) - _FIELDS)
    if unknown:
        raise TrustListInvalid(f"unknown field {unknown[0][:40]!r}", field=unknown[0][:40])
    missing = sorted(_FIELDS - set(document))
    if missing:
        raise TrustListInvalid(f"missing field {missing[0]!r}", field=missing[0])
    return document


def _text(body: dict[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise TrustListInvalid(f"{name} must be a non-empty string of at most {limit} characters", field=name)
    return value


def _field(body: dict[str, Any], name: str, check: Callable[[str], str]) -> str:
    try:
        result = check(_text(body, name, 2048))
    except TrustListInvalid:
        raise
    except RenkeiError as exc:
        raise TrustListInvalid(f"{name}: {exc.message}", field=name) from None
    return result


def _identifiers(body: dict[str, Any], name: str, parse: Callable[[str], _Id]) -> tuple[_Id, ...]:
    values = body.get(name)
    if not isinstance(values, list) or len(values) > MAX_ENTRIES:
        raise TrustListInvalid(f"{name} must be a list of at most {MAX_ENTRIES} identifiers", field=name)
    parsed: list[_Id] = []
    for value in values:
        if not isinstance(value, str) or len(value) > 128:
            raise TrustListInvalid(f"{name}: every entry is an identifier string", field=name)
        try:
            parsed.append(parse(value))
        except RenkeiError as exc:
            raise TrustListInvalid(f"{name}: {exc.message}", field=name) from None
    if len(set(parsed)) != len(parsed):
        raise TrustListInvalid(f"{name}: an identifier is listed twice", field=name)
    return tuple(parsed)


def _instant(body: dict[str, Any], name: str) -> datetime:
    text = _text(body, name, 64)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise TrustListInvalid(f"{name}: not an ISO 8601 instant", field=name) from None
    if at.tzinfo is None:
        raise TrustListInvalid(f"{name}: the instant needs a time zone (Z)", field=name)
    return at.astimezone(UTC)


def _instant_text(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _certificate(pem: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise TrustListInvalid(
            "ca_certificate is not a PEM X.509 certificate", field="ca_certificate"
        ) from None


def _check_ca(certificate: x509.Certificate) -> None:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
        certificate.verify_directly_issued_by(certificate)
    except (x509.ExtensionNotFound, InvalidSignature, ValueError, TypeError):
        constraints = None
    if constraints is None or not constraints.ca:
        raise TrustListInvalid("ca_certificate is not a self-signed CA certificate", field="ca_certificate")
    algorithm_of(certificate)


def _check_signature(certificate: x509.Certificate, signature: object, signed: bytes) -> None:
    if not isinstance(signature, dict) or set(signature) != {"algorithm", "value"}:
        raise TrustListInvalid("signature must be {algorithm, value}", field="signature")
    algorithm, value = signature.get("algorithm"), signature.get("value")
    if algorithm != algorithm_of(certificate) or not isinstance(value, str) or len(value) > 1024:
        raise TrustSignatureInvalid("the signature's algorithm does not match the CA key")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise TrustSignatureInvalid("the signature is not base64url") from None
    if not signature_verifies(certificate, signed, raw):
        raise TrustSignatureInvalid(
            "the trust list's signature does not verify under its CA: it was altered after signing"
        )
