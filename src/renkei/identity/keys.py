"""The deployment's key store: named random secrets created on first use (``identity.ports.KeyStore``).

One store per deployment (``<data dir>/keys``), wired by ``app.py`` and shared with the contexts that need a
symmetric secret: identity (FF1 keys, the 符号 HMAC key, the card CA seed) and the exchange hub (the root
of the member systems' hub keys, ``exchange.hub.member-root``). Identity owns it because numbering is why
it exists and its keys are the ones that must never be lost. The registry's CA is persisted elsewhere,
differently: a key pair *and* its certificate (``renkei.registry.keystore.FileAuthorityStore``).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import threading
from pathlib import Path

from renkei.identity.errors import KeyStoreError

_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{0,63}")

FF1_KEY = "identity.individual-number.ff1"
CORPORATE_FF1_KEY = "identity.corporate-number.ff1"
FUGO_KEY = "identity.fugo.hmac"
CA_KEY = "identity.card-ca.p256"
AES_KEY_SIZE = 32


def _check_name(name: str, size: int) -> None:
    if not _NAME.fullmatch(name):
        raise KeyStoreError("a key name is lower-case letters, digits, dots and hyphens", name=name)
    if not 16 <= size <= 1024:
        raise KeyStoreError("a key has 16 to 1024 bytes", name=name, size=size)


class MemoryKeyStore:
    """Secrets held in memory only: for tests and throwaway runs."""

    def __init__(self, preset: dict[str, bytes] | None = None) -> None:
        self._keys = dict(preset or {})
        self._lock = threading.Lock()

    def secret(self, name: str, size: int) -> bytes:
        _check_name(name, size)
        with self._lock:
            key = self._keys.setdefault(name, secrets.token_bytes(size))
        if len(key) != size:
            raise KeyStoreError(f"key {name} has {len(key)} bytes, expected {size}", name=name)
        return key

    def __repr__(self) -> str:
        return f"MemoryKeyStore({len(self._keys)} keys)"


class FileKeyStore:
    """One file per secret in ``directory`` (created 0700), each file 0600, raw bytes.

    A missing key is written to a temporary file and hard-linked into place, so concurrent processes agree
    on one key and nobody ever reads a half-written file. A key file readable by group or others is refused.
    """

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._lock = threading.Lock()

    def secret(self, name: str, size: int) -> bytes:
        _check_name(name, size)
        path = self._directory / f"{name}.key"
        with self._lock:
            try:
                if not path.exists():
                    self._create(path, size)
                mode = path.stat().st_mode
                if mode & (stat.S_IRWXG | stat.S_IRWXO):
                    raise KeyStoreError(
                        f"key file {path} is accessible to group or others (mode {stat.filemode(mode)});"
                        " it must be 0600",
                        name=name,
                    )
                key = path.read_bytes()
            except OSError as exc:
                raise KeyStoreError(f"key file {path}: {exc.strerror or exc}", name=name) from None
        if len(key) != size:
            raise KeyStoreError(f"key file {path} has {len(key)} bytes, expected {size}", name=name)
        return key

    def _create(self, path: Path, size: int) -> None:
        self._directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(size))
                handle.flush()
                os.fsync(handle.fileno())
            # If another process won the race, its key is the key.
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)

    def __repr__(self) -> str:
        return f"FileKeyStore({str(self._directory)!r})"
