"""本人確認 with the simulated card: PIN, lock-out, challenge-response, replay, chain, number attestation."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from renkei.identity.card import (
    CardAuthenticator,
    CardIssuer,
    CardReader,
    CertificateAuthority,
    SimulatedCard,
)
from renkei.identity.errors import (
    AttestationFailed,
    AuthenticationFailed,
    CardLocked,
    NumberInvalid,
    WrongPin,
)
from renkei.identity.keys import MemoryKeyStore
from renkei.identity.service import Enrolment, IdentityService
from renkei.storage.clock import FixedClock
from renkei.storage.sql.identity import SqlIdentityRepository
from tests.identity.conftest import basic_info

PIN = "1234"


@pytest.fixture
def enrolled(identity: IdentityService) -> Enrolment:
    return identity.enrol(basic_info())


@pytest.fixture
def card(card_issuer: CardIssuer, enrolled: Enrolment) -> SimulatedCard:
    return card_issuer.issue(enrolled.person_key, enrolled.number, PIN)


def _login(reader: CardReader, authenticator: CardAuthenticator, card: SimulatedCard, pin: str = PIN) -> str:
    challenge = authenticator.challenge()
    signature = reader.sign_challenge(card, pin, challenge.nonce)
    return authenticator.verify_login(challenge.nonce, card.certificate, signature)


def test_login_identifies_the_holder(
    reader: CardReader, authenticator: CardAuthenticator, card: SimulatedCard, enrolled: Enrolment
) -> None:
    assert _login(reader, authenticator, card) == enrolled.person_key
    certificate = x509.load_der_x509_certificate(card.certificate)
    assert enrolled.number not in certificate.subject.rfc4514_string()
    assert card.serial in certificate.subject.rfc4514_string()
    assert enrolled.number not in repr(card)


def test_a_replayed_response_is_refused(
    reader: CardReader, authenticator: CardAuthenticator, card: SimulatedCard
) -> None:
    challenge = authenticator.challenge()
    signature = reader.sign_challenge(card, PIN, challenge.nonce)
    authenticator.verify_login(challenge.nonce, card.certificate, signature)
    with pytest.raises(AuthenticationFailed) as raised:
        authenticator.verify_login(challenge.nonce, card.certificate, signature)
    assert raised.value.detail["reason"] == "nonce"


def test_an_expired_challenge_is_refused(
    reader: CardReader, authenticator: CardAuthenticator, card: SimulatedCard, clock: FixedClock
) -> None:
    challenge = authenticator.challenge()
    signature = reader.sign_challenge(card, PIN, challenge.nonce)
    clock.advance(timedelta(minutes=3))
    with pytest.raises(AuthenticationFailed, match="expired"):
        authenticator.verify_login(challenge.nonce, card.certificate, signature)


def test_a_forged_signature_or_foreign_certificate_is_refused(
    reader: CardReader,
    authenticator: CardAuthenticator,
    card: SimulatedCard,
    repository: SqlIdentityRepository,
    clock: FixedClock,
    enrolled: Enrolment,
) -> None:
    challenge = authenticator.challenge()
    signature = reader.sign_challenge(card, PIN, "another-nonce")
    with pytest.raises(AuthenticationFailed) as raised:
        authenticator.verify_login(challenge.nonce, card.certificate, signature)
    assert raised.value.detail["reason"] == "signature"
    rogue = CardIssuer(repository, CertificateAuthority(MemoryKeyStore(), clock), clock)
    rogue_card = rogue.issue(enrolled.person_key, enrolled.number, PIN)
    signature = reader.sign_challenge(rogue_card, PIN, challenge.nonce)
    with pytest.raises(AuthenticationFailed) as raised:
        authenticator.verify_login(challenge.nonce, rogue_card.certificate, signature)
    assert raised.value.detail["reason"] == "chain"
    with pytest.raises(AuthenticationFailed):
        authenticator.verify_login(challenge.nonce, b"not a certificate", signature)


def test_an_expired_certificate_is_refused(
    reader: CardReader, authenticator: CardAuthenticator, card: SimulatedCard, clock: FixedClock
) -> None:
    clock.advance(timedelta(days=6 * 365))
    challenge = authenticator.challenge()
    signature = reader.sign_challenge(card, PIN, challenge.nonce)
    with pytest.raises(AuthenticationFailed) as raised:
        authenticator.verify_login(challenge.nonce, card.certificate, signature)
    assert raised.value.detail["reason"] == "validity"


def test_three_wrong_pins_lock_the_card_for_good(
    reader: CardReader,
    authenticator: CardAuthenticator,
    card: SimulatedCard,
    repository: SqlIdentityRepository,
    clock: FixedClock,
) -> None:
    with pytest.raises(WrongPin) as raised:
        reader.sign_challenge(card, "0000", "n")
    assert raised.value.detail["remaining"] == 2
    reader.sign_challenge(card, PIN, "n")  # a right PIN resets the counter
    for remaining in (2, 1):
        with pytest.raises(WrongPin) as raised:
            reader.sign_challenge(card, "9999", "n")
        assert raised.value.detail["remaining"] == remaining
    with pytest.raises(CardLocked):
        reader.sign_challenge(card, "9999", "n")
    # The state is persisted: a new reader (another terminal, a restart) finds the card locked.
    with pytest.raises(CardLocked):
        CardReader(repository, clock).sign_challenge(card, PIN, "n")
    assert "9999" not in str(raised.value)


def test_a_malformed_pin_is_not_counted(reader: CardReader, card: SimulatedCard) -> None:
    with pytest.raises(WrongPin, match="4 digits"):
        reader.sign_challenge(card, "12a4", "n")
    reader.sign_challenge(card, PIN, "n")


def test_the_pin_really_protects_the_key(card: SimulatedCard) -> None:
    der = card.encrypted_key
    assert b"\x30\x81" not in der[:4], "the private key is not stored in the clear"
    assert len(card.salt) == 16


def test_presented_number_is_checked_against_the_card(
    authenticator: CardAuthenticator, card: SimulatedCard, enrolled: Enrolment, identity: IdentityService
) -> None:
    authenticator.verify_presented_number(card, enrolled.number)
    other = identity.enrol(basic_info("別人")).number
    with pytest.raises(AttestationFailed) as raised:
        authenticator.verify_presented_number(card, other)
    assert other not in str(raised.value)
    assert enrolled.number not in str(raised.value)
    with pytest.raises(AttestationFailed):
        authenticator.verify_presented_number(replace(card, number=other), other)
    with pytest.raises(NumberInvalid):
        authenticator.verify_presented_number(card, "12345")


def test_root_is_a_ca(authority: CertificateAuthority) -> None:
    constraints = authority.root.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca
    assert authority.root.public_bytes(Encoding.PEM).startswith(b"-----BEGIN CERTIFICATE-----")


def test_card_certificates_come_from_the_shared_builder(
    authority: CertificateAuthority, card: SimulatedCard, clock: FixedClock
) -> None:
    certificate = x509.load_der_x509_certificate(card.certificate)
    certificate.verify_directly_issued_by(authority.root)
    assert not certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    root_id = authority.root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    issuer_id = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert issuer_id.key_identifier == root_id
    # Valid from a little before issuance (a verifier's clock may lag) for five years.
    assert certificate.not_valid_before_utc == clock.now() - timedelta(minutes=5)
    assert certificate.not_valid_after_utc - certificate.not_valid_before_utc == timedelta(
        days=5 * 365, minutes=5
    )
    # The card root signs attestations itself, so its key usage allows signatures besides certificates.
    root_usage = authority.root.extensions.get_extension_for_class(x509.KeyUsage).value
    assert root_usage.digital_signature and root_usage.key_cert_sign
