"""Where things are, however deep the test that asks: the repository's root and its source."""

from __future__ import annotations

from pathlib import Path

__all__ = ["ROOT", "SRC", "SUPPORT"]


def _root() -> Path:
    """The folder holding pyproject.toml, above this file."""
    for folder in Path(__file__).resolve().parents:
        if (folder / "pyproject.toml").is_file():
            return folder
    raise RuntimeError("no pyproject.toml above tests/support")


ROOT = _root()
SRC = ROOT / "src" / "safereport"
#: This folder: the helper modules, and the scripts tests run as processes.
SUPPORT = Path(__file__).resolve().parent
