"""The Merkle tree as stored: appends that fill the node table, and O(log n) proofs.

Every function takes a connection and never commits: the caller owns the transaction, so a
leaf and the nodes it completes are written in the same transaction as the access they record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, func, select, tuple_

from safereport.errors import LedgerError
from safereport.ledger import merkle
from safereport.ledger.merkle import CompactRange, Node
from safereport.store.ledger import ledger_entries, ledger_nodes

T = TypeVar("T")

__all__ = [
    "append_rows",
    "compact_range",
    "consistency_proof",
    "fetch_nodes",
    "inclusion_proof",
    "root",
    "tree_size",
]


def tree_size(conn: Connection) -> int:
    """Entries are numbered 0..n-1 with no gaps, so the size is the largest index plus one."""
    last = conn.execute(select(func.max(ledger_entries.c.idx))).scalar()
    return 0 if last is None else int(last) + 1


def fetch_nodes(conn: Connection, nodes: Iterable[Node]) -> dict[Node, bytes]:
    """The stored hashes of the given perfect nodes; LedgerError if one is missing."""
    wanted = set(nodes)
    leaves = sorted(index for level, index in wanted if level == 0)
    inner = sorted((level, index) for level, index in wanted if level > 0)
    found: dict[Node, bytes] = {}
    for chunk in _chunks(leaves):
        rows = conn.execute(
            select(ledger_entries.c.idx, ledger_entries.c.leaf_hash).where(
                ledger_entries.c.idx.in_(chunk)
            )
        )
        found.update(((0, int(idx)), bytes(value)) for idx, value in rows)
    for pairs in _chunks(inner):
        inner_rows = conn.execute(
            select(ledger_nodes.c.level, ledger_nodes.c.idx, ledger_nodes.c.hash).where(
                tuple_(ledger_nodes.c.level, ledger_nodes.c.idx).in_(pairs)
            )
        )
        found.update(((int(lvl), int(idx)), bytes(value)) for lvl, idx, value in inner_rows)
    missing = wanted - found.keys()
    if missing:
        level, index = min(missing)
        raise LedgerError(f"the ledger's tree is missing node ({level}, {index})")
    return found


def _chunks(items: Sequence[T], size: int = 500) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def compact_range(
    conn: Connection, size: int, on_node: Callable[[int, int, bytes], None] | None = None
) -> CompactRange:
    """The right edge of the stored tree of ``size`` leaves, ready to append to."""
    nodes = CompactRange.nodes(size)
    found = fetch_nodes(conn, nodes)
    return CompactRange(size, [found[node] for node in nodes], on_node)


def root(conn: Connection, size: int) -> bytes:
    return compact_range(conn, size).root()


def append_rows(conn: Connection, size: int, entries: Sequence[Mapping[str, Any]]) -> CompactRange:
    """Insert entries numbered from ``size`` (each with its ``leaf_hash``) and their nodes.

    The caller holds the sequencer lock and has checked that ``size`` is the current size.
    """
    new_nodes: list[dict[str, Any]] = []

    def keep(level: int, idx: int, value: bytes) -> None:
        new_nodes.append({"level": level, "idx": idx, "hash": value})

    edge = compact_range(conn, size, keep)
    rows = []
    for offset, entry in enumerate(entries):
        edge.append(entry["leaf_hash"])
        rows.append({**entry, "idx": size + offset})
    if rows:
        conn.execute(ledger_entries.insert(), rows)
    if new_nodes:
        conn.execute(ledger_nodes.insert(), new_nodes)
    return edge


def _resolve(conn: Connection, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    found = fetch_nodes(conn, merkle.nodes_for(ranges))
    return [merkle.range_hash(start, end, found) for start, end in ranges]


def inclusion_proof(conn: Connection, index: int, size: int) -> list[bytes]:
    return _resolve(conn, merkle.inclusion_ranges(index, size))


def consistency_proof(conn: Connection, old: int, new: int) -> list[bytes]:
    return _resolve(conn, merkle.consistency_ranges(old, new))
