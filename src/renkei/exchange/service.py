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
import hashlib
import json
import logging
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
    PersonUnknown,
    ResultNotFound,
    ServiceFailed,
    ServiceNotFound,
)
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
from renkei.exchange.ports import ExchangeJournal, ExchangeStore, Transport
from renkei.exchange.schemacheck import Check, compile_check
from renkei.exchange.signing import HUB_SIGNATURE_HEADER, HubSigner
from renkei.exchange.soapforward import decode_response, encode_request
from renkei.identity.scan import contains_individual_number
from renkei.identity.service import LinkageBase
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
        self._commits = GroupCommit(
            journal or SeparateJournal(authenticator.replays, recorder, store), clock, max_batch=max_batch
        )

    @property
    def spec(self) -> Spec:
        """The standard the hub enforces (edges build their protocol views from it)."""
        return self._spec

    async def aclose(self) -> None:
        """Finish pending asynchronous queries and writes, then close the transport."""
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
            _, client = await self._authenticate(incoming)
            ctx.client = str(client)
            if _prefers_async(incoming):
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
            id=str(uuid.uuid4()),
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
        if incoming.body is None:
            raise BodyTooLarge(f"the body exceeds {self.max_body} bytes", limit=self.max_body)
        try:
            evidence = self._authenticator.check(
                incoming.headers.get(SIGNATURE_HEADER.lower()),
                incoming.method,
                incoming.target,
                incoming.body,
            )
        except RenkeiError as error:
            if not error.code.startswith("registry.auth."):
                raise
            raise InvalidSignature(error.message, reason=error.code) from None
        # Single use: durable before the hub acts on the request (shared with concurrent claims).
        claim = NonceClaim(str(evidence.member), evidence.jti, evidence.keep_until)
        if not await self._commits.claim(claim):
            raise InvalidSignature("this signed request was already received", reason=RequestReplayed.code)
        return evidence, signed_client(incoming.headers, evidence.member, parse=self._member_id)

    async def _process(
        self, incoming: Incoming, ctx: _Context, client: MemberId
    ) -> tuple[Reply, LogOutcome, tuple[AccessRecord, ...]]:
        """The reply, its outcome, and the access records still to write (with the row)."""
        provider = self._provider(incoming.path)
        grant = authorise(self._registry, client, provider, ctx.service, incoming.headers.get("x-road-issue"))
        key = incoming.headers.get("idempotency-key")
        fingerprint = hashlib.sha256(
            f"{incoming.method} {incoming.target}\n".encode() + (incoming.body or b"")
        ).hexdigest()
        if key is not None:
            if not IDEMPOTENCY_KEY.fullmatch(key):
                raise BadRequest("Idempotency-Key: 1-200 visible ASCII characters", header="Idempotency-Key")
            stored = self._store.remembered(str(client), key, self._clock.now())
            if stored is not None:
                if stored.fingerprint != fingerprint:
                    raise IdempotencyConflict(
                        "this Idempotency-Key was used with another request", idempotency_key=key
                    )
                return _reply_of(stored), LogOutcome.REPLAYED, ()
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

    async def _provide(
        self, incoming: Incoming, ctx: _Context, client: MemberId, provider: MemberId, grant: Grant
    ) -> tuple[Reply, tuple[AccessRecord, ...]]:
        body = incoming.body or b""
        if contains_individual_number(body) or contains_individual_number(incoming.target):
            raise IndividualNumberRefused(
                "個人番号は送信できません: send your 符号 (person_fugo) or 宛名番号 (atena_number)"
            )
        data = self._request_data(incoming, grant)
        caller_check = self._schema_validator(grant)
        _validate(caller_check, data, BadRequest, "the request does not match the service's request schema")
        # What the provider gets differs only by the person: the hub's own 符号 for the caller's 宛名番号
        # or 符号 (the caller schema admits exactly one of them), so it is not validated a second time.
        person_key, data = self._convert(client, provider, data)
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
        )
        answer = await self._transport.post(url, headers, forwarded)
        if answer.status != 200 and not soap:  # a SOAP Fault comes with HTTP 500: the decoder reads it
            raise ServiceFailed(f"the provider answered HTTP {answer.status}", provider_status=answer.status)
        if contains_individual_number(answer.body):
            raise ServiceFailed("the provider's answer carries a 個人番号; it was not passed on")
        if soap:
            result = decode_response(self._spec, grant.kind, grant.service, answer.body, status=answer.status)
        else:
            try:
                result = json.loads(answer.body)
            except ValueError:
                raise ServiceFailed("the provider's answer is not JSON") from None
            if not isinstance(result, dict):
                raise ServiceFailed("the provider's answer is not a JSON object")
        response_check = self._response_validator(grant)
        _validate(response_check, result, ServiceFailed, "the provider's answer does not match the schema")
        allowed: list[str] = [i for i in grant.items if i in result]
        filtered = {i: result[i] for i in allowed}
        return Reply(200, filtered), self._records(ctx, client, provider, grant, person_key, allowed)

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

    def _response_validator(self, grant: Grant) -> _Schema:
        key = grant.service.id + "#response"
        found = self._validators.get(key)
        if found is None:
            found = self._validators[key] = _Schema.of(response_schema(self._spec, grant.kind, grant.service))
        return found

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
            own: str
            if "atena_number" in converted:
                own = self._linkage.convert(source, str(converted.pop("atena_number")), source).fugo
            else:
                own = str(converted["person_fugo"])
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
    ) -> tuple[AccessRecord, ...]:
        if person_key is None or not grant.kind.personal:
            return ()
        provided_at = self._clock.now()
        names = tuple(InformationItem(i, grant.kind.item(i).name) for i in items)
        requester = Party(str(client.organisation), str(client))
        provider_party = Party(str(provider.organisation), str(provider))
        return tuple(
            AccessRecord(
                record_id=str(uuid.uuid4()),
                side=side,
                requester=requester,
                provider=provider_party,
                requested_at=ctx.at,
                provided_at=provided_at,
                information=grant.kind.id,
                items=names,
                purpose=grant.purpose.id,
                withheld=False,
                subject=subject_of(person_key),
                message_id=ctx.message_id[:256],
                request_hash=ctx.request_hash,
                outcome=Outcome.PROVIDED,
            )
            for side in (Side.REQUESTER, Side.PROVIDER)
        )

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
            reply, outcome, records = await self._process(incoming, ctx, client)
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


def _loggable(value: str) -> str:
    """A caller-given identifier as the message log keeps it: at most 128 characters, ``-`` when empty or
    when it carries a 個人番号 (unauthenticated headers and paths are the caller's to fill)."""
    kept = value[:128]
    return "-" if not kept or contains_individual_number(value) else kept


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
