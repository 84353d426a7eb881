"""The integrated DB fed through the hub: per tenant, a subscriber that reads 住民異動 / 住登外異動 feeds.

Each municipality's 統合DB is a **member system of its own organisation** (``JP/LG/<tenant>/u09`` by default,
named 統合DB (団体内統合宛名); docs/masterdata.md says why that unit) with **poll** subscriptions to
``resident-changes`` and ``non-resident-changes``, limited (``source``) to its own organisation. It reads the
hub's 差分 feed in-process — :meth:`NotificationHub.feed` with a request signed by its own key, so the hub's
authentication, matrix and purpose checks, message log and access records apply exactly as to any poller —
from a cursor kept durably in the tenant's intake log. For each event, in the feed's order:

1. the person: the envelope carries the subscriber organisation's 符号; the linkage base turns it back into
   the person and then into the tenant's own 宛名番号 (``LinkageBase.resolve`` then ``local_id``), which must
   agree with ``data.atena_number`` when the feed carries it;
2. :meth:`MasterData.apply` with the hub's event id (idempotent by it), the publisher named so the master's
   own tenant guard checks it;
3. a refusal that is about the event itself (``masterdata.event.*``, ``masterdata.tenant.mismatch``,
   ``masterdata.intake.person_unknown``) is **skipped with a record**
   (:class:`~renkei.masterdata.ports.Rejection`) and the person's later events go on; anything else
   (storage down, a linkage failure) stops that feed for this pass without moving its cursor.

After a page is taken the cursor advances to the page's ``next``. A crash between apply and cursor re-reads
the page: already applied events come back as duplicates and change nothing. So: at least once, in order per
person (the feed is in acceptance order), across restarts.

Access records: the feed read leaves the pair (requester: the 統合DB member; provider: the publisher) for
each personal event, as for every poller; applying writes none, so nothing is recorded twice.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode

from renkei.errors import RenkeiError
from renkei.exchange.models import Incoming
from renkei.exchange.notifications.models import DeliveryMode, new_id
from renkei.exchange.notifications.service import NotificationHub
from renkei.identity.errors import UnknownPerson
from renkei.identity.service import LinkageBase
from renkei.masterdata.errors import (
    EventConflict,
    EventInvalid,
    IntakeError,
    IntakeFeedFailed,
    IntakeNotEnrolled,
    IntakePersonUnknown,
    IntakeUnitTaken,
    TenantMismatch,
)
from renkei.masterdata.models import NON_RESIDENT_TOPIC, RESIDENT_TOPIC, TenantCode, tenant_code
from renkei.masterdata.ports import Feed, IntakeStore, Rejection
from renkei.masterdata.service import MasterData
from renkei.registry.auth import SIGNATURE_HEADER, sign_request
from renkei.registry.identifiers import MemberClass, MemberId, OrganisationId
from renkei.registry.keystore import write_private
from renkei.registry.service import Registry
from renkei.spec.authorisation import decide
from renkei.types import UnitNumber

log = logging.getLogger(__name__)

INTAKE_UNIT: Final = UnitNumber(9)
"""収滞納管理: the unit the 統合DB subscriber is registered as (docs/masterdata.md, "Fed by the hub")."""
INTAKE_NAME: Final = "統合DB (団体内統合宛名)"
"""The member system's name; a member of the unit registered under another name is someone else's."""
INTAKE_PURPOSE: Final = "integrated-atena"
INTAKE_PURPOSE_NAME: Final = "団体内統合宛名の維持 (統合DB)"
INTAKE_LEGAL_BASIS: Final = "住民基本台帳法 第1条・各利用事務に共通する宛名の管理"
INTAKE_USES: Final[Mapping[str, None]] = {"resident-record": None, "non-resident-record": None}
"""Every item the topics carry (None): the master keeps the whole record."""
INTAKE_TOPICS: Final = (RESIDENT_TOPIC, NON_RESIDENT_TOPIC)
INTAKE_KEYS: Final = Path("masterdata") / "intake"
"""Where the subscribers' keys live, relative to the data directory."""
PAGE_SIZE: Final = 100
MAX_PAGES: Final = 100
"""Pages per feed in one pass: a long backlog is taken over several passes, each bounded."""
DEFAULT_INTERVAL: Final = 5.0

