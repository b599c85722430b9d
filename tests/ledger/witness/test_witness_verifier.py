"""The standalone verifier (web/static/verify_receipt.py) and trust policies.

The standalone file runs under `python -I -S` (no site-packages: neither safereport nor any
cryptography library), agrees with `cryptography` on Ed25519 and with the RFC's definition on
inclusion proofs, and accepts a cosigned receipt under a 2-of-2 policy only while every
cosignature is genuine; `ledger check-proof --policy` reads the same policy file.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Engine
from tests.support.ledger_helpers import ORIGIN, append_n, cosign, make_ledger
from tests.support.paths import ROOT

from safereport.cli import main
from safereport.errors import LedgerError
from safereport.ledger import merkle
from safereport.ledger.keys import NoteSigner
from safereport.ledger.log import Ledger
from safereport.ledger.verifier import TrustPolicy, check_proof, parse_policy
from safereport.ledger.witness import Witness
from safereport.ledger.witness_client import cosigned_proof

STANDALONE = (
    ROOT
    / "src"
    / "safereport"
    / "web"
    / "static"
    / "verify_receipt.py"
)


def standalone() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_receipt", STANDALONE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ed25519_agrees_with_cryptography() -> None:
    verify = standalone().ed25519_verify
    for number in range(12):
        key = Ed25519PrivateKey.generate()
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        message = os.urandom(number * 7)
        signature = key.sign(message)
        assert verify(public, message, signature)
        assert not verify(public, message + b"x", signature)
        bad = bytearray(signature)
        bad[number % 64] ^= 1 << (number % 8)
        assert not verify(public, message, bytes(bad))
        other = (
            Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        )
        assert not verify(other, message, signature)
    # s must be below the group order (no malleable signatures).
    s_too_big = signature[:32] + (int.from_bytes(signature[32:], "little") + 2**253).to_bytes(
        32, "little"
    )
    assert not verify(public, message, s_too_big)


def _path(index: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 6962 PATH(m, D[n]), by its recursive definition."""
    if len(leaves) == 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if index < k:
        return [*_path(index, leaves[:k]), _mth(leaves[k:])]
    return [*_path(index - k, leaves[k:]), _mth(leaves[:k])]


