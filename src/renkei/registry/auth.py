"""Request authentication: every call a member system makes to the hub carries a signature token.

The token is a compact JWS (RFC 7515) signed with the member's registered key, whose payload binds the
request: method (``htm``), request target (``htu``: path and query exactly as sent), body (``bh``: SHA-256,
base64url), time (``iat``), a single-use nonce (``jti``), the member (``sub``) and the hub (``aud``). One
signature gives authentication, replay protection and evidence. The exact bytes are in
``docs/registry.md``; :func:`sign_request` is the reference implementation of the client side.

The hub calls :meth:`RequestAuthenticator.authenticate` (or :meth:`~RequestAuthenticator.verify` for the
evidence) with the token from the ``X-Renkei-Signature`` header and the request as received. A caller that
claims nonces itself (the exchange hub, which writes many exchanges' nonces in one transaction) calls
:meth:`~RequestAuthenticator.check` and then claims ``jti`` until ``keep_until`` in the same replay store
(:meth:`~RequestAuthenticator.claim` does it one at a time).

The hub's side verifies the JWS straight on ``cryptography``: the token is split and base64url-decoded
once (strictly: only the canonical encoding of the bytes is accepted), the algorithm must be the one the
credential's key type signs with (``none``, HS* and any other are refused before any key is used), and the
key is the credential's own, imported once per PEM. Clients sign with :func:`sign_request` (joserfc).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey
from joserfc.registry import JWS_HEADER_REGISTRY, check_registry_header, check_supported_header

from renkei.registry.errors import (
    CredentialInvalid,
    CredentialRevoked,
    IdentifierInvalid,
    OrganisationInvalid,
    RequestAltered,
    RequestReplayed,
    SignatureExpired,
    SignatureInvalid,
    SignatureMissing,
    SignerUnknown,
)
from renkei.registry.identifiers import DEFAULT_INSTANCE, MemberId
from renkei.registry.keys import (
    PrivateKey,
    PublicKey,
    certificate_kid,
    key_type_of,
    private_key_pem,
    public_key_kid,
    read_certificate,
    read_private_key,
    read_public_key,
)
from renkei.registry.models import Credential, KeyType, MemberSystem
from renkei.registry.ports import ReplayStore
from renkei.storage.ports import Clock

SIGNATURE_HEADER = "X-Renkei-Signature"
"""The HTTP header that carries the token."""
TOKEN_TYPE = "renkei-request+jws"
"""The ``typ`` header parameter: a token of another kind (an ID token …) is never taken for a request."""
DEFAULT_WINDOW = timedelta(seconds=300)
"""How far ``iat`` may be from the hub's clock, either way."""
TOKEN_MAX = 8192
JTI_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
KID_PATTERN = re.compile(r"^[0-9a-f]{64}$")
CLAIMS = ("htm", "htu", "bh", "iat", "jti", "sub", "aud")
CLAIM_TYPES: tuple[tuple[str, type], ...] = tuple((claim, int if claim == "iat" else str) for claim in CLAIMS)
HEADER_MAX = 512
"""Longest protected header segment accepted (base64url characters; joserfc's limit, kept)."""
SIGNATURE_SIZE = 64
"""Both accepted algorithms give 64 signature bytes: ES256 ``r‖s`` (2 × 32), Ed25519."""
PLAIN_HEADER = frozenset({"alg", "typ", "kid"})
"""A header of only these members needs no further check; any other member must be a registered JWS
header parameter (RFC 7515 §4.1) of the right type, or the token is refused."""
HEADER_CACHE = 1024
"""Validated header segments kept per authenticator (emptied when full: members have few headers each)."""
KEY_CACHE = 1024
"""Imported verification keys kept per authenticator (keyed by the PEM itself, so never stale)."""
_ES256 = ec.ECDSA(hashes.SHA256())


def body_hash(body: bytes) -> str:
    """``bh``: the SHA-256 of the exact body bytes, base64url without padding (an empty body included)."""
    return base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode("ascii")


def b64url_decode(segment: bytes) -> bytes:
    """Base64url without padding, strictly: ``ValueError`` unless ``segment`` is the one canonical
    encoding of the bytes it gives (no padding, no other alphabet, no stray or non-zero trailing bits)."""
    try:
        raw = base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))
    except ValueError:  # binascii.Error: a length of 4k + 1
        raw = None
    # The lenient decoder skips stray characters and unused bits: only the round trip proves canonical.
    if raw is None or base64.urlsafe_b64encode(raw).rstrip(b"=") != segment:
        raise ValueError("not canonical base64url")
    return raw


