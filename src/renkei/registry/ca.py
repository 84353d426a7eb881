"""The deployment's certificate authority: a root that issues each member system its key pair and client
certificate at enrolment, this hub's TLS certificate for federation, and signs the revocation list and the
trust list it exports.

Every certificate renkei makes is built here: :func:`build_root_certificate` (this CA's root and the card
CA's root in :mod:`renkei.identity.card`) and :func:`build_leaf_certificate` (member client certificates,
IC card certificates, hub TLS certificates), so key usage, key identifiers and validity clipping are
decided in one place.

A member certificate has subject CN = the member id (``JP/LG/131016/u06``), a SAN URI
``urn:renkei:member:JP/LG/131016/u06``, extended key usage clientAuth and key usage digitalSignature. A hub
certificate has CN ``renkei hub DC1``, SANs ``DNS:localhost``, ``IP:127.0.0.1`` (plus any other names the
hub is reached by) and the URI ``urn:renkei:deployment:DC1``, and both serverAuth and clientAuth: the same
certificate serves the hub's mutual-TLS listener and presents it when it calls a peer hub. The root is
created on first use and kept in a :class:`~renkei.registry.ports.KeyStore`.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from renkei.registry.errors import AuthorityUnavailable, CredentialInvalid
from renkei.registry.identifiers import MemberId
from renkei.registry.keys import (
    PrivateKey,
    PublicKey,
    generate_private_key,
    private_key_pem,
    read_certificate,
    read_private_key,
)
from renkei.registry.models import KeyType
from renkei.registry.ports import KeyStore
from renkei.storage.ports import Clock

MEMBER_URN = "urn:renkei:member:"
DEPLOYMENT_URN = "urn:renkei:deployment:"
DEFAULT_MEMBER_VALIDITY = timedelta(days=365)
DEFAULT_HUB_VALIDITY = timedelta(days=365)
DEFAULT_ROOT_VALIDITY = timedelta(days=3650)
#: The names every hub certificate carries, so hubs on one machine (tests, the federation demo) verify.
LOOPBACK_NAMES: tuple[str, ...] = ("localhost", "127.0.0.1")
_ECDSA = ec.ECDSA(hashes.SHA256())


def member_urn(member: MemberId) -> str:
    """``urn:renkei:member:JP/LG/131016/u06``: the SAN URI of a member certificate."""
    return MEMBER_URN + str(member)


def deployment_urn(deployment: str) -> str:
    """``urn:renkei:deployment:DC1``: the SAN URI naming the deployment a hub certificate belongs to."""
    return DEPLOYMENT_URN + deployment


def san_uris(certificate: x509.Certificate) -> list[str]:
    """The SAN URIs of ``certificate`` (empty when it has no SAN extension)."""
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(uri) for uri in names.get_values_for_type(x509.UniformResourceIdentifier)]


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new key pair and certificate, as PEM. The private key exists only here: the registry never stores
    it (a hub's TLS key goes to the file its caller writes, 0600)."""

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


def _key_usage(*, digital_signature: bool, certificate_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=certificate_sign,
        crl_sign=certificate_sign,
        encipher_only=False,
        decipher_only=False,
    )


def build_root_certificate(
    key: PrivateKey,
    name: x509.Name,
    not_before: datetime,
    not_after: datetime,
    *,
    signs_documents: bool = False,
) -> x509.Certificate:
    """A self-signed CA certificate (path length 0: it issues leaves only) for ``key``.

    ``signs_documents``: the root key also signs data directly (the card CA's number attestations), so
    its key usage includes digitalSignature besides keyCertSign and cRLSign.
    """
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(_whole_seconds(not_before))
        .not_valid_after(_whole_seconds(not_after))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(digital_signature=signs_documents, certificate_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, _signing_hash(key))
    )


def build_leaf_certificate(
    issuer_key: PrivateKey,
    issuer: x509.Certificate,
    public_key: PublicKey,
    subject: x509.Name,
    not_before: datetime,
    not_after: datetime,
    *,
    usages: Sequence[x509.ObjectIdentifier] = (),
    names: Sequence[x509.GeneralName] = (),
) -> x509.Certificate:
    """An end-entity certificate for ``public_key`` signed by ``issuer_key`` (whose certificate is
    ``issuer``): not a CA, key usage digitalSignature, the extended key ``usages`` and subject alternative
    ``names`` given (none when empty), key identifiers, and a validity clipped to the issuer's."""
    start = _whole_seconds(not_before)
    end = _whole_seconds(min(not_after, issuer.not_valid_after_utc))
    if end <= start:
        raise CredentialInvalid(f"the validity is empty: {start.isoformat()} to {end.isoformat()}")
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True, certificate_sign=False), critical=True)
    )
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    return (
        builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
        .sign(issuer_key, _signing_hash(issuer_key))
    )


