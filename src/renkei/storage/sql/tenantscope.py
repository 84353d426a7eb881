"""The tenant guard of the SQL adapters: one municipality's data reached only through a scope fixed once.

A *tenant* is a municipality (地方公共団体), named by its 6-digit 全国地方公共団体コード. A table whose rows
belong to one municipality has a ``tenant`` column that leads its primary key (``docs/tenancy.md`` says which
tables those are, and why the others are shared). Its adapter offers it only through
``Store.scoped(tenant)``, which makes a :class:`TenantScope` — the code checked, then fixed for the life of
the scoped store — and every statement the scoped store builds goes through the scope:

- :meth:`TenantScope.pin` — ``<table or alias>.tenant = :tenant`` for each table a statement reads (in its
  WHERE, or in an outer join's ON clause via :meth:`TenantScope.join_on`);
- :meth:`TenantScope.stamp` — every inserted row carries the scope's tenant (a row naming another tenant is
  refused with the context's own typed error, nothing written);
- :meth:`TenantScope.admit` — a value read from a model (an assertion, a rejection) that names another
  tenant is refused the same way.

:func:`statement_offences` is the statement checker: given a statement as SQLAlchemy is about to execute it,
it names whatever is not pinned to the scope's tenant. :func:`watching` runs it on every statement any engine
executes inside a block; the architecture test (``tests/architecture/test_tenancy.py``) drives every public
method of every scoped store under it, on two tenants holding the same keys.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import MetaData, Table, and_, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.dml import Delete, Insert, Update
from sqlalchemy.sql.elements import (
    BinaryExpression,
    BindParameter,
    BooleanClauseList,
    ColumnClause,
    ColumnElement,
    TextClause,
)
from sqlalchemy.sql.selectable import Alias, FromClause, Join, Select

from renkei.errors import RenkeiError
from renkei.japanese.checkdigit import is_valid_local_government_code

TENANT_COLUMN = "tenant"
TENANT_LENGTH = 6

Refusal = Callable[..., RenkeiError]
"""The context's own error class for a refused scope or row (``masterdata.tenant.mismatch`` …)."""


def is_tenant_code(value: object) -> bool:
    """Whether ``value`` is a 全国地方公共団体コード: 6 ASCII digits whose check digit holds."""
    return (
        isinstance(value, str)
        and len(value) == TENANT_LENGTH
        and value.isascii()
        and value.isdigit()
        and is_valid_local_government_code(value)
    )