def request_target(raw_path: bytes | str, query_string: bytes | str = b"") -> str:
    """``htu`` as the hub computes it from the request line: the path as sent (percent-encoding untouched)
    and, when there is one, ``?`` and the query string as sent. With Starlette:
    ``request_target(request.scope["raw_path"], request.scope["query_string"])``."""
    path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else raw_path
    query = query_string.decode("latin-1") if isinstance(query_string, bytes) else query_string
    return f"{path}?{query}" if query else path


def new_jti() -> str:
    """A fresh nonce: 144 random bits, base64url (24 characters)."""
    return secrets.token_urlsafe(18)


def sign_request(
    private_key: PrivateKey | bytes,
    member_id: MemberId | str,
    method: str,
    path: str,
    body: bytes,
    now: datetime,
    *,
    certificate: x509.Certificate | bytes | None = None,
    audience: str = DEFAULT_INSTANCE,
    jti: str | None = None,
) -> str:
    """The signature token for one request (the value of the ``X-Renkei-Signature`` header).

    ``private_key`` is the member's key (object or PKCS#8 PEM); ``path`` is the request target as it will be
    sent (path and query); ``certificate`` is the member's certificate (object or PEM): its fingerprint
    becomes ``kid``. Without one, ``kid`` is the fingerprint of the public key, for a member registered with
    a bare public key.
    """
    key = read_private_key(private_key) if isinstance(private_key, bytes) else private_key
    key_type = key_type_of(key)
    if certificate is None:
        kid = public_key_kid(key.public_key())
    else:
        cert = read_certificate(certificate) if isinstance(certificate, bytes) else certificate
        kid = certificate_kid(cert)
    claims = {
        "htm": method.upper(),
        "htu": path,
        "bh": body_hash(body),
        "iat": int(now.timestamp()),
        "jti": jti or new_jti(),
        "sub": str(member_id),
        "aud": audience,
    }
    payload = json.dumps(claims, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
    header = {"alg": key_type.jws_algorithm, "typ": TOKEN_TYPE, "kid": kid}
    return jws.serialize_compact(
        header, payload, _jwk(private_key_pem(key), key_type), algorithms=[header["alg"]]
    )


def _jwk(pem: bytes | str, key_type: KeyType) -> ECKey | OKPKey:
    return OKPKey.import_key(pem) if key_type is KeyType.ED25519 else ECKey.import_key(pem)


class Signers(Protocol):
    """Where the authenticator finds credentials and members (:class:`~renkei.registry.service.Registry`)."""

    def credential(self, kid: str) -> Credential | None: ...

    def find_member(self, member_id: MemberId) -> MemberSystem | None: ...


@dataclass(frozen=True, slots=True)
class AuthenticatedRequest:
    """Who signed an accepted request, with what, and when: evidence for the message log."""

    member: MemberId
    kid: str
    jti: str
    issued_at: datetime
    token: str
    keep_until: datetime
    """How long ``jti`` must be remembered: one second past the last instant the window accepts it."""


class RequestAuthenticator:
    """Checks signature tokens for the hub.

    ``audience`` is this hub's instance (tokens for another hub are refused); ``window`` how far ``iat`` may
    be from ``clock`` either way. Accepted ``jti`` are kept in ``replays`` until the token would be too old.
    """

    def __init__(
        self,
        signers: Signers,
        replays: ReplayStore,
        clock: Clock,
        *,
        audience: str = DEFAULT_INSTANCE,
        window: timedelta = DEFAULT_WINDOW,
    ) -> None:
        if window <= timedelta(0):
            raise ValueError(f"window must be positive, got {window}")
        self._signers = signers
        self._replays = replays
        self._clock = clock
        self._audience = audience
        self._window = window
        self._keys: OrderedDict[tuple[str, KeyType], PublicKey] = OrderedDict()
        self._headers: dict[bytes, tuple[str, Mapping[str, Any]]] = {}

    @property
    def replays(self) -> ReplayStore:
        """Where accepted nonces are remembered (for a caller that claims them with other writes)."""
        return self._replays

    def authenticate(self, token: str | None, method: str, path: str, body: bytes) -> MemberId:
        """The member system that signed this request, or a ``registry.auth.*`` error.

        ``path`` is the request target as received (see :func:`request_target`), ``body`` the raw body.
        A token is accepted once: a second call with it raises ``registry.auth.replayed``.
        """
        return self.verify(token, method, path, body).member

    def verify(self, token: str | None, method: str, path: str, body: bytes) -> AuthenticatedRequest:
        """Like :meth:`authenticate`, returning the evidence (kid, jti, iat, the token itself)."""
        evidence = self.check(token, method, path, body)
        self.claim(evidence)
        return evidence

    def claim(self, evidence: AuthenticatedRequest) -> None:
        """Remember the request's ``jti``; ``registry.auth.replayed`` when it was already received."""
        if not self._replays.remember(evidence.member, evidence.jti, evidence.keep_until, self._clock.now()):
            raise RequestReplayed(
                "this signed request was already received", member=str(evidence.member), jti=evidence.jti
            )

    def check(self, token: str | None, method: str, path: str, body: bytes) -> AuthenticatedRequest:
        """Every check of :meth:`verify` but the single use of ``jti``: the caller must claim it (until
        ``keep_until``) before acting on the request, or a replay would pass."""
        if not token:
            raise SignatureMissing(f"署名がありません: the request needs a {SIGNATURE_HEADER} header")
        parsed = self._parse(token)
        kid = parsed.kid
        credential = self._signers.credential(kid)
        if credential is None:
            raise SignerUnknown("no registered credential has this kid", kid=kid)
        claims = self._claims(parsed, credential)
        member = self._member(claims, credential)
        now = self._clock.now()
        if credential.revoked_at is not None:
            raise CredentialRevoked(f"the credential of {member} is revoked", member=str(member), kid=kid)
        if not credential.valid_at(now):
            raise SignatureExpired(
                f"the credential of {member} is not valid now (valid {credential.not_before.isoformat()}"
                f" to {credential.not_after.isoformat()})",
                reason="credential",
                member=str(member),
                kid=kid,
            )
        if self._signers.find_member(member) is None:
            raise SignerUnknown(f"{member} is no longer registered", member=str(member))
        self._bound(claims, method, path, body)
        issued_at = self._fresh(claims["iat"], now)
        # Kept one second past the last instant the window still accepts the token (iat + window).
        keep_until = issued_at + self._window + timedelta(seconds=1)
        return AuthenticatedRequest(
            member=member, kid=kid, jti=claims["jti"], issued_at=issued_at, token=token, keep_until=keep_until
        )

    def _parse(self, token: str) -> _Token:
        """The token split and decoded once. A member's header segment is the same on every request it
        signs, so valid header segments are kept (the outcome depends on the bytes alone)."""
        header_segment, payload_segment, signature = _split(token)
        known = self._headers.get(header_segment)
        if known is None:
            known = _header(header_segment)
            if len(self._headers) >= HEADER_CACHE:
                self._headers.clear()  # a flood of made-up kids costs a re-parse, never memory
            self._headers[header_segment] = known
        try:
            payload = b64url_decode(payload_segment)
        except ValueError:
            raise SignatureInvalid("the signature token is not a compact JWS") from None
        signing_input = token[: len(header_segment) + 1 + len(payload_segment)].encode("ascii")
        return _Token(known[0], known[1], payload, signing_input, signature)

    def _key(self, credential: Credential) -> PublicKey:
        """The credential's verification key, imported once (parsing a PEM costs as much as verifying).

        Keyed by the PEM itself, so a rotated credential (another kid, another PEM) never meets a stale
        key; revocation and validity are read from the credential on every check, never cached here."""
        cache_key = (credential.public_key_pem, credential.key_type)
        key = self._keys.get(cache_key)
        if key is None:
            key = read_public_key(credential.public_key_pem.encode("ascii"))
            if key_type_of(key) is not credential.key_type:
                raise CredentialInvalid(f"the registered key is not a {credential.key_type} key")
            self._keys[cache_key] = key
            if len(self._keys) > KEY_CACHE:
                self._keys.popitem(last=False)
        return key

    def _claims(self, parsed: _Token, credential: Credential) -> dict[str, Any]:
        header = parsed.header
        algorithm = credential.key_type.jws_algorithm
        if header["alg"] != algorithm:
            raise SignatureInvalid(f"the credential signs with {algorithm}, not {header['alg']!r}")
        if not PLAIN_HEADER.issuperset(header):
            try:
                check_supported_header(JWS_HEADER_REGISTRY, dict(header))
                check_registry_header(JWS_HEADER_REGISTRY, dict(header))
            except (JoseError, ValueError):
                raise SignatureInvalid("the token header has unsupported or mistyped parameters") from None
        try:
            _verify(self._key(credential), parsed.signing_input, b64url_decode(parsed.signature))
            claims = json.loads(parsed.payload)
        except (InvalidSignature, CredentialInvalid, ValueError, RecursionError):
            raise SignatureInvalid("the signature does not verify with the registered credential") from None
        if not isinstance(claims, dict):
            raise SignatureInvalid("the token payload is not a JSON object")
        # Exact types (JSON gives no subclasses; a bool is not an int here).
        wrong = [claim for claim, kind in CLAIM_TYPES if type(claims.get(claim)) is not kind]
        if wrong:
            raise SignatureInvalid(f"the token lacks or mistypes the claims {wrong}", claims=wrong)
        if not JTI_PATTERN.fullmatch(claims["jti"]):
            raise SignatureInvalid("jti must be 16-128 characters of A-Z a-z 0-9 - _")
        return claims

    def _member(self, claims: dict[str, Any], credential: Credential) -> MemberId:
        sub = claims["sub"]
        # The credential's own member is by far the usual sub: spare re-parsing (check digits) it.
        if sub == str(credential.member):
            return credential.member
        try:
            member = MemberId.parse(sub)
        except (IdentifierInvalid, OrganisationInvalid):
            raise SignatureInvalid("sub is not a member identifier") from None
        if member != credential.member:
            raise SignatureInvalid(
                f"the signing credential belongs to {credential.member}, not to {member}", kid=credential.kid
            )
        return member

    def _bound(self, claims: dict[str, Any], method: str, path: str, body: bytes) -> None:
        expected = {"aud": self._audience, "htm": method.upper(), "htu": path, "bh": body_hash(body)}
        altered = [claim for claim, value in expected.items() if claims[claim] != value]
        if altered:
            raise RequestAltered(
                f"the signature covers another request ({', '.join(altered)} differ)", claims=altered
            )

    def _fresh(self, iat: int, now: datetime) -> datetime:
        try:
            issued_at = datetime.fromtimestamp(iat, UTC)
        except (OverflowError, OSError, ValueError):
            raise SignatureExpired("iat is not a representable time", reason="iat") from None
        if issued_at < now - self._window:
            raise SignatureExpired(
                f"the request was signed at {issued_at.isoformat()}, more than {self._window} ago",
                reason="too_old",
            )
        if issued_at > now + self._window:
            raise SignatureExpired(
                f"the request is dated {issued_at.isoformat()}, more than {self._window} ahead"
                " (check the clock)",
                reason="future",
            )
        return issued_at


@dataclass(frozen=True, slots=True)
class _Token:
    """A compact JWS split once: the decoded header and payload, and what the signature covers."""

    kid: str
    header: Mapping[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes
    """Still base64url: decoded only once a registered credential is found."""


def _split(token: str) -> tuple[bytes, bytes, bytes]:
    """The three segments of a compact JWS of at most :data:`TOKEN_MAX` ASCII characters (header at most
    :data:`HEADER_MAX`), or ``registry.auth.invalid_signature``."""
    if len(token) > TOKEN_MAX or not token.isascii():
        raise SignatureInvalid("the signature token is malformed")
    parts = token.encode("ascii").split(b".")
    if len(parts) != 3 or len(parts[0]) > HEADER_MAX:
        raise SignatureInvalid("the signature token is not a compact JWS")
    return parts[0], parts[1], parts[2]


def _header(segment: bytes) -> tuple[str, Mapping[str, Any]]:
    """``kid`` and the protected header of a header segment, or ``registry.auth.invalid_signature``
    unless it is canonical base64url of a JSON object with ``alg``, ``typ`` :data:`TOKEN_TYPE`, a 64-hex
    ``kid``, no ``crit`` (and no ``b64`` but true: unencoded payloads, RFC 7797, are not request tokens)."""
    try:
        header = json.loads(b64url_decode(segment))
    except ValueError:
        raise SignatureInvalid("the signature token is not a compact JWS") from None
    if (
        not isinstance(header, dict)
        or "alg" not in header
        or ("b64" in header and header["b64"] is not True and "crit" not in header)
    ):
        raise SignatureInvalid("the signature token is not a compact JWS")
    kid = header.get("kid")
    if header.get("typ") != TOKEN_TYPE or not isinstance(kid, str) or not KID_PATTERN.fullmatch(kid):
        raise SignatureInvalid(f"the token header needs typ {TOKEN_TYPE!r} and a kid (SHA-256 hex)")
    if "crit" in header:
        raise SignatureInvalid("critical header parameters are not supported")
    return kid, MappingProxyType(header)


def _verify(key: PublicKey, signing_input: bytes, signature: bytes) -> None:
    """``InvalidSignature`` unless ``signature`` (JWS form: ES256 raw ``r‖s``, or Ed25519) verifies."""
    if len(signature) != SIGNATURE_SIZE:
        raise InvalidSignature
    if isinstance(key, ec.EllipticCurvePublicKey):
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:], "big")
        key.verify(encode_dss_signature(r, s), signing_input, _ES256)
    else:
        key.verify(signature, signing_input)
