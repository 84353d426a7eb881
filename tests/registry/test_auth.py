"""Request signatures: sign → authenticate round trip; every kind of bad request refused with its code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jws
from joserfc.jwk import ECKey

from renkei.registry.auth import (
    TOKEN_TYPE,
    RequestAuthenticator,
    body_hash,
    request_target,
    sign_request,
)
from renkei.registry.errors import (
    AuthenticationError,
    CredentialRevoked,
    RequestAltered,
    RequestReplayed,
    SignatureExpired,
    SignatureInvalid,
    SignatureMissing,
    SignerUnknown,
)
from renkei.registry.keys import generate_private_key, private_key_pem, public_key_pem
from renkei.registry.memory import MemoryReplayStore
from renkei.registry.models import KeyType
from renkei.registry.service import Enrolment, Registry
from renkei.storage.clock import FixedClock
from tests.registry.conftest import T0

PATH = "/r1/JP/LG/131024/u06/income-certificate"
BODY = b'{"person_fugo":"AB12","fiscal_year":2025}'


@pytest.fixture
def hub(registry: Registry, replays: MemoryReplayStore, clock: FixedClock) -> RequestAuthenticator:
    return RequestAuthenticator(registry, replays, clock)


def signed(
    enrolment: Enrolment,
    *,
    method: str = "POST",
    path: str = PATH,
    body: bytes = BODY,
    now: datetime = T0,
    audience: str = "JP",
    jti: str | None = None,
) -> str:
    """A token as the member system's client would make it."""
    return sign_request(
        enrolment.private_key_pem,
        enrolment.member.id,
        method,
        path,
        body,
        now,
        certificate=enrolment.certificate_pem,
        audience=audience,
        jti=jti,
    )


def refused(
    hub: RequestAuthenticator,
    token: str | None,
    *,
    method: str = "POST",
    path: str = PATH,
    body: bytes = BODY,
) -> AuthenticationError:
    with pytest.raises(AuthenticationError) as raised:
        hub.authenticate(token, method, path, body)
    assert raised.value.http_status in (401, 403)
    return raised.value


def test_a_signed_request_names_its_member(chiyoda_tax: Enrolment, hub: RequestAuthenticator) -> None:
    assert hub.authenticate(signed(chiyoda_tax), "POST", PATH, BODY) == chiyoda_tax.member.id


def test_the_evidence_carries_kid_jti_and_time(chiyoda_tax: Enrolment, hub: RequestAuthenticator) -> None:
    token = signed(chiyoda_tax, jti="fixed-nonce-0000001")
    evidence = hub.verify(token, "post", PATH, BODY)
    assert evidence.kid == chiyoda_tax.credential.kid
    assert evidence.jti == "fixed-nonce-0000001"
    assert evidence.issued_at == T0
    assert evidence.token == token


def test_the_token_is_a_compact_jws_with_the_documented_claims(chiyoda_tax: Enrolment) -> None:
    token = signed(chiyoda_tax, jti="abcdefghijklmnop")
    header_b64, payload_b64, _ = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    payload = json.loads(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))
    assert header == {"alg": "ES256", "typ": TOKEN_TYPE, "kid": chiyoda_tax.credential.kid}
    assert payload == {
        "aud": "JP",
        "bh": body_hash(BODY),
        "htm": "POST",
        "htu": PATH,
        "iat": int(T0.timestamp()),
        "jti": "abcdefghijklmnop",
        "sub": "JP/LG/131016/u06",
    }
    assert body_hash(b"") == "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"


def test_an_unsigned_request_is_refused(hub: RequestAuthenticator) -> None:
    assert isinstance(refused(hub, None), SignatureMissing)
    assert refused(hub, "").code == "registry.auth.missing"


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "x" * 9000, "ｅｙ.a.b"])
def test_garbage_is_an_invalid_signature(hub: RequestAuthenticator, token: str) -> None:
    assert isinstance(refused(hub, token), SignatureInvalid)


@pytest.mark.parametrize(
    ("field", "request_"),
    [
        ("htm", {"method": "PUT"}),
        ("htu", {"path": PATH + "?x=1"}),
        ("htu", {"path": "/r1/JP/LG/131024/u06/mailing-address-inquiry"}),
        ("bh", {"body": BODY + b" "}),
        ("bh", {"body": b""}),
    ],
)
def test_an_altered_request_is_refused(
    chiyoda_tax: Enrolment, hub: RequestAuthenticator, field: str, request_: dict[str, object]
) -> None:
    error = refused(hub, signed(chiyoda_tax), **request_)  # type: ignore[arg-type]
    assert isinstance(error, RequestAltered)
    assert error.code == "registry.auth.altered"
    assert error.detail["claims"] == [field]


