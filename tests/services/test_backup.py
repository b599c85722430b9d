"""Backup and restore: a busy instance round-trips on SQLite and PostgreSQL; a damaged, truncated
or foreign archive, or the wrong passphrase, is refused and nothing is written."""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from tests.support.unsafe_seal import unsafe_seal

from safereport.cli import main
from safereport.domain.case import new_id
from safereport.domain.vocabulary import DataCategory
from safereport.errors import InstanceError, InvalidInput
from safereport.policy.decision import UnsafeGrantForTests
from safereport.services.access import Write
from safereport.services.backup import (
    BackupDamaged,
    create_backup,
    export_keys,
    restore_backup,
)
from safereport.services.casework import insert_note
from safereport.services.instance import Instance, open_instance
from safereport.services.setup import init_instance
from safereport.services.synthetic import (
    populate_activity,
    populate_cases,
    populate_orgs,
    populate_staff,
)
from safereport.services.victim import message_label
from safereport.store.core import cases, notes
from safereport.store.db import make_engine
from safereport.vault.blind import BlindKind

PASSPHRASE = "synthetic passphrase for tests"


def _add_messages(instance: Instance, rng: random.Random, count: int) -> None:
    with instance.engine.begin() as conn:
        ids = list(conn.execute(select(cases.c.id)).scalars())
        for _ in range(count):
            write = Write(instance, conn, unsafe_seal(conn, rng.choice(ids)))
            insert_note(write, conn, new_id(), "a synthetic message",
                        author_id=None, author_kind="victim", visible_to_subject=True,
                        now=datetime.now(UTC))


def _make_instance(path: Path, database_url: str | None = None) -> Instance:
    init_instance(path, database_url=database_url)
    instance = open_instance(path)
    with instance.engine.begin() as conn:
        orgs = populate_orgs(conn)
        populate_staff(conn, orgs)
    populate_cases(instance, seed=5, count=25, holders=orgs.holders)
    populate_activity(instance, orgs)
    _add_messages(instance, random.Random(1), 20)
    return instance


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Instance]:
    monkeypatch.delenv("SAFEREPORT_DATABASE_URL", raising=False)
    instance = _make_instance(tmp_path / "live")
    export_keys(instance, tmp_path / "keys.srkeys", PASSPHRASE)
    yield instance
    instance.close()


class _Writer(threading.Thread):
    """Cases and messages written without pause while a backup runs."""

    def __init__(self, instance: Instance) -> None:
        super().__init__(daemon=True)
        self.instance, self.stop, self.writes = instance, threading.Event(), 0
        self.started_writing = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        rng = random.Random(2)
        holders = _holders(self.instance)
        try:
            while not self.stop.is_set():
                populate_cases(self.instance, seed=100 + self.writes, count=2, holders=holders)
                _add_messages(self.instance, rng, 3)
                self.writes += 1
                self.started_writing.set()
        except BaseException as exc:  # surfaced by the test
            self.error = exc
            self.started_writing.set()


def _holders(instance: Instance) -> list[str]:
    from safereport.store.core import organisations

    with instance.engine.connect() as conn:
        kinds = organisations.c.kind.in_(["support_service", "police"])
        return list(conn.execute(select(organisations.c.id).where(kinds)).scalars())


def _backup_while_writing(instance: Instance, directory: Path) -> tuple[Path, dict[str, int], int]:
    writer = _Writer(instance)
    writer.start()
    writer.started_writing.wait(60)
    before = writer.writes
    try:
        result = create_backup(instance, directory)
    finally:
        writer.stop.set()
        writer.join(60)
    assert writer.error is None, writer.error
    during = writer.writes - before
    # The writer was between two writes of its loop when the backup began, and finished at
    # least the one it had started: the archive was made while cases were being written.
    assert during >= 1, "no write ran alongside the backup: the test proves nothing"
    return result.path, result.counts, during


def _check_restored(target: Path, counts: dict[str, int], database_url: str | None) -> None:
    """Every case and every message is there and opens with the restored keys."""
    restored = open_instance(target)
    try:
        with restored.engine.connect() as conn:
            case_rows = conn.execute(select(cases.c.id, cases.c.reference)).all()
            note_rows = conn.execute(select(notes.c.id, notes.c.case_id, notes.c.sealed)).all()
            assert (len(case_rows), len(note_rows)) == (counts["cases"], counts["notes"])
            for row in note_rows:
                grant = UnsafeGrantForTests(frozenset({DataCategory.CASE_NOTES}),
                                            case_id=row.case_id)
                opened = restored.vault.open_blob(conn, grant, row.case_id,
                                                  DataCategory.CASE_NOTES,
                                                  message_label(row.id), row.sealed)
                assert opened == b"a synthetic message"
            for row in case_rows[:10]:
                found = restored.vault.find_cases(conn, BlindKind.REFERENCE, row.reference)
                assert found == [row.id]
        assert restored.ledger.verify().size == counts["ledger_entries"] > 0
    finally:
        restored.close()


