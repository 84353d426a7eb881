"""Architecture test: every statement the integrated DB's adapter sends is scoped to the tenant.

Each public method of the adapter (``SqlTenantMaster``, ``SqlPersonWriter``) is driven, through the service
and directly, for two tenants holding the same 宛名番号, while a SQLAlchemy ``before_execute`` listener
captures every statement object. For each one:

- a SELECT (including subqueries and EXISTS): every occurrence of a masterdata table (or alias of one) in a
  FROM or JOIN is pinned by a top-level conjunct ``<that occurrence>.tenant = :param`` in a WHERE or ON
  clause, and every such parameter is the tenant of the scope that ran it;
- an INSERT: into a masterdata table, and every row's ``tenant`` is the scope's tenant;
- no UPDATE or DELETE ever touches a masterdata table (the master is append-only);
- raw SQL text never names a masterdata table (only the PostgreSQL advisory lock is raw).

A second test reads the adapter's source: no ``update``/``delete`` construct at all, and one ``text()``.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.dml import Delete, Insert, Update
from sqlalchemy.sql.elements import (
    BinaryExpression,
    BindParameter,
    BooleanClauseList,
    ColumnClause,
    TextClause,
)
from sqlalchemy.sql.selectable import Alias, Join, Select

import renkei.storage.sql.masterdata as adapter
from renkei.masterdata.models import NON_RESIDENT_TOPIC, TenantCode
from renkei.storage.sql.engine import connection_source
from renkei.storage.sql.masterdata import TABLES, SqlMasterDataStore, SqlPersonWriter, SqlTenantMaster
from tests.masterdata.builders import CHIYODA, CHUO, atena, household, non_resident, occurred, resident
from tests.masterdata.conftest import Master

NAMES = {t.name for t in TABLES}


def _base_table(element: Any) -> Table | None:
    if isinstance(element, Table) and element.name in NAMES:
        return element
    if isinstance(element, Alias):
        return _base_table(element.element)
    return None


def _conjuncts(clause: Any) -> Iterator[Any]:
    if clause is None:
        return
    if isinstance(clause, BooleanClauseList) and clause.operator is operators.and_:
        for part in clause.clauses:
            yield from _conjuncts(part)
    else:
        yield clause


def _occurrences(from_: Any) -> Iterator[Any]:
    """Masterdata tables (or aliases) in a FROM item, and the ON clauses of the joins that hold them."""
    if isinstance(from_, Join):
        yield from _occurrences(from_.left)
        yield from _occurrences(from_.right)
    elif _base_table(from_) is not None:
        yield from_


def _ons(from_: Any) -> Iterator[Any]:
    if isinstance(from_, Join):
        yield from_.onclause
        yield from _ons(from_.left)
        yield from _ons(from_.right)


@dataclass
class Offences:
    found: list[str] = field(default_factory=list)
    statements: int = 0
    selects: int = 0
    inserts: int = 0

    def add(self, what: str) -> None:
        self.found.append(what)


def check_statement(statement: Any, params: list[dict[str, Any]], tenant: str, offences: Offences) -> None:
    """Add to ``offences`` whatever in ``statement`` is not scoped to ``tenant``."""
    offences.statements += 1
    if isinstance(statement, TextClause):
        if any(name in statement.text for name in NAMES):
            offences.add(f"raw SQL names a masterdata table: {statement.text}")
        return
    if isinstance(statement, Update | Delete):
        if _base_table(statement.table) is not None:
            offences.add(f"{type(statement).__name__} on {statement.table}: the master is append-only")
        return
    if isinstance(statement, Insert):
        table = _base_table(statement.table)
        if table is None:
            return
        offences.inserts += 1
        compiled = statement.compile().params
        rows = params or [compiled]
        tenants = {row.get("tenant", compiled.get("tenant")) for row in rows}
        if tenants != {tenant}:
            offences.add(f"INSERT into {table.name} with tenants {tenants}, scope {tenant}")
        return
    # ``iterate`` yields the statement itself and every SELECT nested in it (subqueries, EXISTS).
    selects = [s for s in visitors.iterate(statement) if isinstance(s, Select)]
    for select in selects:
        offences.selects += 1
        froms = select.get_final_froms()
        # Pins count only inside the SELECT that reads the table: a nested SELECT pins its own FROMs (a
        # correlated one repeats the outer predicate), so no subquery can read rows the outer one pinned.
        pinned: dict[Any, set[Any]] = {}
        for clause in [select.whereclause, *(on for f in froms for on in _ons(f))]:
            for conjunct in _conjuncts(clause):
                if not isinstance(conjunct, BinaryExpression) or conjunct.operator is not operators.eq:
                    continue
                for column, other in ((conjunct.left, conjunct.right), (conjunct.right, conjunct.left)):
                    if (
                        isinstance(column, ColumnClause)
                        and column.name == "tenant"
                        and isinstance(other, BindParameter)
                    ):
                        pinned.setdefault(column.table, set()).add(other.effective_value)
        for occurrence in (o for f in froms for o in _occurrences(f)):
            values = pinned.get(occurrence)
            if not values:
                offences.add(f"SELECT reads {occurrence.name} without tenant = :param: {statement}")
            elif values != {tenant}:
                offences.add(f"SELECT pins {occurrence.name} to {values}, scope {tenant}")


@contextmanager
def capture(scope: list[str], offences: Offences) -> Iterator[None]:
    """Check every statement any engine executes while the block runs, against ``scope[0]``."""

    def listener(
        conn: Connection, clauseelement: Any, multiparams: Any, params: Any, execution_options: Any
    ) -> None:
        rows: list[dict[str, Any]] = []
        for group in multiparams:
            rows.extend(group if isinstance(group, list | tuple) else [group])
        if params:
            rows.append(dict(params))
        check_statement(clauseelement, rows, scope[0], offences)

    event.listen(Engine, "before_execute", listener)
    try:
        yield
    finally:
        event.remove(Engine, "before_execute", listener)


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
    scope = [CHIYODA]
    service = master.service
    store = SqlMasterDataStore(connection_source(master.storage))
    with capture(scope, offences):
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
    assert offences.found == []
    assert offences.selects > 20 and offences.inserts > 10
    missed = {(cls.__name__, name) for cls, names in PUBLIC.items() for name in names} - {
        (cls.__name__, name) for cls, name in called
    }
    missed -= {("SqlTenantMaster", "tenant")}  # a property: no statement
    assert missed == set(), "exercise every adapter method here, so its statements are checked"


def test_the_checker_catches_an_unscoped_statement() -> None:
    """The checker itself can fail: a read without the predicate, a foreign tenant, an UPDATE, a bad row."""
    from sqlalchemy import delete, select, update

    v = adapter.masterdata_version
    bad = [
        (select(v).where(v.c.atena_number == "x"), []),
        (select(v).where((v.c.tenant == CHIYODA) | (v.c.atena_number == "x")), []),
        (select(v).where(v.c.tenant == CHUO), []),
        (adapter._versions(CHIYODA).where(*adapter._known_at(CHUO, master_now())), []),
        (adapter._versions(CHIYODA).where(~select(adapter.masterdata_supersession.c.seq).exists()), []),
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
    statement = adapter._versions(CHIYODA).where(*adapter._known_at(CHIYODA, master_now()))
    check_statement(statement, [], CHIYODA, clean)
    assert clean.found == []


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
