"""A member id naming a unit the standard does not define is denied with a typed rule, not a hub failure."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from renkei.app import build_platform
from renkei.exchange.authorisation import authorise
from renkei.exchange.errors import AccessDenied
from renkei.registry.identifiers import MemberId
from renkei.settings import Settings
from renkei.storage.clock import FixedClock


def test_unknown_provider_unit_is_denied_naming_the_rule(tmp_path: Path) -> None:
    platform = build_platform(
        Settings(data_dir=tmp_path / "var"), clock=FixedClock(datetime(2026, 4, 1, tzinfo=UTC))
    )
    try:
        with pytest.raises(AccessDenied) as denied:
            authorise(
                platform.registry,
                MemberId.parse("JP/LG/131016/u17"),
                MemberId.parse("JP/LG/131016/u99"),
                "income-certificate",
                "infant-medical-subsidy",
            )
        assert denied.value.detail["rule"] == "spec.unit"
        assert denied.value.http_status == 403
    finally:
        platform.storage.close()
