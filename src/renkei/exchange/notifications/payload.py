"""What a receiver gets: one event converted for it, the hub's signature on a webhook, and the access
records a provision leaves.

The envelope is the spec's ``<topic>.event`` schema (``renkei.spec.export.openapi.event_schema``)::

    {"event_id": "…", "topic": "resident-changes", "event_type": "201",
     "occurred_at": "2026-04-01T00:30:00+00:00", "person_fugo": "<the receiver's 符号>", "data": {…}}

Per receiver: ``data`` keeps only the items its purpose (事務) may use; the person is the receiver
organisation's own 符号; ``data.atena_number`` (when the topic carries it and the purpose allows it) is
the receiver organisation's own 宛名番号 of the person, left out when it has none — so a receiver in
another organisation never sees the publisher's 宛名番号.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import urlsplit

from renkei.audit.models import AccessRecord, InformationItem, Outcome, Party, Side
from renkei.exchange.notifications.models import StoredEvent, new_id
from renkei.exchange.service import subject_of
from renkei.exchange.signing import HUB_SIGNATURE_HEADER, HubSigner
from renkei.identity.models import PersonKey
from renkei.identity.service import LinkageBase
from renkei.registry.identifiers import MemberId
from renkei.registry.models import Purpose
from renkei.spec.models import InformationKind, Spec

EVENT_ID_HEADER: Final = "X-Renkei-Event-Id"
TOPIC_HEADER: Final = "X-Renkei-Topic"
EVENT_TYPE_HEADER: Final = "X-Renkei-Event-Type"
SEQUENCE_HEADER: Final = "X-Renkei-Sequence"
DELIVERY_HEADER: Final = "X-Renkei-Delivery-Id"
ATTEMPT_HEADER: Final = "X-Renkei-Attempt"
NOTIFICATION_PURPOSE: Final = "-"
"""The access records' 事務 when a topic of non-personal information is read without a purpose."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """One event for one receiver: the envelope, the data items it carries, the person behind it."""

    envelope: Mapping[str, Any]
    items: tuple[str, ...]
    person_key: str | None

    def body(self) -> bytes:
        return canonical_json(self.envelope).encode("utf-8")


def canonical_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def body_hash(body: bytes) -> str:
    """What the access records bind the provision to: base64 SHA-512 of the bytes sent."""
    return base64.b64encode(hashlib.sha512(body).digest()).decode("ascii")


class EventRenderer:
    """Converts stored events for their receivers through the linkage base."""

    def __init__(self, spec: Spec, linkage: LinkageBase) -> None:
        self._spec = spec
        self._linkage = linkage

    def kind(self, information: str) -> InformationKind:
        return self._spec.kind(information)

    def render(self, event: StoredEvent, receiver: MemberId, purpose: Purpose | None) -> Rendered:
        """The envelope ``receiver`` gets for ``event`` under ``purpose`` (raises identity errors when the
        person or the receiver's organisation is unknown to the linkage base)."""
        kind = self._spec.kind(event.information)
        allowed = (
            set(purpose.items_of(kind.id))
            if purpose is not None
            else {i.id for i in kind.items if not i.local_only}
        )
        data = {k: v for k, v in event.data.items() if k in allowed}
        envelope: dict[str, Any] = {
            "event_id": event.id,
            "topic": event.topic,
            "event_type": event.event_type,
            "occurred_at": event.occurred_at.isoformat(),
        }
        if event.person_key is not None:
            org = str(receiver.organisation)
            person = PersonKey(event.person_key)
            envelope["person_fugo"] = str(self._linkage.fugo_for(org, person))
            if "atena_number" in data:
                local = self._linkage.local_id(org, person)
                if local is None:
                    del data["atena_number"]
                else:
                    data["atena_number"] = str(local)
        envelope["data"] = data
        return Rendered(envelope, tuple(data), event.person_key)


def provision_records(
    kind: InformationKind,
    event: StoredEvent,
    receiver: MemberId,
    rendered: Rendered,
    purpose: str | None,
    requested_at: datetime,
    provided_at: datetime,
    request_hash: str,
) -> list[AccessRecord]:
    """The two access records (receiver's and publisher's side) of one provision of a personal event;
    none when the event names no person or its kind is not personal."""
    if rendered.person_key is None or not kind.personal:
        return []
    publisher = MemberId.parse(event.publisher)
    items = tuple(InformationItem(i, kind.item(i).name) for i in rendered.items)
    requester = Party(str(receiver.organisation), str(receiver))
    provider = Party(str(publisher.organisation), str(publisher))
    return [
        AccessRecord(
            record_id=new_id("ar"),
            side=side,
            requester=requester,
            provider=provider,
            requested_at=requested_at,
            provided_at=provided_at,
            information=kind.id,
            items=items,
            purpose=purpose or NOTIFICATION_PURPOSE,
            withheld=False,
            subject=subject_of(rendered.person_key),
            message_id=event.id,
            request_hash=request_hash,
            outcome=Outcome.PROVIDED,
        )
        for side in (Side.REQUESTER, Side.PROVIDER)
    ]


def webhook_headers(
    signer: HubSigner,
    url: str,
    event: StoredEvent,
    subscriber: str,
    delivery_id: str,
    attempt: int,
    body: bytes,
    now: datetime,
) -> dict[str, str]:
    """The headers of one webhook POST, signed by the hub as it signs forwarded queries
    (``X-Renkei-Hub-Signature`` over the URL's path, ``X-Road-Id`` = the event id, ``X-Road-Client`` = the
    subscriber, ``X-Road-Service`` = ``<publisher>/<topic>`` and the body)."""
    service = f"{event.publisher}/{event.topic}"
    path = urlsplit(url).path or "/"
    return {
        "Content-Type": "application/json",
        "X-Road-Id": event.id,
        "X-Road-Client": subscriber,
        "X-Road-Service": service,
        EVENT_ID_HEADER: event.id,
        TOPIC_HEADER: event.topic,
        EVENT_TYPE_HEADER: event.event_type,
        SEQUENCE_HEADER: str(event.sequence),
        DELIVERY_HEADER: delivery_id,
        ATTEMPT_HEADER: str(attempt),
        HUB_SIGNATURE_HEADER: signer.sign(
            "POST", path, int(now.timestamp()), event.id, subscriber, service, body, recipient=subscriber
        ),
    }
