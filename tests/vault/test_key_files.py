"""One routine writes every key file (issue 12): 0600 whatever the umask, in a 0700 folder,
whole or not at all, never replacing a key by accident; and every key file that `init`,
`witness init`, `backup-keys` and a restore write is owner-only."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from safereport.cli import main
from safereport.errors import ConfigError
from safereport.services.backup import create_backup, restore_backup
from safereport.services.disclosure_seal import ensure_org_key, open_package, seal_package
from safereport.services.instance import open_instance
from safereport.services.setup import init_instance
from safereport.services.synthetic import populate_orgs
from safereport.store.core import organisations
from safereport.vault.keyfile import read_key_file, write_key_file

PASSPHRASE = "synthetic passphrase for tests"


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that would leave every file readable by all: the modes must not depend on it."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _every_file(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): _mode(p) for p in folder.rglob("*") if p.is_file()}


def test_a_new_key_is_owner_only_and_never_replaces_one(tmp_path: Path, open_umask: None) -> None:
    path = tmp_path / "a.key"
    write_key_file(path, b"first")
    assert _mode(path) == 0o600 and path.read_bytes() == b"first"
    with pytest.raises(FileExistsError):
        write_key_file(path, b"second")
    assert path.read_bytes() == b"first"
    write_key_file(path, b"third", replace=True)
    assert _mode(path) == 0o600 and path.read_bytes() == b"third"
    assert [p.name for p in tmp_path.iterdir()] == ["a.key"]  # no partial file left


def test_a_key_replaced_on_purpose_is_never_seen_half_written(tmp_path: Path) -> None:
    """Readers see the old key or the new one: the new one is renamed in only once synced."""
    path = tmp_path / "a.key"
    write_key_file(path, b"old" * 1000)
    before = os.stat(path).st_ino
    write_key_file(path, b"new" * 1000, replace=True)
    assert os.stat(path).st_ino != before  # a new file took the name, not a rewrite in place


def test_a_key_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.key"
    write_key_file(path, b"k")
    path.chmod(0o640)
    with pytest.raises(ConfigError, match="readable by others"):
        read_key_file(path, "the test key")
    path.chmod(0o600)
    link = tmp_path / "b.key"
    link.symlink_to(path)
    with pytest.raises(ConfigError, match="not a regular file"):
        read_key_file(link, "the test key")


def test_every_key_file_of_init_witness_and_backup_keys_is_owner_only(
    tmp_path: Path, open_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SAFEREPORT_DATABASE_URL", raising=False)
    runner = CliRunner()
    data = tmp_path / "data"
    made = runner.invoke(main, ["--data-dir", str(data), "init"], catch_exceptions=False)
    assert made.exit_code == 0, made.output
    keys = _every_file(data / "keys")
    assert {"vault.json", "ledger.key", "totp.key"} <= set(keys), keys
    assert set(keys.values()) == {0o600}, keys
    assert _mode(data / "keys") == 0o700

    state = tmp_path / "witness"
    made = runner.invoke(main, ["witness", "init", "--state", str(state),
                                "--name", "witness.example/w1"], catch_exceptions=False)
    assert made.exit_code == 0, made.output
    witness_keys = [p for p in state.rglob("*") if p.is_file() and "key" in p.name]
    assert witness_keys and {_mode(p) for p in witness_keys} == {0o600}

    out = tmp_path / "keys.srkeys"
    made = runner.invoke(main, ["--data-dir", str(data), "backup-keys", "--to", str(out),
                                "--passphrase-stdin"], input=PASSPHRASE + "\n",
                         catch_exceptions=False)
    assert made.exit_code == 0, made.output
    assert _mode(out) == 0o600
    assert _mode(data / "keys" / "backup.key") == 0o600


def test_an_organisations_key_is_owner_only_and_survives_backup_and_restore(
    tmp_path: Path, open_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keys backup holds keys/orgs/ too (it used to leave them out): a package released
    before the backup opens after the restore."""
    monkeypatch.delenv("SAFEREPORT_DATABASE_URL", raising=False)
    init_instance(tmp_path / "live")
    instance = open_instance(tmp_path / "live")
    keys_dir = instance.settings.keys_dir
    try:
        with instance.engine.begin() as conn:
            populate_orgs(conn)
            org_id = conn.execute(select(organisations.c.id)).scalars().first()
            assert org_id is not None
            public = ensure_org_key(conn, keys_dir, org_id)
        package = seal_package(public, b"disclosure-1", b"a synthetic package")
        key = keys_dir / "orgs" / f"{org_id}.x25519"
        assert _mode(key) == 0o600 and _mode(key.parent) == 0o700
        from safereport.services.backup import export_keys

        export_keys(instance, tmp_path / "keys.srkeys", PASSPHRASE)
        (tmp_path / "archives").mkdir()
        archive = create_backup(instance, tmp_path / "archives").path
    finally:
        instance.close()
    restored = restore_backup(archive, tmp_path / "keys.srkeys", PASSPHRASE, tmp_path / "new")
    new_keys = restored.target / "keys"
    assert set(_every_file(new_keys)) >= {"vault.json", f"orgs/{org_id}.x25519"}
    assert set(_every_file(new_keys).values()) == {0o600}
    assert open_package(new_keys, org_id, b"disclosure-1", package) == b"a synthetic package"
