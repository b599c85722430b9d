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

from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Table,
    Text,
    select,
)

from safereport.store.metadata import metadata

__all__ = ["HELD", "held_case_ids", "quarantine", "spam_features"]

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


def held_case_ids() -> Select[Any]:
    """The ids of the cases held in quarantine: lists and counts of cases leave them out."""
    return select(quarantine.c.case_id).where(quarantine.c.outcome.in_(HELD))
