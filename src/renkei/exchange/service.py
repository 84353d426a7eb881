"""The hub's query flow (照会応答): authenticate, authorise, convert the person's id, sign, route to the
provider, filter and bind the answer, and record the exchange at both ends.

Every exchange, allowed or denied, leaves one message-log row (metadata and hashes, never bodies); a
provision of personal data also leaves an access record at the requester's and the provider's end, written
only once the provider has answered (so a failure leaves no record of provision) and, with the row, before
the reply is returned. The signed request's nonce is claimed before the hub acts on it. Both writes go
through :class:`~renkei.exchange.journal.GroupCommit`: concurrent exchanges share a transaction, written
off the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import random
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from jsonschema import Draft202012Validator

from renkei.audit.models import AccessRecord, InformationItem, Outcome, Party, Side
from renkei.audit.ports import AccessRecorder
from renkei.errors import RenkeiError
from renkei.exchange.authorisation import Grant, authorise
from renkei.exchange.errors import (
    BadRequest,
    BodyTooLarge,
    ExchangeError,
    HubFailed,
    IdempotencyConflict,
    IndividualNumberRefused,
    InvalidClient,
    InvalidSignature,
    MalformedJson,
    PeerRequestInvalid,
    PeerUnavailable,
    PersonUnknown,
    RemoteFailed,
    RemoteRefused,
    ResultNotFound,
    ServiceFailed,
    ServiceNotFound,
)
from renkei.exchange.federated import BaseConverter, Peers, peer_unavailable
from renkei.exchange.journal import MAX_BATCH, GroupCommit, SeparateJournal
from renkei.exchange.models import (
    Exchanged,
    Finished,
    Incoming,
    LogEntry,
    LogOutcome,
    NonceClaim,
    Reply,
    StoredReply,
)
from renkei.exchange.ports import ExchangeJournal, ExchangeStore, ProviderReply, Transport
from renkei.exchange.schemacheck import Check, compile_check
from renkei.exchange.signing import HUB_SIGNATURE_HEADER, HubSigner
from renkei.exchange.soapforward import decode_response, encode_request
from renkei.identity.scan import contains_individual_number, holds_individual_number
from renkei.identity.service import LinkageBase
from renkei.ids import time_ordered_id
from renkei.net.retry import RetryPolicy
from renkei.registry.auth import SIGNATURE_HEADER, AuthenticatedRequest, RequestAuthenticator
from renkei.registry.errors import RequestReplayed
from renkei.registry.identifiers import MemberId
from renkei.registry.models import ServiceProtocol
from renkei.registry.service import Registry
from renkei.spec.export.openapi import request_schema, response_schema
from renkei.spec.export.typemap import json_schema, parse_text
from renkei.spec.models import InformationKind, Service, Spec
from renkei.storage.ports import Clock

log = logging.getLogger(__name__)

CLIENT_HEADERS = ("x-road-client", "x-govstack-client", "information-mediator-client")
MAX_BODY = 1024 * 1024
MESSAGE_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
DEFAULT_KEEP = timedelta(hours=24)
RESULTS_PATH = "/r1/results/"
SUBJECT_TAG = b"renkei-exchange-subject-v1\x00"
MEMBER_ID_CACHE = 4096
#: An asynchronous query to a provider in a peer deployment that is down is tried again this way.
REMOTE_RETRY = RetryPolicy(max_attempts=6, base_s=1.0, cap_s=30.0)
#: Linkage-base answers that mean "no such person here" (a client fault); any other is the base's failure.
PERSON_UNKNOWN_CODES = frozenset(
    {
        "identity.person.unknown",
        "identity.linkage.unknown_resident",
        "identity.linkage.not_acquired",
        "identity.fugo.invalid",
    }
)
#: Headers a peer hub is sent (besides the hub's own): the X-Road ones and the idempotency key.
FORWARDED_HEADERS = ("x-road-id", "x-road-userid", "x-road-issue", "idempotency-key")


def subject_of(person_key: str) -> str:
    """The access records' ``subject``: SHA-256 of the internal person key (hex), never a 個人番号."""
    return hashlib.sha256(SUBJECT_TAG + person_key.encode("ascii")).hexdigest()


def request_hash(method: str, target: str, client: str, message_id: str, body: bytes) -> str:
    """``X-Road-Request-Hash``: base64 SHA-512 of ``METHOD SP target LF client LF X-Road-Id LF body``."""
    head = f"{method.upper()} {target}\n{client}\n{message_id}\n".encode()
    return base64.b64encode(hashlib.sha512(head + body).digest()).decode("ascii")


