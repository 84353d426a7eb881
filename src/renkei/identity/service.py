"""Use cases of the numbering authority and the linkage base (情報提供ネットワーク).

:class:`IdentityService` issues 個人番号 to persons and keeps their 基本4情報; :class:`LinkageBase` derives
符号 and converts ids between organisations. Neither ever logs, returns in an error, or hands to an
organisation a 個人番号: the internal person key links everything, and only 符号 leave the base.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from renkei.identity.errors import (
    FugoConflict,
    FugoNotAcquired,
    IdentityError,
    UnknownNumber,
    UnknownOrganisation,
    UnknownPerson,
)
from renkei.identity.keys import FUGO_KEY
from renkei.identity.models import (
    AtenaNumber,
    BasicInfo,
    BasicInfoRecord,
    Conversion,
    Fugo,
    FugoRecord,
    Organisation,
    OrgId,
    PersonKey,
    ResidentCodeRecord,
    parse_atena,
    parse_fugo,
    parse_org,
    parse_resident_code,
)
from renkei.identity.numbering import INDIVIDUAL_BASE_DIGITS, INDIVIDUAL_SEQUENCE, NumberCodec
from renkei.identity.ports import IdentityRepository, KeyStore
from renkei.storage.ports import Clock

log = logging.getLogger(__name__)

FUGO_BYTES = 20
"""160 bits of HMAC-SHA-256 output: 32 base32 characters, no padding."""
FUGO_LENGTH = 32
DEFAULT_GRACE = timedelta(days=30)
RESIDENT_CODE_KEY = "identity.resident-code"
"""HMAC key of the 住民票コード digests (the lookup key; the code is never stored in clear)."""
RESIDENT_CODE_SEAL_KEY = "identity.resident-code.seal"
"""AES-256-GCM key of the sealed 住民票コード (so that a non-base deployment can present it to the base)."""
_RESIDENT_CODE_CONTEXT = b"renkei-resident-code-v1\x00"
_SEAL_NONCE = 12
RESIDENT_CODE_PAGE = 1000


def new_person_key() -> PersonKey:
    """128 random bits: never derived from any number, so nothing outside the base can compute it."""
    return PersonKey(secrets.token_hex(16))


def derive_fugo(key: bytes, person_key: PersonKey, org: OrgId, generation: int) -> Fugo:
    """符号 = base32(HMAC-SHA-256(K, "renkei-fugo-v1" ‖ person key ‖ org ‖ generation)[:20])."""
    message = b"\x00".join(
        (b"renkei-fugo-v1", person_key.encode("ascii"), org.encode("ascii"), str(generation).encode("ascii"))
    )
    digest = hmac.new(key, message, hashlib.sha256).digest()[:FUGO_BYTES]
    return Fugo(base64.b32encode(digest).decode("ascii").rstrip("="))


@dataclass(frozen=True, slots=True)
class Enrolment:
    """A newly numbered person: the internal key stays in the base; the number goes on the 通知カード."""

    person_key: PersonKey
    number: str

    def __repr__(self) -> str:  # the number must not reach a log through a repr
        return f"Enrolment(person_key={self.person_key!r}, number=<hidden>)"


class IdentityService:
    """The numbering authority: 個人番号 issuance, 番号変更 and 基本4情報 with history."""

    def __init__(self, repository: IdentityRepository, codec: NumberCodec, clock: Clock) -> None:
        self._repository = repository
        self._codec = codec
        self._clock = clock

    def enrol(self, info: BasicInfo, valid_from: datetime | None = None) -> Enrolment:
        """Create a person with a random internal key, issue a 個人番号 and record the 基本4情報."""
        now = self._clock.now()
        person_key = new_person_key()
        sequence = self._repository.reserve(INDIVIDUAL_SEQUENCE, 1, 10**INDIVIDUAL_BASE_DIGITS)
        self._repository.add_person(person_key, sequence, info, valid_from or now)
        log.info("identity: enrolled person %s", person_key)
        return Enrolment(person_key, self._codec.individual_number(sequence))

    def number_of(self, person_key: PersonKey) -> str:
        """The person's 個人番号 in use (for the 住基 unit and the person themself only)."""
        record = self._repository.current_number(person_key)
        if record is None:
            raise UnknownPerson("no person with this key holds a 個人番号", person_key=person_key)
        return self._codec.individual_number(record.sequence)

    def person_for_number(self, number: str) -> PersonKey:
        """The internal key behind a 個人番号 in use; retired and never-issued numbers are refused alike."""
        record = self._repository.number_by_sequence(self._codec.sequence_of(number))
        if record is None or record.retired_at is not None:
            raise UnknownNumber("this 個人番号 is not in use")
        return record.person_key

    def change_number(self, person_key: PersonKey) -> str:
        """番号変更 after a leak: a new number from the sequence; the old one is retired, never reissued,
        and linked to the new one inside the base only."""
        current = self._repository.current_number(person_key)
        if current is None:
            raise UnknownPerson("no person with this key holds a 個人番号", person_key=person_key)
        new = self._repository.reserve(INDIVIDUAL_SEQUENCE, 1, 10**INDIVIDUAL_BASE_DIGITS)
        self._repository.change_number(person_key, current.sequence, new, self._clock.now())
        log.info("identity: number changed for person %s", person_key)
        return self._codec.individual_number(new)

    def previous_number(self, number: str) -> str | None:
        """The number that ``number`` replaced in a 番号変更, if any (an in-base lookup for the authority)."""
        record = self._repository.number_by_sequence(self._codec.sequence_of(number))
        if record is None:
            raise UnknownNumber("this 個人番号 was never issued")
        if record.replaces_sequence is None:
            return None
        return self._codec.individual_number(record.replaces_sequence)

    def update_basic_info(self, person_key: PersonKey, info: BasicInfo, valid_from: datetime) -> None:
        """Record a new version of the person's 基本4情報 (転居, 氏名変更 …) in force from ``valid_from``."""
        self._require_person(person_key)
        self._repository.add_basic_info(person_key, info, valid_from, self._clock.now())

    def basic_info(self, person_key: PersonKey, at: datetime | None = None) -> BasicInfo:
        """The 基本4情報 in force at ``at`` (default: now)."""
        when = at or self._clock.now()
        in_force = [r for r in self.basic_info_history(person_key) if r.valid_from <= when]
        if not in_force:
            raise UnknownPerson("no 基本4情報 in force at that time", person_key=person_key)
        return in_force[-1].info

    def basic_info_history(self, person_key: PersonKey) -> list[BasicInfoRecord]:
        """Every version of the person's 基本4情報, oldest first."""
        self._require_person(person_key)
        return self._repository.basic_info_history(person_key)

    def _require_person(self, person_key: PersonKey) -> None:
        if not self._repository.person_exists(person_key):
            raise UnknownPerson("no person with this key", person_key=person_key)


