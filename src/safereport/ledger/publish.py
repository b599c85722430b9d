"""What the log publishes: which signed checkpoint anyone may fetch, and padding of its size.

The log signs a checkpoint per sequencer batch; those stay inside the instance (its receipts,
its own consistency checks). What is *published* (``/log/checkpoint``, the hash tiles, the
public statistics page) is decided here, by two deployment choices:

**A quorum of witnesses** (``publish_quorum``: a number, or ``all`` of the ``witnesses``).
A checkpoint is published only once that many of the configured witnesses have cosigned it
(each cosignature checked again against the witness's key). Fail closed: while the newest
checkpoint lacks the quorum, the newest one that met it stays published; if none ever has,
nothing is (``/log/checkpoint`` answers 503). For a first deployment, before the witnesses
run, ``publish_before_quorum = true`` publishes the newest checkpoint while **no** checkpoint
has met the quorum yet; once one has, it no longer applies. It is an explicit opt-out, logged
at WARNING when the instance opens and for each checkpoint published that way.

**Padding** (``pad_seconds``, ``pad_leaves``). Published sizes would otherwise tell anyone
when, and how often, records are read. With padding on, the log publishes on a fixed cadence:
every ``pad_seconds`` one *tick* appends dummy leaves (:func:`~safereport.ledger.record.
padding_record`, commitments to nothing but a random salt) so that the tree grows by a whole
number of ``pad_leaves`` since the last tick (always at least one padding leaf, so that the
tick's last leaf marks it), and signs a checkpoint at exactly that size in the same
transaction. Only those checkpoints are published and offered to the witnesses. A published
size then grows by ``pad_leaves`` per tick whatever happened, unless more than
``pad_leaves - 1`` entries were appended in one tick (then by a multiple of it).

A tick runs in the server (:class:`Padder`, one thread per process; ticks of several
processes or a scheduler are one per cadence: a tick within half a cadence of the last one
does nothing) or from ``safereport ledger pad``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Connection, func, select

from safereport.errors import ConfigError, LedgerError
from safereport.ledger import tree
from safereport.ledger.keys import verify_cosignature
from safereport.ledger.log import StoredCheckpoint, latest_checkpoint, lock_sequencer
from safereport.ledger.notes import Note, parse_note
from safereport.ledger.record import PADDING, padding_record
from safereport.ledger.witness_client import WitnessEndpoint, parse_witnesses
from safereport.store.ledger import ledger_checkpoints, ledger_entries
from safereport.store.witnesses import ledger_cosignatures

if TYPE_CHECKING:
    from safereport.config import Settings
    from safereport.ledger.log import Ledger

__all__ = [
    "PAD_LEAVES",
    "Padder",
    "PublishRule",
    "announce",
    "is_published_size",
    "last_tick",
    "pad_tick",
    "publish_rule",
    "published_checkpoint",
]

log = logging.getLogger("safereport.ledger")

#: Leaves per tick when ``pad_seconds`` is set and ``pad_leaves`` is not.
PAD_LEAVES = 32
#: How many quorum candidates (newest first) are checked before giving up.
_QUORUM_CANDIDATES = 32


@dataclass(frozen=True)
class PublishRule:
    """The deployment's choices: which witnesses, how many must cosign, padding."""

    witnesses: tuple[WitnessEndpoint, ...] = ()
    quorum: int = 0
    before_quorum: bool = False
    pad_seconds: float = 0.0
    pad_leaves: int = PAD_LEAVES

    @property
    def padded(self) -> bool:
        return self.pad_seconds > 0

    @property
    def plain(self) -> bool:
        """Publish every checkpoint the log signs (no quorum, no padding)."""
        return self.quorum == 0 and not self.padded


