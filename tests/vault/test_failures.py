"""Tampered, moved or unkeyed ciphertext: one opaque VaultError, logged, nothing else breaks."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, select, update
from tests.support.unsafe_seal import unsafe_seal
from tests.vault.conftest import grant_for, sample_fields

from safereport.domain.fields import CaseField
from safereport.errors import VaultError
from safereport.store.vault import vault_case_keys, vault_fields
from safereport.vault import FileKeyStore, Vault

MESSAGE = "the protected data could not be opened"


def _seal_two(engine: Engine, vault: Vault) -> None:
    with engine.begin() as conn:
        vault.seal_fields(conn, unsafe_seal(conn, "case-a"), "case-a", sample_fields("SECRETA"))
        vault.seal_fields(conn, unsafe_seal(conn, "case-b"), "case-b", sample_fields("SECRETB"))


def _token(conn: Connection, case_id: str, name: CaseField) -> bytes:
    query = select(vault_fields.c.ciphertext).where(
        vault_fields.c.case_id == case_id, vault_fields.c.field == name.value
    )
    return bytes(conn.execute(query).scalar_one())


def _set_token(conn: Connection, case_id: str, name: CaseField, token: bytes) -> None:
    conn.execute(
        update(vault_fields)
        .where(vault_fields.c.case_id == case_id, vault_fields.c.field == name.value)
        .values(ciphertext=token)
    )


def _assert_opaque_failure(
    engine: Engine, vault: Vault, caplog: pytest.LogCaptureFixture, case_id: str = "case-a"
) -> None:
    caplog.clear()
    with (
        caplog.at_level(logging.WARNING, logger="safereport.vault"),
        engine.connect() as conn,
        pytest.raises(VaultError) as failure,
    ):
        vault.open_fields(conn, grant_for(case_id), case_id)
    assert str(failure.value) == MESSAGE
    logged = [r for r in caplog.records if r.name == "safereport.vault"]
    assert logged and all(case_id in r.getMessage() for r in logged)
    assert not any("SECRET" in r.getMessage() for r in caplog.records)


def _other_case_still_opens(engine: Engine, vault: Vault) -> None:
    with engine.connect() as conn:
        opened = vault.open_fields(conn, grant_for("case-b"), "case-b")
    assert opened.values == sample_fields("SECRETB")


@pytest.mark.parametrize("position", [0, 3, 5, 10, 20, -1])
def test_a_tampered_ciphertext_fails_opaquely(
    engine: Engine, vault: Vault, caplog: pytest.LogCaptureFixture, position: int
) -> None:
    _seal_two(engine, vault)
    with engine.begin() as conn:
        token = bytearray(_token(conn, "case-a", CaseField.NARRATIVE))
        token[position] ^= 0x01
        _set_token(conn, "case-a", CaseField.NARRATIVE, bytes(token))
    _assert_opaque_failure(engine, vault, caplog)
    _other_case_still_opens(engine, vault)


def test_a_truncated_ciphertext_fails_opaquely(
    engine: Engine, vault: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    _seal_two(engine, vault)
    with engine.begin() as conn:
        _set_token(conn, "case-a", CaseField.NAME, b"\x01\x00")
    _assert_opaque_failure(engine, vault, caplog)


def test_a_ciphertext_moved_to_another_case_fails(
    engine: Engine, vault: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    _seal_two(engine, vault)
    with engine.begin() as conn:
        stolen = _token(conn, "case-b", CaseField.NAME)
        _set_token(conn, "case-a", CaseField.NAME, stolen)
    _assert_opaque_failure(engine, vault, caplog)
    _other_case_still_opens(engine, vault)


def test_a_ciphertext_moved_to_another_field_fails(
    engine: Engine, vault: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    _seal_two(engine, vault)
    with engine.begin() as conn:
        moved = _token(conn, "case-a", CaseField.IMMIGRATION_STATUS)
        _set_token(conn, "case-a", CaseField.HEALTH_NEEDS, moved)
    _assert_opaque_failure(engine, vault, caplog)


def test_a_data_key_moved_to_another_case_fails(
    engine: Engine, vault: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    _seal_two(engine, vault)
    with engine.begin() as conn:
        wrapped_b = conn.execute(
            select(vault_case_keys.c.wrapped).where(vault_case_keys.c.case_id == "case-b")
        ).scalar_one()
        conn.execute(
            update(vault_case_keys)
            .where(vault_case_keys.c.case_id == "case-a")
            .values(wrapped=wrapped_b)
        )
    _assert_opaque_failure(engine, vault, caplog)
    _other_case_still_opens(engine, vault)


def test_a_wrong_kek_fails_opaquely(
    engine: Engine, file_vault: Vault, key_file: Path, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _seal_two(engine, file_vault)
    # Another instance's key file, with this file's KEK id but other key bytes.
    other = FileKeyStore.create(tmp_path / "other" / "vault.json")
    ours = key_file.read_text()
    theirs = other.path.read_text()
    current = FileKeyStore(key_file).current_kek_id()
    key_file.write_text(theirs.replace(other.current_kek_id(), current))
    _assert_opaque_failure(engine, file_vault, caplog)
    key_file.write_text(ours)
    with engine.connect() as conn:
        assert file_vault.open_fields(conn, grant_for("case-a"), "case-a").values


def test_a_missing_key_file_fails_opaquely(
    engine: Engine, file_vault: Vault, key_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _seal_two(engine, file_vault)
    saved = key_file.read_bytes()
    key_file.unlink()
    _assert_opaque_failure(engine, file_vault, caplog)
    _assert_opaque_failure(engine, file_vault, caplog, "case-b")
    key_file.write_bytes(saved)
    key_file.chmod(0o600)
    _other_case_still_opens(engine, file_vault)


def test_an_unknown_case_fails_opaquely(
    engine: Engine, vault: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    _seal_two(engine, vault)
    with engine.begin() as conn:
        conn.execute(update(vault_fields).where(vault_fields.c.case_id == "case-a").values(
            case_id="case-z"))
    _assert_opaque_failure(engine, vault, caplog, "case-z")


def test_a_stored_field_outside_the_closed_set_fails_opaquely(
    engine: Engine, vault: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    _seal_two(engine, vault)
    with engine.begin() as conn:
        conn.execute(
            update(vault_fields)
            .where(vault_fields.c.case_id == "case-a", vault_fields.c.field == "name")
            .values(field="shoe_size")
        )
    _assert_opaque_failure(engine, vault, caplog)