PERMANENT: Final = (EventInvalid, EventConflict, TenantMismatch, IntakePersonUnknown)
"""Refusals about the event itself: the same event can never pass, so it is skipped with a record."""


# --- enrolment ----------------------------------------------------------------------------------------


def intake_key_directory(key_directory: Path, member: MemberId) -> Path:
    """Where the subscriber's ``member.key`` and ``member.crt`` are: ``<dir>/LG-131016-u09``."""
    org = member.organisation
    return key_directory / f"{org.member_class.value}-{org.code}-{member.subsystem}"


@dataclass(frozen=True, slots=True)
class IntakeCredential:
    """The 統合DB member system and the key it signs its feed reads with."""

    member: MemberId
    private_key_pem: bytes
    certificate_pem: bytes

    @classmethod
    def load(cls, key_directory: Path, member: MemberId) -> IntakeCredential:
        """Read the member's key files (written by :func:`enrol_intake`)."""
        where = intake_key_directory(key_directory, member)
        try:
            return cls(member, (where / "member.key").read_bytes(), (where / "member.crt").read_bytes())
        except OSError:
            raise IntakeNotEnrolled(
                f"統合DB の鍵がありません (no key for {member}: run renkei masterdata enrol)",
                member=str(member),
            ) from None


@dataclass(frozen=True, slots=True)
class IntakeEnrolment:
    """What :func:`enrol_intake` did (all zero on a second call)."""

    tenant: TenantCode
    member: MemberId
    members: int = 0
    key_files: int = 0
    purposes: int = 0
    subscriptions: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.members or self.key_files or self.purposes or self.subscriptions)


def enrol_intake(
    registry: Registry,
    hub: NotificationHub,
    tenant: str,
    key_directory: Path,
    *,
    unit: int = INTAKE_UNIT,
) -> IntakeEnrolment:
    """Enrol ``tenant``'s 統合DB as a subscriber of the hub; idempotent.

    The tenant's organisation (``JP/LG/<tenant>``) must be registered. Registers the member system
    ``JP/LG/<tenant>/u<unit>`` named :data:`INTAKE_NAME` (refused with ``masterdata.intake.unit_taken`` when
    that unit is registered as another system), writes its key and certificate under ``key_directory``
    (0600; a lost key is replaced by a renewed one), registers the purpose :data:`INTAKE_PURPOSE`, and
    subscribes it by **poll** to both topics for its own organisation's events."""
    code = tenant_code(tenant)
    organisation = OrganisationId.of(MemberClass.LG, code, instance=registry.instance)
    registry.organisation(organisation)  # registry.organisation.unknown when it is not registered
    member = MemberId(organisation, registry.check_unit(unit))
    keys = intake_key_directory(key_directory, member)
    members = key_files = purposes = subscriptions = 0
    existing = registry.find_member(member)
    if existing is None:
        enrolment = registry.enrol(organisation, member.unit, name=INTAKE_NAME)
        members = 1
    elif existing.name != INTAKE_NAME:
        raise IntakeUnitTaken(
            f"{member} は別のシステムとして登録済みです (registered as another system; choose another unit)",
            member=str(member),
        )
    elif not (keys / "member.key").exists() or not (keys / "member.crt").exists():
        enrolment = registry.renew(member)
    else:
        enrolment = None
    if enrolment is not None:
        write_private(keys / "member.key", enrolment.private_key_pem)
        write_private(keys / "member.crt", enrolment.certificate_pem)
        key_files = 2
    if INTAKE_PURPOSE not in {p.id for p in registry.purposes()}:
        try:
            registry.add_purpose(INTAKE_PURPOSE, INTAKE_PURPOSE_NAME, INTAKE_LEGAL_BASIS, INTAKE_USES)
            purposes = 1
        except RenkeiError as error:  # another process registered it meanwhile
            if error.code != "registry.purpose.exists":
                raise
    held = {s.topic: s for s in hub.subscriptions(subscriber=str(member))}
    for topic in INTAKE_TOPICS:
        found = held.get(topic)
        wanted = (DeliveryMode.POLL, None, INTAKE_PURPOSE, str(organisation))
        if found is not None and (found.mode, found.url, found.purpose, found.source) == wanted:
            continue
        hub.subscribe(
            str(member), topic, mode=DeliveryMode.POLL.value, purpose=INTAKE_PURPOSE, source=str(organisation)
        )
        subscriptions += 1
    return IntakeEnrolment(code, member, members, key_files, purposes, subscriptions)


