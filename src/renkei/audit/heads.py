"""Signed tree heads: the signed byte layout and the Ed25519 head signer.

The signature covers exactly :func:`head_message` (100 bytes)::

    b"renkei-audit-sth-v1\\x00"   20 bytes  domain separation, format version 1
    key_id                        32 bytes  SHA-256 of the raw 32-byte Ed25519 public key
    tree_size                      8 bytes  unsigned big-endian
    timestamp_ms                   8 bytes  unsigned big-endian, milliseconds since 1970-01-01T00:00Z
    root_hash                     32 bytes  MTH of the first tree_size leaves
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from renkei.audit.errors import SigningKeyInvalid

HEAD_DOMAIN = b"renkei-audit-sth-v1\x00"
KEY_FILE = "head-signing.key"


def key_location(data_dir: Path) -> Path:
    """Where a deployment keeps its head-signing key: ``<data dir>/audit/head-signing.key``."""
    return data_dir / "audit" / KEY_FILE


def key_id_of(public_key: bytes) -> bytes:
    return hashlib.sha256(public_key).digest()


def head_message(key_id: bytes, tree_size: int, timestamp_ms: int, root_hash: bytes) -> bytes:
    """The bytes a tree head's signature covers (layout in the module docstring)."""
    if len(key_id) != 32 or len(root_hash) != 32:
        raise ValueError("key_id and root_hash are 32 bytes each")
    return HEAD_DOMAIN + key_id + struct.pack(">QQ", tree_size, timestamp_ms) + root_hash


class HeadSigner(Protocol):
    """Signs tree heads (a key file today; an HSM can implement the same)."""

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        ...

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        ...


class Ed25519HeadSigner:
    """A :class:`HeadSigner` holding an Ed25519 private key in memory."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise SigningKeyInvalid("an Ed25519 private key is 32 bytes")
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self._public = self._key.public_key().public_bytes_raw()

    @classmethod
    def generate(cls) -> Ed25519HeadSigner:
        return cls(os.urandom(32))

    @classmethod
    def from_file(cls, path: Path, *, create: bool = False) -> Ed25519HeadSigner:
        """The key stored in ``path`` as 64 hex digits; with ``create``, a new key is made if it is absent.

        A new file is written with mode 0600 (and its directory created).
        """
        if create and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            seed = os.urandom(32)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="ascii") as file:
                file.write(seed.hex() + "\n")
            return cls(seed)
        try:
            text = path.read_text(encoding="ascii").strip()
            seed = bytes.fromhex(text)
        except (OSError, UnicodeDecodeError, ValueError) as error:
            raise SigningKeyInvalid(
                f"cannot read the head-signing key {path}: {error}", path=str(path)
            ) from None
        return cls(seed)

    @property
    def public_key(self) -> bytes:
        return self._public

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"Ed25519HeadSigner(key_id={key_id_of(self._public).hex()[:16]}…)"


def signature_valid(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is ``public_key``'s Ed25519 signature of ``message``."""
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True
