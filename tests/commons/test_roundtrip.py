"""Model → CAP 1.2 XML → model and model → EDXL-DE 1.0 → model are lossless."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from renkei.commons.cap import parse_cap, to_cap_xml
from renkei.commons.edxl import parse_edxl, to_edxl_xml
from renkei.commons.model import Alert, Distribution
from tests.commons.strategies import alerts, distributions

_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(alerts)
def test_cap_round_trip_is_lossless(alert: Alert) -> None:
    assert parse_cap(to_cap_xml(alert)) == alert


@_SETTINGS
@given(distributions)
def test_edxl_round_trip_is_lossless(distribution: Distribution) -> None:
    assert parse_edxl(to_edxl_xml(distribution)) == distribution
