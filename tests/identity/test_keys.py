"""Key stores: a file store creates a random key once, 0600, and refuses keys others can read."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from renkei.identity.errors import KeyStoreError
from renkei.identity.keys import FileKeyStore, MemoryKeyStore


def test_file_key_store_creates_once_with_0600(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path / "keys")
    key = store.secret("identity.test", 32)
    assert len(key) == 32
    path = tmp_path / "keys" / "identity.test.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert FileKeyStore(tmp_path / "keys").secret("identity.test", 32) == key
    assert store.secret("identity.other", 32) != key
    assert [p.name for p in sorted((tmp_path / "keys").iterdir())] == [
        "identity.other.key",
        "identity.test.key",
    ]


def test_file_key_store_refuses_readable_or_wrong_size_keys(tmp_path: Path) -> None:
    store = FileKeyStore(tmp_path)
    store.secret("a", 32)
    os.chmod(tmp_path / "a.key", 0o644)
    with pytest.raises(KeyStoreError, match="0600"):
        store.secret("a", 32)
    os.chmod(tmp_path / "a.key", 0o600)
    with pytest.raises(KeyStoreError, match="expected 16"):
        store.secret("a", 16)
    with pytest.raises(KeyStoreError):
        store.secret("../escape", 32)


def test_memory_key_store_is_stable() -> None:
    store = MemoryKeyStore()
    assert store.secret("k", 32) == store.secret("k", 32)
    assert MemoryKeyStore().secret("k", 32) != store.secret("k", 32)
