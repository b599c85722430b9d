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
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, and_, delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from safereport.domain.case import CaseStatus
from safereport.domain.retention import RetentionBasis, RetentionRule, add_period
from safereport.domain.vocabulary import Action, ActorRole, OrgKind, Purpose
from safereport.services.access import Actor, decide_and_record
from safereport.services.clock import Clock, SystemClock
from safereport.services.instance import Instance
from safereport.store.core import cases, notes, organisations
from safereport.store.jobs import retention_notices
from safereport.store.staff import case_closures

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
QuarantineMarker = Callable[[], Select[Any]]
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


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _live() -> Any:
    """Cases retention may touch: not erased, no erasure of hers pending."""
    return and_(cases.c.erased_at.is_(None), cases.c.erasure_requested_at.is_(None))


def _latest_since(rule: RetentionRule, horizon: datetime) -> datetime:
    """A moment after which no count can have started for a case due by ``horizon``: what
    the query asks the database for (a few days to spare for short months; the exact test is
    made afterwards on each row)."""
    return add_period(horizon, -rule.amount, rule.unit) + timedelta(days=4)


def _rule_rows(conn: Connection, rule: RetentionRule, horizon: datetime,
               warnings: list[str]) -> list[tuple[str, str, str, datetime]]:
    """Cases the rule selects whose count started early enough to be due by ``horizon``."""
    base = (cases.c.id, cases.c.reference, organisations.c.kind)
    latest = _latest_since(rule, horizon)
    joined = cases.join(organisations, organisations.c.id == cases.c.org_id)
    if rule.basis is RetentionBasis.CLOSURE:
        closed = (select(case_closures.c.case_id, func.max(case_closures.c.closed_at).label("at"))
                  .group_by(case_closures.c.case_id).subquery())
        since = func.coalesce(closed.c.at, cases.c.updated_at)
        query = (select(*base, since).select_from(joined.outerjoin(closed,
                                                                   closed.c.case_id == cases.c.id))
                 .where(and_(_live(), cases.c.status == CaseStatus.CLOSED.value,
                             since <= latest)))
    elif rule.basis is RetentionBasis.INACTIVITY:
        last_note = (select(notes.c.case_id, func.max(notes.c.created_at).label("at"))
                     .group_by(notes.c.case_id).subquery())
        query = (select(*base, cases.c.updated_at, last_note.c.at)
                 .select_from(joined.outerjoin(last_note, last_note.c.case_id == cases.c.id))
                 .where(and_(_live(), cases.c.status == rule.kind,
                             cases.c.updated_at <= latest,
                             or_(last_note.c.at.is_(None), last_note.c.at <= latest))))
        return [(str(r[0]), str(r[1]), str(r[2]),
                 max(_aware(r[3]), _aware(r[4])) if r[4] is not None else _aware(r[3]))
                for r in conn.execute(query)]
    else:
        marker = _marker()
        if marker is None:
            warnings.append(f"rule '{rule.name}': this version has no quarantine marker, so it "
                            "selects nothing")
            return []
        held = marker().subquery()
        key, since_column = list(held.c)[:2]
        query = (select(*base, since_column).select_from(joined.join(held, key == cases.c.id))
                 .where(and_(_live(), since_column <= latest)))
    return [(str(r[0]), str(r[1]), str(r[2]), _aware(r[3])) for r in conn.execute(query)]


def _matches(conn: Connection, rules: tuple[RetentionRule, ...], horizon: datetime,
             warnings: list[str]) -> dict[str, _Match]:
    """Each case a rule makes due by ``horizon`` (now plus the notice period), under the rule
    that makes it due first."""
    found: dict[str, _Match] = {}
    for rule in rules:
        for case_id, reference, org_kind, since in _rule_rows(conn, rule, horizon, warnings):
            if rule.due(since) > horizon:
                continue  # not yet within its notice period
            match = _Match(case_id, reference, org_kind, rule, since)
            earlier = found.get(case_id)
            if earlier is None or rule.due(since) < earlier.rule.due(earlier.since):
                found[case_id] = match
    return found


def _notices(conn: Connection) -> dict[str, tuple[str, datetime, datetime]]:
    rows = conn.execute(select(retention_notices.c.case_id, retention_notices.c.rule,
                               retention_notices.c.noticed_at, retention_notices.c.shred_on))
    return {str(r[0]): (str(r[1]), _aware(r[2]), _aware(r[3])) for r in rows}


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
        report.withdrawn = sorted(str(ref) for ref in conn.execute(
            select(cases.c.reference).where(cases.c.id.in_(stale))).scalars()) if stale else []
    new_notices: list[dict[str, Any]] = []
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
            new_notices.append({"case_id": case_id, "rule": match.rule.name,
                                "noticed_at": noticed_at, "shred_on": shred_on})
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
            conn.execute(delete(retention_notices).where(retention_notices.c.case_id.in_(stale)))
        upsert = (postgresql if conn.dialect.name == "postgresql" else sqlite).insert
        for row in new_notices:  # a hand-run `retention run` at the same moment may write it too
            statement = upsert(retention_notices).values(**row)
            conn.execute(statement.on_conflict_do_update(
                index_elements=[retention_notices.c.case_id],
                set_={"rule": statement.excluded.rule, "noticed_at": statement.excluded.noticed_at,
                      "shred_on": statement.excluded.shred_on}))
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
        query = select(cases.c.org_id, cases.c.subject_id).where(and_(
            cases.c.id == match.case_id, _live(),
            cases.c.id.in_(select(retention_notices.c.case_id)
                           .where(retention_notices.c.shred_on <= now))))
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()  # another runner waits here, then finds it gone
        row = conn.execute(query).first()
        if row is None:  # shredded by another runner meanwhile, reopened, or hers to erase
            return "skipped", "no longer due when its turn came"
        actor = Actor(id=RETENTION_ACTOR_ID, role=ActorRole.SUPERVISOR, org_id=str(row.org_id),
                      org_kind=OrgKind.SUPPORT_SERVICE, system=True)
        decision, _ = decide_and_record(
            instance, actor, match.case_id, action=Action.ERASE, purpose=Purpose.SUPPORT,
            categories=ERASABLE_CATEGORIES, conn=conn,
            # the request's ``automated`` is true (a scheduled job); the entry says so too
            detail={"event": "retention_erased", "rule": match.rule.name, "automated": "true"},
        )
        if not decision.allowed:
            # The denial is committed with this transaction; the notice stays, and the case
            # with it, for an operator to see in the ledger and in this run's result.
            log.warning("retention of case %s refused: %s", match.case_id,
                        "; ".join(decision.reasons))
            return "refused", "; ".join(decision.reasons) or "no rule allows it"
        shred_case(instance, conn, match.case_id,
                   str(row.subject_id) if row.subject_id is not None else None, now)
        conn.execute(delete(retention_notices)
                     .where(retention_notices.c.case_id == match.case_id))
    return "shredded", ""


def notice_for_case(conn: Connection, case_id: str) -> datetime | None:
    """The day a retention rule will shred this case, once she has been told; else None."""
    moment = conn.execute(select(retention_notices.c.shred_on)
                          .where(retention_notices.c.case_id == case_id)).scalar()
    return _aware(moment) if moment is not None else None
