"""Keys and certificates as the registry reads them: key types, fingerprints (``kid``), PEM parsing.

Only the two key types of :class:`~renkei.registry.models.KeyType` are accepted anywhere: RSA and other
curves are refused when a credential is registered, so the hub never has to choose an algorithm by trust.
"""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from renkei.registry.errors import CredentialInvalid
from renkei.registry.models import KeyType

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


def generate_private_key(key_type: KeyType) -> PrivateKey:
    if key_type is KeyType.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def key_type_of(key: object) -> KeyType:
    """The :class:`KeyType` of a public or private key, or ``registry.credential.invalid``."""
    if isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        return KeyType.ED25519
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) and isinstance(
        key.curve, ec.SECP256R1
    ):
        return KeyType.P256
    raise CredentialInvalid(
        f"unsupported key {type(key).__name__}: only EC P-256 (ES256) and Ed25519 keys are accepted"
    )


def private_key_pem(key: PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted (the file holding it is 0600)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_pem(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def read_private_key(pem: bytes) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise CredentialInvalid(f"not a PEM private key: {exc}") from None
    key_type_of(key)
    if not isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise CredentialInvalid(f"not a private key: {type(key).__name__}")
    return key


def check_public_key(key: object) -> PublicKey:
    """``key`` if it is a public key of an accepted type, else ``registry.credential.invalid``."""
    key_type_of(key)
    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise CredentialInvalid(f"not a public key: {type(key).__name__}")
    return key


def read_public_key(pem: bytes) -> PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise CredentialInvalid(f"not a PEM public key: {exc}") from None
    return check_public_key(key)


def read_certificate(pem: bytes) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise CredentialInvalid(f"not a PEM X.509 certificate: {exc}") from None


def certificate_kid(certificate: x509.Certificate) -> str:
    """Lowercase hex SHA-256 of the certificate's DER: the ``kid`` of a certificate credential."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def public_key_kid(key: PublicKey) -> str:
    """Lowercase hex SHA-256 of the SubjectPublicKeyInfo DER: the ``kid`` of a bare-key credential."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()
