"""The hub's own JWS verification (cryptography straight, no generic JOSE path): algorithm confusion, strict
base64url, forged and malformed signatures, the key cache against revocation and rotation, and every
single-byte change of a good token refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from renkei.registry.auth import (
    HEADER_CACHE,
    TOKEN_TYPE,
    RequestAuthenticator,
    b64url_decode,
    body_hash,
    sign_request,
)
from renkei.registry.ca import CertificateAuthority
from renkei.registry.errors import (
    AuthenticationError,
    CredentialRevoked,
    SignatureInvalid,
)
from renkei.registry.keys import generate_private_key, private_key_pem, public_key_pem, read_private_key
from renkei.registry.keystore import MemoryAuthorityStore
from renkei.registry.memory import MemoryRegistryRepository, MemoryReplayStore
from renkei.registry.models import KeyType
from renkei.registry.service import Enrolment, Registry
from renkei.spec.loader import load_spec
from renkei.spec.models import Spec
from renkei.storage.clock import FixedClock
from tests.registry.conftest import CHIYODA, T0

PATH = "/r1/JP/LG/131024/u06/income-certificate"
BODY = b'{"person_fugo":"AB12","fiscal_year":2025}'
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def claims_for(enrolment: Enrolment, jti: str = "abcdefghijklmnopq") -> dict[str, Any]:
    return {
        "htm": "POST",
        "htu": PATH,
        "bh": body_hash(BODY),
        "iat": int(T0.timestamp()),
        "jti": jti,
        "sub": str(enrolment.member.id),
        "aud": "JP",
    }


def jws_by_hand(header: dict[str, Any], claims: dict[str, Any], sign: Any) -> str:
    """A compact JWS built without any JOSE library: ``sign(signing_input) -> signature bytes``."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode('ascii')))}"


def es256(private_pem: bytes) -> Any:
    key = read_private_key(private_pem)
    assert isinstance(key, ec.EllipticCurvePrivateKey)

    def sign(data: bytes) -> bytes:
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    return sign


@pytest.fixture
def hub(registry: Registry, replays: MemoryReplayStore, clock: FixedClock) -> RequestAuthenticator:
    return RequestAuthenticator(registry, replays, clock)


def signed(enrolment: Enrolment, **kwargs: Any) -> str:
    return sign_request(
        enrolment.private_key_pem,
        enrolment.member.id,
        "POST",
        PATH,
        BODY,
        T0,
        certificate=enrolment.certificate_pem,
        **kwargs,
    )


def invalid(hub: RequestAuthenticator, token: str) -> SignatureInvalid:
    with pytest.raises(SignatureInvalid) as raised:
        hub.check(token, "POST", PATH, BODY)
    assert raised.value.code == "registry.auth.invalid_signature"
    return raised.value


def test_a_token_made_without_joserfc_is_accepted(chiyoda_tax: Enrolment, hub: RequestAuthenticator) -> None:
    """The verifier follows RFC 7515/7518, not one library: a by-hand ES256 token (raw r‖s) verifies."""
    header = {"typ": TOKEN_TYPE, "kid": chiyoda_tax.credential.kid, "alg": "ES256"}
    token = jws_by_hand(header, claims_for(chiyoda_tax), es256(chiyoda_tax.private_key_pem))
    assert hub.check(token, "POST", PATH, BODY).member == chiyoda_tax.member.id


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "HS256", "HS384", "HS512", "ES384", "ES512", "RS256",
                                 "PS256", "EdDSA", "Ed25519", "", None, 0, ["ES256"]])  # fmt: skip
def test_only_the_credential_s_algorithm_is_accepted(
    chiyoda_tax: Enrolment, hub: RequestAuthenticator, alg: object
) -> None:
    """The header's alg must equal the credential's (ES256 here): ``none``, HMAC and everything else are
    refused before any key is used, whatever the signature segment holds."""
    header = {"alg": alg, "typ": TOKEN_TYPE, "kid": chiyoda_tax.credential.kid}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims_for(chiyoda_tax)).encode())}"
    real = es256(chiyoda_tax.private_key_pem)(signing_input.encode())
    for signature in (b"", real, hmac.new(b"", signing_input.encode(), hashlib.sha256).digest()):
        invalid(hub, f"{signing_input}.{b64(signature)}")
        invalid(hub, f"{signing_input}.")


