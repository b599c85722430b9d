"""Group commit: decisions from concurrent requests appended in batches, one fsync per batch.

A request that wants to open data hands its decision to :meth:`Sequencer.submit` and
blocks. One thread per process (the sequencer) takes whatever is queued, up to
:data:`MAX_BATCH` records (waiting at most :data:`MAX_WAIT` seconds for more once the first
has arrived), and appends them in **one** write transaction: on SQLite ``BEGIN IMMEDIATE``,
the database's one writer; on PostgreSQL the transaction-scoped advisory lock
(:func:`~safereport.ledger.log.lock_sequencer`), so with several processes exactly one batch
at a time is the log's leader, and indices stay 0..n-1 without gaps or duplicates. The
transaction commits (SQLite ``synchronous=FULL``, PostgreSQL ``synchronous_commit=on``: the
commit is on disk) and only then are the waiting requests released with their indices:
**acknowledged means durable**. (At once if nothing else is queued; if the next batch is,
as that batch goes to the disk, so that their threads run while the sequencer waits on it.)
The records themselves are made, encoded and hashed by the sequencer's thread, not by the
callers' (see :class:`_Waiter`). The caller still asks :meth:`Ledger.grant`, which reads the
entry back from a fresh connection, before the vault opens anything (I1).

**A signed checkpoint per batch.** The next transaction the sequencer runs begins by signing
a checkpoint over the committed tree (the earlier batches, durable; never the entries that
transaction is about to add), and stores it with the next batch, in the same commit; if
nothing else is queued within :data:`SIGN_WAIT`, it signs in a transaction of its own. So no
checkpoint ever covers an entry that is not durable, and an acknowledged entry is outside a
signed checkpoint for at most :data:`SIGN_WAIT` plus one commit. If the log refuses to sign
(its stored tree contradicts a checkpoint it signed before), the next batch's transaction
fails, and with it every request in that batch: fail closed. If a batch's transaction fails,
every request in it gets the error and nothing of theirs opens.

Writes (a case update) do **not** come through here: their decision is appended in the
write's own transaction (``Ledger.append(conn, ...)``), so the write and its record commit
together or not at all. Such an entry is covered by the next checkpoint: :meth:`nudge` asks
a running sequencer to sign one as soon as the caller's transaction has committed (and a
process without one signs when its ledger is closed).

After each checkpoint it signs and commits, the ledger writes it beside its key and calls
the functions registered with :meth:`Ledger.on_checkpoint` (a witness client, say) with the
signed note, on a thread of their own, in order; they cannot delay or fail an append.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from safereport.errors import LedgerError
from safereport.ledger import tree
from safereport.ledger.record import DecisionRecord, Encoded
from safereport.store.db import write_transaction

if TYPE_CHECKING:
    from safereport.ledger.log import Ledger

__all__ = ["IDLE_RECONNECT", "MAX_BATCH", "MAX_WAIT", "SIGN_WAIT", "Sequencer"]

log = logging.getLogger("safereport.ledger")

#: What a caller hands :meth:`Sequencer.submit`: it makes the records and their encodings.
Made = Callable[[], tuple[Sequence[DecisionRecord], Sequence[Encoded]]]

#: The most records one batch (one transaction, one fsync) holds.
MAX_BATCH = 512
#: Once a record is queued, how long the sequencer waits for more before it commits (seconds).
#: Zero: a batch is whatever queued up while the previous batch was committing (requests that
#: arrive together still share a commit, and a lone request pays no added delay).
MAX_WAIT = 0.0
#: Once a batch has committed and nothing is queued, how long the sequencer waits for the
#: next batch (whose transaction signs over this one) before it signs alone, in a transaction
#: and an fsync of its own (seconds). Under steady load the next batch nearly always comes
#: within it, so a batch costs one commit instead of two; an idle log signs this much later.
#: A server's requests arrive some milliseconds apart (each page's own work between them):
#: with 5 ms, the sequencer signed alone after about one batch in four of the case page under
#: load, an extra transaction and fsync that cost the server about 1 ms of CPU per page
#: (issue 13).
SIGN_WAIT = 0.02
#: How long a nudge waits for the caller's transaction to commit before giving up (seconds).
_NUDGE_PATIENCE = 5.0
_NUDGE_POLL = 0.005
#: A connection the sequencer kept that has been idle this long is given back to the pool and
#: taken again before its next transaction (seconds): the pool then checks it is alive.
IDLE_RECONNECT = 1.0
#: After a refusal to sign, how long an idle sequencer waits before it tries again (seconds).
_RETRY_PAUSE = 1.0


class _Waiter:
    """One caller's records, and the caller waiting for their batch.

    The records are built (``make``), encoded and hashed by the sequencer's thread when it
    takes the batch, not by the caller's: every thread that runs Python takes turns at the
    interpreter lock, and a caller woken from its batch holds it for as little as it can (it
    queues and sleeps again) while the sequencer's next batch is on the disk. Built by each
    caller, the records made the sequencer wait for the lock after that commit, behind every
    caller of the batch before: durable appends from 32 writers were about a tenth faster
    built here (issue 13; docs/ledger.md).

    The caller waits on a plain lock, taken at creation and released by the sequencer once
    the batch is done (:meth:`finish`), not on a ``threading.Event``: an Event is a Condition
    written in Python, whose making, waiting and setting run under the interpreter lock that
    every writer and the sequencer share; a lock waits in C. Durable appends from 32 writers
    were about a tenth faster so (issue 13; docs/ledger.md)."""

    __slots__ = ("_done", "count", "encoded", "error", "indices", "make", "records")

    def __init__(self, make: Made, count: int) -> None:
        self.make = make
        self.count = count
        self.records: list[DecisionRecord] = []
        self.encoded: list[Encoded] = []
        self._done = threading.Lock()
        self._done.acquire()
        self.indices: list[int] = []
        self.error: BaseException | None = None

    def build(self) -> None:
        """The records, their leaves and their hashes (in the sequencer's thread)."""
        records, encoded = self.make()
        if not len(records) == len(encoded) == self.count:
            raise LedgerError(f"{len(records)} records made where {self.count} were queued")
        self.encoded = list(encoded)
        self.records = list(records)

    def wait(self) -> None:
        """Block until :meth:`finish` (at once if it has been called)."""
        self._done.acquire()

    def finish(self) -> None:
        """The batch is done (its indices or its error are set): wake the caller. Once."""
        self._done.release()


class Sequencer:
    """The one writer of a ledger in this process; see the module's docstring."""

    def __init__(
        self, ledger: Ledger, *, max_batch: int = MAX_BATCH, max_wait: float = MAX_WAIT
    ) -> None:
        if max_batch < 1:
            raise ValueError("a batch holds at least one record")
        self.ledger = ledger
        self.max_batch = max_batch
        self.max_wait = max_wait
        self._cond = threading.Condition()
        self._queue: list[_Waiter] = []
        self._nudged: list[tuple[int, float]] = []  # (index that must be covered, deadline)
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._closed = False
        self._behind = False  # a batch has committed that no checkpoint covers yet
        # A committed batch whose callers are woken just before the next batch commits, or
        # at once when nothing else is queued (see _commit).
        self._held: tuple[list[_Waiter], list[int]] | None = None
        self._retry_at = 0.0
        # The thread's own connection to the ledger's writer engine, kept open between
        # transactions (see _transaction); only that thread uses it.
        self._conn: Connection | None = None
        self._used_at = 0.0
        #: Batches committed and records appended by this process (for tests and benchmarks).
        self.batches = 0
        self.appended = 0

    # -- callers ---------------------------------------------------------------------------

    def submit(self, make: Made, count: int) -> list[int]:
        """Append the ``count`` records ``make`` returns with their leaves, time text and leaf
        hashes (as :func:`~safereport.ledger.record.records_from_decisions` gives them; called
        in the sequencer's thread, see :class:`_Waiter`); return their indices once they are
        durable and signed over.
        If ``make`` raises, or a record cannot be encoded, this request fails as a failed
        batch does (a LedgerError: nothing opens) and the others in its batch do not."""
        if count <= 0:
            return []
        waiter = _Waiter(make, count)
        with self._cond:
            self._start()
            self._queue.append(waiter)
            self._cond.notify_all()
        waiter.wait()
        if waiter.error is not None:
            if isinstance(waiter.error, LedgerError):
                raise waiter.error
            raise LedgerError(
                f"the ledger could not record the decision ({waiter.error.__class__.__name__})"
            ) from waiter.error
        return waiter.indices

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called (the ledger is closed)."""
        return self._closed

    @property
    def running(self) -> bool:
        """Whether this process's sequencer thread is up (it starts on first use)."""
        thread = self._thread
        return thread is not None and self._pid == os.getpid() and thread.is_alive()

    def start(self) -> None:
        """Start the thread now (a server does, so that writes get checkpoints promptly)."""
        with self._cond:
            self._start()

    def nudge(self, index: int) -> bool:
        """Entry ``index`` was appended in a caller's transaction: sign over it once committed.

        Returns False (and does nothing) if the thread is not running in this process; the
        ledger then signs when it is closed.
        """
        with self._cond:
            if not self.running or self._closed:
                return False
            self._nudged.append((index, time.monotonic() + _NUDGE_PATIENCE))
            self._cond.notify_all()
            return True

    def close(self) -> None:
        """Finish what is queued, sign over what was nudged, and stop the thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread if self._pid == os.getpid() else None
        if thread is not None:
            thread.join(timeout=30)

    # -- the sequencer thread --------------------------------------------------------------

    def _start(self) -> None:
        """Start the thread on first use (and again in a forked child, which has none)."""
        if self._closed:
            raise LedgerError("the ledger is closed")
        if self._thread is not None and self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._queue, self._nudged, self._held = [], [], None
        self._conn = None  # a forked child's: its parent's, never used (nor closed) here
        self._thread = threading.Thread(target=self._run, name="ledger-sequencer", daemon=True)
        self._thread.start()
        atexit.register(self.close)  # at exit: finish what is queued, sign over the last batch

    def _take(self) -> tuple[list[_Waiter], bool]:
        """Wait for work; return a batch of waiters and whether a nudge is due."""
        with self._cond:
            if not self._queue or self.max_wait > 0:
                self._wake_held()  # nothing (else) to do first: its callers go on now
            while not self._queue and not self._closed:
                if self._behind:
                    pause = self._retry_at - time.monotonic()
                    if pause <= 0:
                        return [], False  # idle: sign over the last batch now
                    # A batch just committed (wait briefly for the next, which signs over it),
                    # or the last try was refused (not in a tight loop).
                    self._cond.wait(pause)
                    continue
                if self._nudged:
                    self._cond.wait(_NUDGE_POLL)
                    return [], True
                self._cond.wait()
            if self._queue and self.max_wait > 0:
                deadline = time.monotonic() + self.max_wait
                while (
                    sum(w.count for w in self._queue) < self.max_batch
                    and not self._closed
                    and (left := deadline - time.monotonic()) > 0
                ):
                    self._cond.wait(left)
            batch: list[_Waiter] = []
            count = 0
            while self._queue and (
                not batch or count + self._queue[0].count <= self.max_batch
            ):
                waiter = self._queue.pop(0)
                batch.append(waiter)
                count += waiter.count
            return batch, bool(self._nudged)

    def _run(self) -> None:
        while True:
            batch, nudged = self._take()
            if batch:
                self._commit(batch)
            elif self._behind:
                self._sign_alone()
            elif nudged:
                self._sign_nudged()
            with self._cond:
                if self._closed and not self._queue:
                    break
        self._wake_held()
        if self._behind:
            self._sign_alone()
        if self._nudged:
            self._sign_nudged(final=True)
        self._drop_connection()

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[Connection]:
        """A transaction on the thread's own connection, opened on first use and kept: taking
        one from the pool for every batch and giving it back (which rolls it back) cost about
        a quarter of this thread's time (issue 13). After any failure it is closed, and the
        next transaction opens a new one. ``write``: the log's write lock, as
        ``engine.begin()`` takes it; else a read (a deferred snapshot on SQLite)."""
        now = time.monotonic()
        if self._conn is not None and now - self._used_at > IDLE_RECONNECT:
            # Idle a while: given back and taken again, so the pool checks it is still alive
            # (PostgreSQL's ``pool_pre_ping``: a database restarted meanwhile fails no batch).
            self._drop_connection()
        if self._conn is None:
            self._conn = self.ledger.writer.connect()
        conn = self._conn
        try:
            if write:
                with write_transaction(conn):
                    yield conn
            else:
                with conn.begin():
                    yield conn
        except BaseException:
            self._drop_connection()
            raise
        finally:
            self._used_at = time.monotonic()

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception as exc:  # already broken: nothing more to give back
                log.warning("closing the sequencer's connection: %s", exc)

    def _commit(self, batch: list[_Waiter]) -> None:
        batch = self._built(batch)
        if not batch:  # every request in it failed: nothing to commit
            self._wake_held()
            return
        records = [record for waiter in batch for record in waiter.records]
        encoded = [made for waiter in batch for made in waiter.encoded]
        try:
            with self._transaction() as conn:
                # First, in the same transaction, sign over the earlier batches: they have
                # committed, so the checkpoint covers durable entries only; this batch's own
                # entries are not in it (they are added after). With nothing new to sign, this
                # still checks the stored tree against the last signed checkpoint: a log whose
                # signed history was edited appends nothing more.
                done = self.ledger.sequence(conn, records, encoded)
                # The batch before is durable since its own commit; its callers are woken
                # only now, as this batch goes to the disk: woken earlier, their threads
                # would run while this one does its work above, and it would wait for the
                # interpreter lock after each of its statements (the lock passes among
                # many runnable threads before it comes back). Durable appends from 32
                # writers were about a third faster so (issue 13; docs/ledger.md).
                self._wake_held()
        except Exception as exc:  # every waiter learns it; nothing of theirs opens
            self._wake_held()  # durable all the same
            log.error("a ledger batch of %d entries failed: %s", len(records), exc)
            self._release(batch, error=exc)
            return
        self.batches += 1
        self.appended += len(records)
        self._behind = True  # this batch is durable; the next transaction signs over it
        self._retry_at = time.monotonic() + SIGN_WAIT  # ...if it comes soon, else alone
        self.ledger.sequenced(done)  # the very bytes written, not encoded again
        self._held = (batch, list(range(done.first, done.end)))
        self.ledger.signed(done.signed, wait=False)

    @staticmethod
    def _built(batch: list[_Waiter]) -> list[_Waiter]:
        """The batch's waiters whose records could be made and encoded; the others fail."""
        built = []
        for waiter in batch:
            try:
                waiter.build()
            except Exception as exc:  # this request's own records: it alone fails
                log.error("a ledger record could not be made: %s", exc)
                waiter.error = exc
                waiter.finish()
                continue
            built.append(waiter)
        return built

    def _wake_held(self) -> None:
        """Wake the callers of the last committed batch, if they still wait."""
        held, self._held = self._held, None
        if held is not None:
            self._release(held[0], indices=held[1])

    def _sign_alone(self) -> None:
        """Nothing queued: sign over the last batch in a transaction of its own."""
        try:
            with self._transaction() as conn:
                done = self.ledger.sequence(conn, [])
        except Exception as exc:
            # Still behind: the next batch's transaction tries again and, refused, fails its
            # requests (closed). Idle, the sequencer tries again in a while.
            log.error("the log refused to sign a checkpoint: %s", exc)
            self._retry_at = time.monotonic() + _RETRY_PAUSE
            return
        self._behind = False
        self.ledger.sequenced(done)
        self.ledger.signed(done.signed, wait=False)

    @staticmethod
    def _release(
        batch: list[_Waiter],
        *,
        indices: list[int] | None = None,
        error: BaseException | None = None,
    ) -> None:
        offset = 0
        for waiter in batch:
            if error is not None:
                waiter.error = error
            elif indices is not None:
                waiter.indices = indices[offset : offset + len(waiter.records)]
            offset += len(waiter.records)
            waiter.finish()

    def _sign_nudged(self, *, final: bool = False) -> None:
        """Sign once every nudged entry has committed (or its caller gave up)."""
        try:
            with self._transaction(write=False) as conn:
                size = tree.tree_size(conn)
        except Exception as exc:
            log.warning("cannot read the ledger's size: %s", exc)
            return
        now = time.monotonic()
        with self._cond:
            waiting = [(i, d) for i, d in self._nudged if i >= size and d > now and not final]
            covered = len(waiting) < len(self._nudged)
            self._nudged = waiting
        if covered:
            self._sign_alone()
