"""``renkei demo …``: seed the demo municipality into a deployment and show what it holds.

renkei demo seed [--data-dir D] [--residents 10000] [--second-residents 2000] [--seed 0] [--base-url URL]
renkei demo show [--data-dir D] [--format table|json]
"""

from __future__ import annotations

import json
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from renkei.demo.population import (
    DEFAULT_MUNICIPALITY,
    DEFAULT_RESIDENTS,
    SECOND_MUNICIPALITY,
    Population,
    generate_population,
)
from renkei.demo.records import population_records
from renkei.demo.seed import (
    DEFAULT_BASE_URL,
    DEMO_MUNICIPALITIES,
    enrolled_residents,
    load_manifest,
    seed_demo,
)
from renkei.settings import Settings

demo_app = typer.Typer(
    help="デモ (a synthetic municipality and its simulated member systems)", no_args_is_help=True
)

DataDirOption = Annotated[Path | None, typer.Option(help="data directory (default: RENKEI_DATA_DIR or var/)")]
DatabaseOption = Annotated[str | None, typer.Option(help="database URL (default: SQLite in the data dir)")]


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"


def _settings(data_dir: Path | None, database_url: str | None) -> Settings:
    return Settings.from_env().with_overrides(data_dir=data_dir, database_url=database_url)


@demo_app.command("seed")
def seed(
    data_dir: DataDirOption = None,
    database_url: DatabaseOption = None,
    residents: Annotated[int, typer.Option(help="residents of 千代田区 (131016)", min=1)] = DEFAULT_RESIDENTS,
    second_residents: Annotated[
        int, typer.Option(help="residents of 中央区 (131024); 0 for none", min=0)
    ] = 2_000,
    seed: Annotated[int, typer.Option("--seed", help="random seed of the populations")] = 0,
    base_url: Annotated[
        str, typer.Option(help="where the platform serves /demo/members (the services' endpoints)")
    ] = DEFAULT_BASE_URL,
) -> None:
    """Generate the populations and enrol everything (idempotent: a second run changes nothing)."""
    from renkei.app import build_platform

    settings = _settings(data_dir, database_url)
    started = time.perf_counter()
    populations = [generate_population(residents, seed=seed, municipality=DEFAULT_MUNICIPALITY)]
    if second_residents:
        populations.append(generate_population(second_residents, seed=seed, municipality=SECOND_MUNICIPALITY))
    generated = time.perf_counter() - started
    show_progress = sys.stderr.isatty()

    def progress(code: str, done: int, total: int) -> None:
        if show_progress:
            sys.stderr.write(f"\r{code}: {done}/{total} residents enrolled")
            if done == total:
                sys.stderr.write("\n")

    platform = build_platform(settings)
    try:
        report = seed_demo(
            platform,
            populations,
            data_dir=settings.data_dir,
            base_url=base_url,
            progress=progress,
            notifications=platform.notifications,
        )
    finally:
        platform.storage.close()
    elapsed = time.perf_counter() - started
    typer.echo(
        f"generated {sum(len(p.residents) for p in populations)} residents in {generated:.1f} s; "
        f"enrolled {report.organisations} organisations, {report.members} member systems, "
        f"{report.services} services, {report.purposes} purposes, {report.residents} residents "
        f"({report.key_files} key files) in {elapsed:.1f} s"
        + ("" if report.changed else " — nothing to do, already seeded")
    )


def _counts(population: Population, enrolled: int) -> dict[str, Any]:
    records = population_records(population)
    return {
        "municipality": population.municipality.code,
        "name": population.municipality.name,
        "seed": population.seed,
        "reference_date": population.reference_date.isoformat(),
        "residents": len(population.residents),
        "households": len(population.households),
        "enrolled_residents": enrolled,
        "records": {kind: len(found) for kind, found in records.items()},
    }


@demo_app.command("show")
def show(
    data_dir: DataDirOption = None,
    database_url: DatabaseOption = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table or json")] = Format.TABLE,
) -> None:
    """Residents, households and records of the seeded populations; enrolled residents and members."""
    from renkei.app import build_platform

    settings = _settings(data_dir, database_url)
    manifest = load_manifest(settings.data_dir)
    if manifest is None:
        typer.echo(f"no demo in {settings.data_dir}: run `renkei demo seed` first", err=True)
        raise typer.Exit(1)
    platform = build_platform(settings)
    try:
        populations = [_counts(p, enrolled_residents(platform, p)) for p in manifest.generate()]
        codes = {f"JP/LG/{c}" for c in DEMO_MUNICIPALITIES} | {
            f"JP/LG/{p['municipality']}" for p in populations
        }
        members = [str(m.id) for m in platform.registry.members() if str(m.id.organisation) in codes]
        services = [p for p in platform.registry.provided_services() if str(p.provider.organisation) in codes]
        purposes = [p.id for p in platform.registry.purposes()]
    finally:
        platform.storage.close()
    summary = {
        "base_url": manifest.base_url,
        "populations": populations,
        "members": members,
        "services": len(services),
        "purposes": purposes,
    }
    if fmt is Format.JSON:
        sys.stdout.write(json.dumps(summary, ensure_ascii=False, indent=2) + "\n")
        return
    table = Table(title="デモ団体 (demo municipalities)")
    for column in ("団体", "住民", "世帯", "登録済み住民", "個人住民税", "国保", "児童手当", "医療助成"):
        table.add_column(column)
    for p in populations:
        records = p["records"]
        table.add_row(
            f"{p['municipality']} {p['name']}",
            str(p["residents"]),
            str(p["households"]),
            str(p["enrolled_residents"]),
            str(records["individual-resident-tax"]),
            str(records["national-health-insurance"]),
            str(records["allowance"]),
            str(records["medical-subsidy"]),
        )
    console = Console()
    console.print(table)
    console.print(f"member systems ({len(members)}): {', '.join(members)}")
    console.print(
        f"services: {len(services)}; purposes: {', '.join(purposes)}; endpoints under {manifest.base_url}"
    )


@demo_app.command("fugo")
def fugo(
    atena_number: Annotated[str, typer.Argument(help="宛名番号 of a demo resident (15 digits)")],
    municipality: Annotated[str, typer.Option(help="団体コード")] = DEFAULT_MUNICIPALITY,
    data_dir: DataDirOption = None,
    database_url: DatabaseOption = None,
) -> None:
    """The municipality's 符号 of a resident: what the hub sends the simulated member systems."""
    from renkei.app import build_platform

    platform = build_platform(_settings(data_dir, database_url))
    try:
        org = f"JP/LG/{municipality}"
        typer.echo(platform.linkage.convert(org, atena_number, org).fugo)
    finally:
        platform.storage.close()