DEFAULT_CACHE_TTL = 5.0
#: Entries the lookup cache holds at most; past it the cache starts afresh (memory stays bounded).
CACHE_LIMIT = 100_000
_IMMUTABLE = frozenset({"fugo-record", "fugo-of"})  # 符号 records: never changed once stored


class LinkageBase:
    """The linkage base: 符号 per organisation, 宛名番号 registration and ID conversion.

    符号 rotation: :meth:`rotate` starts a new generation for one organisation; 符号 of the previous
    generation still resolve for ``grace`` (default 30 days) so that in-flight exchanges finish, then not at
    all. Older generations never resolve.
    """

    def __init__(
        self,
        repository: IdentityRepository,
        keys: KeyStore,
        clock: Clock,
        *,
        grace: timedelta = DEFAULT_GRACE,
        cache_ttl: float = DEFAULT_CACHE_TTL,
        issuing: bool = True,
    ) -> None:
        """``issuing``: this deployment is the linkage base and derives 符号; False where another
        deployment is the base — then only 符号 acquired from it (``adopt_fugo(s)``) exist here, and a person
        without one is ``identity.linkage.not_acquired`` (a 符号 made here would mean nothing to the base)."""
        self._issuing = issuing
        self._repository = repository
        self._key = keys.secret(FUGO_KEY, 32)
        self._code_key = keys.secret(RESIDENT_CODE_KEY, 32)
        self._seal = AESGCM(keys.secret(RESIDENT_CODE_SEAL_KEY, 32))
        self._clock = clock
        self._grace = grace
        self._ttl = cache_ttl
        self._cached: dict[tuple[str, ...], tuple[float, Any]] = {}
        self._generation = 0

    def _lookup(self, key: tuple[str, ...], load: Any, *, forever: bool = False) -> Any:
        """``load()``, or its cached value; None and empty answers are not kept."""
        now = time.monotonic()
        hit = self._cached.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        generation = self._generation
        value = load()
        if value and self._ttl > 0 and generation == self._generation:
            if len(self._cached) >= CACHE_LIMIT:
                self._cached = {}
            self._cached[key] = (float("inf") if forever else now + self._ttl, value)
        return value

    def _written(self) -> None:
        """After a write has committed: drop what it may have changed (a racing load is not kept)."""
        self._generation += 1
        self._cached = {k: v for k, v in self._cached.items() if k[0] in _IMMUTABLE}

    def register_organisation(self, org: str) -> Organisation:
        """Register an organisation (``JP/LG/131016`` …); idempotent."""
        try:
            return self._repository.add_organisation(parse_org(org), self._clock.now())
        finally:
            self._written()

    def register_local_id(self, org: str, atena_number: str, person_key: PersonKey) -> None:
        """Record ``atena_number`` as ``org``'s 宛名番号 of the person (団体内統合宛名番号の紐付け)."""
        organisation = self._organisation(org)
        if not self._repository.person_exists(person_key):
            raise UnknownPerson("no person with this key", person_key=person_key)
        try:
            self._repository.put_local_id(
                organisation.org, parse_atena(atena_number), person_key, self._clock.now()
            )
        finally:
            self._written()

    def fugo_for(self, org: str, person_key: PersonKey) -> Fugo:
        """The person's 符号 at ``org`` in the organisation's current generation (stored on first use)."""
        organisation = self._organisation(org)
        if not self._repository.person_exists(person_key):
            raise UnknownPerson("no person with this key", person_key=person_key)
        return self._fugo(organisation, person_key)

    def resolve(self, org: str, fugo: str) -> PersonKey:
        """The internal key behind ``org``'s 符号 (current generation, or the previous one within grace)."""
        organisation = self._organisation(org)
        now = self._clock.now()
        records: list[FugoRecord] = self._lookup(
            ("fugo-record", organisation.org, fugo),
            lambda: list(self._repository.find_fugo(organisation.org, Fugo(fugo))),
            forever=True,
        )
        for record in records:
            if record.generation == organisation.generation:
                return record.person_key
            in_grace = (
                record.generation == organisation.generation - 1
                and organisation.previous_valid_until is not None
                and now < organisation.previous_valid_until
            )
            if in_grace:
                return record.person_key
        raise UnknownPerson("no person behind this 符号 at this organisation", org=organisation.org)

    def convert(self, from_org: str, atena_number: str, to_org: str) -> Conversion:
        """ID conversion in the base: (A, 宛名番号) → A's 符号 → internal key → B's 符号 (→ B's 宛名番号)."""
        source = self._organisation(from_org)
        target = self._organisation(to_org)
        atena = parse_atena(atena_number)
        person_key = self._lookup(
            ("local", source.org, atena), lambda: self._repository.person_by_local_id(source.org, atena)
        )
        if person_key is None:
            raise UnknownPerson("no person with this 宛名番号 at the requesting organisation", org=source.org)
        fugo_a = self._fugo(source, person_key)
        person_key = self.resolve(source.org, fugo_a)
        fugo_b = self._fugo(target, person_key)
        local = self._lookup(
            ("local-of", target.org, person_key), lambda: self._repository.local_id_of(target.org, person_key)
        )
        return Conversion(fugo=fugo_b, atena_number=local)

    def convert_fugo(self, from_org: str, fugo: str, to_org: str) -> Fugo:
        """A's 符号 → B's 符号, for requests that carry a 符号 rather than a 宛名番号."""
        target = self._organisation(to_org)
        return self._fugo(target, self.resolve(from_org, fugo))

    def local_id(self, org: str, person_key: PersonKey) -> AtenaNumber | None:
        """``org``'s 宛名番号 of the person, if registered."""
        return self._repository.local_id_of(self._organisation(org).org, person_key)

    def rotate(self, org: str) -> Organisation:
        """Start a new 符号 generation for ``org``; the previous one resolves during the grace period."""
        organisation = self._organisation(org)
        now = self._clock.now()
        try:
            rotated = self._repository.rotate(
                organisation.org, organisation.generation, now, now + self._grace
            )
        finally:
            self._written()
        log.info("identity: 符号 of %s rotated to generation %d", rotated.org, rotated.generation)
        return rotated

    # --- 住民票コード: how a linkage base finds a person for a 符号 request (never the 個人番号) ---

    def register_resident_code(self, person_key: PersonKey, resident_code: str) -> None:
        """Record the person's 住民票コード: a keyed digest to find them by, and a sealed copy this
        deployment can present to a remote linkage base. Idempotent; another person's code, or a second
        code for the person, is ``identity.resident_code.conflict``. The code never reaches a log or error."""
        code = parse_resident_code(resident_code)
        if not self._repository.person_exists(person_key):
            raise UnknownPerson("no person with this key", person_key=person_key)
        nonce = secrets.token_bytes(_SEAL_NONCE)
        sealed = nonce + self._seal.encrypt(nonce, code.encode("ascii"), person_key.encode("ascii"))
        record = ResidentCodeRecord(
            person_key=person_key,
            digest=self._resident_digest(code),
            sealed=base64.urlsafe_b64encode(sealed).decode("ascii"),
            registered_at=self._clock.now(),
        )
        self._repository.put_resident_code(record)

    def person_by_resident_code(self, resident_code: str) -> PersonKey | None:
        """The person registered with this 住民票コード, or None."""
        return self.persons_by_resident_codes([resident_code])[0]

    def persons_by_resident_codes(self, resident_codes: Sequence[str]) -> list[PersonKey | None]:
        """For each 住民票コード, in order, the person registered with it or None (one query)."""
        digests = [self._resident_digest(parse_resident_code(code)) for code in resident_codes]
        found = self._repository.persons_by_resident_digests(digests)
        return [found.get(digest) for digest in digests]

    def resident_codes_at(self, org: str) -> Iterator[tuple[PersonKey, str]]:
        """Every person with a 住民票コード and a 宛名番号 at ``org``, with the code unsealed: what this
        deployment presents to the linkage base to acquire the organisation's 符号."""
        organisation = self._organisation(org)
        after: PersonKey | None = None
        while True:
            page = self._repository.resident_codes_at(organisation.org, after, RESIDENT_CODE_PAGE)
            for record in page:
                yield record.person_key, self._unseal(record)
            if len(page) < RESIDENT_CODE_PAGE:
                return
            after = page[-1].person_key

    def _resident_digest(self, code: str) -> str:
        return hmac.new(
            self._code_key, _RESIDENT_CODE_CONTEXT + code.encode("ascii"), hashlib.sha256
        ).hexdigest()

    def _unseal(self, record: ResidentCodeRecord) -> str:
        try:
            raw = base64.urlsafe_b64decode(record.sealed.encode("ascii"))
            code = self._seal.decrypt(raw[:_SEAL_NONCE], raw[_SEAL_NONCE:], record.person_key.encode("ascii"))
        except (InvalidTag, ValueError):  # another key, or an altered row
            raise IdentityError(
                "a sealed 住民票コード does not open with this deployment's key", person_key=record.person_key
            ) from None
        return code.decode("ascii")

    # --- 符号 issued by another deployment (the linkage base) ---

    def ensure_organisation(self, org: str) -> Organisation:
        """The organisation, registered first if this base does not know it yet."""
        try:
            return self._organisation(org)
        except UnknownOrganisation:
            return self.register_organisation(org)

    def person_by_local_id(self, org: str, atena_number: str) -> PersonKey | None:
        """The person registered under ``org``'s 宛名番号, if any (nothing derived or stored)."""
        organisation = self._organisation(org)
        atena = parse_atena(atena_number)
        found: PersonKey | None = self._lookup(
            ("local", organisation.org, atena),
            lambda: self._repository.person_by_local_id(organisation.org, atena),
        )
        return found

    def held_fugo(self, org: str, person_key: PersonKey) -> Fugo | None:
        """The 符号 stored for the person at ``org`` in its current generation, if any (nothing derived)."""
        organisation = self._organisation(org)
        record = self._repository.fugo_of(person_key, organisation.org, organisation.generation)
        return None if record is None else record.fugo

    def fugos_for(self, org: str, person_keys: Sequence[PersonKey]) -> list[Fugo]:
        """:meth:`fugo_for` for many persons of this base at once (one read, one write transaction)."""
        organisation = self._organisation(org)
        stored = self._repository.fugos_of(person_keys, organisation.org, organisation.generation)
        now = self._clock.now()
        missing = [
            FugoRecord(
                p,
                organisation.org,
                organisation.generation,
                derive_fugo(self._key, p, organisation.org, organisation.generation),
                now,
            )
            for p in dict.fromkeys(person_keys)
            if p not in stored
        ]
        stored.update(self._repository.put_fugos(missing))
        return [stored[p].fugo for p in person_keys]

    def adopt_fugos(self, org: str, pairs: Sequence[tuple[PersonKey, Fugo]]) -> list[str]:
        """:meth:`adopt_fugo` for many persons at once; per pair, in order, ``"acquired"`` (stored now),
        ``"already_held"`` (the person held exactly this 符号) or ``"conflicts"`` (instead of raising
        ``identity.fugo.conflict``)."""
        organisation = self._organisation(org)
        persons = [person for person, _ in pairs]
        adopted = [parse_fugo(fugo) for _, fugo in pairs]
        held = self._repository.fugos_of(persons, organisation.org, organisation.generation)
        holders = self._repository.fugo_holders(organisation.org, organisation.generation, adopted)
        outcomes: list[str] = []
        wanted: dict[PersonKey, Fugo] = {}
        claimed: dict[Fugo, PersonKey] = {}
        now = self._clock.now()
        for person, fugo in zip(persons, adopted, strict=True):
            record = held.get(person)
            holder = holders.get(fugo, claimed.get(fugo))
            if record is not None:
                outcomes.append("already_held" if record.fugo == fugo else "conflicts")
            elif (holder is not None and holder != person) or wanted.get(person, fugo) != fugo:
                outcomes.append("conflicts")
            else:
                wanted[person] = fugo
                claimed[fugo] = person
                outcomes.append("acquired")
        records = [
            FugoRecord(p, organisation.org, organisation.generation, f, now) for p, f in wanted.items()
        ]
        stood = self._repository.put_fugos(records)
        for index, (person, fugo) in enumerate(zip(persons, adopted, strict=True)):
            if outcomes[index] == "acquired" and (person not in stood or stood[person].fugo != fugo):
                outcomes[index] = "conflicts"  # another writer came first
        return outcomes

    def adopt_fugo(self, org: str, person_key: PersonKey, fugo: str) -> None:
        """Store ``fugo``, issued by the linkage base, as ``org``'s current-generation 符号 of this
        deployment's person: afterwards :meth:`resolve` finds the person by it and :meth:`fugo_for` returns
        it. Idempotent; ``identity.fugo.conflict`` when the person already holds another 符号 in that
        generation or the 符号 names another person there."""
        organisation = self._organisation(org)
        adopted = parse_fugo(fugo)
        if not self._repository.person_exists(person_key):
            raise UnknownPerson("no person with this key", person_key=person_key)
        held = self._repository.fugo_of(person_key, organisation.org, organisation.generation)
        if held is not None and held.fugo != adopted:
            raise FugoConflict(
                "the person already holds another 符号 at this organisation in this generation",
                org=organisation.org,
                reason="person_holds_another",
            )
        if held is None:
            for record in self._repository.find_fugo(organisation.org, adopted):
                if record.generation == organisation.generation and record.person_key != person_key:
                    raise FugoConflict(
                        "this 符号 already names another person at this organisation",
                        org=organisation.org,
                        reason="fugo_names_another",
                    )
            record = FugoRecord(
                person_key, organisation.org, organisation.generation, adopted, self._clock.now()
            )
            if self._repository.put_fugo(record).fugo != adopted:  # another writer came first
                raise FugoConflict(
                    "the person already holds another 符号 at this organisation in this generation",
                    org=organisation.org,
                    reason="person_holds_another",
                )

    def _organisation(self, org: str) -> Organisation:
        # Only an id that parses is ever cached, so a hit needs no second check of its digits.
        organisation: Organisation | None = self._lookup(
            ("organisation", org), lambda: self._repository.organisation(parse_org(org))
        )
        if organisation is None:
            raise UnknownOrganisation("organisation not registered with the linkage base", org=parse_org(org))
        return organisation

    def _fugo(self, organisation: Organisation, person_key: PersonKey) -> Fugo:
        key = ("fugo-of", person_key, organisation.org, str(organisation.generation))
        stored = self._lookup(
            key,
            lambda: self._repository.fugo_of(person_key, organisation.org, organisation.generation),
            forever=True,
        )
        if stored is not None:
            return Fugo(stored.fugo)
        if not self._issuing:
            raise FugoNotAcquired(
                "no 符号 from the linkage base for this person at this organisation"
                " (renkei federation acquire fetches them)",
                org=organisation.org,
            )
        fugo = derive_fugo(self._key, person_key, organisation.org, organisation.generation)
        record = FugoRecord(person_key, organisation.org, organisation.generation, fugo, self._clock.now())
        return self._repository.put_fugo(record).fugo
