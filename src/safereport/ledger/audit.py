"""Recompute the whole tree from the stored leaves and check everything derived from them.

``verify_log`` streams the entries in index order, so it needs memory for one chunk and the
tree's right edge, not the whole log. It stops at the first problem and names it: a missing or
edited entry, a stored node that its leaves do not produce, a checkpoint whose signature or
root does not match the recomputed tree, or a checkpoint larger than the log (deleted entries).
Checkpoints held outside the database (a witness's, a receipt's) can be checked as well: an
operator who rewrote history and re-signed it cannot make those match.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, RowMapping, func, select

from safereport.errors import LedgerError
from safereport.ledger import merkle
from safereport.ledger.notes import Verifier, parse_checkpoint, parse_note
from safereport.ledger.record import index_columns, parse_leaf
from safereport.ledger.tree import node_key
from safereport.store.ledger import ledger_checkpoints, ledger_entries, ledger_nodes

__all__ = ["AuditReport", "LedgerTampered", "verify_columns_of_months", "verify_log"]

_CHUNK = 4096


class LedgerTampered(LedgerError):
    """The stored log does not match itself or a signed checkpoint."""


@dataclass(frozen=True)
class AuditReport:
    size: int
    checkpoints: int
    root: bytes


@dataclass(frozen=True)
class _Target:
    label: str
    size: int
    root: bytes


def _checked_note(label: str, note_text: str, verifier: Verifier) -> _Target:
    try:
        note = parse_note(note_text)
        note.verify(verifier)
        checkpoint = parse_checkpoint(note.text)
    except LedgerError as exc:
        raise LedgerTampered(f"{label}: {exc}") from exc
    if checkpoint.origin != verifier.name:
        raise LedgerTampered(f"{label}: it is for another log ({checkpoint.origin})")
    return _Target(label, checkpoint.size, checkpoint.root)


def _stored_bytes(value: Any, what: str) -> bytes:
    """A binary column's value; anything else there (SQLite keeps whatever type a statement
    writes: ``replace()`` on a leaf makes it text) is tampering, named, not a TypeError."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise LedgerTampered(f"{what} is not stored as bytes ({type(value).__name__})")


def _stored_targets(conn: Connection, verifier: Verifier) -> list[_Target]:
    targets = []
    for row in conn.execute(select(ledger_checkpoints).order_by(ledger_checkpoints.c.size)):
        label = f"checkpoint {row.size}"
        target = _checked_note(label, str(row.note), verifier)
        root = _stored_bytes(row.root, f"{label}: its root")
        if (target.size, target.root) != (int(row.size), root):
            raise LedgerTampered(f"{label}: its row does not match its signed note")
        targets.append(target)
    return targets


