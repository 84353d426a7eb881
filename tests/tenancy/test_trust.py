"""Trust lists: what an operator imports is what the peer's CA signed, fresh, from the CA they were told;
anything else is refused with a typed error and nothing is stored."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from renkei.registry.ca import CertificateAuthority
from renkei.registry.identifiers import MemberId, OrganisationId
from renkei.registry.keystore import MemoryAuthorityStore
from renkei.registry.models import KeyType
from renkei.spec.models import Spec
from renkei.storage.clock import FixedClock
from renkei.tenancy.errors import (
    PeerConflict,
    TrustExpired,
    TrustFingerprintMismatch,
    TrustListInvalid,
    TrustSignatureInvalid,
)
from renkei.tenancy.federation import Federation
from renkei.tenancy.trust import FORMAT, MAX_BYTES, canonical
from tests.tenancy.conftest import enrol
from tests.tenancy.harness import CHIYODA, CHUO, Site, build_site

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def fixed() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def pair(
    tmp_path: Path, spec: Spec, fixed: FixedClock, database: Callable[[], str | None]
) -> Iterator[tuple[Site, Site]]:
    """DC1 and DC2 with their registries, not linked yet, on a frozen clock."""
    dc1 = build_site("DC1", tmp_path, spec, fixed, database_url=database())
    try:
        dc2 = build_site("DC2", tmp_path, spec, fixed, database_url=database())
        try:
            enrol(dc1, CHIYODA, "千代田区", 17)
            enrol(dc2, CHUO, "中央区", 6, 10)
            yield dc1, dc2
        finally:
            dc2.close()
    finally:
        dc1.close()


def edited(document: bytes, change: Callable[[dict[str, Any]], None]) -> bytes:
    parsed = json.loads(document)
    change(parsed)
    return json.dumps(parsed, ensure_ascii=False).encode("utf-8")


def test_an_exported_list_is_trusted_as_exported(pair: tuple[Site, Site]) -> None:
    dc1, dc2 = pair
    document = dc2.federation.export_trust_list()
    shown = json.loads(document)
    assert shown["format"] == FORMAT
    assert shown["deployment"] == "DC2"
    assert shown["hub_url"] == dc2.hub_url
    assert shown["organisations"] == ["JP/LG/131024"]
    assert shown["members"] == ["JP/LG/131024/u06", "JP/LG/131024/u10"]
    assert shown["issued_at"] == "2026-04-01T09:00:00Z"
    assert shown["expires_at"] == "2026-05-01T09:00:00Z"
    assert shown["signature"]["algorithm"] == "ecdsa-p256-sha256"
    # Re-indenting (an editor, a mail client) does not change what was signed.
    flat = json.dumps(shown, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    peer = dc1.federation.trust(flat, expect_fingerprint=dc2.federation.ca_fingerprint().upper())
    assert peer.deployment == "DC2"
    assert peer.hub_url == dc2.hub_url
    assert peer.ca_fingerprint == dc2.federation.ca_fingerprint()
    assert peer.organisations == (OrganisationId.parse("JP/LG/131024"),)
    assert peer.members == (MemberId.parse("JP/LG/131024/u06"), MemberId.parse("JP/LG/131024/u10"))
    assert dc1.federation.peers() == [peer]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda d: d.update(hub_url="https://evil.example:443"), id="hub_url"),
        pytest.param(lambda d: d["members"].append("JP/LG/131016/u17"), id="member-added"),
        pytest.param(lambda d: d["organisations"].clear(), id="organisations-removed"),
        pytest.param(lambda d: d.update(deployment="DC9"), id="deployment"),
        pytest.param(lambda d: d.update(expires_at="2036-05-01T09:00:00Z"), id="expires_at"),
        pytest.param(lambda d: d.update(issued_at="2026-04-02T09:00:00Z"), id="issued_at"),
        pytest.param(lambda d: d["signature"].update(value=d["signature"]["value"][::-1]), id="signature"),
        pytest.param(lambda d: d["signature"].update(value="!!not base64!!"), id="signature-text"),
        pytest.param(lambda d: d["signature"].update(algorithm="ed25519"), id="algorithm"),
    ],
)
def test_a_tampered_list_is_refused_and_nothing_is_stored(
    pair: tuple[Site, Site], change: Callable[[dict[str, Any]], None]
) -> None:
    dc1, dc2 = pair
    with pytest.raises(TrustSignatureInvalid) as refused:
        dc1.federation.trust(edited(dc2.federation.export_trust_list(), change))
    assert refused.value.code == "tenancy.trust.signature_invalid"
    assert dc1.federation.peers() == []


def test_another_ca_is_caught_by_the_signature_or_the_fingerprint(
    pair: tuple[Site, Site], fixed: FixedClock
) -> None:
    dc1, dc2 = pair
    genuine = dc2.federation.export_trust_list()
    impostor = CertificateAuthority(MemoryAuthorityStore(), fixed, name="renkei DC2 CA")
    swapped = edited(genuine, lambda d: d.update(ca_certificate=impostor.certificate_pem().decode()))
    with pytest.raises(TrustSignatureInvalid):
        dc1.federation.trust(swapped)
    # An impostor who re-signs with its own CA passes the signature: the fingerprint is what stops it.
    forged = Federation(dc2.peers, dc2.registry, impostor, fixed).export_trust_list()
    with pytest.raises(TrustFingerprintMismatch):
        dc1.federation.trust(forged, expect_fingerprint=dc2.federation.ca_fingerprint())
    # And once DC2 is trusted, a list from another CA never replaces it.
    dc1.federation.trust(genuine, expect_fingerprint=dc2.federation.ca_fingerprint())
    with pytest.raises(TrustFingerprintMismatch):
        dc1.federation.trust(forged)
    assert dc1.federation.peer("DC2").ca_fingerprint == dc2.federation.ca_fingerprint()


def test_an_expired_list_or_ca_is_refused(pair: tuple[Site, Site], fixed: FixedClock, spec: Spec) -> None:
    dc1, dc2 = pair
    document = dc2.federation.export_trust_list(validity=timedelta(days=2))
    fixed.advance(timedelta(days=3))
    with pytest.raises(TrustExpired) as expired:
        dc1.federation.trust(document)
    assert expired.value.detail["reason"] == "trust_list"
    short = CertificateAuthority(MemoryAuthorityStore(), fixed, root_validity=timedelta(days=1))
    dc9 = Federation(dc2.peers, dc2.registry, short, fixed)
    fresh = dc9.export_trust_list(validity=timedelta(days=30))
    fixed.advance(timedelta(days=2))
    with pytest.raises(TrustExpired) as expired:
        dc1.federation.trust(fresh)
    assert expired.value.detail["reason"] == "ca_certificate"
    assert dc1.federation.peers() == []


def test_an_ed25519_ca_signs_its_list_too(pair: tuple[Site, Site], fixed: FixedClock) -> None:
    dc1, dc2 = pair
    ed = CertificateAuthority(MemoryAuthorityStore(), fixed, key_type=KeyType.ED25519)
    document = Federation(dc2.peers, dc2.registry, ed, fixed).export_trust_list()
    assert json.loads(document)["signature"]["algorithm"] == "ed25519"
    assert dc1.federation.trust(document).deployment == "DC2"
    with pytest.raises(TrustSignatureInvalid):
        dc1.federation.trust(edited(document, lambda d: d.update(hub_url="https://127.0.0.1:1")))


def _signed(authority: CertificateAuthority, body: dict[str, Any]) -> bytes:
    """A list whose signature is good over a body that breaks the rules: only the rules can refuse it."""
    signature = base64.urlsafe_b64encode(authority.sign(canonical(body))).rstrip(b"=").decode()
    return json.dumps({**body, "signature": {"algorithm": "ecdsa-p256-sha256", "value": signature}}).encode()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d.update(deployment="dc2"), "deployment"),
        (lambda d: d.update(hub_url="http://127.0.0.1:8080"), "hub_url"),
        (lambda d: d.update(hub_url="https://127.0.0.1:8443/r1"), "hub_url"),
        (lambda d: d.update(members=["JP/LG/131024/u3x"]), "members"),
        (lambda d: d.update(members=["JP/LG/131024/u06", "JP/LG/131024/u06"]), "members"),
        (lambda d: d.update(organisations=["JP/LG/131025"]), "organisations"),  # bad check digit
        (lambda d: d.update(organisations="JP/LG/131024"), "organisations"),
        (lambda d: d.update(issued_at="2026-04-01T09:00:00"), "issued_at"),
        (lambda d: d.update(expires_at="2026-03-01T09:00:00Z"), "expires_at"),
        (lambda d: d.update(format="renkei-trust-list/2"), "format"),
    ],
)
def test_a_well_signed_list_that_breaks_the_rules_is_refused(
    pair: tuple[Site, Site], change: Callable[[dict[str, Any]], None], field: str
) -> None:
    dc1, dc2 = pair
    body = json.loads(dc2.federation.export_trust_list())
    del body["signature"]
    change(body)
    with pytest.raises(TrustListInvalid) as refused:
        dc1.federation.trust(_signed(dc2.authority, body))
    assert refused.value.detail.get("field") == field


@pytest.mark.parametrize(
    "document",
    [
        b"",
        b"\xff\xfe",
        b"[]",
        b'{"format": "renkei-trust-list/1"}',
        b'{"a": 1, "a": 2}',
        b"[" * 100_000 + b"]" * 100_000,
        b" " * (MAX_BYTES + 1),
    ],
    ids=["empty", "not-utf8", "array", "missing", "duplicate", "deep", "huge"],
)
def test_what_is_not_a_trust_list_is_refused(pair: tuple[Site, Site], document: bytes) -> None:
    dc1, _ = pair
    with pytest.raises(TrustListInvalid):
        dc1.federation.trust(document)


def test_unknown_fields_and_a_leaf_for_a_ca_are_refused(pair: tuple[Site, Site]) -> None:
    dc1, dc2 = pair
    document = dc2.federation.export_trust_list()
    with pytest.raises(TrustListInvalid) as refused:
        dc1.federation.trust(edited(document, lambda d: d.update(extra=1)))
    assert refused.value.detail["field"] == "extra"
    leaf = dc2.tls.credentials().certificate.public_bytes(Encoding.PEM).decode("ascii")
    with pytest.raises(TrustListInvalid) as refused:
        dc1.federation.trust(edited(document, lambda d: d.update(ca_certificate=leaf)))
    assert refused.value.detail["field"] == "ca_certificate"


def test_a_newer_list_updates_the_peer_and_an_older_one_is_refused(
    pair: tuple[Site, Site], fixed: FixedClock
) -> None:
    dc1, dc2 = pair
    old = dc2.federation.export_trust_list()
    fixed.advance(timedelta(hours=1))
    dc2.registry.add_member("JP/LG/131024", 1)
    dc2.federation.configure("DC2", "https://127.0.0.1:9443")
    new = dc2.federation.export_trust_list()
    dc1.federation.trust(new)
    peer = dc1.federation.peer("DC2")
    assert peer.hub_url == "https://127.0.0.1:9443"
    assert MemberId.parse("JP/LG/131024/u01") in peer.members
    with pytest.raises(TrustListInvalid) as stale:
        dc1.federation.trust(old)
    assert stale.value.detail["field"] == "issued_at"
    assert dc1.federation.peer("DC2") == peer


def test_a_list_claiming_this_deployment_or_its_members_is_refused(
    pair: tuple[Site, Site], fixed: FixedClock, spec: Spec, tmp_path: Path
) -> None:
    dc1, dc2 = pair
    with pytest.raises(PeerConflict):
        dc1.federation.trust(dc1.federation.export_trust_list())
    dc1.federation.trust(dc2.federation.export_trust_list())
    dc3 = build_site("DC3", tmp_path, spec, fixed)
    dc4 = build_site("DC4", tmp_path, spec, fixed)
    try:
        enrol(dc3, CHUO, "中央区", 6)  # 中央区's 個人住民税 system, which DC2 already hosts
        with pytest.raises(PeerConflict) as conflict:
            dc1.federation.trust(dc3.federation.export_trust_list())
        assert conflict.value.detail["hosted_by"] == "DC2"
        enrol(dc4, CHIYODA, "千代田区", 17)  # DC1's own 乳幼児医療 system
        with pytest.raises(PeerConflict) as conflict:
            dc1.federation.trust(dc4.federation.export_trust_list())
        assert conflict.value.detail["member"] == "JP/LG/131016/u17"
    finally:
        dc3.close()
        dc4.close()
    assert [p.deployment for p in dc1.federation.peers()] == ["DC2"]
