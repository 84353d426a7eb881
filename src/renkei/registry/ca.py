"""The deployment's certificate authority: a root that issues each member system its key pair and client
certificate at enrolment, and signs the revocation list.

A member certificate has subject CN = the member id (``JP/LG/131016/u06``), a SAN URI
``urn:renkei:member:JP/LG/131016/u06``, extended key usage clientAuth and key usage digitalSignature. The
root is created on first use and kept in a :class:`~renkei.registry.ports.KeyStore`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from renkei.registry.errors import AuthorityUnavailable, CredentialInvalid
from renkei.registry.identifiers import MemberId
from renkei.registry.keys import (
    PrivateKey,
    generate_private_key,
    private_key_pem,
    read_certificate,
    read_private_key,
)
from renkei.registry.models import KeyType
from renkei.registry.ports import KeyStore
from renkei.storage.ports import Clock

MEMBER_URN = "urn:renkei:member:"
DEFAULT_MEMBER_VALIDITY = timedelta(days=365)
DEFAULT_ROOT_VALIDITY = timedelta(days=3650)


def member_urn(member: MemberId) -> str:
    """``urn:renkei:member:JP/LG/131016/u06``: the SAN URI of a member certificate."""
    return MEMBER_URN + str(member)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A member system's new key pair and certificate, as PEM. The private key exists only here: the
    registry never stores it."""

    private_key_pem: bytes
    certificate_pem: bytes
    certificate: x509.Certificate


@dataclass(frozen=True, slots=True)
class Revocation:
    """One entry of the revocation list."""

    serial: int
    revoked_at: datetime


def _signing_hash(key: PrivateKey) -> hashes.SHA256 | None:
    return None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()


def _whole_seconds(at: datetime) -> datetime:
    # X.509 times have whole seconds; truncating here makes the stored validity equal the certificate's.
    return at.replace(microsecond=0)


class CertificateAuthority:
    """Issues member certificates and revocation lists with the deployment's root key."""

    def __init__(
        self,
        keys: KeyStore,
        clock: Clock,
        *,
        name: str = "renkei deployment CA",
        key_type: KeyType = KeyType.P256,
        root_validity: timedelta = DEFAULT_ROOT_VALIDITY,
    ) -> None:
        self._keys = keys
        self._clock = clock
        self._name = name
        self._key_type = key_type
        self._root_validity = root_validity
        self._lock = threading.Lock()
        self._loaded: tuple[PrivateKey, x509.Certificate] | None = None

    def _root(self) -> tuple[PrivateKey, x509.Certificate]:
        with self._lock:
            if self._loaded is None:
                stored = self._keys.load()
                if stored is None:
                    self._loaded = self._create()
                else:
                    try:
                        self._loaded = (read_private_key(stored[0]), read_certificate(stored[1]))
                    except CredentialInvalid as exc:
                        raise AuthorityUnavailable(f"the stored CA is unreadable: {exc.message}") from None
            return self._loaded

    def _create(self) -> tuple[PrivateKey, x509.Certificate]:
        key = generate_private_key(self._key_type)
        now = _whole_seconds(self._clock.now())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self._name)])
        public = key.public_key()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + self._root_validity)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(key, _signing_hash(key))
        )
        self._keys.save(private_key_pem(key), certificate.public_bytes(serialization.Encoding.PEM))
        return key, certificate

    def ensure(self) -> x509.Certificate:
        """The root certificate, creating the root on first use."""
        return self._root()[1]

    def certificate_pem(self) -> bytes:
        return self.ensure().public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        member: MemberId,
        *,
        key_type: KeyType | None = None,
        validity: timedelta = DEFAULT_MEMBER_VALIDITY,
    ) -> IssuedKey:
        """A new key pair and client certificate for ``member``, valid from now for ``validity``."""
        if validity <= timedelta(0):
            raise CredentialInvalid(f"validity must be positive, got {validity}")
        ca_key, ca_certificate = self._root()
        key = generate_private_key(key_type or self._key_type)
        public = key.public_key()
        now = _whole_seconds(self._clock.now())
        not_after = min(now + validity, ca_certificate.not_valid_after_utc)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, str(member))]))
            .issuer_name(ca_certificate.subject)
            .public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .add_extension(
                x509.SubjectAlternativeName([x509.UniformResourceIdentifier(member_urn(member))]),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, _signing_hash(ca_key))
        )
        return IssuedKey(
            private_key_pem=private_key_pem(key),
            certificate_pem=certificate.public_bytes(serialization.Encoding.PEM),
            certificate=certificate,
        )

    def issued_by_me(self, certificate: x509.Certificate) -> bool:
        """Whether ``certificate`` carries this CA's signature."""
        ca_certificate = self.ensure()
        try:
            certificate.verify_directly_issued_by(ca_certificate)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True

    def revocation_list(
        self, revoked: Iterable[Revocation], *, valid_for: timedelta = timedelta(days=7)
    ) -> bytes:
        """The CRL (PEM) listing ``revoked``, signed now, with the next update ``valid_for`` later."""
        ca_key, ca_certificate = self._root()
        now = _whole_seconds(self._clock.now())
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca_certificate.subject)
            .last_update(now)
            .next_update(now + valid_for)
        )
        for entry in revoked:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(entry.serial)
                .revocation_date(_whole_seconds(entry.revoked_at))
                .build()
            )
        crl = builder.sign(ca_key, _signing_hash(ca_key))
        return crl.public_bytes(serialization.Encoding.PEM)
