"""Retention: cases shredded on the configured schedule, after a notice at her door.

The schedule is ``Settings.retention`` (domain/retention.py): ``closed 6y``, ``new inactive 2y``,
``quarantined 30d``. Each run (the ``retention`` scheduled job, or ``safereport retention run``):

1. finds every case a rule selects, with the moment its count started (the latest closure,
   the last change or message, the quarantine) and the moment it is due;
2. gives a **notice** to each case that comes within ``retention_notice_days`` of its due
   moment: a row in ``retention_notices`` with the day it will be shredded, which her return
   page shows (if she still has a door). The shred is never sooner than ``retention_notice_days``
   after the notice, whatever the schedule says, so shortening a rule never surprises her;
3. withdraws the notice of a case that no longer matches (reopened, written to, erased);
4. shreds each noticed case whose day has come, through the erasure path of her own erasure
   request (:func:`safereport.services.erasure.shred_case`: the data key destroyed, notes,
   evidence and unaccepted packages deleted, the door closed), decided by the guard and
   recorded in the ledger in the same transaction as the shred.

**Who decides.** POLICY.md has no rule for retention as such. The erase rule that fits is
C-casework's: a ``supervisor`` of the holding support service may ``erase`` its records for
``support``. The schedule is that service's own rule for how long it keeps them, so the job
asks as the holding service (role ``supervisor``, same organisation), named
``system:retention`` in the ledger with ``automated`` true: the entry shows that no person
decided. A case held by a police force has no erase rule at all: retention keeps it and says
so (``kept``) rather than recording a daily denial; a police holder's schedule needs a policy
rule first.

**Quarantined reports** (issue 19) are selected by a *quarantine marker*: a query giving
``(case_id, quarantined_since)`` for each case held in quarantine. The store module that owns
quarantine registers it with :func:`register_quarantine_marker`; while none is registered, a
``quarantined`` rule selects nothing and every run says so.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import Connection

from safereport.domain.retention import RetentionBasis, RetentionRule, add_period
from safereport.domain.vocabulary import Action, ActorRole, OrgKind, Purpose
from safereport.services.access import Actor, decide_write
from safereport.services.clock import Clock, SystemClock
from safereport.services.instance import Instance
from safereport.store.cases import references_of
from safereport.store.retention import (
    Candidate,
    HeldSince,
    RetentionNoticeRow,
    closed_candidates,
    drop_notices,
    due_for_shredding,
    held_candidates,
    inactive_candidates,
    retention_notice_rows,
    shred_on_of,
    write_notice,
)

__all__ = [
    "RETENTION_ACTOR_ID",
    "RetentionItem",
    "RetentionReport",
    "notice_for_case",
    "register_quarantine_marker",
    "run_retention",
]

log = logging.getLogger("safereport.retention")

#: How the retention job is named in the ledger.
RETENTION_ACTOR_ID = "system:retention"

#: A query of ``(case_id, quarantined_since)`` rows: the cases held in quarantine.
QuarantineMarker = HeldSince
_quarantine_marker: list[QuarantineMarker] = []


def register_quarantine_marker(marker: QuarantineMarker) -> None:
    """Tell retention how to find quarantined cases (the quarantine store calls this once).

    ``marker()`` returns a SELECT of two columns, the case id and the moment it was put in
    quarantine (timezone-aware), one row per case still in quarantine.
    """
    _quarantine_marker[:] = [marker]


def _marker() -> QuarantineMarker | None:
    if not _quarantine_marker:
        try:  # the quarantine service registers its marker on import (issue 19)
            importlib.import_module("safereport.services.quarantine")
        except ImportError:
            return None
    return _quarantine_marker[0] if _quarantine_marker else None


@dataclass(frozen=True)
class RetentionItem:
    """One case a rule selects now or within the notice period."""

    case_id: str
    reference: str
    rule: str
    #: when its count started: the closure, the last change or message, the quarantine
    since: datetime
    #: when the rule makes it due
    due_at: datetime
    #: the day it goes: the later of ``due_at`` and notice + notice days
    shred_on: datetime
    noticed_at: datetime | None
    #: ``notice`` (told now), ``noticed`` (told before, not yet due), ``shred``, ``shredded``,
    #: ``refused`` (the guard said no; in the ledger), ``kept`` (no erase rule for its holder)
    action: str
    reason: str = ""


@dataclass
class RetentionReport:
    now: datetime
    dry_run: bool
    items: list[RetentionItem] = field(default_factory=list)
    #: references of cases whose notice was withdrawn (they no longer match their rule)
    withdrawn: list[str] = field(default_factory=list)
    #: rules that could select nothing, and why (a quarantine rule with no marker)
    warnings: list[str] = field(default_factory=list)

    def count(self, action: str) -> int:
        return sum(1 for item in self.items if item.action == action)

    def summary(self) -> str:
        verb = "would be" if self.dry_run else "were"
        parts = [
            f"{self.count('shred') + self.count('shredded')} case(s) {verb} shredded",
            f"{self.count('notice')} notice(s) {verb} given",
            f"{len(self.withdrawn)} notice(s) {verb} withdrawn",
        ]
        if self.count("refused"):
            parts.append(f"{self.count('refused')} refused by the guard")
        if self.count("kept"):
            parts.append(f"{self.count('kept')} kept (held by the police: no erase rule)")
        return "; ".join(parts)


@dataclass(frozen=True)
class _Match:
    case_id: str
    reference: str
    org_kind: str
    rule: RetentionRule
    since: datetime


def _latest_since(rule: RetentionRule, horizon: datetime) -> datetime:
    """A moment after which no count can have started for a case due by ``horizon``: what
    the query asks the database for (a few days to spare for short months; the exact test is
    made afterwards on each row)."""
    return add_period(horizon, -rule.amount, rule.unit) + timedelta(days=4)


def _rule_rows(conn: Connection, rule: RetentionRule, horizon: datetime,
               warnings: list[str]) -> list[Candidate]:
    """Cases the rule selects whose count started early enough to be due by ``horizon``."""
    latest = _latest_since(rule, horizon)
    if rule.basis is RetentionBasis.CLOSURE:
        return closed_candidates(conn, latest)
    if rule.basis is RetentionBasis.INACTIVITY:
        return inactive_candidates(conn, rule.kind, latest)
    marker = _marker()
    if marker is None:
        warnings.append(f"rule '{rule.name}': this version has no quarantine marker, so it "
                        "selects nothing")
        return []
    return held_candidates(conn, marker, latest)


def _matches(conn: Connection, rules: tuple[RetentionRule, ...], horizon: datetime,
             warnings: list[str]) -> dict[str, _Match]:
    """Each case a rule makes due by ``horizon`` (now plus the notice period), under the rule
    that makes it due first."""
    found: dict[str, _Match] = {}
    for rule in rules:
        for row in _rule_rows(conn, rule, horizon, warnings):
            if rule.due(row.since) > horizon:
                continue  # not yet within its notice period
            match = _Match(row.case_id, row.reference, row.org_kind, rule, row.since)
            earlier = found.get(row.case_id)
            if earlier is None or rule.due(row.since) < earlier.rule.due(earlier.since):
                found[row.case_id] = match
    return found


def _notices(conn: Connection) -> dict[str, tuple[str, datetime, datetime]]:
    return {r.case_id: (r.rule, r.noticed_at, r.shred_on) for r in retention_notice_rows(conn)}


def run_retention(instance: Instance, *, clock: Clock | None = None,
                  dry_run: bool = False) -> RetentionReport:
    """Give notices, withdraw stale ones, and shred what is due; with ``dry_run``, only say
    what would happen (nothing is written, not even to the ledger)."""
    now = (clock or SystemClock()).now()
    settings = instance.settings
    notice = timedelta(days=settings.retention_notice_days)
    report = RetentionReport(now=now, dry_run=dry_run)
    with instance.engine.connect() as conn:
        # Only cases within their notice period match: one that has left it (written to, say)
        # loses its notice, and is told afresh when it comes back.
        matches = _matches(conn, settings.retention, now + notice, report.warnings)
        noticed = _notices(conn)
        stale = sorted(set(noticed) - set(matches))
        report.withdrawn = sorted(references_of(conn, stale)) if stale else []
    new_notices: list[RetentionNoticeRow] = []
    due: list[_Match] = []
    for case_id, match in sorted(matches.items(), key=lambda kv: kv[1].reference):
        due_at = match.rule.due(match.since)
        item = RetentionItem(case_id=case_id, reference=match.reference, rule=match.rule.name,
                             since=match.since, due_at=due_at, shred_on=due_at, noticed_at=None,
                             action="kept")
        if match.org_kind != OrgKind.SUPPORT_SERVICE.value:
            report.items.append(replace(
                item, reason="held by a police force: POLICY.md has no erase rule for it"))
            continue
        told = noticed.get(case_id)
        noticed_at = told[1] if told else now
        # never sooner than a full notice period after she was told, nor than the day she was
        # told (a rule shortened since then waits for it); a rule lengthened moves it later
        shred_on = max(due_at, noticed_at + notice, *((told[2],) if told else ()))
        if told is None or told[0] != match.rule.name or told[2] != shred_on:
            new_notices.append(RetentionNoticeRow(case_id, match.rule.name, noticed_at,
                                                  shred_on))
        if told is not None and now >= shred_on:
            due.append(match)
            action = "shred"
        else:
            action = "notice" if told is None else "noticed"
        report.items.append(replace(item, shred_on=shred_on,
                                    noticed_at=noticed_at if told else None, action=action))
    if dry_run:
        return report
    with instance.engine.begin() as conn:
        if stale:
            drop_notices(conn, stale)
        for row in new_notices:  # a hand-run `retention run` at the same moment may write it too
            write_notice(conn, case_id=row.case_id, rule=row.rule, noticed_at=row.noticed_at,
                         shred_on=row.shred_on)
    outcomes = {match.case_id: _shred(instance, match, now) for match in due}
    if any(action == "shredded" for action, _ in outcomes.values()):
        from safereport.vault import purge_remnants

        purge_remnants(instance.engine)
    report.items = [
        item if item.case_id not in outcomes else
        replace(item, action=outcomes[item.case_id][0], reason=outcomes[item.case_id][1])
        for item in report.items
    ]
    return report


def _shred(instance: Instance, match: _Match, now: datetime) -> tuple[str, str]:
    """Decide, record and shred one case in one transaction; ``(action, reason)``."""
    from safereport.services.erasure import ERASABLE_CATEGORIES, shred_case

    with instance.engine.begin() as conn:
        # on PostgreSQL the row is locked: another runner waits here, then finds it gone
        row = due_for_shredding(conn, match.case_id, now)
        if row is None:  # shredded by another runner meanwhile, reopened, or hers to erase
            return "skipped", "no longer due when its turn came"
        actor = Actor(id=RETENTION_ACTOR_ID, role=ActorRole.SUPERVISOR, org_id=row.org_id,
                      org_kind=OrgKind.SUPPORT_SERVICE, system=True)
        decision, write = decide_write(
            instance, conn, actor, match.case_id, action=Action.ERASE, purpose=Purpose.SUPPORT,
            categories=ERASABLE_CATEGORIES,
            # the request's ``automated`` is true (a scheduled job); the entry says so too
            detail={"event": "retention_erased", "rule": match.rule.name, "automated": "true"},
        )
        if write is None:
            # The denial is committed with this transaction; the notice stays, and the case
            # with it, for an operator to see in the ledger and in this run's result.
            log.warning("retention of case %s refused: %s", match.case_id,
                        "; ".join(decision.reasons))
            return "refused", "; ".join(decision.reasons) or "no rule allows it"
        shred_case(write, conn, row.subject_id, now)
        drop_notices(conn, [match.case_id])
    return "shredded", ""


def notice_for_case(conn: Connection, case_id: str) -> datetime | None:
    """The day a retention rule will shred this case, once she has been told; else None."""
    return shred_on_of(conn, case_id)