@pytest.mark.parametrize("digest", [hashlib.sha256, hashlib.sha384, hashlib.sha512])
def test_hmac_with_the_public_key_as_secret_is_refused(
    chiyoda_tax: Enrolment, hub: RequestAuthenticator, digest: Any
) -> None:
    alg = {"sha256": "HS256", "sha384": "HS384", "sha512": "HS512"}[digest().name]
    secret = chiyoda_tax.credential.public_key_pem.encode()
    for header in (
        {"alg": alg, "typ": TOKEN_TYPE, "kid": chiyoda_tax.credential.kid},
        # Even claiming ES256 in the header: an HMAC is not an ECDSA signature.
        {"alg": "ES256", "typ": TOKEN_TYPE, "kid": chiyoda_tax.credential.kid},
    ):
        token = jws_by_hand(header, claims_for(chiyoda_tax), lambda m: hmac.new(secret, m, digest).digest())
        invalid(hub, token)


def test_an_ed25519_credential_refuses_es256_and_the_reverse(
    chiyoda_tax: Enrolment, registry: Registry, hub: RequestAuthenticator
) -> None:
    key = generate_private_key(KeyType.ED25519)
    registry.register_credential(
        chiyoda_tax.member.id, public_key_pem(key.public_key()), not_after=T0 + timedelta(days=1)
    )
    good = sign_request(private_key_pem(key), chiyoda_tax.member.id, "POST", PATH, BODY, T0)
    assert hub.check(good, "POST", PATH, BODY).member == chiyoda_tax.member.id
    header, payload, signature = good.split(".")
    relabelled = json.loads(b64url_decode(header.encode()))
    relabelled["alg"] = "EdDSA"  # the pre-RFC 9864 name is not accepted
    invalid(hub, f"{b64(json.dumps(relabelled).encode())}.{payload}.{signature}")
    # The P-256 credential's kid with an Ed25519 signature and alg: refused as the wrong algorithm.
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    header_es = {"alg": "Ed25519", "typ": TOKEN_TYPE, "kid": chiyoda_tax.credential.kid}
    invalid(hub, jws_by_hand(header_es, claims_for(chiyoda_tax), key.sign))


def test_a_signature_of_the_right_length_but_wrong_value_is_refused(
    chiyoda_tax: Enrolment, hub: RequestAuthenticator
) -> None:
    header, payload, signature = signed(chiyoda_tax).split(".")
    raw = b64url_decode(signature.encode())
    r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
    forged = [
        bytes(64),  # r = s = 0
        b"\xff" * 64,  # r, s above the group order
        P256_ORDER.to_bytes(32, "big") + raw[32:],  # r = n
        raw[:32] + (s + 1).to_bytes(32, "big") if s + 1 < 2**256 else raw[:32] + bytes(32),
        raw[32:] + raw[:32],  # r and s swapped
        ((r + P256_ORDER) % 2**256).to_bytes(32, "big") + raw[32:],
        es256(chiyoda_tax.private_key_pem)(b"another message"),  # a real signature of something else
    ]
    for sig in forged:
        assert len(sig) == 64
        invalid(hub, f"{header}.{payload}.{b64(sig)}")
    # Wrong lengths: DER instead of r‖s, one byte short or long, empty.
    der = read_private_key(chiyoda_tax.private_key_pem)
    assert isinstance(der, ec.EllipticCurvePrivateKey)
    signing_input = f"{header}.{payload}".encode()
    for sig in (der.sign(signing_input, ec.ECDSA(hashes.SHA256())), raw[:63], raw + b"\0", b""):
        invalid(hub, f"{header}.{payload}.{b64(sig)}")


def _noncanonical(segment: str) -> list[str]:
    """Other spellings of the same bytes a lenient decoder would take: padding, the standard alphabet,
    non-zero trailing bits, embedded whitespace."""
    out = [
        segment + "=" * (-len(segment) % 4 or 4),
        segment + "\n",
        " " + segment,
        segment[:5] + "\n" + segment[5:],
    ]
    out.append(segment.replace("-", "+").replace("_", "/"))
    if len(segment) % 4:  # a partial last quantum: its unused low bits must be zero
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        last = alphabet.index(segment[-1])
        unused = {2: 4, 3: 2}[len(segment) % 4]
        out += [segment[:-1] + alphabet[last | bit] for bit in range(1, 2**unused) if last | bit != last]
    return [o for o in out if o != segment]


