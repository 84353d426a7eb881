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


# --- 住民票コード and the linkage base across deployments ------------------------------------------------


class ResidentCodeInvalid(IdentityError, InvalidInput):
    """A 住民票コード that is not 11 half-width digits (``detail["reason"]``: ``length``, ``non_digit``,
    ``full_width_digits``). The code itself is never in the message or detail."""

    code = "identity.resident_code.invalid"
    http_status = 400


class ResidentCodeConflict(IdentityError):
    """The 住民票コード is registered to another person, or the person already has another one."""

    code = "identity.resident_code.conflict"
    http_status = 409


class FugoInvalid(IdentityError, InvalidInput):
    """A 符号 that is not 32 base32 characters (``A``–``Z``, ``2``–``7``)."""

    code = "identity.fugo.invalid"
    http_status = 400


class FugoConflict(IdentityError):
    """Adopting a base-issued 符号 failed: the person already holds another 符号 at the organisation in
    this generation, or the 符号 already names another person there."""

    code = "identity.fugo.conflict"
    http_status = 409


class LinkageError(IdentityError):
    """Root of the cross-deployment linkage base's errors."""

    code = "identity.linkage.error"
    http_status = 500


class LinkageForbidden(LinkageError):
    """The caller is not a trusted peer hub over mutual TLS (``reason`` ``not_a_peer``), or asks for an
    organisation its trust list does not host (``reason`` ``organisation_not_hosted``)."""

    code = "identity.linkage.forbidden"
    http_status = 403


class NotLinkageBase(LinkageError):
    """This deployment is not the linkage base: another deployment issues 符号 (``RENKEI_LINKAGE_BASE``)."""

    code = "identity.linkage.not_base"
    http_status = 409


class LinkageNotConfigured(LinkageError):
    """An operation that needs a remote linkage base, at a deployment that is its own base."""

    code = "identity.linkage.not_configured"
    http_status = 409


class UnknownResident(LinkageError, NotFound):
    """No person with this 住民票コード at the linkage base."""

    code = "identity.linkage.unknown_resident"
    http_status = 404


class BatchTooLarge(LinkageError, InvalidInput):
    """A batch with no items or more than the limit (``detail["limit"]``)."""

    code = "identity.linkage.batch_invalid"
    http_status = 400


class FugoNotAcquired(LinkageError, NotFound):
    """Another deployment is the linkage base and has not issued this person's 符号 for the organisation."""

    code = "identity.linkage.not_acquired"


class LinkageRefused(LinkageError):
    """The linkage base answered with an error; ``detail["base_code"]`` is its stable code (e.g.
    ``identity.linkage.forbidden``), ``detail["status"]`` its HTTP status."""

    code = "identity.linkage.refused"
    http_status = 502
