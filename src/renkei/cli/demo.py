"""``renkei demo …``: seed the demo municipality into a deployment and show what it holds.

renkei demo seed [--data-dir D] [--residents 10000] [--second-residents 2000] [--seed 0] [--base-url URL]
                 [--members 131016 --members 131024:u17] [--move]
renkei demo federation [--root DIR] [--database-url-dc1 URL] [--database-url-dc2 URL] [--keep]
renkei demo show [--data-dir D] [--format table|json]
"""

from __future__ import annotations

import json
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from renkei.demo.errors import FederationFailed
from renkei.demo.federation import (
    CHIYODA,
    CHUO,
    CaseResult,
    Deployment,
    FederationPair,
    MemberCredentials,
    other_chuo_guardian,
    read_inbox,
    run_case,
    the_family,
)
from renkei.demo.federation import DEFAULT_RESIDENTS as FEDERATION_RESIDENTS
from renkei.demo.federation import DEFAULT_SECOND_RESIDENTS as FEDERATION_SECOND
from renkei.demo.moving import default_move
from renkei.demo.population import (
    DEFAULT_MUNICIPALITY,
    DEFAULT_RESIDENTS,
    SECOND_MUNICIPALITY,
    Population,
    generate_population,
)
from renkei.demo.records import population_records
from renkei.demo.seed import (
    ALL_UNITS,
    DEFAULT_BASE_URL,
    DEMO_MUNICIPALITIES,
    enrolled_residents,
    load_manifest,
    seed_demo,
)
from renkei.settings import Settings
from renkei.types import UnitNumber

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
    residents: Annotated[
        int, typer.Option(help="residents of 千代田区 (131016); 0 for none", min=0)
    ] = DEFAULT_RESIDENTS,
    second_residents: Annotated[
        int, typer.Option(help="residents of 中央区 (131024); 0 for none", min=0)
    ] = 2_000,
    seed: Annotated[int, typer.Option("--seed", help="random seed of the populations")] = 0,
    base_url: Annotated[
        str, typer.Option(help="where the platform serves /demo/members (the services' endpoints)")
    ] = DEFAULT_BASE_URL,
    members: Annotated[
        list[str] | None,
        typer.Option(
            "--members",
            help="member systems this deployment hosts: CODE (all units) or CODE:u01,u06 (repeatable; "
            "default: every unit of both municipalities; a population without any is enrolled as persons)",
        ),
    ] = None,
    move: Annotated[
        bool,
        typer.Option(help="move the demo family (中央区, a child under 6) into 千代田区 (see docs/demo.md)"),
    ] = False,
) -> None:
    """Generate the populations and enrol everything (idempotent: a second run changes nothing)."""
    from renkei.app import build_platform

    settings = _settings(data_dir, database_url)
    hosted = None if not members else parse_members(members)
    started = time.perf_counter()
    populations = []
    if residents:
        populations.append(generate_population(residents, seed=seed, municipality=DEFAULT_MUNICIPALITY))
    if second_residents:
        populations.append(generate_population(second_residents, seed=seed, municipality=SECOND_MUNICIPALITY))
    moves = [default_move(populations)] if move else []
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
            members=hosted,
            moves=moves,
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


def parse_members(specs: list[str]) -> dict[str, tuple[UnitNumber, ...]]:
    """``["131016", "131024:u17"]`` → {"131016": (1, 6, 10, 15, 17), "131024": (17,)}."""
    hosted: dict[str, list[UnitNumber]] = {}
    for spec in specs:
        code, _, units = spec.partition(":")
        if not (len(code) == 6 and code.isdigit()):
            raise typer.BadParameter(f"{spec!r}: expected CODE or CODE:u01,u06", param_hint="--members")
        chosen = hosted.setdefault(code, [])
        for unit in units.split(",") if units else [f"u{u:02d}" for u in ALL_UNITS]:
            text = unit.strip().lower().removeprefix("u")
            if not text.isdigit() or UnitNumber(int(text)) not in ALL_UNITS:
                raise typer.BadParameter(
                    f"{spec!r}: the demo has units {', '.join(f'u{u:02d}' for u in ALL_UNITS)}",
                    param_hint="--members",
                )
            if UnitNumber(int(text)) not in chosen:
                chosen.append(UnitNumber(int(text)))
    return {code: tuple(sorted(units)) for code, units in hosted.items()}


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


