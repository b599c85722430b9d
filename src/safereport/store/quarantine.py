"""Quarantine of suspected bot reports, and what each organisation's spam classifier learned.

``quarantine``: one row per report routed away from the case list (issue 19). The report itself
is an ordinary case (stored, sealed, in the ledger); this row only says why it was held, how
sure the classifier was, and what a caseworker decided. The row stays after the case is
shredded (``outcome`` ``shredded``), so the auditor's counts survive; it holds no text.

``spam_features``: per organisation, how many reports marked "not a real report" and how many
released as real contained each feature (a keyed hash of a word or a character n-gram of it).
The row with ``feature == ""`` holds the number of reports of each kind. No text is stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Table,
    Text,
    and_,
    func,
    select,
    update,
)

from safereport.store.core import cases
from safereport.store.metadata import metadata

__all__ = [
    "HELD",
    "HeldRow",
    "OutcomeCount",
    "ShredTarget",
    "decide_held",
    "feature_counts",
    "held_before",
    "held_case_ids",
    "held_count",
    "held_features",
    "held_for_shredding",
    "held_row",
    "held_rows",
    "held_since",
    "insert_held",
    "learn",
    "mark_shredded",
    "outcome_counts",
    "quarantine",
    "spam_features",
]

quarantine = Table(
    "quarantine",
    metadata,
    # Not a foreign key: the row outlives the case it held (counted after shredding).
    Column("case_id", String(32), primary_key=True),
    Column("org_id", String(32), ForeignKey("organisations.id"), nullable=False),
    # why: "classifier", "honeypot", "form_sent_twice", "challenge_reused"
    Column("reason", String(32), nullable=False),
    # the classifier's probability that this is not a real report (0 when it did not weigh)
    Column("score", Float, nullable=False, default=0.0),
    # the keyed hashes of the report's features, space-separated (for training on a decision;
    # cleared once decided or shredded)
    Column("features", Text, nullable=False, default=""),
    Column("held_at", DateTime(timezone=True), nullable=False),
    # "" while held; then "released", "not_real" or "shredded"
    Column("outcome", String(16), nullable=False, default=""),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("decided_by", String(32), ForeignKey("users.id"), nullable=True),
    Index("ix_quarantine_org_outcome", "org_id", "outcome"),
)

spam_features = Table(
    "spam_features",
    metadata,
    Column("org_id", String(32), ForeignKey("organisations.id"), primary_key=True),
    Column("feature", String(32), primary_key=True),  # hex of a keyed hash; "" for the totals
    Column("spam", Integer, nullable=False, default=0),
    Column("real", Integer, nullable=False, default=0),
)

#: The outcomes of a report still held (waiting, or confirmed not real until it is shredded).
HELD = ("", "not_real")


def held_case_ids() -> Select[str]:
    """The ids of the cases held in quarantine: lists and counts of cases leave them out."""
    return select(quarantine.c.case_id).where(quarantine.c.outcome.in_(HELD))


def held_since() -> Select[str, datetime]:
    """``(case_id, held_at)`` of every report still in quarantine (retention's marker)."""
    return select(quarantine.c.case_id, quarantine.c.held_at).where(
        quarantine.c.outcome.in_(HELD))


# -- at intake ------------------------------------------------------------------------------

def feature_counts(conn: Connection, org_id: str,
                   features: Iterable[str]) -> dict[str, tuple[int, int]]:
    """The organisation's (spam, real) counts of each of these features that it has seen."""
    rows = conn.execute(select(spam_features.c.feature, spam_features.c.spam,
                               spam_features.c.real)
                        .where(and_(spam_features.c.org_id == org_id,
                                    spam_features.c.feature.in_(list(features))))).all()
    return {str(r.feature): (int(r.spam), int(r.real)) for r in rows}


def insert_held(conn: Connection, *, case_id: str, org_id: str, reason: str, score: float,
                features: str, held_at: datetime) -> None:
    """Hold a just-stored report (nothing decided yet)."""
    conn.execute(quarantine.insert().values(
        case_id=case_id, org_id=org_id, reason=reason, score=score, features=features,
        held_at=held_at, outcome="", decided_at=None, decided_by=None))


# -- the staff page -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class HeldRow:
    """A report held for an organisation, with its case's reference."""

    case_id: str
    reference: str
    reason: str
    score: float
    held_at: datetime
    outcome: str


def _held_query(org_id: str) -> Select[Any]:
    return (select(quarantine, cases.c.reference)
            .join(cases, cases.c.id == quarantine.c.case_id)
            .where(and_(quarantine.c.org_id == org_id, quarantine.c.outcome.in_(HELD),
                        cases.c.erased_at.is_(None))))


def _held(row: Any) -> HeldRow:
    return HeldRow(str(row.case_id), str(row.reference), str(row.reason), float(row.score),
                   row.held_at, str(row.outcome))


def held_count(conn: Connection, org_id: str) -> int:
    """How many of the organisation's reports are held (cases not erased)."""
    query = _held_query(org_id)
    return int(conn.execute(select(func.count()).select_from(query.subquery())).scalar_one())


def held_rows(conn: Connection, org_id: str, limit: int) -> list[HeldRow]:
    """The organisation's held reports, waiting ones first, newest first, at most ``limit``."""
    query = _held_query(org_id).order_by(quarantine.c.outcome, quarantine.c.held_at.desc(),
                                         quarantine.c.case_id).limit(limit)
    return [_held(row) for row in conn.execute(query).all()]


def held_row(conn: Connection, org_id: str, case_id: str) -> HeldRow | None:
    """The report, if the organisation holds it in quarantine (its case not erased)."""
    row = conn.execute(_held_query(org_id).where(quarantine.c.case_id == case_id)).first()
    return _held(row) if row is not None else None


# -- deciding -------------------------------------------------------------------------------

def held_features(conn: Connection, case_id: str) -> list[str]:
    """The keyed hashes of the held report's features (raises when it is not held)."""
    features = conn.execute(select(quarantine.c.features)
                            .where(quarantine.c.case_id == case_id)).scalar_one()
    return str(features).split()


def learn(conn: Connection, org_id: str, features: Iterable[str], *, spam_step: int,
          real_step: int) -> None:
    """Add (or take back, with a negative step) one report's features to the organisation's
    counts; the empty feature counts the reports themselves."""
    for feature in sorted(set(features) | {""}):
        changed = conn.execute(update(spam_features).where(and_(
            spam_features.c.org_id == org_id, spam_features.c.feature == feature)).values(
            spam=spam_features.c.spam + spam_step,
            real=spam_features.c.real + real_step)).rowcount
        if not changed:
            conn.execute(spam_features.insert().values(
                org_id=org_id, feature=feature, spam=max(spam_step, 0),
                real=max(real_step, 0)))


def decide_held(conn: Connection, case_id: str, *, outcome: str, decided_at: datetime,
                decided_by: str, features: str) -> None:
    """Record a caseworker's decision on a held report, keeping ``features`` (or none)."""
    conn.execute(update(quarantine).where(quarantine.c.case_id == case_id).values(
        outcome=outcome, decided_at=decided_at, decided_by=decided_by, features=features))


# -- shredding and counting -----------------------------------------------------------------

def held_before(conn: Connection, cutoff: datetime) -> list[str]:
    """The ids of the cases held (never released) since ``cutoff`` or before."""
    rows = conn.execute(select(quarantine.c.case_id).where(and_(
        quarantine.c.outcome.in_(HELD), quarantine.c.held_at <= cutoff)))
    return [str(r[0]) for r in rows]


@dataclass(frozen=True, slots=True)
class ShredTarget:
    """A held report to shred: its organisation, her subject row (if any), and whether the
    case was erased already (by another erasure)."""

    org_id: str
    subject_id: str | None
    erased: bool


def held_for_shredding(conn: Connection, case_id: str) -> ShredTarget | None:
    """The case if it is still held; on PostgreSQL its quarantine row is locked, so another
    run waits here, then finds it gone. None when released or shredded meanwhile."""
    query = (select(quarantine.c.org_id, cases.c.subject_id, cases.c.erased_at)
             .join(cases, cases.c.id == quarantine.c.case_id)
             .where(and_(quarantine.c.case_id == case_id, quarantine.c.outcome.in_(HELD))))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=quarantine)
    row = conn.execute(query).first()
    if row is None:
        return None
    return ShredTarget(str(row.org_id),
                       str(row.subject_id) if row.subject_id is not None else None,
                       row.erased_at is not None)


def mark_shredded(conn: Connection, case_id: str, moment: datetime) -> None:
    """The held report was shredded at ``moment``: its features go with it."""
    conn.execute(update(quarantine).where(quarantine.c.case_id == case_id).values(
        outcome="shredded", features="", decided_at=moment))


@dataclass(frozen=True, slots=True)
class OutcomeCount:
    """How many quarantine rows have one outcome, with their case erased or not (a row whose
    case row is gone counts as not erased)."""

    outcome: str
    erased: bool
    count: int


def outcome_counts(conn: Connection) -> list[OutcomeCount]:
    """Quarantine rows counted by outcome and by whether their case was erased."""
    erased = cases.c.erased_at.is_not(None)
    rows = conn.execute(
        select(quarantine.c.outcome, erased, func.count())
        .join(cases, cases.c.id == quarantine.c.case_id, isouter=True)
        .group_by(quarantine.c.outcome, erased)).all()
    return [OutcomeCount(str(outcome), bool(is_erased), int(count))
            for outcome, is_erased, count in rows]
