"""Imports point downwards only (DESIGN.md section 4), and views never touch the store."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from tests.support.paths import SRC

_BASE = {"errors", "config"}
ALLOWED: dict[str, set[str]] = {
    "domain": {"domain", "errors"},
    "policy": {"policy", "domain"} | _BASE,
    "store": {"store", "domain"} | _BASE,
    "vault": {"vault", "domain", "policy", "store"} | _BASE,
    # the ledger signs and keeps its keys through the vault's recipes (crypto only in the vault)
    "ledger": {"ledger", "domain", "policy", "store", "vault"} | _BASE,
    "stats": {"stats", "domain", "store", "ledger"} | _BASE,
    "services": {"services", "domain", "policy", "store", "vault", "ledger", "stats"} | _BASE,
    # web and cli are thin adapters over services; the web never queries the store itself
    "web": {"web", "services", "domain", "policy", "vault", "ledger", "stats"} | _BASE,
    "cli": {"cli", "web", "services", "domain", "policy", "store", "vault", "ledger", "stats"}
    | _BASE,
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "safereport" and len(parts) > 1:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layer_imports_only_what_lies_below(layer: str) -> None:
    bad = {}
    for path in (SRC / layer).rglob("*.py"):
        wrong = _imports(path) - ALLOWED[layer] - {"__version__"}
        if wrong:
            bad[str(path.relative_to(SRC))] = sorted(wrong)
    assert bad == {}, f"imports pointing the wrong way: {bad}"


def test_every_layer_is_checked() -> None:
    layers = {p.name for p in SRC.iterdir() if p.is_dir() and not p.name.startswith("_")}
    assert layers == set(ALLOWED)
