"""Quarantine, not deletion: suspected bot reports are kept apart from the case list (issue 19).

A report is *held* when a bot defence saw a sign of a script (the honeypot filled, its form
sent twice, a solved challenge reused: :mod:`safereport.web.victim_bots`) or when its
organisation's classifier (:mod:`safereport.domain.spam`) is very sure it is not a real report.
Held, it is stored and sealed like any report, by the same transaction, and its ledger entry
(``report_submitted``) says ``quarantine: <reason>``; only the case list leaves it out.

A caseworker of the organisation sees the held reports on the quarantine page, opens one (a
read through the road, recorded like any), sees which words weighed, and with one action
either **releases** it (it joins the case list, and the classifier learns "real") or confirms
**not a real report** (it stays held, and the classifier learns "not real"); either can be
undone by the other while the report is still here. Whatever nobody released is shredded
``quarantine_days`` (default 30) after it was held, by :func:`shred_expired_quarantine`
(``safereport quarantine shred-expired``), through the erasure path, decided and recorded.

The classifier is per organisation and learns only from these two actions: counts of keyed
hashes of words and character n-grams (``store.quarantine.spam_features``), never text.
"""

from __future__ import annotations

import importlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from safereport.domain import spam
from safereport.domain.fields import CaseField
from safereport.domain.vocabulary import Action, ActorRole, DataCategory, OrgKind, Purpose
from safereport.errors import AccessDenied, InvalidInput
from safereport.services.access import Actor, access_case, decide_and_record, decide_write
from safereport.services.auth import StaffArea, StaffUser, ensure_area
from safereport.services.casework import (
    CaseNotHeld,
    actor_for,
    default_purpose,
    record_not_held,
)
from safereport.services.instance import Instance
from safereport.store.cases import touch_case
from safereport.store.instance_values import add_instance_value, instance_value
from safereport.store.quarantine import (
    HELD,
    HeldRow,
    decide_held,
    feature_counts,
    held_before,
    held_count,
    held_features,
    held_for_shredding,
    held_row,
    held_rows,
    held_since,
    insert_held,
    learn,
    mark_shredded,
    outcome_counts,
)

__all__ = [
    "DEFAULT_QUARANTINE_DAYS",
    "REASONS",
    "Assessment",
    "HeldPage",
    "HeldReport",
    "assess",
    "feature_key",
    "held_page",
    "hold",
    "list_held",
    "mark_not_real",
    "quarantine_counts",
    "quarantine_days",
    "release",
    "shred_expired_quarantine",
]

DEFAULT_QUARANTINE_DAYS = 30
#: Why a report was held, in plain words for the staff page.
REASONS = {
    "classifier": "The classifier thinks it is not a real report",
    "honeypot": "A field people never see was filled in (bots fill every field)",
    "form_sent_twice": "The same form was sent twice (a script replaying it, or the back "
                       "button: look for a report like it in the case list)",
    "challenge_reused": "It carried an anti-bot puzzle already used by another form",
}
#: How the scheduled shred is named in the ledger.
SHRED_ACTOR_ID = "system:quarantine"
_KEY_NAME = "spam_feature_key"
_HELD = HELD
#: The fields whose text the classifier reads: what happened, when, where (never who).
_TEXT_FIELDS = (CaseField.NARRATIVE, CaseField.OCCURRED, CaseField.LOCATION)
_keys: dict[str, bytes] = {}


def quarantine_days(instance: Instance) -> int:
    """The ``quarantine_days`` setting: how long an unreleased report is kept."""
    return max(1, int(getattr(instance.settings, "quarantine_days", DEFAULT_QUARANTINE_DAYS)))


def feature_key(instance: Instance) -> bytes:
    """The instance's key for hashing features (made once, kept in ``instance_info``).

    Call it before opening a write transaction (it may write in one of its own).
    """
    cache = instance.engine.url.render_as_string(hide_password=False)
    if cache in _keys:
        return _keys[cache]
    with instance.engine.connect() as conn:
        value = instance_value(conn, _KEY_NAME)
    if value is None:
        with instance.engine.begin() as conn:
            # another worker may make it first: then theirs stays, and is the one used
            value = add_instance_value(conn, _KEY_NAME, secrets.token_hex(32))
    _keys[cache] = bytes.fromhex(value)
    return _keys[cache]


def _counts(conn: Connection, org_id: str, hashed: Iterable[str]) -> spam.Counts:
    wanted = sorted(set(hashed) | {""})
    by_feature = feature_counts(conn, org_id, wanted)
    totals = by_feature.pop("", (0, 0))
    return spam.Counts(totals[0], totals[1], by_feature)


# -- at intake ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Assessment:
    """What the classifier made of a report: how sure, and whether that is enough to hold it."""

    probability: float
    hashed: tuple[str, ...]
    held: bool