def _mth(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return merkle.leaf_hash(leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return merkle.node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def test_inclusion_agrees_with_the_rfc_definition() -> None:
    module = standalone()
    leaves = [f"leaf {i}".encode() for i in range(40)]
    for size in range(1, 41):
        root = _mth(leaves[:size])
        for index in range(size):
            proof = _path(index, leaves[:size])
            got = module.inclusion_root(index, size, merkle.leaf_hash(leaves[index]), proof)
            assert got == root, (index, size)
            if proof:
                with pytest.raises(module.Refused):
                    module.inclusion_root(index, size, merkle.leaf_hash(leaves[index]), proof[:-1])


@pytest.fixture
def cosigned(engine: Engine, tmp_path: Path) -> tuple[Ledger, list[Witness], str]:
    """A log of 13 entries whose latest checkpoint two witnesses cosigned; entry 5's receipt."""
    ledger = make_ledger(engine)
    append_n(ledger, 13)
    witnesses = cosign(ledger, ledger.checkpoint(new=True), tmp_path)
    return ledger, witnesses, cosigned_proof(ledger, 5)


def run_standalone(
    tmp_path: Path, receipt: str, policy: str, entry: bytes
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "receipt").write_text(receipt)
    (tmp_path / "policy").write_text(policy)
    (tmp_path / "entry").write_bytes(entry)
    # -I -S: no user site, no site-packages, no environment: only this file and the stdlib.
    command = [
        sys.executable,
        "-I",
        "-S",
        str(STANDALONE),
        *(str(tmp_path / n) for n in ("receipt", "policy", "entry")),
    ]
    return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=300)


def test_the_standalone_verifier_checks_a_cosigned_receipt(
    cosigned: tuple[Ledger, list[Witness], str], tmp_path: Path
) -> None:
    ledger, witnesses, receipt = cosigned
    entry = ledger.entry(5)
    policy = TrustPolicy(ledger.verifier_key(), tuple(w.vkey for w in witnesses), 2).render(
        ["https://w1.example", "https://w2.example"]
    )
    done = run_standalone(tmp_path, receipt, policy, entry)
    assert done.returncode == 0, done.stderr
    assert "cosigned by 2 of the 2 witnesses" in done.stdout
    check_proof(
        receipt, ledger.verifier_key(), entry, witnesses=[w.vkey for w in witnesses], quorum=2
    )

    lines = receipt.split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("\u2014 witness.example/w2 "))
    prefix, blob = lines[at].rsplit(" ", 1)
    flipped = blob[:10] + ("A" if blob[10] != "A" else "B") + blob[11:]
    forged = "\n".join([*lines[:at], f"{prefix} {flipped}", *lines[at + 1 :]])
    refused = run_standalone(tmp_path, forged, policy, entry)
    assert refused.returncode == 1 and "FORGED" in refused.stderr
    with pytest.raises(LedgerError):
        check_proof(
            forged, ledger.verifier_key(), entry, witnesses=[w.vkey for w in witnesses], quorum=2
        )

    # Missing a cosignature the policy asks for, another entry, another log's key: refused.
    one = receipt.replace(lines[at] + "\n", "")
    assert run_standalone(tmp_path, one, policy, entry).returncode == 1
    assert (
        run_standalone(tmp_path, one, policy.replace("quorum 2", "quorum 1"), entry).returncode == 0
    )
    assert run_standalone(tmp_path, receipt, policy, ledger.entry(6)).returncode == 1
    impostor = NoteSigner(ORIGIN, b"\x0b" * 32).vkey  # the same origin, another key
    wrong_key = run_standalone(
        tmp_path, receipt, policy.replace(ledger.verifier_key(), impostor), entry
    )
    assert wrong_key.returncode == 1 and "NOT signed by the log's key" in wrong_key.stderr


def test_check_proof_reads_the_same_policy(
    cosigned: tuple[Ledger, list[Witness], str], tmp_path: Path
) -> None:
    ledger, witnesses, receipt = cosigned
    (tmp_path / "receipt").write_text(receipt)
    (tmp_path / "entry").write_bytes(ledger.entry(5))
    policy = TrustPolicy(ledger.verifier_key(), tuple(w.vkey for w in witnesses), 2).render()
    (tmp_path / "policy").write_text(policy)
    args = ["ledger", "check-proof", str(tmp_path / "receipt"), "--entry", str(tmp_path / "entry")]
    done = CliRunner().invoke(main, [*args, "--policy", str(tmp_path / "policy")])
    assert done.exit_code == 0 and "at least 2 of 2 witnesses" in done.stdout, done.output
    (tmp_path / "policy").write_text(
        policy.replace(
            witnesses[1].vkey, Witness.create(tmp_path / "w3", "witness.example/w3").vkey
        )
    )
    refused = CliRunner().invoke(main, [*args, "--policy", str(tmp_path / "policy")])
    assert refused.exit_code == 1 and "1 of the given witnesses; 2 required" in refused.stderr
    both = CliRunner().invoke(main, [*args, "--policy", str(tmp_path / "policy"), "--key", "x"])
    assert both.exit_code == 2


def test_policy_files_are_checked(cosigned: tuple[Ledger, list[Witness], str]) -> None:
    ledger, witnesses, _ = cosigned
    log, w1 = ledger.verifier_key(), witnesses[0].vkey
    assert parse_policy(f"# ours\nlog {log}\nwitness {w1} https://w.example\n").quorum == 1
    assert parse_policy(f"log {log}\nwitness {w1}\nquorum 0\n").quorum == 0
    for bad in (
        f"witness {w1}\n",
        f"log {w1}\n",
        f"log {log}\nwitness {log}\n",
        f"log {log}\nquorum 2\nwitness {w1}\n",
        f"log {log}\nlog {log}\n",
        f"log {log}\nwhatever\n",
    ):
        with pytest.raises(LedgerError):
            parse_policy(bad)