def enrolled_subscribers(hub: NotificationHub) -> list[MemberId]:
    """The 統合DB subscribers enrolled on the hub (poll subscriptions for :data:`INTAKE_PURPOSE` by member
    systems of municipalities), one per tenant, by tenant."""
    found: dict[str, MemberId] = {}
    for topic in INTAKE_TOPICS:
        for s in hub.subscriptions(topic=topic):
            if s.mode is not DeliveryMode.POLL or s.purpose != INTAKE_PURPOSE:
                continue
            try:
                member = MemberId.parse(s.subscriber)
            except RenkeiError:
                continue
            if member.organisation.member_class is MemberClass.LG:
                found.setdefault(member.organisation.code, member)
    return [found[code] for code in sorted(found)]


# --- reading the hub --------------------------------------------------------------------------------------


@dataclass(slots=True)
class IntakeReport:
    """What one pass did, for one tenant."""

    tenant: TenantCode
    feeds: int = 0
    pages: int = 0
    read: int = 0
    applied: int = 0
    duplicates: int = 0
    rejected: int = 0
    failures: list[str] = field(default_factory=list)
    """One ``code`` (and the hub's reason) per feed that stopped early this pass; the next pass retries."""

    def as_json(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "feeds": self.feeds,
            "pages": self.pages,
            "read": self.read,
            "applied": self.applied,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "failures": list(self.failures),
        }


