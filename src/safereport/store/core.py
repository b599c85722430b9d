"""Core tables: organisations, staff, subjects, cases, reports, consents, notes.

Case content lives only as ciphertext in the vault's tables (``store.vault``); the rows here
hold what the service needs to route and list work without decrypting anything.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from safereport.store.metadata import metadata

__all__ = [
    "cases",
    "consents",
    "instance_info",
    "notes",
    "organisations",
    "reports",
    "subjects",
    "users",
]

instance_info = Table(
    "instance_info",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

organisations = Table(
    "organisations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    #: How many working days a support service takes to answer a victim; null promises nothing
    #: (issue 15, migration 0020; `safereport org reply-time`).
    Column("reply_working_days", Integer, nullable=True),
)

users = Table(
    "users",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("org_id", String(32), ForeignKey("organisations.id"), nullable=False),
    Column("username", String(100), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("role", String(32), nullable=False),
    Column("password_hash", String(200), nullable=False),
    Column("totp_secret", LargeBinary, nullable=True),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", DateTime(timezone=True), nullable=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # When an administrator set a one-time password (it must be changed at the next sign-in,
    # and is refused once too old); NULL when the password is the person's own.
    Column("password_reset_at", DateTime(timezone=True), nullable=True),
)

subjects = Table(
    "subjects",
    metadata,
    Column("id", String(32), primary_key=True),
    # Pseudonymous: no name here. A codename's Argon2id lookup id, when the person chose one.
    Column("lookup_id", String(64), nullable=True, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

cases = Table(
    "cases",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("reference", String(32), nullable=False, unique=True),
    Column("org_id", String(32), ForeignKey("organisations.id"), nullable=False),
    Column("subject_id", String(32), ForeignKey("subjects.id"), nullable=True),
    Column("subject_role", String(16), nullable=False),
    Column("crime_type", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("intake", String(16), nullable=False),
    Column("language", String(8), nullable=False),
    Column("assigned_to", String(32), ForeignKey("users.id"), nullable=True),
    Column("claim_code_hash", String(128), nullable=True),
    Column("erasure_requested_at", DateTime(timezone=True), nullable=True),
    Column("erased_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    CheckConstraint("intake in ('anonymous','codename','identified','third_party')", name="intake"),
    Index("ix_cases_org_status", "org_id", "status"),
)

reports = Table(
    "reports",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("case_id", String(32), ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("filed_by", String(32), ForeignKey("users.id"), nullable=True),
    Index("ix_reports_case", "case_id"),
)

consents = Table(
    "consents",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("case_id", String(32), ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("recipient", String(32), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("given_at", DateTime(timezone=True), nullable=False),
    Column("withdrawn_at", DateTime(timezone=True), nullable=True),
    # Provenance (POLICY.md v2): "subject" (her own door) or "staff" (recorded in person by
    # recorded_by, counting only once a second staff member, confirmed_by, has confirmed it).
    Column("source", String(16), nullable=False, server_default="subject"),
    Column("recorded_by", String(32), ForeignKey("users.id"), nullable=True),
    Column("confirmed_by", String(32), ForeignKey("users.id"), nullable=True),
    Column("confirmed_at", DateTime(timezone=True), nullable=True),
    # When the consent must be reviewed with her (set when it is given through her door or
    # confirmed by the second person: ``consent_review_days``). From then on it counts for
    # nothing until she gives it again (fail closed); an empty one never counts.
    Column("review_on", DateTime(timezone=True), nullable=True),
    Index("ix_consents_case", "case_id"),
)

notes = Table(
    "notes",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("case_id", String(32), ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("author_id", String(32), ForeignKey("users.id"), nullable=True),
    # who wrote it: 'staff', 'victim' or 'system' (e.g. a notify_subject message)
    Column("author_kind", String(16), nullable=False),
    Column("visible_to_subject", Boolean, nullable=False, default=False),
    # the note's text is sealed by the vault under the case's data key (category case_notes)
    Column("sealed", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_notes_case", "case_id"),
)