def test_a_token_for_another_hub_is_refused(chiyoda_tax: Enrolment, hub: RequestAuthenticator) -> None:
    error = refused(hub, signed(chiyoda_tax, audience="JP-TEST"))
    assert isinstance(error, RequestAltered)
    assert error.detail["claims"] == ["aud"]


def test_a_tampered_payload_breaks_the_signature(chiyoda_tax: Enrolment, hub: RequestAuthenticator) -> None:
    header, payload, signature = signed(chiyoda_tax).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["htu"] = "/elsewhere"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    assert isinstance(refused(hub, f"{header}.{forged}.{signature}", path="/elsewhere"), SignatureInvalid)


@pytest.mark.parametrize(("offset", "reason"), [(-301, "too_old"), (301, "future"), (-3600 * 24, "too_old")])
def test_old_and_future_dated_requests_are_refused(
    chiyoda_tax: Enrolment, hub: RequestAuthenticator, offset: int, reason: str
) -> None:
    error = refused(hub, signed(chiyoda_tax, now=T0 + timedelta(seconds=offset)))
    assert isinstance(error, SignatureExpired)
    assert error.detail["reason"] == reason


@pytest.mark.parametrize("offset", [-300, 300, 0])
def test_the_window_edges_are_accepted(
    chiyoda_tax: Enrolment, hub: RequestAuthenticator, offset: int
) -> None:
    hub.authenticate(signed(chiyoda_tax, now=T0 + timedelta(seconds=offset)), "POST", PATH, BODY)


def test_the_window_is_configurable(
    chiyoda_tax: Enrolment, registry: Registry, replays: MemoryReplayStore, clock: FixedClock
) -> None:
    strict = RequestAuthenticator(registry, replays, clock, window=timedelta(seconds=30))
    assert isinstance(refused(strict, signed(chiyoda_tax, now=T0 - timedelta(seconds=31))), SignatureExpired)


def test_a_request_is_accepted_once(
    chiyoda_tax: Enrolment, hub: RequestAuthenticator, clock: FixedClock
) -> None:
    token = signed(chiyoda_tax)
    hub.authenticate(token, "POST", PATH, BODY)
    assert isinstance(refused(hub, token), RequestReplayed)
    clock.advance(timedelta(seconds=200))
    assert isinstance(refused(hub, token), RequestReplayed)
    clock.advance(timedelta(seconds=101))
    assert isinstance(refused(hub, token), SignatureExpired), "once too old, the window refuses it anyway"


def test_the_same_jti_in_a_new_token_is_a_replay(chiyoda_tax: Enrolment, hub: RequestAuthenticator) -> None:
    hub.authenticate(signed(chiyoda_tax, jti="nonce-nonce-nonce-1"), "POST", PATH, BODY)
    again = signed(chiyoda_tax, jti="nonce-nonce-nonce-1", path="/other")
    assert isinstance(refused(hub, again, path="/other"), RequestReplayed)


def test_a_refused_request_does_not_use_up_its_nonce(
    chiyoda_tax: Enrolment, hub: RequestAuthenticator
) -> None:
    token = signed(chiyoda_tax)
    refused(hub, token, body=b"altered")
    hub.authenticate(token, "POST", PATH, BODY)


def test_a_revoked_credential_is_refused(
    chiyoda_tax: Enrolment, hub: RequestAuthenticator, registry: Registry
) -> None:
    registry.revoke(chiyoda_tax.credential.kid, "key-compromise")
    error = refused(hub, signed(chiyoda_tax))
    assert isinstance(error, CredentialRevoked)
    assert error.http_status == 403


def test_an_expired_credential_is_refused(
    chiyoda_tax: Enrolment, hub: RequestAuthenticator, clock: FixedClock
) -> None:
    later = clock.advance(timedelta(days=366))
    error = refused(hub, signed(chiyoda_tax, now=later))
    assert isinstance(error, SignatureExpired)
    assert error.detail["reason"] == "credential"


def test_a_key_that_is_not_registered_is_refused(chiyoda_tax: Enrolment, hub: RequestAuthenticator) -> None:
    stranger = generate_private_key(KeyType.P256)
    # The member's certificate as kid, but another key: the signature does not verify.
    wrong = sign_request(
        stranger, chiyoda_tax.member.id, "POST", PATH, BODY, T0, certificate=chiyoda_tax.certificate_pem
    )
    assert isinstance(refused(hub, wrong), SignatureInvalid)
    # No certificate: kid is the stranger's key fingerprint, which nobody registered.
    unknown = sign_request(stranger, chiyoda_tax.member.id, "POST", PATH, BODY, T0)
    assert isinstance(refused(hub, unknown), SignerUnknown)


