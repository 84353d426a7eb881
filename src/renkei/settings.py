"""Settings: the one place that reads the environment (``RENKEI_*`` variables)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from renkei.errors import InvalidInput


class SettingsInvalid(InvalidInput):
    code = "settings.invalid"


_DEPLOYMENT = re.compile(r"[A-Z][A-Z0-9-]{0,31}")


@dataclass(frozen=True, slots=True)
class Settings:
    """How one renkei deployment runs. Built once, passed to ``build_app``; never read again from env."""

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("var")
    database_url: str | None = None
    """SQLAlchemy URL; the embedded default is an SQLite file in ``data_dir``."""
    log_level: str = "info"
    delivery_lease_s: float = 60.0
    """How long a claimed notification delivery stays with the process that claimed it; a process killed
    mid-push leaves it due again after this (must exceed one attempt's timeout, 10 s)."""
    linkage_base: str | None = None
    """The peer deployment (``DC1``) that is the linkage base (情報連携基盤) issuing 符号 for this one;
    None: this deployment is its own linkage base."""
    workers: int = 1
    """Processes serving the deployment's port (``renkei serve --workers``; ``workers.py``)."""

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'renkei.db').resolve()}"

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with the non-None ``changes`` applied (CLI flags win over the environment)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``RENKEI_HOST``, ``RENKEI_PORT``, ``RENKEI_DATA_DIR``, ``RENKEI_DATABASE_URL`` and
        ``RENKEI_LOG_LEVEL``, ``RENKEI_DELIVERY_LEASE_SECONDS``, ``RENKEI_LINKAGE_BASE`` and
        ``RENKEI_WORKERS``."""
        env = os.environ if environ is None else environ
        defaults = cls()
        port_text = env.get("RENKEI_PORT", str(defaults.port))
        try:
            port = int(port_text)
        except ValueError:
            raise SettingsInvalid(f"RENKEI_PORT must be a port number, not {port_text!r}") from None
        if not 0 <= port <= 65535:
            raise SettingsInvalid(f"RENKEI_PORT {port} is out of range")
        lease_text = env.get("RENKEI_DELIVERY_LEASE_SECONDS", str(defaults.delivery_lease_s))
        try:
            lease = float(lease_text)
        except ValueError:
            raise SettingsInvalid(
                f"RENKEI_DELIVERY_LEASE_SECONDS must be a number of seconds, not {lease_text!r}"
            ) from None
        if not 10 < lease <= 86400:
            raise SettingsInvalid(f"RENKEI_DELIVERY_LEASE_SECONDS {lease} must be over 10 and at most 86400")
        linkage_base = env.get("RENKEI_LINKAGE_BASE") or None
        if linkage_base is not None and not _DEPLOYMENT.fullmatch(linkage_base):
            raise SettingsInvalid(
                f"RENKEI_LINKAGE_BASE must be a peer deployment id like DC1, not {linkage_base[:40]!r}"
            )
        workers_text = env.get("RENKEI_WORKERS", str(defaults.workers))
        if not workers_text.isascii() or not workers_text.isdigit() or not 1 <= int(workers_text) <= 256:
            raise SettingsInvalid(
                f"RENKEI_WORKERS must be a number of processes from 1 to 256, not {workers_text[:20]!r}"
            )
        return cls(
            host=env.get("RENKEI_HOST", defaults.host),
            port=port,
            data_dir=Path(env.get("RENKEI_DATA_DIR", str(defaults.data_dir))),
            database_url=env.get("RENKEI_DATABASE_URL") or None,
            log_level=env.get("RENKEI_LOG_LEVEL", defaults.log_level),
            delivery_lease_s=lease,
            linkage_base=linkage_base,
            workers=int(workers_text),
        )


METRICS_DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def share_metrics(directory: Path) -> None:
    """Have the processes this one starts from now on keep their Prometheus values in ``directory``
    (prometheus_client's multiprocess mode, which it reads from the environment when first imported):
    ``renkei serve --workers`` calls this in its supervisor before it starts the workers."""
    os.environ[METRICS_DIRECTORY_VARIABLE] = str(directory)
