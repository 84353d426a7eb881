"""本人確認: a simulated IC card (個人番号カード style) and the server side of card login.

* :class:`CertificateAuthority` — the deployment's root (self-signed, EC P-256, key seed from the key store);
  it issues card certificates whose subject carries the card serial, never the 個人番号, and signs the
  number attestation (the card's 券面事項 as the issuing authority vouches for them).
* :class:`SimulatedCard` — what the chip holds: certificate, private key encrypted under a PIN-derived key
  (scrypt → AES-256-GCM, the serial as associated data), the 個人番号 and its attestation.
* :class:`CardReader` — the PIN gate: 3 wrong PINs lock the card; the counter lives in the base's storage
  (a real card keeps it in the chip; here the base plays the chip's tamper-proof memory).
* :class:`CardAuthenticator` — challenge (nonce with expiry, single use) → card signs → server verifies
  signature, certificate chain and validity, and consumes the nonce (a replay is refused).
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from cryptography.x509.oid import NameOID

from renkei.identity.errors import (
    AttestationFailed,
    AuthenticationFailed,
    CardLocked,
    UnknownCard,
    WrongPin,
)
from renkei.identity.keys import CA_KEY
from renkei.identity.models import PersonKey
from renkei.identity.numbering import require_individual_number
from renkei.identity.ports import IdentityRepository, KeyStore
from renkei.registry.ca import build_leaf_certificate, build_root_certificate
from renkei.storage.ports import Clock

log = logging.getLogger(__name__)

PIN_LIMIT = 3
PIN_PATTERN = re.compile(r"[0-9]{4}")
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
CARD_VALIDITY = timedelta(days=5 * 365)
ROOT_VALIDITY = timedelta(days=20 * 365)
CLOCK_SKEW = timedelta(minutes=5)
"""Certificates start this much before issuance, so a verifier whose clock is a little behind accepts them."""
CHALLENGE_TTL = timedelta(minutes=2)
LOGIN_CONTEXT = b"renkei-card-login-v1\x00"
ATTESTATION_CONTEXT = b"renkei-number-attestation-v1\x00"
_SIGNATURE = ec.ECDSA(hashes.SHA256())


def _pin_key(pin: str, salt: bytes) -> bytes:
    if not PIN_PATTERN.fullmatch(pin):
        # Checked before any counting: a malformed PIN is a typing error, not a guess.
        raise WrongPin("a PIN is 4 digits", reason="format")
    return Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(pin.encode("ascii"))


class CertificateAuthority:
    """The deployment's card CA: a P-256 key derived from a key-store seed, and its self-signed root.

    The certificates are built by :mod:`renkei.registry.ca` (one builder for every certificate renkei
    makes); the root key also signs number attestations, so its key usage includes digitalSignature.
    """

    def __init__(self, keys: KeyStore, clock: Clock, *, name: str = "renkei card CA") -> None:
        seed = int.from_bytes(keys.secret(CA_KEY, 32), "big")
        order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256 group order
        self._key = ec.derive_private_key(seed % (order - 1) + 1, ec.SECP256R1())
        self._clock = clock
        now = clock.now()
        self._root = build_root_certificate(
            self._key,
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]),
            now - CLOCK_SKEW,
            now + ROOT_VALIDITY,
            signs_documents=True,
        )

    @property
    def root(self) -> x509.Certificate:
        """The trust anchor verifiers pin."""
        return self._root

    def issue_certificate(self, public_key: ec.EllipticCurvePublicKey, serial: str) -> x509.Certificate:
        """A card certificate: subject ``serialNumber=<card serial>``, digital signature only."""
        now = self._clock.now()
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, "renkei card"),
                x509.NameAttribute(NameOID.SERIAL_NUMBER, serial),
            ]
        )
        return build_leaf_certificate(
            self._key, self._root, public_key, subject, now - CLOCK_SKEW, now + CARD_VALIDITY
        )

    def attest_number(self, serial: str, number: str) -> bytes:
        """The authority's signature binding the card serial to the 個人番号 it carries."""
        return self._key.sign(_attested(serial, number), _SIGNATURE)


def _attested(serial: str, number: str) -> bytes:
    return ATTESTATION_CONTEXT + serial.encode("ascii") + b"\x00" + number.encode("ascii")


@dataclass(frozen=True, slots=True, repr=False)
class SimulatedCard:
    """The chip's contents. ``repr`` shows the serial only: the number and key blob never reach a log."""

    serial: str
    certificate: bytes  # DER
    salt: bytes
    nonce: bytes
    encrypted_key: bytes  # AES-256-GCM(PKCS#8 DER) under scrypt(PIN)
    number: str
    number_attestation: bytes

    def __repr__(self) -> str:
        return f"SimulatedCard(serial={self.serial!r})"


class CardIssuer:
    """Issues cards to enrolled persons: key pair, certificate, PIN protection, number attestation."""

    def __init__(self, repository: IdentityRepository, authority: CertificateAuthority, clock: Clock) -> None:
        self._repository = repository
        self._authority = authority
        self._clock = clock

    def issue(self, person_key: PersonKey, number: str, pin: str) -> SimulatedCard:
        """A new card for the person, protected by ``pin`` (4 digits), carrying their 個人番号."""
        digits = require_individual_number(number)
        serial = secrets.token_hex(8).upper()
        salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
        private_key = ec.generate_private_key(ec.SECP256R1())
        der = private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        encrypted = AESGCM(_pin_key(pin, salt)).encrypt(nonce, der, serial.encode("ascii"))
        certificate = self._authority.issue_certificate(private_key.public_key(), serial)
        self._repository.add_card(serial, person_key, self._clock.now())
        log.info("identity: card %s issued to person %s", serial, person_key)
        return SimulatedCard(
            serial=serial,
            certificate=certificate.public_bytes(serialization.Encoding.DER),
            salt=salt,
            nonce=nonce,
            encrypted_key=encrypted,
            number=digits,
            number_attestation=self._authority.attest_number(serial, digits),
        )


