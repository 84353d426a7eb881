"""Simulated member systems: the 住基 (u01), 個人住民税 (u06), 国保 (u10), 児童手当 (u15) and 乳幼児医療
(u17) systems of each demo municipality, answering the hub's queries from the synthetic population, and
receiving change notifications.

They stand in for vendors' systems *outside* the hub, so they answer problem+json themselves (the hub's
own edge does that in ``renkei.api.errors``). Mounted under ``/demo/members``::

    POST /demo/members/{団体コード}/{subsystem}/{service}   e.g. /demo/members/131016/u06/income-certificate
         body: the service's request items, the person as the provider organisation's 符号:
         {"person_fugo": "…", "fiscal_year": 2025}
    POST /demo/members/{団体コード}/{subsystem}/events      a change notification (de-duplicated by event id)
    GET  /demo/members/{団体コード}/{subsystem}/events      what was received          } each signed by that
    GET  /demo/members/{団体コード}/{subsystem}/received    the last queries, as they  } member system itself
                                                            arrived                    } (renkei demo inbox)
    GET  /demo/members/                                      the simulated systems and their services

As the platform mounts them, a query or a notification is taken only with the hub's signature made for the
member system it is addressed to (each checks with its own hub key, as a real one would), and what a system
received is shown only to a request signed by that system's own credential: the simulation holds personal
data (synthetic, but shaped like the real thing) and must not be a way around the hub's checks and records.

The 符号 is resolved to the person through the deployment's linkage base (as a real system would hold the
符号 it was given at 団体内統合宛名 registration), then to the organisation's 宛名番号.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO, Final, Protocol

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from renkei.demo.errors import DemoError, RecordUnknown, RequestInvalid, ServiceUnknown, ViewerRefused
from renkei.demo.population import Population
from renkei.demo.records import UNIT_KINDS, Record, population_records
from renkei.errors import RenkeiError
from renkei.exchange.signing import verify_hub_signature
from renkei.identity.errors import IdentityError
from renkei.identity.models import AtenaNumber, PersonKey
from renkei.registry.auth import SIGNATURE_HEADER, request_target
from renkei.registry.identifiers import SUBSYSTEM_PATTERN
from renkei.spec.models import InformationKind, Service, ServiceKind, Spec
from renkei.types import InformationId, UnitNumber

PROBLEM_JSON: Final = "application/problem+json"
EVENT_ID_HEADER: Final = "X-Renkei-Event-Id"
EVENT_ID: Final = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
BODY_MAX: Final = 64 * 1024
EVENT_LOG: Final = "events.jsonl"
_AS_OF_ITEMS: Final = ("acquisition_date", "certification_date", "became_resident_date")
"""The first of these a record has says since when it exists: a query ``as_of`` an earlier day finds none."""


def member_id(code: str, subsystem: str) -> str:
    """The member id of municipality ``code``'s simulated member system ``subsystem``
    (``JP/LG/131016/u06``): whom the hub signs a request to it for."""
    return f"JP/LG/{code}/{subsystem}"


class FugoResolver(Protocol):
    """What the simulated systems need of the linkage base (``renkei.identity.service.LinkageBase``)."""

    def resolve(self, org: str, fugo: str) -> PersonKey: ...

    def local_id(self, org: str, person_key: PersonKey) -> AtenaNumber | None: ...


@dataclass(frozen=True, slots=True)
class Municipality:
    """One municipality's simulated systems: its population and the records of each kind by 宛名番号."""

    population: Population
    records: Mapping[InformationId, Mapping[str, tuple[Record, ...]]]


def _index(population: Population) -> Municipality:
    indexed: dict[InformationId, Mapping[str, tuple[Record, ...]]] = {}
    for kind, records in population_records(population).items():
        by_atena: dict[str, list[Record]] = {}
        for record in records:
            by_atena.setdefault(str(record["atena_number"]), []).append(record)
        indexed[kind] = {atena: tuple(found) for atena, found in by_atena.items()}
    return Municipality(population, indexed)


RECEIVED_KEPT: Final = 100


