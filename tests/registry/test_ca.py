"""The deployment's CA: created once, kept 0600 in the data directory, reloaded on restart."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509

from renkei.registry.ca import CertificateAuthority
from renkei.registry.errors import AuthorityUnavailable
from renkei.registry.identifiers import MemberId
from renkei.registry.keystore import FileKeyStore
from renkei.registry.models import KeyType
from renkei.storage.clock import FixedClock


def test_the_root_is_kept_owner_only_and_reloaded(tmp_path: Path, clock: FixedClock) -> None:
    store = FileKeyStore(tmp_path / "registry" / "ca")
    first = CertificateAuthority(store, clock).ensure()
    for name in ("ca.key", "ca.crt"):
        assert stat.S_IMODE((tmp_path / "registry" / "ca" / name).stat().st_mode) == 0o600
    again = CertificateAuthority(store, clock)
    assert again.ensure() == first
    issued = again.issue(MemberId.parse("JP/LG/131016/u06"))
    issued.certificate.verify_directly_issued_by(first)
    assert first.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_a_key_readable_by_others_is_refused(tmp_path: Path, clock: FixedClock) -> None:
    store = FileKeyStore(tmp_path)
    CertificateAuthority(store, clock).ensure()
    (tmp_path / "ca.key").chmod(0o644)
    with pytest.raises(AuthorityUnavailable):
        CertificateAuthority(store, clock).ensure()


def test_an_ed25519_root_signs_too(tmp_path: Path, clock: FixedClock) -> None:
    authority = CertificateAuthority(FileKeyStore(tmp_path), clock, key_type=KeyType.ED25519)
    issued = authority.issue(MemberId.parse("JP/LG/131016/u01"), key_type=KeyType.P256)
    issued.certificate.verify_directly_issued_by(authority.ensure())
    assert authority.issued_by_me(issued.certificate)
    other = CertificateAuthority(FileKeyStore(tmp_path / "other"), clock)
    assert not other.issued_by_me(issued.certificate)