def test_a_busy_sqlite_instance_round_trips(live: Instance, tmp_path: Path) -> None:
    archive, counts, _ = _backup_while_writing(live, tmp_path)
    assert counts["cases"] >= 25 and counts["notes"] >= 20
    result = restore_backup(archive, tmp_path / "keys.srkeys", PASSPHRASE, tmp_path / "new")
    assert result.database == "sqlite" and result.counts == counts
    assert result.ledger_size == counts["ledger_entries"]
    assert not (tmp_path / "new" / "keys" / "ledger.last-checkpoint").exists()
    _check_restored(tmp_path / "new", counts, None)
    # The archive holds no key: none of the key files' bytes are in it.
    data = archive.read_bytes()
    for key_file in (live.settings.keys_dir).iterdir():
        assert key_file.read_bytes() not in data


@pytest.fixture
def second_postgres(postgres_url: str) -> Iterator[str]:
    """A second, empty PostgreSQL database to restore into."""
    admin_url = make_url(postgres_url)
    name = f"{admin_url.database}_restore"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgres
def test_a_busy_postgres_instance_round_trips(
    postgres_url: str, second_postgres: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(postgres_url, pool=False)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    monkeypatch.setenv("SAFEREPORT_DATABASE_URL", postgres_url)
    instance = _make_instance(tmp_path / "live", postgres_url)
    try:
        export_keys(instance, tmp_path / "keys.srkeys", PASSPHRASE)
        archive, counts, _ = _backup_while_writing(instance, tmp_path)
    finally:
        instance.close()
    monkeypatch.setenv("SAFEREPORT_DATABASE_URL", second_postgres)
    result = restore_backup(archive, tmp_path / "keys.srkeys", PASSPHRASE, tmp_path / "new",
                            database_url=second_postgres)
    assert result.database == "postgresql" and result.counts == counts
    assert not (tmp_path / "new" / "safereport.db").exists()
    _check_restored(tmp_path / "new", counts, second_postgres)
    # A second restore into the now non-empty database is refused, and writes nothing.
    with pytest.raises(InstanceError, match="not empty"):
        restore_backup(archive, tmp_path / "keys.srkeys", PASSPHRASE, tmp_path / "again",
                       database_url=second_postgres)
    assert not (tmp_path / "again").exists()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "restore" in p.name or p.name == "new")


@pytest.mark.parametrize("where", ["magic", "header", "first chunk", "middle", "last byte"])
def test_a_flipped_byte_anywhere_is_refused_and_nothing_is_written(
    live: Instance, tmp_path: Path, where: str
) -> None:
    archive = create_backup(live, tmp_path).path
    data = bytearray(archive.read_bytes())
    offset = {"magic": 3, "header": 40, "first chunk": 200, "middle": len(data) // 2,
              "last byte": len(data) - 1}[where]
    data[offset] ^= 0x01
    archive.write_bytes(bytes(data))
    with pytest.raises(BackupDamaged, match=r"damaged|not made under|not a safereport"):
        restore_backup(archive, tmp_path / "keys.srkeys", PASSPHRASE, tmp_path / "new")
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("cut", ["truncated", "appended"])
def test_a_truncated_or_extended_archive_is_refused(live: Instance, tmp_path: Path,
                                                    cut: str) -> None:
    archive = create_backup(live, tmp_path).path
    data = archive.read_bytes()
    archive.write_bytes(data[:-50] if cut == "truncated" else data + b"\x00" * 50)
    with pytest.raises(BackupDamaged):
        restore_backup(archive, tmp_path / "keys.srkeys", PASSPHRASE, tmp_path / "new")
    assert _leftovers(tmp_path) == []


def test_a_foreign_archive_and_a_wrong_passphrase_are_refused(
    live: Instance, tmp_path: Path
) -> None:
    archive = create_backup(live, tmp_path).path
    other = open_instance(init_instance(tmp_path / "other"))
    try:
        export_keys(other, tmp_path / "other.srkeys", PASSPHRASE)
    finally:
        other.close()
    with pytest.raises(BackupDamaged, match="not made under this keys backup's key"):
        restore_backup(archive, tmp_path / "other.srkeys", PASSPHRASE, tmp_path / "new")
    with pytest.raises(BackupDamaged, match="passphrase is wrong"):
        restore_backup(archive, tmp_path / "keys.srkeys", PASSPHRASE + "!", tmp_path / "new")
    assert _leftovers(tmp_path) == []