class MasterDataIntake:
    """One tenant's 統合DB subscriber: :meth:`run_once` takes every new event of its feeds."""

    def __init__(
        self,
        masterdata: MasterData,
        hub: NotificationHub,
        registry: Registry,
        linkage: LinkageBase,
        store: IntakeStore,
        credential: IntakeCredential,
        *,
        page_size: int = PAGE_SIZE,
        max_pages: int = MAX_PAGES,
    ) -> None:
        self._masterdata = masterdata
        self._hub = hub
        self._registry = registry
        self._linkage = linkage
        self._credential = credential
        self.member = credential.member
        self.tenant = tenant_code(credential.member.organisation.code)
        self._log = store.scoped(self.tenant)
        self._page_size = page_size
        self._max_pages = max_pages
        self._quiet: dict[Feed, int] = {}
        """Per feed, the hub's last sequence when it was last read to its end: nothing can be new in the
        feed while the hub's last sequence stays there (sequences are dense and given in commit order)."""

    @classmethod
    def open(
        cls,
        masterdata: MasterData,
        hub: NotificationHub,
        registry: Registry,
        linkage: LinkageBase,
        store: IntakeStore,
        member: MemberId,
        key_directory: Path,
        **options: int,
    ) -> MasterDataIntake:
        """The intake of an enrolled subscriber, its key read from ``key_directory``."""
        credential = IntakeCredential.load(key_directory, member)
        return cls(masterdata, hub, registry, linkage, store, credential, **options)

    def feeds(self) -> list[Feed]:
        """The feeds to read: per poll subscription of the member, every member system of the tenant's own
        organisation that its ``source`` takes and the matrix lets send the topic's kind to the member."""
        subscriptions = [
            s
            for s in self._hub.subscriptions(subscriber=str(self.member))
            if s.mode is DeliveryMode.POLL and s.topic in self._masterdata.topics
        ]
        if not subscriptions:
            raise IntakeNotEnrolled(
                f"{self.member} に統合DBの購読がありません"
                " (no poll subscription: run renkei masterdata enrol)",
                member=str(self.member),
            )
        spec = self._masterdata.spec
        publishers = [m.id for m in self._registry.members(self.member.organisation) if m.id != self.member]
        feeds = []
        for s in subscriptions:
            kind, _ = spec.service(s.topic)
            for publisher in publishers:
                if (
                    s.takes_from(str(publisher))
                    and decide(spec, kind.id, publisher.unit, self.member.unit).allowed
                ):
                    feeds.append(Feed(str(self.member), str(publisher), s.topic))
        return sorted(feeds)

    def rejections(self, limit: int = 100) -> list[Rejection]:
        """The events the master refused, most recent first."""
        return self._log.rejections(limit)

    def cursor(self, feed: Feed) -> int:
        return self._log.cursor(feed)

    def run_once(self) -> IntakeReport:
        """One pass: every feed from its cursor to its end (at most ``max_pages`` pages each)."""
        report = IntakeReport(self.tenant)
        feeds = self.feeds()
        report.feeds = len(feeds)
        for feed in feeds:
            self._run_feed(feed, report)
        return report

    def _run_feed(self, feed: Feed, report: IntakeReport) -> None:
        last = self._hub.store.last_sequence()
        if self._quiet.get(feed) == last:
            return
        cursor = self._log.cursor(feed)
        for _ in range(self._max_pages):
            try:
                body = self._read(feed, cursor)
                events = body["events"]
                after = int(body["next"])
                taken = self._take_page(feed, events, report)
            except Exception as exc:
                code = exc.code if isinstance(exc, RenkeiError) else type(exc).__name__
                reason = exc.detail.get("reason") if isinstance(exc, RenkeiError) else None
                report.failures.append(
                    f"{feed.publisher} {feed.topic}: {code}" + (f" ({reason})" if reason else "")
                )
                where = f"{feed.publisher} {feed.topic}"
                log.warning(
                    "統合DB intake %s: %s stopped at cursor %d (%s%s)",
                    self.tenant,
                    where,
                    cursor,
                    code,
                    "" if isinstance(exc, RenkeiError) else f" at {_raised_at(exc)}",
                )
                return
            report.pages += 1
            if after > cursor:
                self._log.advance(feed, after, self._hub.clock.now(), applied=taken[0], rejected=taken[1])
                cursor = after
            if not body["more"]:
                self._quiet[feed] = last
                return

    def _read(self, feed: Feed, since: int) -> dict[str, Any]:
        query = {"since": str(since), "limit": str(self._page_size)}
        target = f"/r1/{feed.publisher}/feeds/{feed.topic}?{urlencode(query)}"
        token = sign_request(
            self._credential.private_key_pem,
            self.member,
            "GET",
            target,
            b"",
            self._hub.clock.now(),
            certificate=self._credential.certificate_pem,
            audience=self._registry.instance,
        )
        headers = {
            SIGNATURE_HEADER.lower(): token,
            "x-road-client": str(self.member),
            "x-road-issue": INTAKE_PURPOSE,
            "x-road-id": new_id("md"),
        }
        path = (*feed.publisher.split("/"), "feeds", feed.topic)
        exchanged = self._hub.feed(Incoming("GET", target, path, headers, b"", query), feed.topic)
        reply = exchanged.reply
        if reply.status != 200:
            raise IntakeFeedFailed(
                f"ハブがフィードを返しませんでした (the hub answered {reply.status})",
                status=reply.status,
                reason=str(reply.body.get("code", "")),
            )
        return dict(reply.body)

    def _take_page(self, feed: Feed, events: Sequence[Any], report: IntakeReport) -> tuple[int, int]:
        applied = rejected = 0
        for envelope in events:
            if not isinstance(envelope, Mapping) or not isinstance(envelope.get("event_id"), str):
                raise IntakeFeedFailed("フィードのイベントにIDがありません (a feed event without event_id)")
            event_id = str(envelope["event_id"])
            report.read += 1
            try:
                outcome = self._apply(feed, envelope)
            except PERMANENT as error:
                self._reject(feed, event_id, error)
                report.rejected += 1
                rejected += 1
                continue
            if outcome:
                report.duplicates += 1
            else:
                report.applied += 1
                applied += 1
        return applied, rejected

    def _apply(self, feed: Feed, envelope: Mapping[str, Any]) -> bool:
        """Apply one feed event; whether it was a duplicate."""
        data = envelope.get("data")
        if not isinstance(data, Mapping):
            raise EventInvalid("フィードのイベントに data がありません (no data)", field="data")
        items = dict(data)
        items["atena_number"] = self._atena(envelope, data)
        try:
            occurred = datetime.fromisoformat(str(envelope.get("occurred_at")))
        except ValueError:
            raise EventInvalid("発生日時が不正です (occurred_at)", field="occurred_at") from None
        applied = self._masterdata.apply(
            self.tenant,
            str(envelope["event_id"]),
            str(envelope.get("event_type")),
            items,
            occurred,
            topic=feed.topic,
            publisher=feed.publisher,
        )
        return applied.duplicate

    def _atena(self, envelope: Mapping[str, Any], data: Mapping[str, Any]) -> str:
        """The tenant's 宛名番号 of the event's person: its 符号 (the subscriber organisation's, which is the
        tenant's) resolved in the linkage base, then the tenant's local id of that person."""
        org = str(self.member.organisation)
        fugo = envelope.get("person_fugo")
        if not isinstance(fugo, str):
            raise IntakePersonUnknown("イベントに符号がありません (the event names no person)")
        try:
            person = self._linkage.resolve(org, fugo)
        except UnknownPerson:
            raise IntakePersonUnknown("符号が連携基盤で解決できません (the 符号 does not resolve)") from None
        local = self._linkage.local_id(org, person)
        if local is None:
            raise IntakePersonUnknown(
                "この者の宛名番号がテナントにありません (the person has no 宛名番号 in the tenant)"
            )
        carried = data.get("atena_number")
        if carried is not None and carried != str(local):
            raise EventInvalid(
                "宛名番号が符号と一致しません (data.atena_number is not the tenant's 宛名番号 of the person)",
                field="atena_number",
            )
        return str(local)

    def _reject(self, feed: Feed, event_id: str, error: RenkeiError) -> None:
        field_name = error.detail.get("field")
        rejection = Rejection(
            tenant=self.tenant,
            event_id=event_id,
            feed=feed,
            code=error.code,
            field=None if field_name is None else str(field_name)[:64],
            rejected_at=self._hub.clock.now(),
        )
        self._log.reject(rejection)
        log.warning("統合DB intake %s: event %s skipped (%s)", self.tenant, event_id, error.code)


