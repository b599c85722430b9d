"""KEK rotation: rewraps every data key, leaves field ciphertext alone, resumes after a crash."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from tests.support.unsafe_seal import unsafe_seal
from tests.vault.conftest import grant_for

from safereport.config import Settings
from safereport.domain.fields import CaseField
from safereport.errors import ConfigError
from safereport.store.vault import kek_usage, vault_case_keys, vault_fields
from safereport.vault import FileKeyStore, Vault, open_vault, rotate_keys
from safereport.vault.keystore import generate_env_values

CASES = [f"case-{n:03d}" for n in range(25)]


class Crash(Exception):
    pass


def _fill(engine: Engine, vault: Vault) -> None:
    with engine.begin() as conn:
        for case_id in CASES:
            vault.seal_fields(conn, unsafe_seal(conn, case_id),
                              case_id, {CaseField.NAME: f"name of {case_id}"})


def _snapshot(engine: Engine) -> tuple[dict[str, bytes], dict[str, bytes]]:
    with engine.connect() as conn:
        fields = {r.case_id: bytes(r.ciphertext) for r in conn.execute(select(vault_fields))}
        keys = {r.case_id: bytes(r.wrapped) for r in conn.execute(select(vault_case_keys))}
    return fields, keys


def _all_open(engine: Engine, vault: Vault) -> None:
    with engine.connect() as conn:
        for case_id in CASES:
            opened = vault.open_fields(conn, grant_for(case_id), case_id)
            assert opened.values == {CaseField.NAME: f"name of {case_id}"}


def test_rotation_rewraps_every_key_and_no_field(engine: Engine, file_vault: Vault) -> None:
    _fill(engine, file_vault)
    old_kek = file_vault.keys.current_kek_id()
    fields_before, keys_before = _snapshot(engine)
    seen: list[tuple[int, int]] = []
    report = rotate_keys(
        engine, file_vault, batch_size=10, progress=lambda d, t: seen.append((d, t))
    )
    fields_after, keys_after = _snapshot(engine)
    assert fields_after == fields_before
    assert all(keys_after[c] != keys_before[c] for c in CASES)
    assert report.rewrapped == len(CASES) and report.failed == 0 and not report.resumed
    assert report.retired == (old_kek,)
    assert seen == [(10, 25), (20, 25), (25, 25)]
    assert file_vault.keys.active_kek_ids() == (report.kek_id,)
    with engine.connect() as conn:
        assert kek_usage(conn) == {report.kek_id: len(CASES)}
    _all_open(engine, file_vault)


def test_a_crashed_rotation_resumes_and_then_retires(
    engine: Engine, file_vault: Vault, key_file: Path
) -> None:
    _fill(engine, file_vault)
    old_kek = file_vault.keys.current_kek_id()

    def crash_after_first_batch(done: int, total: int) -> None:
        raise Crash()

    with pytest.raises(Crash):
        rotate_keys(engine, file_vault, batch_size=10, progress=crash_after_first_batch)
    new_kek = file_vault.keys.current_kek_id()
    assert new_kek != old_kek
    with engine.connect() as conn:
        assert kek_usage(conn) == {new_kek: 10, old_kek: 15}
    # Mid-rotation, every case still opens, from this process and from a fresh one.
    _all_open(engine, file_vault)
    _all_open(engine, Vault(FileKeyStore(key_file)))
    resumed = rotate_keys(engine, Vault(FileKeyStore(key_file)), batch_size=10)
    assert resumed.resumed and resumed.kek_id == new_kek
    assert resumed.rewrapped == 15 and resumed.retired == (old_kek,)
    assert file_vault.keys.active_kek_ids() == (new_kek,)
    _all_open(engine, file_vault)


def test_resume_only_makes_no_new_kek(engine: Engine, file_vault: Vault) -> None:
    _fill(engine, file_vault)
    current = file_vault.keys.current_kek_id()
    report = rotate_keys(engine, file_vault, add=False)
    assert report.kek_id == current and report.rewrapped == 0 and report.retired == ()


def test_an_old_kek_in_use_is_not_retired(engine: Engine, file_vault: Vault) -> None:
    _fill(engine, file_vault)
    old_kek = file_vault.keys.current_kek_id()
    with engine.begin() as conn:  # a data key that cannot be unwrapped any more
        conn.execute(
            vault_case_keys.update()
            .where(vault_case_keys.c.case_id == CASES[3])
            .values(wrapped=b"\x00" * 60)
        )
    report = rotate_keys(engine, file_vault, batch_size=7)
    assert report.failed == 1 and report.rewrapped == len(CASES) - 1
    assert report.retired == () and report.still_in_use == {old_kek: 1}
    assert old_kek in file_vault.keys.active_kek_ids()


def test_rotation_with_keys_from_the_environment(engine: Engine, tmp_path: Path) -> None:
    first, second = generate_env_values(), generate_env_values()
    settings = Settings(data_dir=tmp_path, kek_env="K")
    env = {"K": first["kek"], "K_INDEX": first["index"]}
    vault = open_vault(settings, env)
    _fill(engine, vault)
    with pytest.raises(ConfigError, match="K_PREVIOUS"):
        rotate_keys(engine, vault)
    env = {"K": second["kek"], "K_PREVIOUS": first["kek"], "K_INDEX": first["index"]}
    rotated = open_vault(settings, env)
    report = rotate_keys(engine, rotated)
    assert report.resumed and report.rewrapped == len(CASES)
    after = open_vault(settings, {"K": second["kek"], "K_INDEX": first["index"]})
    _all_open(engine, after)
