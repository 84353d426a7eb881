"""The hub's TLS credentials: issued once, kept 0600, reissued when they no longer fit; the client context
chosen per peer origin."""

from __future__ import annotations

import stat
from datetime import timedelta

import pytest

from renkei.registry.ca import deployment_urn, san_uris
from renkei.storage.clock import SystemClock
from renkei.tenancy.errors import TlsUnavailable
from renkei.tenancy.tls import TLS_DIRECTORY, HubTls
from tests.tenancy.harness import Site


def test_the_hub_certificate_is_kept_and_reused(sites: tuple[Site, Site]) -> None:
    dc1, _ = sites
    first = dc1.tls.credentials()
    assert first.path == dc1.data_dir / TLS_DIRECTORY / "hub.pem"
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
    assert san_uris(first.certificate) == [deployment_urn("DC1")]
    assert dc1.tls.credentials().certificate == first.certificate
    # Another process of the same deployment reads the same pair.
    again = HubTls(dc1.federation, dc1.authority, dc1.data_dir / TLS_DIRECTORY, SystemClock())
    assert again.credentials().certificate == first.certificate


def test_credentials_that_no_longer_fit_are_reissued(sites: tuple[Site, Site], clock: SystemClock) -> None:
    dc1, dc2 = sites
    path = dc1.tls.credentials().path
    serial = dc1.tls.credentials().certificate.serial_number
    dc1.federation.configure("DC1", "https://hub.dc1.example:8443")  # a host the certificate lacks
    moved = dc1.tls.credentials().certificate
    assert moved.serial_number != serial
    assert "hub.dc1.example" in str(moved.extensions)
    path.write_bytes(b"half-written")
    assert dc1.tls.credentials().certificate.serial_number != moved.serial_number
    path.write_bytes(dc2.tls.credentials().path.read_bytes())  # another deployment's pair
    assert san_uris(dc1.tls.credentials().certificate) == [deployment_urn("DC1")]
    current = dc1.tls.credentials().certificate.serial_number
    # Within renew_before of expiry (a year's certificate, renewed 400 days ahead): a fresh pair each time.
    expiring = HubTls(dc1.federation, dc1.authority, path.parent, clock, renew_before=timedelta(days=400))
    renewed = expiring.credentials().certificate.serial_number
    assert renewed != current
    assert expiring.credentials().certificate.serial_number != renewed


def test_a_key_file_others_can_read_is_refused(sites: tuple[Site, Site]) -> None:
    dc1, _ = sites
    path = dc1.tls.credentials().path
    path.chmod(0o644)
    with pytest.raises(TlsUnavailable, match="chmod 600"):
        dc1.tls.credentials()


def test_the_client_context_is_the_peers_own(sites: tuple[Site, Site]) -> None:
    dc1, dc2 = sites
    assert dc1.tls.context_for("127.0.0.1", 1) is None
    assert dc1.tls.context_for("example.org", dc2.port) is None
    context = dc1.tls.context_for("127.0.0.1", dc2.port)
    assert context is not None
    assert context is dc1.tls.client_context(dc1.federation.peer("DC2"))  # built once
    [anchor] = context.get_ca_certs()
    assert anchor["subject"] == ((("commonName", "renkei DC2 CA"),),)
    server = dc2.tls.server_context()
    assert {c["subject"] for c in server.get_ca_certs()} == {
        ((("commonName", "renkei DC1 CA"),),),
        ((("commonName", "renkei DC2 CA"),),),
    }
