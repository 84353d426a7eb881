"""Settings: the one place that reads the environment (``RENKEI_*`` variables)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from renkei.errors import InvalidInput


class SettingsInvalid(InvalidInput):
    code = "settings.invalid"


@dataclass(frozen=True, slots=True)
class Settings:
    """How one renkei deployment runs. Built once, passed to ``build_app``; never read again from env."""

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("var")
    database_url: str | None = None
    """SQLAlchemy URL; the embedded default is an SQLite file in ``data_dir``."""
    log_level: str = "info"

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
        ``RENKEI_LOG_LEVEL``."""
        env = os.environ if environ is None else environ
        defaults = cls()
        port_text = env.get("RENKEI_PORT", str(defaults.port))
        try:
            port = int(port_text)
        except ValueError:
            raise SettingsInvalid(f"RENKEI_PORT must be a port number, not {port_text!r}") from None
        if not 0 <= port <= 65535:
            raise SettingsInvalid(f"RENKEI_PORT {port} is out of range")
        return cls(
            host=env.get("RENKEI_HOST", defaults.host),
            port=port,
            data_dir=Path(env.get("RENKEI_DATA_DIR", str(defaults.data_dir))),
            database_url=env.get("RENKEI_DATABASE_URL") or None,
            log_level=env.get("RENKEI_LOG_LEVEL", defaults.log_level),
        )
