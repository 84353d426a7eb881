"""``renkei commons …``: validate and render CAP 1.2 / Commons EDXL-DE 1.0 files.

``renkei commons validate FILE``: exit 0 when valid (warnings printed), 1 when invalid (every error
printed), 2 when the file is refused as hostile or unreadable (DOCTYPE/ENTITY, too large, too deep, not
well-formed XML) or cannot be read.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from renkei.commons.cap import parse_cap
from renkei.commons.edxl import alert_of, parse_edxl
from renkei.commons.errors import CommonsError
from renkei.commons.model import Alert
from renkei.commons.render import (
    ChannelLimits,
    alert_json,
    area_mail,
    data_broadcast,
    radio_script,
    tv_banner,
    web_page,
)
from renkei.commons.validation import JapaneseProfile, validate
from renkei.commons.xmlsafe import XmlLimits, parse_untrusted

commons_app = typer.Typer(help="公共情報コモンズ (CAP 1.2 / EDXL-DE 1.0)", no_args_is_help=True)

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_REFUSED = 2


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def _read(path: Path) -> bytes:
    limit = XmlLimits().max_bytes
    try:
        with path.open("rb") as handle:
            # Read one byte past the limit so an oversized file is refused without reading it all.
            return handle.read(limit + 1)
    except OSError as error:
        typer.echo(f"error: cannot read {path}: {error.strerror}", err=True)
        raise typer.Exit(EXIT_REFUSED) from None


@commons_app.command("validate")
def validate_command(
    file: Annotated[Path, typer.Argument(help="CAP 1.2 alert or EDXL-DE 1.0 distribution (XML)")],
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="text or json")] = OutputFormat.TEXT,
    no_profile: Annotated[bool, typer.Option("--no-japanese-profile", help="skip the jp.* rules")] = False,
    headline_max: Annotated[float, typer.Option(help="headline limit in 全角 characters")] = 40,
) -> None:
    """Validate FILE in three layers (XSD, CAP rules, Japanese profile) and print every finding."""
    data = _read(file)
    report = validate(data, None if no_profile else JapaneseProfile(headline_max=headline_max))
    if output is OutputFormat.JSON:
        document = {"kind": report.kind, "ok": report.ok, "findings": [f.as_dict() for f in report.findings]}
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    else:
        for item in report.findings:
            typer.echo(str(item), err=item.severity.value == "error")
        verdict = "valid" if report.ok else "INVALID"
        typer.echo(
            f"{file}: {report.kind} {verdict} ({len(report.errors)} errors, {len(report.warnings)} warnings)"
        )
    if report.rules & {"xml.refused", "xml.root.unknown"}:
        raise typer.Exit(EXIT_REFUSED)
    raise typer.Exit(EXIT_VALID if report.ok else EXIT_INVALID)


class Channel(StrEnum):
    TV = "tv"
    DATA = "data"
    RADIO = "radio"
    MAIL = "mail"
    WEB = "web"
    JSON = "json"


def _alerts(data: bytes) -> list[Alert]:
    root = parse_untrusted(data)
    if root.tag.endswith("}alert"):
        return [parse_cap(data)]
    distribution = parse_edxl(data)
    return [alert_of(distribution, content) for content in distribution.contents]


@commons_app.command("render")
def render_command(
    file: Annotated[Path, typer.Argument(help="CAP 1.2 alert or EDXL-DE 1.0 distribution (XML)")],
    channel: Annotated[Channel, typer.Option("--channel", "-c")] = Channel.TV,
) -> None:
    """Render FILE for one channel (tv, data, radio, mail, web, json)."""
    try:
        alerts = _alerts(_read(file))
        for alert in alerts:
            if channel is Channel.TV:
                typer.echo(tv_banner(alert))
            elif channel is Channel.DATA:
                typer.echo(data_broadcast(alert))
            elif channel is Channel.RADIO:
                typer.echo(radio_script(alert))
            elif channel is Channel.MAIL:
                for mail in area_mail(alert, ChannelLimits()):
                    typer.echo(f"{mail.title}\n{mail.body}\n")
            elif channel is Channel.WEB:
                typer.echo(web_page(alert))
            else:
                typer.echo(json.dumps(alert_json(alert), ensure_ascii=False, indent=2))
    except CommonsError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(EXIT_REFUSED) from None
