from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from tests.support.stats_entries import Entry, add_entries

from safereport.cli import main
from safereport.config import load_settings
from safereport.ledger.keys import NoteSigner, read_key_file
from safereport.ledger.log import KEY_FILE, init_ledger
from safereport.store.db import make_engine
from safereport.store.tables import metadata


def _instance(tmp_path: Path) -> Path:
    data = tmp_path / "instance"
    data.mkdir()
    (data / "config.toml").write_text('instance_id = "cli"\n', encoding="utf-8")
    settings = load_settings(data)
    engine = make_engine(settings.effective_database_url())
    metadata.create_all(engine)
    add_entries(engine, [Entry(f"case-{i}", month="2025-06") for i in range(50)])
    engine.dispose()
    init_ledger(settings)
    return data


def test_release_show_verify_budget(tmp_path: Path) -> None:
    data = _instance(tmp_path)
    runner = CliRunner()
    base = ["--data-dir", str(data), "stats"]
    result = runner.invoke(main, [*base, "release", "--month", "2025-06", "--epsilon", "0.6",
                                  "--budget", "1", "--note", "First release."])
    assert result.exit_code == 0, result.output
    assert "release 2025-06.1" in result.output
    # A second release in the same year that would take it over its annual cap of 1 is
    # refused with one clear line, and nothing is stored.
    result = runner.invoke(main, [*base, "release", "--period", "2025-Q2", "--epsilon", "0.6"])
    assert result.exit_code == 2
    assert ("refused: a release of 2025-Q2 at epsilon 0.6 would exceed the privacy budget of "
            "2025 (0.6 of 1 spent, 0.4 left); nothing was released") in result.output
    result = runner.invoke(main, [*base, "budget", "2025-06"])
    assert result.output.strip() == "2025: spent 0.6 of 1"
    ledger = runner.invoke(main, [*base, "budget"]).output.splitlines()
    assert ledger[0] == "2025: spent 0.6; cap 1, 0.4 left"
    assert ledger[1].startswith("  2025-06.1\t2025-06\tepsilon 0.6")
    assert len(ledger) == 2
    result = runner.invoke(main, [*base, "release", "--period", "2025-Q5"])
    assert result.exit_code == 2 and "is not a period" in result.output
    assert runner.invoke(main, [*base, "list"]).output.startswith("2025-06.1\t2025-06\t")
    body = runner.invoke(main, [*base, "show", "2025-06.1", "--format", "json"]).output
    note = runner.invoke(main, [*base, "show", "2025-06.1", "--format", "note"]).output
    (tmp_path / "r.json").write_text(body, encoding="utf-8")
    (tmp_path / "r.note").write_text(note, encoding="utf-8")
    settings = load_settings(data)
    vkey = read_key_file(settings.keys_dir / KEY_FILE, NoteSigner).vkey
    result = runner.invoke(main, [*base, "verify", str(tmp_path / "r.json"),
                                  str(tmp_path / "r.note"), "--vkey", vkey])
    assert result.exit_code == 0, result.output
    assert "verifies" in result.output
    (tmp_path / "r.json").write_text(body.replace('"epsilon"', '"epsilon" '), encoding="utf-8")
    result = runner.invoke(main, [*base, "verify", str(tmp_path / "r.json"),
                                  str(tmp_path / "r.note"), "--vkey", vkey])
    assert result.exit_code == 2
    csv_text = runner.invoke(main, [*base, "show", "2025-06.1", "--format", "csv"]).output
    assert csv_text.startswith("release,period,table,category,count,shown,low_95,high_95,noisy")
