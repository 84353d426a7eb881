"""Spec release history: record, idempotence, conflict, current, history order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from renkei.storage.errors import StorageConflict
from renkei.storage.models import SpecRelease
from tests.contract.backends import Backend

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


def test_a_new_database_has_no_release(backend: Backend) -> None:
    releases = backend.storage.spec_releases
    assert releases.current() is None
    assert releases.history() == []
    assert releases.get("2012.1") is None


def test_record_returns_the_stored_release(backend: Backend) -> None:
    releases = backend.storage.spec_releases
    recorded = releases.record("2012.1", "sha256:aa", T0)
    assert recorded == SpecRelease("2012.1", "sha256:aa", T0)
    assert releases.get("2012.1") == recorded
    assert releases.current() == recorded
    assert releases.history() == [recorded]


def test_recording_the_same_version_and_digest_again_is_idempotent(backend: Backend) -> None:
    releases = backend.storage.spec_releases
    first = releases.record("2012.1", "sha256:aa", T0)
    again = releases.record("2012.1", "sha256:aa", T0 + timedelta(days=3))
    assert again == first, "the original activation time is kept"
    assert releases.history() == [first]


def test_a_published_version_never_changes_its_digest(backend: Backend) -> None:
    releases = backend.storage.spec_releases
    first = releases.record("2012.1", "sha256:aa", T0)
    with pytest.raises(StorageConflict) as raised:
        releases.record("2012.1", "sha256:bb", T0 + timedelta(days=1))
    assert raised.value.code == "storage.conflict"
    assert raised.value.detail == {"version": "2012.1", "recorded_digest": "sha256:aa", "digest": "sha256:bb"}
    assert "2012.1" in raised.value.message
    assert releases.history() == [first]


def test_current_is_the_latest_activation_and_history_is_chronological(backend: Backend) -> None:
    releases = backend.storage.spec_releases
    # Recorded out of order: order follows activation time, not recording order or version text.
    b = releases.record("2.0", "d2", T0 + timedelta(days=30))
    a = releases.record("1.0", "d1", T0)
    c = releases.record("10.0", "d10", T0 + timedelta(days=60))
    assert releases.history() == [a, b, c]
    assert releases.current() == c


def test_releases_activated_at_the_same_instant_keep_recording_order(backend: Backend) -> None:
    releases = backend.storage.spec_releases
    recorded = [releases.record(v, f"d-{v}", T0) for v in ("b", "a", "c")]
    assert releases.history() == recorded
    assert releases.current() == recorded[-1]


def test_another_storage_on_the_same_database_sees_the_release(backend: Backend) -> None:
    recorded = backend.storage.spec_releases.record("2012.1", "sha256:aa", T0)
    assert backend.open().spec_releases.current() == recorded