def test_non_canonical_base64url_is_refused_in_every_segment(
    chiyoda_tax: Enrolment, hub: RequestAuthenticator
) -> None:
    token = signed(chiyoda_tax)
    parts = token.split(".")
    assert hub.check(token, "POST", PATH, BODY)
    tried = 0
    for index in range(3):
        for spelling in _noncanonical(parts[index]):
            mutated = list(parts)
            mutated[index] = spelling
            invalid(hub, ".".join(mutated))
            tried += 1
    assert tried >= 12


def test_a_non_canonical_segment_is_refused_even_when_signed_as_sent(
    chiyoda_tax: Enrolment, hub: RequestAuthenticator
) -> None:
    """Not only a signature broken by respelling: a client that signs a non-canonical header or payload
    spelling (padding, set trailing bits …) is refused too, as joserfc refused it."""
    header, payload, _ = signed(chiyoda_tax).split(".")
    sign = es256(chiyoda_tax.private_key_pem)
    tried = 0
    for index, segment in ((0, header), (1, payload)):
        for spelling in _noncanonical(segment):
            parts = [header, payload]
            parts[index] = spelling
            signing_input = ".".join(parts)
            invalid(hub, f"{signing_input}.{b64(sign(signing_input.encode('ascii')))}")
            tried += 1
    assert tried >= 6


def test_b64url_decode_accepts_exactly_one_spelling() -> None:
    assert b64url_decode(b"") == b""
    assert b64url_decode(b"_-8") == b"\xff\xef"
    # "AB": 'B' sets an unused trailing bit ("AA" is the spelling of b"\0"); "A": half a byte.
    for bad in (b"A", b"AA=", b"AA==", b"AB", b"+/8", b"AA\n", b"A A", b"\xff\xff"):
        with pytest.raises(ValueError, match="not canonical base64url"):
            b64url_decode(bad)


@given(st.binary(max_size=200))
def test_b64url_round_trips(data: bytes) -> None:
    assert b64url_decode(b64(data).encode()) == data


@given(st.binary(max_size=40))
def test_whatever_decodes_is_the_canonical_spelling(text: bytes) -> None:
    try:
        decoded = b64url_decode(text)
    except ValueError:
        return
    assert b64(decoded).encode() == text


@pytest.mark.parametrize(
    "shape",
    [
        "{t}.e30",  # a fourth segment
        "{t}..",  # five, JWE-like
        "{h}.{p}",  # two
        "{h}..{s}",  # detached payload
        "{h}.{p}.{s}.",  # trailing dot
        ".{t}",
        "{t} ",
        "{h}.{p}.{s}{s}",
    ],
)
def test_a_jws_with_other_segments_is_refused(
    chiyoda_tax: Enrolment, hub: RequestAuthenticator, shape: str
) -> None:
    token = signed(chiyoda_tax)
    header, payload, signature = token.split(".")
    invalid(hub, shape.format(t=token, h=header, p=payload, s=signature))


@pytest.mark.parametrize(
    ("extra", "accepted"),
    [
        ({"cty": "json"}, True),  # registered header parameters, rightly typed, are ignored as before
        ({"b64": True}, True),
        ({"x5t#S256": "abc"}, True),
        ({"b64": False}, False),  # RFC 7797 unencoded payload
        ({"b64": False, "crit": ["b64"]}, False),
        ({"crit": ["exp"], "exp": 1}, False),
        ({"x5c": 5}, False),  # registered but mistyped
        ({"jku": "not a url"}, False),
        ({"nonsense": 1}, False),  # not a registered header parameter
        ({"pad": "x" * 400}, False),  # header over 512 characters
    ],
)
def test_header_parameters_beyond_alg_typ_kid(
    chiyoda_tax: Enrolment, hub: RequestAuthenticator, extra: dict[str, Any], accepted: bool
) -> None:
    header = {"alg": "ES256", "typ": TOKEN_TYPE, "kid": chiyoda_tax.credential.kid, **extra}
    token = jws_by_hand(header, claims_for(chiyoda_tax), es256(chiyoda_tax.private_key_pem))
    if accepted:
        assert hub.check(token, "POST", PATH, BODY).member == chiyoda_tax.member.id
    else:
        invalid(hub, token)


