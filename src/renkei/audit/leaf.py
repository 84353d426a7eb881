"""The canonical serialisation of a logged record: the bytes a Merkle leaf hashes.

*Body* (stored): canonical JSON of ``{"record": {…}, "recorded_at": T, "v": 1}``. *Leaf* (hashed): the
body object with ``"index": N`` (the leaf position) added, again canonical, which is simply
``{"index":N,`` followed by the body without its opening brace, because ``index`` sorts before every
other key. Canonical JSON here means: keys sorted by code point, no insignificant whitespace
(separators ``,`` and ``:``), non-ASCII characters as themselves (not ``\\u`` escapes), UTF-8, integers
only, times as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC. Putting the index into the leaf makes a record
moved to another position fail its own leaf hash, so ``verify`` names the exact position.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

from renkei.audit.errors import AuditError
from renkei.audit.models import AccessRecord, InformationItem, Outcome, Party, Side

FORMAT_VERSION = 1
_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_time(at: datetime) -> str:
    """``at`` in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (fixed width, so it sorts as it reads)."""
    # isoformat is several times faster than strftime, and appends run this three times per record.
    if at.tzinfo is UTC:  # every AccessRecord time (the model converts them), without asking the offset
        return at.isoformat(timespec="microseconds")[:26] + "Z"
    offset = at.utcoffset()
    if offset is None:
        raise ValueError(f"naive datetime {at.isoformat()}")
    if offset:
        at = at.astimezone(UTC)
    return at.isoformat(timespec="microseconds")[:26] + "Z"


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, _TIME).replace(tzinfo=UTC)


def canonical_json(value: Any) -> str:
    """``value`` as canonical JSON text (see the module docstring)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)


def record_object(record: AccessRecord) -> dict[str, Any]:
    """The JSON object of one access record (field names in ``docs/audit.md``)."""
    return {
        "record_id": record.record_id,
        "side": record.side.value,
        "requester": {"organisation": record.requester.organisation, "member": record.requester.member},
        "provider": {"organisation": record.provider.organisation, "member": record.provider.member},
        "requested_at": format_time(record.requested_at),
        "provided_at": None if record.provided_at is None else format_time(record.provided_at),
        "information": record.information,
        "items": [{"id": item.id, "name": item.name} for item in record.items],
        "purpose": record.purpose,
        "withheld": record.withheld,
        "subject": record.subject,
        "message_id": record.message_id,
        "request_hash": record.request_hash,
        "outcome": record.outcome.value,
    }


def reference_body(record: AccessRecord, recorded_at: datetime) -> str:
    """The stored body straight from the definition (:func:`canonical_json` of the body object).

    :func:`encode_body` writes the same text faster; the tests hold the two byte-identical.
    """
    return canonical_json(
        {"record": record_object(record), "recorded_at": format_time(recorded_at), "v": FORMAT_VERSION}
    )


def encode_body(record: AccessRecord, recorded_at: datetime) -> str:
    """The stored body of ``record``, logged at ``recorded_at``."""
    return encode_bodies([record], recorded_at)[0]


# ``encode_basestring`` is the (C) string encoder ``json.dumps(..., ensure_ascii=False)`` itself uses, so
# the text below is the canonical JSON of the body object, written out with its keys already in code-point
# order: information, items, message_id, outcome, provided_at, provider, purpose, record_id, request_hash,
# requested_at, requester, side, subject, withheld (and member < organisation, id < name, record <
# recorded_at < v). ``tests/audit/test_leaf.py`` checks it against :func:`reference_body`.
_quote = encode_basestring


def _party_json(party: Party) -> str:
    return f'{{"member":{_quote(party.member)},"organisation":{_quote(party.organisation)}}}'


def _items_json(items: Sequence[InformationItem]) -> str:
    return "[" + ",".join(f'{{"id":{_quote(i.id)},"name":{_quote(i.name)}}}' for i in items) + "]"