def host_names(hosts: Iterable[str]) -> list[x509.GeneralName]:
    """SAN entries for the names a server is reached by: IP addresses as ``IP:``, the rest as ``DNS:``."""
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def sign_with(key: PrivateKey, data: bytes) -> bytes:
    """A signature over ``data``: ECDSA P-256 / SHA-256 (DER) or Ed25519, by the key's type."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(data)
    return key.sign(data, _ECDSA)


def signature_verifies(certificate: x509.Certificate, data: bytes, signature: bytes) -> bool:
    """Whether ``signature`` over ``data`` verifies under the public key of ``certificate``."""
    public = certificate.public_key()
    try:
        if isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, data)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, data, _ECDSA)
        else:
            return False
    except InvalidSignature:
        return False
    return True


class CertificateAuthority:
    """Issues member and hub certificates and revocation lists with the deployment's root key."""

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
        now = self._clock.now()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self._name)])
        certificate = build_root_certificate(key, name, now, now + self._root_validity)
        self._keys.save(private_key_pem(key), certificate.public_bytes(serialization.Encoding.PEM))
        return key, certificate

    def ensure(self) -> x509.Certificate:
        """The root certificate, creating the root on first use."""
        return self._root()[1]

    def certificate_pem(self) -> bytes:
        return self.ensure().public_bytes(serialization.Encoding.PEM)

    def _issue_leaf(
        self,
        subject: str,
        key_type: KeyType,
        validity: timedelta,
        usages: Sequence[x509.ObjectIdentifier],
        names: Sequence[x509.GeneralName],
    ) -> IssuedKey:
        if validity <= timedelta(0):
            raise CredentialInvalid(f"validity must be positive, got {validity}")
        ca_key, ca_certificate = self._root()
        key = generate_private_key(key_type)
        now = self._clock.now()
        certificate = build_leaf_certificate(
            ca_key,
            ca_certificate,
            key.public_key(),
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]),
            now,
            now + validity,
            usages=usages,
            names=names,
        )
        return IssuedKey(
            private_key_pem=private_key_pem(key),
            certificate_pem=certificate.public_bytes(serialization.Encoding.PEM),
            certificate=certificate,
        )

    def issue(
        self,
        member: MemberId,
        *,
        key_type: KeyType | None = None,
        validity: timedelta = DEFAULT_MEMBER_VALIDITY,
    ) -> IssuedKey:
        """A new key pair and client certificate for ``member``, valid from now for ``validity``."""
        return self._issue_leaf(
            str(member),
            key_type or self._key_type,
            validity,
            [ExtendedKeyUsageOID.CLIENT_AUTH],
            [x509.UniformResourceIdentifier(member_urn(member))],
        )

    def issue_hub(
        self,
        deployment: str,
        *,
        hosts: Sequence[str] = LOOPBACK_NAMES,
        validity: timedelta = DEFAULT_HUB_VALIDITY,
    ) -> IssuedKey:
        """A new P-256 key pair and TLS certificate for this deployment's hub (server and client auth),
        naming ``hosts`` (always with localhost and 127.0.0.1) and ``urn:renkei:deployment:<deployment>``.

        P-256 whatever the root's type: every TLS stack speaks ECDSA P-256.
        """
        if not deployment:
            raise CredentialInvalid("a hub certificate needs the deployment id")
        names = [
            *host_names([*LOOPBACK_NAMES, *hosts]),
            x509.UniformResourceIdentifier(deployment_urn(deployment)),
        ]
        return self._issue_leaf(
            f"renkei hub {deployment}",
            KeyType.P256,
            validity,
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
            names,
        )

    def sign(self, data: bytes) -> bytes:
        """The root key's signature over ``data`` (a trust list): verify it with
        :func:`signature_verifies` and this CA's certificate."""
        return sign_with(self._root()[0], data)

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
