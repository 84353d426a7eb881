"""Builders for the integrated DB's tests: tenants, 宛名番号, 異動 events, a master on SQLite."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from renkei.japanese.checkdigit import (
    complete_local_government_code,
    generate_atena_number,
    generate_household_number,
)
from renkei.masterdata.models import JST
from renkei.masterdata.service import MasterData
from renkei.spec.models import Spec
from renkei.storage.clock import FixedClock
from renkei.storage.ports import Storage
from renkei.storage.sql import create_storage
from renkei.storage.sql.engine import connection_source
from renkei.storage.sql.masterdata import SqlMasterDataStore

CHIYODA = "131016"
CHUO = "131024"
T0 = datetime(2026, 4, 1, 0, 0, tzinfo=UTC)


def atena(n: int) -> str:
    """The ``n``-th 宛名番号 (15 digits, M11W2-7 check digit)."""
    return generate_atena_number(f"{n:014d}")


def household(n: int) -> str:
    """The ``n``-th 世帯番号."""
    return generate_household_number(f"9{n:013d}")


_tenants = itertools.count(10000)


def fresh_tenant() -> str:
    """A valid 全国地方公共団体コード not used before in this process (one tenant per hypothesis example)."""
    return complete_local_government_code(f"{next(_tenants):05d}")


def resident(
    number: int = 1,
    *,
    reason: str = "101",
    on: date = date(2026, 4, 1),
    name: str = "山田 花子",
    address: str = "東京都千代田区千代田1-1",
    home: int = 1,
    status: str = "1",
    **extra: Any,
) -> dict[str, Any]:
    """The items of a 住民異動通知 event: the person's whole record after the change."""
    items: dict[str, Any] = {
        "atena_number": atena(number),
        "household_number": household(home),
        "name": name,
        "name_kana": "ヤマダ ハナコ",
        "birth_date": "1990-05-01",
        "sex": "2",
        "relationship": "01",
        "head_of_household_name": name,
        "address": address,
        "change_reason": reason,
        "change_date": on.isoformat(),
        "notification_date": on.isoformat(),
        "resident_type": "1",
        "resident_status": status,
    }
    items.update(extra)
    return items


def non_resident(
    number: int = 500,
    *,
    on: date = date(2026, 4, 1),
    name: str = "佐藤 一郎",
    status: str = "1",
    **extra: Any,
) -> dict[str, Any]:
    """The items of a 住登外者異動通知 event."""
    items: dict[str, Any] = {
        "atena_number": atena(number),
        "name": name,
        "address": "大阪府大阪市北区1-1",
        "registration_reason": "01",
        "registration_date": "2025-01-10",
        "non_resident_status": status,
        "updated_date": on.isoformat(),
    }
    items.update(extra)
    return items


def occurred(day: date, hour: int = 10) -> datetime:
    """An occurrence instant on a Japanese calendar day."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=JST)


@contextmanager
def sqlite_master(
    tmp_path: Path, spec: Spec, clock: FixedClock | None = None
) -> Iterator[tuple[MasterData, Storage, FixedClock]]:
    """A :class:`MasterData` on a fresh SQLite file, with a clock the test moves."""
    storage = create_storage(f"sqlite:///{tmp_path / 'masterdata.db'}")
    clock = clock or FixedClock(T0)
    try:
        yield MasterData(SqlMasterDataStore(connection_source(storage)), spec, clock), storage, clock
    finally:
        storage.close()


def later(clock: FixedClock, seconds: int = 60) -> datetime:
    return clock.advance(timedelta(seconds=seconds))
