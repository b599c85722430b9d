"""RFC 6962 hashing and proofs: the public test vectors, and every proof up to size 64."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from safereport.errors import LedgerError
from safereport.ledger import merkle

VECTORS = Path(__file__).parent / "vectors"


def _load(kind: str) -> list[tuple[str, dict[str, Any]]]:
    files = sorted((VECTORS / kind).rglob("*.json"))
    return [(str(f.relative_to(VECTORS)), json.loads(f.read_text())) for f in files]


def _b(value: str | None) -> bytes:
    return base64.b64decode(value or "")


INCLUSION = _load("inclusion")
CONSISTENCY = _load("consistency")


def test_vectors_were_copied() -> None:
    assert len(INCLUSION) > 80 and len(CONSISTENCY) > 90
    assert any(not v["wantErr"] for _, v in INCLUSION)
    assert any(v["wantErr"] for _, v in CONSISTENCY)


@pytest.mark.parametrize(("name", "vector"), INCLUSION, ids=[n for n, _ in INCLUSION])
def test_inclusion_vector(name: str, vector: dict[str, Any]) -> None:
    def check() -> None:
        merkle.verify_inclusion(
            vector["leafIdx"],
            vector["treeSize"],
            _b(vector["leafHash"]),
            [_b(p) for p in vector["proof"] or []],
            _b(vector["root"]),
        )

    if vector["wantErr"]:
        with pytest.raises(LedgerError):
            check()
    else:
        check()


@pytest.mark.parametrize(("name", "vector"), CONSISTENCY, ids=[n for n, _ in CONSISTENCY])
def test_consistency_vector(name: str, vector: dict[str, Any]) -> None:
    def check() -> None:
        merkle.verify_consistency(
            vector["size1"],
            vector["size2"],
            [_b(p) for p in vector["proof"] or []],
            _b(vector["root1"]),
            _b(vector["root2"]),
        )

    if vector["wantErr"]:
        with pytest.raises(LedgerError):
            check()
    else:
        check()


# -- the RFC 6962 reference definitions, written straight from the RFC's recursion ---------


def mth(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def ref_path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return [*ref_path(m, leaves[:k]), mth(leaves[k:])]
    return [*ref_path(m - k, leaves[k:]), mth(leaves[:k])]


def ref_subproof(m: int, leaves: list[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*ref_subproof(m, leaves[:k], b), mth(leaves[k:])]
    return [*ref_subproof(m - k, leaves[k:], False), mth(leaves[:k])]


LEAVES = [f"leaf {i}".encode() for i in range(64)]


class MemoryTree:
    """Perfect-subtree hashes as the store keeps them, filled by CompactRange."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.nodes: dict[merkle.Node, bytes] = {}
        edge = merkle.CompactRange(on_node=lambda lvl, i, h: self.nodes.__setitem__((lvl, i), h))
        for index, leaf in enumerate(leaves):
            self.nodes[(0, index)] = merkle.leaf_hash(leaf)
            edge.append(merkle.leaf_hash(leaf))
        self.edge = edge

    def hashes(self, ranges: list[tuple[int, int]]) -> list[bytes]:
        return [merkle.range_hash(s, e, self.nodes) for s, e in ranges]

    def edge_at(self, size: int) -> list[bytes]:
        """The right edge of the first ``size`` leaves (their compact range's hashes)."""
        return [self.nodes[node] for node in merkle.CompactRange.nodes(size)]


TREE = MemoryTree(LEAVES)


def test_roots_match_the_reference_for_every_size() -> None:
    for size in range(65):
        edge = merkle.CompactRange()
        for leaf in LEAVES[:size]:
            edge.append(merkle.leaf_hash(leaf))
        assert edge.root() == mth(LEAVES[:size])
        assert merkle.range_hash(0, size, TREE.nodes) == mth(LEAVES[:size])


def _remember_node(seen: dict[merkle.Node, bytes], level: int, index: int, value: bytes) -> None:
    seen[(level, index)] = value


def test_extending_in_batches_is_appending_one_by_one() -> None:
    # CompactRange.extend (the append path's batch loop) gives the same edge, root and nodes.
    for start in range(0, 40):
        for count in (0, 1, 2, 3, 7, 24):
            seen: dict[merkle.Node, bytes] = {}
            keep = functools.partial(_remember_node, seen)
            edge = merkle.CompactRange(start, TREE.edge_at(start), keep)
            edge.extend([merkle.leaf_hash(leaf) for leaf in LEAVES[start : start + count]])
            assert edge.size == start + count
            assert edge.root() == mth(LEAVES[: start + count])
            assert edge.hashes() == TREE.edge_at(start + count)
            assert seen == {
                node: value for node, value in TREE.nodes.items()
                if node[0] > 0 and start < (node[1] + 1) << node[0] <= start + count
            }


def test_every_inclusion_proof_up_to_64_verifies() -> None:
    for size in range(1, 65):
        root = mth(LEAVES[:size])
        for index in range(size):
            proof = TREE.hashes(merkle.inclusion_ranges(index, size))
            assert proof == ref_path(index, LEAVES[:size])
            merkle.verify_inclusion(index, size, merkle.leaf_hash(LEAVES[index]), proof, root)
            with pytest.raises(LedgerError):
                merkle.verify_inclusion(index, size, merkle.leaf_hash(b"forged"), proof, root)


def test_every_consistency_proof_up_to_64_verifies() -> None:
    for new in range(1, 65):
        new_root = mth(LEAVES[:new])
        for old in range(1, new + 1):
            proof = TREE.hashes(merkle.consistency_ranges(old, new)) if old < new else []
            if old < new:
                assert proof == ref_subproof(old, LEAVES[:new], True)
            merkle.verify_consistency(old, new, proof, mth(LEAVES[:old]), new_root)
            if old < new:
                forged = mth([b"x", *LEAVES[1:old]])
                with pytest.raises(LedgerError):
                    merkle.verify_consistency(old, new, proof, forged, new_root)


def test_proof_length_is_logarithmic() -> None:
    for size in (1, 2, 3, 1000, 10**6, 10**9, 2**40 + 5):
        limit = max(1, (size - 1).bit_length())
        assert len(merkle.inclusion_ranges(size - 1, size)) <= limit
        assert len(merkle.inclusion_ranges(0, size)) <= limit
        assert len(merkle.nodes_for(merkle.inclusion_ranges(size // 3, size))) <= 2 * limit


@given(st.data())
def test_flipping_any_proof_bit_fails(data: st.DataObject) -> None:
    size = data.draw(st.integers(2, 64))
    index = data.draw(st.integers(0, size - 1))
    proof = TREE.hashes(merkle.inclusion_ranges(index, size))
    position = data.draw(st.integers(0, len(proof) - 1))
    bit = data.draw(st.integers(0, 255))
    tampered = list(proof)
    tampered[position] = bytes(
        b ^ (1 << (bit % 8)) if i == bit // 8 else b for i, b in enumerate(proof[position])
    )
    with pytest.raises(LedgerError):
        merkle.verify_inclusion(
            index, size, merkle.leaf_hash(LEAVES[index]), tampered, mth(LEAVES[:size])
        )
