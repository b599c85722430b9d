"""What auditors see: the log's checkpoint, its verification, witness cosignatures, each
witness's state and any incident (a witness that saw another history of this log), denials,
and counts of decisions by rule. Never case data: no case id, no actor id, no field.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from safereport.domain.case import new_id
from safereport.errors import InvalidInput, LedgerError
from safereport.ledger.keys import verify_cosignature
from safereport.ledger.notes import parse_checkpoint, parse_note, parse_vkey
from safereport.ledger.record import PADDING
from safereport.services.auth import StaffArea, StaffUser, ensure_area
from safereport.services.instance import Instance
from safereport.services.quarantine import quarantine_counts
from safereport.store.ledger import counts_by_rules, latest_denials
from safereport.store.witnesses import (
    WitnessStatus,
    keep_offered_cosignature,
    offered_cosignatures,
    offered_notes,
    statuses,
)

__all__ = [
    "AUTO_VERIFY_MAX",
    "AuditOverview",
    "DeniedEntry",
    "WitnessStatus",
    "add_cosignature",
    "audit_overview",
    "verify_now",
]

MAX_NOTE_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class DeniedEntry:
    index: int
    time: datetime
    actor_role: str
    actor_org_kind: str
    holder: str
    action: str
    purpose: str
    recipient: str
    rules: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Cosignature:
    witness: str
    key_id: str
    checkpoint_size: int
    cosigned_at: datetime


@dataclass(frozen=True)
class AuditOverview:
    size: int
    checkpoint: str
    verifier_key: str
    verified: bool
    verification: str
    cosignatures: list[Cosignature]
    denied: list[DeniedEntry]
    by_rule: list[tuple[str, str, int]]  # (rule id, effect, count)
    by_effect: dict[str, int]
    #: Reports held in quarantine (issue 19), over the instance: (``held``, n), (``not_real``,
    #: n), (``released``, n), (``shredded``, n). Counts only.
    quarantine: tuple[tuple[str, int], ...] = ()
    #: Each witness the log has asked (``ledger_witness_status``); ``incident`` set on one
    #: that refused in a way only another history of this log explains.
    witnesses: list[WitnessStatus] = field(default_factory=list)
    padding: int = 0  # entries that are padding (no decision; see docs/ledger.md)

    @property
    def incidents(self) -> list[WitnessStatus]:
        return [status for status in self.witnesses if status.incident]


def _cosigned_notes(instance: Instance) -> list[tuple[str, str]]:
    with instance.engine.connect() as conn:
        return [(f"cosigned by {witness}", note) for witness, note in offered_notes(conn)]


#: Up to this size the page recomputes the whole log on every view; beyond it, verification
#: (linear in the log) runs when an auditor asks, and the page shows the last result.
AUTO_VERIFY_MAX = 100_000
# Last verification per database, in this process: (log size, ok, message, when).
_LAST: dict[str, tuple[int, bool, str, datetime]] = {}
_LOCK = threading.Lock()


def verify_now(instance: Instance, user: StaffUser) -> tuple[bool, str]:
    """Recompute the whole tree from every leaf and re-check every kept cosigned checkpoint."""
    ensure_area(user, StaffArea.AUDIT)
    return _verify(instance)


def _verify(instance: Instance) -> tuple[bool, str]:
    size = instance.ledger.size()
    try:
        report = instance.ledger.verify(_cosigned_notes(instance))
    except LedgerError as exc:
        ok, message = False, f"FAILED: {exc}"
    else:
        ok, message = True, (f"{report.size} entries recomputed from their leaves; "
                             f"{report.checkpoints} checkpoints match")
    with _LOCK:
        _LAST[_key(instance)] = (size, ok, message, datetime.now(UTC))
    return ok, message


def _key(instance: Instance) -> str:
    return instance.engine.url.render_as_string(hide_password=True)


def _status(instance: Instance, size: int) -> tuple[bool, str]:
    with _LOCK:
        last = _LAST.get(_key(instance))
    if last is not None and (last[0] == size or size > AUTO_VERIFY_MAX):
        stale = "" if last[0] == size else f" (then {last[0]} entries; now {size})"
        return last[1], f"{last[2]}; checked {last[3]:%Y-%m-%d %H:%M:%S} UTC{stale}"
    if size > AUTO_VERIFY_MAX:
        return False, "not verified in this process yet: press 'Verify the whole log now'"
    return _verify(instance)


def audit_overview(instance: Instance, user: StaffUser, *, denied_limit: int = 50) -> AuditOverview:
    ensure_area(user, StaffArea.AUDIT)
    checkpoint = instance.ledger.checkpoint()
    verified, message = _status(instance, instance.ledger.size())
    with instance.engine.connect() as conn:
        denied_rows = latest_denials(conn, denied_limit)
        grouped = counts_by_rules(conn)
        cosigs = offered_cosignatures(conn)
        held = tuple(quarantine_counts(conn).items())
        witnesses = list(statuses(conn))
    by_rule: Counter[tuple[str, str]] = Counter()
    by_effect: Counter[str] = Counter()
    padding = 0
    for group in grouped:
        if group.effect == PADDING:
            padding += group.count  # no decision: not counted with the decisions
            continue
        by_effect[group.effect] += group.count
        for rule in group.rules.split():
            by_rule[(rule, group.effect)] += group.count
    return AuditOverview(
        size=instance.ledger.size(),
        checkpoint=checkpoint,
        verifier_key=instance.ledger.verifier_key(),
        verified=verified,
        verification=message,
        cosignatures=[Cosignature(r.witness, r.key_id, r.checkpoint_size,
                                  datetime.fromtimestamp(r.cosigned_at, UTC)) for r in cosigs],
        denied=[DeniedEntry(r.idx, r.created_at, r.actor_role, r.actor_org_kind or "",
                            r.holder, r.action, r.purpose, r.recipient, tuple(r.rules.split()))
                for r in denied_rows],
        by_rule=sorted(((rule, effect, n) for (rule, effect), n in by_rule.items()),
                       key=lambda item: (-item[2], item[0], item[1])),
        by_effect=dict(by_effect),
        quarantine=held,
        witnesses=witnesses,
        padding=padding,
    )


def add_cosignature(instance: Instance, user: StaffUser, note_text: str, witness_vkey: str) -> int:
    """Check a witness's cosigned checkpoint and keep it; every later audit re-checks it.

    The note must carry the log's own signature and the witness's valid cosignature, and match
    the log's history. Returns the checkpoint's size.
    """
    ensure_area(user, StaffArea.AUDIT)
    text = note_text.replace("\r\n", "\n")
    if not text.endswith("\n"):
        text += "\n"
    if len(text) > MAX_NOTE_CHARS:
        raise InvalidInput("that is too long to be a checkpoint")
    try:
        note = parse_note(text)
        verifier = parse_vkey(witness_vkey)
        timestamp = verify_cosignature(note, verifier)
        instance.ledger.verify([("offered", text)])
        size = parse_checkpoint(note.text).size
    except LedgerError as exc:
        raise InvalidInput(f"the cosigned checkpoint does not verify: {exc}") from exc
    with instance.engine.begin() as conn:
        keep_offered_cosignature(
            conn, id=new_id(), witness=verifier.name, key_id=verifier.key_id.hex(),
            checkpoint_size=size, cosigned_at=timestamp, note=text,
            added_at=datetime.now(UTC))
    return size
