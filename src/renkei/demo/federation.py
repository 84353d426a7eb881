"""Two demo deployments on loopback, linked: DC1 (千代田区, and the linkage base) and DC2 (中央区).

:class:`FederationPair` does what two operators would do, with the real ``renkei`` command in child
processes: seed each data directory (``renkei demo seed`` with the members each hosts), name each
deployment (``renkei federation init``), exchange trust lists checked by CA fingerprint (``export-trust``,
``trust --expect-fingerprint``), start ``renkei serve --port P --federation-port F`` for each (DC2 with
``RENKEI_LINKAGE_BASE=DC1``), wait for ``/healthz``, and acquire 中央区's 符号 at DC2 from the base
(``renkei federation acquire --org JP/LG/131024``). Leaving the ``with`` block stops both servers and
removes the directories (unless ``keep``).

What each deployment hosts (a deployment's trust list names every member of its registry, and a member
system may be hosted by one deployment only):

* DC1: 千代田区 u01 u06 u10 u15 u17, and 中央区's u17 (case (b): a municipality with one unit in each); the
  persons of 中央区 too, without their other systems (the base stands for J-LIS, which knows everyone),
  and the moving family as residents of 千代田区 (``renkei demo seed --move``).
* DC2: 中央区 u01 u06 u10 u15, with the family still in its records (2025 個人住民税 assessed there).

Child processes get their settings through ``env`` (the ``env`` utility: this module never reads the
environment itself); the database URL is therefore visible in the process list of this machine.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final

import httpx

from renkei.demo.errors import FederationFailed
from renkei.demo.moving import INFANT_AGE, apply_moves, default_move, moved_residents
from renkei.demo.population import Population, generate_population
from renkei.demo.records import assess, guardian_of
from renkei.demo.seed import member_endpoint, member_key_directory
from renkei.identity.scan import contains_individual_number
from renkei.registry.auth import SIGNATURE_HEADER, sign_request
from renkei.registry.identifiers import MemberId
from renkei.types import InformationId

DC1: Final = "DC1"
DC2: Final = "DC2"
CHIYODA: Final = "131016"
CHUO: Final = "131024"
DC1_MEMBERS: Final = (CHIYODA, f"{CHUO}:u17")
DC2_MEMBERS: Final = (f"{CHUO}:u01,u06,u10,u15",)
DEFAULT_RESIDENTS: Final = 300
DEFAULT_SECOND_RESIDENTS: Final = 200
START_TIMEOUT: Final = 90.0
RENKEI_VARIABLES: Final = (
    "RENKEI_DATA_DIR",
    "RENKEI_DATABASE_URL",
    "RENKEI_LINKAGE_BASE",
    "RENKEI_HOST",
    "RENKEI_PORT",
    "RENKEI_HUB_URL",
    "RENKEI_LOG_LEVEL",
)
"""Variables of the caller's environment that would change what a child does: unset, then set as needed."""

