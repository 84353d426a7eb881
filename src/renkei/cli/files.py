"""``renkei files …``: CSV file linkage (ファイル連携) offline — check an event file, re-encode a file.

    renkei files check FILE --topic resident-changes [--encoding auto|utf-8|cp932] [--format text|json]
    renkei files convert FILE --to cp932|utf-8 [--from auto|utf-8|cp932] [--out PATH] [--bom]
                         [--fold-jis-variants]

``check`` exits 0 when every row is a valid event of the topic, 1 when the file breaks the layout (each
problem printed with its line, column and item, never a personal value), 2 when it is refused unread
(encoding, size, unknown topic, unreadable file). ``convert`` writes the re-encoded bytes to ``--out`` (or
standard output) and exits 0, or exits 2 naming the character it cannot carry. See ``docs/files.md``.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from renkei.exchange.csvfile import (
    MAX_BYTES,
    FileError,
    FileInvalid,
    convert_file,
    decode_file,
    read_events,
)
from renkei.spec.loader import load_spec

files_app = typer.Typer(help="ファイル連携 (CSV event files: check and re-encode)", no_args_is_help=True)

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_REFUSED = 2


class ReadEncoding(StrEnum):
    AUTO = "auto"
    UTF8 = "utf-8"
    CP932 = "cp932"


class WriteEncoding(StrEnum):
    UTF8 = "utf-8"
    CP932 = "cp932"


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


@files_app.callback()
def files() -> None:
    """ファイル連携: CSV event files of the notification topics."""


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            # One byte past the limit, so an oversized file is refused without reading it all.
            return handle.read(MAX_BYTES + 1)
    except OSError as error:
        typer.echo(f"error: cannot read {path}: {error.strerror}", err=True)
        raise typer.Exit(EXIT_REFUSED) from None


def _refused(error: FileError) -> typer.Exit:
    typer.echo(f"error [{error.code}]: {error.message}", err=True)
    return typer.Exit(EXIT_REFUSED)


@files_app.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="the CSV event file")],
    topic: Annotated[str, typer.Option("--topic", "-t", help="notification topic, e.g. resident-changes")],
    encoding: Annotated[ReadEncoding, typer.Option(help="auto, utf-8 or cp932")] = ReadEncoding.AUTO,
    output: Annotated[OutputFormat, typer.Option("--format", "-f", help="text or json")] = OutputFormat.TEXT,
) -> None:
    """Validate FILE as the topic's event file, offline: exit 0 valid, 1 invalid, 2 refused."""
    data = _read(file)
    spec = load_spec()
    try:
        _, read_as = decode_file(data, encoding.value)
        events = read_events(spec, topic, data, read_as)
    except FileInvalid as error:
        problems = list(error.detail.get("errors", ()))
        if output is OutputFormat.JSON:
            document = {
                "ok": False,
                "code": error.code,
                "error_count": error.detail.get("error_count"),
                "truncated": error.detail.get("truncated"),
                "errors": problems,
            }
            sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
        else:
            for problem in problems:
                typer.echo(f"{file}: {problem['message']}", err=True)
            typer.echo(f"{file}: INVALID ({error.detail.get('error_count')} problems) [{error.code}]")
        raise typer.Exit(EXIT_INVALID) from None
    except FileError as error:
        raise _refused(error) from None
    if output is OutputFormat.JSON:
        document = {"ok": True, "topic": topic, "encoding": read_as, "events": len(events)}
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    else:
        typer.echo(f"{file}: valid — {len(events)} 件のイベント ({topic}, {read_as})")


@files_app.command("convert")
def convert(
    file: Annotated[Path, typer.Argument(help="the file to re-encode")],
    to: Annotated[WriteEncoding, typer.Option("--to", help="utf-8 or cp932")],
    source: Annotated[ReadEncoding, typer.Option("--from", help="auto, utf-8 or cp932")] = ReadEncoding.AUTO,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="output file (default: stdout)")] = None,
    bom: Annotated[bool, typer.Option(help="write a UTF-8 BOM")] = False,
    fold: Annotated[
        bool,
        typer.Option(
            "--fold-jis-variants", help="write 〜 ‖ − ¢ £ ¬ — as CP932's ～ ∥ － ￠ ￡ ￢ ― (reported)"
        ),
    ] = False,
) -> None:
    """Re-encode FILE losslessly (content and line endings unchanged), or refuse naming the character."""
    data = _read(file)
    try:
        converted = convert_file(data, to.value, source=source.value, fold_jis_variants=fold, bom=bom)
    except FileError as error:
        raise _refused(error) from None
    for line, column, char, written in converted.folded:
        was, now = f"U+{ord(char):04X} {char}", f"U+{ord(written):04X} {written}"
        typer.echo(f"folded: line {line}, column {column}: {was} → {now}", err=True)
    if out is None:
        sys.stdout.buffer.write(converted.data)
        sys.stdout.flush()
    else:
        out.write_bytes(converted.data)
    typer.echo(f"{file}: {converted.source} → {converted.target} ({len(converted.data)} bytes)", err=True)
