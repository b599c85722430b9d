"""RFC 6962 / RFC 9162 Merkle tree hashing, proof shapes and proof verification. No I/O.

A tree of ``n`` leaves is addressed by half-open leaf ranges ``[start, end)``. A range whose
width is a power of two and whose start is a multiple of that width is a *perfect* subtree, a
node ``(level, index)`` with ``level = log2(width)`` and ``index = start >> level``: these are
what the store keeps, so that any proof needs only O(log n) stored hashes.

Proof generation is split in two: this module says *which* ranges a proof is made of
(:func:`inclusion_ranges`, :func:`consistency_ranges`), a hash source says what each perfect
subtree hashes to, and :func:`range_hash` folds the perfect pieces of a range that ends at the
right edge of the tree. Verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

from safereport.errors import LedgerError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "Node",
    "consistency_ranges",
    "inclusion_ranges",
    "leaf_hash",
    "node_hash",
    "perfect_pieces",
    "range_hash",
    "root_from_inclusion",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

#: A perfect subtree: (level, index) covering leaves [index << level, (index + 1) << level).
Node = tuple[int, int]
Range = tuple[int, int]


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(width: int) -> int:
    """The largest power of two smaller than ``width`` (``width`` >= 2)."""
    return 1 << ((width - 1).bit_length() - 1)


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The ranges whose hashes make PATH(index, D[0:size]), leaf's sibling first."""
    if not 0 <= index < size:
        raise LedgerError(f"index {index} is not in a tree of size {size}")
    ranges: list[Range] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def consistency_ranges(old: int, new: int) -> list[Range]:
    """The ranges whose hashes make PROOF(old, D[0:new]) (RFC 9162 2.1.4.1)."""
    if not 0 < old <= new:
        raise LedgerError(f"no consistency proof from size {old} to size {new}")
    ranges: list[Range] = []
    start, end, m, complete = 0, new, old, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start, m, complete = start + k, m - k, False
    if not complete:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def perfect_pieces(start: int, end: int) -> list[Node]:
    """The perfect subtrees, left to right, whose fold is MTH(D[start:end])."""
    pieces: list[Node] = []
    while start < end:
        level = (end - start).bit_length() - 1
        # Alignment: a piece never straddles a boundary of its own width.
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        pieces.append((level, start >> level))
        start += 1 << level
    return pieces


def fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from its perfect pieces (left to right): the right edge folds first."""
    result = hashes[-1]
    for piece in reversed(hashes[:-1]):
        result = node_hash(piece, result)
    return result


def range_hash(start: int, end: int, lookup: Mapping[Node, bytes]) -> bytes:
    """MTH(D[start:end]) from a mapping that holds every perfect piece of the range."""
    if start == end:
        return EMPTY_ROOT
    return fold([lookup[node] for node in perfect_pieces(start, end)])


def nodes_for(ranges: Iterable[Range]) -> set[Node]:
    """Every perfect node needed to hash the given ranges."""
    needed: set[Node] = set()
    for start, end in ranges:
        needed.update(perfect_pieces(start, end))
    return needed


class CompactRange:
    """The right edge of a growing tree: one perfect subtree hash per set bit of its size.

    Appending a leaf merges equal-sized neighbours; ``on_node`` sees every perfect node of
    level >= 1 as it is completed, which is how the store fills its node table at append time.
    """

    __slots__ = ("_on_node", "_stack", "size")

    def __init__(
        self,
        size: int = 0,
        hashes: Sequence[bytes] = (),
        on_node: Callable[[int, int, bytes], None] | None = None,
    ) -> None:
        levels = [level for level in range(size.bit_length() - 1, -1, -1) if size >> level & 1]
        if len(levels) != len(hashes):
            raise LedgerError("compact range does not match its size")
        self.size = size
        self._stack: list[tuple[int, bytes]] = list(zip(levels, hashes, strict=True))
        self._on_node = on_node

    @staticmethod
    def nodes(size: int) -> list[Node]:
        """The perfect nodes (left to right) that make the compact range of ``size`` leaves."""
        return perfect_pieces(0, size)

    def append(self, hash_: bytes) -> None:
        level, value, index = 0, hash_, self.size
        stack = self._stack
        while stack and stack[-1][0] == level:
            left = stack.pop()[1]
            value = node_hash(left, value)
            level += 1
            index >>= 1
            if self._on_node is not None:
                self._on_node(level, index, value)
        stack.append((level, value))
        self.size += 1

    def extend(self, hashes: Iterable[bytes]) -> None:
        """:meth:`append` each of ``hashes`` in turn, in one loop (a batch of leaves: no call
        per leaf, the hash function inlined)."""
        stack = self._stack
        on_node = self._on_node
        sha256 = hashlib.sha256
        size = self.size
        for value in hashes:
            level, index = 0, size
            while stack and stack[-1][0] == level:
                value = sha256(b"\x01" + stack.pop()[1] + value).digest()  # node_hash
                level += 1
                index >>= 1
                if on_node is not None:
                    on_node(level, index, value)
            stack.append((level, value))
            size += 1
            self.size = size

    def hashes(self) -> list[bytes]:
        """The edge's perfect-subtree hashes, left to right (what ``nodes(size)`` names)."""
        return [value for _, value in self._stack]

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        return fold([value for _, value in self._stack])


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise LedgerError(f"{what} is {len(value)} bytes, not {HASH_SIZE}")


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` implies for leaf hash ``leaf`` at ``index`` (RFC 9162 2.1.3.2)."""
    if not 0 <= index < size:
        raise LedgerError(f"index {index} is not in a tree of size {size}")
    _check_hash(leaf, "the leaf hash")
    fn, sn, result = index, size - 1, leaf
    for element in proof:
        _check_hash(element, "a proof hash")
        if sn == 0:
            raise LedgerError("the inclusion proof is too long")
        if fn & 1 or fn == sn:
            result = node_hash(element, result)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            result = node_hash(result, element)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise LedgerError("the inclusion proof is too short")
    return result


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    if root_from_inclusion(index, size, leaf, proof) != root:
        raise LedgerError(f"entry {index} is not in the tree of size {size} with that root")


def verify_consistency(
    old: int, new: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> None:
    """Raise LedgerError unless ``proof`` shows tree ``old`` is a prefix of tree ``new``."""
    if old > new:
        raise LedgerError(f"size {old} is larger than size {new}: the log shrank")
    if old == 0:
        raise LedgerError("a consistency proof from the empty tree proves nothing")
    if old == new:
        if proof:
            raise LedgerError("equal sizes take an empty consistency proof")
        if old_root != new_root:
            raise LedgerError(f"two different roots for size {old}: the log forked")
        return
    if not proof:
        raise LedgerError("the consistency proof is empty")
    for element in proof:
        _check_hash(element, "a proof hash")
    path = list(proof)
    if old & (old - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    first = second = path[0]
    for element in path[1:]:
        if sn == 0:
            raise LedgerError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            first = node_hash(element, first)
            second = node_hash(element, second)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            second = node_hash(second, element)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise LedgerError("the consistency proof is too short")
    if first != old_root or second != new_root:
        raise LedgerError(f"the tree of size {old} is not a prefix of the tree of size {new}")
