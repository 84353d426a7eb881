"""Tenancy as architecture (issue 6): which data belongs to whom, and a guard no caller can forget.

- Every table of the schema is classified here — tenant-owned, organisation-keyed or shared — with the
  reason (the same table as ``docs/tenancy.md``), so a new table cannot arrive unclassified.
- A tenant-owned table has a ``tenant`` column that leads its primary key and every foreign key; and any
  table with a ``tenant`` column must be declared tenant-owned (and so falls under the checks below).
- Outside its adapter, no module of ``src/renkei`` touches a tenant-owned table: no import of the table
  objects, no attribute access to them, no SQL text naming them (migrations create them, nothing else).
- An adapter's unscoped store offers nothing but ``scoped(tenant)``; a scope refuses a malformed code.
- Every public method of every scoped store is driven for two tenants holding the same keys while the
  shared statement checker (``renkei.storage.sql.tenantscope``) inspects each executed statement: every
  read of a tenant-owned table is pinned to the scope's tenant, every inserted row carries it, and the
  append-only tables are never updated or deleted.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from tests.masterdata.builders import CHIYODA, CHUO, sqlite_master
from tests.masterdata.conftest import Master
from tests.masterdata.test_tenant_scoping import drive_master

import renkei.storage.sql.schema  # noqa: F401  (every table registered)
from renkei.masterdata.errors import TenantMismatch
from renkei.masterdata.models import TenantCode
from renkei.masterdata.ports import Feed, Rejection
from renkei.spec.models import Spec
from renkei.storage.sql.engine import connection_source
from renkei.storage.sql.tables import metadata
from renkei.storage.sql.tenantscope import (
    Offences,
    TenantScope,
    statement_offences,
    tenant_tables,
    watching,
)

SRC = Path(__file__).resolve().parents[2] / "src" / "renkei"
ADAPTERS = SRC / "storage" / "sql"
MIGRATIONS = SRC / "storage" / "migrations"

#: Rows that belong to one municipality: a ``tenant`` column, reached only through ``scoped(tenant)``.
TENANT_OWNED = {
    "masterdata_assertion": "統合DB: a municipality's applied 住基 / 住登外 events",
    "masterdata_version": "統合DB: a municipality's bitemporal versions of its residents",
    "masterdata_supersession": "統合DB: the closing of those versions",
    "masterdata_intake_cursor": "統合DB intake: how far the municipality's master has read its feeds",
    "masterdata_intake_rejection": "統合DB intake: events the municipality's master refused",
}
#: Only ever added to.
APPEND_ONLY = frozenset(TENANT_OWNED)

#: Rows that belong to one organisation, named by a member id (the organisation is its prefix); the
#: owner may be a municipality or not (GOV, COM). Guarded in the service, see docs/tenancy.md.
ORGANISATION_KEYED = {
    "exchange_subscription": "a member system's subscription; changed only by that member (or the operator)",
    "exchange_event": "a publisher's events; read through feeds only within the reader's subscription",
    "exchange_delivery": "the hub's outbox: one push to one subscriber, worked by the hub itself",
}

#: Shared by the whole deployment, with why.
SHARED = {
    "spec_release": "the standard in force: the same for every municipality",
    "registry_organisation": "the hub's directory (X-Road members): public to every member",
    "registry_member": "the hub's directory: member systems",
    "registry_service": "the hub's directory: services offered",
    "registry_credential": "the hub's directory: public keys and certificates",
    "registry_purpose": "事務 and their legal basis: law, the same everywhere",
    "registry_purpose_use": "what each 事務 may use: law, the same everywhere",
    "registry_replay": "the hub's single-use nonces of signed requests",
    "exchange_message": "the hub's message log (交換記録): the hub's own evidence, hashes only",
    "exchange_reply": "the hub's idempotency and async-result store, keyed by the calling member",
    "audit_record": "情報提供等記録: the deployment's one append-only Merkle log, both ends per record",
    "audit_node": "the Merkle tree's nodes",
    "audit_head": "the signed tree heads",
    "identity_person": "the linkage base: one person across all organisations (番号法's 情報提供NWS)",
    "identity_number": "個人番号 issuance: national, one sequence",
    "identity_sequence": "issuance counters: national",
    "identity_basic_info": "基本4情報 of the linkage base: national",
    "identity_fugo": "符号 per organisation, derived inside the linkage base only",
    "identity_local_id": "宛名番号 per organisation, used by ID conversion inside the linkage base only",
    "identity_organisation": "the linkage base's organisations and 符号 generations",
    "identity_card": "simulated IC cards of persons: national",
    "identity_login_nonce": "card login challenges",
    "identity_resident_code": "住民票コード: national (住基ネット), sealed",
    "commons_alert": "公共情報コモンズ: public information, published to everyone",
    "commons_feed_entry": "公共情報コモンズ: the public Atom feed",
    "commons_subscriber": "公共情報コモンズ: media (情報伝達者), not a municipality's data",
    "commons_delivery": "公共情報コモンズ: pushes to media",
    "tenancy_deployment": "this deployment's federation identity",
    "tenancy_peer": "deployments this one trusts",
    "tenancy_peer_member": "member systems peers host",
    "tenancy_peer_organisation": "organisations peers host",
}


def test_every_table_is_classified_once() -> None:
    classes = [set(TENANT_OWNED), set(ORGANISATION_KEYED), set(SHARED)]
    assert not (classes[0] & classes[1] or classes[0] & classes[2] or classes[1] & classes[2])
    unclassified = set(metadata.tables) - set().union(*classes)
    assert unclassified == set(), "classify the new table here and in docs/tenancy.md"
    assert set().union(*classes) - set(metadata.tables) == set(), "a classified table no longer exists"


def test_tenant_owned_tables_lead_with_the_tenant_and_no_other_table_has_one() -> None:
    assert {t.name for t in tenant_tables(metadata)} == set(TENANT_OWNED), (
        "a table with a tenant column is tenant-owned: declare it (and its scoped store) here"
    )
    for name in TENANT_OWNED:
        table = metadata.tables[name]
        tenant = table.c.tenant
        assert not tenant.nullable and next(iter(table.primary_key.columns)) is tenant, name
        for fk in table.foreign_key_constraints:
            pairs = {(e.parent.name, e.column.name) for e in fk.elements}
            assert ("tenant", "tenant") in pairs, f"{name}: {fk.name} crosses tenants"
        for index in table.indexes:
            assert next(iter(index.columns)) is tenant, f"{name}: index {index.name} not led by tenant"


# --- static: nobody outside the adapter touches the tables -----------------------------------------------


def _modules() -> Iterator[tuple[Path, ast.Module]]:
    for path in sorted(SRC.rglob("*.py")):
        yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _adapters() -> dict[Path, set[str]]:
    """``{adapter module: names bound there to tenant-owned tables (or tuples of them)}``."""
    found: dict[Path, set[str]] = {}
    for path in sorted(ADAPTERS.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bound: set[str] = set()
        for node in tree.body:
            if not isinstance(node, ast.Assign) or len(node.targets) != 1:
                continue
            target = node.targets[0]
            if not isinstance(target, ast.Name):
                continue
            value = node.value
            if (
                isinstance(value, ast.Call)
                and getattr(value.func, "id", "") == "Table"
                and value.args
                and isinstance(value.args[0], ast.Constant)
                and value.args[0].value in TENANT_OWNED
            ):
                bound.add(target.id)
            elif isinstance(value, ast.Name) and value.id in bound:
                bound.add(target.id)  # an alias (_a = masterdata_assertion)
            elif isinstance(value, ast.Tuple) and any(
                isinstance(e, ast.Name) and e.id in bound for e in value.elts
            ):
                bound.add(target.id)  # TABLES
        if bound:
            found[path] = bound
    return found


def _module_name(path: Path) -> str:
    return ".".join(("renkei", *path.relative_to(SRC).with_suffix("").parts))


def test_only_the_adapter_touches_a_tenant_owned_table() -> None:
    adapters = _adapters()
    assert {p.name for p in adapters} == {"masterdata.py"}, "a new tenant adapter: drive it below"
    names = {_module_name(p): bound for p, bound in adapters.items()}
    offences = []
    for path, tree in _modules():
        if path in adapters or MIGRATIONS in path.parents:
            continue
        aliases: dict[str, str] = {}  # local name → adapter module
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in names:
                touched = {a.name for a in node.names} & names[node.module]
                offences += [f"{path.name} imports {node.module}.{n}" for n in sorted(touched)]
            elif isinstance(node, ast.ImportFrom) and node.module:
                for a in node.names:
                    if f"{node.module}.{a.name}" in names:
                        aliases[a.asname or a.name] = f"{node.module}.{a.name}"
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in names:
                        aliases[a.asname or a.name] = a.name
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                owner = ast.unparse(node.value)
                module = aliases.get(owner, owner)
                if module in names and node.attr in names[module]:
                    offences.append(f"{path.name} reads {owner}.{node.attr}")
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                sql = node.value.upper()
                for table in TENANT_OWNED:
                    if any(f"{verb} {table.upper()}" in sql for verb in ("FROM", "JOIN", "INTO", "UPDATE")):
                        offences.append(f"{path.name} has SQL naming {table}")
    assert offences == []


def test_an_unscoped_store_offers_only_scoped_and_a_scope_checks_its_tenant(tmp_path: Path) -> None:
    from renkei.storage.sql import masterdata as adapter

    stores = [adapter.SqlMasterDataStore, adapter.SqlIntakeStore]
    for store in stores:
        public = {n for n, _ in inspect.getmembers(store) if not n.startswith("_")}
        assert public == {"scoped"}, store.__name__
    unscoped = [
        c
        for _, c in inspect.getmembers(adapter, inspect.isclass)
        if c.__module__ == adapter.__name__ and "scoped" in vars(c)
    ]
    assert sorted(c.__name__ for c in unscoped) == sorted(s.__name__ for s in stores)
    for store in stores:
        made: Any = store(_no_connection)
        for bad in ("131017", "13101", "1310160", "131016 ", "１３１０１６", "' OR '1'='1", 131016, None):
            with pytest.raises(TenantMismatch) as raised:
                made.scoped(bad)
            assert raised.value.code == "masterdata.tenant.mismatch"
            assert "OR" not in raised.value.message, "the refused value is never echoed"


def _no_connection(write: bool) -> Any:
    raise AssertionError("no statement runs before the tenant is checked")


# --- dynamic: every statement of every scoped store is pinned ----------------------------------------


T0 = datetime(2026, 4, 1, tzinfo=UTC)


def _drive_intake(master: Master, scope: list[str]) -> None:
    from renkei.storage.sql.masterdata import SqlIntakeStore

    store = SqlIntakeStore(connection_source(master.storage))
    feed = Feed("JP/LG/131016/u09", "JP/LG/131016/u01", "resident-changes")
    for tenant in (CHIYODA, CHUO):
        scope[0] = tenant
        intake = store.scoped(TenantCode(tenant))
        assert intake.tenant == tenant
        intake.cursor(feed)
        intake.advance(feed, 5, T0, applied=5, rejected=0)
        intake.advance(feed, 3, T0, applied=0, rejected=0)  # refused: backwards
        intake.reject(Rejection(TenantCode(tenant), "ev-1", feed, "masterdata.event.invalid", None, T0))
        intake.reject(Rejection(TenantCode(tenant), "ev-1", feed, "masterdata.event.invalid", None, T0))
        intake.rejections()
        other = CHUO if tenant == CHIYODA else CHIYODA
        with pytest.raises(TenantMismatch):
            intake.reject(Rejection(TenantCode(other), "ev-2", feed, "masterdata.event.invalid", None, T0))
        assert [r.event_id for r in intake.rejections()] == ["ev-1"]
        assert intake.cursor(feed) == 5


def _scoped_classes() -> list[type]:
    """Classes of the tenant adapters that hold a scope: made by ``TenantScope.of`` or handed one."""
    from renkei.storage.sql import masterdata as adapter

    found = []
    for _, cls in inspect.getmembers(adapter, inspect.isclass):
        if cls.__module__ != adapter.__name__ or "__init__" not in vars(cls):
            continue
        source = inspect.getsource(cls.__init__)
        if "TenantScope.of(" in source or ": TenantScope" in source:
            found.append(cls)
    return found


def test_every_statement_of_every_scoped_store_is_pinned(
    tmp_path: Path, spec: Spec, monkeypatch: pytest.MonkeyPatch
) -> None:
    classes = _scoped_classes()
    assert {c.__name__ for c in classes} == {"SqlTenantMaster", "SqlPersonWriter", "SqlTenantIntake"}
    called: set[tuple[str, str]] = set()
    public: set[tuple[str, str]] = set()
    for cls in classes:
        for name, _ in inspect.getmembers(cls):
            original = inspect.getattr_static(cls, name)
            if name.startswith("_") or isinstance(original, property):
                continue
            public.add((cls.__name__, name))

            def spy(
                *args: Any, __original: Any = original, __key: Any = (cls.__name__, name), **kw: Any
            ) -> Any:
                called.add(__key)
                return __original(*args, **kw)

            monkeypatch.setattr(cls, name, spy)
    offences = Offences()
    with sqlite_master(tmp_path, spec) as (service, storage, clock):
        master = Master(service, storage, clock)
        scope = [CHIYODA]
        with watching(scope, set(TENANT_OWNED), offences, append_only=APPEND_ONLY):
            drive_master(master, scope)
            clock.advance(timedelta(seconds=1))
            _drive_intake(master, scope)
    assert offences.found == []
    assert offences.selects > 20 and offences.inserts > 14
    assert public - called == set(), "drive every public method of a scoped store here"


def test_the_shared_checker_can_fail() -> None:
    from renkei.storage.sql.masterdata import masterdata_intake_cursor as c

    tables = {c.name}
    scope = TenantScope.of(CHIYODA, TenantMismatch)
    cases: list[tuple[Any, list[dict[str, Any]], frozenset[str]]] = [
        (select(c), [], frozenset()),
        (select(c).where(c.c.tenant == CHUO), [], frozenset()),
        (select(c).where((c.c.tenant == CHIYODA) | (c.c.topic == "x")), [], frozenset()),
        (update(c).values(applied=0), [], frozenset()),
        (update(c).where(c.c.tenant == CHUO).values(applied=0), [], frozenset()),
        (update(c).where(*scope.pin(c)).values(applied=0), [], frozenset(tables)),  # append-only
        (c.insert(), [{"tenant": CHUO}], frozenset()),
        (c.insert(), [scope.stamp({}), {"tenant": CHUO}], frozenset()),
    ]
    for statement, rows, append_only in cases:
        offences = Offences()
        statement_offences(statement, rows, CHIYODA, tables, offences, append_only=append_only)
        assert offences.found, statement
    clean = Offences()
    statement_offences(update(c).where(*scope.pin(c)).values(applied=0), [], CHIYODA, tables, clean)
    statement_offences(select(c).where(*scope.pin(c)), [], CHIYODA, tables, clean)
    statement_offences(c.insert(), [scope.stamp({"topic": "t"})], CHIYODA, tables, clean)
    assert clean.found == [] and clean.statements == 3
    with pytest.raises(TenantMismatch):
        scope.stamp({"tenant": CHUO})
    with pytest.raises(TenantMismatch):
        scope.admit(CHUO)
