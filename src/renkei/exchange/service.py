"""The hub's query flow (照会応答): authenticate, authorise, convert the person's id, sign, route to the
provider, filter and bind the answer, and record the exchange at both ends.

Every exchange, allowed or denied, leaves one message-log row (metadata and hashes, never bodies); a
provision of personal data also leaves an access record at the requester's and the provider's end (one
``append_many``, written only once the provider has answered, so a failure leaves no record of provision).
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
from collections.abc import Mapping
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
from renkei.exchange.models import Exchanged, Incoming, LogEntry, LogOutcome, Reply, StoredReply
from renkei.exchange.ports import ExchangeStore, Transport
from renkei.exchange.signing import HUB_SIGNATURE_HEADER, HubSigner
from renkei.identity.scan import contains_individual_number
from renkei.identity.service import LinkageBase
from renkei.registry.auth import SIGNATURE_HEADER, AuthenticatedRequest, RequestAuthenticator
from renkei.registry.identifiers import MemberId
from renkei.registry.service import Registry
from renkei.spec.export.openapi import request_schema, response_schema
from renkei.spec.export.typemap import json_schema, parse_text
from renkei.spec.models import Spec
from renkei.storage.ports import Clock

log = logging.getLogger(__name__)

CLIENT_HEADERS = ("x-road-client", "x-govstack-client", "information-mediator-client")
MAX_BODY = 1024 * 1024
MESSAGE_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
DEFAULT_KEEP = timedelta(hours=24)
RESULTS_PATH = "/r1/results/"
SUBJECT_TAG = b"renkei-exchange-subject-v1\x00"


def subject_of(person_key: str) -> str:
    """The access records' ``subject``: SHA-256 of the internal person key (hex), never a 個人番号."""
    return hashlib.sha256(SUBJECT_TAG + person_key.encode("ascii")).hexdigest()