@dataclass(frozen=True, slots=True)
class TenantScope:
    """One municipality's scope; made by :meth:`of`, which refuses anything but a checked tenant code."""

    tenant: str
    refuse: Refusal = field(compare=False, repr=False)

    @classmethod
    def of(cls, tenant: object, refuse: Refusal) -> TenantScope:
        """The scope of ``tenant``, or ``refuse(…)`` raised. The refused value is never echoed: it came from
        a caller and may be anything."""
        if not is_tenant_code(tenant):
            raise refuse("テナントが不正です (a scope needs a 6-digit local government code)")
        assert isinstance(tenant, str)
        return cls(tenant, refuse)

    def pin(self, *tables: FromClause) -> tuple[ColumnElement[bool], ...]:
        """``t.tenant = :tenant`` for each table (or alias) ``t``."""
        return tuple(t.c[TENANT_COLUMN] == self.tenant for t in tables)

    def join_on(self, left: FromClause, right: FromClause, *more: ColumnElement[bool]) -> ColumnElement[bool]:
        """The ON clause joining ``right`` to ``left``: ``right`` pinned, the tenants equal, then ``more``."""
        return and_(
            right.c[TENANT_COLUMN] == self.tenant,
            right.c[TENANT_COLUMN] == left.c[TENANT_COLUMN],
            *more,
        )

    def admit(self, row_tenant: object, what: str = "row") -> None:
        """Refuse (the context's error) a ``what`` of another tenant."""
        if row_tenant != self.tenant:
            raise self.refuse(
                f"テナント {self.tenant} の操作に他のテナントの{what}は使えません "
                f"(a store scoped to tenant {self.tenant} refuses a {what} of another tenant)",
                tenant=self.tenant,
                row_tenant=str(row_tenant)[:TENANT_LENGTH],
            )

    def stamp(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` with the scope's tenant; a ``tenant`` already there must be this one."""
        if TENANT_COLUMN in values:
            self.admit(values[TENANT_COLUMN])
        return {**values, TENANT_COLUMN: self.tenant}


def tenant_tables(metadata: MetaData) -> list[Table]:
    """The tables of ``metadata`` that have a ``tenant`` column (tenant-owned by construction)."""
    return sorted(
        (t for t in metadata.tables.values() if TENANT_COLUMN in t.c),
        key=lambda t: t.name,
    )


# --- the statement checker -------------------------------------------------------------------------------


@dataclass
class Offences:
    """What :func:`statement_offences` found, with counts that show the checker saw real work."""

    found: list[str] = field(default_factory=list)
    statements: int = 0
    selects: int = 0
    inserts: int = 0
    writes: int = 0

    def add(self, what: str) -> None:
        self.found.append(what)


def _base(element: Any, names: Collection[str]) -> Table | None:
    if isinstance(element, Table) and element.name in names:
        return element
    if isinstance(element, Alias):
        return _base(element.element, names)
    return None


def _conjuncts(clause: Any) -> Iterator[Any]:
    if clause is None:
        return
    if isinstance(clause, BooleanClauseList) and clause.operator is operators.and_:
        for part in clause.clauses:
            yield from _conjuncts(part)
    else:
        yield clause


def _occurrences(from_: Any, names: Collection[str]) -> Iterator[Any]:
    if isinstance(from_, Join):
        yield from _occurrences(from_.left, names)
        yield from _occurrences(from_.right, names)
    elif _base(from_, names) is not None:
        yield from_


def _ons(from_: Any) -> Iterator[Any]:
    if isinstance(from_, Join):
        yield from_.onclause
        yield from _ons(from_.left)
        yield from _ons(from_.right)


def _pins(clauses: Iterable[Any]) -> dict[Any, set[Any]]:
    """``{table or alias: {bound tenant values}}`` from top-level ``x.tenant = :param`` conjuncts."""
    pinned: dict[Any, set[Any]] = {}
    for clause in clauses:
        for conjunct in _conjuncts(clause):
            if not isinstance(conjunct, BinaryExpression) or conjunct.operator is not operators.eq:
                continue
            for column, other in ((conjunct.left, conjunct.right), (conjunct.right, conjunct.left)):
                if (
                    isinstance(column, ColumnClause)
                    and column.name == TENANT_COLUMN
                    and isinstance(other, BindParameter)
                ):
                    pinned.setdefault(column.table, set()).add(other.effective_value)
    return pinned


def statement_offences(
    statement: Any,
    rows: list[dict[str, Any]],
    tenant: str,
    tables: Collection[str],
    offences: Offences,
    *,
    append_only: Collection[str] = (),
) -> None:
    """Add to ``offences`` whatever in ``statement`` reaches the ``tables`` outside ``tenant``.

    - a SELECT (and each SELECT nested in any statement: subqueries, EXISTS): every occurrence of one of
      the tables (or an alias) in a FROM or JOIN is pinned by a top-level ``<occurrence>.tenant = :param``
      in that SELECT's WHERE or ON clauses, and every such parameter is ``tenant``;
    - an INSERT into one of them: every row's ``tenant`` is ``tenant``;
    - an UPDATE or DELETE: never on an ``append_only`` table; on another, pinned in its WHERE;
    - raw SQL text never names one of the tables.
    """
    offences.statements += 1
    if isinstance(statement, TextClause):
        named = sorted(n for n in tables if n in statement.text)
        if named:
            offences.add(f"raw SQL names tenant-owned {named}: {statement.text}")
        return
    if isinstance(statement, Update | Delete):
        table = _base(statement.table, tables)
        if table is not None:
            offences.writes += 1
            kind = type(statement).__name__
            if table.name in append_only:
                offences.add(f"{kind} on {table.name}: the table is append-only")
            else:
                values = _pins([statement.whereclause]).get(statement.table)
                if values != {tenant}:
                    offences.add(f"{kind} on {table.name} pinned to {values}, scope {tenant}")
    elif isinstance(statement, Insert):
        table = _base(statement.table, tables)
        if table is not None:
            offences.inserts += 1
            compiled = statement.compile().params
            given = rows or [compiled]
            tenants = {row.get(TENANT_COLUMN, compiled.get(TENANT_COLUMN)) for row in given}
            if tenants != {tenant}:
                offences.add(f"INSERT into {table.name} with tenants {tenants}, scope {tenant}")
    # ``iterate`` yields the statement itself and every SELECT nested in it (subqueries, EXISTS).
    for select in (s for s in visitors.iterate(statement) if isinstance(s, Select)):
        offences.selects += 1
        froms = select.get_final_froms()
        # Pins count only inside the SELECT that reads the table: a nested SELECT pins its own FROMs (a
        # correlated one repeats the outer predicate), so no subquery can read rows the outer one pinned.
        pinned = _pins([select.whereclause, *(on for f in froms for on in _ons(f))])
        for occurrence in (o for f in froms for o in _occurrences(f, tables)):
            values = pinned.get(occurrence)
            if not values:
                offences.add(f"SELECT reads {occurrence.name} without tenant = :param: {statement}")
            elif values != {tenant}:
                offences.add(f"SELECT pins {occurrence.name} to {values}, scope {tenant}")


@contextmanager
def watching(
    scope: list[str],
    tables: Collection[str],
    offences: Offences,
    *,
    append_only: Collection[str] = (),
) -> Iterator[None]:
    """Check every statement any engine executes while the block runs against the tenant ``scope[0]``
    (a list, so the caller can move it between tenants)."""

    def listener(
        conn: Connection, clauseelement: Any, multiparams: Any, params: Any, execution_options: Any
    ) -> None:
        rows: list[dict[str, Any]] = []
        for group in multiparams:
            rows.extend(group if isinstance(group, list | tuple) else [group])
        if params:
            rows.append(dict(params))
        statement_offences(clauseelement, rows, scope[0], tables, offences, append_only=append_only)

    event.listen(Engine, "before_execute", listener)
    try:
        yield
    finally:
        event.remove(Engine, "before_execute", listener)