def test_another_member_s_key_cannot_speak_for_this_member(
    chiyoda_tax: Enrolment, registry: Registry, hub: RequestAuthenticator
) -> None:
    registry.add_organisation("LG", "131024", "中央区")
    chuo = registry.enrol("JP/LG/131024", 17)
    token = sign_request(
        chuo.private_key_pem, chiyoda_tax.member.id, "POST", PATH, BODY, T0, certificate=chuo.certificate_pem
    )
    assert isinstance(refused(hub, token), SignatureInvalid)


def test_the_algorithm_is_the_credential_s(chiyoda_tax: Enrolment, hub: RequestAuthenticator) -> None:
    claims = {
        "htm": "POST",
        "htu": PATH,
        "bh": body_hash(BODY),
        "iat": int(T0.timestamp()),
        "jti": "abcdefghijklmnopq",
        "sub": str(chiyoda_tax.member.id),
        "aud": "JP",
    }
    header = {"alg": "HS256", "typ": TOKEN_TYPE, "kid": chiyoda_tax.credential.kid}
    # An HMAC "signed" with the public key as secret: the classic algorithm confusion.
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    secret = chiyoda_tax.credential.public_key_pem.encode()
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    assert isinstance(refused(hub, f"{signing_input}.{b64(mac)}"), SignatureInvalid)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def test_claims_must_be_present_and_typed(chiyoda_tax: Enrolment, hub: RequestAuthenticator) -> None:
    key = ECKey.import_key(chiyoda_tax.private_key_pem)
    header = {"alg": "ES256", "typ": TOKEN_TYPE, "kid": chiyoda_tax.credential.kid}
    claims: dict[str, object] = {
        "htm": "POST",
        "htu": PATH,
        "bh": body_hash(BODY),
        "iat": str(int(T0.timestamp())),
        "jti": "abcdefghijklmnopq",
        "sub": str(chiyoda_tax.member.id),
        "aud": "JP",
    }
    token = jws.serialize_compact(header, json.dumps(claims).encode(), key)
    assert isinstance(refused(hub, token), SignatureInvalid)
    claims["iat"] = int(T0.timestamp())
    claims["jti"] = "short"
    token = jws.serialize_compact(header, json.dumps(claims).encode(), key)
    assert isinstance(refused(hub, token), SignatureInvalid)
    untyped = jws.serialize_compact({"alg": "ES256", "kid": chiyoda_tax.credential.kid}, b"{}", key)
    assert isinstance(refused(hub, untyped), SignatureInvalid)


def test_a_bare_key_member_signs_without_a_certificate(
    chiyoda_tax: Enrolment, registry: Registry, hub: RequestAuthenticator
) -> None:
    key = generate_private_key(KeyType.ED25519)
    registry.register_credential(
        chiyoda_tax.member.id, public_key_pem(key.public_key()), not_after=T0 + timedelta(days=1)
    )
    token = sign_request(private_key_pem(key), chiyoda_tax.member.id, "GET", "/r1/x?y=1", b"", T0)
    assert hub.authenticate(token, "GET", "/r1/x?y=1", b"") == chiyoda_tax.member.id


def test_the_hub_reads_the_target_as_sent() -> None:
    assert request_target(b"/r1/JP/a%2Fb", b"q=%E5%8D%83") == "/r1/JP/a%2Fb?q=%E5%8D%83"
    assert request_target("/r1/x", "") == "/r1/x"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    path=st.from_regex(r"/[A-Za-z0-9/%._~-]{0,60}(\?[A-Za-z0-9=&%._~-]{1,40})?", fullmatch=True),
    body=st.binary(max_size=2048),
    skew=st.integers(min_value=-300, max_value=300),
)
def test_sign_then_authenticate_round_trips(
    chiyoda_tax: Enrolment,
    registry: Registry,
    clock: FixedClock,
    method: str,
    path: str,
    body: bytes,
    skew: int,
) -> None:
    hub = RequestAuthenticator(registry, MemoryReplayStore(), clock)
    token = signed(chiyoda_tax, method=method, path=path, body=body, now=T0 + timedelta(seconds=skew))
    assert hub.authenticate(token, method, path, body) == chiyoda_tax.member.id
    with pytest.raises(RequestReplayed):
        hub.authenticate(token, method, path, body)
    with pytest.raises(RequestAltered):
        RequestAuthenticator(registry, MemoryReplayStore(), clock).authenticate(
            token, method, path, body + b"x"
        )