def _text_of(values: Mapping[CaseField, str]) -> str:
    return "\n".join(values.get(name, "") for name in _TEXT_FIELDS)


def assess(conn: Connection, instance: Instance, org_id: str,
           values: Mapping[CaseField, str]) -> Assessment:
    """The organisation's classifier on a report's text (nothing decrypted: it is at hand)."""
    found = spam.features(_text_of(values))
    key = feature_key(instance)  # cached: the caller made it before its transaction
    names = {feature: spam.hashed(key, feature) for feature in found}
    counts = _counts(conn, org_id, names.values())
    probability = spam.probability(found, names, counts)
    enough = counts.spam_reports >= spam.MIN_MARKS
    held = enough and probability >= spam.THRESHOLD
    return Assessment(probability, tuple(sorted(set(names.values()))), held)


def hold(conn: Connection, case_id: str, org_id: str, reason: str, assessment: Assessment,
         now: datetime) -> None:
    """Put a just-stored report in quarantine (inside its intake transaction)."""
    if reason not in REASONS:
        raise InvalidInput(f"unknown quarantine reason {reason!r}")
    insert_held(conn, case_id=case_id, org_id=org_id, reason=reason,
                score=round(assessment.probability, 4), features=" ".join(assessment.hashed),
                held_at=now)


def _register_with_retention() -> None:
    """Let the retention schedule's ``quarantined`` rule find held reports, where it exists."""
    try:
        retention = importlib.import_module("safereport.services.retention")
    except ImportError:
        return
    register = getattr(retention, "register_quarantine_marker", None)
    if callable(register):
        register(held_since)


_register_with_retention()


# -- the staff page -------------------------------------------------------------------------

@dataclass(frozen=True)
class HeldReport:
    case_id: str
    reference: str
    reason: str
    score: float
    held_at: datetime
    #: "" (waiting for a caseworker) or "not_real" (confirmed; kept until shred_on)
    outcome: str
    shred_on: datetime

    @property
    def reason_text(self) -> str:
        return REASONS.get(self.reason, self.reason)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _held_report(instance: Instance, row: HeldRow) -> HeldReport:
    held_at = _aware(row.held_at)
    return HeldReport(row.case_id, row.reference, row.reason, row.score, held_at, row.outcome,
                      held_at + timedelta(days=quarantine_days(instance)))


def list_held(instance: Instance, user: StaffUser, *, limit: int = 200) -> tuple[
        list[HeldReport], int]:
    """The organisation's held reports, waiting ones first, newest first; and how many."""
    ensure_area(user, StaffArea.CASEWORK)
    with instance.engine.connect() as conn:
        total = held_count(conn, user.org_id)
        rows = held_rows(conn, user.org_id, limit)
    return [_held_report(instance, row) for row in rows], total


@dataclass(frozen=True)
class HeldPage:
    report: HeldReport
    values: dict[CaseField, str]
    withheld: dict[CaseField, str]
    #: the classifier's probability now (it may have learned since the report was held)
    probability: float
    towards_spam: list[spam.Weighed]
    towards_real: list[spam.Weighed]
    spam_marks: int
    real_marks: int


def _held_row(conn: Connection, instance: Instance, user: StaffUser, case_id: str) -> HeldReport:
    row = held_row(conn, user.org_id, case_id)
    if row is None:  # not held (any more), or not this organisation's: "no such case"
        raise CaseNotHeld()
    return _held_report(instance, row)


def held_page(instance: Instance, user: StaffUser, case_id: str) -> HeldPage:
    """One held report, opened through the road (decided, recorded), with why it weighed."""
    ensure_area(user, StaffArea.CASEWORK)
    try:
        with instance.engine.connect() as conn:
            report = _held_row(conn, instance, user, case_id)
    except CaseNotHeld:
        record_not_held(instance, user, case_id, Action.VIEW, "quarantine_page")
        raise
    access = access_case(instance, actor_for(user), case_id, purpose=default_purpose(user),
                         fields=_TEXT_FIELDS)
    found = spam.features(_text_of(access.values))
    key = feature_key(instance)
    with instance.engine.connect() as conn:
        names = {feature: spam.hashed(key, feature) for feature in found}
        counts = _counts(conn, user.org_id, names.values())
    towards_spam, towards_real = spam.explain(found, names, counts)
    return HeldPage(report, dict(access.values), dict(access.withheld),
                    spam.probability(found, names, counts), towards_spam, towards_real,
                    counts.spam_reports, counts.real_reports)


# -- the two actions ------------------------------------------------------------------------

