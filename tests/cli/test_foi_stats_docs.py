from __future__ import annotations

import click
from tests.support.paths import ROOT

from safereport.cli.foi import foi
from safereport.cli.stats import stats

DOC = ROOT / "docs" / "transparency.md"


def test_every_command_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for group in (foi, stats):
        assert isinstance(group, click.Group)
        for name, command in group.commands.items():
            assert f"safereport {group.name} {name}" in text, f"{group.name} {name} undocumented"
            for param in command.params:
                if isinstance(param, click.Option):
                    assert any(opt in text for opt in param.opts), f"{name} {param.opts}"
