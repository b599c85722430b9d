"""One typed settings object: environment variables over ``config.toml`` in the data directory.

Secrets (the database password, key material) are held as :class:`Secret`, whose ``repr`` and
``str`` never show the value, so they cannot leak into logs or tracebacks.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from safereport.domain.retention import RetentionRule, parse_rules
from safereport.domain.vocabulary import Regime
from safereport.errors import ConfigError

__all__ = ["CONFIG_FILE", "Secret", "Settings", "load_settings"]

CONFIG_FILE = "config.toml"
_ENV_PREFIX = "SAFEREPORT_"


class Secret:
    """A value that never prints itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    """Everything an instance needs to know about itself."""

    data_dir: Path
    database_url: Secret | None = None
    regime: str = Regime.FIREWALL.value
    instance_id: str = ""
    origin: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    kek_env: str = ""
    erasure_cooling_off_hours: int = 72
    #: Days a report held in quarantine as suspected spam is kept if nobody releases it; then
    #: it is shredded (issue 19; ``safereport quarantine shred-expired``).
    quarantine_days: int = 30
    #: Days a released disclosure package can be opened by its recipient (then it expires).
    package_days: int = 28
    #: Days after a consent is given (or confirmed by a second person) before it must be
    #: reviewed with her; from then on it counts for nothing until she gives it again.
    consent_review_days: int = 365
    #: Largest evidence attachment accepted, in MB: photos, screenshots and PDFs; sound and
    #: video (issue 18).
    evidence_max_mb: int = 20
    evidence_media_max_mb: int = 50
    #: Addresses or networks (comma-separated) of reverse proxies whose X-Forwarded-For and
    #: X-Forwarded-Proto are believed; none by default (the TCP peer is the client).
    trusted_proxies: str = ""
    #: The staff session cookie's Secure flag (set it whenever staff reach the service over
    #: https, also behind a TLS proxy); an https request gets it in any case.
    secure_cookie: bool = False
    #: Strict-Transport-Security max-age sent on https responses (0: none).
    hsts_max_age: int = 31_536_000
    #: Retention schedule (issue 20; domain/retention.py): rules such as ``closed 6y``,
    #: ``new inactive 2y``, ``quarantined 30d``. None by default: nothing is shredded by age.
    retention: tuple[RetentionRule, ...] = ()
    #: Days before a retention shred that her door says when her case will go (the shred
    #: never comes sooner than this after the notice).
    retention_notice_days: int = 30
    #: Run the scheduled jobs (erasures, retention, checkpoints, witnesses, statistics,
    #: backups) inside ``serve``; one runner per database, whatever the number of workers.
    scheduler: bool = True
    #: Folder for scheduled backups (empty: no scheduled backups) and how many to keep.
    backup_dir: str = ""
    backup_keep: int = 7
    #: Publish last month's statistics release on the 1st of each month (spends privacy
    #: budget: off unless chosen).
    monthly_statistics: bool = False
    #: Optional deployment choices read by one part each: ``intake_org`` (the support
    #: service that receives reports from the public pages, by id or name) and
    #: ``quick_exit_url`` (where the quick exit goes; https only), ``witnesses`` (one
    #: ``<url> <vkey>`` per line: whom the log asks to cosign). Tests add others.
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "safereport.db"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    def effective_database_url(self) -> str:
        """The URL the store connects to: PostgreSQL if configured, else the SQLite file."""
        if self.database_url is not None:
            return self.database_url.reveal()
        return f"sqlite:///{self.sqlite_path}"

    @property
    def log_origin(self) -> str:
        return self.origin or f"safereport.local/{self.instance_id or 'unnamed'}"