@demo_app.command("inbox")
def inbox(
    member: Annotated[str, typer.Argument(help="the simulated member system, e.g. JP/LG/131016/u06")],
    queries: Annotated[bool, typer.Option(help="the queries it received, not the notifications")] = False,
    hub: Annotated[str, typer.Option(help="the running deployment")] = "http://127.0.0.1:8080",
    data_dir: DataDirOption = None,
) -> None:
    """What a simulated member system received (受信した異動通知, or with --queries 照会), asked for as
    that system: signed with its demo key, since nobody else is shown them."""
    settings = Settings.from_env().with_overrides(data_dir=data_dir)
    try:
        credentials = MemberCredentials.load(settings.data_dir, member)
    except OSError:
        raise typer.BadParameter(
            f"no demo key for {member} under {settings.data_dir} (run `renkei demo seed`)",
            param_hint="MEMBER",
        ) from None
    try:
        received = read_inbox(hub, credentials, queries=queries)
    except httpx.HTTPStatusError as error:
        typer.echo(f"HTTP {error.response.status_code}: {error.response.text}", err=True)
        raise typer.Exit(1) from None
    except httpx.TransportError as error:
        typer.echo(f"{hub}: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(received, ensure_ascii=False, indent=2))


def access_records(deployment: Deployment, message_id: str) -> list[dict[str, Any]]:
    """The access records ``deployment``'s log holds for ``message_id`` (read from its database)."""
    from renkei.storage.sql.audit import SqlAuditStore
    from renkei.storage.sql.engine import connection_source, create_storage

    found: list[dict[str, Any]] = []
    with create_storage(deployment.database_url) as storage:
        for _, body, _ in SqlAuditStore(connection_source(storage)).scan():
            if body is None:
                continue
            record = json.loads(body)["record"]  # the stored body: {"record": …, "recorded_at", "v"}
            if record.get("message_id") == message_id:
                found.append(record)
    return found


def _print_case(case: CaseResult) -> None:
    typer.echo(f"\n== {case.name}: HTTP {case.status}, X-Road-Id {case.message_id or '-'}")
    typer.echo("answer (個人住民税, 令和7年度, items the 乳幼児医療 purpose may read):")
    typer.echo("  " + json.dumps(dict(case.answer), ensure_ascii=False))
    for side, records in case.records.items():
        for r in records:
            typer.echo(
                f"access record at {side}: side={r.get('side')}"
                f" requester={r.get('requester', {}).get('member')}"
                f" provider={r.get('provider', {}).get('member')} information={r.get('information')}"
                f" purpose={r.get('purpose')} items={len(r.get('items', []))} outcome={r.get('outcome')}"
                f" subject={str(r.get('subject', ''))[:12]}…"
            )
        if not records:
            typer.echo(f"access record at {side}: none")
    for q in case.received:
        typer.echo(f"DC2 u06 received: {q.get('body')}")
    for check in case.checks:
        typer.echo(f"[{'ok' if check.ok else 'FAILED'}] {check.name} ({check.detail})")


@demo_app.command("federation")
def federation(
    root: Annotated[
        Path | None, typer.Option(help="where the two data directories go (default: a temporary directory)")
    ] = None,
    database_url_dc1: Annotated[str | None, typer.Option(help="DC1's database (default: SQLite)")] = None,
    database_url_dc2: Annotated[str | None, typer.Option(help="DC2's database (default: SQLite)")] = None,
    keep: Annotated[bool, typer.Option(help="leave the data directories (and print where)")] = False,
    residents: Annotated[int, typer.Option(help="residents of 千代田区", min=50)] = FEDERATION_RESIDENTS,
    second_residents: Annotated[int, typer.Option(help="residents of 中央区", min=50)] = FEDERATION_SECOND,
    seed: Annotated[int, typer.Option("--seed", help="random seed of the populations")] = 0,
) -> None:
    """Two deployments on loopback (DC1 千代田区 and the linkage base, DC2 中央区), case (a) 乳幼児医療 for a
    family that moved from 中央区 to 千代田区 and case (b) 中央区's u17 in DC1 asking its u06 in DC2; prints
    the answers and the access records of both sides; exit 0 only if every check passed."""
    cases: list[CaseResult] = []
    failed_steps: list[str] = []
    try:
        with FederationPair(
            root,
            (database_url_dc1, database_url_dc2),
            residents=residents,
            second_residents=second_residents,
            seed=seed,
            keep=keep or root is not None,
            log=typer.echo,
        ) as pair:
            family = the_family(pair)
            typer.echo(
                f"\nthe moving family: 中央区 世帯 {family.household_before}"
                f" → 千代田区 世帯 {family.household_after}"
            )
            for name, chuo, chiyoda, age in family.members:
                typer.echo(f"  {name} ({age}歳)  中央区 宛名番号 {chuo} → 千代田区 宛名番号 {chiyoda}")
            cases.append(
                run_case(
                    pair,
                    "(a) 乳幼児医療: 千代田区 u17 (DC1) → 中央区 u06 (DC2)",
                    f"JP/LG/{CHIYODA}/u17",
                    family.guardian_chiyoda,
                    family.expected,
                    access_records,
                    forbidden=[m[2] for m in family.members],
                    provider_atena=family.guardian_chuo,
                )
            )
            _print_case(cases[-1])
            atena, expected = other_chuo_guardian(pair, family)
            cases.append(
                run_case(
                    pair,
                    "(b) one municipality in two deployments: 中央区 u17 (DC1) → 中央区 u06 (DC2)",
                    f"JP/LG/{CHUO}/u17",
                    atena,
                    expected,
                    access_records,
                    forbidden=[atena],
                    provider_atena=atena,
                )
            )
            _print_case(cases[-1])
            if keep or root is not None:
                typer.echo(f"\ndata directories kept under {pair.root}")
            failed_steps = [f"set-up step {s.name}" for s in pair.failed_steps]
    except FederationFailed as exc:
        typer.echo(f"FAILED: {exc.message}", err=True)
        raise typer.Exit(1) from None
    failed = failed_steps + [c.name for case in cases for c in case.checks if not c.ok]
    total = len(failed_steps) + sum(len(case.checks) for case in cases)
    if failed:
        typer.echo(f"\nFAILED {len(failed)} of {total} checks: " + "; ".join(failed), err=True)
        raise typer.Exit(1)
    typer.echo(f"\nall {total} checks passed")
