from __future__ import annotations

from click.testing import CliRunner

from safereport.cli import main


def test_foi_due_prints_the_date() -> None:
    result = CliRunner().invoke(main, ["foi", "due", "2026-12-18"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "2027-01-20"


def test_foi_due_in_scotland_explains_the_holidays() -> None:
    args = ["foi", "due", "2026-12-18", "--jurisdiction", "scotland", "--explain"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "2027-01-21"
    assert "  skipped 2027-01-04 New Year Holiday (substitute day)" in lines


def test_foi_due_refuses_a_bad_date() -> None:
    result = CliRunner().invoke(main, ["foi", "due", "18/12/2026"])
    assert result.exit_code == 2
    assert "not a date" in result.output
