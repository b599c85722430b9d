"""``safereport report``: submit (single and bulk, all-or-nothing validation), schema."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import func, select
from tests.support.paths import ROOT
from tests.support.victim_world import World

from safereport.cli import main
from safereport.cli.report import report
from safereport.domain.codename import DEFAULT_PARAMS
from safereport.services.victim import open_by_codename
from safereport.store.core import cases

DOCS = ROOT / "docs" / "victim.md"


def _run(world: World, *args: str) -> object:
    return CliRunner().invoke(main, ["--data-dir", str(world.instance.settings.data_dir),
                                     "report", *args])


def _cases(world: World) -> int:
    with world.instance.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(cases)).scalar_one())


def test_schema_is_json_with_the_fields(sqlite_world: World) -> None:
    result = _run(sqlite_world, "schema")
    schema = json.loads(result.output)  # type: ignore[attr-defined]
    assert schema["$defs"]["submission"]["required"] == ["mode", "crime_type", "narrative"]


def test_submit_prints_references_and_codenames(sqlite_world: World, tmp_path: Path) -> None:
    path = tmp_path / "reports.json"
    path.write_text(json.dumps([
        {"mode": "anonymous", "crime_type": "hate_crime", "narrative": "Synthetic one."},
        {"mode": "codename", "crime_type": "other", "narrative": "Synthetic two."},
    ]), encoding="utf-8")
    result = _run(sqlite_world, "submit", "--json", str(path))
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    first, second = result.output.splitlines()  # type: ignore[attr-defined]
    assert first.startswith("SR-") and "\t" not in first
    reference, codename = second.split("\t")
    # the command ran with the production Argon2id parameters, so look it up with them too
    sqlite_world.instance.settings = replace(sqlite_world.instance.settings,
                                             argon2=DEFAULT_PARAMS)
    session = open_by_codename(sqlite_world.instance, codename)
    assert session is not None and reference.startswith("SR-")


def test_one_bad_item_saves_nothing(sqlite_world: World, tmp_path: Path) -> None:
    path = tmp_path / "reports.json"
    path.write_text(json.dumps([
        {"mode": "anonymous", "crime_type": "other", "narrative": "fine"},
        {"mode": "anonymous", "crime_type": "arson", "narrative": ""},
    ]), encoding="utf-8")
    result = _run(sqlite_world, "submit", "--json", str(path))
    assert result.exit_code == 2  # type: ignore[attr-defined]
    assert "report 1" in result.output and "crime_type" in result.output  # type: ignore
    assert _cases(sqlite_world) == 0


def test_invalid_utf8_and_json_are_clear_errors(sqlite_world: World, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"narrative": "\xff"}')
    result = _run(sqlite_world, "submit", "--json", str(bad))
    assert result.exit_code == 2 and "not UTF-8" in result.output  # type: ignore[attr-defined]
    bad.write_text("{", encoding="utf-8")
    result = _run(sqlite_world, "submit", "--json", str(bad))
    assert result.exit_code == 2 and "not valid JSON" in result.output  # type: ignore


def test_every_report_command_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for name in report.commands:  # type: ignore[attr-defined]
        assert f"safereport report {name}" in text, name
