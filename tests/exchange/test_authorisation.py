"""The hub's authorisation agrees with the linkage matrix (``decide``) for every unit pair and kind."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from renkei.errors import RenkeiError
from renkei.exchange.authorisation import authorise
from renkei.registry.identifiers import MemberId
from renkei.registry.memory import MemoryRegistryRepository
from renkei.registry.service import Registry
from renkei.spec.authorisation import decide
from renkei.spec.loader import load_spec
from renkei.spec.models import ServiceKind, UnitStatus
from renkei.storage.clock import FixedClock

SPEC = load_spec()
ORG = "JP/LG/131016"
UNITS = [u.number for u in SPEC.units if u.status is not UnitStatus.SUPERSEDED]
QUERIES = [(k.id, s.id) for k, s in SPEC.services() if s.kind is ServiceKind.QUERY]


def _registry() -> Registry:
    """Every active unit is a member system providing every service its unit may provide; one purpose
    uses every information kind."""
    registry = Registry(SPEC, MemoryRegistryRepository(), FixedClock(datetime(2026, 4, 1, tzinfo=UTC)))
    registry.add_organisation("LG", "131016", "千代田区")
    for unit in UNITS:
        registry.add_member(ORG, unit, endpoint="https://example.lg.jp/renkei")
        for _, service in registry.providable_services(unit):
            if service.kind is ServiceKind.QUERY:
                registry.provide(f"{ORG}/u{unit:02d}", service.id)
    registry.add_purpose("everything", "全て", "テスト", {k.id: None for k in SPEC.information})
    return registry


REGISTRY = _registry()


@settings(max_examples=400, deadline=None)
@given(client=st.sampled_from(UNITS), provider=st.sampled_from(UNITS), query=st.sampled_from(QUERIES))
def test_the_hub_allows_exactly_what_the_matrix_allows(
    client: int, provider: int, query: tuple[str, str]
) -> None:
    information, service = query
    verdict = decide(SPEC, information, provider, client)
    client_id = MemberId.parse(f"{ORG}/u{client:02d}")
    provider_id = MemberId.parse(f"{ORG}/u{provider:02d}")
    try:
        grant = authorise(REGISTRY, client_id, provider_id, service, "everything")
    except RenkeiError as error:
        denied_by = error.detail.get("rule")
    else:
        assert verdict.allowed and grant.rule == verdict.rule
        return
    assert not verdict.allowed
    assert denied_by == "spec.matrix"


def test_every_triple_agrees() -> None:
    """The exhaustive form of the property (a few thousand cases, so it runs in well under a second)."""
    for client in UNITS:
        for provider in UNITS:
            for information, service in QUERIES:
                allowed = decide(SPEC, information, provider, client).allowed
                try:
                    authorise(
                        REGISTRY,
                        MemberId.parse(f"{ORG}/u{client:02d}"),
                        MemberId.parse(f"{ORG}/u{provider:02d}"),
                        service,
                        "everything",
                    )
                except RenkeiError:
                    assert not allowed
                else:
                    assert allowed


@pytest.mark.parametrize("purpose", [None, "", "nope"])
def test_a_missing_or_unknown_purpose_is_denied_by_the_registry(purpose: str | None) -> None:
    with pytest.raises(RenkeiError) as caught:
        authorise(
            REGISTRY,
            MemberId.parse(f"{ORG}/u17"),
            MemberId.parse(f"{ORG}/u06"),
            "income-certificate",
            purpose,
        )
    assert caught.value.detail["rule"] == "registry.purpose"