class CardReader:
    """The holder's side: opens the card's key with the PIN, counting wrong PINs; 3 lock the card."""

    def __init__(self, repository: IdentityRepository, clock: Clock, *, limit: int = PIN_LIMIT) -> None:
        self._repository = repository
        self._clock = clock
        self._limit = limit

    def sign_challenge(self, card: SimulatedCard, pin: str, challenge: str) -> bytes:
        """Sign the server's challenge with the card's key, after the PIN check."""
        key = self._open(card, pin)
        return key.sign(LOGIN_CONTEXT + challenge.encode("ascii"), _SIGNATURE)

    def _open(self, card: SimulatedCard, pin: str) -> ec.EllipticCurvePrivateKey:
        state = self._repository.card(card.serial)
        if state is None:
            raise UnknownCard("this card was not issued by this base", serial=card.serial)
        if state.locked:
            raise CardLocked("the card is locked after too many wrong PINs", serial=card.serial)
        try:
            der = AESGCM(_pin_key(pin, card.salt)).decrypt(
                card.nonce, card.encrypted_key, card.serial.encode()
            )
        except InvalidTag:
            after = self._repository.record_pin_failure(card.serial, self._limit, self._clock.now())
            log.info(
                "identity: wrong PIN on card %s (%d of %d)", card.serial, after.pin_failures, self._limit
            )
            if after.locked:
                raise CardLocked("wrong PIN: the card is now locked", serial=card.serial) from None
            raise WrongPin(
                "wrong PIN", serial=card.serial, remaining=self._limit - after.pin_failures
            ) from None
        self._repository.reset_pin_failures(card.serial)
        key = serialization.load_der_private_key(der, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):  # pragma: no cover - we wrote it
            raise UnknownCard("the card holds no EC key", serial=card.serial)
        return key


@dataclass(frozen=True, slots=True)
class Challenge:
    """A login challenge: the nonce the card signs, valid until ``expires_at``, once."""

    nonce: str
    expires_at: datetime


class CardAuthenticator:
    """The server's side of card login and of checking a presented 個人番号 against a card."""

    def __init__(
        self,
        repository: IdentityRepository,
        root: x509.Certificate,
        clock: Clock,
        *,
        ttl: timedelta = CHALLENGE_TTL,
    ) -> None:
        self._repository = repository
        self._root = root
        self._clock = clock
        self._ttl = ttl

    def challenge(self) -> Challenge:
        """A fresh nonce (256 bits), stored with its expiry."""
        now = self._clock.now()
        nonce = secrets.token_hex(32)
        self._repository.add_nonce(nonce, now, now + self._ttl)
        return Challenge(nonce, now + self._ttl)

    def verify_login(self, nonce: str, certificate: bytes, signature: bytes) -> PersonKey:
        """The person who logged in, if the signature over ``nonce`` verifies under a card certificate that
        chains to the root, is valid now, names an issued unlocked card, and the nonce is fresh and unused.
        """
        card_certificate = self._verified_certificate(certificate)
        serial = self._serial(card_certificate)
        public_key = card_certificate.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise AuthenticationFailed("the card certificate holds no EC key", reason="key")
        try:
            public_key.verify(signature, LOGIN_CONTEXT + nonce.encode("ascii"), _SIGNATURE)
        except (InvalidSignature, UnicodeEncodeError):
            raise AuthenticationFailed(
                "the signature over the challenge does not verify", reason="signature"
            ) from None
        state = self._repository.card(serial)
        if state is None or state.locked:
            raise AuthenticationFailed("the card is unknown or locked", reason="card")
        if not self._repository.consume_nonce(nonce, self._clock.now()):
            raise AuthenticationFailed("the challenge is unknown, expired or already used", reason="nonce")
        log.info("identity: card login by card %s", serial)
        return state.person_key

    def verify_presented_number(self, card: SimulatedCard, presented: str) -> None:
        """Return if ``presented`` is the 個人番号 the card carries and the authority attests; else raise.

        The numbers are compared in constant time and appear in no message.
        """
        digits = require_individual_number(presented)
        self._verified_certificate(card.certificate)
        public_key = self._root.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey):  # pragma: no cover - our root is EC
            raise AttestationFailed("the root holds no EC key")
        try:
            public_key.verify(card.number_attestation, _attested(card.serial, card.number), _SIGNATURE)
        except (InvalidSignature, UnicodeEncodeError):
            raise AttestationFailed(
                "the card's number attestation does not verify", reason="attestation"
            ) from None
        if not hmac.compare_digest(digits.encode("ascii"), card.number.encode("ascii")):
            raise AttestationFailed("the presented 個人番号 is not the one on the card", reason="mismatch")

    def _verified_certificate(self, der: bytes) -> x509.Certificate:
        try:
            certificate = x509.load_der_x509_certificate(der)
            certificate.verify_directly_issued_by(self._root)
        except (ValueError, TypeError, InvalidSignature):
            raise AuthenticationFailed(
                "the card certificate is not issued by this base's CA", reason="chain"
            ) from None
        now = self._clock.now()
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise AuthenticationFailed("the card certificate is not valid at this time", reason="validity")
        return certificate

    @staticmethod
    def _serial(certificate: x509.Certificate) -> str:
        attributes = certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
        if len(attributes) != 1 or not isinstance(attributes[0].value, str):
            raise AuthenticationFailed("the card certificate names no card serial", reason="subject")
        return attributes[0].value
