"""The deployment's CA: created once, kept 0600 in the data directory, reloaded on restart; member and hub
certificates from one builder; the root signs documents (trust lists)."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from renkei.registry.ca import CertificateAuthority, deployment_urn, san_uris, signature_verifies
from renkei.registry.errors import AuthorityUnavailable, CredentialInvalid
from renkei.registry.identifiers import MemberId
from renkei.registry.keys import read_private_key
from renkei.registry.keystore import FileAuthorityStore
from renkei.registry.models import KeyType
from renkei.storage.clock import FixedClock


def test_the_root_is_kept_owner_only_and_reloaded(tmp_path: Path, clock: FixedClock) -> None:
    store = FileAuthorityStore(tmp_path / "registry" / "ca")
    first = CertificateAuthority(store, clock).ensure()
    for name in ("ca.key", "ca.crt"):
        assert stat.S_IMODE((tmp_path / "registry" / "ca" / name).stat().st_mode) == 0o600
    again = CertificateAuthority(store, clock)
    assert again.ensure() == first
    issued = again.issue(MemberId.parse("JP/LG/131016/u06"))
    issued.certificate.verify_directly_issued_by(first)
    assert first.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_a_key_readable_by_others_is_refused(tmp_path: Path, clock: FixedClock) -> None:
    store = FileAuthorityStore(tmp_path)
    CertificateAuthority(store, clock).ensure()
    (tmp_path / "ca.key").chmod(0o644)
    with pytest.raises(AuthorityUnavailable):
        CertificateAuthority(store, clock).ensure()


def test_an_ed25519_root_signs_too(tmp_path: Path, clock: FixedClock) -> None:
    authority = CertificateAuthority(FileAuthorityStore(tmp_path), clock, key_type=KeyType.ED25519)
    issued = authority.issue(MemberId.parse("JP/LG/131016/u01"), key_type=KeyType.P256)
    issued.certificate.verify_directly_issued_by(authority.ensure())
    assert authority.issued_by_me(issued.certificate)
    other = CertificateAuthority(FileAuthorityStore(tmp_path / "other"), clock)
    assert not other.issued_by_me(issued.certificate)


def test_a_hub_certificate_names_the_deployment_and_serves_both_tls_ends(
    tmp_path: Path, clock: FixedClock
) -> None:
    authority = CertificateAuthority(FileAuthorityStore(tmp_path), clock, key_type=KeyType.ED25519)
    issued = authority.issue_hub("DC1", hosts=["hub.dc1.example", "10.0.0.5", "localhost"])
    certificate = issued.certificate
    certificate.verify_directly_issued_by(authority.ensure())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost", "hub.dc1.example"]
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1", "10.0.0.5"]
    assert san_uris(certificate) == [deployment_urn("DC1")] == ["urn:renkei:deployment:DC1"]
    usages = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    assert isinstance(certificate.public_key(), ec.EllipticCurvePublicKey)  # P-256 for TLS, whatever the root
    assert not certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert read_private_key(issued.private_key_pem).public_key() == certificate.public_key()
    with pytest.raises(CredentialInvalid):
        authority.issue_hub("")


def test_every_leaf_is_built_alike_and_clipped_to_its_issuer(tmp_path: Path, clock: FixedClock) -> None:
    authority = CertificateAuthority(FileAuthorityStore(tmp_path), clock, root_validity=timedelta(days=10))
    root = authority.ensure()
    member = authority.issue(MemberId.parse("JP/LG/131016/u06"), validity=timedelta(days=365)).certificate
    hub = authority.issue_hub("DC1").certificate
    root_key_id = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    for leaf in (member, hub):
        assert leaf.not_valid_after_utc == root.not_valid_after_utc  # not beyond the root
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        assert usage.digital_signature and not usage.key_cert_sign
        issuer_id = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        assert issuer_id.key_identifier == root_key_id
    assert san_uris(member) == ["urn:renkei:member:JP/LG/131016/u06"]
    clock.advance(timedelta(days=11))
    with pytest.raises(CredentialInvalid):  # the root has expired: nothing it signs can be valid
        authority.issue_hub("DC1")
    with pytest.raises(CredentialInvalid):
        authority.issue(MemberId.parse("JP/LG/131016/u06"), validity=timedelta(0))


def test_the_root_signs_documents_verifiable_with_its_certificate(tmp_path: Path, clock: FixedClock) -> None:
    for key_type in KeyType:
        authority = CertificateAuthority(
            FileAuthorityStore(tmp_path / key_type.name), clock, key_type=key_type
        )
        signature = authority.sign(b"trust list")
        assert signature_verifies(authority.ensure(), b"trust list", signature)
        assert not signature_verifies(authority.ensure(), b"trust lists", signature)
        other = CertificateAuthority(
            FileAuthorityStore(tmp_path / f"other-{key_type.name}"), clock, key_type=key_type
        )
        assert not signature_verifies(other.ensure(), b"trust list", signature)
