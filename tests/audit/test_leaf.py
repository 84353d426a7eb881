"""The fast body serialisation is byte-identical to the canonical JSON of the documented body object."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from renkei.audit.leaf import (
    canonical_json,
    decode_body,
    encode_bodies,
    encode_body,
    leaf_bytes,
    record_object,
    reference_body,
)
from renkei.audit.models import AccessRecord, InformationItem, Outcome, Party, Side
from tests.audit.factories import T0, access_record

# Anything a record may hold: every code point but NUL and lone surrogates (the model refuses those), with
# the characters JSON must escape (quote, backslash, controls) and non-ASCII ones that it must not.
_CHARS = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
_TRICKY = st.sampled_from(['"', "\\", "\n", "\t", "\x01", "\x1f", "\x7f", "\u2028", "課", "𠮷", "/", "é"])


def _text(min_size: int = 1) -> st.SearchStrategy[str]:
    """Text of ``min_size`` (0 or 1) to 96 characters (well within ``TEXT_MAX``)."""
    piece = st.one_of(st.text(_CHARS, min_size=1, max_size=8), _TRICKY)
    return st.lists(piece, min_size=min_size, max_size=12).map("".join)


def _instant() -> st.SearchStrategy[datetime]:
    zones = st.sampled_from([UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-3, minutes=-30))])
    return st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30), timezones=zones)


_PARTY = st.builds(Party, _text(), _text())
_ITEM = st.builds(InformationItem, _text(), _text(min_size=0))
_SUBJECT = _text().filter(lambda t: not (len(t) == 12 and t.isdigit()))


@st.composite
def _records(draw: st.DrawFn, parties: list[Party]) -> AccessRecord:
    return AccessRecord(
        record_id=draw(_text()),
        side=draw(st.sampled_from(Side)),
        requester=draw(st.sampled_from(parties)),
        provider=draw(st.sampled_from(parties)),
        requested_at=draw(_instant()),
        provided_at=draw(st.none() | _instant()),
        information=draw(_text()),
        items=tuple(draw(st.lists(_ITEM, max_size=4))),
        purpose=draw(_text()),
        withheld=draw(st.booleans()),
        subject=draw(_SUBJECT),
        message_id=draw(_text()),
        request_hash=draw(_text()),
        outcome=draw(st.sampled_from(Outcome)),
    )


@st.composite
def _batches(draw: st.DrawFn) -> list[AccessRecord]:
    parties = draw(st.lists(_PARTY, min_size=1, max_size=3))
    records = draw(st.lists(_records(parties), min_size=1, max_size=6))
    # records of one batch often share the same party and item objects; the encoder caches those
    return [*records, records[0]]


@settings(max_examples=200)
@given(_batches(), _instant())
def test_fast_bodies_are_byte_identical_to_the_reference(records: list[AccessRecord], at: datetime) -> None:
    expected = [reference_body(record, at) for record in records]
    assert encode_bodies(records, at) == expected
    assert [encode_body(record, at) for record in records] == expected
    for record, body in zip(records, expected, strict=True):
        assert decode_body(body) == (record, at.astimezone(UTC))
        assert canonical_json(json.loads(body)) == body  # canonical: a re-serialisation changes nothing


# Every field but record_id and side, with a value of that field that differs from the drawn record's own.
_FIELDS = {
    "requester": _PARTY,
    "provider": _PARTY,
    "requested_at": _instant(),
    "provided_at": st.none() | _instant(),
    "information": _text(),
    "items": st.lists(_ITEM, max_size=4).map(tuple),
    "purpose": _text(),
    "withheld": st.booleans(),
    "subject": _SUBJECT,
    "message_id": _text(),
    "request_hash": _text(),
    "outcome": st.sampled_from(Outcome),
}


def _differs_from(value: object) -> Callable[[object], bool]:
    return lambda other: other != value


@st.composite
def _exchange_pairs(draw: st.DrawFn) -> list[AccessRecord]:
    """Runs of records as the hub writes them (both ends of one exchange: only record_id and side differ),
    with neighbours that differ from the record before them in exactly one other field."""
    first = draw(_records(draw(st.lists(_PARTY, min_size=1, max_size=2))))
    batch = [first]
    for name in draw(st.lists(st.sampled_from(sorted(_FIELDS)), min_size=1, max_size=6)):
        before = batch[-1]
        twin = dataclasses.replace(before, record_id=draw(_text()), side=draw(st.sampled_from(Side)))
        changed = draw(_FIELDS[name].filter(_differs_from(getattr(before, name))))
        batch += [twin, dataclasses.replace(twin, record_id=draw(_text()), **{name: changed})]
    return batch


@settings(max_examples=200)
@given(_exchange_pairs(), _instant())
def test_records_sharing_all_but_id_and_side_are_encoded_as_the_reference(
    records: list[AccessRecord], at: datetime
) -> None:
    """The encoder reuses a record's text for the next one when only record_id and side differ: a
    neighbour that differs in any other field must not get it."""
    assert encode_bodies(records, at) == [reference_body(record, at) for record in records]


def test_the_reference_body_is_the_documented_canonical_json() -> None:
    record = access_record(1)
    body = reference_body(record, T0)
    assert body == json.dumps(
        {"record": record_object(record), "recorded_at": "2026-04-01T09:00:00.000000Z", "v": 1},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    assert body.startswith(
        '{"record":{"information":"individual-resident-tax","items":[{"id":"taxable_income"'
    )
    assert leaf_bytes(7, body) == b'{"index":7,' + body[1:].encode()
