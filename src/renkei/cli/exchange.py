"""``renkei exchange …``: a member system's client for the hub (照会, 異動通知), and the operator's
commands for notification subscriptions and dead letters.

renkei exchange call JP/LG/131016/u06/income-certificate \\
    --data '{"atena_number": "…", "fiscal_year": 2025}' [--client JP/LG/131016/u17] \\
    [--purpose infant-medical-subsidy] [--key member.key --cert member.crt | --data-dir var] \\
    [--hub http://127.0.0.1:8080] [--method POST|GET]
renkei exchange publish JP/LG/131016/u01 resident-changes --data @event.json      (signed, over HTTP)
renkei exchange feed JP/LG/131016/u01 resident-changes --client JP/LG/131016/u17 \\
    --purpose infant-medical-subsidy [--since CURSOR | --snapshot [--cursor C]]      (signed, over HTTP)
renkei exchange subscribe JP/LG/131016/u06 resident-changes --webhook URL --purpose P  (operator, database)
renkei exchange unsubscribe | subscriptions | dead-letters | replay [EVENT_ID|--all] | deliveries EVENT_ID

The request is signed exactly as ``docs/registry.md`` specifies (:func:`renkei.registry.auth.sign_request`):
the token's ``htu`` is the request target httpx puts on the wire, ``bh`` the SHA-256 of the body bytes
sent. Without ``--key`` the demo member's key is used: ``DATA_DIR/demo/members/LG-<code>-uNN/member.key``
(and ``member.crt`` next to it), as ``renkei demo seed`` writes it.
"""

from __future__ import annotations

import getpass
import json
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import httpx
import typer

from renkei.demo.seed import member_key_directory
from renkei.errors import RenkeiError
from renkei.exchange.notifications.service import NotificationHub, delivery_json, subscription_json
from renkei.registry.auth import SIGNATURE_HEADER, sign_request
from renkei.registry.identifiers import MemberId
from renkei.settings import Settings

exchange_app = typer.Typer(
    help="照会・異動通知 (queries and change notifications through the hub)", no_args_is_help=True
)

DEFAULT_HUB = "http://127.0.0.1:8080"
DEFAULT_CLIENT = "JP/LG/131016/u17"
DEFAULT_PURPOSE = "infant-medical-subsidy"
ROUTE_PREFIX = "/r1/"


@exchange_app.callback()
def exchange() -> None:
    """照会: sign and send requests to the hub as a member system."""


class Method(StrEnum):
    POST = "POST"
    GET = "GET"


def service_target(service_path: str) -> str:
    """``/r1/JP/LG/131016/u06/income-certificate`` from that path with or without ``/r1/`` (or a URL)."""
    path = service_path.strip()
    if "://" in path:
        path = httpx.URL(path).path
    path = path.strip("/")
    if path.startswith("r1/"):
        path = path[3:]
    parts = path.split("/")
    if len(parts) != 5 or not all(parts):
        raise typer.BadParameter(
            "expected INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE, e.g. JP/LG/131016/u06/income-certificate",
            param_hint="SERVICE_PATH",
        )
    return ROUTE_PREFIX + path


def _request_items(data: str | None) -> dict[str, Any]:
    if data is None:
        return {}
    if data.startswith("@"):
        data = Path(data[1:]).read_text(encoding="utf-8")
    try:
        items = json.loads(data)
    except ValueError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--data") from None
    if not isinstance(items, dict):
        raise typer.BadParameter("must be a JSON object", param_hint="--data")
    return items


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise typer.BadParameter("GET takes only scalar request items", param_hint="--data")


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint=what) from None


