"""Change notifications (異動通知) through the hub: publish, subscriptions, feeds, dead letters.

A publisher's events are checked against the spec (topic, event type, items, the person), then written with
one delivery row per webhook subscriber in ONE transaction before the hub answers 2xx (the durable outbox;
a batch is all-or-nothing). :class:`~renkei.exchange.notifications.worker.NotificationWorker` pushes the
deliveries. Pollers read the 差分 feed from a cursor and the 全件 snapshot. Every member-facing call is a
signed request (``registry.auth``), leaves one message-log row, and a read of personal data leaves access
records at both ends.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from jsonschema import Draft202012Validator

from renkei.audit.ports import AccessRecorder
from renkei.errors import RenkeiError
from renkei.exchange.errors import (
    AccessDenied,
    ExchangeError,
    HubFailed,
    IndividualNumberRefused,
    MalformedJson,
    PersonUnknown,
    ServiceNotFound,
)
from renkei.exchange.models import Exchanged, Incoming, LogEntry, LogOutcome, Reply
from renkei.exchange.notifications.errors import (
    CursorInvalid,
    EventInvalid,
    FeedForbidden,
    SourceForbidden,
    SubscriptionInvalid,
    SubscriptionUnknown,
    TopicUnknown,
)
from renkei.exchange.notifications.models import (
    Accepted,
    ClaimedDelivery,
    DeliveryMode,
    DeliveryView,
    FeedPage,
    NewEvent,
    OutboxStats,
    StoredEvent,
    Subscription,
    new_id,
    within,
)
from renkei.exchange.notifications.payload import EventRenderer, Rendered, body_hash, provision_records
from renkei.exchange.notifications.ports import NotificationStore
from renkei.exchange.ports import ExchangeStore
from renkei.exchange.service import (
    CLIENT_HEADERS,
    problem_body,
    request_hash,
    signature_of,
    signed_client,
)
from renkei.exchange.signing import HubSigner
from renkei.identity.scan import contains_individual_number, holds_individual_number
from renkei.identity.service import LinkageBase
from renkei.registry.auth import RequestAuthenticator
from renkei.registry.identifiers import MemberId, OrganisationId
from renkei.registry.models import Purpose, ServiceProtocol
from renkei.registry.service import Registry, check_endpoint
from renkei.spec.authorisation import decide
from renkei.spec.export.openapi import response_schema
from renkei.spec.export.typemap import DATETIME_PATTERN, anchored, json_schema
from renkei.spec.models import InformationKind, Service, ServiceKind, Spec
from renkei.storage.ports import Clock

log = logging.getLogger(__name__)

MAX_BODY: Final = 4 * 1024 * 1024
MAX_BATCH: Final = 1000
FEED_LIMIT: Final = 100
FEED_LIMIT_MAX: Final = 1000
MESSAGE_ID: Final = re.compile(r"^[\x21-\x7e]{1,128}$")
EVENT_ID_PATTERN: Final = r"^[\x21-\x7e]{1,128}$"
FEED_CURSOR: Final = re.compile(r"^[0-9]{1,18}$")
SNAPSHOT_CURSOR: Final = re.compile(r"^([0-9]{1,18})\.([0-9]{1,18})$")

NUMBER_REFUSED: Final = (
    "個人番号は送信できません: name the person by 宛名番号 (atena_number) or 符号 (person_fugo)"
)

Listener = Callable[[], None]


@dataclass(slots=True)
class _Call:
    """What is known of one member-facing call so far, for its message-log row."""

    message_id: str
    request_hash: str
    client: str
    provider: str
    service: str
    purpose: str
    started: float
    at: datetime


@dataclass(frozen=True, slots=True)
class Push:
    """A claimed delivery ready to be pushed: the URL, the body, and what its access records need."""

    claimed: ClaimedDelivery
    receiver: MemberId
    url: str
    rendered: Rendered
    body: bytes
    purpose: str | None


class NotificationHub:
    """Change notifications of one deployment (see the module docstring)."""

    def __init__(
        self,
        registry: Registry,
        authenticator: RequestAuthenticator,
        linkage: LinkageBase,
        recorder: AccessRecorder,
        store: NotificationStore,
        signer: HubSigner,
        clock: Clock,
        *,
        message_log: ExchangeStore | None = None,
        max_body: int = MAX_BODY,
        max_batch: int = MAX_BATCH,
    ) -> None:
        self._registry = registry
        self._spec: Spec = registry.spec
        self._authenticator = authenticator
        self._linkage = linkage
        self._recorder = recorder
        self.store = store
        self.signer = signer
        self.clock = clock
        self._message_log = message_log
        self.max_body = max_body
        self._max_batch = max_batch
        self.renderer = EventRenderer(self._spec, linkage)
        self._validators: dict[str, Draft202012Validator] = {}
        self._verdicts: dict[tuple[str, int, int], bool] = {}
        self._listeners: list[Listener] = []

    @property
    def spec(self) -> Spec:
        return self._spec

    # --- wake-ups for the delivery worker ---------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener`` (from the accepting thread) after each accept that queued deliveries."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    # --- publish -----------------------------------------------------------------------------------

    def publish(
        self, incoming: Incoming, topic: str, *, decode: Callable[[bytes], Mapping[str, Any]] | None = None
    ) -> Exchanged:
        """Accept one event or a batch (``{"events": [...]}``) from the member named in the path.

        ``decode`` turns a body in another format (a CSV file) into that JSON shape, after authentication;
        it raises typed exchange errors, which are answered and logged like any other refusal."""
        call = self._call(incoming, f"events/{topic}")
        try:
            client = self._authenticate(incoming, call)
            publisher = self._self(incoming.path, client, "publishes")
            kind, service = self._topic(topic)
            self._check_sender(kind, publisher)
            events = self._events(incoming, kind, service, publisher, decode)
            route = self._router(kind, publisher)
            accepted = self.store.accept(events, route, self.clock.now())
        except ExchangeError as error:
            return self._fail(call, error)
        except Exception as exc:  # a bug or a storage failure: logged, answered as a typed fault
            log.exception("publish %s failed inside the hub", call.message_id)
            return self._fail(call, HubFailed(f"the hub failed ({type(exc).__name__})"))
        if any(a.deliveries and not a.duplicate for a in accepted):
            for listener in list(self._listeners):
                listener()
        fresh = any(not a.duplicate for a in accepted)
        body = {"topic": topic, "accepted": [_accepted_json(a) for a in accepted]}
        self._log(call, LogOutcome.ACCEPTED if fresh else LogOutcome.REPLAYED, None, body)
        return Exchanged(Reply(202 if fresh else 200, body), call.message_id, call.request_hash)

    def _events(
        self,
        incoming: Incoming,
        kind: InformationKind,
        service: Service,
        publisher: MemberId,
        decode: Callable[[bytes], Mapping[str, Any]] | None = None,
    ) -> list[NewEvent]:
        body = incoming.body or b""
        spotted = contains_individual_number(body) or contains_individual_number(incoming.target)
        if decode is not None:  # another format (a CSV file): its reader raises typed exchange errors
            parsed: Any = decode(body)
        else:
            try:
                parsed = json.loads(body)
            except (ValueError, RecursionError):
                if spotted:
                    raise IndividualNumberRefused(NUMBER_REFUSED) from None
                raise MalformedJson("the body is not JSON (UTF-8)") from None
        if not isinstance(parsed, dict):
            raise EventInvalid('the body is one event (a JSON object) or {"events": [...]}')
        raw = parsed["events"] if set(parsed) == {"events"} else [parsed]
        if not isinstance(raw, list):
            raise EventInvalid(f"events: a list of 1 to {self._max_batch} events", limit=self._max_batch)
        for index, item in enumerate(raw):
            # The parsed form too: it shows a number spelled with JSON escapes, which the raw scan cannot see.
            if holds_individual_number(item):
                raise _at(IndividualNumberRefused(NUMBER_REFUSED), index, len(raw))
        if spotted:
            raise IndividualNumberRefused(NUMBER_REFUSED)
        if not 1 <= len(raw) <= self._max_batch:
            raise EventInvalid(f"events: a list of 1 to {self._max_batch} events", limit=self._max_batch)
        validator = self._validator(kind, service)
        events = []
        for index, item in enumerate(raw):
            try:
                events.append(self._event(index, item, validator, kind, service, publisher))
            except ExchangeError as error:
                raise _at(error, index, len(raw)) from None
        return events

    def _event(
        self,
        index: int,
        item: Any,
        validator: Draft202012Validator,
        kind: InformationKind,
        service: Service,
        publisher: MemberId,
    ) -> NewEvent:
        problems = sorted(validator.iter_errors(item), key=lambda e: list(e.absolute_path))[:10]
        if problems:
            # Locations and the failing keyword only: never the values, which may be personal data.
            where = [
                {"location": "/".join(str(p) for p in e.absolute_path) or "(root)", "rule": str(e.validator)}
                for e in problems
            ]
            raise EventInvalid("the event does not match the topic's schema", errors=where)
        assert isinstance(item, dict)
        data: dict[str, Any] = item["data"]
        event_type = str(item["event_type"])
        for item_id, value in data.items():
            if kind.item(item_id).code == service.event_code and value != event_type:
                raise EventInvalid(
                    f"data.{item_id} must equal event_type (both are {service.event_code} codes)",
                    field=f"data/{item_id}",
                )
        try:
            occurred_at = datetime.fromisoformat(str(item["occurred_at"]).replace("Z", "+00:00"))
        except ValueError:
            raise EventInvalid("occurred_at is not an RFC 3339 date-time", field="occurred_at") from None
        person_key = self._person(kind, item, data, publisher)
        if kind.personal and person_key is None:
            raise EventInvalid(
                f"{kind.name} is personal information: name the person (atena_number or person_fugo)",
                field="atena_number",
            )
        others = [_canonical(data.get(k)) for k in kind.key if k != "atena_number"]
        order_key = _digest(
            f"person\x00{person_key}" if person_key else f"topic\x00{publisher}\x00{service.id}"
        )
        return NewEvent(
            index=index,
            publisher=str(publisher),
            topic=service.id,
            information=kind.id,
            publisher_event_id=item.get("event_id"),
            fingerprint=_digest(_canonical(item)),
            event_type=event_type,
            occurred_at=occurred_at,
            person_key=person_key,
            order_key=order_key,
            state_key=_digest("\x00".join([person_key or "", *others])),
            data=data,
        )

    def _person(
        self, kind: InformationKind, item: Mapping[str, Any], data: Mapping[str, Any], publisher: MemberId
    ) -> str | None:
        """The internal key of the person the event names (every reference must name the same one)."""
        org = str(publisher.organisation)
        found: set[str] = set()
        try:
            for atena in (item.get("atena_number"), data.get("atena_number")):
                if atena is not None:
                    fugo = self._linkage.convert(org, str(atena), org).fugo
                    found.add(str(self._linkage.resolve(org, fugo)))
            if item.get("person_fugo") is not None:
                found.add(str(self._linkage.resolve(org, str(item["person_fugo"]))))
        except RenkeiError as error:
            raise PersonUnknown(
                "the person is not known to the linkage base for the publisher's organisation",
                reason=error.code,
            ) from None
        if len(found) > 1:
            raise EventInvalid("atena_number, person_fugo and data.atena_number name different persons")
        if found and not kind.personal:
            raise EventInvalid(f"{kind.name} is not personal information: name no person")
        return next(iter(found), None)

    def _validator(self, kind: InformationKind, service: Service) -> Draft202012Validator:
        found = self._validators.get(service.id)
        if found is None:
            properties: dict[str, Any] = {
                "event_id": {"type": "string", "pattern": EVENT_ID_PATTERN},
                "event_type": {"type": "string", "enum": list(service.events)},
                "occurred_at": {"type": "string", "pattern": anchored(DATETIME_PATTERN)},
                "data": response_schema(self._spec, kind, service),
            }
            if kind.personal:
                for name in ("atena_number", "person_fugo"):
                    properties[name] = json_schema(self._spec, self._spec.parameter(name))
            schema = {
                "type": "object",
                "properties": properties,
                "required": ["event_type", "occurred_at", "data"],
                "additionalProperties": False,
            }
            found = Draft202012Validator(schema)
            self._validators[service.id] = found
        return found

    def _router(
        self, kind: InformationKind, publisher: MemberId
    ) -> Callable[[Sequence[Subscription]], list[Subscription]]:
        def route(subscriptions: Sequence[Subscription]) -> list[Subscription]:
            return [
                s
                for s in subscriptions
                if s.subscriber != str(publisher)
                and s.takes_from(str(publisher))
                and self._may_receive(kind, publisher, s.subscriber)
            ]

        return route

    def _may_receive(self, kind: InformationKind, sender: MemberId, receiver: str) -> bool:
        try:
            unit = MemberId.parse(receiver).unit
        except RenkeiError:
            return False
        key = (kind.id, sender.unit, unit)
        verdict = self._verdicts.get(key)
        if verdict is None:
            try:
                verdict = decide(self._spec, kind.id, sender.unit, unit).allowed
            except RenkeiError:
                verdict = False
            self._verdicts[key] = verdict
        return verdict

    def _check_sender(self, kind: InformationKind, publisher: MemberId) -> None:
        if not any(t.information == kind.id and t.sender == publisher.unit for t in self._spec.triples()):
            raise AccessDenied(
                f"業務ユニット {publisher.unit} は {kind.name} を送信しません"
                f" (the matrix has no row in which unit {publisher.unit} sends {kind.id})",
                rule="spec.matrix",
                information=kind.id,
                sender=publisher.unit,
            )

    # --- feeds (差分 and 全件) ----------------------------------------------------------------------

    def feed(self, incoming: Incoming, topic: str) -> Exchanged:
        """差分: the publisher's events after ``since`` (query), converted for the caller."""
        call = self._call(incoming, f"feeds/{topic}")
        try:
            client, publisher, kind, purpose = self._reader(incoming, call, topic)
            since = incoming.query.get("since", "0")
            if not FEED_CURSOR.fullmatch(since):
                raise CursorInvalid("since: a cursor this feed handed out (or 0 for the beginning)")
            limit = _limit(incoming.query.get("limit"))
            found = self.store.feed(str(publisher), topic, int(since), limit + 1)
            page = found[:limit]
            next_cursor = str(page[-1].sequence) if page else since
            result = self._page(call, client, kind, purpose, topic, publisher, page)
            reply = FeedPage(topic, str(publisher), result, next_cursor, len(found) > limit)
        except ExchangeError as error:
            return self._fail(call, error)
        except Exception as exc:
            log.exception("feed %s failed inside the hub", call.message_id)
            return self._fail(call, HubFailed(f"the hub failed ({type(exc).__name__})"))
        return self._answer(call, reply)

    def snapshot(self, incoming: Incoming, topic: str) -> Exchanged:
        """全件: the latest event per person (per record key) as of one sequence, paged by ``cursor``."""
        call = self._call(incoming, f"feeds/{topic}/snapshot")
        try:
            client, publisher, kind, purpose = self._reader(incoming, call, topic)
            cursor = incoming.query.get("cursor")
            if cursor is None:
                as_of, after = self.store.last_sequence(), 0
            else:
                matched = SNAPSHOT_CURSOR.fullmatch(cursor)
                if matched is None:
                    raise CursorInvalid("cursor: the snapshot cursor of the previous page")
                as_of, after = int(matched.group(1)), int(matched.group(2))
            limit = _limit(incoming.query.get("limit"))
            found = self.store.snapshot(str(publisher), topic, as_of, after, limit + 1)
            page = found[:limit]
            last = page[-1].sequence if page else after
            result = self._page(call, client, kind, purpose, topic, publisher, page)
            reply = FeedPage(
                topic, str(publisher), result, f"{as_of}.{last}", len(found) > limit, as_of=str(as_of)
            )
        except ExchangeError as error:
            return self._fail(call, error)
        except Exception as exc:
            log.exception("snapshot %s failed inside the hub", call.message_id)
            return self._fail(call, HubFailed(f"the hub failed ({type(exc).__name__})"))
        return self._answer(call, reply)

    def _reader(
        self, incoming: Incoming, call: _Call, topic: str
    ) -> tuple[MemberId, MemberId, InformationKind, Purpose | None]:
        client = self._authenticate(incoming, call)
        publisher = self._path_member(incoming.path)
        kind, service = self._topic(topic)
        if not self._may_receive(kind, publisher, str(client)):
            raise AccessDenied(
                f"{kind.name}: ({publisher.unit}) → ({client.unit}) は連携マトリクスにありません"
                " (the matrix does not allow it)",
                rule="spec.matrix",
                information=kind.id,
                sender=publisher.unit,
                receiver=client.unit,
            )
        self._check_source(client, publisher, service.id)
        purpose_id = incoming.headers.get("x-road-issue")
        if not kind.personal and not purpose_id:
            return client, publisher, kind, None
        return client, publisher, kind, self._purpose(kind, purpose_id)

    def feed_source(self, reader: MemberId, topic: str) -> str:
        """The organisation or member system whose events ``reader`` may read on ``topic``'s feeds: its
        subscription's ``source``; without one (or without a subscription), its own organisation."""
        held = self.store.subscriptions(subscriber=str(reader), topic=topic)
        source = held[0].source if held else None
        return source or str(reader.organisation)

    def _check_source(self, reader: MemberId, publisher: MemberId, topic: str) -> None:
        """The tenancy guard of the feeds: the matrix says which *units* may read a kind; the subscription
        says which *organisations'* publishers. A read naming any other publisher is refused, whatever
        the path, query or headers say (``docs/tenancy.md``)."""
        source = self.feed_source(reader, topic)
        if within(source, str(publisher)):
            return
        raise FeedForbidden(
            f"{reader} の購読は {publisher} のフィードを含みません"
            f" (the reader's subscription takes events of {source} only)",
            rule="subscription.source",
            publisher=str(publisher),
            source=source,
        )

    def _page(
        self,
        call: _Call,
        client: MemberId,
        kind: InformationKind,
        purpose: Purpose | None,
        topic: str,
        publisher: MemberId,
        events: Sequence[StoredEvent],
    ) -> tuple[Mapping[str, Any], ...]:
        rendered = []
        for event in events:
            try:
                rendered.append((event, self.renderer.render(event, client, purpose)))
            except RenkeiError as error:
                raise PersonUnknown(
                    "a person of this feed is not known to the linkage base for the caller's organisation",
                    reason=error.code,
                ) from None
        now = self.clock.now()
        records = [
            record
            for event, one in rendered
            for record in provision_records(
                kind,
                event,
                client,
                one,
                None if purpose is None else purpose.id,
                call.at,
                now,
                call.request_hash,
            )
        ]
        if records:
            self._recorder.append_many(records)
        return tuple(one.envelope for _, one in rendered)

    def _purpose(self, kind: InformationKind, purpose_id: str | None) -> Purpose:
        if not purpose_id:
            raise AccessDenied("X-Road-Issue (the purpose, 事務) is required", rule="registry.purpose")
        try:
            purpose = self._registry.purpose(purpose_id)
        except RenkeiError:
            raise AccessDenied(
                f"事務 {purpose_id[:128]!r} は登録されていません (purpose not registered)",
                rule="registry.purpose",
                purpose=purpose_id[:128],
            ) from None
        if not purpose.items_of(kind.id):
            raise AccessDenied(
                f"事務 {purpose.id} は {kind.name} を利用できません (the purpose does not use {kind.id})",
                rule="registry.purpose",
                purpose=purpose.id,
                information=kind.id,
            )
        return purpose

    # --- subscriptions (self-service over HTTP, and for operators) ---------------------------------

    def subscription_request(self, incoming: Incoming, topic: str) -> Exchanged:
        """``PUT``, ``GET`` or ``DELETE …/subscriptions/{topic}`` by the subscriber itself; ``PUT`` takes
        ``{"mode", "url", "purpose", "source"}``."""
        call = self._call(incoming, f"subscriptions/{topic}")
        try:
            client = self._authenticate(incoming, call)
            subscriber = str(self._self(incoming.path, client, "subscribes"))
            if incoming.method == "DELETE":
                self.unsubscribe(subscriber, topic)
                body: dict[str, Any] = {"subscriber": subscriber, "topic": topic, "removed": True}
            elif incoming.method == "GET":
                found = self.subscriptions(subscriber=subscriber, topic=topic)
                if not found:
                    raise SubscriptionUnknown(f"{subscriber} has no subscription to {topic[:64]}")
                body = subscription_json(found[0])
            else:
                body = subscription_json(self._subscribe_from(client, topic, incoming.body or b""))
        except ExchangeError as error:
            return self._fail(call, error)
        except Exception as exc:
            log.exception("subscription call %s failed inside the hub", call.message_id)
            return self._fail(call, HubFailed(f"the hub failed ({type(exc).__name__})"))
        self._log(call, LogOutcome.PROVIDED if incoming.method == "GET" else LogOutcome.ACCEPTED, None, body)
        return Exchanged(Reply(200, body), call.message_id, call.request_hash)

    def _subscribe_from(self, subscriber: MemberId, topic: str, raw: bytes) -> Subscription:
        """A member's own subscription: its ``source`` lies within its organisation (the default); a
        cross-organisation subscription is made by the operator (:meth:`subscribe`)."""
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            raise MalformedJson("the body is not JSON (UTF-8)") from None
        if not isinstance(body, dict) or set(body) - {"mode", "url", "purpose", "source"}:
            raise SubscriptionInvalid('the body is {"mode", "url", "purpose", "source"}')
        own = str(subscriber.organisation)
        source = _optional_text(body, "source")
        source = own if source is None else _source(source)
        if not within(own, source):
            raise SourceForbidden(
                f"{subscriber} は自団体 ({own}) の外を購読元にできません"
                " (a member subscribes to its own organisation's events; the operator makes"
                " cross-organisation subscriptions)",
                rule="subscription.source",
                source=source,
            )
        return self.subscribe(
            str(subscriber),
            topic,
            mode=str(body.get("mode", DeliveryMode.WEBHOOK.value)),
            url=_optional_text(body, "url"),
            purpose=_optional_text(body, "purpose"),
            source=source,
        )

    def dead_letters_request(self, incoming: Incoming, topic: str) -> Exchanged:
        """``GET …/dead-letters/{topic}``: the caller's own dead letters of the topic (``?limit=``)."""
        call = self._call(incoming, f"dead-letters/{topic}")
        try:
            client = self._authenticate(incoming, call)
            member = str(self._self(incoming.path, client, "reads dead letters"))
            self._topic(topic)
            limit = _limit(incoming.query.get("limit"))
            dead = self.dead_letters(subscriber=member, topic=topic, limit=limit)
        except ExchangeError as error:
            return self._fail(call, error)
        body = {"subscriber": member, "topic": topic, "dead_letters": [delivery_json(d) for d in dead]}
        self._log(call, LogOutcome.PROVIDED, None, body)
        return Exchanged(Reply(200, body), call.message_id, call.request_hash)

    def replay_request(self, incoming: Incoming, topic: str) -> Exchanged:
        """``POST …/dead-letters/{topic}/replay`` by the subscriber: its own dead letters of the topic
        (``{}``: all of them; ``{"event_id": "…"}``: one event's)."""
        call = self._call(incoming, f"dead-letters/{topic}/replay")
        try:
            client = self._authenticate(incoming, call)
            member = str(self._self(incoming.path, client, "replays"))
            self._topic(topic)
            try:
                body = json.loads(incoming.body or b"{}")
            except (ValueError, RecursionError):
                raise MalformedJson("the body is not JSON (UTF-8)") from None
            if not isinstance(body, dict) or set(body) - {"event_id"}:
                raise SubscriptionInvalid('the body is {} (every dead letter) or {"event_id": "…"}')
            count = self.replay(event_id=_optional_text(body, "event_id"), subscriber=member, topic=topic)
        except ExchangeError as error:
            return self._fail(call, error)
        out = {"subscriber": member, "topic": topic, "replayed": count}
        self._log(call, LogOutcome.ACCEPTED, None, out)
        return Exchanged(Reply(200, out), call.message_id, call.request_hash)

    def subscribe(
        self,
        subscriber: str,
        topic: str,
        *,
        mode: str = DeliveryMode.WEBHOOK.value,
        url: str | None = None,
        purpose: str | None = None,
        source: str | None = None,
    ) -> Subscription:
        """Create or replace ``subscriber``'s subscription to ``topic`` (the operator's and the API's path).

        The subscriber must be registered and allowed by the matrix to receive the topic's kind from
        some unit; a webhook needs an absolute http(s) URL; a topic of personal information needs a
        purpose (事務) that uses its kind."""
        try:
            member = MemberId.parse(subscriber)
        except RenkeiError:
            raise SubscriptionInvalid(f"{subscriber[:128]!r} is not a member system id") from None
        if self._registry.find_member(member) is None:
            raise SubscriptionInvalid(f"{member} is not registered", subscriber=str(member))
        kind, service = self._topic(topic)
        senders = sorted({t.sender for t in self._spec.triples() if t.information == kind.id})
        if not any(self._may_receive(kind, MemberId(member.organisation, s), str(member)) for s in senders):
            raise AccessDenied(
                f"業務ユニット {member.unit} は {kind.name} を受け取りません"
                f" (the matrix has no row in which unit {member.unit} receives {kind.id})",
                rule="spec.matrix",
                information=kind.id,
                receiver=member.unit,
            )
        try:
            chosen = DeliveryMode(mode)
        except ValueError:
            raise SubscriptionInvalid("mode: 'webhook' or 'poll'", field="mode") from None
        if chosen is DeliveryMode.WEBHOOK:
            if url is None:
                raise SubscriptionInvalid("a webhook subscription needs its url", field="url")
            try:
                url = check_endpoint(url, ServiceProtocol.REST)
            except RenkeiError as error:
                raise SubscriptionInvalid(error.message, field="url") from None
        elif url is not None:
            raise SubscriptionInvalid("a poll subscription has no url", field="url")
        if purpose is not None or kind.personal:
            purpose = self._purpose(kind, purpose).id
        if source is not None:
            source = _source(source)
        now = self.clock.now()
        return self.store.put_subscription(
            Subscription(str(member), service.id, chosen, url, purpose, source, now, now)
        )

    def unsubscribe(self, subscriber: str, topic: str) -> None:
        """Remove the subscription; its undelivered events go to the dead letters when their turn comes."""
        if not self.store.remove_subscription(subscriber, topic):
            raise SubscriptionUnknown(
                f"{subscriber[:128]} has no subscription to {topic[:64]}", subscriber=subscriber[:128]
            )

    def subscriptions(self, *, subscriber: str | None = None, topic: str | None = None) -> list[Subscription]:
        return self.store.subscriptions(subscriber=subscriber, topic=topic)

    # --- dead letters, replay, measurements ----------------------------------------------------------

    def dead_letters(
        self, *, subscriber: str | None = None, topic: str | None = None, limit: int = 100
    ) -> list[DeliveryView]:
        """Dead letters (oldest event first), of one subscriber and/or topic."""
        return self.store.deliveries(subscriber=subscriber, topic=topic, state="dead", limit=limit)

    def deliveries(self, event_id: str) -> list[DeliveryView]:
        """An event's fan-out: one delivery per webhook subscriber."""
        return self.store.deliveries(event_id=event_id, limit=10_000)

    def replay(
        self, *, event_id: str | None = None, subscriber: str | None = None, topic: str | None = None
    ) -> int:
        """Re-queue dead letters (of one event, subscriber and/or topic; all ``None``: every one); how
        many. Later events for the same person and subscriber, held behind them, follow once these are
        delivered."""
        count = self.store.replay(event_id=event_id, subscriber=subscriber, topic=topic, now=self.clock.now())
        if count:
            for listener in list(self._listeners):
                listener()
        return count

    def stats(self) -> OutboxStats:
        """Outbox depth (pending deliveries), dead letters, lag (age of the oldest due delivery, s)."""
        return self.store.stats(self.clock.now())

    def outbox_depth(self) -> int:
        return self.stats().depth

    def dead_letter_count(self) -> int:
        return self.stats().dead_letters

    def outbox_lag(self) -> float:
        return self.stats().lag_seconds

    # --- what the delivery worker asks ---------------------------------------------------------------

    def prepare(self, claimed: ClaimedDelivery) -> Push:
        """The push of a claimed delivery: the subscriber's URL and the event converted for it.

        Raises :class:`~renkei.errors.RenkeiError` when it cannot be delivered at all (the subscription
        is gone or became a poll, the subscriber or its purpose is no longer registered, the person is
        unknown to the linkage base for the subscriber's organisation): the worker makes it a dead letter.
        """
        subscription = claimed.subscription
        if subscription is None or subscription.mode is not DeliveryMode.WEBHOOK or subscription.url is None:
            raise SubscriptionUnknown("the subscription was removed or is no longer a webhook")
        receiver = MemberId.parse(claimed.subscriber)
        if self._registry.find_member(receiver) is None:
            raise SubscriptionUnknown(f"{receiver} is no longer registered")
        kind = self._spec.kind(claimed.event.information)
        purpose = None if subscription.purpose is None else self._purpose(kind, subscription.purpose)
        rendered = self.renderer.render(claimed.event, receiver, purpose)
        return Push(claimed, receiver, subscription.url, rendered, rendered.body(), subscription.purpose)

    def provided(self, pushes: Sequence[tuple[Push, datetime, datetime]]) -> None:
        """Write the access records of webhook deliveries the subscribers accepted (2xx), in one append:
        ``(push, requested_at, provided_at)`` each."""
        records = []
        for push, requested_at, provided_at in pushes:
            kind = self._spec.kind(push.claimed.event.information)
            records += provision_records(
                kind,
                push.claimed.event,
                push.receiver,
                push.rendered,
                push.purpose,
                requested_at,
                provided_at,
                body_hash(push.body),
            )
        if records:
            self._recorder.append_many(records)

    # --- shared plumbing -----------------------------------------------------------------------------

    def _topic(self, topic: str) -> tuple[InformationKind, Service]:
        try:
            kind, service = self._spec.service(topic)
        except RenkeiError:
            raise TopicUnknown(
                f"通知トピック {topic[:64]!r} は標準仕様にありません (no such topic)", topic=topic[:64]
            ) from None
        if service.kind is not ServiceKind.NOTIFICATION:
            raise TopicUnknown(f"{topic} は通知トピックではありません (a query service)", topic=topic)
        return kind, service

    def _path_member(self, path: tuple[str, ...]) -> MemberId:
        if len(path) < 4:
            raise ServiceNotFound("path: /r1/{instance}/{class}/{member}/{subsystem}/…")
        if path[0] != self._registry.instance:
            raise ServiceNotFound(f"instance {path[0][:32]!r} is not this hub's ({self._registry.instance})")
        try:
            return MemberId.parse("/".join(path[:4]))
        except RenkeiError:
            raise ServiceNotFound(f"{'/'.join(path[:4])[:128]!r} is not a member system id") from None

    def _self(self, path: tuple[str, ...], client: MemberId, verb: str) -> MemberId:
        member = self._path_member(path)
        if member != client:
            raise AccessDenied(
                f"{client} {verb} for itself only, not for {member}",
                rule="client.self",
                client=str(client),
                member=str(member),
            )
        return member

    def _authenticate(self, incoming: Incoming, call: _Call) -> MemberId:
        evidence = signature_of(incoming, self._authenticator.verify, self.max_body)
        client = signed_client(incoming.headers, evidence.member, example="JP/LG/131016/u01")
        call.client = str(client)
        return client

    def _call(self, incoming: Incoming, service: str) -> _Call:
        given = incoming.headers.get("x-road-id", "")
        message_id = given if MESSAGE_ID.fullmatch(given) else new_id("msg")
        client = next((incoming.headers[h] for h in CLIENT_HEADERS if incoming.headers.get(h)), "")
        body = incoming.body if incoming.body is not None else b""
        return _Call(
            message_id=message_id,
            request_hash=request_hash(incoming.method, incoming.target, client, message_id, body),
            client=client[:128] or "-",
            provider="/".join(incoming.path[:4])[:128] or "-",
            service=service[:128],
            purpose=incoming.headers.get("x-road-issue", "")[:128] or "-",
            started=time.perf_counter(),
            at=self.clock.now(),
        )

    def _answer(self, call: _Call, page: FeedPage) -> Exchanged:
        body: dict[str, Any] = {
            "topic": page.topic,
            "publisher": page.publisher,
            "events": list(page.events),
            "next": page.next_cursor,
            "more": page.more,
        }
        if page.as_of is not None:
            body["as_of"] = page.as_of
        self._log(call, LogOutcome.PROVIDED, None, body)
        return Exchanged(Reply(200, body), call.message_id, call.request_hash)

    def _fail(self, call: _Call, error: ExchangeError) -> Exchanged:
        outcome = LogOutcome.DENIED if error.xroad_code.startswith("Client.") else LogOutcome.ERROR
        body = problem_body(error)
        try:
            self._log(call, outcome, error.code, body)
        except Exception:  # the fault is what the client must get; the failed log line is logged
            log.exception("notification call %s: the message log refused a row", call.message_id)
        return Exchanged(Reply(error.http_status, body, problem=True), call.message_id, call.request_hash)

    def _log(self, call: _Call, outcome: LogOutcome, code: str | None, body: Mapping[str, Any]) -> None:
        if self._message_log is None:
            return
        self._message_log.log(
            LogEntry(
                id=new_id("log"),
                message_id=call.message_id,
                at=call.at,
                client=call.client,
                service=call.service,
                provider=call.provider,
                purpose=call.purpose,
                outcome=outcome,
                code=code,
                request_hash=call.request_hash,
                response_hash=body_hash(_canonical(body).encode("utf-8")),
                duration_ms=int((time.perf_counter() - call.started) * 1000),
            )
        )


