"""Creating an instance: config, keys and schema, all or nothing.

Everything is built in a temporary folder beside the target and renamed into place at the end,
so an instance is either complete or absent: a crash, a full disk or an unreachable database
leaves nothing half-written, and an existing instance is never touched.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from safereport.config import CONFIG_FILE, load_settings
from safereport.domain.vocabulary import Regime
from safereport.errors import InstanceError
from safereport.store.db import check_database, make_engine
from safereport.store.migrate import upgrade

__all__ = ["init_instance"]


def _config_text(instance_id: str, regime: str, origin: str | None) -> str:
    lines = [
        "# safereport instance configuration. Environment variables SAFEREPORT_<NAME> override.",
        f'instance_id = "{instance_id}"',
        f'regime = "{regime}"',
    ]
    if origin:
        lines.append(f'origin = "{origin}"')
    return "\n".join(lines) + "\n"


def _check_target(target: Path) -> None:
    if (target / CONFIG_FILE).exists():
        raise InstanceError(f"{target} already holds a safereport instance; nothing was changed")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InstanceError(f"{target} exists and is not an empty folder; nothing was changed")
    parent = target.parent
    if not parent.is_dir():
        raise InstanceError(f"the folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InstanceError(f"cannot write in {parent} (read-only?); nothing was changed")


def init_instance(
    target: Path,
    *,
    regime: str = Regime.FIREWALL.value,
    origin: str | None = None,
    database_url: str | None = None,
    key_steps: tuple[Callable[..., None], ...] | None = None,
) -> Path:
    """Create a new instance in ``target`` and return its resolved path."""
    target = target.expanduser().resolve()
    _check_target(target)
    if database_url:
        external = make_engine(database_url, pool=False)
        try:
            check_database(external)  # before writing anything
        finally:
            external.dispose()
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.init-", dir=target.parent))
    except OSError as exc:
        raise InstanceError(f"cannot write in {target.parent}: {exc.strerror}") from exc
    try:
        staging.chmod(0o700)
        (staging / CONFIG_FILE).write_text(
            _config_text(secrets.token_hex(8), regime, origin), encoding="utf-8"
        )
        settings = load_settings(staging)
        settings.keys_dir.mkdir(mode=0o700)
        for step in key_steps if key_steps is not None else _default_key_steps():
            step(settings)
        # An external database is named by the caller (from SAFEREPORT_DATABASE_URL), never
        # written into config.toml: the URL may hold a password.
        engine = make_engine(database_url or settings.effective_database_url(), pool=False)
        try:
            upgrade(engine)
            if engine.dialect.name == "postgresql":  # its kind, not its URL (see Settings)
                with (staging / CONFIG_FILE).open("a", encoding="utf-8") as config:
                    config.write('database = "postgresql"\n')
        finally:
            engine.dispose()
        if target.exists():
            target.rmdir()
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _default_key_steps() -> tuple[Callable[..., None], ...]:
    from safereport.ledger.log import init_ledger
    from safereport.services.auth import init_totp_key
    from safereport.vault import init_vault

    return (init_vault, init_ledger, init_totp_key)
