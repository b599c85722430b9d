"""Plaintext never reaches the disk; after erasure nothing that remains opens the case."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from tests.support.unsafe_seal import unsafe_seal
from tests.vault.conftest import grant_for

from safereport.domain.fields import CaseField
from safereport.domain.vocabulary import DataCategory
from safereport.errors import VaultError
from safereport.store.db import make_engine
from safereport.store.tables import metadata
from safereport.store.vault import vault_blind_index, vault_case_keys, vault_fields
from safereport.vault import (
    BlindKind,
    UnsafeMemoryKeyStore,
    Vault,
    normalise,
    purge_remnants,
    rotate_keys,
)
from safereport.vault._primitives import Aead
from safereport.vault.envelope import DataKey, data_key_aad

MARK = "ZQXMARKER"


def _marked(case_no: int) -> dict[CaseField, str]:
    values = {name: f"{MARK}{case_no}-{name.value}-{MARK}" for name in CaseField}
    values[CaseField.EMAIL] = f"{MARK.lower()}{case_no}@marker.example"
    values[CaseField.PHONE] = f"+44 7700 90{case_no:04d}"
    return values


def _needles(values: dict[CaseField, str]) -> list[bytes]:
    found = [value.encode() for value in values.values()]
    found.append(normalise(BlindKind.PHONE, values[CaseField.PHONE]).encode())
    found.append(values[CaseField.PHONE].replace(" ", "").encode())
    return found


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'at-rest.db'}")
    metadata.create_all(engine)
    return engine


def _files(tmp_path: Path) -> list[Path]:
    return [p for p in tmp_path.iterdir() if p.name.startswith("at-rest.db")]


def test_no_plaintext_in_the_database_file_its_wal_or_the_logs(
    sqlite_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    vault = Vault(UnsafeMemoryKeyStore())
    cases = {f"case-{n}": _marked(n) for n in range(20)}
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)  # SQL and its parameters
        try:
            for case_id, values in cases.items():
                with sqlite_engine.begin() as conn:
                    vault.seal_fields(conn, unsafe_seal(conn, case_id), case_id, values)
                    vault.index_value(conn, unsafe_seal(conn, case_id), case_id,
                                      BlindKind.REFERENCE, f"{MARK}-REF-{case_id}")
                    stolen_note = vault.seal_blob(conn, unsafe_seal(conn, case_id),
                                                  case_id, DataCategory.CASE_NOTES, "note",
                                                  f"{MARK} note of {case_id}".encode())
            with sqlite_engine.connect() as conn:  # reading and failing must not log it either
                assert vault.open_fields(conn, grant_for("case-1"), "case-1").values == cases[
                    "case-1"]
                with pytest.raises(VaultError):  # a data key moved to another case
                    vault.open_blob(conn, grant_for("case-3"), "case-3",
                                    DataCategory.CASE_NOTES, "note", stolen_note)
        finally:
            logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    files = _files(tmp_path)
    assert any(p.name.endswith("-wal") for p in files), "the WAL should exist while open"
    raw = b"".join(p.read_bytes() for p in files)
    assert len(raw) > 10_000
    assert MARK.encode() not in raw and MARK.lower().encode() not in raw
    for values in cases.values():
        for needle in _needles(values):
            assert needle not in raw, needle
    log_text = "\n".join(r.getMessage() for r in caplog.records)
    assert "INSERT INTO vault_fields" in log_text  # the capture did see the SQL
    assert MARK not in log_text and MARK.lower() not in log_text
    sqlite_engine.dispose()


def _every_remaining_key(keys: UnsafeMemoryKeyStore, engine: Engine) -> list[bytes]:
    """Every key that still exists: KEKs, the index key, every data key still unwrappable."""
    found = list(keys.unsafe_material().values())
    with engine.connect() as conn:
        live = conn.execute(select(vault_case_keys).where(vault_case_keys.c.wrapped.is_not(None)))
        for row in live.mappings():
            aad = data_key_aad(row["case_id"].encode(), row["key_version"], row["kek_id"])
            found.append(keys.unwrap(row["kek_id"], bytes(row["wrapped"]), aad))
    return found


def test_after_erasure_no_remaining_key_opens_the_case(
    sqlite_engine: Engine, tmp_path: Path
) -> None:
    keys = UnsafeMemoryKeyStore()
    vault = Vault(keys)
    for n in range(5):
        with sqlite_engine.begin() as conn:
            vault.seal_fields(conn, unsafe_seal(conn, f"case-{n}"), f"case-{n}", _marked(n))
    with sqlite_engine.begin() as conn:
        note = vault.seal_blob(conn, unsafe_seal(conn, "case-2"),
                               "case-2", DataCategory.CASE_NOTES, "note", b"a note")
        wrapped = conn.execute(
            select(vault_case_keys.c.wrapped).where(vault_case_keys.c.case_id == "case-2")
        ).scalar_one()
    with sqlite_engine.connect() as conn:
        tokens = conn.execute(  # a copy, as an old backup would hold it
            select(vault_fields.c.field, vault_fields.c.ciphertext).where(
                vault_fields.c.case_id == "case-2")
        ).all()
    assert len(tokens) == len(CaseField)
    with sqlite_engine.begin() as conn:
        vault.shred(conn, unsafe_seal(conn, "case-2", "erase"), "case-2")
    purge_remnants(sqlite_engine)

    with sqlite_engine.connect() as conn:
        # the ciphertext is deleted too (defence in depth); the copy above is useless
        assert conn.execute(select(vault_fields).where(
            vault_fields.c.case_id == "case-2")).first() is None
        assert vault.is_shredded(conn, "case-2")
        assert vault.find_cases(conn, BlindKind.PHONE, _marked(2)[CaseField.PHONE]) == []
        assert conn.execute(select(vault_blind_index).where(
            vault_blind_index.c.case_id == "case-2")).first() is None
        with pytest.raises(VaultError):
            vault.open_fields(conn, grant_for("case-2"), "case-2")
    remaining = _every_remaining_key(keys, sqlite_engine)
    assert len(remaining) == 1 + 1 + 4  # one KEK, the index key, four other cases' data keys
    for key in remaining:
        candidate = DataKey(key, b"case-2", 1)
        for field, token in tokens:
            with pytest.raises(VaultError):
                candidate.open_field(field, bytes(token))
        with pytest.raises(VaultError):
            candidate.open_blob(DataCategory.CASE_NOTES.value, "note", note)
    # No copy of the wrapped data key is left in the database file or its WAL.
    raw = b"".join(p.read_bytes() for p in _files(tmp_path))
    assert bytes(wrapped) not in raw
    assert bytes(wrapped)[12:28] not in raw

    # A backup taken before the erasure still holds the wrapped key; rotation retires the KEK
    # that could unwrap it, after which no key anywhere opens it.
    rotate_keys(sqlite_engine, vault)
    for kek in _every_remaining_key(keys, sqlite_engine):
        for kek_id in {*keys.active_kek_ids(), "any"}:
            with pytest.raises(VaultError):
                Aead(kek).open(bytes(wrapped), data_key_aad(b"case-2", 1, kek_id))
    with sqlite_engine.connect() as conn:
        assert vault.open_fields(conn, grant_for("case-3"), "case-3").values == _marked(3)
    sqlite_engine.dispose()


def test_a_shredded_case_cannot_be_sealed_again(engine: Engine) -> None:
    vault = Vault(UnsafeMemoryKeyStore())
    with engine.begin() as conn:
        vault.seal_fields(conn, unsafe_seal(conn, "case-a"), "case-a", {CaseField.NAME: "Ana"})
        vault.shred(conn, unsafe_seal(conn, "case-a", "erase"), "case-a")
        with pytest.raises(VaultError):
            vault.seal_fields(conn, unsafe_seal(conn, "case-a"), "case-a", {CaseField.NAME: "Ana"})
        with pytest.raises(VaultError):
            vault.create_case_key(conn, unsafe_seal(conn, "case-a"), "case-a")
        vault.shred(conn, unsafe_seal(conn, "never-had-a-key", "erase"), "never-had-a-key")
        assert vault.is_shredded(conn, "never-had-a-key")
        with pytest.raises(VaultError):
            vault.seal_blob(conn, unsafe_seal(conn, "never-had-a-key"),
                            "never-had-a-key", DataCategory.CASE_NOTES, "note", b"x")