# --- JSON shapes shared by the HTTP edge and the CLI ---------------------------------------------------


def subscription_json(s: Subscription) -> dict[str, Any]:
    return {
        "subscriber": s.subscriber,
        "topic": s.topic,
        "mode": s.mode.value,
        "url": s.url,
        "purpose": s.purpose,
        "source": s.source,
        "created_at": s.created_at.isoformat(),
        "updated_at": s.updated_at.isoformat(),
    }


def delivery_json(d: DeliveryView) -> dict[str, Any]:
    return {
        "delivery_id": d.id,
        "event_id": d.event_id,
        "sequence": d.sequence,
        "topic": d.topic,
        "publisher": d.publisher,
        "subscriber": d.subscriber,
        "state": d.state.value,
        "attempts": d.attempts,
        "created_at": d.created_at.isoformat(),
        "last_attempt_at": None if d.last_attempt_at is None else d.last_attempt_at.isoformat(),
        "delivered_at": None if d.delivered_at is None else d.delivered_at.isoformat(),
        "last_status": d.last_status,
        "last_error": d.last_error,
    }


def _accepted_json(a: Accepted) -> dict[str, Any]:
    return {
        "index": a.index,
        "event_id": a.event_id,
        "sequence": a.sequence,
        "publisher_event_id": a.publisher_event_id,
        "deliveries": a.deliveries,
        "duplicate": a.duplicate,
    }