_FIELDS: dict[str, type] = {
    "regime": str,
    "instance_id": str,
    "origin": str,
    "host": str,
    "port": int,
    "kek_env": str,
    "erasure_cooling_off_hours": int,
    "quarantine_days": int,
    "package_days": int,
    "consent_review_days": int,
    "evidence_max_mb": int,
    "evidence_media_max_mb": int,
    "trusted_proxies": str,
    "secure_cookie": bool,
    "hsts_max_age": int,
    "retention_notice_days": int,
    "scheduler": bool,
    "backup_dir": str,
    "backup_keep": int,
    "monthly_statistics": bool,
}
#: Settings kept in ``Settings.extra``: text, from config.toml or SAFEREPORT_<NAME>.
_EXTRA_FIELDS = ("intake_org", "quick_exit_url", "witnesses",
                 # what the log publishes (issue 16; safereport.ledger.publish)
                 "publish_quorum", "publish_before_quorum", "pad_seconds", "pad_leaves",
                 # the public forms' bot defences (issue 19; safereport.web.victim_bots)
                 "form_limit_per_hour", "form_attack_per_hour", "form_wait_seconds",
                 "form_attack_wait_seconds", "form_pow_max_number", "form_attack_pow_max_number",
                 "report_limit_per_hour", "form_challenge_limit_per_hour",
                 # neutral notices (issue 18; safereport.services.notices): none by default
                 "smtp_host", "smtp_port", "smtp_from", "smtp_username", "smtp_password",
                 "smtp_starttls", "sms_gateway", "sms_gateway_token", "staff_notice_email")


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _coerce(name: str, raw: Any, kind: type) -> Any:
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            return raw.strip().lower() in _TRUE
        raise ConfigError(f"setting {name!r} must be true or false, not {raw!r}")
    if kind is int:
        if isinstance(raw, bool):
            raise ConfigError(f"setting {name!r} must be a whole number")
        try:
            return int(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"setting {name!r} must be a whole number, not {raw!r}") from exc
    if not isinstance(raw, str):
        raise ConfigError(f"setting {name!r} must be text")
    return raw


def load_settings(data_dir: Path | str, env: dict[str, str] | None = None) -> Settings:
    """Read ``config.toml`` (if present) and override with ``SAFEREPORT_*`` variables."""
    env = dict(os.environ) if env is None else env
    directory = Path(data_dir).expanduser().resolve()
    values: dict[str, Any] = {}
    config_path = directory / CONFIG_FILE
    if config_path.exists():
        try:
            values.update(tomllib.loads(config_path.read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{config_path} is not valid TOML: {exc}") from exc
        except OSError as exc:
            raise ConfigError(f"cannot read {config_path}: {exc.strerror}") from exc
    unknown = sorted(set(values) - set(_FIELDS) - set(_EXTRA_FIELDS)
                     - {"database_url", "retention"})
    if unknown:
        raise ConfigError(f"{config_path}: unknown setting(s): {', '.join(unknown)}")
    for name in (*_FIELDS, *_EXTRA_FIELDS):
        env_value = env.get(_ENV_PREFIX + name.upper())
        if env_value is not None:
            values[name] = env_value
    kwargs: dict[str, Any] = {
        name: _coerce(name, values[name], kind) for name, kind in _FIELDS.items() if name in values
    }
    url = env.get(_ENV_PREFIX + "DATABASE_URL") or values.get("database_url")
    if url:
        kwargs["database_url"] = Secret(str(url))
    retention = env.get(_ENV_PREFIX + "RETENTION", values.get("retention"))
    if retention is not None:
        kwargs["retention"] = parse_rules(retention)
    kwargs["extra"] = {
        name: _coerce(name, values[name], str) for name in _EXTRA_FIELDS if name in values
    }
    settings = Settings(data_dir=directory, **kwargs)
    if not 0 < settings.port < 65536:
        raise ConfigError(f"setting 'port' must be between 1 and 65535, not {settings.port}")
    if settings.hsts_max_age < 0:
        raise ConfigError("setting 'hsts_max_age' must be 0 or more")
    if not 1 <= settings.retention_notice_days <= 365:
        raise ConfigError("setting 'retention_notice_days' must be between 1 and 365")
    if settings.backup_keep < 1:
        raise ConfigError("setting 'backup_keep' must be 1 or more")
    if settings.quarantine_days < 1:
        raise ConfigError("setting 'quarantine_days' must be 1 or more")
    if settings.package_days < 1:
        raise ConfigError("setting 'package_days' must be 1 or more")
    if settings.consent_review_days < 1:
        raise ConfigError("setting 'consent_review_days' must be 1 or more")
    for name in ("evidence_max_mb", "evidence_media_max_mb"):
        if not 1 <= getattr(settings, name) <= 1024:
            raise ConfigError(f"setting '{name}' must be between 1 and 1024 (MB)")
    for item in settings.trusted_proxies.replace(",", " ").split():
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError as exc:
            raise ConfigError(f"setting 'trusted_proxies': {item!r} is not an address or "
                              "network") from exc
    return settings


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)
