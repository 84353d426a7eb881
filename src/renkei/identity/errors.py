"""Errors of the ``identity`` context.

No message or detail here ever carries a 個人番号, a PIN or a key: callers pass what was wrong (a reason, a
length, a position, an organisation code, a card serial), never the number itself.
"""

from __future__ import annotations

from renkei.errors import InvalidInput, NotFound, RenkeiError


class IdentityError(RenkeiError):
    """Root of the ``identity`` context's errors."""

    code = "identity.error"
    http_status = 500


class CipherDomainError(IdentityError, InvalidInput):
    """A value, length, radix or tweak outside what the FF1 permutation is defined on."""

    code = "identity.cipher.domain"
    http_status = 400


class SequenceExhausted(IdentityError):
    """Every value of an issuance sequence has been used: no more numbers of this kind can be issued."""

    code = "identity.sequence.exhausted"
    http_status = 507


class InvalidCount(IdentityError, InvalidInput):
    """A batch size below one or above the limit."""

    code = "identity.count.invalid"
    http_status = 400


class NumberInvalid(IdentityError, InvalidInput):
    """A presented 個人番号 / 法人番号 is malformed or fails its check digit (``detail["reason"]``)."""

    code = "identity.number.invalid"
    http_status = 400


class UnknownNumber(IdentityError, NotFound):
    """A well-formed 個人番号 that this base never issued, or one retired by a 番号変更."""

    code = "identity.number.unknown"
    http_status = 404


class UnknownPerson(IdentityError, NotFound):
    """No person with this internal key (or no person behind this 宛名番号 / 符号)."""

    code = "identity.person.unknown"
    http_status = 404


class UnknownOrganisation(IdentityError, NotFound):
    """An organisation that is not registered with the linkage base."""

    code = "identity.organisation.unknown"
    http_status = 404


class OrganisationInvalid(IdentityError, InvalidInput):
    """An organisation id that is not ``JP/LG/<団体コード>``, ``JP/COM/<法人番号>`` or ``JP/GOV/<code>``."""

    code = "identity.organisation.invalid"
    http_status = 400


class LocalIdConflict(IdentityError):
    """The 宛名番号 is already registered to another person, or the person already has another one there."""

    code = "identity.local_id.conflict"
    http_status = 409


class BasicInfoInvalid(IdentityError, InvalidInput):
    """基本4情報 that cannot be recorded (empty name, unknown sex code, birth date in the future …)."""

    code = "identity.basic_info.invalid"
    http_status = 400


class CardError(IdentityError):
    """Root of the simulated IC card errors."""

    code = "identity.card.error"
    http_status = 401


class WrongPin(CardError):
    """The PIN did not open the card's private key; ``detail["remaining"]`` tries are left."""

    code = "identity.card.pin_wrong"
    http_status = 401


class CardLocked(CardError):
    """Too many wrong PINs: the card is locked and signs nothing more."""

    code = "identity.card.locked"
    http_status = 423


class UnknownCard(CardError, NotFound):
    """A card serial that this base never issued."""

    code = "identity.card.unknown"
    http_status = 404


class AuthenticationFailed(CardError):
    """A login response that does not verify (signature, certificate chain, validity or nonce)."""

    code = "identity.card.authentication_failed"
    http_status = 401


class AttestationFailed(CardError):
    """The presented 個人番号 is not the one the card attests, or the attestation does not verify."""

    code = "identity.card.attestation_failed"
    http_status = 401


class KeyStoreError(IdentityError):
    """A key file that cannot be created or read, has the wrong size, or is readable by others."""

    code = "identity.keystore.failed"
    http_status = 500