def _credentials(
    client: MemberId, key: Path | None, cert: Path | None, data_dir: Path | None
) -> tuple[bytes, bytes | None]:
    """The member's private key (PEM) and certificate (PEM, or None for a bare-key credential)."""
    if key is not None:
        return _read(key, "--key"), None if cert is None else _read(cert, "--cert")
    if cert is not None:
        raise typer.BadParameter("--cert needs --key", param_hint="--cert")
    directory = member_key_directory(Settings.from_env().with_overrides(data_dir=data_dir).data_dir, client)
    if not (directory / "member.key").exists():
        raise typer.BadParameter(
            f"no key for {client} in {directory} (run `renkei demo seed`, or give --key/--cert)",
            param_hint="--client",
        )
    certificate = directory / "member.crt"
    return _read(directory / "member.key", "--key"), (
        _read(certificate, "--cert") if certificate.exists() else None
    )


def _print_reply(response: httpx.Response) -> None:
    out = sys.stdout
    out.write(f"HTTP {response.status_code} {response.reason_phrase}\n")
    for header in ("X-Road-Id", "X-Road-Request-Hash", "Location"):
        if header in response.headers:
            out.write(f"{header}: {response.headers[header]}\n")
    out.write(f"Content-Type: {response.headers.get('content-type', '')}\n\n")
    try:
        body: Any = response.json()
    except ValueError:
        out.write(response.text + ("\n" if response.text and not response.text.endswith("\n") else ""))
        return
    out.write(json.dumps(body, ensure_ascii=False, indent=2) + "\n")


@exchange_app.command("call")
def call(
    service_path: Annotated[
        str, typer.Argument(help="the provider's service: JP/LG/131016/u06/income-certificate")
    ],
    data: Annotated[
        str | None,
        typer.Option("--data", "-d", help="request items as a JSON object (or @file.json)"),
    ] = None,
    client: Annotated[str, typer.Option(help="the calling member system (X-Road-Client)")] = DEFAULT_CLIENT,
    purpose: Annotated[str, typer.Option(help="the purpose, 事務 id (X-Road-Issue)")] = DEFAULT_PURPOSE,
    key: Annotated[
        Path | None, typer.Option(help="the member's private key (PKCS#8 PEM)", dir_okay=False)
    ] = None,
    cert: Annotated[
        Path | None,
        typer.Option(
            help="the member's certificate (PEM); without it kid is the public key's fingerprint",
            dir_okay=False,
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="find the demo member's key under DATA_DIR/demo/members/ (default var/)"),
    ] = None,
    hub: Annotated[str, typer.Option(help="the hub's base URL", envvar="RENKEI_HUB_URL")] = DEFAULT_HUB,
    method: Annotated[Method, typer.Option(help="POST (JSON body) or GET (query parameters)")] = Method.POST,
    user_id: Annotated[
        str | None, typer.Option(help="the operator (X-Road-UserId; default: the login name)")
    ] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Idempotency-Key (default: a fresh UUID)")
    ] = None,
    message_id: Annotated[str | None, typer.Option(help="X-Road-Id (default: the hub makes one)")] = None,
    respond_async: Annotated[
        bool, typer.Option("--async", help="Prefer: respond-async (202 and a Location)")
    ] = False,
    timeout: Annotated[float, typer.Option(help="seconds", min=0.1)] = 30.0,
) -> None:
    """Sign a query with the member's key, send it to the hub, print the reply. Exit 0 on 2xx, else 1."""
    try:
        member = MemberId.parse(client)
    except RenkeiError as exc:
        raise typer.BadParameter(exc.message, param_hint="--client") from None
    target = service_target(service_path)
    items = _request_items(data)
    headers = {
        "X-Road-Issue": purpose,
        "X-Road-UserId": user_id or _login(),
        "Idempotency-Key": idempotency_key or str(uuid.uuid4()),
    }
    if message_id:
        headers["X-Road-Id"] = message_id
    if respond_async:
        headers["Prefer"] = "respond-async"
    body = b""
    params = None
    if method is Method.POST:
        body = json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers["Content-Type"] = "application/json"
    else:
        params = {name: _query_value(value) for name, value in items.items()}
    _send_signed(
        method.value,
        target,
        body,
        member,
        headers,
        key=key,
        cert=cert,
        data_dir=data_dir,
        hub=hub,
        timeout=timeout,
        params=params,
    )


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "renkei-cli"