def _at(error: ExchangeError, index: int, size: int) -> ExchangeError:
    """``error`` naming the event of the batch it is about (only when there is a batch to name)."""
    if size == 1 or "index" in error.detail:
        return error
    detail = {k: v for k, v in error.detail.items() if k != "xroad_code"}
    return type(error)(f"event {index}: {error.message}", index=index, **detail)


def _canonical(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _digest(text: str) -> str:
    """SHA-256 in base32 (52 characters): hex digests now and then hold twelve digits that pass the
    個人番号 check digit, which a leak scan cannot tell from a real number; base32 never does."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()


def _limit(text: str | None) -> int:
    if text is None:
        return FEED_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= FEED_LIMIT_MAX:
        raise CursorInvalid(f"limit: 1 to {FEED_LIMIT_MAX}", field="limit")
    return int(text)


def _optional_text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 2048:
        raise SubscriptionInvalid(f"{name}: a non-empty string", field=name)
    return value


def _source(text: str) -> str:
    """An organisation (``JP/LG/131016``) or member system (``JP/LG/131016/u01``) id."""
    try:
        return str(MemberId.parse(text)) if text.count("/") == 3 else str(OrganisationId.parse(text))
    except RenkeiError:
        raise SubscriptionInvalid(
            f"source {text[:128]!r}: an organisation (JP/LG/131016) or member system (JP/LG/131016/u01)",
            field="source",
        ) from None