@pytest.mark.parametrize("header", [b"[]", b'"alg"', b"null", b"{", b'{"alg":"ES256"}', b"\xef\xbb\xbf{}"])
def test_a_header_that_is_not_a_request_header_is_refused(
    chiyoda_tax: Enrolment, hub: RequestAuthenticator, header: bytes
) -> None:
    _, payload, signature = signed(chiyoda_tax).split(".")
    invalid(hub, f"{b64(header)}.{payload}.{signature}")


def test_a_resigned_high_s_twin_is_still_a_replay(chiyoda_tax: Enrolment, hub: RequestAuthenticator) -> None:
    """ECDSA lets anyone turn (r, s) into (r, n − s) without the key; the twin carries the same jti, so once
    the original is claimed, the twin is a replay."""
    token = signed(chiyoda_tax)
    header, payload, signature = token.split(".")
    raw = b64url_decode(signature.encode())
    s = int.from_bytes(raw[32:], "big")
    twin = f"{header}.{payload}.{b64(raw[:32] + (P256_ORDER - s).to_bytes(32, 'big'))}"
    hub.authenticate(token, "POST", PATH, BODY)
    with pytest.raises(AuthenticationError) as raised:
        hub.authenticate(twin, "POST", PATH, BODY)
    assert raised.value.code == "registry.auth.replayed"


# --- the key cache: never stale for revocation, rotation or another key under a known PEM -------------


def test_revocation_applies_to_a_key_already_cached(
    chiyoda_tax: Enrolment, registry: Registry, hub: RequestAuthenticator
) -> None:
    assert hub.check(signed(chiyoda_tax), "POST", PATH, BODY)  # the key is now cached
    registry.revoke(chiyoda_tax.credential.kid, "key-compromise")
    with pytest.raises(CredentialRevoked):
        hub.check(signed(chiyoda_tax), "POST", PATH, BODY)


def test_revocation_by_another_process_applies_within_the_registry_cache_ttl(
    spec: Spec, clock: FixedClock, authority: CertificateAuthority
) -> None:
    """The hub's registry and the administrator's (another process: another Registry on the same
    storage). The key cache adds nothing to the registry's staleness bound (cache_ttl)."""
    repository = MemoryRegistryRepository()
    registry = Registry(spec, repository, clock, authority=authority)
    registry.add_organisation("LG", CHIYODA, "千代田区")
    chiyoda_tax = registry.enrol(f"JP/LG/{CHIYODA}", 6)
    ttl = 0.3
    hub_registry = Registry(spec, repository, clock, cache_ttl=ttl)
    hub = RequestAuthenticator(hub_registry, MemoryReplayStore(), clock)
    assert hub.check(signed(chiyoda_tax), "POST", PATH, BODY)
    revoked_at = time.monotonic()
    registry.revoke(chiyoda_tax.credential.kid, "key-compromise")
    deadline = revoked_at + ttl + 0.2
    while True:
        try:
            hub.check(signed(chiyoda_tax), "POST", PATH, BODY)
        except CredentialRevoked:
            break
        assert time.monotonic() < deadline, "still accepted after the registry's cache TTL"
        time.sleep(0.02)


def test_rotation_new_key_verifies_old_key_stops_once_revoked(
    chiyoda_tax: Enrolment, registry: Registry, hub: RequestAuthenticator
) -> None:
    old = signed(chiyoda_tax)
    assert hub.check(old, "POST", PATH, BODY)
    renewed = registry.renew(chiyoda_tax.member.id)
    assert renewed.credential.kid != chiyoda_tax.credential.kid
    new = signed(renewed)
    assert hub.check(new, "POST", PATH, BODY).kid == renewed.credential.kid
    assert hub.check(signed(chiyoda_tax), "POST", PATH, BODY), "the old one stays valid until revoked"
    registry.revoke(chiyoda_tax.credential.kid, "superseded")
    with pytest.raises(CredentialRevoked):
        hub.check(signed(chiyoda_tax), "POST", PATH, BODY)
    assert hub.check(signed(renewed), "POST", PATH, BODY).kid == renewed.credential.kid
    # The old key cannot sign under the new kid (same algorithm): the cached keys are per credential PEM.
    forged = sign_request(
        chiyoda_tax.private_key_pem, chiyoda_tax.member.id, "POST", PATH, BODY, T0,
        certificate=renewed.certificate_pem,
    )  # fmt: skip
    invalid(hub, forged)


