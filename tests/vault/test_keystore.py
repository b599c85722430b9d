"""Key stores: the key file (0600, atomic, refused if others can read it) and the environment."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine
from tests.support.unsafe_seal import unsafe_seal
from tests.vault.conftest import grant_for

from safereport.config import Settings
from safereport.domain.fields import CaseField
from safereport.errors import ConfigError, VaultError
from safereport.vault import (
    KEY_FILE_NAME,
    EnvKeyStore,
    FileKeyStore,
    KeyStore,
    UnsafeMemoryKeyStore,
    Vault,
    init_vault,
    open_vault,
)
from safereport.vault.keystore import generate_env_values


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_makes_a_private_key_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    init_vault(settings)
    path = settings.keys_dir / KEY_FILE_NAME
    assert _mode(path) == 0o600
    assert _mode(settings.keys_dir) == 0o700
    body = json.loads(path.read_text())
    assert body["current"] in body["keks"]
    assert len(base64.b64decode(body["index_key"])) == 32
    assert isinstance(open_vault(settings), Vault)
    assert not [p for p in settings.keys_dir.iterdir() if p.name != KEY_FILE_NAME]


def test_init_never_replaces_an_existing_key_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    init_vault(settings)
    before = (settings.keys_dir / KEY_FILE_NAME).read_bytes()
    with pytest.raises(ConfigError, match="exists already"):
        init_vault(settings)
    assert (settings.keys_dir / KEY_FILE_NAME).read_bytes() == before


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606])
def test_the_service_refuses_a_key_file_others_can_read(tmp_path: Path, mode: int) -> None:
    settings = Settings(data_dir=tmp_path)
    init_vault(settings)
    (settings.keys_dir / KEY_FILE_NAME).chmod(mode)
    with pytest.raises(ConfigError, match="readable by others"):
        open_vault(settings)


def test_a_missing_or_broken_key_file_stops_the_start(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    with pytest.raises(ConfigError, match="missing"):
        open_vault(settings)
    init_vault(settings)
    path = settings.keys_dir / KEY_FILE_NAME
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not a valid vault key file"):
        open_vault(settings)


def test_stores_meet_the_protocol(tmp_path: Path) -> None:
    values = generate_env_values()
    env = {"K": values["kek"], "K_INDEX": values["index"]}
    stores = [
        UnsafeMemoryKeyStore(),
        FileKeyStore.create(tmp_path / "k" / "vault.json"),
        EnvKeyStore("K", env),
    ]
    for store in stores:
        assert isinstance(store, KeyStore)
        wrapped = store.wrap(store.current_kek_id(), b"k" * 32, b"aad")
        assert store.unwrap(store.current_kek_id(), wrapped, b"aad") == b"k" * 32
        with pytest.raises(VaultError):
            store.unwrap(store.current_kek_id(), wrapped, b"other aad")
        with pytest.raises(VaultError):
            store.unwrap("kek-unknown", wrapped, b"aad")


def test_the_env_store_round_trips_through_settings(engine: Engine, tmp_path: Path) -> None:
    values = generate_env_values()
    env = {"MY_KEK": values["kek"], "MY_KEK_INDEX": values["index"]}
    settings = Settings(data_dir=tmp_path, kek_env="MY_KEK")
    init_vault(settings, env)
    assert not (settings.keys_dir / KEY_FILE_NAME).exists()
    vault = open_vault(settings, env)
    with engine.begin() as conn:
        vault.seal_fields(conn, unsafe_seal(conn, "case-e"), "case-e", {CaseField.NAME: "Ana"})
    again = open_vault(settings, dict(env))
    with engine.connect() as conn:
        assert again.open_fields(conn, grant_for("case-e"), "case-e").values == {
            CaseField.NAME: "Ana"}


@pytest.mark.parametrize(
    "env",
    [{}, {"MY_KEK": "not base64!"}, {"MY_KEK": base64.b64encode(b"short").decode(),
                                      "MY_KEK_INDEX": base64.b64encode(b"x" * 32).decode()}],
)
def test_the_env_store_refuses_bad_variables(tmp_path: Path, env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        open_vault(Settings(data_dir=tmp_path, kek_env="MY_KEK"), env)


def test_another_process_adding_a_kek_is_seen(engine: Engine, key_file: Path) -> None:
    first, second = FileKeyStore(key_file), FileKeyStore(key_file)
    vault_a, vault_b = Vault(first), Vault(second)
    new_id = first.add_kek()
    with engine.begin() as conn:
        vault_a.seal_fields(conn, unsafe_seal(conn, "case-n"), "case-n", {CaseField.NAME: "Ana"})
    with engine.connect() as conn:
        assert vault_b.open_fields(conn, grant_for("case-n"), "case-n").values
    assert second.current_kek_id() == new_id


def test_retiring_destroys_the_material_but_keeps_the_record(key_file: Path) -> None:
    store = FileKeyStore(key_file)
    old = store.current_kek_id()
    with pytest.raises(ConfigError):
        store.retire_kek(old)
    store.add_kek()
    store.retire_kek(old)
    body = json.loads(key_file.read_text())
    assert body["keks"][old]["key"] is None and body["keks"][old]["retired"]
    assert old not in store.active_kek_ids()
    assert _mode(key_file) == 0o600
    assert sorted(os.listdir(key_file.parent)) == [KEY_FILE_NAME]  # no temp file left behind


def test_a_failed_write_leaves_the_old_file_whole(
    key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileKeyStore(key_file)
    before = key_file.read_bytes()

    def crash(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        store.add_kek()
    assert key_file.read_bytes() == before
    assert sorted(os.listdir(key_file.parent)) == [KEY_FILE_NAME]
