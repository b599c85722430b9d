"""One typed settings object: environment variables over ``config.toml`` in the data directory.

Secrets (the database password, key material) are held as :class:`Secret`, whose ``repr`` and
``str`` never show the value, so they cannot leak into logs or tracebacks.
"""

from __future__ import annotations

import ipaddress
import math
import os
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from safereport.domain.codename import DEFAULT_PARAMS, Argon2Params
from safereport.domain.passwords import Argon2idHasher, PasswordHasher
from safereport.domain.retention import RetentionRule, parse_rules
from safereport.domain.vocabulary import Regime
from safereport.errors import ConfigError

if TYPE_CHECKING:
    from safereport.services.notices import NoticeConfig

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
    #: The database the instance was made on, written by ``init`` for PostgreSQL (its URL is
    #: never written: it may hold a password): such an instance refuses to start on a new,
    #: empty SQLite file when its URL is missing (the walk-through of 2026-12-03 served an
    #: empty log, /healthz ok, after a restart without SAFEREPORT_DATABASE_URL).
    database: str = ""
    regime: str = Regime.FIREWALL.value
    instance_id: str = ""
    origin: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    #: Threads that run requests' blocking work (pages, Argon2, the database) in each serving
    #: process; 0: as many as the machine's CPUs and two more, at least 4 (web/app.py says why).
    request_threads: int = 0
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
    #: The support service (id or name) that receives reports from the public pages; empty:
    #: the first support service.
    intake_org: str = ""
    #: Where the quick exit goes (https only); empty: :data:`DEFAULT_EXIT_URL` of the web.
    quick_exit_url: str = ""
    #: Whom the log asks to cosign: one ``<url> <vkey>`` per line (safereport.ledger.publish).
    witnesses: str = ""
    #: How many witnesses must cosign before a checkpoint is published: a number or ``all``
    #: (issue 16; checked against ``witnesses`` when the instance opens).
    publish_quorum: str = ""
    publish_before_quorum: bool = False
    pad_seconds: float = 0.0
    pad_leaves: int = 32
    #: The public forms' bot defences (issue 19; safereport.web.victim_bots).
    form_limit_per_hour: int = 60
    form_attack_per_hour: int = 60
    form_wait_seconds: int = 0
    form_attack_wait_seconds: int = 20
    form_pow_max_number: int = 20_000
    form_attack_pow_max_number: int = 500_000
    form_challenge_limit_per_hour: int = 120
    report_limit_per_hour: int = 30
    #: Neutral notices (issue 18; safereport.services.notices): none by default.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = ""
    smtp_username: str = ""
    smtp_password: Secret | None = None
    smtp_starttls: bool = False
    sms_gateway: str = ""
    sms_gateway_token: Secret | None = None
    staff_notice_email: str = ""
    # -- seams set in code only (tests, benchmarks), never from config.toml or the environment
    #: Failed codename guesses accepted from everywhere together in a minute.
    codename_failures_per_minute: int = 300
    #: The Argon2id costs that stretch codenames (STYLE.md 15): tests pass ``TEST_PARAMS``.
    argon2: Argon2Params = DEFAULT_PARAMS
    #: How staff passwords are hashed (STYLE.md 15): tests pass
    #: :class:`~safereport.domain.passwords.UnsafeCheapHasherForTests`.
    password_hasher: PasswordHasher = field(default_factory=Argon2idHasher)
    #: The notifiers themselves, instead of those the ``smtp_*`` and ``sms_*`` settings make
    #: (tests hand in their own).
    notifiers: NoticeConfig | None = None

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "safereport.db"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    def effective_database_url(self) -> str:
        """The URL the store connects to: PostgreSQL if configured, else the SQLite file."""
        if self.database_url is not None:
            url = self.database_url.reveal()
            if self.database == "postgresql" and not url.startswith("postgresql"):
                raise ConfigError(
                    f"{self.data_dir} was made on PostgreSQL, but its database URL names "
                    "another database: set SAFEREPORT_DATABASE_URL to its PostgreSQL URL")
            return url
        if self.database == "postgresql":
            raise ConfigError(
                f"{self.data_dir} was made on PostgreSQL (config.toml: database = "
                '"postgresql"), but no database URL is set: set SAFEREPORT_DATABASE_URL '
                "(nothing was started on a new, empty SQLite file)")
        return f"sqlite:///{self.sqlite_path}"

    @property
    def log_origin(self) -> str:
        return self.origin or f"safereport.local/{self.instance_id or 'unnamed'}"