def test_keys_changed_since_the_keys_backup_are_refused(live: Instance, tmp_path: Path) -> None:
    """An archive made after the vault key changed cannot be restored with the older keys."""
    vault_file = live.settings.keys_dir / "vault.json"
    original = vault_file.read_bytes()
    vault_file.write_bytes(original.replace(b"{", b"{ ", 1))  # same key, different bytes
    archive = create_backup(live, tmp_path).path
    vault_file.write_bytes(original)
    with pytest.raises(BackupDamaged, match=r"vault\.json is not the one"):
        restore_backup(archive, tmp_path / "keys.srkeys", PASSPHRASE, tmp_path / "new")
    assert _leftovers(tmp_path) == []


def test_keep_rotates_only_this_instances_archives(live: Instance, tmp_path: Path) -> None:
    store = tmp_path / "archives"
    store.mkdir()
    stranger = store / "safereport-0000000000000000-20200101T000000000000Z.srbackup"
    stranger.write_bytes(b"another instance's archive")
    start = datetime(2026, 1, 1, tzinfo=UTC)
    made = []
    for day in range(4):
        result = create_backup(live, store, keep=2, now=lambda d=day: start + timedelta(days=d))
        made.append(result.path)
    remaining = sorted(p for p in store.iterdir() if p != stranger)
    assert remaining == made[2:]
    assert stranger.exists()
    assert [p.name for p in store.iterdir() if p.name.startswith(".")] == []


def test_refusals_before_anything_is_written(live: Instance, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="outside the data directory"):
        create_backup(live, live.settings.data_dir)
    with pytest.raises(InvalidInput, match="at least 12"):
        export_keys(live, tmp_path / "short.srkeys", "short")
    (live.settings.keys_dir / "backup.key").unlink()
    with pytest.raises(InstanceError, match="backup-keys"):
        create_backup(live, tmp_path)
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "file").write_text("x")
    with pytest.raises(InstanceError, match="not an empty folder"):
        restore_backup(tmp_path / "keys.srkeys", tmp_path / "keys.srkeys", PASSPHRASE, occupied)


def test_the_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAFEREPORT_DATABASE_URL", raising=False)
    live = tmp_path / "live"
    _make_instance(live).close()
    runner = CliRunner()

    def run(*args: str, stdin: str = PASSPHRASE + "\n"):  # type: ignore[no-untyped-def]
        return runner.invoke(main, list(args), input=stdin, catch_exceptions=False)

    keys = tmp_path / "keys.srkeys"
    made = run("--data-dir", str(live), "backup-keys", "--to", str(keys), "--passphrase-stdin")
    assert made.exit_code == 0 and keys.exists() and oct(keys.stat().st_mode & 0o777) == "0o600"
    store = tmp_path / "archives"
    store.mkdir()
    out = run("--data-dir", str(live), "backup", "--to", str(store), "--keep", "1")
    assert out.exit_code == 0, out.output
    assert "cases 25" in out.output and "ledger_entries" in out.output
    archive = next(store.iterdir())
    restored = run("--data-dir", str(tmp_path / "new"), "restore", str(archive), "--keys",
                   str(keys), "--passphrase-stdin")
    assert restored.exit_code == 0, restored.output
    lines = restored.output.splitlines()
    assert lines[1].startswith("ledger verify: ok: ") and "every table's count" in lines[2]
    assert run("--data-dir", str(tmp_path / "new"), "ledger", "verify").exit_code == 0
    # One flipped byte: one clear line, exit 2, and no folder made.
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0x80
    archive.write_bytes(bytes(data))
    refused = run("--data-dir", str(tmp_path / "newer"), "restore", str(archive), "--keys",
                  str(keys), "--passphrase-stdin")
    assert refused.exit_code == 2
    assert refused.output.strip().splitlines()[-1].startswith("error: the archive is damaged")
    assert not (tmp_path / "newer").exists()
    assert [p for p in os.listdir(tmp_path) if "restore" in p] == []


def test_a_checkpoint_signed_during_a_backup_does_not_stop_it(
    live: Instance, tmp_path: Path
) -> None:
    """CI, stop 24: the signer wrote its memory of the last checkpoint through a temporary
    ``ledger.last-checkpoint.<pid>.tmp`` in keys/; a backup that met one took it for a key
    (made 0644, so "readable by others") and failed. The memory is now written as a key file
    is (0600, through a ``.partial`` temporary a backup passes over), and a ``.tmp`` one left
    by the earlier writer is not taken for a key either."""
    keys = live.settings.keys_dir
    stray = keys / "ledger.last-checkpoint.4242.tmp"
    stray.write_text("a checkpoint being written\n", encoding="utf-8")
    stray.chmod(0o644)
    archive = create_backup(live, tmp_path)
    assert archive.path.is_file()
    live.ledger.sign_checkpoint()
    state = keys / "ledger.last-checkpoint"
    assert state.is_file() and state.stat().st_mode & 0o777 == 0o600
