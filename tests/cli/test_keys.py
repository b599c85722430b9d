"""``safereport keys``: rotate (with its progress), status, generate-env; all documented."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select
from tests.support.paths import ROOT
from tests.support.unsafe_seal import unsafe_seal

from safereport.cli import main
from safereport.config import CONFIG_FILE, load_settings
from safereport.domain.fields import CaseField
from safereport.store.db import make_engine
from safereport.store.tables import metadata
from safereport.store.vault import vault_case_keys
from safereport.vault import init_vault, open_vault

DOC = ROOT / "docs" / "vault.md"


def _instance(tmp_path: Path, cases: int = 30) -> Path:
    data_dir = tmp_path / "instance"
    data_dir.mkdir()
    (data_dir / CONFIG_FILE).write_text('instance_id = "test"\n')
    settings = load_settings(data_dir)
    settings.keys_dir.mkdir(mode=0o700)
    init_vault(settings)
    engine = make_engine(settings.effective_database_url())
    metadata.create_all(engine)
    vault = open_vault(settings)
    with engine.begin() as conn:
        for n in range(cases):
            vault.seal_fields(conn, unsafe_seal(conn, f"case-{n}"),
                              f"case-{n}", {CaseField.NAME: f"person {n}"})
    engine.dispose()
    return data_dir


def _kek_ids(data_dir: Path) -> set[str]:
    engine = make_engine(load_settings(data_dir).effective_database_url())
    with engine.connect() as conn:
        found = {row.kek_id for row in conn.execute(select(vault_case_keys.c.kek_id))}
    engine.dispose()
    return found


def test_keys_rotate_and_status(tmp_path: Path) -> None:
    data_dir = _instance(tmp_path)
    runner = CliRunner()
    before = _kek_ids(data_dir)
    status = runner.invoke(main, ["--data-dir", str(data_dir), "keys", "status"])
    assert status.exit_code == 0, status.output
    (old,) = before
    assert f"{old} (current): wraps 30 data keys" in status.output
    result = runner.invoke(main, ["--data-dir", str(data_dir), "keys", "rotate",
                                  "--batch-size", "7"])
    assert result.exit_code == 0, result.output
    (new,) = _kek_ids(data_dir)
    assert new != old
    assert f"rotated to {new}: 30 data keys rewrapped" in result.output
    assert f"retired {old}" in result.output
    # an older keys backup holds the retired KEK: the operator is told to replace it
    assert "write a new keys backup (`backup-keys`) and destroy the older ones" in result.output
    again = runner.invoke(main, ["--data-dir", str(data_dir), "keys", "rotate", "--resume-only"])
    assert again.exit_code == 0 and "0 data keys rewrapped" in again.output


def test_keys_rotate_refuses_an_unsafe_key_file(tmp_path: Path) -> None:
    data_dir = _instance(tmp_path, cases=1)
    (load_settings(data_dir).keys_dir / "vault.json").chmod(0o644)
    result = CliRunner().invoke(main, ["--data-dir", str(data_dir), "keys", "rotate"])
    assert result.exit_code == 2
    assert "readable by others" in result.output


def test_generate_env_prints_two_fresh_keys() -> None:
    result = CliRunner().invoke(main, ["keys", "generate-env", "MY_KEK"])
    assert result.exit_code == 0
    assert re.fullmatch(r"MY_KEK=\S{44}\nMY_KEK_INDEX=\S{44}\n", result.output)


def test_every_keys_command_is_documented() -> None:
    group = main.commands["keys"]
    assert hasattr(group, "commands")
    text = DOC.read_text(encoding="utf-8")
    for name in group.commands:
        assert f"safereport keys {name}" in text, name
