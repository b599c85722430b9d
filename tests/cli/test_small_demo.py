"""Item 10: `safereport demo` with few cases: any --cases from 0 up works or gets one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from safereport.cli import main


@pytest.mark.parametrize("count", [1, 2, 5])
def test_item10_demo_with_few_cases_builds(tmp_path: Path, count: int) -> None:
    # With 5 cases no police case (or no support case) may be drawn: it used to IndexError.
    target = tmp_path / "demo"
    result = CliRunner().invoke(main, ["--data-dir", str(target), "demo", "--keep",
                                       "--no-serve", "--cases", str(count), "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert "caseworker1" in result.output


def test_item10_demo_with_no_cases_gets_one_clear_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "d"), "demo", "--keep",
                                       "--no-serve", "--cases", "0"])
    assert result.exit_code == 2
    assert "--cases" in result.output and "Traceback" not in result.output