def request_hash(method: str, target: str, client: str, message_id: str, body: bytes) -> str:
    """``X-Road-Request-Hash``: base64 SHA-512 of ``METHOD SP target LF client LF X-Road-Id LF body``."""
    head = f"{method.upper()} {target}\n{client}\n{message_id}\n".encode()
    return base64.b64encode(hashlib.sha512(head + body).digest()).decode("ascii")


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
    """The query flow of the hub. One instance per deployment; it owns its transport (close it)."""

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
        self._validators: dict[str, tuple[Draft202012Validator, Draft202012Validator]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def spec(self) -> Spec:
        """The standard the hub enforces (edges build their protocol views from it)."""
        return self._spec

    async def aclose(self) -> None:
        """Finish pending asynchronous queries, then close the transport."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._transport.aclose()

    # --- the synchronous query ---------------------------------------------------------------------

    async def query(self, incoming: Incoming) -> Exchanged:
        """Answer one query, or a typed fault; either way one message-log row is written."""
        ctx = self._context(incoming)
        try:
            self._check_message_id(incoming)
            _, client = self._authenticate(incoming)
            ctx.client = str(client)
            if _prefers_async(incoming):
                return self._submit(incoming, ctx, client)
            reply, outcome = await self._process(incoming, ctx, client)
        except ExchangeError as error:
            return self._fail(ctx, error)
        except Exception as exc:  # a bug or a storage failure: logged and turned into a typed fault
            log.exception("exchange %s failed inside the hub", ctx.message_id)
            return self._fail(ctx, HubFailed(f"the hub failed ({type(exc).__name__})"))
        self._log(ctx, outcome, None, _hash_json(reply.body))
        return Exchanged(reply, ctx.message_id, ctx.request_hash)

    def _context(self, incoming: Incoming) -> _Context:
        given = incoming.headers.get("x-road-id", "")
        message_id = given if MESSAGE_ID.fullmatch(given) else str(uuid.uuid4())
        client = _client_header(incoming.headers) or ""
        body = incoming.body if incoming.body is not None else b""
        path = incoming.path
        return _Context(
            message_id=message_id,
            request_hash=request_hash(incoming.method, incoming.target, client, message_id, body),
            client=client[:128] or "-",
            provider="/".join(path[:4])[:128] or "-",
            service=(path[4] if len(path) > 4 else "-")[:128],
            purpose=incoming.headers.get("x-road-issue", "")[:128] or "-",
            started=time.perf_counter(),
            at=self._clock.now(),
        )

    def _fail(self, ctx: _Context, error: ExchangeError) -> Exchanged:
        outcome = LogOutcome.DENIED if error.xroad_code.startswith("Client.") else LogOutcome.ERROR
        body = problem_body(error)
        try:
            self._log(ctx, outcome, error.code, _hash_json(body))
        except Exception:  # the fault itself is what the client must get; the failed log line is logged
            log.exception("exchange %s: the message log refused a row", ctx.message_id)
        return Exchanged(Reply(error.http_status, body, problem=True), ctx.message_id, ctx.request_hash)

    def _log(self, ctx: _Context, outcome: LogOutcome, code: str | None, response_hash: str | None) -> None:
        self._store.log(
            LogEntry(
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
        )

    @staticmethod
    def _check_message_id(incoming: Incoming) -> None:
        given = incoming.headers.get("x-road-id")
        if given is not None and not MESSAGE_ID.fullmatch(given):
            raise BadRequest("X-Road-Id: 1-128 visible ASCII characters", header="X-Road-Id")

    def _authenticate(self, incoming: Incoming) -> tuple[AuthenticatedRequest, MemberId]:
        if incoming.body is None:
            raise BodyTooLarge(f"the body exceeds {self.max_body} bytes", limit=self.max_body)
        try:
            evidence = self._authenticator.verify(
                incoming.headers.get(SIGNATURE_HEADER.lower()),
                incoming.method,
                incoming.target,
                incoming.body,
            )
        except RenkeiError as error:
            if not error.code.startswith("registry.auth."):
                raise
            raise InvalidSignature(error.message, reason=error.code) from None
        named = _client_header(incoming.headers)
        if named is None:
            raise InvalidClient("X-Road-Client is required (e.g. JP/LG/131016/u17)", header="X-Road-Client")
        try:
            client = MemberId.parse(named)
        except RenkeiError:
            raise InvalidClient(f"X-Road-Client {named[:128]!r} is not a member system id") from None
        if client != evidence.member:
            raise InvalidClient(
                f"X-Road-Client {client} is not the member that signed the request ({evidence.member})",
                client=str(client),
                signer=str(evidence.member),
            )
        return evidence, client

    async def _process(self, incoming: Incoming, ctx: _Context, client: MemberId) -> tuple[Reply, LogOutcome]:
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
                return _reply_of(stored), LogOutcome.REPLAYED
        reply = await self._provide(incoming, ctx, client, provider, grant)
        if key is not None:
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
        return reply, LogOutcome.PROVIDED

    def _provider(self, path: tuple[str, ...]) -> MemberId:
        if len(path) != 5:
            raise ServiceNotFound("path: /r1/{instance}/{class}/{member}/{subsystem}/{service}")
        if path[0] != self._registry.instance:
            raise ServiceNotFound(f"instance {path[0]!r} is not this hub's ({self._registry.instance})")
        try:
            return MemberId.parse("/".join(path[:4]))
        except RenkeiError:
            raise ServiceNotFound(f"{'/'.join(path[:4])[:128]!r} is not a member system id") from None

    async def _provide(
        self, incoming: Incoming, ctx: _Context, client: MemberId, provider: MemberId, grant: Grant
    ) -> Reply:
        body = incoming.body or b""
        if contains_individual_number(body) or contains_individual_number(incoming.target):
            raise IndividualNumberRefused(
                "個人番号は送信できません: send your 符号 (person_fugo) or 宛名番号 (atena_number)"
            )
        data = self._request_data(incoming, grant)
        caller_check, provider_check = self._schema_validators(grant)
        _validate(caller_check, data, BadRequest, "the request does not match the service's request schema")
        person_key, data = self._convert(client, provider, data)
        _validate(provider_check, data, BadRequest, "the converted request does not match the schema")
        forwarded = _json(data).encode("utf-8")
        url = grant.provided.endpoint.rstrip("/") + "/" + grant.service.id
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
        if answer.status != 200:
            raise ServiceFailed(f"the provider answered HTTP {answer.status}", provider_status=answer.status)
        if contains_individual_number(answer.body):
            raise ServiceFailed("the provider's answer carries a 個人番号; it was not passed on")
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
        self._record(ctx, client, provider, grant, person_key, allowed)
        return Reply(200, filtered)

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

    def _schema_validators(self, grant: Grant) -> tuple[Draft202012Validator, Draft202012Validator]:
        found = self._validators.get(grant.service.id)
        if found is None:
            provider_schema = request_schema(self._spec, grant.kind, grant.service)
            caller_schema = json.loads(json.dumps(provider_schema))
            if "person_fugo" in grant.service.request:
                caller_schema["properties"]["atena_number"] = json_schema(
                    self._spec, self._spec.parameter("atena_number")
                )
                caller_schema["required"] = [r for r in caller_schema["required"] if r != "person_fugo"]
                caller_schema["oneOf"] = [{"required": ["person_fugo"]}, {"required": ["atena_number"]}]
            found = (Draft202012Validator(caller_schema), Draft202012Validator(provider_schema))
            self._validators[grant.service.id] = found
        return found

    def _response_validator(self, grant: Grant) -> Draft202012Validator:
        key = grant.service.id + "#response"
        found = self._validators.get(key)
        if found is None:
            schema = response_schema(self._spec, grant.kind, grant.service)
            validator = Draft202012Validator(schema)
            self._validators[key] = (validator, validator)
            return validator
        return found[0]

    def _convert(
        self, client: MemberId, provider: MemberId, data: dict[str, Any]
    ) -> tuple[str | None, dict[str, Any]]:
        """Replace the caller's 宛名番号 or 符号 by the provider organisation's 符号."""
        if "person_fugo" not in data and "atena_number" not in data:
            return None, data
        source, target = str(client.organisation), str(provider.organisation)
        converted = dict(data)
        try:
            if "atena_number" in converted:
                fugo = self._linkage.convert(source, str(converted.pop("atena_number")), target).fugo
            else:
                person = self._linkage.resolve(source, str(converted["person_fugo"]))
                fugo = self._linkage.fugo_for(target, person)
            person_key = self._linkage.resolve(target, fugo)
        except RenkeiError as error:
            raise PersonUnknown(
                "the person is not known to the linkage base for this organisation", reason=error.code
            ) from None
        converted["person_fugo"] = str(fugo)
        return str(person_key), converted

    def _record(
        self,
        ctx: _Context,
        client: MemberId,
        provider: MemberId,
        grant: Grant,
        person_key: str | None,
        items: list[str],
    ) -> None:
        if person_key is None or not grant.kind.personal:
            return
        provided_at = self._clock.now()
        names = tuple(InformationItem(i, grant.kind.item(i).name) for i in items)
        requester = Party(str(client.organisation), str(client))
        provider_party = Party(str(provider.organisation), str(provider))
        records = [
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
        ]
        self._recorder.append_many(records)

    # --- asynchronous queries (処理通番) -----------------------------------------------------------

    def _submit(self, incoming: Incoming, ctx: _Context, client: MemberId) -> Exchanged:
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
        self._log(ctx, LogOutcome.ACCEPTED, None, None)
        task = asyncio.get_running_loop().create_task(self._finish(incoming, ctx, client, result_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        body = {"id": result_id, "status": "pending", "location": RESULTS_PATH + result_id}
        return Exchanged(Reply(202, body), ctx.message_id, ctx.request_hash, RESULTS_PATH + result_id)

    async def _finish(self, incoming: Incoming, ctx: _Context, client: MemberId, result_id: str) -> None:
        ctx.started = time.perf_counter()
        try:
            reply, outcome = await self._process(incoming, ctx, client)
            self._log(ctx, outcome, None, _hash_json(reply.body))
        except ExchangeError as error:
            reply = self._fail(ctx, error).reply
        except Exception as exc:
            log.exception("asynchronous exchange %s failed inside the hub", ctx.message_id)
            reply = self._fail(ctx, HubFailed(f"the hub failed ({type(exc).__name__})")).reply
        try:
            self._store.finish_result(result_id, reply.status, _json(reply.body), reply.problem)
        except Exception:
            log.exception("asynchronous exchange %s: the result could not be stored", ctx.message_id)

    async def result(self, incoming: Incoming, result_id: str) -> Exchanged:
        """The stored reply of an asynchronous query, for the client that made it only."""
        ctx = self._context(incoming)
        ctx.service = "results"
        try:
            _, client = self._authenticate(incoming)
            ctx.client = str(client)
            stored = self._store.result(result_id[:64], self._clock.now())
            if stored is None or stored.client != str(client):
                raise ResultNotFound("no result with this id for this client", id=result_id[:64])
        except ExchangeError as error:
            return self._fail(ctx, error)
        location = RESULTS_PATH + stored.key
        if stored.status == 0:
            body = {"id": stored.key, "status": "pending", "location": location}
            return Exchanged(Reply(202, body), stored.message_id, stored.request_hash, location)
        return Exchanged(_reply_of(stored), stored.message_id, stored.request_hash)


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


def _validate(
    validator: Draft202012Validator, data: object, error: type[ExchangeError], message: str
) -> None:
    problems = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))[:10]
    if problems:
        # Locations and the failing keyword only: never the values, which may be personal data.
        where = [
            {"location": "/".join(str(p) for p in e.absolute_path) or "(root)", "rule": str(e.validator)}
            for e in problems
        ]
        raise error(message, errors=where)