# --- change notifications (異動通知) ------------------------------------------------------------------

DataDirOption = Annotated[Path | None, typer.Option(help="data directory (default: RENKEI_DATA_DIR or var/)")]
DatabaseOption = Annotated[str | None, typer.Option(help="database URL (default: SQLite in the data dir)")]


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


FormatOption = Annotated[Format, typer.Option("--format", "-f", help="table or json")]


@contextmanager
def _notifications(data_dir: Path | None, database_url: str | None) -> Iterator[NotificationHub]:
    """The deployment's notification service, on its database (the operator's commands)."""
    from renkei.app import build_platform
    from renkei.exchange.signing import HUB_KEY_NAME, HubSigner
    from renkei.identity.keys import FileKeyStore
    from renkei.storage.sql.engine import connection_source
    from renkei.storage.sql.exchange import SqlExchangeStore
    from renkei.storage.sql.notifications import SqlNotificationStore

    settings = Settings.from_env().with_overrides(data_dir=data_dir, database_url=database_url)
    platform = build_platform(settings)
    try:
        source = connection_source(platform.storage)
        yield NotificationHub(
            platform.registry,
            platform.authenticator,
            platform.linkage,
            platform.audit,
            SqlNotificationStore(source),
            HubSigner(FileKeyStore(settings.data_dir / "keys").secret(HUB_KEY_NAME, 32)),
            platform.clock,
            message_log=SqlExchangeStore(source),
        )
    finally:
        platform.storage.close()


