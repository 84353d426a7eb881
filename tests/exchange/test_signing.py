"""The hub's signature to member systems: a key per member, derived from the deployment's hub key."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from renkei.exchange.signing import HUB_SIGNATURE_HEADER, HubSigner, member_hub_key, verify_hub_signature

MASTER = bytes(range(32))
members = st.from_regex(r"JP/(LG|GOV|COM)/[0-9]{6,13}/u[0-9]{2}", fullmatch=True)


def rfc5869(ikm: bytes, info: bytes, length: int = 32) -> bytes:
    """HKDF-SHA-256 (RFC 5869) written out with the standard library: no salt = 32 zero bytes."""
    prk = hmac.new(bytes(32), ikm, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out, counter = out + block, counter + 1
    return out[:length]


@given(members)
def test_a_member_key_is_hkdf_sha256_of_the_hub_key_and_the_member_id(member: str) -> None:
    expected = rfc5869(MASTER, b"renkei-hub-v2 member\n" + member.encode())
    assert member_hub_key(MASTER, member) == expected
    assert HubSigner(MASTER).key_for(member) == expected


def test_the_known_answer() -> None:
    # Fixed here: a change of derivation would strand every member's key, so it must not pass quietly.
    expected = "5e90c412753c8f8e5ba53de3f16ec2df5bc690e854ab8a5fb449ebc695d3b5c0"
    assert member_hub_key(MASTER, "JP/LG/131024/u06").hex() == expected


@given(members, members, st.binary(max_size=256))
def test_what_the_hub_signs_for_one_member_verifies_with_that_members_key_only(
    recipient: str, other: str, body: bytes
) -> None:
    assume(recipient != other)
    signer = HubSigner(MASTER)
    value = signer.sign(
        "POST", "/api/x", 1_700_000_000, "m-1", "JP/LG/131016/u17", "s", body, recipient=recipient
    )
    headers = {
        HUB_SIGNATURE_HEADER: value,
        "X-Road-Id": "m-1",
        "X-Road-Client": "JP/LG/131016/u17",
        "X-Road-Service": "s",
    }

    def verifies(key: bytes) -> bool:
        return verify_hub_signature(key, headers, "POST", "/api/x", body, 1_700_000_010)

    assert verifies(member_hub_key(MASTER, recipient))
    assert not verifies(member_hub_key(MASTER, other))  # another member's key: no
    assert not verifies(MASTER)  # the deployment's own key is never what a member checks with
    assert not verifies(member_hub_key(bytes(32), recipient))  # another deployment's


def test_a_short_hub_key_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        member_hub_key(bytes(31), "JP/LG/131024/u06")
    with pytest.raises(ValueError, match="32 bytes"):
        HubSigner(bytes(31))


def test_a_version_1_signature_is_not_taken() -> None:
    # v1 was one key for every member; a v1 header (even with the right MAC bytes) no longer verifies.
    headers = {"X-Road-Id": "m", "X-Road-Client": "c", "X-Road-Service": "s"}
    value = HubSigner(MASTER).sign("POST", "/p", 100, "m", "c", "s", b"", recipient="JP/LG/131024/u06")
    assert value.startswith("t=100,v2=")
    key = member_hub_key(MASTER, "JP/LG/131024/u06")
    assert verify_hub_signature(key, {**headers, HUB_SIGNATURE_HEADER: value}, "POST", "/p", b"", 100)
    old = value.replace(",v2=", ",v1=")
    assert not verify_hub_signature(key, {**headers, HUB_SIGNATURE_HEADER: old}, "POST", "/p", b"", 100)