def encode_bodies(records: Sequence[AccessRecord], recorded_at: datetime) -> list[str]:
    """The stored bodies of ``records``, all logged at ``recorded_at`` (one append's batch).

    Byte-identical to :func:`reference_body` of each record, several times faster: the keys are written
    in their sorted order, ``recorded_at`` is formatted once, the parties, item lists and times that
    records of a batch share are serialised once, and a record that differs from the one before it only
    in ``record_id`` and ``side`` (the two ends of one exchange) reuses the rest of its text.
    """
    tail = f',"recorded_at":"{format_time(recorded_at)}","v":{FORMAT_VERSION:d}}}'
    shared: dict[int, str] = {}  # id() of a party or items tuple -> its JSON; the records keep them alive
    times: dict[datetime, str] = {}
    bodies: list[str] = []
    last: AccessRecord | None = None
    head = middle = end = ""
    for r in records:
        if last is None or not _same_but_id_and_side(r, last):
            requester = shared.get(id(r.requester))
            if requester is None:
                requester = shared[id(r.requester)] = _party_json(r.requester)
            provider = shared.get(id(r.provider))
            if provider is None:
                provider = shared[id(r.provider)] = _party_json(r.provider)
            items = shared.get(id(r.items))
            if items is None:
                items = shared[id(r.items)] = _items_json(r.items)
            requested_at = times.get(r.requested_at)
            if requested_at is None:
                requested_at = times[r.requested_at] = format_time(r.requested_at)
            provided_at = "null"
            if r.provided_at is not None:
                text = times.get(r.provided_at)
                if text is None:
                    text = times[r.provided_at] = format_time(r.provided_at)
                provided_at = f'"{text}"'
            head = (
                f'{{"record":{{"information":{_quote(r.information)},"items":{items}'
                f',"message_id":{_quote(r.message_id)},"outcome":{_quote(r.outcome)}'
                f',"provided_at":{provided_at},"provider":{provider},"purpose":{_quote(r.purpose)}'
                ',"record_id":'
            )
            middle = (
                f',"request_hash":{_quote(r.request_hash)}'
                f',"requested_at":"{requested_at}","requester":{requester},"side":'
            )
            end = f',"subject":{_quote(r.subject)},"withheld":{"true" if r.withheld else "false"}}}{tail}'
            last = r
        bodies.append(f"{head}{_quote(r.record_id)}{middle}{_quote(r.side)}{end}")
    return bodies


def _same_but_id_and_side(r: AccessRecord, other: AccessRecord) -> bool:
    """Whether ``r`` has every field of ``other`` except perhaps ``record_id`` and ``side``."""
    return (
        r.message_id == other.message_id
        and r.request_hash == other.request_hash
        and r.subject == other.subject
        and r.requested_at == other.requested_at
        and r.provided_at == other.provided_at
        and r.requester == other.requester
        and r.provider == other.provider
        and r.information == other.information
        and r.items == other.items
        and r.purpose == other.purpose
        and r.withheld == other.withheld
        and r.outcome == other.outcome
    )


def leaf_bytes(index: int, body: str | bytes) -> bytes:
    """The Merkle leaf of the body stored at ``index``: canonical JSON of the body object plus ``index``."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return b'{"index":%d,%s' % (index, raw[1:])


def decode_body(body: str) -> tuple[AccessRecord, datetime]:
    """The record and its ``recorded_at`` back from a stored body."""
    try:
        data = json.loads(body)
        r = data["record"]
        record = AccessRecord(
            record_id=r["record_id"],
            side=Side(r["side"]),
            requester=Party(**r["requester"]),
            provider=Party(**r["provider"]),
            requested_at=parse_time(r["requested_at"]),
            provided_at=None if r["provided_at"] is None else parse_time(r["provided_at"]),
            information=r["information"],
            items=tuple(InformationItem(**item) for item in r["items"]),
            purpose=r["purpose"],
            withheld=r["withheld"],
            subject=r["subject"],
            message_id=r["message_id"],
            request_hash=r["request_hash"],
            outcome=Outcome(r["outcome"]),
        )
        return record, parse_time(data["recorded_at"])
    except (ValueError, KeyError, TypeError) as error:
        raise AuditError(f"a stored record body cannot be read: {error}") from error