class _NodeChecker:
    """Compares every node the recomputation completes with the stored one."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.stored: dict[merkle.Node, bytes] = {}
        self.count = 0

    def load(self, first: int, end: int) -> None:
        """Fetch the stored nodes completed by leaves ``first`` .. ``end - 1``."""
        self.stored = {}
        for level in range(1, end.bit_length() + 1):
            low, high = ((first + (1 << level)) >> level) - 1, (end >> level) - 1
            if low > high:
                continue
            rows = self.conn.execute(
                select(ledger_nodes.c.node, ledger_nodes.c.hash).where(
                    ledger_nodes.c.node.between(node_key(level, low), node_key(level, high))
                )
            )
            self.stored.update(
                ((level, int(key) - node_key(level, 0)),
                 _stored_bytes(value, f"tree node {level}/{int(key) - node_key(level, 0)}"))
                for key, value in rows
            )

    def __call__(self, level: int, index: int, value: bytes) -> None:
        self.count += 1
        if self.stored.get((level, index)) != value:
            first, last = index << level, ((index + 1) << level) - 1
            raise _NodeMismatch(
                first,
                f"entries {first}..{last}: the stored tree node ({level}, {index}) "
                "does not match the leaves",
            )


class _NodeMismatch(LedgerTampered):
    """A stored node that the leaves under it do not make; ``first``: its first entry."""

    def __init__(self, first: int, message: str) -> None:
        super().__init__(message)
        self.first = first


def _check_targets(targets: list[_Target], size: int, root: bytes) -> None:
    for target in targets:
        if target.size == size and target.root != root:
            raise _TargetMismatch(
                size, f"{target.label}: its root does not match the first {size} stored entries"
            )


class _TargetMismatch(LedgerTampered):
    """A checkpoint the first ``size`` entries do not make."""

    def __init__(self, size: int, message: str) -> None:
        super().__init__(message)
        self.size = size


def _check_entry(
    row: Any, edge: merkle.CompactRange, by_size: dict[int, list[_Target]]
) -> None:
    """Check one stored entry (the next in the log) and add it to ``edge``: its index, its
    leaf against its hash and its copy columns, the nodes it completes, the checkpoints at
    the size it makes."""
    idx = row.idx
    if int(idx) != edge.size:
        raise LedgerTampered(f"entry {edge.size}: missing (the next is {idx})")
    leaf = _stored_bytes(row.leaf, f"entry {idx}: its leaf")
    computed = merkle.leaf_hash(leaf)
    if computed != _stored_bytes(row.leaf_hash, f"entry {idx}: its leaf hash"):
        raise LedgerTampered(f"entry {idx}: its leaf does not match its hash")
    _check_columns(row._mapping, leaf)
    edge.append(computed)
    if edge.size in by_size:
        _check_targets(by_size[edge.size], edge.size, edge.root())


def _column_text(name: str, value: Any) -> Any:
    if name == "created_at" and isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return value


def _check_columns(row: RowMapping, leaf: bytes) -> None:
    """Every copy column of a row must say what its signed leaf says (review, finding 1)."""
    try:
        expected = index_columns(parse_leaf(leaf))
    except LedgerError as exc:
        raise LedgerTampered(f"entry {row['idx']}: its leaf is not a decision record") from exc
    for name, wanted in expected.items():
        stored = _column_text(name, row[name])
        if stored != wanted:
            raise LedgerTampered(
                f"entry {row['idx']}: its {name} column says {stored!r} but its signed leaf "
                f"says {wanted!r}"
            )


def verify_log(
    conn: Connection, verifier: Verifier, external: Iterable[tuple[str, str]] = ()
) -> AuditReport:
    """Raise LedgerTampered naming the first problem; ``external`` is (label, note) pairs."""
    targets = _stored_targets(conn, verifier)
    targets += [_checked_note(label, note, verifier) for label, note in external]
    by_size: dict[int, list[_Target]] = {}
    for target in targets:
        by_size.setdefault(target.size, []).append(target)
    checker = _NodeChecker(conn)
    edge = merkle.CompactRange(on_node=checker)
    _check_targets(by_size.get(0, []), 0, edge.root())
    # A checkpoint whose root the entries do not make is often the first sign of an entry
    # edited together with its hash (the two agree); the stored tree node above that entry,
    # checked once the entries after it complete it, names the entry. So a failed checkpoint
    # is kept while the scan goes on: a node mismatch under it is reported (naming the
    # entries), and anything later, or nothing, reports the checkpoint.
    failed: tuple[int, LedgerTampered] | None = None
    while True:
        rows = conn.execute(
            select(ledger_entries)
            .where(ledger_entries.c.idx >= edge.size)
            .order_by(ledger_entries.c.idx)
            .limit(_CHUNK)
        ).all()
        if not rows:
            break
        checker.load(edge.size, edge.size + len(rows))
        for row in rows:
            try:
                _check_entry(row, edge, by_size)
            except _NodeMismatch as exc:
                if failed is not None and exc.first < failed[0]:
                    raise LedgerTampered(f"{exc} (and so {failed[1]})") from exc
                raise failed[1] if failed is not None else exc from None
            except _TargetMismatch as exc:
                failed = failed or (exc.size, exc)
            except LedgerTampered:
                if failed is not None:
                    raise failed[1] from None
                raise
    if failed is not None:
        raise failed[1]
    size = edge.size
    beyond = [target for target in targets if target.size > size]
    if beyond:
        first = min(beyond, key=lambda target: target.size)
        raise LedgerTampered(f"{first.label}: it covers {first.size} entries, the log has {size}")
    stored_nodes = conn.execute(select(func.count()).select_from(ledger_nodes)).scalar() or 0
    if stored_nodes != checker.count:
        raise LedgerTampered(
            f"the tree holds {stored_nodes} nodes where {size} entries make {checker.count}"
        )
    return AuditReport(size=size, checkpoints=len(targets), root=edge.root())


def verify_columns_of_months(conn: Connection, months: Iterable[str]) -> int:
    """Check the copy columns of every entry of ``months`` against its signed leaf.

    For views that count from the columns (the statistics): the entries from one before the
    first to one after the last of the period, by index, are checked, so an entry whose month
    column was edited to move it in or out of the period is caught too. Returns how many were
    checked; raises :class:`LedgerTampered` naming the first difference.
    """
    e = ledger_entries.c
    bounds = conn.execute(
        select(func.min(e.idx), func.max(e.idx)).where(e.month.in_(list(months)))
    ).first()
    if bounds is None or bounds[0] is None:
        return 0
    low, high = int(bounds[0]) - 1, int(bounds[1]) + 1
    checked = 0
    while low <= high:
        rows = conn.execute(
            select(ledger_entries).where(e.idx >= low, e.idx <= high)
            .order_by(e.idx).limit(_CHUNK)
        ).all()
        if not rows:
            break
        for row in rows:
            _check_columns(row._mapping, _stored_bytes(row.leaf, f"entry {row.idx}: its leaf"))
        checked += len(rows)
        low = int(rows[-1].idx) + 1
    return checked
