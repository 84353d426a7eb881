"""What every router receives: the platform's wired services, from ``app.state``."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from renkei.audit.service import AuditLog
from renkei.commons.service import CommonsService
from renkei.exchange.notifications.service import NotificationHub
from renkei.exchange.service import ExchangeHub
from renkei.identity.service import IdentityService, LinkageBase
from renkei.masterdata.service import MasterData
from renkei.net.http import HttpClient
from renkei.registry.auth import RequestAuthenticator
from renkei.registry.directory import Directory
from renkei.registry.service import Registry
from renkei.settings import Settings
from renkei.spec.models import Spec
from renkei.storage.ports import Clock, Storage
from renkei.tenancy.federation import Federation
from renkei.tenancy.ports import PeerDirectory
from renkei.tenancy.tls import HubTls


@dataclass(frozen=True, slots=True)
class Platform:
    """The services ``app.build_platform`` wired for this deployment."""

    settings: Settings
    spec: Spec
    storage: Storage
    clock: Clock
    registry: Registry
    directory: Directory
    authenticator: RequestAuthenticator
    audit: AuditLog
    identity: IdentityService
    linkage: LinkageBase
    commons: CommonsService
    exchange: ExchangeHub
    notifications: NotificationHub
    masterdata: MasterData
    peer_directory: PeerDirectory
    federation: Federation
    hub_tls: HubTls
    peer_client: HttpClient
    """Mutual-TLS HTTP to peer hubs (closed with the app)."""


def platform(request: Request) -> Platform:
    found = request.app.state.platform
    assert isinstance(found, Platform)
    return found
