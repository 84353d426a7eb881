"""``renkei exchange …``: a member system's client for the hub (照会).

renkei exchange call JP/LG/131016/u06/income-certificate \\
    --data '{"atena_number": "…", "fiscal_year": 2025}' [--client JP/LG/131016/u17] \\
    [--purpose infant-medical-subsidy] [--key member.key --cert member.crt | --data-dir var] \\
    [--hub http://127.0.0.1:8080] [--method POST|GET]

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
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from renkei.demo.seed import member_key_directory
from renkei.errors import RenkeiError
from renkei.registry.auth import SIGNATURE_HEADER, sign_request
from renkei.registry.identifiers import MemberId
from renkei.settings import Settings

exchange_app = typer.Typer(help="照会 (query a member system through the hub)", no_args_is_help=True)

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
    private_key, certificate = _credentials(member, key, cert, data_dir)
    headers = {
        "X-Road-Client": str(member),
        "X-Road-Issue": purpose,
        "X-Road-UserId": user_id or _login(),
        "Idempotency-Key": idempotency_key or str(uuid.uuid4()),
        "Accept": "application/json, application/problem+json",
    }
    if message_id:
        headers["X-Road-Id"] = message_id
    if respond_async:
        headers["Prefer"] = "respond-async"
    with httpx.Client(base_url=hub.rstrip("/"), timeout=timeout) as http:
        if method is Method.POST:
            body = json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
            request = http.build_request("POST", target, content=body, headers=headers)
        else:
            params = {name: _query_value(value) for name, value in items.items()}
            request = http.build_request("GET", target, params=params, headers=headers)
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


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "renkei-cli"
