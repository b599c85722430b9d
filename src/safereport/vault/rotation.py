"""KEK rotation: rewrap every data key under a new key-encryption key, never touching fields.

The new KEK is added to the key store first (it becomes current, so new cases use it at
once). Data keys are then rewrapped in batches, each batch its own transaction, walking case
ids in order. Each row records its KEK id, so a run that crashes leaves every row readable
(old or new KEK, both still in the store) and the next run resumes by rewrapping whatever
still uses an old KEK. An old KEK is retired (its material destroyed) only when no row uses it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine

from safereport.errors import VaultError
from safereport.store import vault as rows
from safereport.vault.envelope import check_case_id, check_data_key, data_key_aad
from safereport.vault.keystore import KeyStore
from safereport.vault.vault import Vault

__all__ = ["RotationReport", "plan_rotation", "rotate_keys"]

log = logging.getLogger("safereport.vault")

DEFAULT_BATCH = 2000

#: Called after each committed batch with (rewrapped so far, total to rewrap).
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RotationReport:
    kek_id: str
    resumed: bool
    rewrapped: int
    failed: int
    retired: tuple[str, ...]
    still_in_use: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Plan:
    kek_id: str
    old_ids: tuple[str, ...]
    total: int
    resumed: bool


def plan_rotation(engine: Engine, keys: KeyStore, *, add: bool = True) -> _Plan:
    """Decide whether this run starts a rotation (adds a KEK) or finishes one."""
    with engine.connect() as conn:
        usage = rows.kek_usage(conn)
    current = keys.current_kek_id()
    unfinished = any(k != current for k in usage) or len(keys.active_kek_ids()) > 1
    if not unfinished and add:
        current = keys.add_kek()
    old = tuple(sorted((set(usage) | set(keys.active_kek_ids())) - {current}))
    return _Plan(current, old, sum(usage.get(k, 0) for k in old), unfinished)


def _rewrap_one(keys: KeyStore, new_id: str, row: tuple[str, int, str, bytes]) -> bytes:
    case_id, version, old_id, wrapped = row
    case = check_case_id(case_id)
    key = check_data_key(keys.unwrap(old_id, wrapped, data_key_aad(case, version, old_id)))
    return keys.wrap(new_id, key, data_key_aad(case, version, new_id))


def _rewrap_batch(
    keys: KeyStore, new_id: str, batch: Sequence[tuple[str, int, str, bytes]]
) -> tuple[list[tuple[str, str, str, bytes]], int]:
    done: list[tuple[str, str, str, bytes]] = []
    failed = 0
    for row in batch:
        try:
            done.append((row[0], row[2], new_id, _rewrap_one(keys, new_id, row)))
        except VaultError:
            # Left as it is: its KEK is then never retired, and the count says so.
            failed += 1
            log.warning("vault: data key of case %s could not be rewrapped", row[0])
    return done, failed


def rotate_keys(
    engine: Engine,
    vault: Vault,
    *,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    add: bool = True,
) -> RotationReport:
    """Rotate (or finish rotating) the KEK; see the module docstring. ``add=False`` only
    finishes an unfinished rotation and never makes a new KEK."""
    keys = vault.keys
    plan = plan_rotation(engine, keys, add=add)
    done = failed = 0
    for old_id in plan.old_ids:
        after = ""
        while True:
            with engine.begin() as conn:
                batch = rows.keys_under(conn, old_id, after, batch_size)
                if not batch:
                    break
                rewrapped, bad = _rewrap_batch(keys, plan.kek_id, batch)
                rows.rewrap_case_keys(conn, rewrapped, datetime.now(UTC))
            after = batch[-1][0]
            done += len(rewrapped)
            failed += bad
            if progress is not None:
                progress(done + failed, plan.total)
    return _retire_unused(engine, keys, plan, done, failed)


def _retire_unused(
    engine: Engine, keys: KeyStore, plan: _Plan, done: int, failed: int
) -> RotationReport:
    with engine.connect() as conn:
        usage = rows.kek_usage(conn)
    retired = []
    for kek_id in plan.old_ids:
        if usage.get(kek_id, 0) == 0 and kek_id in keys.active_kek_ids():
            keys.retire_kek(kek_id)
            retired.append(kek_id)
    still = {k: n for k, n in usage.items() if k != plan.kek_id}
    return RotationReport(plan.kek_id, plan.resumed, done, failed, tuple(retired), still)