_FIELDS: dict[str, type] = {
    "database": str,
    "regime": str,
    "instance_id": str,
    "origin": str,
    "host": str,
    "port": int,
    "request_threads": int,
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
    "intake_org": str,
    "quick_exit_url": str,
    "witnesses": str,
    "publish_quorum": str,
    "publish_before_quorum": bool,
    "pad_seconds": float,
    "pad_leaves": int,
    "form_limit_per_hour": int,
    "form_attack_per_hour": int,
    "form_wait_seconds": int,
    "form_attack_wait_seconds": int,
    "form_pow_max_number": int,
    "form_attack_pow_max_number": int,
    "form_challenge_limit_per_hour": int,
    "report_limit_per_hour": int,
    "smtp_host": str,
    "smtp_port": int,
    "smtp_from": str,
    "smtp_username": str,
    "smtp_password": Secret,
    "smtp_starttls": bool,
    "sms_gateway": str,
    "sms_gateway_token": Secret,
    "staff_notice_email": str,
}
#: Settings that were free text before they were typed: an empty value still means the default.
_BLANK_IS_DEFAULT = frozenset(list(_FIELDS)[list(_FIELDS).index("intake_org"):])
#: Counts that may be 0 but not negative.
_COUNTS = ("form_limit_per_hour", "form_attack_per_hour", "form_wait_seconds",
           "form_attack_wait_seconds", "form_pow_max_number", "form_attack_pow_max_number",
           "form_challenge_limit_per_hour", "report_limit_per_hour")


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
            return int(raw.strip() if isinstance(raw, str) else raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"setting {name!r} must be a whole number, not {raw!r}") from exc
    if kind is float:
        try:
            if isinstance(raw, bool):
                raise TypeError(name)
            number = float(raw.strip() if isinstance(raw, str) else raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"setting {name!r} must be a number, not {raw!r}") from exc
        if not math.isfinite(number):
            raise ConfigError(f"setting {name!r} must be a number, not {raw!r}")
        return number
    if not isinstance(raw, str):
        raise ConfigError(f"setting {name!r} must be text")
    return Secret(raw) if kind is Secret else raw


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
    unknown = sorted(set(values) - set(_FIELDS) - {"database_url", "retention"})
    if unknown:
        raise ConfigError(f"{config_path}: unknown setting(s): {', '.join(unknown)}")
    for name in _FIELDS:
        env_value = env.get(_ENV_PREFIX + name.upper())
        if env_value is not None:
            values[name] = env_value
    kwargs: dict[str, Any] = {
        name: _coerce(name, values[name], kind) for name, kind in _FIELDS.items()
        if name in values and not (name in _BLANK_IS_DEFAULT and _blank(values[name]))
    }
    url = env.get(_ENV_PREFIX + "DATABASE_URL") or values.get("database_url")
    if url:
        kwargs["database_url"] = Secret(str(url))
    retention = env.get(_ENV_PREFIX + "RETENTION", values.get("retention"))
    if retention is not None:
        kwargs["retention"] = parse_rules(retention)
    settings = Settings(data_dir=directory, **kwargs)
    _check(settings)
    return settings


def _blank(raw: Any) -> bool:
    return isinstance(raw, str) and not raw.strip()


def _check(settings: Settings) -> None:
    """ConfigError, naming the setting, for a value out of its range."""
    if settings.database not in ("", "sqlite", "postgresql"):
        raise ConfigError(
            f"setting 'database' must be \"postgresql\" or \"sqlite\", not {settings.database!r}")
    if not 0 < settings.port < 65536:
        raise ConfigError(f"setting 'port' must be between 1 and 65535, not {settings.port}")
    if not 0 <= settings.request_threads <= 256:
        raise ConfigError("setting 'request_threads' must be between 0 (automatic) and 256")
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
    _check_deployment(settings)


def _check_deployment(settings: Settings) -> None:
    for name in _COUNTS:
        if getattr(settings, name) < 0:
            raise ConfigError(f"setting {name!r} must be 0 or more")
    if settings.quick_exit_url and not settings.quick_exit_url.startswith("https://"):
        raise ConfigError("setting 'quick_exit_url' must be an https:// address")
    quorum = settings.publish_quorum.strip().lower()
    if quorum not in ("", "all") and not quorum.isdigit():
        raise ConfigError(f"setting 'publish_quorum' must be a number or 'all', not {quorum!r}")
    if settings.pad_seconds < 0 or 0 < settings.pad_seconds < 1:
        raise ConfigError("setting 'pad_seconds' must be 0 (off) or at least 1")
    if not 1 <= settings.pad_leaves <= 100_000:
        raise ConfigError("setting 'pad_leaves' must be a whole number from 1 to 100000")
    if not 0 < settings.smtp_port < 65536:
        raise ConfigError(f"setting 'smtp_port' must be between 1 and 65535, not "
                          f"{settings.smtp_port}")
    _check_notices(settings)


_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def _check_notices(settings: Settings) -> None:
    """A notice setting that could never send is an error now, not texts silently lost."""
    mail = bool(settings.smtp_host.strip())
    gateway = settings.sms_gateway.strip()
    if gateway.startswith("http://"):
        host = gateway[len("http://"):].split("/", 1)[0]
        host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if host not in _LOOPBACK_HOSTS:
            raise ConfigError("setting 'sms_gateway' must be an https:// address (plain http:// "
                              "only to this machine: her number would cross the network in "
                              "clear)")
    elif gateway and not gateway.startswith("https://"):
        if "{number}" not in gateway:
            raise ConfigError("setting 'sms_gateway' must be an https:// address or an email "
                              "address with {number} in it, such as {number}@sms.example.net")
        if not mail:
            raise ConfigError("setting 'sms_gateway' sends through the mail server: set "
                              "'smtp_host' too")
    if settings.staff_notice_email.strip() and not mail:
        raise ConfigError("setting 'staff_notice_email' sends through the mail server: set "
                          "'smtp_host' too")


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)