def test_each_authenticator_keeps_a_bounded_header_cache(
    chiyoda_tax: Enrolment, registry: Registry, clock: FixedClock
) -> None:
    """Refused headers are not kept, well-formed ones (any kid) at most HEADER_CACHE of them: a flood of
    made-up kids empties the cache, after which the member's own header is parsed and kept again."""
    hub = RequestAuthenticator(registry, MemoryReplayStore(), clock)
    _, payload, signature = signed(chiyoda_tax).split(".")
    for i in range(HEADER_CACHE + 50):
        header = {"alg": "ES256", "typ": TOKEN_TYPE, "kid": f"{i:064x}"}
        with pytest.raises(AuthenticationError):
            hub.check(f"{b64(json.dumps(header).encode())}.{payload}.{signature}", "POST", PATH, BODY)
        with pytest.raises(AuthenticationError):
            hub.check(f"{b64(b'garbage')}{i}.{payload}.{signature}", "POST", PATH, BODY)
        assert len(hub._headers) <= HEADER_CACHE
    assert len(hub._headers) == 50, "emptied once when full; the garbage never kept"
    assert hub.check(signed(chiyoda_tax), "POST", PATH, BODY)
    assert len(hub._headers) == 51


# --- every single-byte change of a good token is refused ---------------------------------------------


@pytest.fixture(scope="module")
def good_tokens() -> tuple[Registry, dict[KeyType, str]]:
    clock = FixedClock(T0)
    registry = Registry(
        load_spec(),
        MemoryRegistryRepository(),
        clock,
        authority=CertificateAuthority(MemoryAuthorityStore(), clock),
    )
    registry.add_organisation("LG", CHIYODA, "千代田区")
    tokens = {}
    for unit, key_type in ((6, KeyType.P256), (17, KeyType.ED25519)):
        enrolment = registry.enrol(f"JP/LG/{CHIYODA}", unit, key_type=key_type)
        tokens[key_type] = signed(enrolment)
    return registry, tokens


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    key_type=st.sampled_from([KeyType.P256, KeyType.ED25519]),
    position=st.floats(min_value=0, max_value=1, exclude_max=True),
    replacement=st.integers(min_value=0, max_value=255),
)
def test_every_single_byte_change_is_refused(
    good_tokens: tuple[Registry, dict[KeyType, str]], key_type: KeyType, position: float, replacement: int
) -> None:
    registry, tokens = good_tokens
    hub = RequestAuthenticator(registry, MemoryReplayStore(), FixedClock(T0))
    token = tokens[key_type].encode("ascii")
    assert hub.check(token.decode(), "POST", PATH, BODY)
    index = int(position * len(token))
    if token[index] == replacement:
        replacement = (replacement + 1) % 256
    mutated = (token[:index] + bytes([replacement]) + token[index + 1 :]).decode("latin-1")
    with pytest.raises(AuthenticationError):
        hub.check(mutated, "POST", PATH, BODY)


@pytest.mark.parametrize("key_type", [KeyType.P256, KeyType.ED25519])
def test_every_position_and_every_truncation_exhaustively(
    good_tokens: tuple[Registry, dict[KeyType, str]], key_type: KeyType
) -> None:
    """Each position once with its lowest bit flipped (the change lenient decoders forgive in a last
    character), once with its highest, once made a '.'; then every prefix of the token."""
    registry, tokens = good_tokens
    hub = RequestAuthenticator(registry, MemoryReplayStore(), FixedClock(T0))
    token = tokens[key_type]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    refused = 0
    for index, original in enumerate(token):
        if original == ".":
            changes = ["A", "-"]
        else:
            value = alphabet.index(original)
            changes = [alphabet[value ^ 1], alphabet[value ^ 32], "."]
        for char in changes:
            with pytest.raises(AuthenticationError):
                hub.check(token[:index] + char + token[index + 1 :], "POST", PATH, BODY)
            refused += 1
    assert refused == 3 * len(token) - 2
    for cut in range(len(token)):
        with pytest.raises(AuthenticationError):
            hub.check(token[:cut], "POST", PATH, BODY)
