"""Where the deployment's CA keeps its key pair and certificate: files in the data directory (0600), or
memory for tests.

These are *authority stores* (the ``registry.ports.KeyStore`` port: ``load`` / ``save`` of the CA's PEM
private key and certificate), not the deployment's key store of named secrets
(:class:`renkei.identity.keys.FileKeyStore`: FF1, 符号 and hub HMAC keys, created on first use). The two
differ in what they hold and who writes it — the CA generates and persists a key pair with its certificate,
which operators hand to members (``ca.crt``); the key store generates raw random secrets that never leave
it — so they are two classes with two names.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from renkei.registry.errors import AuthorityUnavailable

CA_DIRECTORY = Path("registry") / "ca"
"""Where the deployment's CA lives, relative to the data directory."""
KEY_FILE = "ca.key"
CERTIFICATE_FILE = "ca.crt"


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable and writable by the owner only (0600), created that way so the
    content is never readable by others, even for an instant; an existing file is replaced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    os.chmod(temporary, 0o600)  # the umask cannot widen 0o600, but a stricter one could have narrowed it
    temporary.replace(path)


class FileAuthorityStore:
    """The CA in ``directory``: ``ca.key`` (PKCS#8 PEM, 0600) and ``ca.crt`` (PEM, 0600)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def load(self) -> tuple[bytes, bytes] | None:
        key_path, cert_path = self.directory / KEY_FILE, self.directory / CERTIFICATE_FILE
        if not key_path.exists() and not cert_path.exists():
            return None
        try:
            mode = stat.S_IMODE(key_path.stat().st_mode)
            if mode & 0o077:
                raise AuthorityUnavailable(
                    f"{key_path} is readable by others (mode {mode:o}); chmod 600 it", path=str(key_path)
                )
            return key_path.read_bytes(), cert_path.read_bytes()
        except OSError as exc:
            raise AuthorityUnavailable(f"cannot read the CA in {self.directory}: {exc}") from None

    def save(self, private_key_pem: bytes, certificate_pem: bytes) -> None:
        try:
            write_private(self.directory / KEY_FILE, private_key_pem)
            write_private(self.directory / CERTIFICATE_FILE, certificate_pem)
        except OSError as exc:
            raise AuthorityUnavailable(f"cannot write the CA in {self.directory}: {exc}") from None

    def __repr__(self) -> str:
        return f"FileAuthorityStore({str(self.directory)!r})"


class MemoryAuthorityStore:
    """The CA in memory: for tests and throwaway deployments."""

    def __init__(self) -> None:
        self._stored: tuple[bytes, bytes] | None = None

    def load(self) -> tuple[bytes, bytes] | None:
        return self._stored

    def save(self, private_key_pem: bytes, certificate_pem: bytes) -> None:
        self._stored = (private_key_pem, certificate_pem)

    def __repr__(self) -> str:
        return "MemoryAuthorityStore()"