def _decide(instance: Instance, user: StaffUser, case_id: str, outcome: str, event: str,
            now: datetime | None) -> None:
    ensure_area(user, StaffArea.CASEWORK)
    moment = now or datetime.now(UTC)
    try:
        _decide_in(instance, user, case_id, outcome, event, moment)
    except CaseNotHeld:
        record_not_held(instance, user, case_id, Action.UPDATE, event)
        raise


def _decide_in(instance: Instance, user: StaffUser, case_id: str, outcome: str, event: str,
               moment: datetime) -> None:
    with instance.engine.begin() as conn:
        report = _held_row(conn, instance, user, case_id)
        decision, _ = decide_and_record(
            instance, actor_for(user), case_id, action=Action.UPDATE,
            purpose=default_purpose(user), categories=[DataCategory.CRIME_DETAILS],
            detail={"event": event, "reason": report.reason}, conn=conn)
        if not decision.allowed:
            denial = AccessDenied(
                "not allowed: " + "; ".join(decision.reasons or ("no rule allows it",)),
                rules=decision.rules, reasons=decision.reasons)
        else:
            denial = None
            features = held_features(conn, case_id)
            # What it had taught before (a confirmed "not real" now released) is taken back.
            undo = -1 if report.outcome == "not_real" else 0
            if outcome == "released":
                learn(conn, user.org_id, features, spam_step=undo, real_step=1)
            elif report.outcome != "not_real":
                learn(conn, user.org_id, features, spam_step=1, real_step=0)
            decide_held(conn, case_id, outcome=outcome, decided_at=moment, decided_by=user.id,
                        features="" if outcome == "released" else " ".join(features))
            if outcome == "released":
                touch_case(conn, case_id, moment)
    if denial is not None:  # its ledger entry committed with the transaction above (I2)
        raise denial


def release(instance: Instance, user: StaffUser, case_id: str, *,
            now: datetime | None = None) -> None:
    """A real report: it joins the case list now, and the classifier learns from it."""
    _decide(instance, user, case_id, "released", "quarantine_released", now)


def mark_not_real(instance: Instance, user: StaffUser, case_id: str, *,
                  now: datetime | None = None) -> None:
    """Not a real report: it stays out of the case list until it is shredded; the classifier
    learns from it. Releasing it later (a mistake) takes the lesson back."""
    _decide(instance, user, case_id, "not_real", "quarantine_not_real", now)


# -- shredding and counting -----------------------------------------------------------------

def shred_expired_quarantine(instance: Instance, now: datetime | None = None) -> int:
    """Shred every report held longer than ``quarantine_days`` and never released.

    Each is decided by the guard as its organisation's own rule for how long it keeps such
    reports (a ``supervisor`` of the holding service erasing for ``support``, rule C-casework),
    named ``system:quarantine`` with ``automated`` true, and recorded in the ledger in the same
    transaction as the shred (erasure path: data key destroyed, notes and evidence deleted,
    codename closed). Returns how many were shredded. Safe to run from several places at once.
    """
    from safereport.services.erasure import ERASABLE_CATEGORIES, shred_case
    from safereport.vault import purge_remnants

    moment = now or datetime.now(UTC)
    cutoff = moment - timedelta(days=quarantine_days(instance))
    with instance.engine.connect() as conn:
        due = held_before(conn, cutoff)
    shredded = 0
    for case_id in due:
        with instance.engine.begin() as conn:
            row = held_for_shredding(conn, case_id)  # locked on PostgreSQL
            if row is None:  # released, or shredded by another run meanwhile
                continue
            if not row.erased:
                actor = Actor(id=SHRED_ACTOR_ID, role=ActorRole.SUPERVISOR,
                              org_id=row.org_id, org_kind=OrgKind.SUPPORT_SERVICE,
                              system=True)
                _, write = decide_write(
                    instance, conn, actor, case_id, action=Action.ERASE,
                    purpose=Purpose.SUPPORT, categories=ERASABLE_CATEGORIES,
                    detail={"event": "quarantine_shredded"})
                if write is None:  # stays; the denial commits for an operator to see
                    continue
                shred_case(write, conn, row.subject_id, moment)
            mark_shredded(conn, case_id, moment)
            shredded += 1
    if shredded:
        purge_remnants(instance.engine)
    return shredded


def quarantine_counts(conn: Connection) -> dict[str, int]:
    """For the auditor: reports ``held`` (waiting), ``not_real``, ``released``, ``shredded``
    (by this schedule or any other erasure), over the whole instance."""
    counts = {"held": 0, "not_real": 0, "released": 0, "shredded": 0}
    for row in outcome_counts(conn):
        gone = row.outcome == "shredded" or (row.erased and row.outcome in _HELD)
        name = "shredded" if gone else (row.outcome or "held")
        counts[name] = counts.get(name, 0) + row.count
    return counts
