"""The ledger: every access decision, allowed or denied, appended to a signed Merkle log.

Two ways in. ``append`` runs inside the caller's transaction (a write: the change and its
record commit together or not at all). ``commit`` hands the record to the process's
:class:`~safereport.ledger.sequencer.Sequencer`, which appends the records of concurrent
requests in one transaction (group commit), signs a checkpoint over them once durable, and only
then returns the index (a read: nothing opens before the entry is committed, I1). One writer at
a time: SQLite's ``BEGIN IMMEDIATE`` serialises writers; on PostgreSQL a transaction-scoped
advisory lock does, held until the transaction commits. Indices are therefore 0..n-1 with no
gaps, whatever the number of processes.

Checkpoints are signed only after a consistency proof, built from the stored tree, links the
new root to the last signed one: the log never signs two inconsistent checkpoints, even if
someone has edited its tables. The proof is not read again when the stored right edge is
exactly the edge this process extended in memory from one already proven (the sequencer's own
batches, one after another): that edge fixes the root, and appending cannot break consistency.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, select, text

from safereport.config import Settings
from safereport.domain.vocabulary import Obligation
from safereport.errors import AccessDenied, ConfigError, LedgerError
from safereport.ledger import merkle, tree
from safereport.ledger.audit import AuditReport, verify_log
from safereport.ledger.keys import NoteSigner, read_key_file, write_key_file
from safereport.ledger.notes import Checkpoint, format_checkpoint, parse_checkpoint, parse_note
from safereport.ledger.record import (
    DecisionRecord,
    Encoded,
    bound_fields,
    encode_records,
    leaf_bound_fields,
    parse_leaf,
    records_from_decisions,
)
from safereport.ledger.sequencer import Sequencer
from safereport.ledger.verifier import TlogProof, format_proof
from safereport.policy.decision import Decision, Grant, Seal, _mint_grant, _mint_seal
from safereport.store.db import make_engine
from safereport.store.ledger import ledger_checkpoints, ledger_entries
from safereport.vault import keyfile

__all__ = [
    "KEY_FILE",
    "SIGNED_STATE_FILE",
    "CheckpointHook",
    "EntryView",
    "Ledger",
    "init_ledger",
    "open_ledger",
]

log = logging.getLogger("safereport.ledger")

#: How many leaves the sequencer last committed are kept for :meth:`Ledger.grant`.
_RECENT_LEAVES = 8192
#: The copy of the last checkpoint beside the key is written at most this often (seconds);
#: the newest note signed meanwhile is the one written (docs/ledger.md).
REMEMBER_EVERY = 0.05

#: Called with each checkpoint note this process signs, after it is committed (a witness client).
CheckpointHook = Callable[[str], None]

KEY_FILE = "ledger.key"
SIGNED_STATE_FILE = "ledger.last-checkpoint"
#: The PostgreSQL advisory lock that makes one sequencer at a time ("SAFELEDG" in ASCII).
_SEQUENCER_LOCK = 0x534146454C454447


@dataclass(frozen=True)
class EntryView:
    """One entry as its data subject may see it ("who has seen my data, and why")."""

    index: int
    time: datetime
    actor_id: str
    actor_role: str
    actor_org_kind: str | None
    holder: str
    action: str
    purpose: str
    recipient: str
    effect: str
    categories: tuple[str, ...]
    obligations: tuple[str, ...]
    rules: tuple[str, ...]


@dataclass(frozen=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str
    new: bool = False  # signed just now (by this call)


@dataclass(frozen=True, slots=True)
class _Left:
    """The log as the sequencer's last committed transaction left it, and how to tell that
    nobody has written since (SQLite only): ``version`` is the driver connection and its
    :func:`tree.data_version`, read inside that transaction under the write lock (another
    connection's commit changes it), and ``changes`` the connection's count of rows it has
    changed, read at the transaction's end (a write through this same connection changes it)."""

    version: tuple[Any, int]
    changes: int
    size: int
    newest: bytes | None
    edge: tuple[bytes, ...]
    latest: StoredCheckpoint | None

    def still(self, version: tuple[Any, int] | None) -> bool:
        """Whether the database is still as this left it: the same driver connection, no
        other connection has committed since, and nothing was written through this one."""
        return (
            version is not None
            and version[0] is self.version[0]
            and version[1] == self.version[1]
            and version[0].total_changes == self.changes
        )


@dataclass(frozen=True, slots=True)
class Sequenced:
    """One transaction of the sequencer (:meth:`Ledger.sequence`): the checkpoint it signed
    over the earlier batches and the entries ``first``..``end - 1`` it appended (``leaves``)."""

    signed: StoredCheckpoint
    first: int
    end: int
    leaves: list[bytes]
    left: _Left | None


def lock_sequencer(conn: Connection) -> None:
    """Take the one-writer lock for the rest of ``conn``'s transaction."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SEQUENCER_LOCK})
    # SQLite: every transaction began with BEGIN IMMEDIATE (store.db), a database-wide lock.


def _rows_for(
    records: Sequence[DecisionRecord],
    first: int,
    times: str | None,
    encoded: Sequence[Encoded] | None = None,
) -> list[tuple[Any, ...]]:
    """The entries' rows, numbered from ``first``: ``idx`` and then the
    :data:`tree.ENTRY_COLUMNS`, each record's leaf and time text made once (or given, as
    :func:`encode_records` made them), the leaf hash last. ``created_at`` is as
    :func:`tree.entry_times` says the database takes it (``times``): the stored text, or the
    UTC datetime (also SQLAlchemy Core's form, for ``None``)."""
    text = times == "text"
    stored_time = tree.stored_time
    if encoded is None:
        encoded = encode_records(records)
    rows = []
    for index, record, (leaf, moment, leaf_hash) in zip(
        range(first, first + len(records)), records, encoded, strict=True
    ):
        rows.append((
            index,
            stored_time(moment) if text else record.time.astimezone(UTC),
            moment[:7],
            record.case_id,
            record.actor_id,
            record.actor_role,
            record.actor_org_kind,
            record.holder,
            record.action,
            record.purpose,
            record.recipient,
            record.effect,
            " ".join(record.rules),
            record.regime,
            leaf,
            leaf_hash,
        ))
    return rows


#: The order :func:`_rows_for` writes after ``idx`` (checked at import: a new column must be
#: added there).
_ROW_COLUMNS = (
    "created_at", "month", "case_id", "actor_id", "actor_role", "actor_org_kind", "holder",
    "action", "purpose", "recipient", "effect", "rules", "regime", "leaf", "leaf_hash",
)
if _ROW_COLUMNS != tree.ENTRY_COLUMNS:
    raise ImportError("ledger._rows_for does not match the ledger_entries table's columns")


def _check_entry_records(
    index: int,
    leaf: bytes,
    decision: Decision,
    case_id: str | None,
    *,
    encoded_here: bool = False,
) -> None:
    """Raise unless entry ``index`` (its ``leaf``) records ``decision`` about ``case_id``:
    the same action, case, data, outcome, holder, obligations, policy, purpose, recipient,
    regime and rules, and the same kind of actor (another role's entry with the same rules
    must not stand behind this Grant). ``encoded_here``: see :func:`parse_leaf`."""
    stored = leaf_bound_fields(parse_leaf(leaf, encoded_here=encoded_here))
    expected = bound_fields(decision, case_id)
    mismatched = [name for name, value in expected.items() if stored[name] != value]
    if mismatched:
        raise LedgerError(
            f"ledger entry {index} records another decision ({', '.join(mismatched)})"
        )


def _stored_leaf(conn: Connection, index: int, missing: str) -> bytes:
    """Entry ``index``'s leaf as ``conn`` sees it, checked against its stored hash."""
    row = conn.execute(
        select(ledger_entries.c.leaf, ledger_entries.c.leaf_hash).where(
            ledger_entries.c.idx == index
        )
    ).first()
    if row is None:
        raise LedgerError(f"ledger entry {index} {missing}")
    leaf = bytes(row.leaf)
    if merkle.leaf_hash(leaf) != bytes(row.leaf_hash):
        raise LedgerError(f"ledger entry {index} does not match its hash")
    return leaf


class Ledger:
    """The log of one instance: its tables, its signing key and its origin."""

    def __init__(
        self,
        engine: Engine,
        signer: NoteSigner,
        origin: str,
        *,
        signed_state: Path | None = None,
        writer: Engine | None = None,
    ) -> None:
        if signer.name != origin:
            raise ConfigError(
                f"the log key is named {signer.name!r} but the origin is {origin!r}; "
                "a log's origin is its identity and cannot change"
            )
        self.engine = engine
        #: The sequencer's engine. :func:`open_ledger` gives it one of its own, so that a batch
        #: never waits for a pooled connection held by a request that waits for that batch
        #: (a server's requests can hold every connection of the instance's pool).
        self.writer = writer or engine
        self.signer = signer
        self.origin = origin
        self._edge = tree.EdgeCache()
        # The last checkpoint this key signed, kept beside the key, outside the database:
        # wiping the checkpoint table does not make the signer forget what it signed.
        self._signed_state = signed_state
        self.sequencer = Sequencer(self)
        self._hooks: list[CheckpointHook] = []
        self._hook_runner: ThreadPoolExecutor | None = None
        self._unsigned = threading.Event()  # appended in a caller's transaction, not signed yet
        self._remember_lock = threading.RLock()
        # Not the remember lock: the sequencer hands each checkpoint to the background thread
        # and must not wait while that thread writes (and fsyncs) the previous one.
        self._runner_lock = threading.Lock()
        self._newest_signed = ""  # the newest note handed to the background thread
        # The background thread has been handed a write of the newest note that has not begun
        # (with no hooks, one such turn at a time serves every signing; see signed()).
        self._remember_queued = False
        self._remembered_at = 0.0  # time.monotonic() of the last write beside the key
        self._committed_lock = threading.Lock()
        self._recent: OrderedDict[int, bytes] = OrderedDict()  # index -> leaf, committed
        self._verified: dict[str, Checkpoint] = {}
        self._remembered_cache: tuple[tuple[int, int, int], StoredCheckpoint] | None = None
        # The sequencer thread's own: the log as its last committed transaction left it.
        self._left: _Left | None = None

    # -- group commit ----------------------------------------------------------------------

    def commit(
        self,
        decision: Decision,
        *,
        actor_id: str,
        case_id: str | None,
        actor_org_kind: str | None = None,
        detail: Mapping[str, str] | None = None,
        now: datetime | None = None,
    ) -> int:
        """Record ``decision`` through the sequencer; returns once durable and signed over.
        The record is made (at this moment's time) by the sequencer's thread."""
        return self.commit_many([decision], actor_id=actor_id, case_id=case_id,
                                actor_org_kind=actor_org_kind, detail=detail, now=now)[0]

    def commit_many(
        self,
        decisions: Sequence[Decision],
        *,
        actor_id: str,
        case_id: str | None,
        actor_org_kind: str | None = None,
        detail: Mapping[str, str] | None = None,
        now: datetime | None = None,
    ) -> list[int]:
        """:meth:`commit` for several decisions of one actor about one case: one submission to
        the sequencer, so they share a batch (one transaction, one fsync, one wait)."""
        when = now or datetime.now(UTC)
        made = list(decisions)

        def records() -> tuple[list[DecisionRecord], list[Encoded]]:
            return records_from_decisions(
                made,
                actor_id=actor_id,
                case_id=case_id,
                actor_org_kind=actor_org_kind,
                detail=detail,
                now=when,
            )

        return self.sequencer.submit(records, len(made))

    def on_checkpoint(self, hook: CheckpointHook) -> None:
        """Call ``hook(note)`` after each checkpoint this process signs and commits.

        Hooks run one at a time, in signing order, on a thread of their own: a slow or failing
        hook (a witness that does not answer) never delays or fails an append. A hook that
        raises is logged and the next checkpoint is delivered as usual.
        """
        self._hooks.append(hook)

    def _background(self) -> ThreadPoolExecutor:
        with self._runner_lock:
            if self._hook_runner is None:
                self._hook_runner = ThreadPoolExecutor(1, thread_name_prefix="ledger-hooks")
            return self._hook_runner

    def _in_background(self, work: Callable[..., None], *args: Any) -> None:
        """Run ``work`` on the hooks' thread, or here once that thread is gone: at exit Python
        shuts thread pools down before ``atexit`` closes the sequencer, whose last signing
        must still be remembered and announced."""
        try:
            self._background().submit(work, *args)
        except RuntimeError:  # "cannot schedule new futures after shutdown"
            work(*args)

    def _announce(self, note: str) -> None:
        for hook in list(self._hooks):
            self._in_background(_run_hook, hook, note)

    def close(self) -> None:
        """Stop the sequencer; sign over entries appended in callers' transactions; run hooks."""
        self.sequencer.close()
        if self._unsigned.is_set():
            try:
                self.sign_checkpoint()
            except Exception as exc:
                log.error("the log refused to sign a checkpoint at close: %s", exc)
        if self._hook_runner is not None:
            self._hook_runner.shutdown(wait=True)
            self._hook_runner = None
        if self.writer is not self.engine:
            self.writer.dispose()

    # -- appending -------------------------------------------------------------------------

    def append(
        self,
        conn: Connection,
        decision: Decision,
        *,
        actor_id: str,
        case_id: str | None,
        actor_org_kind: str | None = None,
        detail: Mapping[str, str] | None = None,
        now: datetime | None = None,
    ) -> int:
        """Record ``decision`` in the caller's transaction; returns the entry's index."""
        records, encoded = records_from_decisions(
            [decision],
            actor_id=actor_id,
            case_id=case_id,
            actor_org_kind=actor_org_kind,
            detail=detail,
            now=now or datetime.now(UTC),
        )
        return self.append_in(conn, records, encoded)[0]

    def append_many(self, conn: Connection, records: Sequence[DecisionRecord]) -> list[int]:
        """Record several decisions at once (same transaction rules as :meth:`append`)."""
        return list(range(*self.append_batch(conn, records)[:2]))

    def append_batch(
        self,
        conn: Connection,
        records: Sequence[DecisionRecord],
        encoded: Sequence[Encoded] | None = None,
    ) -> tuple[int, int, list[bytes]]:
        """:meth:`append_many`, returning the first index, the size after and the leaves
        written (the sequencer keeps those for :meth:`grant` without encoding them again);
        ``encoded`` as :func:`encode_records` gives them, if the caller made them."""
        if not records:
            return 0, 0, []
        lock_sequencer(conn)
        size, newest = tree.last_entry(conn)
        first, edge, rows = self._append(conn, records, size, newest, encoded)
        return first, edge.size, [row[-2] for row in rows]

    def _append(
        self,
        conn: Connection,
        records: Sequence[DecisionRecord],
        size: int,
        newest: bytes | None,
        encoded: Sequence[Encoded] | None = None,
    ) -> tuple[int, merkle.CompactRange, list[tuple[Any, ...]]]:
        """Append ``records`` to the log of ``size`` entries whose newest leaf hash is
        ``newest`` (as read in this write transaction, or known to be so); the first index,
        the edge after and the rows written. Every append, in a caller's transaction or the
        sequencer's, goes through here."""
        known = self._edge.anchored(size, newest)
        edge_hashes, anchors = known if known is not None else (None, ())
        times = tree.entry_times(conn.dialect)
        rows = _rows_for(records, size, times, encoded)
        if times is None:  # SQLAlchemy's conversions, over the rows without their idx
            edge = tree.append_values(conn, size, [row[1:] for row in rows], edge_hashes)
        else:
            edge = tree.append_entries(conn, size, rows, edge_hashes)
        # Extended in memory, the edge still extends whatever its anchors are (an edge read
        # from the database has none).
        self._edge.put(edge.size, rows[-1][-1], edge.hashes(), anchors)
        return size, edge, rows

    def sequence(
        self,
        conn: Connection,
        records: Sequence[DecisionRecord],
        encoded: Sequence[Encoded] | None = None,
    ) -> Sequenced:
        """The sequencer's write transaction: sign over the committed tree (:meth:`sign_in`),
        then append ``records`` (none: only sign; ``encoded`` as :func:`encode_records` gives
        them, if the callers made them). Once the transaction has committed, pass the result
        to :meth:`sequenced`.

        On SQLite, on the sequencer's own engine, if no other connection has committed since
        the sequencer's last transaction did (``PRAGMA data_version``, read under the write
        lock) and nothing was written through its connection since, the log is exactly as that
        transaction left it, and its size, newest leaf, right edge and latest checkpoint are
        not read again (issue 13: three reads of every batch; docs/ledger.md).
        """
        signed, left = self._sign_in(conn, empty=False)
        if not records:
            return Sequenced(signed, 0, 0, [], left)
        if left is None:  # not known (PostgreSQL, a shared engine): read it, under the lock
            size, newest = tree.last_entry(conn)
        else:
            size, newest = left.size, left.newest
        first, edge, rows = self._append(conn, records, size, newest, encoded)
        after = None if left is None else _left_as(
            left.version, edge.size, rows[-1][-1], edge.hashes(), left.latest
        )
        return Sequenced(signed, first, edge.size, [row[-2] for row in rows], after)

    def sequenced(self, done: Sequenced) -> None:
        """After the sequencer's transaction (:meth:`sequence`) has committed: its entries are
        durable (:meth:`committed`), and the log is as it left it until someone else writes."""
        self._left = done.left
        if done.end > done.first:
            self.committed(done.first, done.leaves)

    def append_in(
        self,
        conn: Connection,
        records: Sequence[DecisionRecord],
        encoded: Sequence[Encoded] | None = None,
    ) -> list[int]:
        """:meth:`append_many` for a caller's own transaction: the sequencer signs over the
        entries once that transaction has committed (or the ledger does when it is closed)."""
        first, end, _ = self.append_batch(conn, records, encoded)
        if end > first and not self.sequencer.nudge(end - 1):
            self._unsigned.set()
        return list(range(first, end))

    # -- capabilities ----------------------------------------------------------------------

    def grant(
        self,
        decision: Decision,
        index: int,
        case_id: str | None,
        fulfilled: frozenset[Obligation] = frozenset(),
    ) -> Grant:
        """Mint a Grant once entry ``index``, committed, is shown to record ``decision``."""
        if not decision.allowed:
            raise AccessDenied("access denied", rules=decision.rules, reasons=decision.reasons)
        leaf = self._committed_leaf(index)
        encoded_here = leaf is not None
        if leaf is None:
            # A fresh connection sees only committed rows: an uncommitted entry grants nothing.
            with self.engine.connect() as conn:
                leaf = _stored_leaf(conn, index, "is not committed")
        _check_entry_records(index, leaf, decision, case_id, encoded_here=encoded_here)
        try:
            return _mint_grant(decision, index, case_id, fulfilled)
        except ValueError as exc:
            raise AccessDenied(str(exc), rules=decision.rules, reasons=decision.reasons) from exc

    def committed(self, first: int, leaves: Sequence[bytes]) -> None:
        """The sequencer's note that entries ``first``, ``first + 1``... have committed with
        these leaves (a transaction it ran and saw commit): :meth:`grant` then checks a
        decision against the exact leaf bytes committed instead of reading them back. Only the
        sequencer calls this."""
        with self._committed_lock:
            for index, leaf in enumerate(leaves, first):
                self._recent[index] = leaf
            while len(self._recent) > _RECENT_LEAVES:
                self._recent.popitem(last=False)

    def seal(self, conn: Connection, decision: Decision, index: int, case_id: str) -> Seal:
        """Mint a Seal for writing ``case_id`` in ``conn``'s transaction, once entry ``index``,
        appended in that same transaction, is read back through it and shown to record
        ``decision`` (no write without its decision in the same transaction)."""
        if not decision.allowed:
            raise AccessDenied("not allowed", rules=decision.rules, reasons=decision.reasons)
        if not conn.in_transaction():
            raise LedgerError("a Seal is given only inside the writing transaction")
        leaf = _stored_leaf(conn, index, "is not in this transaction")
        _check_entry_records(index, leaf, decision, case_id)
        return _mint_seal(decision, index, case_id, conn)

    def _committed_leaf(self, index: int) -> bytes | None:
        with self._committed_lock:
            return self._recent.get(index)

    # -- reading ---------------------------------------------------------------------------

    def entries_for_case(self, conn: Connection, case_id: str) -> list[EntryView]:
        rows = conn.execute(
            select(ledger_entries)
            .where(ledger_entries.c.case_id == case_id)
            .order_by(ledger_entries.c.idx)
        )
        # The column is an index; the leaf decides. A row whose column was edited to point
        # here shows nothing of another case, and `ledger verify` names the edit.
        views = []
        for row in rows:
            if parse_leaf(bytes(row.leaf)).get("case") == case_id:
                views.append(_view(row._mapping))
        return views

    def entry(self, index: int) -> bytes:
        """The exact leaf bytes of entry ``index``."""
        with self.engine.connect() as conn:
            leaf = conn.execute(
                select(ledger_entries.c.leaf).where(ledger_entries.c.idx == index)
            ).scalar()
        if leaf is None:
            raise LedgerError(f"there is no ledger entry {index}")
        return bytes(leaf)

    def size(self) -> int:
        """Entries committed."""
        with self.engine.connect() as conn:
            return tree.tree_size(conn)

    # -- checkpoints and proofs ------------------------------------------------------------

    def verifier_key(self) -> str:
        return self.signer.vkey

    def checkpoint(self, *, new: bool = False) -> str:
        """The latest signed checkpoint; with ``new``, sign one for the current size first."""
        if not new:
            with self.engine.connect() as conn:
                latest = latest_checkpoint(conn)
            if latest is not None:
                return latest.note
        return self.sign_checkpoint().note

    def sign_checkpoint(self) -> StoredCheckpoint:
        """Sign a checkpoint over every committed entry (none if the latest covers them).

        Runs in its own transaction, after the entries' own has committed: it reads only
        committed rows, so a checkpoint never covers an entry that is not durable.
        """
        with self.engine.begin() as conn:
            signed = self.sign_in(conn)
        self.signed(signed)
        return signed

    def sign_in(self, conn: Connection, *, empty: bool = True) -> StoredCheckpoint:
        """Sign over the committed tree inside ``conn``'s write transaction, before it appends.

        The sequencer calls this at the start of a batch's transaction: the checkpoint covers
        the entries of earlier, committed batches, never the ones this transaction adds. Once
        the transaction has committed, pass the result to :meth:`signed`. Without ``empty``,
        an empty log with no checkpoint yet is left unsigned (the result is not ``new``).
        """
        return self._sign_in(conn, empty=empty)[0]

    def _sign_in(
        self, conn: Connection, *, empty: bool
    ) -> tuple[StoredCheckpoint, _Left | None]:
        """:meth:`sign_in`, and the log as it stands after it (on SQLite; see
        :meth:`sequence`)."""
        lock_sequencer(conn)
        # Only on an engine of the sequencer's own (open_ledger's): no one else's transaction
        # ever runs on its connection.
        version = tree.data_version(conn) if self.writer is not self.engine else None
        # Used at most once: a transaction that fails or rolls back leaves nothing known.
        left, self._left = self._left, None
        stored: list[bytes] | None = None
        if left is not None and left.still(version):
            size, newest, latest, stored = left.size, left.newest, left.latest, list(left.edge)
        else:
            size, newest = tree.last_entry(conn)
            latest = latest_checkpoint(conn)
        if size == 0 and latest is None and not empty:
            return StoredCheckpoint(0, b"", ""), _left_as(version, 0, None, [], None)
        remembered = self._remembered()
        if stored is None:
            edge = tree.compact_range(conn, size)
        else:
            edge = merkle.CompactRange(size, stored)
        stored, root = edge.hashes(), edge.root()
        known = [checkpoint.note for checkpoint in (latest, remembered) if checkpoint is not None]
        anchors = self._extends_in_memory(size, newest, stored, known)
        if anchors is None:
            anchors = ()
            if remembered is not None and latest is not None and remembered.note == latest.note:
                remembered = None  # the same checkpoint: proven once
            for checkpoint in (latest, remembered):
                if checkpoint is not None:
                    self._check_extends(conn, checkpoint, size, root)
        # Proven now (or already): the stored tree at this size extends these checkpoints.
        anchors = (*[note for note in anchors if note not in known], *known)
        if latest is not None and latest.size == size:
            self._edge.put(size, newest, stored, anchors)
            return latest, _left_as(version, size, newest, stored, latest)
        body = format_checkpoint(Checkpoint(self.origin, size, root))
        note = self.signer.sign_note(body)
        tree.insert_checkpoint(conn, size, root, note, datetime.now(UTC))
        # If this transaction rolls back, the table's latest is not ``note`` and the next
        # signing proves consistency from the stored tree again.
        self._edge.put(size, newest, stored, (*anchors, note))
        signed = StoredCheckpoint(size, root, note, new=True)
        return signed, _left_as(version, size, newest, stored, replace(signed, new=False))

    def _extends_in_memory(
        self, size: int, newest: bytes | None, stored: Sequence[bytes], notes: Sequence[str]
    ) -> tuple[str, ...] | None:
        """The edge's anchors if the stored tree is provably the one this process holds in
        memory, and that one extends every checkpoint in ``notes`` (then no consistency proof
        need be read); else None.

        The stored right edge (which fixes the root, so every leaf under it) must be exactly
        this process's edge for the same size and newest leaf, and each note must be one of
        the edge's anchors (proven against the stored tree, or signed here, at an earlier size,
        with only appends since). Anything else (an edge read back from the database, a
        rebuilt tree, another process's checkpoint, a rollback) is checked in full.
        """
        known = self._edge.anchored(size, newest)
        if known is None:
            return None
        edge, anchors = known
        if edge == list(stored) and all(note in anchors for note in notes):
            return anchors
        return None

    def signed(self, checkpoint: StoredCheckpoint, *, wait: bool = True) -> None:
        """After the transaction that stored ``checkpoint`` has committed: remember it beside
        the key and hand it to the :meth:`on_checkpoint` hooks (in the background with
        ``wait=False``, as the sequencer does)."""
        if not checkpoint.new:
            return
        self._unsigned.clear()
        if wait:
            self._remember(checkpoint.note)
            self._announce(checkpoint.note)
            return
        self._newest_signed = checkpoint.note
        if self._hooks:  # every note, in order, to the hooks
            self._in_background(self._remember_and_announce, checkpoint.note)
        elif not self._remember_queued:
            # Nothing but the copy beside the key: one turn of the background thread writes
            # whatever note is newest when it runs, so a signing while one is queued needs
            # none of its own (under load a turn per batch, each a hand-over to that thread
            # and a wake of it, cost more than the writes: issue 13).
            self._remember_queued = True
            self._in_background(self._remember_newest)

    def _remember_and_announce(self, note: str) -> None:
        """On the background thread: remember ``note``, then run the hooks here, in order.

        A note already followed by a newer one is not written beside the key (the newer one's
        own turn writes it): under load the file is written as often as the disk allows, not
        once per batch, and it never holds an older checkpoint than it would have."""
        if note == self._newest_signed:
            # A newer note signed while this one waits its turn is written in its place.
            self._wait_for_turn()
            if note == self._newest_signed:
                self._write_copy(note)
        for hook in list(self._hooks):
            _run_hook(hook, note)

    def _remember_newest(self) -> None:
        """On the background thread, with no hooks: write the newest note signed, at most
        once every REMEMBER_EVERY. The turn is marked as begun before the note is read, so a
        note signed after that read is handed a turn of its own (see :meth:`signed`)."""
        self._wait_for_turn()
        self._remember_queued = False
        self._write_copy(self._newest_signed)

    def _wait_for_turn(self) -> None:
        """At most one write beside the key every REMEMBER_EVERY: wait out the rest of it."""
        pause = self._remembered_at + REMEMBER_EVERY - time.monotonic()
        if pause > 0:
            time.sleep(pause)

    def _write_copy(self, note: str) -> None:
        try:
            self._remember(note)
            self._remembered_at = time.monotonic()
        except OSError as exc:
            log.error("cannot write %s: %s", self._signed_state, exc)

    def _remembered(self) -> StoredCheckpoint | None:
        if self._signed_state is None:
            return None
        try:
            stat = self._signed_state.stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise LedgerError(f"cannot read {self._signed_state}") from exc
        stamp = _stamp(stat)
        if self._remembered_cache is not None and self._remembered_cache[0] == stamp:
            return self._remembered_cache[1]
        try:
            note = self._signed_state.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise LedgerError(f"cannot read {self._signed_state}") from exc
        checkpoint = parse_checkpoint(parse_note(note).text)
        stored = StoredCheckpoint(checkpoint.size, checkpoint.root, note)
        self._remembered_cache = (stamp, stored)
        return stored

    def _remember(self, note: str) -> None:
        if self._signed_state is None:
            return
        checkpoint = parse_checkpoint(parse_note(note).text)
        with self._remember_lock:
            try:
                known = self._remembered()
            except LedgerError:
                known = None
            if known is not None and known.size >= checkpoint.size:
                return  # another process remembered a later one meanwhile
            # Written, fsynced, renamed: after a power loss the file holds this note or an
            # earlier one, never a torn or empty file that would stop the log from signing.
            # It lives among the keys, so it is written as they are (0600 from the first byte,
            # through a ``.partial`` temporary that a backup passes over).
            keyfile.write_key_file(self._signed_state, note.encode("utf-8"), replace=True)
            # What was just written need not be read back before the next batch: remembered
            # under the file's new stamp (any other writer of the file changes the stamp).
            self._remembered_cache = (
                _stamp(self._signed_state.stat()),
                StoredCheckpoint(checkpoint.size, checkpoint.root, note),
            )

    def _check_extends(
        self, conn: Connection, latest: StoredCheckpoint, size: int, root: bytes
    ) -> None:
        """Refuse to sign unless the stored tree provably extends the last signed one."""
        signed = self._verified_checkpoint(latest.note)
        if (signed.size, signed.root) != (latest.size, latest.root):
            raise LedgerError(f"stored checkpoint {latest.size} does not match its note")
        if signed.size == size and signed.root != root:
            raise LedgerError(
                f"refusing to sign: the stored tree's root at size {size} is not the one signed"
            )
        if size < signed.size:
            raise LedgerError(
                f"refusing to sign: the log has {size} entries but checkpoint "
                f"{signed.size} was signed"
            )
        if signed.size == 0 or signed.size == size:
            return
        proof = tree.consistency_proof(conn, signed.size, size)
        try:
            merkle.verify_consistency(signed.size, size, proof, signed.root, root)
        except LedgerError as exc:
            raise LedgerError(
                f"refusing to sign: the stored tree is not consistent with checkpoint "
                f"{signed.size} ({exc})"
            ) from exc

    def _verified_checkpoint(self, note: str) -> Checkpoint:
        """The checkpoint of ``note`` once its signature is checked (remembered: a note that
        verified once always does, so a batch does not check the same signature again)."""
        known = self._verified.get(note)
        if known is not None:
            return known
        parsed = parse_note(note)
        parsed.verify(self.signer.verifier)
        checkpoint = parse_checkpoint(parsed.text)
        if len(self._verified) >= 64:
            self._verified.clear()
        self._verified[note] = checkpoint
        return checkpoint

    def _checkpoint_covering(self, index: int) -> StoredCheckpoint:
        with self.engine.connect() as conn:
            latest = latest_checkpoint(conn)
        if latest is not None and latest.size > index:
            return latest
        return self.sign_checkpoint()

    def proof_for(self, index: int) -> str:
        """A C2SP tlog-proof for entry ``index`` against the latest checkpoint."""
        if index < 0:
            raise LedgerError("entry indices start at 0")
        checkpoint = self._checkpoint_covering(index)
        if index >= checkpoint.size:
            raise LedgerError(f"there is no ledger entry {index}")
        with self.engine.connect() as conn:
            hashes = tree.inclusion_proof(conn, index, checkpoint.size)
        return format_proof(TlogProof(index, tuple(hashes), checkpoint.note))

    def consistency(self, old: int, new: int) -> list[bytes]:
        """The RFC 9162 consistency proof between tree sizes ``old`` and ``new``."""
        with self.engine.connect() as conn:
            size = tree.tree_size(conn)
            if new > size:
                raise LedgerError(f"the log has only {size} entries, not {new}")
            if old == new:
                return []
            return tree.consistency_proof(conn, old, new)

    def verify(self, external: Iterable[tuple[str, str]] = ()) -> AuditReport:
        """Recompute the tree from every stored leaf; LedgerTampered names the first fault."""
        checks = list(external)
        remembered = self._remembered()
        if remembered is not None:
            checks.append(("the signer's last checkpoint", remembered.note))
        with self.engine.connect() as conn:
            return verify_log(conn, self.signer.verifier, checks)


def _left_as(
    version: tuple[Any, int] | None,
    size: int,
    newest: bytes | None,
    edge: Sequence[bytes],
    latest: StoredCheckpoint | None,
) -> _Left | None:
    """The log as it stands now, in the sequencer's transaction, on the connection of
    ``version`` (None: not known, PostgreSQL or a shared engine)."""
    if version is None:
        return None
    return _Left(version, version[0].total_changes, size, newest, tuple(edge), latest)


def _stamp(stat: os.stat_result) -> tuple[int, int, int]:
    """What tells one version of the signed-state file from another (it is replaced, never
    edited in place: a new inode)."""
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def _run_hook(hook: CheckpointHook, note: str) -> None:
    try:
        hook(note)
    except Exception:
        log.exception("a checkpoint hook failed")


#: Built once, for a connection whose transaction has not begun yet.
_LATEST_CHECKPOINT = (
    select(ledger_checkpoints.c.size, ledger_checkpoints.c.root, ledger_checkpoints.c.note)
    .order_by(ledger_checkpoints.c.size.desc())
    .limit(1)
)


def latest_checkpoint(conn: Connection) -> StoredCheckpoint | None:
    """The newest stored checkpoint. Inside a transaction already begun (the sequencer asks
    before every batch) it is read on the driver's cursor, without SQLAlchemy's per-statement
    work; a connection not yet in one begins it through SQLAlchemy."""
    if conn.in_transaction():
        found = tree.latest_checkpoint_row(conn)
        return None if found is None else StoredCheckpoint(*found)
    row = conn.execute(_LATEST_CHECKPOINT).first()
    if row is None:
        return None
    return StoredCheckpoint(int(row.size), bytes(row.root), str(row.note))


def _view(row: RowMapping) -> EntryView:
    """An entry as the views show it: built from the signed leaf, never from the copy columns
    (an operator with database access can edit those; review finding 1)."""
    record = parse_leaf(bytes(row["leaf"]))
    actor = record.get("actor") or {}
    return EntryView(
        index=int(row["idx"]),
        time=datetime.fromisoformat(str(record["time"]).replace("Z", "+00:00")),
        actor_id=str(actor.get("id")),
        actor_role=str(actor.get("role")),
        actor_org_kind=actor.get("org"),
        holder=str(record.get("holder")),
        action=str(record.get("action")),
        purpose=str(record.get("purpose")),
        recipient=str(record.get("recipient")),
        effect=str(record.get("decision")),
        categories=tuple(record.get("data") or ()),
        obligations=tuple(record.get("obligations") or ()),
        rules=tuple(record.get("rules") or ()),
    )


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def init_ledger(settings: Settings) -> None:
    """Make the log's Ed25519 signing key (mode 0600), named by the log's origin."""
    write_key_file(settings.keys_dir / KEY_FILE, NoteSigner.generate(settings.log_origin))


def open_ledger(settings: Settings, engine: Engine) -> Ledger:
    signer = read_key_file(settings.keys_dir / KEY_FILE, NoteSigner)
    writer = make_engine(engine.url.render_as_string(hide_password=False), pool_size=1)
    return Ledger(
        engine, signer, settings.log_origin, signed_state=settings.keys_dir / SIGNED_STATE_FILE,
        writer=writer,
    )
