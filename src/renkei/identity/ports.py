"""What the ``identity`` context needs from outside: a key store and its storage."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from renkei.identity.models import (
    AtenaNumber,
    BasicInfo,
    BasicInfoRecord,
    CardState,
    Fugo,
    FugoRecord,
    NumberRecord,
    Organisation,
    OrgId,
    PersonKey,
    ResidentCodeRecord,
)


class KeyStore(Protocol):
    """Named secrets of the deployment (FF1 key, 符号 key, CA key seed …)."""

    def secret(self, name: str, size: int) -> bytes:
        """The secret ``name``: ``size`` random bytes created on first use, the same ever after."""
        ...


class IdentityRepository(Protocol):
    """The numbering and linkage base's tables. Each call is one transaction."""

    # --- issuance sequences ---

    def reserve(self, sequence: str, count: int, limit: int) -> int:
        """Reserve ``count`` consecutive values of ``sequence`` and return the first.

        The counter is persisted before the values are handed out, so no value is ever returned twice, even
        across processes and restarts. Raises ``identity.sequence.exhausted`` if it would pass ``limit``.
        """
        ...

    def peek(self, sequence: str) -> int:
        """The next value ``sequence`` would hand out (0 when never used)."""
        ...

    # --- persons, numbers, 基本4情報 ---

    def add_person(self, person_key: PersonKey, sequence: int, info: BasicInfo, at: datetime) -> NumberRecord:
        """Record a new person, the sequence value of their 個人番号 and their first 基本4情報, together."""
        ...

    def person_exists(self, person_key: PersonKey) -> bool: ...

    def number_by_sequence(self, sequence: int) -> NumberRecord | None: ...

    def current_number(self, person_key: PersonKey) -> NumberRecord | None:
        """The person's number that is not retired, if any."""
        ...

    def change_number(self, person_key: PersonKey, old: int, new: int, at: datetime) -> NumberRecord:
        """Retire ``old`` and issue ``new`` to the person, linking them, in one transaction (番号変更)."""
        ...

    def add_basic_info(
        self, person_key: PersonKey, info: BasicInfo, valid_from: datetime, at: datetime
    ) -> None:
        """Append a version of the person's 基本4情報 in force from ``valid_from``."""
        ...

    def basic_info_history(self, person_key: PersonKey) -> list[BasicInfoRecord]:
        """Every version, oldest ``valid_from`` first."""
        ...

    # --- organisations, 符号, 宛名番号 ---

    def add_organisation(self, org: OrgId, at: datetime) -> Organisation:
        """Register ``org`` (idempotent: returns the organisation already registered)."""
        ...

    def organisation(self, org: OrgId) -> Organisation | None: ...

    def rotate(
        self, org: OrgId, expected_generation: int, at: datetime, grace_until: datetime
    ) -> Organisation:
        """Start generation ``expected_generation + 1`` of ``org``'s 符号; the previous one resolves until
        ``grace_until``. Raises ``storage.conflict`` when another rotation came first."""
        ...

    def put_fugo(self, record: FugoRecord) -> FugoRecord:
        """Store ``record`` (idempotent for the same person, org and generation); returns the stored one."""
        ...

    def fugo_of(self, person_key: PersonKey, org: OrgId, generation: int) -> FugoRecord | None: ...

    def fugos_of(
        self, person_keys: Sequence[PersonKey], org: OrgId, generation: int
    ) -> dict[PersonKey, FugoRecord]:
        """The stored 符号 of those persons at ``org`` in ``generation`` (one query per few hundred)."""
        ...

    def fugo_holders(self, org: OrgId, generation: int, fugos: Sequence[Fugo]) -> dict[Fugo, PersonKey]:
        """Who holds each of ``fugos`` at ``org`` in ``generation``, for those that are stored."""
        ...

    def put_fugos(self, records: Sequence[FugoRecord]) -> dict[PersonKey, FugoRecord]:
        """Store ``records`` in one transaction; a record whose person already has a 符号 there, or whose
        符号 is already another person's, is skipped. Returns what stands afterwards for those persons."""
        ...

    def find_fugo(self, org: OrgId, fugo: Fugo) -> list[FugoRecord]:
        """The records of ``fugo`` at ``org``, newest generation first."""
        ...

    def put_local_id(self, org: OrgId, atena: AtenaNumber, person_key: PersonKey, at: datetime) -> None:
        """Register ``atena`` as ``org``'s 宛名番号 of the person (idempotent for the same pair).

        Raises ``identity.local_id.conflict`` if either is registered at ``org`` with another partner.
        """
        ...

    def person_by_local_id(self, org: OrgId, atena: AtenaNumber) -> PersonKey | None: ...

    def local_id_of(self, org: OrgId, person_key: PersonKey) -> AtenaNumber | None: ...

    # --- 住民票コード (keyed, never in clear) ---

    def put_resident_code(self, record: ResidentCodeRecord) -> None:
        """Register the person's 住民票コード (idempotent for the same person and digest).

        Raises ``identity.resident_code.conflict`` if the digest belongs to another person or the person
        already has another one.
        """
        ...

    def persons_by_resident_digests(self, digests: Sequence[str]) -> dict[str, PersonKey]:
        """The persons behind those of ``digests`` that are registered (digest → person key)."""
        ...

    def resident_codes_at(self, org: OrgId, after: PersonKey | None, limit: int) -> list[ResidentCodeRecord]:
        """Up to ``limit`` records of persons who have both a 住民票コード and a 宛名番号 at ``org``, by
        person key, starting after ``after`` (keyset paging)."""
        ...

    # --- cards and logins ---

    def add_card(self, serial: str, person_key: PersonKey, at: datetime) -> CardState: ...

    def card(self, serial: str) -> CardState | None: ...

    def record_pin_failure(self, serial: str, limit: int, at: datetime) -> CardState:
        """Count one wrong PIN (atomically); lock the card when ``limit`` failures are reached."""
        ...

    def reset_pin_failures(self, serial: str) -> None:
        """A right PIN on an unlocked card resets the counter."""
        ...

    def add_nonce(self, nonce: str, issued_at: datetime, expires_at: datetime) -> None: ...

    def consume_nonce(self, nonce: str, at: datetime) -> bool:
        """Mark ``nonce`` used if it exists, is unused and has not expired at ``at``; tell whether it was."""
        ...