Log = Callable[[str], None]


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Deployment:
    """One deployment of the pair: its data directory, database, ports and `renkei serve` process."""

    name: str
    data_dir: Path
    database_url: str
    port: int
    federation_port: int
    linkage_base: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    fingerprint: str = ""

    @property
    def base_url(self) -> str:
        """The plain listener: member systems, the demo's simulated systems, health."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def hub_url(self) -> str:
        """The hub-to-hub listener (mutual TLS) peers reach."""
        return f"https://127.0.0.1:{self.federation_port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "serve.log"

    def command(self, *args: str) -> list[str]:
        """``renkei ARGS`` for this deployment, through ``env`` with its settings (and nothing inherited)."""
        unset = [a for v in RENKEI_VARIABLES for a in ("-u", v)]
        assign = [
            f"RENKEI_DATA_DIR={self.data_dir}",
            f"RENKEI_DATABASE_URL={self.database_url}",
            "RENKEI_LOG_LEVEL=warning",
        ]
        if self.linkage_base is not None:
            assign.append(f"RENKEI_LINKAGE_BASE={self.linkage_base}")
        env = shutil.which("env") or "/usr/bin/env"
        return [env, *unset, *assign, sys.executable, "-m", "renkei", *args]

    def run(self, *args: str, timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args), capture_output=True, text=True, timeout=timeout, check=False
        )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass(frozen=True, slots=True)
class Step:
    """One step of setting the pair up, as printed."""

    name: str
    ok: bool
    detail: str


class FederationPair:
    """Two real deployments on loopback, seeded, mutually trusted, serving, with 符号 acquired at DC2.

    ``database_urls`` are (DC1, DC2); None is SQLite in the deployment's data directory."""

    def __init__(
        self,
        root: Path | None = None,
        database_urls: tuple[str | None, str | None] = (None, None),
        *,
        residents: int = DEFAULT_RESIDENTS,
        second_residents: int = DEFAULT_SECOND_RESIDENTS,
        seed: int = 0,
        keep: bool = False,
        log: Log | None = None,
    ) -> None:
        self._given_root = root
        self._database_urls = database_urls
        self.residents = residents
        self.second_residents = second_residents
        self.seed = seed
        self.keep = keep
        self._log = log or (lambda _: None)
        self.root = Path()
        self.steps: list[Step] = []
        self.dc1: Deployment
        self.dc2: Deployment

    # --- set-up -------------------------------------------------------------------------------------

    def __enter__(self) -> FederationPair:
        if self._given_root is None:
            self.root = Path(tempfile.mkdtemp(prefix="renkei-federation-"))
        else:
            self.root = self._given_root
            self.root.mkdir(parents=True, exist_ok=True)
        try:
            self._set_up()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _deployment(self, name: str, url: str | None, base: str | None) -> Deployment:
        data_dir = self.root / name.lower()
        data_dir.mkdir(parents=True, exist_ok=True)
        database = url or f"sqlite:///{(data_dir / 'renkei.db').resolve()}"
        return Deployment(name, data_dir, database, free_port(), free_port(), base)

    @property
    def failed_steps(self) -> list[Step]:
        return [s for s in self.steps if not s.ok]

    def _step(
        self, name: str, result: subprocess.CompletedProcess[str], detail: str = "", *, fatal: bool = True
    ) -> str:
        ok = result.returncode == 0
        lines = [" ".join(line.split()) for line in result.stdout.strip().splitlines()]
        text = detail or ("; ".join(lines) if len(lines) <= 4 else lines[-1])
        self.steps.append(Step(name, ok, text if ok else (result.stderr.strip() or result.stdout.strip())))
        self._log(f"{'ok' if ok else 'FAILED'}  {name}: {self.steps[-1].detail}")
        if not ok and fatal:
            raise FederationFailed(f"{name}: {self.steps[-1].detail[-2000:]}", step=name)
        return result.stdout

    def _seed_arguments(self, d: Deployment, members: Sequence[str], *extra: str) -> list[str]:
        arguments = ["demo", "seed", "--data-dir", str(d.data_dir), "--seed", str(self.seed)]
        arguments += ["--base-url", d.base_url, *extra]
        for spec in members:
            arguments += ["--members", spec]
        return arguments

    def _set_up(self) -> None:
        self.dc1 = self._deployment(DC1, self._database_urls[0], None)
        self.dc2 = self._deployment(DC2, self._database_urls[1], DC1)
        started = time.perf_counter()
        seeds = [
            (
                self.dc1,
                self._seed_arguments(
                    self.dc1,
                    DC1_MEMBERS,
                    "--residents", str(self.residents),
                    "--second-residents", str(self.second_residents),
                    "--move",
                ),
            ),
            (
                self.dc2,
                self._seed_arguments(
                    self.dc2, DC2_MEMBERS,
                    "--residents", "0", "--second-residents", str(self.second_residents),
                ),
            ),
        ]  # fmt: skip
        running = [
            (d, subprocess.Popen(d.command(*a), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            for d, a in seeds
        ]
        try:
            for d, process in running:
                out, err = process.communicate(timeout=3600)
                self._step(
                    f"{d.name}: renkei demo seed",
                    subprocess.CompletedProcess([], process.returncode, out, err),
                )
        finally:  # a failed or timed-out seed: the other is not left running into a removed directory
            for _, process in running:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        self._log(f"seeded both in {time.perf_counter() - started:.1f} s")
        for d in (self.dc1, self.dc2):
            out = self._step(
                f"{d.name}: renkei federation init",
                d.run("federation", "init", "--deployment", d.name, "--hub-url", d.hub_url),
            )
            d.fingerprint = next(
                line.split(":", 1)[1].strip()
                for line in out.splitlines()
                if line.startswith("CA fingerprint")
            )
        lists = {}
        for d in (self.dc1, self.dc2):
            exported = d.run("federation", "export-trust")
            out = self._step(
                f"{d.name}: renkei federation export-trust",
                exported,
                f"a trust list signed by {d.name}'s CA ({len(exported.stdout.encode())} bytes)",
            )
            path = self.root / f"{d.name.lower()}-trust.json"
            path.write_text(out, encoding="utf-8")
            lists[d.name] = path
        for d, other in ((self.dc1, self.dc2), (self.dc2, self.dc1)):
            self._step(
                f"{d.name}: renkei federation trust {other.name} (fingerprint {other.fingerprint[:16]}…)",
                d.run(
                    "federation", "trust", str(lists[other.name]), "--expect-fingerprint", other.fingerprint
                ),
            )
        for d in (self.dc1, self.dc2):
            self.start(d)
        self._step(
            f"{DC2}: renkei federation acquire --org JP/LG/{CHUO}",
            self.dc2.run("federation", "acquire", "--org", f"JP/LG/{CHUO}"),
            "",
            fatal=False,  # the cases still run (and fail, naming this step) so that everything is shown
        )

    # --- processes ----------------------------------------------------------------------------------

    def start(self, d: Deployment) -> None:
        """Start ``renkei serve`` for ``d`` and wait until ``/healthz`` answers."""
        arguments = ["serve", "--port", str(d.port), "--federation-port", str(d.federation_port)]
        arguments += ["--data-dir", str(d.data_dir)]
        with d.log_path.open("ab") as log:
            d.process = subprocess.Popen(d.command(*arguments), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if httpx.get(d.base_url + "/healthz", timeout=2).status_code in (200, 503):
                    break
            except httpx.TransportError:
                pass
            if d.process.poll() is not None or time.monotonic() > deadline:
                tail = d.log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
                self.steps.append(Step(f"{d.name}: renkei serve", False, tail))
                raise FederationFailed(f"{d.name}: renkei serve did not come up:\n{tail}", step="serve")
            time.sleep(0.2)
        self.steps.append(Step(f"{d.name}: renkei serve", True, f"{d.base_url} and {d.hub_url}"))
        self._log(f"ok  {d.name}: serving {d.base_url} (members) and {d.hub_url} (peers, mutual TLS)")

    def stop(self, d: Deployment) -> None:
        """Stop ``d``'s server (SIGTERM, then SIGKILL after 20 s)."""
        process = d.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def close(self) -> None:
        for name in ("dc1", "dc2"):
            d = getattr(self, name, None)
            if isinstance(d, Deployment):
                self.stop(d)
        if not self.keep and self._given_root is None:
            shutil.rmtree(self.root, ignore_errors=True)


# --- signed queries as a demo member system -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberCredentials:
    """A demo member system's key and certificate, as ``renkei demo seed`` wrote them."""

    member: MemberId
    private_key: bytes
    certificate: bytes

    @classmethod
    def load(cls, data_dir: Path, member: str) -> MemberCredentials:
        member_id = MemberId.parse(member)
        directory = member_key_directory(data_dir, member_id)
        return cls(
            member_id, (directory / "member.key").read_bytes(), (directory / "member.crt").read_bytes()
        )


def read_inbox(base_url: str, credentials: MemberCredentials, *, queries: bool = False) -> dict[str, Any]:
    """What a simulated member system received — its change notifications, or with ``queries`` the queries
    as they arrived — asked for as that member system (signed with its key: nobody else is shown them)."""
    endpoint = member_endpoint(base_url, credentials.member) + ("/received" if queries else "/events")
    target = httpx.URL(endpoint).raw_path.decode("ascii")
    token = sign_request(
        credentials.private_key,
        str(credentials.member),
        "GET",
        target,
        b"",
        datetime.now(UTC),
        certificate=credentials.certificate,
    )
    response = httpx.get(endpoint, headers={SIGNATURE_HEADER: token}, timeout=10)
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


@dataclass(frozen=True, slots=True)
class SignedQuery:
    """A query ready to send: target path, body and headers (with the member's signature)."""

    target: str
    body: bytes
    headers: Mapping[str, str]


def signed_query(
    credentials: MemberCredentials,
    service: str,
    items: Mapping[str, Any],
    *,
    purpose: str = "infant-medical-subsidy",
    idempotency_key: str | None = None,
    user_id: str = "demo-operator",
) -> SignedQuery:
    """Sign a POST to ``/r1/{service}`` as ``credentials.member`` (as ``renkei exchange call`` does)."""
    target = "/r1/" + service.strip("/")
    body = json.dumps(dict(items), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    member = credentials.member
    headers = {
        "X-Road-Client": str(member),
        "X-Road-Issue": purpose,
        "X-Road-UserId": user_id,
        "Idempotency-Key": idempotency_key or str(uuid.uuid4()),
        "Content-Type": "application/json",
        "Accept": "application/json, application/problem+json",
    }
    headers[SIGNATURE_HEADER] = sign_request(
        credentials.private_key,
        member,
        "POST",
        target,
        body,
        datetime.now(UTC),
        certificate=credentials.certificate,
        audience=member.organisation.instance,
    )
    return SignedQuery(target, body, headers)


def send(base_url: str, query: SignedQuery, timeout: float = 30.0) -> httpx.Response:
    """POST a signed query to a hub and return its answer (problem+json included)."""
    return httpx.post(
        base_url + query.target, content=query.body, headers=dict(query.headers), timeout=timeout
    )


# --- the cases and their checks ---------------------------------------------------------------------

INCOME_SERVICE: Final = f"JP/LG/{CHUO}/u06/income-certificate"
PURPOSE: Final = "infant-medical-subsidy"
RecordReader = Callable[[Deployment, str], list[dict[str, Any]]]
"""The access records a deployment holds for one message id (canonical JSON of each, as dicts)."""


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Family:
    """The moving family as the demo shows it: 宛名番号 in each city (never a 個人番号)."""

    household_before: str
    household_after: str
    members: tuple[tuple[str, str, str, int], ...]
    """(氏名, 中央区 宛名番号, 千代田区 宛名番号, age on the reference date)."""
    guardian_chuo: str
    guardian_chiyoda: str
    expected: Mapping[str, Any]
    """The guardian's 2025 個人住民税 at 中央区, cut to what the 乳幼児医療 purpose may read."""


@dataclass(frozen=True, slots=True)
class CaseResult:
    name: str
    status: int
    answer: Mapping[str, Any]
    message_id: str
    records: Mapping[str, list[dict[str, Any]]]
    received: list[dict[str, Any]]
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def _purpose_items(information: str) -> list[str]:
    from renkei.demo.seed import PURPOSES

    purpose = next(p for p in PURPOSES if p.id == PURPOSE)
    return list(purpose.uses.get(information) or [])


def _expected_income(population: Population, atena: str) -> dict[str, Any]:
    from renkei.demo.records import population_records

    record = next(
        r
        for r in population_records(population)[InformationId("individual-resident-tax")]
        if r["atena_number"] == atena and r["fiscal_year"] == population.fiscal_year
    )
    return {i: record[i] for i in _purpose_items("individual-resident-tax") if i in record}


def populations_of(pair: FederationPair) -> tuple[Population, Population]:
    """千代田区 (with the family moved in, as DC1 has it) and 中央区 (as DC2 has it)."""
    chiyoda = generate_population(pair.residents, seed=pair.seed, municipality=CHIYODA)
    chuo = generate_population(pair.second_residents, seed=pair.seed, municipality=CHUO)
    return apply_moves([chiyoda, chuo], [default_move([chiyoda, chuo])])[0], chuo


def the_family(pair: FederationPair) -> Family:
    chiyoda_before = generate_population(pair.residents, seed=pair.seed, municipality=CHIYODA)
    chiyoda, chuo = populations_of(pair)
    move = default_move([chiyoda_before, chuo])
    moved = moved_residents([chiyoda_before, chuo], [chiyoda, chuo], [move])
    household = next(h for h in chuo.households if h.number == move.household_number)
    guardian = guardian_of(household, assess(chuo))
    after = {m.before.atena_number: m.after for m in moved}
    on = chuo.reference_date
    return Family(
        household.number,
        after[household.head.atena_number].household_number,
        tuple((m.before.name, m.before.atena_number, m.after.atena_number, m.before.age(on)) for m in moved),
        guardian.atena_number,
        after[guardian.atena_number].atena_number,
        _expected_income(chuo, guardian.atena_number),
    )


def other_chuo_guardian(pair: FederationPair, family: Family) -> tuple[str, dict[str, Any]]:
    """Case (b)'s person: the guardian of another 中央区 household with a child under 6 (not the family)."""
    _, chuo = populations_of(pair)
    assessments = assess(chuo)
    on = chuo.reference_date
    for household in chuo.households:
        if household.number == family.household_before:
            continue
        if not any(m.relationship == "21" and m.age(on) < INFANT_AGE for m in household.members):
            continue
        guardian = guardian_of(household, assessments)
        if assessments[guardian.atena_number].tax is not None:
            return guardian.atena_number, _expected_income(chuo, guardian.atena_number)
    raise FederationFailed("中央区 has no second household with a child under 6", step="case-b")


def _fugo_at(d: Deployment, municipality: str, atena: str) -> str:
    result = d.run("demo", "fugo", atena, "--municipality", municipality, timeout=120)
    return result.stdout.strip() if result.returncode == 0 else ""


def _sides(records: list[dict[str, Any]]) -> list[str]:
    return sorted(str(r.get("side")) for r in records)


def run_case(
    pair: FederationPair,
    name: str,
    client: str,
    atena: str,
    expected: Mapping[str, Any],
    read_records: RecordReader,
    *,
    forbidden: Sequence[str] = (),
    provider_atena: str,
) -> CaseResult:
    """One cross-deployment query from ``client`` at DC1 to 中央区 u06 at DC2, and its checks."""
    credentials = MemberCredentials.load(pair.dc1.data_dir, client)
    query = signed_query(credentials, INCOME_SERVICE, {"atena_number": atena, "fiscal_year": 2025})
    response = send(pair.dc1.base_url, query)
    try:
        answer: dict[str, Any] = response.json()
    except ValueError:
        answer = {"text": response.text[:500]}
    message_id = response.headers.get("X-Road-Id", "")
    checks = [
        Check(
            f"{name}: DC1 answers 200 with DC2's data for the person",
            response.status_code == 200 and answer == dict(expected),
            f"HTTP {response.status_code}"
            + ("" if answer == dict(expected) else f"; got {json.dumps(answer, ensure_ascii=False)[:300]}"),
        )
    ]
    records = {DC1: [], DC2: []} if not message_id else {
        DC1: read_records(pair.dc1, message_id),
        DC2: read_records(pair.dc2, message_id),
    }  # fmt: skip
    checks.append(
        Check(
            f"{name}: DC1 holds the requester's access record for {message_id or '(no message id)'}",
            _sides(records[DC1]) == ["requester"],
            f"sides at DC1: {_sides(records[DC1])}",
        )
    )
    checks.append(
        Check(
            f"{name}: DC2 holds the provider's access record for the same message id",
            _sides(records[DC2]) == ["provider"],
            f"sides at DC2: {_sides(records[DC2])}",
        )
    )
    received: list[dict[str, Any]] = []
    try:
        u06 = MemberCredentials.load(pair.dc2.data_dir, f"JP/LG/{CHUO}/u06")
        listing = read_inbox(pair.dc2.base_url, u06, queries=True)
        received = [q for q in listing.get("queries", []) if message_id and q.get("message_id") == message_id]
    except (httpx.HTTPError, ValueError, OSError):
        received = []
    own = _fugo_at(pair.dc2, CHUO, provider_atena)
    bodies = [str(q.get("body", "")) for q in received]
    sent = [json.loads(b) if b.startswith("{") else {} for b in bodies]
    checks.append(
        Check(
            f"{name}: DC2's u06 received person_fugo = its own 中央区 符号",
            len(sent) == 1 and bool(own) and sent[0].get("person_fugo") == own,
            f"{len(sent)} matching request(s) at DC2's u06; items {sorted(sent[0]) if sent else []}",
        )
    )
    leaked = [a for a in forbidden if any(a in b for b in bodies)]
    checks.append(
        Check(
            f"{name}: no 宛名番号 of the caller's side and no atena_number reached DC2's u06",
            bool(sent) and not leaked and all("atena_number" not in s for s in sent),
            "none" if not leaked else f"{len(leaked)} found",
        )
    )
    checks.append(
        Check(
            f"{name}: no 12-digit 個人番号 reached DC2's u06",
            bool(sent) and not any(contains_individual_number(b) for b in bodies),
            "none found by renkei.identity.scan",
        )
    )
    return CaseResult(name, response.status_code, answer, message_id, records, received, tuple(checks))
