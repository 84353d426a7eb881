"""What the exchange handles and keeps: an incoming request, the reply, the message-log entry, stored
replies (idempotency keys and asynchronous results, 処理通番), and what an exchange writes when it is
claimed (its request's nonce) and when it ends (its log row and access records)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from renkei.audit.models import AccessRecord
from renkei.tenancy.models import Peer


class LogOutcome(StrEnum):
    """How an exchange ended, as the message log keeps it."""

    PROVIDED = "provided"  # 提供した
    DENIED = "denied"  # a Client.* fault: refused before or instead of provision
    ERROR = "error"  # a Server.* fault: the provider or the hub failed
    REPLAYED = "replayed"  # an Idempotency-Key retry answered from the stored reply
    ACCEPTED = "accepted"  # Prefer: respond-async, 202 with a 処理通番


@dataclass(frozen=True, slots=True)
class Incoming:
    """One request to ``/r1/{instance}/{class}/{member}/{subsystem}/{service}`` as the edge received it.

    ``headers`` have lower-case names; ``body`` is ``None`` when it exceeded the hub's limit (it was not
    read); ``query`` holds the request items of a GET; ``items`` holds request items an edge has already
    decoded from another protocol (a SOAP envelope) — the body then stays the signed evidence only.
    ``peer`` is the trusted deployment whose hub forwarded the request over mutual TLS (its certificate
    authenticated it; the request carries no member signature), None for a member's own request.
    """

    method: str
    target: str
    path: tuple[str, ...]
    headers: Mapping[str, str]
    body: bytes | None
    query: Mapping[str, str] = field(default_factory=dict)
    items: Mapping[str, Any] | None = None
    peer: Peer | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply to send: HTTP status and JSON body (an answer, or the fields of a problem)."""

    status: int
    body: Mapping[str, Any]
    problem: bool = False


@dataclass(frozen=True, slots=True)
class Exchanged:
    """What the hub hands the edge for one exchange: the reply and the headers that bind it."""

    reply: Reply
    message_id: str
    request_hash: str
    location: str | None = None


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One row of the exchange message log: metadata and hashes, never bodies."""

    id: str
    message_id: str
    at: datetime
    client: str
    service: str
    provider: str
    purpose: str
    outcome: LogOutcome
    code: str | None
    request_hash: str
    response_hash: str | None
    duration_ms: int


@dataclass(frozen=True, slots=True)
class StoredReply:
    """A reply kept for an Idempotency-Key (``fingerprint`` of the request it answered) or an async
    result. ``status`` 0 means the asynchronous query has not finished."""

    client: str
    key: str
    fingerprint: str
    message_id: str
    request_hash: str
    status: int
    body: str | None
    problem: bool
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class NonceClaim:
    """A signed request's single-use nonce (``jti``), claimed before the hub acts on the request and
    remembered until ``keep_until`` (after which the signature is too old to be accepted anyway)."""

    member: str
    jti: str
    keep_until: datetime


@dataclass(frozen=True, slots=True)
class Finished:
    """What one exchange leaves when it ends: its message-log row and, for a provision of personal data,
    the access records of both ends (written together with the row, before the reply is sent)."""

    entry: LogEntry
    records: tuple[AccessRecord, ...] = ()
