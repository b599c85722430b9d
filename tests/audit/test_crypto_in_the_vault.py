"""Audit: crypto only in the vault (STYLE.md point 10, issue 12).

One private module, ``vault/_primitives.py``, imports cryptographic primitives; everything else
calls the vault's recipes (``vault/recipes.py``) or its key-file writer (``vault/keyfile.py``).
Plain hashing (SHA-256 for the Merkle tree, token and claim-code hashes, fingerprints) is not a
primitive here: RFC 6962 hashing is the ledger's format and stays in ``ledger/merkle.py``.
"""

from __future__ import annotations

import ast

import pytest
from tests.support.paths import SRC

PRIMITIVES = "vault/_primitives.py"

#: Libraries whose every use is a primitive.
_CRYPTO_LIBRARIES = frozenset({"cryptography", "nacl", "Crypto", "Cryptodome"})
#: Keyed MACs of the standard library (``hmac.compare_digest`` is a comparison, not a MAC).
_MAC_CALLS = frozenset({"new", "digest", "HMAC"})

#: Keyed hashes left outside the vault, each for a reason:
_MAC_ELSEWHERE = {
    # domain is the bottom layer (pure, no imports above it): the spam classifier is given its
    # key by the service and hashes words with it.
    "domain/spam.py",
}


def primitive_uses(source: str) -> set[str]:
    """What in ``source`` touches a primitive: crypto libraries, HMAC, ``os.urandom``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] in _CRYPTO_LIBRARIES}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            root = node.module.split(".")[0]
            if root in _CRYPTO_LIBRARIES:
                found.add(node.module)
            elif root == "hmac" and {a.name for a in node.names} & _MAC_CALLS:
                found.add("hmac")
            elif root == "os" and "urandom" in {a.name for a in node.names}:
                found.add("os.urandom")
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "hmac" and node.attr in _MAC_CALLS:
                found.add("hmac")
            elif node.value.id == "os" and node.attr == "urandom":
                found.add("os.urandom")
    return found


def _modules() -> dict[str, set[str]]:
    return {
        path.relative_to(SRC).as_posix(): uses
        for path in sorted(SRC.rglob("*.py"))
        if (uses := primitive_uses(path.read_text(encoding="utf-8")))
    }


def test_only_the_primitives_module_touches_crypto_libraries_and_randomness() -> None:
    wrong = {
        name: uses - {"hmac"} if name in _MAC_ELSEWHERE else uses
        for name, uses in _modules().items()
        if name != PRIMITIVES
    }
    assert {name: uses for name, uses in wrong.items() if uses} == {}


def test_the_primitives_module_is_where_the_primitives_are() -> None:
    uses = _modules()[PRIMITIVES]
    assert {"hmac", "os.urandom"} <= uses
    assert any(use.startswith("cryptography") for use in uses)


def test_the_exceptions_still_need_their_exception() -> None:
    """An exception that is no longer needed is taken off the list, not left to hide one."""
    modules = _modules()
    for name in _MAC_ELSEWHERE:
        assert "hmac" in modules.get(name, set()), f"{name} no longer needs its exception"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from cryptography.hazmat.primitives.ciphers.aead import AESGCM", {
            "cryptography.hazmat.primitives.ciphers.aead"}),
        ("import cryptography.fernet", {"cryptography.fernet"}),
        ("import nacl.secret", {"nacl.secret"}),
        ("import hmac\nhmac.new(b'k', b'm', 'sha256')", {"hmac"}),
        ("from hmac import digest", {"hmac"}),
        ("import os\nkey = os.urandom(32)", {"os.urandom"}),
        ("from os import urandom", {"os.urandom"}),
        ("import hmac\nhmac.compare_digest(a, b)", set()),
        ("import hashlib\nhashlib.sha256(b'')", set()),
        ("import secrets\nsecrets.token_hex(16)", set()),
    ],
)
def test_the_scanner_sees_every_way_in(source: str, expected: set[str]) -> None:
    assert primitive_uses(source) == expected


def test_the_ledger_signs_only_through_the_vault() -> None:
    """Signed-note formats are the ledger's; the Ed25519 key and its file are the vault's."""
    for name in ("ledger/keys.py", "ledger/notes.py", "ledger/witness.py"):
        text = (SRC / name).read_text(encoding="utf-8")
        assert "Ed25519PrivateKey" not in text and "Ed25519PublicKey" not in text, name
    keys = (SRC / "ledger/keys.py").read_text(encoding="utf-8")
    assert "keyfile.write_key_file(" in keys and "os.open(" not in keys


def test_one_routine_writes_key_files() -> None:
    """Only vault/keyfile.py creates owner-only files; the other is a backup archive (sealed
    data streamed to disk, not a key: its key lives in keys/ and the keys backup)."""
    writers = {
        path.relative_to(SRC).as_posix()
        for path in SRC.rglob("*.py")
        if "0o600" in (text := path.read_text(encoding="utf-8")) and "os.open(" in text
    }
    assert writers == {"vault/keyfile.py", "services/backup.py"}
