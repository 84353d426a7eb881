"""X-Road style identifiers: ``INSTANCE/CLASS/MEMBER`` for an organisation (``JP/LG/131016``) and
``INSTANCE/CLASS/MEMBER/SUBSYSTEM`` for a member system (``JP/LG/131016/u06``, 千代田区's 個人住民税 system).

The member code is checked by its class: ``LG`` a 全国地方公共団体コード (6 digits, check digit), ``COM`` a
法人番号 (13 digits, check digit), ``GOV`` an agency code. The subsystem code is ``u`` and the two-digit
業務ユニット number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

from renkei.japanese.checkdigit import validate_corporate_number, validate_local_government_code
from renkei.japanese.errors import CheckDigitMismatch, MalformedNumber
from renkei.registry.errors import IdentifierInvalid, OrganisationInvalid
from renkei.types import UnitNumber

DEFAULT_INSTANCE = "JP"
INSTANCE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
AGENCY_CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
SUBSYSTEM_PATTERN = re.compile(r"^u([0-9]{2})$")


class MemberClass(StrEnum):
    """X-Road member class (機関の種別)."""

    LG = "LG"
    """地方公共団体 (local government): identified by its 全国地方公共団体コード."""
    GOV = "GOV"
    """国の行政機関 (national agency): identified by an agency code."""
    COM = "COM"
    """民間法人 (private body): identified by its 法人番号."""


def check_instance(instance: str) -> str:
    """Return ``instance`` if it is a valid instance code (``JP``, ``JP-TEST`` …)."""
    if not INSTANCE_PATTERN.fullmatch(instance):
        raise IdentifierInvalid(
            f"instance {instance!r}: 1-32 ASCII letters, digits, '-' or '_', starting with a letter or digit",
            field="instance",
        )
    return instance


def check_member_code(member_class: MemberClass, code: str) -> str:
    """Return the canonical member code for ``member_class``, or raise ``registry.organisation.invalid``."""
    try:
        if member_class is MemberClass.LG:
            return validate_local_government_code(code)
        if member_class is MemberClass.COM:
            return validate_corporate_number(code)
    except (MalformedNumber, CheckDigitMismatch) as exc:
        raise OrganisationInvalid(
            f"{member_class.value} の機関コード {code!r} が正しくありません: {exc.message}",
            field="code",
            member_class=member_class.value,
            reason=exc.code,
        ) from None
    if not AGENCY_CODE_PATTERN.fullmatch(code):
        raise OrganisationInvalid(
            f"GOV の機関コード {code!r}: 1-32 ASCII letters, digits, '-' or '_'",
            field="code",
            member_class=member_class.value,
        )
    return code


def subsystem_code(unit: int) -> str:
    """``u06`` for unit 6: the subsystem code of a member system running that 業務ユニット."""
    if not 1 <= unit <= 99:
        raise IdentifierInvalid(f"unit number {unit} is outside 1-99", field="unit", unit=unit)
    return f"u{unit:02d}"


def unit_of_subsystem(code: str) -> UnitNumber:
    """The unit number of a subsystem code (``u06`` → 6)."""
    found = SUBSYSTEM_PATTERN.fullmatch(code)
    if found is None or found.group(1) == "00":
        raise IdentifierInvalid(
            f"subsystem code {code!r}: 'u' and a two-digit unit number (u01-u99)", field="subsystem"
        )
    return UnitNumber(int(found.group(1)))


@dataclass(frozen=True, slots=True, order=True)
class OrganisationId:
    """``JP/LG/131016``: an organisation (機関), an X-Road member."""

    instance: str
    member_class: MemberClass
    code: str
    _text: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_text", f"{self.instance}/{self.member_class.value}/{self.code}")

    @classmethod
    def of(
        cls, member_class: str | MemberClass, code: str, *, instance: str = DEFAULT_INSTANCE
    ) -> OrganisationId:
        """Build and validate (class known, code valid for its class, instance well formed)."""
        try:
            klass = MemberClass(member_class)
        except ValueError:
            raise OrganisationInvalid(
                f"member class {member_class!r}: one of {', '.join(c.value for c in MemberClass)}",
                field="member_class",
            ) from None
        return cls(check_instance(instance), klass, check_member_code(klass, code))

    @classmethod
    def parse(cls, text: str) -> OrganisationId:
        """Read ``INSTANCE/CLASS/MEMBER``; raises ``registry.identifier.invalid`` or
        ``registry.organisation.invalid``."""
        parts = text.split("/")
        if len(parts) != 3:
            raise IdentifierInvalid(
                f"organisation identifier {text!r}: expected INSTANCE/CLASS/MEMBER, e.g. JP/LG/131016",
                field="organisation",
            )
        return cls.of(parts[1], parts[2], instance=parts[0])

    def __str__(self) -> str:
        return self._text


@dataclass(frozen=True, slots=True, order=True)
class MemberId:
    """``JP/LG/131016/u06``: one 業務ユニット run by one organisation (an X-Road subsystem)."""

    organisation: OrganisationId
    unit: UnitNumber
    _text: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # As ``subsystem`` spells it; empty for an out-of-range unit, which ``str`` then refuses as before.
        text = f"{self.organisation}/u{self.unit:02d}" if 1 <= self.unit <= 99 else ""
        object.__setattr__(self, "_text", text)

    @classmethod
    def parse(cls, text: str) -> MemberId:
        """Read ``INSTANCE/CLASS/MEMBER/uNN``; raises ``registry.identifier.invalid`` (or
        ``registry.organisation.invalid`` for a code that fails its check digit)."""
        head, sep, subsystem = text.rpartition("/")
        if not sep or head.count("/") != 2:
            raise IdentifierInvalid(
                f"member identifier {text!r}: expected INSTANCE/CLASS/MEMBER/SUBSYSTEM"
                " (e.g. JP/LG/131016/u06)",
                field="member",
            )
        return cls(OrganisationId.parse(head), unit_of_subsystem(subsystem))

    @property
    def subsystem(self) -> str:
        return subsystem_code(self.unit)

    def __str__(self) -> str:
        return self._text or f"{self.organisation}/{self.subsystem}"