def _emit(records: list[dict[str, Any]], fmt: Format, columns: list[str], title: str) -> None:
    if fmt is Format.JSON:
        sys.stdout.write(json.dumps(records, ensure_ascii=False, indent=2) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for record in records:
        table.add_row(*("" if record.get(c) is None else str(record[c]) for c in columns))
    Console().print(table)


@exchange_app.command("subscribe")
def subscribe(
    member: Annotated[str, typer.Argument(help="the subscribing member system, e.g. JP/LG/131016/u06")],
    topic: Annotated[str, typer.Argument(help="the notification topic, e.g. resident-changes")],
    webhook: Annotated[str | None, typer.Option(help="the URL the hub POSTs each event to")] = None,
    poll: Annotated[bool, typer.Option("--poll", help="no webhook: the member reads the feed")] = False,
    purpose: Annotated[
        str | None, typer.Option(help="事務 the events are received for (required for personal topics)")
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="only events of this organisation or member system")
    ] = None,
    data_dir: DataDirOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Subscribe a member system to a topic (or change its subscription); prints it as JSON."""
    if poll == (webhook is not None):
        raise typer.BadParameter("give exactly one of --webhook URL and --poll", param_hint="--webhook")
    with _notifications(data_dir, database_url) as hub:
        found = hub.subscribe(
            member, topic, mode="poll" if poll else "webhook", url=webhook, purpose=purpose, source=source
        )
    sys.stdout.write(json.dumps(subscription_json(found), ensure_ascii=False, indent=2) + "\n")


@exchange_app.command("unsubscribe")
def unsubscribe(
    member: Annotated[str, typer.Argument(help="the subscribed member system")],
    topic: Annotated[str, typer.Argument(help="the notification topic")],
    data_dir: DataDirOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Remove a subscription; its undelivered events become dead letters when their turn comes."""
    with _notifications(data_dir, database_url) as hub:
        hub.unsubscribe(member, topic)
    typer.echo(f"unsubscribed {member} from {topic}")


@exchange_app.command("subscriptions")
def subscriptions(
    member: Annotated[str | None, typer.Option(help="only this member system's")] = None,
    topic: Annotated[str | None, typer.Option(help="only this topic's")] = None,
    data_dir: DataDirOption = None,
    database_url: DatabaseOption = None,
    fmt: FormatOption = Format.TABLE,
) -> None:
    """List subscriptions."""
    with _notifications(data_dir, database_url) as hub:
        found = [subscription_json(s) for s in hub.subscriptions(subscriber=member, topic=topic)]
    _emit(found, fmt, ["subscriber", "topic", "mode", "url", "purpose", "source"], "購読 (subscriptions)")


@exchange_app.command("dead-letters")
def dead_letters(
    subscriber: Annotated[str | None, typer.Option(help="only this subscriber's")] = None,
    topic: Annotated[str | None, typer.Option(help="only this topic's")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    data_dir: DataDirOption = None,
    database_url: DatabaseOption = None,
    fmt: FormatOption = Format.TABLE,
) -> None:
    """List dead letters (deliveries given up), oldest event first."""
    with _notifications(data_dir, database_url) as hub:
        found = [delivery_json(d) for d in hub.dead_letters(subscriber=subscriber, topic=topic, limit=limit)]
    _emit(
        found,
        fmt,
        ["event_id", "sequence", "topic", "subscriber", "attempts", "last_status", "last_error"],
        "配信不能 (dead letters)",
    )


@exchange_app.command("replay")
def replay(
    event_id: Annotated[str | None, typer.Argument(help="the event whose dead letters to re-queue")] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="every dead letter (of --subscriber)")] = False,
    subscriber: Annotated[str | None, typer.Option(help="only this subscriber's")] = None,
    topic: Annotated[str | None, typer.Option(help="only this topic's")] = None,
    data_dir: DataDirOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """Re-queue dead letters: one event's, or --all (of --subscriber / --topic). Exit 1 if none was dead."""
    if (event_id is None) == (not replay_all):
        raise typer.BadParameter("give an EVENT_ID or --all", param_hint="EVENT_ID")
    with _notifications(data_dir, database_url) as hub:
        count = hub.replay(event_id=event_id, subscriber=subscriber, topic=topic)
    typer.echo(f"re-queued {count} dead letter{'s' if count != 1 else ''}")
    raise typer.Exit(0 if count else 1)


@exchange_app.command("deliveries")
def deliveries(
    event_id: Annotated[str, typer.Argument(help="the hub's event id (ev-…)")],
    data_dir: DataDirOption = None,
    database_url: DatabaseOption = None,
    fmt: FormatOption = Format.TABLE,
) -> None:
    """An event's fan-out: its delivery to each webhook subscriber and where it stands."""
    with _notifications(data_dir, database_url) as hub:
        found = [delivery_json(d) for d in hub.deliveries(event_id)]
    _emit(found, fmt, ["subscriber", "state", "attempts", "last_status", "last_error"], f"配信 {event_id}")


def _send_signed(
    method: str,
    target: str,
    body: bytes,
    member: MemberId,
    headers: dict[str, str],
    *,
    key: Path | None,
    cert: Path | None,
    data_dir: Path | None,
    hub: str,
    timeout: float,
    params: dict[str, str] | None = None,
) -> None:
    """Sign one request as ``member``, send it, print the reply; exit 0 on 2xx, else 1."""
    private_key, certificate = _credentials(member, key, cert, data_dir)
    headers = {
        "X-Road-Client": str(member),
        "Accept": "application/json, application/problem+json",
        **headers,
    }
    with httpx.Client(base_url=hub.rstrip("/"), timeout=timeout) as http:
        request = http.build_request(method, target, content=body or None, params=params, headers=headers)
        # Sign what goes on the wire: the request target as httpx encodes it, the exact body bytes.
        request.headers[SIGNATURE_HEADER] = sign_request(
            private_key,
            member,
            request.method,
            request.url.raw_path.decode("ascii"),
            request.content,
            datetime.now(UTC),
            certificate=certificate,
            audience=member.organisation.instance,
        )
        try:
            response = http.send(request)
        except httpx.HTTPError as exc:
            typer.echo(f"error: {hub}: {exc}", err=True)
            raise typer.Exit(1) from None
    _print_reply(response)
    raise typer.Exit(0 if response.is_success else 1)


def _member(text: str, hint: str) -> MemberId:
    try:
        return MemberId.parse(text)
    except RenkeiError as exc:
        raise typer.BadParameter(exc.message, param_hint=hint) from None


KeyOption = Annotated[Path | None, typer.Option(help="the member's private key (PKCS#8 PEM)", dir_okay=False)]
CertOption = Annotated[Path | None, typer.Option(help="the member's certificate (PEM)", dir_okay=False)]
HubOption = Annotated[str, typer.Option(help="the hub's base URL", envvar="RENKEI_HUB_URL")]


@exchange_app.command("publish")
def publish(
    publisher: Annotated[str, typer.Argument(help="the publishing member system, e.g. JP/LG/131016/u01")],
    topic: Annotated[str, typer.Argument(help="the notification topic, e.g. resident-changes")],
    data: Annotated[
        str, typer.Option("--data", "-d", help='one event, or {"events": [...]}, as JSON (or @file.json)')
    ],
    key: KeyOption = None,
    cert: CertOption = None,
    data_dir: DataDirOption = None,
    hub: HubOption = DEFAULT_HUB,
    message_id: Annotated[str | None, typer.Option(help="X-Road-Id (default: the hub makes one)")] = None,
    timeout: Annotated[float, typer.Option(help="seconds", min=0.1)] = 30.0,
) -> None:
    """Publish change notifications as the member system (signed with its key); print the hub's answer."""
    member = _member(publisher, "PUBLISHER")
    payload = _request_items(data)
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if message_id:
        headers["X-Road-Id"] = message_id
    target = f"{ROUTE_PREFIX}{member}/events/{topic}"
    _send_signed(
        "POST", target, body, member, headers, key=key, cert=cert, data_dir=data_dir, hub=hub, timeout=timeout
    )


@exchange_app.command("feed")
def feed(
    publisher: Annotated[str, typer.Argument(help="the publishing member system, e.g. JP/LG/131016/u01")],
    topic: Annotated[str, typer.Argument(help="the notification topic, e.g. resident-changes")],
    client: Annotated[str, typer.Option(help="the reading member system (X-Road-Client)")] = DEFAULT_CLIENT,
    purpose: Annotated[
        str | None, typer.Option(help="事務 (X-Road-Issue); required for personal topics")
    ] = DEFAULT_PURPOSE,
    since: Annotated[
        str | None, typer.Option(help="差分: the cursor to continue from (0: the start)")
    ] = None,
    snapshot: Annotated[bool, typer.Option("--snapshot", help="全件: the latest event per person")] = False,
    cursor: Annotated[str | None, typer.Option(help="the snapshot page cursor")] = None,
    limit: Annotated[int | None, typer.Option(min=1, max=1000)] = None,
    key: KeyOption = None,
    cert: CertOption = None,
    data_dir: DataDirOption = None,
    hub: HubOption = DEFAULT_HUB,
    timeout: Annotated[float, typer.Option(help="seconds", min=0.1)] = 30.0,
) -> None:
    """Read a publisher's feed as a member system (signed GET); print the page."""
    member = _member(client, "--client")
    publisher_id = _member(publisher, "PUBLISHER")
    params: dict[str, str] = {}
    if snapshot:
        if since is not None:
            raise typer.BadParameter("--since is for the 差分 feed, not --snapshot", param_hint="--since")
        if cursor is not None:
            params["cursor"] = cursor
    else:
        if cursor is not None:
            raise typer.BadParameter("--cursor pages a --snapshot", param_hint="--cursor")
        params["since"] = since or "0"
    if limit is not None:
        params["limit"] = str(limit)
    target = f"{ROUTE_PREFIX}{publisher_id}/feeds/{topic}" + ("/snapshot" if snapshot else "")
    if params:
        target += "?" + urlencode(params)
    headers = {"X-Road-Issue": purpose} if purpose else {}
    _send_signed(
        "GET", target, b"", member, headers, key=key, cert=cert, data_dir=data_dir, hub=hub, timeout=timeout
    )