def open_intakes(
    masterdata: MasterData,
    hub: NotificationHub,
    registry: Registry,
    linkage: LinkageBase,
    store: IntakeStore,
    key_directory: Path,
) -> list[MasterDataIntake]:
    """The intake of every tenant whose 統合DB subscriber is enrolled (a subscriber whose key is missing is
    logged and left out: re-run the enrolment)."""
    intakes = []
    for member in enrolled_subscribers(hub):
        try:
            intakes.append(
                MasterDataIntake.open(masterdata, hub, registry, linkage, store, member, key_directory)
            )
        except IntakeError as error:
            log.warning("統合DB intake for %s not started (%s)", member, error.code)
    return intakes


# --- running ----------------------------------------------------------------------------------------------


async def run_intake(
    intakes: MasterDataIntake | Sequence[MasterDataIntake],
    stop: asyncio.Event,
    interval: float = DEFAULT_INTERVAL,
) -> None:
    """Run a pass of every intake (in a worker thread), then wait ``interval`` seconds or until ``stop``;
    until ``stop`` is set. A failing pass is logged (its code) and retried at the next turn."""
    every = [intakes] if isinstance(intakes, MasterDataIntake) else list(intakes)
    while not stop.is_set():
        for intake in every:
            if stop.is_set():
                break
            try:
                await asyncio.to_thread(intake.run_once)
            except Exception as exc:
                code = exc.code if isinstance(exc, RenkeiError) else type(exc).__name__
                log.warning("統合DB intake %s: pass failed (%s)", intake.tenant, code)
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)


@asynccontextmanager
async def intake_lifespan(
    intakes: Sequence[MasterDataIntake], interval: float = DEFAULT_INTERVAL
) -> AsyncIterator[asyncio.Task[None]]:
    """Run :func:`run_intake` for the block (the app's lifespan); stop it after the pass under way."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_intake(intakes, stop, interval))
    try:
        yield task
    finally:
        stop.set()
        await task


def _raised_at(exc: BaseException) -> str:
    """Where an unexpected exception was raised (file:line of the innermost frame): enough to find the bug,
    without the exception's text, which may quote a value of the event."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.lineno}"
