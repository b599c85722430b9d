"""The vault's shape: one module touches primitives; the public names are pinned."""

from __future__ import annotations

import ast
from pathlib import Path

import safereport.vault

VAULT_DIR = Path(safereport.vault.__file__).parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_only_the_primitives_module_imports_cryptography() -> None:
    offenders = {
        path.name: sorted(m for m in _imports(path) if m.split(".")[0] == "cryptography")
        for path in VAULT_DIR.glob("*.py")
        if path.name != "_primitives.py"
    }
    assert {name: mods for name, mods in offenders.items() if mods} == {}
    assert "cryptography.hazmat.primitives.ciphers.aead" in _imports(VAULT_DIR / "_primitives.py")


def test_the_public_api_is_pinned() -> None:
    assert sorted(safereport.vault.__all__) == [
        "BlindKind",
        "EnvKeyStore",
        "FileKeyStore",
        "KEY_FILE_NAME",
        "KeyStore",
        "OpenedFields",
        "RotationReport",
        "UnsafeMemoryKeyStore",
        "Vault",
        "WithheldReason",
        "init_vault",
        "normalise",
        "open_key_store",
        "open_vault",
        "purge_remnants",
        "rotate_keys",
    ]
    for name in safereport.vault.__all__:
        assert hasattr(safereport.vault, name), name
