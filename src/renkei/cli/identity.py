"""``renkei identity …``: issue numbers in bulk, and check a presented 個人番号 / 法人番号."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from renkei.identity.keys import FileKeyStore
from renkei.identity.numbering import NumberCodec, NumberIssuer, check_number
from renkei.settings import Settings
from renkei.storage.sql.engine import connection_source, create_storage
from renkei.storage.sql.identity import SqlIdentityRepository

identity_app = typer.Typer(help="番号制度 (個人番号, 法人番号, 符号, 本人確認)", no_args_is_help=True)

PROGRESS_FROM = 200_000
"""Runs at least this long show a progress bar (on a terminal's stderr only)."""


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class Kind(StrEnum):
    INDIVIDUAL = "individual"
    CORPORATE = "corporate"


@contextmanager
def _issuer(data_dir: Path | None) -> Iterator[NumberIssuer]:
    settings = Settings.from_env().with_overrides(data_dir=data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with create_storage(settings.effective_database_url) as storage:
        repository = SqlIdentityRepository(connection_source(storage))
        codec = NumberCodec(FileKeyStore(settings.data_dir / "keys"))
        yield NumberIssuer(repository, codec)


@identity_app.command("issue")
def issue(
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="how many numbers")] = 1,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="text (one a line) or json")] = (
        OutputFormat.TEXT
    ),
    kind: Annotated[Kind, typer.Option("--kind", help="individual (個人番号) or corporate (法人番号)")] = (
        Kind.INDIVIDUAL
    ),
    data_dir: Annotated[Path | None, typer.Option(help="data directory (default var/)")] = None,
) -> None:
    """Issue COUNT new numbers from the persisted sequence (never issued again) and print them."""
    with _issuer(data_dir) as issuer:
        chunks = issuer.issue_individual(count) if kind is Kind.INDIVIDUAL else issuer.issue_corporate(count)
        show = sys.stderr.isatty() and count >= PROGRESS_FROM
        progress = Progress(
            TextColumn("発番 issuing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            disable=not show,
            transient=True,
        )
        collected: list[str] = []
        with progress:
            task = progress.add_task("issue", total=count)
            for chunk in chunks:
                if fmt is OutputFormat.TEXT:
                    sys.stdout.write("\n".join(chunk) + "\n")
                else:
                    collected.extend(chunk)
                progress.advance(task, len(chunk))
        if fmt is OutputFormat.JSON:
            sys.stdout.write(json.dumps(collected) + "\n")
        sys.stdout.flush()


@identity_app.command("check")
def check(number: Annotated[str, typer.Argument(help="a 12-digit 個人番号 or 13-digit 法人番号")]) -> None:
    """Validate a 個人番号 or 法人番号: exit 0 when valid, 1 with the reason when not (never echoes it)."""
    verdict = check_number(number)
    if verdict.valid:
        typer.echo(f"OK: {verdict.message}")
        raise typer.Exit(0)
    typer.echo(f"invalid ({verdict.reason}): {verdict.message}", err=True)
    raise typer.Exit(1)
