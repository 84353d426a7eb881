"""Values of the ``identity`` context: persons, 基本4情報, organisations, 符号, cards."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import NewType

from renkei.identity.errors import BasicInfoInvalid, FugoInvalid, OrganisationInvalid, ResidentCodeInvalid
from renkei.japanese.checkdigit import is_valid_corporate_number, is_valid_local_government_code

PersonKey = NewType("PersonKey", str)
"""The internal person key: 128 random bits as 32 hex digits, not derived from a number; stays in the base."""

OrgId = NewType("OrgId", str)
"""An organisation, X-Road style: ``JP/LG/131016``, ``JP/COM/<法人番号>``, ``JP/GOV/<agency>``."""

Fugo = NewType("Fugo", str)
"""符号 (機関別符号): per organisation, unlinkable across organisations; 32 base32 characters."""

AtenaNumber = NewType("AtenaNumber", str)
"""宛名番号: an organisation's own local id of a person."""

ORG_MAX = 64
ATENA_MAX = 32
NAME_MAX = 200
ADDRESS_MAX = 400

RESIDENT_CODE_LENGTH = 11
_FUGO = re.compile(r"[A-Z2-7]{32}")
_FULL_WIDTH_DIGITS = frozenset("０１２３４５６７８９")

_GOV = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
_ATENA = re.compile(r"[0-9A-Za-z-]{1,32}")


def parse_org(text: str) -> OrgId:
    """Return ``text`` as an :data:`OrgId` if it names an organisation in one of the three classes.

    ``JP/LG/`` takes a 全国地方公共団体コード (6 digits, check digit verified), ``JP/COM/`` a 法人番号
    (13 digits, check digit verified), ``JP/GOV/`` an agency code (lower-case letters, digits, hyphens; ≤ 32).
    """
    parts = text.split("/")
    if len(parts) == 3 and parts[0] == "JP":
        klass, member = parts[1], parts[2]
        if (
            (klass == "LG" and is_valid_local_government_code(member))
            or (
                klass == "COM"
                and member.isascii()
                and is_valid_corporate_number(member)
                and len(member) == 13
            )
            or (klass == "GOV" and _GOV.fullmatch(member))
        ):
            return OrgId(text)
    raise OrganisationInvalid(
        "an organisation is JP/LG/<6-digit 団体コード>, JP/COM/<13-digit 法人番号> or JP/GOV/<agency code>",
        reason="format",
    )


def parse_atena(text: str) -> AtenaNumber:
    """Return ``text`` as an :data:`AtenaNumber` (1–32 ASCII letters, digits or hyphens)."""
    if not _ATENA.fullmatch(text):
        raise BasicInfoInvalid("a 宛名番号 is 1 to 32 ASCII letters, digits or hyphens", field="atena_number")
    return AtenaNumber(text)


def parse_resident_code(text: str) -> str:
    """Return ``text`` if it has the form of a 住民票コード: 11 half-width digits.

    Only the form is checked: the check digit's formula (住民基本台帳法施行規則 第1条, 平成14年総務省
    告示第436号) could not be verified from a public source here, so none is computed (docs/identity.md).
    Errors never carry the code, only the reason.
    """
    if len(text) != RESIDENT_CODE_LENGTH:
        raise ResidentCodeInvalid(
            "a 住民票コード is 11 half-width digits (wrong length)", reason="length", length=len(text)
        )
    if text.isascii() and text.isdigit():
        return text
    if all((c.isascii() and c.isdigit()) or c in _FULL_WIDTH_DIGITS for c in text):
        raise ResidentCodeInvalid(
            "a 住民票コード is 11 half-width digits (full-width digits given)", reason="full_width_digits"
        )
    raise ResidentCodeInvalid("a 住民票コード is 11 half-width digits (non-digit given)", reason="non_digit")


def parse_fugo(text: str) -> Fugo:
    """Return ``text`` as a :data:`Fugo` if it is 32 base32 characters (``A``–``Z``, ``2``–``7``)."""
    if not _FUGO.fullmatch(text):
        raise FugoInvalid("a 符号 is 32 base32 characters (A-Z, 2-7)", field="fugo")
    return Fugo(text)


class Sex(StrEnum):
    """性別, with the codes of the spec's ``sex`` dictionary."""

    MALE = "1"  # 男
    FEMALE = "2"  # 女


@dataclass(frozen=True, slots=True)
class BasicInfo:
    """基本4情報: 氏名, 住所, 生年月日, 性別."""

    name: str
    address: str
    birth_date: date
    sex: Sex

    def __post_init__(self) -> None:
        for field, value, limit in (("name", self.name, NAME_MAX), ("address", self.address, ADDRESS_MAX)):
            if not value.strip() or len(value) > limit or "\x00" in value:
                raise BasicInfoInvalid(f"{field} must be 1 to {limit} characters", field=field)
        if not isinstance(self.sex, Sex):
            raise BasicInfoInvalid("sex must be a Sex code", field="sex")


@dataclass(frozen=True, slots=True)
class BasicInfoRecord:
    """One version of a person's 基本4情報, in force from ``valid_from``."""

    person_key: PersonKey
    info: BasicInfo
    valid_from: datetime
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class NumberRecord:
    """One 個人番号 issuance, as the numbering table holds it: the sequence value, not the number.

    The number is ``FF1(sequence) + check digit``; only the key turns one into the other.
    """

    sequence: int
    person_key: PersonKey
    issued_at: datetime
    retired_at: datetime | None
    replaces_sequence: int | None


@dataclass(frozen=True, slots=True)
class Organisation:
    """An organisation known to the linkage base, with its current 符号 generation."""

    org: OrgId
    generation: int
    registered_at: datetime
    rotated_at: datetime | None
    previous_valid_until: datetime | None
    """End of the grace period in which the previous generation's 符号 still resolve."""


@dataclass(frozen=True, slots=True)
class FugoRecord:
    """A 符号 of one person for one organisation, in one generation."""

    person_key: PersonKey
    org: OrgId
    generation: int
    fugo: Fugo
    valid_from: datetime


@dataclass(frozen=True, slots=True)
class ResidentCodeRecord:
    """A person's 住民票コード as the base stores it: a keyed digest to find the person by, and the code
    sealed (AES-256-GCM) so that this deployment can present it to a remote linkage base. Never in clear."""

    person_key: PersonKey
    digest: str
    """HMAC-SHA-256 of the code under the key ``identity.resident-code``, 64 hex digits."""
    sealed: str
    """base64url(nonce ‖ AES-256-GCM(code)) under the key ``identity.resident-code.seal``."""
    registered_at: datetime

    def __repr__(self) -> str:
        return f"ResidentCodeRecord(person_key={self.person_key!r}, <sealed>)"


@dataclass(frozen=True, slots=True)
class CardState:
    """What the base keeps of a card: whose it is, and its PIN retry counter."""

    serial: str
    person_key: PersonKey
    issued_at: datetime
    pin_failures: int
    locked_at: datetime | None

    @property
    def locked(self) -> bool:
        return self.locked_at is not None


@dataclass(frozen=True, slots=True)
class Conversion:
    """The result of an ID conversion: B's 符号, and B's 宛名番号 if B registered one."""

    fugo: Fugo
    atena_number: AtenaNumber | None