def publish_rule(settings: Settings) -> PublishRule:
    """The rule from the settings (each checked when loaded); ConfigError for a quorum the
    witnesses cannot meet."""
    witnesses = parse_witnesses(settings.witnesses)
    raw = settings.publish_quorum.strip().lower()
    if raw == "all":
        quorum = len(witnesses)
        if quorum == 0:
            raise ConfigError("setting 'publish_quorum' is 'all' but no witnesses are set")
    elif raw in ("", "0"):
        quorum = 0
    elif raw.isdigit():
        quorum = int(raw)
        if quorum > len(witnesses):
            raise ConfigError(
                f"setting 'publish_quorum' asks for {quorum} cosignatures but only "
                f"{len(witnesses)} witnesses are set"
            )
    else:
        raise ConfigError(f"setting 'publish_quorum' must be a number or 'all', not {raw!r}")
    return PublishRule(
        witnesses=witnesses,
        quorum=quorum,
        before_quorum=settings.publish_before_quorum,
        pad_seconds=settings.pad_seconds,
        pad_leaves=settings.pad_leaves,
    )


def announce(rule: PublishRule) -> None:
    """Log, when an instance opens, the opt-out a deployment has taken (loudly)."""
    if rule.before_quorum and rule.quorum:
        log.warning(
            "PUBLISHING WITHOUT WITNESS QUORUM: publish_before_quorum is set, so until a first "
            "checkpoint has %d witness cosignatures the log publishes checkpoints signed by "
            "itself alone (meant for a first deployment only; remove the setting)",
            rule.quorum,
        )
    elif rule.before_quorum:
        log.warning("publish_before_quorum is set but publish_quorum is not: it has no effect")


# -- which checkpoint is published -------------------------------------------------------


def _row(conn: Connection, size: int) -> StoredCheckpoint | None:
    row = conn.execute(select(ledger_checkpoints).where(ledger_checkpoints.c.size == size)).first()
    return None if row is None else StoredCheckpoint(int(row.size), bytes(row.root), str(row.note))


def is_published_size(conn: Connection, size: int) -> bool:
    """Whether ``size`` ends a padding tick: its last entry is padding (only ticks pad)."""
    if size <= 0:
        return False
    effect = conn.execute(
        select(ledger_entries.c.effect).where(ledger_entries.c.idx == size - 1)
    ).scalar()
    return effect == PADDING


def last_tick(conn: Connection) -> StoredCheckpoint | None:
    """The newest checkpoint that ends a padding tick."""
    query = (
        select(ledger_checkpoints)
        .join(ledger_entries, ledger_entries.c.idx == ledger_checkpoints.c.size - 1)
        .where(ledger_entries.c.effect == PADDING)
        .order_by(ledger_checkpoints.c.size.desc())
        .limit(1)
    )
    row = conn.execute(query).first()
    return None if row is None else StoredCheckpoint(int(row.size), bytes(row.root), str(row.note))


