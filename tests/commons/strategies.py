"""Hypothesis strategies for valid Commons alerts (CAP 1.2) and distributions (EDXL-DE 1.0)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st

from renkei.commons.model import (
    Alert,
    Area,
    Category,
    Certainty,
    Circle,
    CommonsReport,
    ContentObject,
    Distribution,
    DistributionStatus,
    DistributionType,
    Info,
    MessageKind,
    MsgType,
    NamedValue,
    Point,
    Polygon,
    Reference,
    Resource,
    ResponseType,
    Scope,
    Severity,
    Status,
    TargetArea,
    Urgency,
)
from renkei.japanese.checkdigit import complete_local_government_code

# Text XML can carry verbatim: no control characters (XML 1.0 forbids most, and normalises \r), no
# surrogates; Japanese and ASCII mixed.
_JAPANESE = (
    "避難指示高齢者等緊急安全確保土砂災害警戒情報千代田区横浜市開設閉鎖本部被害ひらがなカタカナ①～ー、。\n"
)
_ALPHABET = st.sampled_from(_JAPANESE) | st.characters(
    codec="utf-8", exclude_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp"), max_codepoint=0x2FFF
)
free_text = st.text(_ALPHABET, min_size=1, max_size=30)
# identifier / sender: no spaces, commas, < or & (CAP rule); also no quote so lists stay simple.
token = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-_.:@/避難区"), min_size=1, max_size=20
).filter(lambda t: t.strip() == t)
list_item = st.text(st.sampled_from("abcdef0123 避難"), min_size=1, max_size=10).filter(
    lambda t: t.strip() == t and "  " not in t
)

offsets = st.sampled_from([UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-5, minutes=-30))])
moments = st.builds(
    lambda seconds, tz: datetime(2020, 1, 1, tzinfo=UTC).astimezone(tz) + timedelta(seconds=seconds),
    st.integers(0, 10 * 365 * 86400),
    offsets,
)

lats = st.floats(-90, 90, allow_nan=False, allow_infinity=False)
lons = st.floats(-180, 180, allow_nan=False, allow_infinity=False)
points = st.builds(Point, lats, lons)
polygons = st.lists(points, min_size=3, max_size=6).map(lambda ps: Polygon((*ps, ps[0])))
circles = st.builds(Circle, points, st.floats(0, 500, allow_nan=False))
lg_codes = st.from_regex(r"[0-4][0-9]{4}", fullmatch=True).map(complete_local_government_code)
geocodes = st.builds(NamedValue, st.just("地方公共団体コード"), lg_codes)
named_values = st.builds(NamedValue, free_text, free_text)
optional_text = st.none() | free_text
numbers = st.none() | st.floats(-1000, 30000, allow_nan=False)

areas = st.builds(
    Area,
    area_desc=free_text,
    polygons=st.lists(polygons, max_size=2).map(tuple),
    circles=st.lists(circles, max_size=2).map(tuple),
    geocodes=st.lists(geocodes | named_values, max_size=3).map(tuple),
    altitude=numbers,
    ceiling=numbers,
)
resources = st.builds(
    Resource,
    resource_desc=free_text,
    mime_type=st.sampled_from(["image/png", "application/pdf", "text/html"]),
    size=st.none() | st.integers(0, 10**9),
    uri=st.none() | st.just("https://example.jp/map.png"),
    deref_uri=st.none() | st.just("aGVsbG8="),
    digest=st.none() | st.just("da39a3ee5e6b4b0d3255bfef95601890afd80709"),
)


infos = st.builds(
    Info,
    categories=st.lists(st.sampled_from(list(Category)), min_size=1, max_size=3).map(tuple),
    event=free_text,
    urgency=st.sampled_from(list(Urgency)),
    severity=st.sampled_from(list(Severity)),
    certainty=st.sampled_from(list(Certainty)),
    language=st.sampled_from(["ja-JP", "en-US", "ja"]),
    response_types=st.lists(st.sampled_from(list(ResponseType)), max_size=3).map(tuple),
    audience=optional_text,
    event_codes=st.lists(named_values, max_size=3).map(tuple),
    effective=st.none() | moments,
    onset=st.none() | moments,
    expires=st.none() | moments,
    sender_name=optional_text,
    headline=optional_text,
    description=optional_text,
    instruction=optional_text,
    web=st.none() | st.just("https://www.city.example.lg.jp/bousai/"),
    contact=optional_text,
    parameters=st.lists(named_values, max_size=4).map(tuple),
    resources=st.lists(resources, max_size=2).map(tuple),
    areas=st.lists(areas, max_size=3).map(tuple),
)
references = st.builds(Reference, token, token, moments)

alerts = st.builds(
    Alert,
    identifier=token,
    sender=token,
    sent=moments,
    status=st.sampled_from(list(Status)),
    msg_type=st.sampled_from(list(MsgType)),
    scope=st.sampled_from(list(Scope)),
    source=optional_text,
    restriction=optional_text,
    addresses=st.lists(list_item, max_size=3).map(tuple),
    codes=st.lists(free_text, max_size=2).map(tuple),
    note=optional_text,
    references=st.lists(references, max_size=3).map(tuple),
    incidents=st.lists(list_item, max_size=2).map(tuple),
    infos=st.lists(infos, max_size=3).map(tuple),
)

reports = st.builds(
    CommonsReport,
    kind=st.sampled_from(list(MessageKind)),
    publisher_code=lg_codes,
    publisher_name=free_text,
    reported_at=moments,
    title=free_text,
    text=free_text,
    area_names=st.lists(free_text, max_size=3).map(tuple),
    items=st.lists(named_values, max_size=4).map(tuple),
)
content_objects = st.builds(
    ContentObject,
    document_id=token,
    document_revision=st.integers(1, 1000),
    payload=alerts | reports,
    previous_document_revision=st.none() | st.integers(1, 999),
    content_description=optional_text,
    incident_id=optional_text,
    incident_description=optional_text,
)
target_areas = st.builds(
    TargetArea,
    local_government_codes=st.lists(lg_codes, max_size=3).map(tuple),
    polygons=st.lists(polygons, max_size=2).map(tuple),
    circles=st.lists(circles, max_size=2).map(tuple),
    countries=st.lists(st.just("JP"), max_size=1).map(tuple),
    subdivisions=st.lists(st.sampled_from(["JP-13", "JP-14"]), max_size=2).map(tuple),
)
distributions = st.builds(
    Distribution,
    distribution_id=token,
    sender_id=token,
    sent=moments,
    status=st.sampled_from(list(DistributionStatus)),
    type=st.sampled_from(list(DistributionType)),
    contents=st.lists(content_objects, min_size=1, max_size=2).map(tuple),
    combined_confidentiality=st.just("UNCLASSIFIED AND NOT SENSITIVE"),
    language=st.none() | st.just("ja-JP"),
    sender_roles=st.lists(free_text, max_size=2).map(tuple),
    keywords=st.lists(free_text, max_size=2).map(tuple),
    target_areas=st.lists(target_areas, max_size=2).map(tuple),
)