class QueryLog:
    """The last queries each simulated system received, exactly as they arrived (the body's text and the
    message id, ``X-Road-Id``), in memory: what the demo shows to prove which identifiers reached a
    provider (a 符号 of its own organisation; never a 宛名番号 of another municipality, never a 個人番号)."""

    def __init__(self, kept: int = RECEIVED_KEPT) -> None:
        self._lock = threading.Lock()
        self._kept = kept
        self._received: dict[str, deque[dict[str, Any]]] = {}

    def add(self, member: str, service: str, message_id: str | None, body: bytes) -> None:
        entry = {"service": service, "message_id": message_id, "body": body.decode("utf-8", "replace")}
        with self._lock:
            self._received.setdefault(member, deque(maxlen=self._kept)).append(entry)

    def received(self, member: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._received.get(member, ()))


class EventInbox:
    """Change notifications received by the simulated systems, de-duplicated by event id.

    With a ``directory`` the events are appended to ``<directory>/<code>-<subsystem>/events.jsonl``: the
    seen ids survive a restart, and the processes serving one deployment (``renkei serve --workers``) share
    them — each reads what the others appended, under a lock on the file, before it decides. Without one
    they are kept in memory."""

    def __init__(self, directory: Path | None = None) -> None:
        self._directory = directory
        self._lock = threading.Lock()
        self._seen: dict[str, set[str]] = {}
        self._events: dict[str, list[dict[str, Any]]] = {}
        self._read: dict[str, int] = {}
        """How far into each member's file this process has read."""

    def _log(self, member: str) -> Path | None:
        return None if self._directory is None else self._directory / member / EVENT_LOG

    def _catch_up(self, member: str, handle: BinaryIO) -> None:
        """Take in what was appended to ``member``'s file (open, locked) since this process last read it."""
        start = self._read.get(member, 0)
        handle.seek(start)
        data = handle.read()
        complete = data[: data.rfind(b"\n") + 1]
        seen, events = self._seen.setdefault(member, set()), self._events.setdefault(member, [])
        for line in complete.splitlines():
            entry = json.loads(line)
            seen.add(entry["event_id"])
            events.append(entry)
        self._read[member] = start + len(complete)

    def receive(self, member: str, event_id: str, event: Mapping[str, Any]) -> bool:
        """Record ``event`` unless its id was seen before; tell whether it was new."""
        entry = {"event_id": event_id, "event": dict(event)}
        with self._lock:
            log = self._log(member)
            if log is None:
                seen = self._seen.setdefault(member, set())
                if event_id in seen:
                    return False
                seen.add(event_id)
                self._events.setdefault(member, []).append(entry)
                return True
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("ab+") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
                self._catch_up(member, handle)
                if event_id in self._seen[member]:
                    return False
                line = (json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
                handle.seek(0, os.SEEK_END)
                handle.write(line)
                handle.flush()
                self._read[member] += len(line)
            self._seen[member].add(event_id)
            self._events[member].append(entry)
            return True

    def events(self, member: str) -> list[dict[str, Any]]:
        """The events ``member`` received, oldest first."""
        with self._lock:
            log = self._log(member)
            if log is not None and log.exists():
                with log.open("rb") as handle:
                    fcntl.flock(handle, fcntl.LOCK_SH)
                    self._catch_up(member, handle)
            return list(self._events.get(member, ()))


def _problem(error: DemoError) -> JSONResponse:
    status = error.http_status
    return JSONResponse(
        {
            "type": f"urn:renkei:error:{error.code}",
            "title": type(error).__name__,
            "status": status,
            "code": error.code,
            "detail": error.message,
        },
        status_code=status,
        media_type=PROBLEM_JSON,
    )


class MemberSystems:
    """The simulated systems of every municipality given, answering from their populations."""

    def __init__(self, spec: Spec, resolver: FugoResolver, populations: Sequence[Population]) -> None:
        self.spec = spec
        self._resolver = resolver
        self._municipalities = {p.municipality.code: _index(p) for p in populations}

    def municipality(self, code: str) -> Municipality:
        found = self._municipalities.get(code)
        if found is None:
            raise ServiceUnknown(f"no simulated member systems for {code!r}", municipality=code)
        return found

    def kind_of(self, subsystem: str) -> InformationKind:
        matched = SUBSYSTEM_PATTERN.fullmatch(subsystem)
        information = UNIT_KINDS.get(UnitNumber(int(matched.group(1)))) if matched else None
        if information is None:
            raise ServiceUnknown(f"no simulated member system {subsystem!r}", subsystem=subsystem)
        return self.spec.kind(information)

    def service(self, subsystem: str, service_id: str) -> tuple[InformationKind, Service]:
        kind = self.kind_of(subsystem)
        for service in kind.services:
            if service.id == service_id and service.kind is ServiceKind.QUERY:
                return kind, service
        raise ServiceUnknown(f"{subsystem} does not answer {service_id!r}", service=service_id)

    def catalogue(self) -> list[dict[str, Any]]:
        """The simulated systems and the query services each answers."""
        return [
            {
                "municipality": code,
                "name": found.population.municipality.name,
                "residents": len(found.population.residents),
                "households": len(found.population.households),
                "members": [
                    {
                        "subsystem": f"u{unit:02d}",
                        "information": information,
                        "services": [
                            s.id for s in self.spec.kind(information).services if s.kind is ServiceKind.QUERY
                        ],
                    }
                    for unit, information in sorted(UNIT_KINDS.items())
                ],
            }
            for code, found in sorted(self._municipalities.items())
        ]

    def _atena(self, found: Municipality, request: Mapping[str, Any]) -> str:
        org = found.population.organisation
        atena = request.get("atena_number")
        if isinstance(atena, str):
            return atena  # 庁内連携: the municipality's own 宛名番号
        fugo = request.get("person_fugo")
        if not isinstance(fugo, str) or not 1 <= len(fugo) <= 64:
            raise RequestInvalid(
                "person_fugo (符号) is required: a string of 1-64 characters", field="person_fugo"
            )
        try:
            person = self._resolver.resolve(org, fugo)
            local = self._resolver.local_id(org, person)
        except IdentityError:
            local = None
        if local is None:
            raise RecordUnknown(
                f"この符号の住民は {found.population.municipality.name} にいません (unknown person)"
            )
        return local

    def answer(self, code: str, subsystem: str, service_id: str, request: Mapping[str, Any]) -> Record:
        """The service's response items of the person the request names."""
        found = self.municipality(code)
        kind, service = self.service(subsystem, service_id)
        fiscal_year = request.get("fiscal_year")
        by_year = "fiscal_year" in service.request
        if by_year and (not isinstance(fiscal_year, int) or isinstance(fiscal_year, bool)):
            raise RequestInvalid("fiscal_year (年度) is required: an integer year", field="fiscal_year")
        as_of = request.get("as_of")
        try:
            as_of_day = date.fromisoformat(as_of) if isinstance(as_of, str) else None
        except ValueError:
            raise RequestInvalid("as_of (基準日) is a date: YYYY-MM-DD", field="as_of") from None
        atena = self._atena(found, request)
        candidates = found.records[kind.id].get(atena, ())
        for record in candidates:
            if by_year and record.get("fiscal_year") != fiscal_year:
                continue
            since = next((record[i] for i in _AS_OF_ITEMS if i in record), None)
            if as_of_day is not None and isinstance(since, str) and date.fromisoformat(since) > as_of_day:
                continue
            return {item: record[item] for item in service.response if item in record}
        raise RecordUnknown(
            f"{kind.name} に該当するレコードがありません (no {kind.id} record for this person)",
            information=kind.id,
        )


async def _json_body(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > BODY_MAX:
        raise RequestInvalid(f"the body exceeds {BODY_MAX} bytes")
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise RequestInvalid("the body is not JSON") from None
    if not isinstance(parsed, dict):
        raise RequestInvalid("the body is a JSON object")
    return parsed


def build_member_app(
    systems: MemberSystems,
    inbox: EventInbox | None = None,
    *,
    hub_keys: Callable[[str], bytes] | None = None,
    authenticate: Callable[[str | None, str, str, bytes], object] | None = None,
    now: Callable[[], float] = time.time,
) -> FastAPI:
    """The HTTP application of the simulated member systems (mount it at ``/demo/members``).

    With ``hub_keys`` (a member id → that member's hub key, ``HubSigner.key_for``) a query or a change
    notification is taken only with a valid, fresh hub signature made for the member it is addressed to
    (``X-Renkei-Hub-Signature`` over the full path, ±300 s of ``now``), as a real member system would check
    it with the key it was given. With ``authenticate`` (``RequestAuthenticator.authenticate``: token,
    method, request target, body → the signing member id) what a system received is shown only to a
    request signed by that system. Without them (the simulation tested alone) anything is taken and shown."""
    received = inbox or EventInbox()
    queries = QueryLog()
    app = FastAPI(
        title="renkei demo: simulated member systems", docs_url=None, redoc_url=None, openapi_url=None
    )

    @app.exception_handler(DemoError)
    async def _demo_error(_: Request, exc: DemoError) -> JSONResponse:
        return _problem(exc)

    @app.get("/")
    def catalogue() -> list[dict[str, Any]]:
        return systems.catalogue()

    async def from_the_hub(code: str, subsystem: str, request: Request) -> None:
        if hub_keys is None:
            return
        raw = await request.body()
        key = hub_keys(member_id(code, subsystem))
        if not verify_hub_signature(key, dict(request.headers), "POST", request.url.path, raw, int(now())):
            raise RequestInvalid("the hub's signature (X-Renkei-Hub-Signature) is missing or invalid")

    def by_the_member(code: str, subsystem: str, request: Request) -> None:
        if authenticate is None:
            return
        member = member_id(code, subsystem)
        target = request_target(request.scope["raw_path"], request.scope["query_string"])
        try:
            signer = str(authenticate(request.headers.get(SIGNATURE_HEADER), "GET", target, b""))
        except RenkeiError as error:
            raise ViewerRefused(f"{member} only, signed by it: {error.message}", reason=error.code) from None
        if signer != member:
            raise ViewerRefused(f"{member} only, signed by it, not by {signer}", signer=signer)

    @app.post("/{code}/{subsystem}/events", status_code=202)
    async def notification(code: str, subsystem: str, request: Request) -> JSONResponse:
        systems.municipality(code)
        systems.kind_of(subsystem)
        await from_the_hub(code, subsystem, request)
        event = await _json_body(request)
        event_id = request.headers.get(EVENT_ID_HEADER) or event.get("event_id") or event.get("id")
        if not isinstance(event_id, str) or not EVENT_ID.fullmatch(event_id):
            raise RequestInvalid(
                f"an event id is required ({EVENT_ID_HEADER} header or event_id):"
                " 1-128 of A-Z a-z 0-9 . _ : -"
            )
        if hub_keys is not None and request.headers.get("x-road-id") != event_id:
            # The hub signs X-Road-Id (= the event id), not X-Renkei-Event-Id: a replayed push with another
            # event id in the unsigned header must not pass as a new event.
            raise RequestInvalid("the event id differs from the X-Road-Id the hub signed")
        new = await run_in_threadpool(received.receive, f"{code}-{subsystem}", event_id, event)
        return JSONResponse({"event_id": event_id, "duplicate": not new}, status_code=202 if new else 200)

    @app.get("/{code}/{subsystem}/events")
    def events(code: str, subsystem: str, request: Request) -> dict[str, Any]:
        systems.municipality(code)
        systems.kind_of(subsystem)
        by_the_member(code, subsystem, request)
        found = received.events(f"{code}-{subsystem}")
        return {"count": len(found), "events": found[-100:]}

    @app.get("/{code}/{subsystem}/received")
    def received_queries(code: str, subsystem: str, request: Request) -> dict[str, Any]:
        systems.municipality(code)
        systems.kind_of(subsystem)
        by_the_member(code, subsystem, request)
        found = queries.received(f"{code}-{subsystem}")
        return {"count": len(found), "queries": found}

    @app.post("/{code}/{subsystem}/{service_id}")
    async def query(code: str, subsystem: str, service_id: str, request: Request) -> JSONResponse:
        systems.municipality(code)
        systems.service(subsystem, service_id)
        await from_the_hub(code, subsystem, request)
        raw = await request.body()
        queries.add(f"{code}-{subsystem}", service_id, request.headers.get("x-road-id"), raw[:BODY_MAX])
        body = await _json_body(request)
        # the linkage base is synchronous storage: keep it off the event loop
        return JSONResponse(await run_in_threadpool(systems.answer, code, subsystem, service_id, body))

    return app
