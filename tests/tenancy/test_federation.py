"""This deployment's identity and routing: a member system is served here, by the peer that lists it, by the
one peer hosting its organisation, or — when several could — refused as ambiguous."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from renkei.registry.identifiers import MemberId
from renkei.spec.models import Spec
from renkei.storage.clock import SystemClock
from renkei.tenancy.errors import (
    DeploymentConflict,
    DeploymentInvalid,
    DeploymentUnconfigured,
    PeerConflict,
    PeerUnknown,
    RouteAmbiguous,
)
from renkei.tenancy.models import Local, Remote, Route
from tests.tenancy.conftest import enrol
from tests.tenancy.harness import CHIYODA, CHUO, Site, build_site

SHINJUKU = "131041"  # 新宿区


def where(route: Route) -> str:
    return route.peer.deployment if isinstance(route, Remote) else "local"


@pytest.fixture
def third(
    tmp_path: Path, spec: Spec, clock: SystemClock, database: Callable[[], str | None]
) -> Iterator[Site]:
    site = build_site("DC3", tmp_path, spec, clock, database_url=database())
    try:
        yield site
    finally:
        site.close()


@pytest.mark.parametrize("deployment", ["", "dc1", "1DC", "DC_1", "D" * 33, "DC1\n", "ＤＣ１"], ids=repr)
def test_a_malformed_deployment_id_is_refused(sites: tuple[Site, Site], deployment: str) -> None:
    dc1, _ = sites
    with pytest.raises(DeploymentInvalid) as refused:
        dc1.federation.configure(deployment, "https://127.0.0.1:8443")
    assert refused.value.detail["field"] == "deployment"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8443",
        "https://",
        "https://user@127.0.0.1:8443",
        "https://127.0.0.1:8443/hub",
        "https://127.0.0.1:8443?x=1",
        "https://127.0.0.1:99999",
        "ftp://127.0.0.1",
    ],
)
def test_a_hub_url_that_is_not_a_tls_origin_is_refused(sites: tuple[Site, Site], url: str) -> None:
    dc1, _ = sites
    with pytest.raises(DeploymentInvalid) as refused:
        dc1.federation.configure("DC1", url)
    assert refused.value.detail["field"] == "hub_url"


def test_the_deployment_id_is_fixed_and_the_url_may_move(sites: tuple[Site, Site]) -> None:
    dc1, _ = sites
    moved = dc1.federation.configure("DC1", "https://[::1]:9443/")
    assert (moved.id, moved.hub_url) == ("DC1", "https://[::1]:9443")
    assert dc1.federation.deployment() == moved
    with pytest.raises(DeploymentConflict):
        dc1.federation.configure("DC7", "https://127.0.0.1:8443")
    with pytest.raises(PeerConflict):  # DC2 is a trusted peer's name
        dc1.federation.configure("DC2", "https://127.0.0.1:8443")
    assert dc1.federation.deployment().id == "DC1"


def test_an_unconfigured_deployment_exports_nothing(tmp_path: Path, spec: Spec, clock: SystemClock) -> None:
    site = build_site("DC5", tmp_path, spec, clock, configure=False)
    try:
        for attempt in (site.federation.deployment, site.federation.export_trust_list, site.tls.credentials):
            with pytest.raises(DeploymentUnconfigured):
                attempt()
    finally:
        site.close()


def test_routes_follow_what_each_deployment_hosts(sites: tuple[Site, Site], third: Site) -> None:
    dc1, _ = sites
    route = dc1.federation.route
    assert isinstance(route(MemberId.parse(f"JP/LG/{CHIYODA}/u17")), Local)
    assert where(route(MemberId.parse(f"JP/LG/{CHUO}/u06"))) == "DC2"
    # Not listed, but 中央区 is hosted by DC2 alone: DC2's hub answers (or says it does not know it).
    assert where(route(MemberId.parse(f"JP/LG/{CHUO}/u01"))) == "DC2"
    # Nobody hosts 新宿区: the local hub reports it unknown, as it always did.
    assert isinstance(route(MemberId.parse(f"JP/LG/{SHINJUKU}/u01")), Local)
    # The seed's case (b): 千代田区 runs 乳幼児医療 in DC1 and 国民年金 in DC3.
    enrol(third, CHIYODA, "千代田区", 15)
    dc1.federation.trust(third.federation.export_trust_list())
    assert where(route(MemberId.parse(f"JP/LG/{CHIYODA}/u15"))) == "DC3"
    assert isinstance(route(MemberId.parse(f"JP/LG/{CHIYODA}/u17")), Local)
    # 中央区 in two peers: a member neither lists cannot be routed.
    enrol(third, CHUO, "中央区", 10)
    dc1.federation.trust(third.federation.export_trust_list())
    with pytest.raises(RouteAmbiguous) as ambiguous:
        route(MemberId.parse(f"JP/LG/{CHUO}/u01"))
    assert ambiguous.value.detail["peers"] == ["DC2", "DC3"]
    assert where(route(MemberId.parse(f"JP/LG/{CHUO}/u10"))) == "DC3"
    assert where(route(MemberId.parse(f"JP/LG/{CHUO}/u06"))) == "DC2"


def test_a_forgotten_peer_routes_nowhere(sites: tuple[Site, Site]) -> None:
    dc1, _ = sites
    dc1.federation.forget("DC2")
    assert isinstance(dc1.federation.route(MemberId.parse(f"JP/LG/{CHUO}/u06")), Local)
    assert dc1.federation.peers() == []
    with pytest.raises(PeerUnknown):
        dc1.federation.forget("DC2")
    with pytest.raises(PeerUnknown):
        dc1.federation.peer("DC2")