def caller_schema(spec: Spec, kind: InformationKind, service: Service) -> dict[str, Any]:
    """A caller's request schema: the spec's, with the caller's 宛名番号 as an alternative to its 符号."""
    schema: dict[str, Any] = json.loads(json.dumps(request_schema(spec, kind, service)))  # a copy
    if "person_fugo" in service.request:
        schema["properties"]["atena_number"] = json_schema(spec, spec.parameter("atena_number"))
        schema["required"] = [r for r in schema["required"] if r != "person_fugo"]
        schema["oneOf"] = [{"required": ["person_fugo"]}, {"required": ["atena_number"]}]
    return schema


def problem_body(error: RenkeiError) -> dict[str, Any]:
    """The fields of a problem for ``error`` (the edge renders them as problem+json)."""
    return {"code": error.code, "title": type(error).__name__, "detail": error.message, **error.detail}


@dataclass(slots=True)
class _Context:
    """What is known of one exchange so far, for its log row."""

    message_id: str
    request_hash: str
    client: str
    provider: str
    service: str
    purpose: str
    started: float
    at: datetime


class ExchangeHub:
    """The query flow of the hub. One instance per deployment; it owns its transport (close it).

    ``journal`` writes nonce claims, access records and log rows for many exchanges at once
    (``SqlExchangeJournal``: one transaction); without one they go to the authenticator's replay store,
    ``recorder`` and ``store`` in transactions of their own (:class:`SeparateJournal`).

    ``peers`` (federation): a provider hosted by a peer deployment is queried through that deployment's
    hub (:mod:`renkei.exchange.federated`); ``remote_linkage``: this deployment is not the linkage base,
    which converts the caller's 符号 to the provider organisation's for such queries.
    """

    def __init__(
        self,
        registry: Registry,
        authenticator: RequestAuthenticator,
        linkage: LinkageBase,
        recorder: AccessRecorder,
        store: ExchangeStore,
        transport: Transport,
        signer: HubSigner,
        clock: Clock,
        *,
        max_body: int = MAX_BODY,
        keep: timedelta = DEFAULT_KEEP,
        journal: ExchangeJournal | None = None,
        max_batch: int = MAX_BATCH,
        peers: Peers | None = None,
        remote_linkage: BaseConverter | None = None,
        remote_retry: RetryPolicy = REMOTE_RETRY,
    ) -> None:
        self._registry = registry
        self._spec = registry.spec
        self._authenticator = authenticator
        self._linkage = linkage
        self._recorder = recorder
        self._store = store
        self._transport = transport
        self._signer = signer
        self._clock = clock
        self.max_body = max_body
        self._keep = keep
        self._validators: dict[str, _Schema] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._member_ids: dict[str, MemberId] = {}
        self._names: dict[tuple[str, tuple[str, ...]], tuple[InformationItem, ...]] = {}
        self._peers = peers
        self._remote_linkage = remote_linkage
        self._remote_retry = remote_retry
        self._rng = random.Random()
        self._closing = asyncio.Event()
        self._commits = GroupCommit(
            journal or SeparateJournal(authenticator.replays, recorder, store), clock, max_batch=max_batch
        )

    @property
    def spec(self) -> Spec:
        """The standard the hub enforces (edges build their protocol views from it)."""
        return self._spec

    async def aclose(self) -> None:
        """Finish pending asynchronous queries and writes, then close the transport. A query waiting to
        retry an unavailable peer ends now with that fault stored as its result."""
        self._closing.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._commits.aclose()
        await self._transport.aclose()

    # --- the synchronous query ---------------------------------------------------------------------

    async def query(self, incoming: Incoming) -> Exchanged:
        """Answer one query, or a typed fault; either way one message-log row is written."""
        ctx = self._context(incoming)
        try:
            self._check_message_id(incoming)
            client = await self._identify(incoming)
            ctx.client = str(client)
            if _prefers_async(incoming) and incoming.peer is None:
                return await self._submit(incoming, ctx, client)
            reply, outcome, records = await self._process(incoming, ctx, client)
            # The records and the row are durable before the reply leaves.
            await self._commits.finish(
                Finished(self._entry(ctx, outcome, None, _hash_json(reply.body)), records)
            )
        except ExchangeError as error:
            return await self._fail(ctx, error)
        except Exception as exc:  # a bug or a storage failure: logged and turned into a typed fault
            log.exception("exchange %s failed inside the hub", ctx.message_id)
            return await self._fail(ctx, HubFailed(f"the hub failed ({type(exc).__name__})"))
        return Exchanged(reply, ctx.message_id, ctx.request_hash)

    async def refuse(self, incoming: Incoming, error: ExchangeError) -> Exchanged:
        """Log a request an edge refused before the hub could run (unreadable SOAP, unknown operation, no
        provider named, a body over the limit) and return its fault: every exchange leaves a row.

        ``incoming`` holds what the edge knows (headers, the body unless it was too large, the path if the
        provider and service are known); the client is the one the headers name, unauthenticated.
        """
        return await self._fail(self._context(incoming), error)

    def _context(self, incoming: Incoming) -> _Context:
        given = incoming.headers.get("x-road-id", "")
        message_id = given if MESSAGE_ID.fullmatch(given) else str(uuid.uuid4())
        client = _client_header(incoming.headers) or ""
        body = incoming.body if incoming.body is not None else b""
        path = incoming.path
        return _Context(
            message_id=message_id,
            request_hash=request_hash(incoming.method, incoming.target, client, message_id, body),
            client=_loggable(client),
            provider=_loggable("/".join(path[:4])),
            service=_loggable(path[4] if len(path) > 4 else ""),
            purpose=_loggable(incoming.headers.get("x-road-issue", "")),
            started=time.perf_counter(),
            at=self._clock.now(),
        )

    async def _fail(self, ctx: _Context, error: ExchangeError) -> Exchanged:
        outcome = LogOutcome.DENIED if error.xroad_code.startswith("Client.") else LogOutcome.ERROR
        body = problem_body(error)
        try:
            await self._commits.finish(Finished(self._entry(ctx, outcome, error.code, _hash_json(body))))
        except Exception:  # the fault itself is what the client must get; the failed log line is logged
            log.exception("exchange %s: the message log refused a row", ctx.message_id)
        return Exchanged(Reply(error.http_status, body, problem=True), ctx.message_id, ctx.request_hash)

    @staticmethod
    def _entry(ctx: _Context, outcome: LogOutcome, code: str | None, response_hash: str | None) -> LogEntry:
        return LogEntry(
            id=time_ordered_id(ctx.at),
            message_id=ctx.message_id,
            at=ctx.at,
            client=ctx.client,
            service=ctx.service,
            provider=ctx.provider,
            purpose=ctx.purpose,
            outcome=outcome,
            code=code,
            request_hash=ctx.request_hash,
            response_hash=response_hash,
            duration_ms=int((time.perf_counter() - ctx.started) * 1000),
        )

    @staticmethod
    def _check_message_id(incoming: Incoming) -> None:
        given = incoming.headers.get("x-road-id")
        if given is not None and not MESSAGE_ID.fullmatch(given):
            raise BadRequest("X-Road-Id: 1-128 visible ASCII characters", header="X-Road-Id")

    async def _authenticate(self, incoming: Incoming) -> tuple[AuthenticatedRequest, MemberId]:
        evidence = signature_of(incoming, self._authenticator.check, self.max_body)
        # Single use: durable before the hub acts on the request (shared with concurrent claims).
        claim = NonceClaim(str(evidence.member), evidence.jti, evidence.keep_until)
        if not await self._commits.claim(claim):
            raise InvalidSignature("this signed request was already received", reason=RequestReplayed.code)
        return evidence, signed_client(incoming.headers, evidence.member, parse=self._member_id)

    async def _identify(self, incoming: Incoming) -> MemberId:
        """The client: the member that signed the request, or — for a request a peer hub forwarded over
        mutual TLS — the member ``X-Road-Client`` names, which that peer must host."""
        if incoming.peer is None:
            return (await self._authenticate(incoming))[1]
        if incoming.body is None:
            raise BodyTooLarge(f"the body exceeds {self.max_body} bytes", limit=self.max_body)
        text = _client_header(incoming.headers)
        try:
            client = self._member_id(text or "")
        except RenkeiError:
            raise PeerRequestInvalid("X-Road-Client: the client member system is malformed") from None
        if not incoming.peer.hosts_member(client) or self._registry.find_member(client) is not None:
            raise PeerRequestInvalid(
                f"{incoming.peer.deployment} does not host {client} (its trust list does not name it)",
                deployment=incoming.peer.deployment,
                client=str(client),
            )
        return client

    async def _process(
        self, incoming: Incoming, ctx: _Context, client: MemberId
    ) -> tuple[Reply, LogOutcome, tuple[AccessRecord, ...]]:
        """The reply, its outcome, and the access records still to write (with the row)."""
        provider = self._provider(incoming.path)
        # A peer's request is answered here or not at all: never forwarded again.
        remote = None if self._peers is None or incoming.peer is not None else self._peers.locate(provider)
        purpose = incoming.headers.get("x-road-issue")
        grant = authorise(self._registry, client, provider, ctx.service, purpose, remote=remote is not None)
        key = incoming.headers.get("idempotency-key")
        fingerprint = ""
        if key is not None:
            fingerprint = hashlib.sha256(
                f"{incoming.method} {incoming.target}\n".encode() + (incoming.body or b"")
            ).hexdigest()
            if not IDEMPOTENCY_KEY.fullmatch(key):
                raise BadRequest("Idempotency-Key: 1-200 visible ASCII characters", header="Idempotency-Key")
            stored = self._store.remembered(str(client), key, self._clock.now())
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    raise IdempotencyConflict(
                        "this Idempotency-Key was used with another request", idempotency_key=key
                    )
                return _reply_of(stored), LogOutcome.REPLAYED, ()
        if remote is not None:
            reply, records = await self._provide_remote(incoming, ctx, client, provider, grant, remote)
        else:
            reply, records = await self._provide(incoming, ctx, client, provider, grant)
        if key is not None:
            # A stored reply is handed out again on a retry: its records must be durable first.
            if records:
                await asyncio.to_thread(self._recorder.append_many, records)
                records = ()
            now = self._clock.now()
            kept = self._store.remember(
                StoredReply(
                    client=str(client),
                    key=key,
                    fingerprint=fingerprint,
                    message_id=ctx.message_id,
                    request_hash=ctx.request_hash,
                    status=reply.status,
                    body=_json(reply.body),
                    problem=False,
                    created_at=now,
                    expires_at=now + self._keep,
                )
            )
            if kept.fingerprint != fingerprint:  # a concurrent retry with another body won the key
                raise IdempotencyConflict("this Idempotency-Key was used with another request")
        return reply, LogOutcome.PROVIDED, records

    def _provider(self, path: tuple[str, ...]) -> MemberId:
        if len(path) != 5:
            raise ServiceNotFound("path: /r1/{instance}/{class}/{member}/{subsystem}/{service}")
        if path[0] != self._registry.instance:
            raise ServiceNotFound(f"instance {path[0]!r} is not this hub's ({self._registry.instance})")
        try:
            return self._member_id("/".join(path[:4]))
        except RenkeiError:
            raise ServiceNotFound(f"{'/'.join(path[:4])[:128]!r} is not a member system id") from None

    def _member_id(self, text: str) -> MemberId:
        """``MemberId.parse`` (check digits and all), remembered: the same few ids come with every request."""
        found = self._member_ids.get(text)
        if found is None:
            found = MemberId.parse(text)
            if len(self._member_ids) >= MEMBER_ID_CACHE:
                self._member_ids.clear()
            self._member_ids[text] = found
        return found

    def _checked_request(self, incoming: Incoming, grant: Grant) -> dict[str, Any]:
        """The request items, refused if a 個人番号 is anywhere in the request or the schema refuses them."""
        body = incoming.body or b""
        if (
            contains_individual_number(body)
            or contains_individual_number(incoming.target)
            or (incoming.query and holds_individual_number(incoming.query))  # %-decoded names and values
        ):
            raise IndividualNumberRefused(
                "個人番号は送信できません: send your 符号 (person_fugo) or 宛名番号 (atena_number)"
            )
        data = self._request_data(incoming, grant)
        if holds_individual_number(data):  # hidden from the raw scan by \u escapes, %-encoding or &#…;
            raise IndividualNumberRefused(
                "個人番号は送信できません: send your 符号 (person_fugo) or 宛名番号 (atena_number)"
            )
        caller_check = self._schema_validator(grant)
        _validate(caller_check, data, BadRequest, "the request does not match the service's request schema")
        return data

    async def _provide(
        self, incoming: Incoming, ctx: _Context, client: MemberId, provider: MemberId, grant: Grant
    ) -> tuple[Reply, tuple[AccessRecord, ...]]:
        data = self._checked_request(incoming, grant)
        # What the provider gets differs only by the person: the hub's own 符号 for the caller's 宛名番号
        # or 符号 (the caller schema admits exactly one of them), so it is not validated a second time.
        if incoming.peer is None:
            person_key, data = self._convert(client, provider, data)
            sides: tuple[Side, ...] = (Side.REQUESTER, Side.PROVIDER)
        else:  # the peer's hub converted the person already; the requester's side is recorded there
            person_key = self._from_peer(provider, data)
            sides = (Side.PROVIDER,)
        assert grant.provided is not None  # a local provider
        soap = grant.provided.protocol is ServiceProtocol.SOAP
        forwarded = _json(data).encode("utf-8")
        endpoint = grant.provided.endpoint
        # A SOAP provider has one address for every operation (the WSDL's soap:address).
        url = endpoint if soap else endpoint.rstrip("/") + "/" + grant.service.id
        path = "/" + url.split("://", 1)[-1].partition("/")[2]
        headers = {
            "Content-Type": "application/json",
            "X-Road-Id": ctx.message_id,
            "X-Road-Client": str(client),
            "X-Road-Service": f"{provider}/{grant.service.id}",
            "X-Road-Issue": grant.purpose.id,
            "X-Road-Request-Hash": ctx.request_hash,
        }
        user = incoming.headers.get("x-road-userid")
        if user is not None:
            headers["X-Road-UserId"] = user[:128]
        if soap:
            forwarded, headers = encode_request(self._spec, grant.kind, grant.service, data, headers)
        headers[HUB_SIGNATURE_HEADER] = self._signer.sign(
            "POST",
            path,
            int(self._clock.now().timestamp()),
            ctx.message_id,
            str(client),
            headers["X-Road-Service"],
            forwarded,
            recipient=str(provider),
        )
        answer = await self._transport.post(url, headers, forwarded)
        if answer.status != 200 and not soap:  # a SOAP Fault comes with HTTP 500: the decoder reads it
            raise ServiceFailed(f"the provider answered HTTP {answer.status}", provider_status=answer.status)
        if contains_individual_number(answer.body):
            raise ServiceFailed("the provider's answer carries a 個人番号; it was not passed on")
        if soap:
            result = decode_response(self._spec, grant.kind, grant.service, answer.body, status=answer.status)
        else:
            result = _json_object(answer.body, ServiceFailed, "the provider's answer")
        if holds_individual_number(result):
            raise ServiceFailed("the provider's answer carries a 個人番号; it was not passed on")
        return self._answer(ctx, client, provider, grant, person_key, result, ServiceFailed, sides)

    def _answer(
        self,
        ctx: _Context,
        client: MemberId,
        provider: MemberId,
        grant: Grant,
        person_key: str | None,
        result: dict[str, Any],
        error: type[ExchangeError],
        sides: tuple[Side, ...],
    ) -> tuple[Reply, tuple[AccessRecord, ...]]:
        """The answer checked against the response schema, narrowed to the grant, and its records."""
        response_check = self._response_validator(grant, narrowed=error is RemoteFailed)
        _validate(response_check, result, error, "the provider's answer does not match the schema")
        allowed: list[str] = [i for i in grant.items if i in result]
        filtered = {i: result[i] for i in allowed}
        return Reply(200, filtered), self._records(ctx, client, provider, grant, person_key, allowed, sides)

    async def _provide_remote(
        self,
        incoming: Incoming,
        ctx: _Context,
        client: MemberId,
        provider: MemberId,
        grant: Grant,
        deployment: str,
    ) -> tuple[Reply, tuple[AccessRecord, ...]]:
        """Query a provider hosted by the peer ``deployment`` through its hub: only the provider
        organisation's 符号 crosses; the peer authorises again, calls its member system and records the
        provider's side; this hub records the requester's side once the answer is here."""
        assert self._peers is not None
        data = self._checked_request(incoming, grant)
        person_key, data = await self._convert_remote(client, provider, data)
        headers = {"Content-Type": "application/json", "X-Road-Client": str(client)}
        for name in FORWARDED_HEADERS:
            value = incoming.headers.get(name)
            if value is not None:
                headers["-".join(p.capitalize() for p in name.split("-"))] = value[:200]
        headers["X-Road-Id"] = ctx.message_id
        # A retry (the caller's, or this hub's for an asynchronous query) after a lost answer must not
        # make the peer provide twice: without the caller's key, the exchange's id is the key.
        headers.setdefault("Idempotency-Key", ctx.message_id)
        path = "/r1/" + "/".join(incoming.path)
        answer = await self._peers.forward(deployment, path, _json(data).encode("utf-8"), headers)
        if answer.status != 200:
            raise _remote_fault(deployment, answer)
        if contains_individual_number(answer.body):
            raise RemoteFailed("the peer's answer carries a 個人番号; not passed on", deployment=deployment)
        result = _json_object(answer.body, RemoteFailed, "the peer's answer", deployment=deployment)
        if holds_individual_number(result):
            raise RemoteFailed("the peer's answer carries a 個人番号; not passed on", deployment=deployment)
        return self._answer(ctx, client, provider, grant, person_key, result, RemoteFailed, (Side.REQUESTER,))

    def _request_data(self, incoming: Incoming, grant: Grant) -> dict[str, Any]:
        if incoming.items is not None:  # decoded by the edge from another protocol (SOAP)
            return dict(incoming.items)
        if incoming.method == "GET":
            data: dict[str, Any] = {}
            for name, text in incoming.query.items():
                try:
                    item = (
                        self._spec.parameter("atena_number")
                        if name == "atena_number"
                        else self._spec.request_item(grant.kind, name)
                    )
                    data[name] = parse_text(self._spec, item, text)
                except (KeyError, ValueError, RenkeiError):
                    raise BadRequest(
                        f"query parameter {name[:64]!r} is not a request item", field=name
                    ) from None
            return data
        try:
            data = json.loads(incoming.body or b"")
        except (ValueError, RecursionError):
            raise MalformedJson("the body is not JSON (UTF-8)") from None
        if not isinstance(data, dict):
            raise BadRequest("the body must be a JSON object of the service's request items")
        return data

    def _schema_validator(self, grant: Grant) -> _Schema:
        found = self._validators.get(grant.service.id)
        if found is None:
            schema = caller_schema(self._spec, grant.kind, grant.service)
            found = self._validators[grant.service.id] = _Schema.of(schema)
        return found

    def _response_validator(self, grant: Grant, *, narrowed: bool = False) -> _Schema:
        """The service's response schema; ``narrowed``: an answer a peer hub already narrowed to what the
        purpose allows, so no item is required (each one present must still be valid)."""
        key = grant.service.id + ("#narrowed" if narrowed else "#response")
        found = self._validators.get(key)
        if found is None:
            schema = response_schema(self._spec, grant.kind, grant.service)
            if narrowed:
                schema = {**schema, "required": []}
            found = self._validators[key] = _Schema.of(schema)
        return found

    def _own_fugo(self, client: MemberId, data: dict[str, Any]) -> str:
        """The caller organisation's 符号 of the person: given, or looked up from its 宛名番号."""
        source = str(client.organisation)
        if "atena_number" in data:
            return str(self._linkage.convert(source, str(data.pop("atena_number")), source).fugo)
        return str(data["person_fugo"])

    async def _convert_remote(
        self, client: MemberId, provider: MemberId, data: dict[str, Any]
    ) -> tuple[str | None, dict[str, Any]]:
        """Like :meth:`_convert`, for a provider in a peer deployment: the linkage base (here, or the peer
        that is the base) turns the caller's 符号 into the provider organisation's."""
        if "person_fugo" not in data and "atena_number" not in data:
            return None, data
        source, target = str(client.organisation), str(provider.organisation)
        converted = dict(data)
        try:
            if self._remote_linkage is None:  # this deployment is the linkage base
                own = self._own_fugo(client, converted)
                person_key = str(self._linkage.resolve(source, own))
                fugo = str(self._linkage.convert_fugo(source, own, target))
            else:
                own, person_key = self._held_fugo(source, converted)
                fugo = await self._remote_linkage.convert_fugo(source, own, target)
        except ExchangeError:
            raise
        except RenkeiError as error:
            if error.code.startswith("tenancy.peer."):
                raise peer_unavailable(error, None) from None
            if error.code in PERSON_UNKNOWN_CODES or error.detail.get("base_code") in PERSON_UNKNOWN_CODES:
                raise PersonUnknown(
                    "the person is not known to the linkage base for this organisation", reason=error.code
                ) from None
            raise RemoteFailed(
                f"the linkage base failed to convert the person ({error.code})",
                reason=error.code,
                base_code=str(error.detail.get("base_code", "")),
            ) from None
        converted["person_fugo"] = fugo
        return person_key, converted

    def _held_fugo(self, source: str, data: dict[str, Any]) -> tuple[str, str]:
        """The caller organisation's 符号 the linkage base issued (held here) and the local person: where
        another deployment is the base, a 符号 derived here would mean nothing to it."""
        if "atena_number" not in data:
            own = str(data["person_fugo"])
            return own, str(self._linkage.resolve(source, own))
        person_key = self._linkage.person_by_local_id(source, str(data.pop("atena_number")))
        held = None if person_key is None else self._linkage.held_fugo(source, person_key)
        if person_key is None or held is None:
            raise PersonUnknown(
                "the person has no 符号 from the linkage base for this organisation"
                " (renkei federation acquire fetches them)"
            )
        return str(held), str(person_key)

    def _from_peer(self, provider: MemberId, data: dict[str, Any]) -> str | None:
        """The person of a request a peer hub forwarded: it carries the provider organisation's 符号."""
        if "atena_number" in data:
            raise PeerRequestInvalid("only the provider organisation’s 符号 crosses deployments")
        if "person_fugo" not in data:
            return None
        try:
            return str(self._linkage.resolve(str(provider.organisation), str(data["person_fugo"])))
        except RenkeiError as error:
            raise PersonUnknown(
                "the person is not known to the linkage base for this organisation", reason=error.code
            ) from None

    def _convert(
        self, client: MemberId, provider: MemberId, data: dict[str, Any]
    ) -> tuple[str | None, dict[str, Any]]:
        """Replace the caller's 宛名番号 or 符号 by the provider organisation's 符号."""
        if "person_fugo" not in data and "atena_number" not in data:
            return None, data
        source, target = str(client.organisation), str(provider.organisation)
        converted = dict(data)
        try:
            # 宛名番号 → the caller's own 符号 → the provider's 符号: each step is a lookup the linkage
            # base caches (converting straight to the provider would also look up the provider's
            # 宛名番号 of the person: not needed here, usually absent, so never cached).
            own = self._own_fugo(client, converted)
            fugo = self._linkage.convert_fugo(source, own, target)
            person_key = self._linkage.resolve(target, fugo)
        except RenkeiError as error:
            raise PersonUnknown(
                "the person is not known to the linkage base for this organisation", reason=error.code
            ) from None
        converted["person_fugo"] = str(fugo)
        return str(person_key), converted

    def _records(
        self,
        ctx: _Context,
        client: MemberId,
        provider: MemberId,
        grant: Grant,
        person_key: str | None,
        items: list[str],
        sides: tuple[Side, ...],
    ) -> tuple[AccessRecord, ...]:
        if person_key is None or not grant.kind.personal:
            return ()
        provided_at = self._clock.now()
        names = self._item_names(grant.kind, tuple(items))
        requester = Party(str(client.organisation), str(client))
        provider_party = Party(str(provider.organisation), str(provider))
        subject = subject_of(person_key)
        return tuple(
            AccessRecord(
                record_id=time_ordered_id(provided_at),
                side=side,
                requester=requester,
                provider=provider_party,
                requested_at=ctx.at,
                provided_at=provided_at,
                information=grant.kind.id,
                items=names,
                purpose=grant.purpose.id,
                withheld=False,
                subject=subject,
                message_id=ctx.message_id[:256],
                request_hash=ctx.request_hash,
                outcome=Outcome.PROVIDED,
            )
            for side in sides
        )

    def _item_names(self, kind: InformationKind, items: tuple[str, ...]) -> tuple[InformationItem, ...]:
        """The records' items with their spec names: the same few combinations come with every query."""
        key = (kind.id, items)
        found = self._names.get(key)
        if found is None:
            found = tuple(InformationItem(i, kind.item(i).name) for i in items)
            if len(self._names) >= MEMBER_ID_CACHE:
                self._names.clear()
            self._names[key] = found
        return found

    # --- asynchronous queries (処理通番) -----------------------------------------------------------

    async def _submit(self, incoming: Incoming, ctx: _Context, client: MemberId) -> Exchanged:
        now = self._clock.now()
        result_id = str(uuid.uuid4())
        self._store.open_result(
            StoredReply(
                client=str(client),
                key=result_id,
                fingerprint="",
                message_id=ctx.message_id,
                request_hash=ctx.request_hash,
                status=0,
                body=None,
                problem=False,
                created_at=now,
                expires_at=now + self._keep,
            )
        )
        await self._commits.finish(Finished(self._entry(ctx, LogOutcome.ACCEPTED, None, None)))
        task = asyncio.get_running_loop().create_task(self._finish(incoming, ctx, client, result_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        body = {"id": result_id, "status": "pending", "location": RESULTS_PATH + result_id}
        return Exchanged(Reply(202, body), ctx.message_id, ctx.request_hash, RESULTS_PATH + result_id)

    async def _finish(self, incoming: Incoming, ctx: _Context, client: MemberId, result_id: str) -> None:
        ctx.started = time.perf_counter()
        try:
            reply, outcome, records = await self._process_retrying(incoming, ctx, client)
            await self._commits.finish(
                Finished(self._entry(ctx, outcome, None, _hash_json(reply.body)), records)
            )
        except ExchangeError as error:
            reply = (await self._fail(ctx, error)).reply
        except Exception as exc:
            log.exception("asynchronous exchange %s failed inside the hub", ctx.message_id)
            reply = (await self._fail(ctx, HubFailed(f"the hub failed ({type(exc).__name__})"))).reply
        try:
            self._store.finish_result(result_id, reply.status, _json(reply.body), reply.problem)
        except Exception:
            log.exception("asynchronous exchange %s: the result could not be stored", ctx.message_id)

    async def _process_retrying(
        self, incoming: Incoming, ctx: _Context, client: MemberId
    ) -> tuple[Reply, LogOutcome, tuple[AccessRecord, ...]]:
        """:meth:`_process`, tried again with backoff while a peer deployment is unavailable (nothing is
        recorded as provided until it answers; the result stays pending meanwhile)."""
        attempts = 0
        while True:
            try:
                return await self._process(incoming, ctx, client)
            except PeerUnavailable as error:
                attempts += 1
                wait = self._remote_retry.backoff(attempts, self._rng)
                if wait is None or self._closing.is_set():
                    raise
                log.info(
                    "asynchronous exchange %s: %s unavailable, attempt %d, again in %.1f s",
                    ctx.message_id,
                    error.detail.get("deployment", "the peer"),
                    attempts,
                    wait.total_seconds(),
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), wait.total_seconds())
                if self._closing.is_set():  # shutting down: the fault is the result
                    raise

    async def result(self, incoming: Incoming, result_id: str) -> Exchanged:
        """The stored reply of an asynchronous query, for the client that made it only."""
        ctx = self._context(incoming)
        ctx.service = "results"
        try:
            _, client = await self._authenticate(incoming)
            ctx.client = str(client)
            stored = self._store.result(result_id[:64], self._clock.now())
            if stored is None or stored.client != str(client):
                raise ResultNotFound("no result with this id for this client", id=result_id[:64])
        except ExchangeError as error:
            return await self._fail(ctx, error)
        location = RESULTS_PATH + stored.key
        if stored.status == 0:
            body = {"id": stored.key, "status": "pending", "location": location}
            return Exchanged(Reply(202, body), stored.message_id, stored.request_hash, location)
        return Exchanged(_reply_of(stored), stored.message_id, stored.request_hash)


def _json_object(body: bytes, error: type[ExchangeError], what: str, **detail: Any) -> dict[str, Any]:
    """``body`` as a JSON object, or ``error`` saying what it is not (never quoting it)."""
    try:
        result = json.loads(body)
    except ValueError:
        raise error(f"{what} is not JSON", **detail) from None
    if not isinstance(result, dict):
        raise error(f"{what} is not a JSON object", **detail)
    return result


def _remote_fault(deployment: str, answer: ProviderReply) -> ExchangeError:
    """The typed fault for a peer hub's non-200 answer: its problem's code and rule, never its text."""
    try:
        problem = json.loads(answer.body)
    except ValueError:
        problem = None
    fields = problem if isinstance(problem, dict) else {}
    detail = {
        "deployment": deployment,
        "remote_status": answer.status,
        "remote_code": str(fields.get("code", ""))[:100],
        "remote_xroad_code": str(fields.get("xroad_code", ""))[:100],
    }
    if "rule" in fields:
        detail["remote_rule"] = str(fields["rule"])[:100]
    if 400 <= answer.status < 500 and str(fields.get("xroad_code", "")).startswith("Client."):
        return RemoteRefused(f"{deployment} refused the query ({detail['remote_code']})", **detail)
    return RemoteFailed(f"{deployment} failed to answer (HTTP {answer.status})", **detail)


def _loggable(value: str) -> str:
    """A caller-given identifier as the message log keeps it: at most 128 characters, ``-`` when empty or
    when it carries a 個人番号 (unauthenticated headers and paths are the caller's to fill)."""
    kept = value[:128]
    return "-" if not kept or contains_individual_number(value) else kept


def signature_of(
    incoming: Incoming,
    check: Callable[[str | None, str, str, bytes], AuthenticatedRequest],
    max_body: int,
) -> AuthenticatedRequest:
    """The evidence of the request's signature by ``check`` (``RequestAuthenticator.check``, or ``verify``
    which also claims the nonce); a body over ``max_body`` or a refused signature as the exchange's faults."""
    if incoming.body is None:
        raise BodyTooLarge(f"the body exceeds {max_body} bytes", limit=max_body)
    try:
        return check(
            incoming.headers.get(SIGNATURE_HEADER.lower()), incoming.method, incoming.target, incoming.body
        )
    except RenkeiError as error:
        if not error.code.startswith("registry.auth."):
            raise
        raise InvalidSignature(error.message, reason=error.code) from None


def signed_client(
    headers: Mapping[str, str],
    signer: MemberId,
    *,
    parse: Callable[[str], MemberId] = MemberId.parse,
    example: str = "JP/LG/131016/u17",
) -> MemberId:
    """The member the request names in ``X-Road-Client`` (or its GovStack synonyms), which must be the
    member that signed it; ``exchange.client.invalid`` otherwise."""
    named = _client_header(headers)
    if named is None:
        raise InvalidClient(f"X-Road-Client is required (e.g. {example})", header="X-Road-Client")
    try:
        client = parse(named)
    except RenkeiError:
        raise InvalidClient(f"X-Road-Client {named[:128]!r} is not a member system id") from None
    if client != signer:
        raise InvalidClient(
            f"X-Road-Client {client} is not the member that signed the request ({signer})",
            client=str(client),
            signer=str(signer),
        )
    return client


def _client_header(headers: Mapping[str, str]) -> str | None:
    return next((headers[h] for h in CLIENT_HEADERS if headers.get(h)), None)


def _prefers_async(incoming: Incoming) -> bool:
    prefer = incoming.headers.get("prefer", "")
    return any(p.strip().lower() == "respond-async" for p in prefer.split(","))


def _json(body: Mapping[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _hash_json(body: Mapping[str, Any]) -> str:
    return base64.b64encode(hashlib.sha512(_json(body).encode("utf-8")).digest()).decode("ascii")


def _reply_of(stored: StoredReply) -> Reply:
    body = json.loads(stored.body or "{}")
    return Reply(stored.status, body, problem=stored.problem)


@dataclass(frozen=True, slots=True)
class _Schema:
    """A schema's jsonschema validator, and the fast check that may say valid first (``schemacheck``)."""

    fast: Check | None
    validator: Draft202012Validator

    @classmethod
    def of(cls, schema: dict[str, Any]) -> _Schema:
        return cls(compile_check(schema), Draft202012Validator(schema))


def _validate(schema: _Schema, data: object, error: type[ExchangeError], message: str) -> None:
    if schema.fast is not None and schema.fast(data):
        return
    problems = sorted(schema.validator.iter_errors(data), key=lambda e: list(e.absolute_path))[:10]
    if problems:
        # Locations and the failing keyword only: never the values, which may be personal data.
        where = [
            {"location": "/".join(str(p) for p in e.absolute_path) or "(root)", "rule": str(e.validator)}
            for e in problems
        ]
        raise error(message, errors=where)
