"""Every command and every setting is documented, or a test fails (STYLE.md 11)."""

from __future__ import annotations

import click
from tests.support.paths import ROOT

from safereport.cli import main
from safereport.config import _FIELDS

DOCS = "\n".join(
    p.read_text(encoding="utf-8")
    for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
)


def _commands(group: click.Group, prefix: str = "") -> list[str]:
    names = []
    for name, command in group.commands.items():
        names.append(f"{prefix}{name}")
        if isinstance(command, click.Group):
            names += _commands(command, f"{prefix}{name} ")
    return names


def test_every_command_is_documented() -> None:
    missing = [name for name in _commands(main) if f"{name}" not in DOCS]
    assert missing == []


def test_every_setting_is_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in [*_FIELDS, "database_url"]:
        assert f"`{name}`" in readme, name
