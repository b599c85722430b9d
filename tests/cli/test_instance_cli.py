"""The instance commands: init, db, user add, demo; and their refusals (one line, non-zero)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from safereport.cli import main
from safereport.errors import InstanceError, StorageError
from safereport.services.instance import open_instance


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), input=input, env=env, catch_exceptions=False)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_init_creates_a_private_instance(tmp_path: Path) -> None:
    target = tmp_path / "inst"
    result = run("--data-dir", str(target), "init")
    assert result.exit_code == 0, result.output
    assert (target / "config.toml").is_file()
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    for key_file in (target / "keys").iterdir():
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert run("--data-dir", str(target), "db", "current").exit_code == 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "staging left behind"


def test_init_refuses_an_existing_instance_and_changes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "inst"
    assert run("--data-dir", str(target), "init").exit_code == 0
    before = _snapshot(target)
    result = run("--data-dir", str(target), "init")
    assert result.exit_code == 2
    assert "already holds a safereport instance" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert _snapshot(target) == before


def test_init_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "inst").mkdir()
    (tmp_path / "inst" / "mine.txt").write_text("keep me")
    result = run("--data-dir", str(tmp_path / "inst"), "init")
    assert result.exit_code == 2 and "not an empty folder" in result.output
    assert (tmp_path / "inst" / "mine.txt").read_text() == "keep me"


def test_init_in_a_read_only_filesystem_fails_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As root, permissions do not stop writes, so simulate what a read-only mount reports.
    real_access = os.access

    def no_write(path: object, mode: int, *args: object, **kwargs: object) -> bool:
        if mode & os.W_OK:
            return False
        return real_access(path, mode)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "access", no_write)
    result = run("--data-dir", str(tmp_path / "inst"), "init")
    assert result.exit_code == 2 and "read-only" in result.output
    assert not (tmp_path / "inst").exists()


def test_unreachable_postgres_fails_init_and_writes_nothing(tmp_path: Path) -> None:
    url = "postgresql+psycopg://nobody:s3cret-pw@127.0.0.1:1/nothing"
    result = run("--data-dir", str(tmp_path / "inst"), "init", env={"SAFEREPORT_DATABASE_URL": url})
    assert result.exit_code == 2
    assert "cannot reach the database" in result.output
    assert "s3cret-pw" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_corrupt_database_file_is_reported_not_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "inst"
    assert run("--data-dir", str(target), "init").exit_code == 0
    garbage = b"this is not a database" * 100
    (target / "safereport.db").write_bytes(garbage)
    for suffix in ("-wal", "-shm"):
        (target / f"safereport.db{suffix}").unlink(missing_ok=True)
    result = run("--data-dir", str(target), "db", "current")
    assert result.exit_code == 2
    assert "not a usable SQLite database" in result.output
    assert (target / "safereport.db").read_bytes() == garbage
    with pytest.raises(StorageError):
        open_instance(target)


def test_no_instance_gives_a_helpful_line(tmp_path: Path) -> None:
    result = run("--data-dir", str(tmp_path / "none"), "db", "current")
    assert result.exit_code == 2
    assert "safereport init" in result.output
    with pytest.raises(InstanceError):
        open_instance(tmp_path / "none")


def test_unknown_option_is_refused() -> None:
    result = CliRunner().invoke(main, ["init", "--frobnicate"])
    assert result.exit_code == 2
    assert "No such option" in result.output


def test_every_command_has_help() -> None:
    import click

    def walk(command: click.Command, path: list[str]) -> None:
        result = CliRunner().invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                walk(sub, [*path, name])

    walk(main, [])


def test_user_add_and_its_refusals(tmp_path: Path) -> None:
    target = tmp_path / "inst"
    assert run("--data-dir", str(target), "init").exit_code == 0
    added = run(
        "--data-dir",
        str(target),
        "org",
        "add",
        "Test Support (synthetic)",
        "--kind",
        "support_service",
    )
    assert added.exit_code == 0, added.output
    again = run(
        "--data-dir", str(target), "org", "add", "Test Support (synthetic)", "--kind", "police"
    )
    assert again.exit_code == 2 and "exists already" in again.output
    bad_kind = CliRunner().invoke(
        main, ["--data-dir", str(target), "org", "add", "X", "--kind", "home_office"]
    )
    assert bad_kind.exit_code == 2
    listed = run("--data-dir", str(target), "org", "list").output
    assert "support_service\tTest Support (synthetic)" in listed
    args = [
        "--data-dir",
        str(target),
        "user",
        "add",
        "--org",
        "Test Support (synthetic)",
        "--username",
        "cw",
        "--name",
        "Case Worker",
        "--role",
        "caseworker",
        "--password-stdin",
    ]
    ok = run(*args, input="a-long-enough-password\n")
    assert ok.exit_code == 0, ok.output
    assert "a-long-enough-password" not in ok.output
    assert run(*args, input="a-long-enough-password\n").exit_code == 2  # taken
    short = run(*[a if a != "cw" else "cw2" for a in args], input="short\n")
    assert short.exit_code == 2 and "12 characters" in short.output
    no_org = run(
        *[a if a != "Test Support (synthetic)" else "Nowhere" for a in args],
        input="a-long-enough-password\n",
    )
    assert no_org.exit_code == 2 and "no organisation" in no_org.output


def test_init_with_postgres_migrates_the_postgres_database(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from safereport.services.setup import init_instance
    from safereport.store.db import make_engine
    from safereport.store.migrate import current_revision, head_revision

    if db_url.startswith("sqlite"):
        monkeypatch.delenv("SAFEREPORT_DATABASE_URL", raising=False)
        target = init_instance(tmp_path / "inst")
        assert (target / "safereport.db").exists()
        return
    monkeypatch.delenv("SAFEREPORT_DATABASE_URL", raising=False)  # passed explicitly only
    target = init_instance(tmp_path / "inst", database_url=db_url)
    assert not (target / "safereport.db").exists()
    engine = make_engine(db_url)
    try:
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
    config = (target / "config.toml").read_text()
    assert db_url not in config and "@" not in config  # never its URL (a password)...
    assert 'database = "postgresql"' in config  # ...but its kind
    # Started again without the URL: one line saying so, not an empty SQLite log served.
    result = run("--data-dir", str(target), "org", "list")
    assert result.exit_code != 0
    assert "was made on PostgreSQL" in result.output and "SAFEREPORT_DATABASE_URL" in result.output
    assert "Traceback" not in result.output and not (target / "safereport.db").exists()
    monkeypatch.setenv("SAFEREPORT_DATABASE_URL", db_url)
    assert run("--data-dir", str(target), "org", "list").exit_code == 0


def test_demo_builds_an_instance_with_decisions_a_checkpoint_and_a_release(tmp_path: Path) -> None:
    from sqlalchemy import func, select

    from safereport.store.core import cases
    from safereport.store.ledger import ledger_entries

    target = tmp_path / "demo"
    result = run("--data-dir", str(target), "demo", "--keep", "--no-serve", "--cases", "40")
    assert result.exit_code == 0, result.output
    assert "caseworker1" in result.output and "password:" in result.output
    instance = open_instance(target)
    try:
        with instance.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(cases)).scalar_one() == 40
            rows = conn.execute(select(ledger_entries.c.effect, ledger_entries.c.rules)).all()
    finally:
        instance.close()
    assert ("deny", "F-firewall F-purpose") in [tuple(r) for r in rows]
    assert any(effect == "allow" for effect, _ in rows)
    assert run("--data-dir", str(target), "ledger", "verify").exit_code == 0
    assert "\t" in run("--data-dir", str(target), "stats", "list").output


def test_the_served_app_is_frozen_out_of_the_collectors_way(tmp_path: Path) -> None:
    """What start-up loaded (here: the guard's proven decision table) is in the generation
    the garbage collector no longer walks, so requests' collections do not walk it."""
    import gc

    from safereport.cli.instance import _serving_app

    target = tmp_path / "inst"
    assert run("--data-dir", str(target), "init").exit_code == 0
    gc.unfreeze()
    app = _serving_app(target)
    try:
        table = app.state.instance.guard._table
        assert table is not None and gc.is_tracked(table.root)
        assert gc.get_freeze_count() > 0
        # Frozen objects are in no generation a collection walks.
        assert not any(obj is table.root for obj in gc.get_objects())
    finally:
        gc.unfreeze()
        app.state.instance.close()