class _Cosigned:
    """Cosignature counts already checked, per (note, witness set): a note never changes."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, tuple[str, ...]], int] = {}
        self._lock = threading.Lock()

    def count(self, conn: Connection, checkpoint: StoredCheckpoint, rule: PublishRule) -> int:
        key = (checkpoint.note, tuple(w.key for w in rule.witnesses))
        with self._lock:
            known = self._known.get(key)
        if known is not None:
            return known
        lines = dict(
            conn.execute(
                select(ledger_cosignatures.c.witness, ledger_cosignatures.c.line).where(
                    ledger_cosignatures.c.size == checkpoint.size
                )
            ).all()
        )
        text = parse_note(checkpoint.note).text
        valid = 0
        for endpoint in rule.witnesses:
            line = lines.get(endpoint.key)
            if line is None:
                continue
            try:
                signature = parse_note(text + "\n" + str(line)).signatures[0]
                verify_cosignature(Note(text, (signature,)), endpoint.verifier)
            except (LedgerError, IndexError):
                continue  # not a cosignature of this checkpoint (a rewritten or copied table)
            valid += 1
        with self._lock:
            if len(self._known) > 4096:
                self._known.clear()
            self._known[key] = valid
        return valid


_COSIGNED = _Cosigned()
_WARNED: set[str] = set()


#: The size last found to meet each (database, rule)'s quorum: the next search starts there
#: (a range of the cosignatures' primary key), not from the whole table, on every request.
_FLOOR: dict[tuple[str, PublishRule], int] = {}


def _with_quorum(conn: Connection, rule: PublishRule) -> StoredCheckpoint | None:
    """The newest checkpoint with ``rule.quorum`` valid cosignatures (a tick's, if padded)."""
    key = (conn.engine.url.render_as_string(hide_password=True), rule)
    floor = _FLOOR.get(key, 0)
    found = _search_quorum(conn, rule, floor)
    if found is None and floor > 0:  # the one found before no longer qualifies: search all
        found = _search_quorum(conn, rule, 0)
    if found is not None:
        if len(_FLOOR) > 64:
            _FLOOR.clear()
        _FLOOR[key] = found.size
    return found


def _search_quorum(conn: Connection, rule: PublishRule, floor: int) -> StoredCheckpoint | None:
    keys = [endpoint.key for endpoint in rule.witnesses]
    size = ledger_cosignatures.c.size
    query = (
        select(size)
        .where(size >= floor, ledger_cosignatures.c.witness.in_(keys))
        .group_by(size)
        .having(func.count() >= rule.quorum)
        .order_by(size.desc())
        .limit(_QUORUM_CANDIDATES)
    )
    for candidate in conn.execute(query).scalars():
        if rule.padded and not is_published_size(conn, int(candidate)):
            continue
        checkpoint = _row(conn, int(candidate))
        if checkpoint is not None and _COSIGNED.count(conn, checkpoint, rule) >= rule.quorum:
            return checkpoint
    return None


def published_checkpoint(conn: Connection, rule: PublishRule) -> StoredCheckpoint | None:
    """The checkpoint this deployment publishes now, or None (fail closed: publish nothing)."""
    newest = last_tick(conn) if rule.padded else latest_checkpoint(conn)
    if rule.quorum == 0 or newest is None:
        return newest
    met = _with_quorum(conn, rule)
    if met is not None:
        return met
    if rule.before_quorum:
        if newest.note not in _WARNED:
            _WARNED.add(newest.note)
            log.warning(
                "PUBLISHING WITHOUT WITNESS QUORUM: checkpoint %d has fewer than %d witness "
                "cosignatures and none has had them yet (publish_before_quorum)",
                newest.size,
                rule.quorum,
            )
        return newest
    return None


# -- padding ticks -----------------------------------------------------------------------


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def pad_tick(ledger: Ledger, rule: PublishRule, *, now: datetime | None = None) -> int | None:
    """One tick: pad the log to its next published size and sign a checkpoint there.

    Returns the size signed, or None if a tick ran less than half a cadence ago (another
    process's, or the scheduler's). The padding and the checkpoint commit in one transaction
    under the sequencer's lock, so no other entry can fall between them.
    """
    if not rule.padded:
        raise LedgerError("padding is off (setting pad_seconds)")
    moment = now or datetime.now(UTC)
    with ledger.engine.begin() as conn:
        lock_sequencer(conn)
        last = last_tick(conn)
        if last is not None:
            # The last tick's time is its padding's (the leaf that ends it).
            made = conn.execute(
                select(ledger_entries.c.created_at).where(ledger_entries.c.idx == last.size - 1)
            ).scalar()
            if made is not None and moment - _aware(made) < timedelta(
                seconds=rule.pad_seconds / 2
            ):
                return None
        base = 0 if last is None else last.size
        size = tree.tree_size(conn)
        target = base + ((size - base) // rule.pad_leaves + 1) * rule.pad_leaves
        ledger.append_many(conn, [padding_record(moment) for _ in range(target - size)])
        signed = ledger.sign_in(conn)
    ledger.signed(signed)
    return signed.size


class Padder:
    """Runs :func:`pad_tick` every ``rule.pad_seconds`` on a daemon thread (a server's)."""

    def __init__(self, ledger: Ledger, rule: PublishRule) -> None:
        self.ledger = ledger
        self.rule = rule
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ledger-padding", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        # Stops with its ledger too (``serve --workers N`` closes the parent's instance; each
        # worker runs its own padder).
        while not self._stop.is_set() and not self.ledger.sequencer.closed:
            try:
                pad_tick(self.ledger, self.rule)
            except Exception:  # a failed tick must not end the cadence
                log.exception("a padding tick failed")
            self._stop.wait(self.rule.pad_seconds)
