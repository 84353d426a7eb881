"""Architecture test: every statement the integrated DB's adapter sends is scoped to the tenant.

Each public method of the adapter (``SqlTenantMaster``, ``SqlPersonWriter``) is driven, through the service
and directly, for two tenants holding the same 宛名番号, while the shared statement checker
(:func:`renkei.storage.sql.tenantscope.statement_offences`, run on every executed statement by
:func:`~renkei.storage.sql.tenantscope.watching`) looks at each statement object:

- a SELECT (including subqueries and EXISTS): every occurrence of a masterdata table (or alias of one) in a
  FROM or JOIN is pinned by a top-level conjunct ``<that occurrence>.tenant = :param`` in a WHERE or ON
  clause, and every such parameter is the tenant of the scope that ran it;
- an INSERT: into a masterdata table, and every row's ``tenant`` is the scope's tenant;
- no UPDATE or DELETE ever touches a masterdata table (the master is append-only);
- raw SQL text never names a masterdata table (only the PostgreSQL advisory lock is raw).

A second test reads the adapter's source: no ``update``/``delete`` construct at all, and one ``text()``.
:func:`drive_master` is reused by ``tests/architecture/test_tenancy.py``.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest

import renkei.storage.sql.masterdata as adapter
from renkei.masterdata.errors import TenantMismatch
from renkei.masterdata.models import NON_RESIDENT_TOPIC, TenantCode
from renkei.storage.sql.engine import connection_source
from renkei.storage.sql.masterdata import TABLES, SqlMasterDataStore, SqlPersonWriter, SqlTenantMaster
from renkei.storage.sql.tenantscope import Offences, TenantScope, statement_offences, watching
from tests.masterdata.builders import CHIYODA, CHUO, atena, household, non_resident, occurred, resident
from tests.masterdata.conftest import Master

NAMES = frozenset(t.name for t in TABLES)


def check_statement(statement: Any, params: list[dict[str, Any]], tenant: str, offences: Offences) -> None:
    """The shared checker, with every masterdata table append-only."""
    statement_offences(statement, params, tenant, NAMES, offences, append_only=NAMES)


@contextmanager
def capture(scope: list[str], offences: Offences) -> Iterator[None]:
    """Check every statement any engine executes while the block runs, against ``scope[0]``."""
    with watching(scope, NAMES, offences, append_only=NAMES):
        yield


PUBLIC = {
    SqlTenantMaster: {n for n, _ in inspect.getmembers(SqlTenantMaster) if not n.startswith("_")},
    SqlPersonWriter: {n for n, _ in inspect.getmembers(SqlPersonWriter) if not n.startswith("_")},
}


def test_every_statement_of_the_adapter_carries_the_tenant(
    master: Master, monkeypatch: pytest.MonkeyPatch
) -> None:
    called: set[tuple[type, str]] = set()
    for cls, names in PUBLIC.items():
        for name in names:
            original = inspect.getattr_static(cls, name)
            if isinstance(original, property):
                continue

            def spy(*args: Any, __original: Any = original, __key: Any = (cls, name), **kwargs: Any) -> Any:
                called.add(__key)
                return __original(*args, **kwargs)

            monkeypatch.setattr(cls, name, spy)

    offences = Offences()
    with capture(scope := [CHIYODA], offences):
        drive_master(master, scope)
    assert offences.found == []
    assert offences.selects > 20 and offences.inserts > 10
    missed = {(cls.__name__, name) for cls, names in PUBLIC.items() for name in names} - {
        (cls.__name__, name) for cls, name in called
    }
    missed -= {("SqlTenantMaster", "tenant")}  # a property: no statement
    assert missed == set(), "exercise every adapter method here, so its statements are checked"


def drive_master(master: Master, scope: list[str]) -> None:
    """Every public method of the master's adapter, for 千代田区 then 中央区 (the same 宛名番号 in both);
    ``scope[0]`` follows the tenant being driven."""
    service = master.service
    store = SqlMasterDataStore(connection_source(master.storage))
    for tenant in (CHIYODA, CHUO):
        scope[0] = tenant
        service.apply(tenant, "e1", "101", resident(1), occurred(date(2026, 4, 1)))
        service.apply(tenant, "e1", "101", resident(1), occurred(date(2026, 4, 1)))  # duplicate
        service.apply(
            tenant,
            "e2",
            "306",
            resident(1, reason="306", on=date(2026, 4, 15), name="鈴木 花子"),
            occurred(date(2026, 4, 15)),
        )
        service.apply(
            tenant, "n1", "01", non_resident(500), occurred(date(2026, 4, 1)), topic=NON_RESIDENT_TOPIC
        )
        service.person(tenant, atena(1), valid_at=date(2026, 4, 20))
        service.history(tenant, atena(1))
        service.household(tenant, household(1), valid_at=date(2026, 4, 20))
        service.event(tenant, "e2")
        master_ = store.scoped(TenantCode(tenant))
        master_.household_at(household(1), date(2026, 4, 20), master.clock.now(), active_only=False)
        with master_.writing(atena(1)) as writer:
            writer.supersede([], master.clock.now(), "e2")
            writer.add_versions([], master.clock.now())


def test_the_checker_catches_an_unscoped_statement() -> None:
    """The checker itself can fail: a read without the predicate, a foreign tenant, an UPDATE, a bad row."""
    from sqlalchemy import delete, select, update

    v, _s = adapter.masterdata_version, adapter.masterdata_supersession
    bad = [
        (select(v).where(v.c.atena_number == "x"), []),
        (select(v).where((v.c.tenant == CHIYODA) | (v.c.atena_number == "x")), []),
        (select(v).where(v.c.tenant == CHUO), []),
        (adapter._versions(_scope(CHIYODA)).where(*adapter._known_at(_scope(CHUO), master_now())), []),
        (
            adapter._versions(_scope(CHIYODA)).where(~select(adapter.masterdata_supersession.c.seq).exists()),
            [],
        ),
        (update(v).values(valid_to=None), []),
        (delete(v), []),
        (v.insert(), [{"tenant": CHUO}]),
        (v.insert().values(tenant=CHUO, atena_number="x", seq=0), []),
    ]
    for statement, rows in bad:
        offences = Offences()
        check_statement(statement, rows, CHIYODA, offences)
        assert offences.found, statement
    clean = Offences()
    statement = adapter._versions(_scope(CHIYODA)).where(*adapter._known_at(_scope(CHIYODA), master_now()))
    check_statement(statement, [], CHIYODA, clean)
    assert clean.found == []


def _scope(tenant: str) -> TenantScope:
    return TenantScope.of(tenant, TenantMismatch)


def master_now() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 4, 1, tzinfo=UTC)


def test_the_adapter_source_has_no_update_or_delete_and_one_raw_statement() -> None:
    tree = ast.parse(Path(adapter.__file__).read_text(encoding="utf-8"))
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    attributes = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert not {"update", "delete"} & (names | attributes)
    raw = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "text"]
    assert len(raw) == 1
    assert ast.literal_eval(raw[0].args[0]) == "SELECT pg_advisory_xact_lock(:key)"
