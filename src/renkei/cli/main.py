"""The ``renkei`` command: ``serve`` and ``spec …`` (later: ``registry``, ``audit``, ``commons`` …)."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from renkei.cli.audit import app as audit_app
from renkei.cli.commons import commons_app
from renkei.cli.demo import demo_app
from renkei.cli.exchange import exchange_app
from renkei.cli.federation import federation_app
from renkei.cli.files import files_app
from renkei.cli.identity import identity_app
from renkei.cli.masterdata import masterdata_app
from renkei.cli.registry import app as registry_app
from renkei.errors import RenkeiError
from renkei.settings import Settings
from renkei.spec import catalogue
from renkei.spec.authorisation import decide
from renkei.spec.loader import load_spec

app = typer.Typer(
    help="renkei 地域情報プラットフォーム", no_args_is_help=True, pretty_exceptions_enable=False
)
spec_app = typer.Typer(help="標準仕様 (the standard as data)", no_args_is_help=True)
app.add_typer(spec_app, name="spec")
app.add_typer(registry_app, name="registry")
app.add_typer(identity_app, name="identity")
app.add_typer(audit_app, name="audit")
app.add_typer(commons_app, name="commons")
app.add_typer(demo_app, name="demo")
app.add_typer(exchange_app, name="exchange")
app.add_typer(files_app, name="files")
app.add_typer(federation_app, name="federation")
app.add_typer(masterdata_app, name="masterdata")


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


FormatOption = Annotated[Format, typer.Option("--format", "-f", help="table or json")]


def _emit(records: list[dict[str, Any]], fmt: Format, columns: list[str], title: str) -> None:
    if fmt is Format.JSON:
        sys.stdout.write(json.dumps(records, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(title=title)
    for c in columns:
        table.add_column(c)
    for r in records:
        table.add_row(
            *(
                ""
                if r.get(c) is None
                else ", ".join(map(str, v))
                if isinstance(v := r.get(c), list)
                else str(v)
                for c in columns
            )
        )
    Console().print(table)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="listen address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default 8080)")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="data directory (default var/)")] = None,
    federation_port: Annotated[
        int | None,
        typer.Option(help="also listen here for peer hubs over mutual TLS (see docs/federation.md)"),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, max=256, help="processes serving the port (default 1; docs/architecture.md)"),
    ] = None,
) -> None:
    """Start the platform: spec browser, OpenAPI docs, health."""
    import asyncio

    import uvicorn

    from renkei.api.logging import configure_logging
    from renkei.app import build_app
    from renkei.tenancy.serve import federation_server_options, serve_together

    settings = Settings.from_env().with_overrides(host=host, port=port, data_dir=data_dir, workers=workers)
    if settings.workers > 1 and federation_port is not None:
        raise typer.BadParameter(
            f"--federation-port runs in one process for now, not {settings.workers} workers",
            param_hint="--workers / RENKEI_WORKERS",
        )
    typer.echo(
        f"renkei: http://{settings.host}:{settings.port}/spec  (database {settings.effective_database_url})",
        err=True,
    )
    # uvicorn's own access log prints raw paths and query strings, which may carry personal data
    # (a 宛名番号 in a GET query): it stays off, and its dictConfig would replace our JSON logging.
    common: dict[str, Any] = {"log_level": settings.log_level, "log_config": None, "access_log": False}
    from renkei.workers import LEADER_LOCK, run_directory, serve_workers

    if settings.workers > 1:
        configure_logging(settings.log_level)
        raise typer.Exit(serve_workers(settings, settings.workers, common))
    common["host"] = settings.host
    # The lock too: a process serving the same data directory beside this one runs its jobs, not both.
    application = build_app(settings, leader_lock=run_directory(settings) / LEADER_LOCK)
    configure_logging(settings.log_level, request_ids=application.state.request_ids)
    if federation_port is None:
        uvicorn.run(application, port=settings.port, **common)
        return
    tls = federation_server_options(application.state.platform.hub_tls)
    typer.echo(f"renkei: peer hubs (mutual TLS) on https://{settings.host}:{federation_port}", err=True)
    servers = [
        uvicorn.Server(uvicorn.Config(application, port=settings.port, lifespan="on", **common)),
        uvicorn.Server(uvicorn.Config(application, port=federation_port, lifespan="off", **common, **tls)),
    ]
    asyncio.run(serve_together(servers))


@spec_app.command("units")
def spec_units(fmt: FormatOption = Format.TABLE) -> None:
    """業務ユニット一覧 (the business units)."""
    _emit(catalogue.unit_records(load_spec()), fmt, ["number", "name", "name_en", "status"], "業務ユニット")


@spec_app.command("flows")
def spec_flows(fmt: FormatOption = Format.TABLE) -> None:
    """連携マトリクス: one line per (information, from, to)."""
    _emit(
        catalogue.flow_records(load_spec()), fmt, ["row", "information", "from", "to", "provenance"], "連携"
    )


@spec_app.command("items")
def spec_items(
    information: Annotated[str | None, typer.Argument(help="information kind (id or Japanese name)")] = None,
    fmt: FormatOption = Format.TABLE,
) -> None:
    """データ項目 (data items), of every information kind or of one."""
    records = catalogue.item_records(load_spec(), information)
    _emit(
        records,
        fmt,
        ["information", "id", "name", "type", "length", "code", "personal", "specific_personal"],
        "データ項目",
    )


@spec_app.command("codes")
def spec_codes(
    dictionary: Annotated[str | None, typer.Argument(help="dictionary id, e.g. sex")] = None,
    fmt: FormatOption = Format.TABLE,
) -> None:
    """コード辞書 (code dictionaries)."""
    _emit(
        catalogue.code_records(load_spec(), dictionary),
        fmt,
        ["dictionary", "code", "name", "name_en"],
        "コード辞書",
    )


@spec_app.command("services")
def spec_services(fmt: FormatOption = Format.TABLE) -> None:
    """照会サービスと異動通知 (query services and notification topics)."""
    _emit(
        catalogue.service_records(load_spec()),
        fmt,
        ["id", "kind", "name", "information_name", "providers"],
        "サービス",
    )


@spec_app.command("export")
def spec_export(to: Annotated[Path, typer.Option("--to", help="output directory")]) -> None:
    """Write OpenAPI, JSON Schema, XSD, WSDL, CSV layouts and spec.md, all generated from the spec."""
    from renkei.spec.export import write_exports

    for path in write_exports(load_spec(), to):
        typer.echo(str(path))


@spec_app.command("check")
def spec_check(
    information: Annotated[str, typer.Argument(help="information kind (id or Japanese name)")],
    file: Annotated[Path, typer.Argument(help="a JSON, XML or CSV instance", exists=True, dir_okay=False)],
) -> None:
    """Validate an instance file; errors name the line and the field."""
    from renkei.spec.instance import check_instance

    check_instance(load_spec(), information, file.read_bytes(), filename=file.name)
    typer.echo(f"OK: {file} は {information} に適合しています (conforms)")


@spec_app.command("why")
def spec_why(
    sender: Annotated[int, typer.Argument(metavar="FROM", help="sending unit number")],
    receiver: Annotated[int, typer.Argument(metavar="TO", help="receiving unit number")],
    information: Annotated[str, typer.Argument(help="information kind (id or Japanese name)")],
) -> None:
    """May FROM send INFORMATION to TO? Exit 0 when allowed, 1 when not; names the matrix row."""
    spec = load_spec()
    verdict = decide(spec, information, sender, receiver)
    typer.echo(verdict.explain(spec))
    raise typer.Exit(0 if verdict.allowed else 1)


def main() -> None:
    """Entry point: typed errors become a message on stderr and exit status 2."""
    try:
        app()
    except RenkeiError as exc:
        sys.stderr.write(f"error [{exc.code}]: {exc.message}\n")
        for problem in exc.detail.get("errors", ()):
            text = problem.get("message", problem) if isinstance(problem, dict) else problem
            sys.stderr.write(f"  - {text}\n")
        sys.exit(2)
