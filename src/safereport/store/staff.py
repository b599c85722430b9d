"""Staff-side tables: sessions, sign-in state, disclosure requests and approvals, packages, keys.

No victim data is held in clear here: a disclosure's justification and its released package
are ciphertext (the justification sealed by the vault under the case's data key, the package
sealed to the recipient organisation's X25519 key).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
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
    "case_closures",
    "case_status_changes",
    "case_transfers",
    "disclosure_approvals",
    "disclosure_asks",
    "disclosure_events",
    "disclosure_packages",
    "disclosure_requests",
    "marac_actions",
    "org_keys",
    "outcome_scores",
    "safety_plan_actions",
    "staff_factor_resets",
    "staff_sessions",
    "staff_signin_state",
    "staff_signin_throttle",
    "witness_cosignatures",
]

staff_sessions = Table(
    "staff_sessions",
    metadata,
    # sha256 of the cookie's random token: a stolen database does not yield live cookies
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # 'enrol' (password right, TOTP not yet set up: only enrolment is open) or 'active'
    Column("state", String(16), nullable=False),
    # a TOTP secret offered during enrolment, kept until the first code confirms it
    Column("pending_totp_secret", String(64), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Index("ix_staff_sessions_user", "user_id"),
)

#: A second factor's reset: one administrator asks, a different one confirms; only then is the
#: factor removed (and the person sets up a new one at her next sign-in with her password).
staff_factor_resets = Table(
    "staff_factor_resets",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("requested_by", String(32), nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("confirmed_by", String(32), nullable=True),
    Column("confirmed_at", DateTime(timezone=True), nullable=True),
    Column("cancelled_by", String(32), nullable=True),
    Column("cancelled_at", DateTime(timezone=True), nullable=True),
    Index("ix_staff_factor_resets_user_id", "user_id"),
)

staff_signin_state = Table(
    "staff_signin_state",
    metadata,
    Column("user_id", String(32), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    # the last TOTP time step accepted: a code is good once (no replay within its window)
    Column("last_totp_step", Integer, nullable=False),
)

staff_signin_throttle = Table(
    "staff_signin_throttle",
    metadata,
    # Failed sign-ins counted per source and per (source, username), in the database so that
    # every worker sees the same counts. The key is a SHA-256: neither the address (itself
    # only ever an HMAC under the instance's web key) nor the username is stored.
    Column("key", String(64), primary_key=True),
    Column("window_start", DateTime(timezone=True), nullable=False),
    Column("failures", Integer, nullable=False),
    Index("ix_staff_signin_throttle_window_start", "window_start"),
)

org_keys = Table(
    "org_keys",
    metadata,
    Column("org_id", String(32), ForeignKey("organisations.id"), primary_key=True),
    # raw 32-byte X25519 public key; the private key lives in the keys folder (0600)
    Column("public_key", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

disclosure_requests = Table(
    "disclosure_requests",
    metadata,
    Column("id", String(32), primary_key=True),
    # opaque case id, not a foreign key: an erased case keeps its disclosure history
    Column("case_id", String(32), nullable=False),
    Column("holder_org_id", String(32), ForeignKey("organisations.id"), nullable=False),
    Column("requester_id", String(32), ForeignKey("users.id"), nullable=False),
    Column("recipient_org_id", String(32), ForeignKey("organisations.id"), nullable=True),
    Column("recipient", String(32), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("categories", Text, nullable=False),  # space-separated DataCategory values
    Column("context", Text, nullable=False),  # JSON of the POLICY.md context facts
    Column("effect", String(16), nullable=False),
    Column("obligations", Text, nullable=False),  # space-separated Obligation values
    Column("rules", Text, nullable=False),
    Column("reasons", Text, nullable=False),  # JSON list of plain-language reasons
    # requested -> (pending_approval) -> released | denied | withdrawn
    Column("status", String(20), nullable=False),
    Column("justification_sealed", LargeBinary, nullable=True),
    Column("decision_index", Integer, nullable=True),  # ledger index of the request's decision
    Column("release_index", Integer, nullable=True),  # ledger index of the release decision
    # the victim's own request this carries out (victim_initiated is derived from it)
    Column("victim_request_id", String(32), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_disclosure_requests_holder_status", "holder_org_id", "status"),
    Index("ix_disclosure_requests_case", "case_id"),
    Index("ix_disclosure_requests_recipient", "recipient_org_id"),
)

disclosure_approvals = Table(
    "disclosure_approvals",
    metadata,
    Column("request_id", String(32), ForeignKey("disclosure_requests.id"), primary_key=True),
    Column("approver_id", String(32), ForeignKey("users.id"), primary_key=True),
    Column("approved_at", DateTime(timezone=True), nullable=False),
)

disclosure_packages = Table(
    "disclosure_packages",
    metadata,
    Column("request_id", String(32), ForeignKey("disclosure_requests.id"), primary_key=True),
    Column("recipient_org_id", String(32), ForeignKey("organisations.id"), nullable=False),
    Column("ephemeral_public", LargeBinary, nullable=False),
    Column("nonce", LargeBinary, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("sha256", String(64), nullable=False),
    # set when the recipient has taken the package into its own casework
    Column("accepted_case_id", String(32), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

witness_cosignatures = Table(
    "witness_cosignatures",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("witness", String(200), nullable=False),  # the witness key's name
    Column("key_id", String(8), nullable=False),
    Column("checkpoint_size", Integer, nullable=False),
    Column("cosigned_at", BigInteger, nullable=False),  # the cosignature's own timestamp
    # the whole cosigned checkpoint note, kept so that every audit re-checks it
    Column("note", Text, nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False),
)

disclosure_asks = Table(
    "disclosure_asks",
    metadata,
    # Another organisation (a police force) asks a holder to consider a disclosure. The ask
    # carries no case data: a reference the person gave, a purpose and kinds of data. The
    # holder's staff decide through the ordinary disclosure workflow.
    Column("id", String(32), primary_key=True),
    Column("from_org_id", String(32), ForeignKey("organisations.id"), nullable=False),
    Column("from_user_id", String(32), ForeignKey("users.id"), nullable=False),
    Column("to_org_id", String(32), ForeignKey("organisations.id"), nullable=False),
    Column("reference", String(32), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("categories", Text, nullable=False),
    Column("status", String(16), nullable=False),  # open | answered
    Column("request_id", String(32), nullable=True),  # the holder's disclosure request
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_disclosure_asks_to", "to_org_id", "status"),
    Index("ix_disclosure_asks_from", "from_org_id"),
)

disclosure_events = Table(
    "disclosure_events",
    metadata,
    # The ends of the workflow, each with who and why: an approver refused a request or sent it
    # back, its requester withdrew it or sent it again, a holder declined an ask. The reason
    # is written for the person (or the organisation) that asked, so it is kept in clear and
    # the form says not to write her details in it; the ledger holds each step as well.
    Column("id", String(32), primary_key=True),
    Column("request_id", String(32), ForeignKey("disclosure_requests.id"), nullable=True),
    Column("ask_id", String(32), ForeignKey("disclosure_asks.id"), nullable=True),
    # refused | sent_back | resubmitted | withdrawn | ask_declined
    Column("kind", String(16), nullable=False),
    Column("user_id", String(32), ForeignKey("users.id"), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_disclosure_events_request", "request_id"),
    Index("ix_disclosure_events_ask", "ask_id"),
)

case_closures = Table(
    "case_closures",
    metadata,
    # Why a case was closed, from a closed list (funders count them): a routing fact in clear,
    # like the status itself; nothing about her. The latest row of a case is its closure.
    Column("id", String(32), primary_key=True),
    Column("case_id", String(32), ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("closed_by", String(32), ForeignKey("users.id"), nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=False),
    Index("ix_case_closures_case", "case_id"),
    Index("ix_case_closures_closed_at", "closed_at"),
)

safety_plan_actions = Table(
    "safety_plan_actions",
    metadata,
    # One action of her safety plan: what is to be done is sealed under the case's data key
    # (category case_notes, like a note); who owns it and by when are routing facts in clear,
    # so that overdue actions can be flagged without opening anything.
    Column("id", String(32), primary_key=True),
    Column("case_id", String(32), ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("sealed", LargeBinary, nullable=False),
    Column("owner_id", String(32), ForeignKey("users.id"), nullable=False),
    Column("due_on", DateTime(timezone=True), nullable=False),
    Column("done_at", DateTime(timezone=True), nullable=True),
    Column("created_by", String(32), ForeignKey("users.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_safety_plan_actions_case", "case_id"),
)

case_status_changes = Table(
    "case_status_changes",
    metadata,
    # Every change of a case's status (who, when, from what to what): a routing fact in clear,
    # like the status itself. Returns count the cases open or dormant at the end of a period
    # from it; changed_by is empty for a change no person made (a transfer completed).
    Column("id", String(32), primary_key=True),
    Column("case_id", String(32), ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("from_status", String(32), nullable=False),
    Column("to_status", String(32), nullable=False),
    Column("changed_by", String(32), ForeignKey("users.id"), nullable=True),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Index("ix_case_status_changes_case", "case_id"),
)

outcome_scores = Table(
    "outcome_scores",
    metadata,
    # Outcome measures at entry and at exit: a score on a small fixed scale per measure
    # (casework.OUTCOME_MEASURES), nothing she wrote. Kept in clear, like the closure reason,
    # so that returns can count improvements without opening any case; the case page shows
    # them only under its allowed decision. The latest row per (case, stage, measure) counts.
    Column("id", String(32), primary_key=True),
    Column("case_id", String(32), ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("stage", String(8), nullable=False),  # entry | exit
    Column("measure", String(32), nullable=False),
    Column("score", Integer, nullable=False),
    Column("recorded_by", String(32), ForeignKey("users.id"), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Index("ix_outcome_scores_case", "case_id"),
)

marac_actions = Table(
    "marac_actions",
    metadata,
    # One action agreed at the MARAC meeting, recorded by the referring organisation against
    # its case (and the referral it sent): what is to be done is sealed under the case's data
    # key (category case_notes); the agency that owns it, the due date and when it was done
    # are routing facts in clear.
    Column("id", String(32), primary_key=True),
    Column("case_id", String(32), ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("request_id", String(32), ForeignKey("disclosure_requests.id"), nullable=True),
    Column("sealed", LargeBinary, nullable=False),
    Column("agency", String(32), nullable=False),
    Column("due_on", DateTime(timezone=True), nullable=False),
    Column("done_at", DateTime(timezone=True), nullable=True),
    Column("created_by", String(32), ForeignKey("users.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_marac_actions_case", "case_id"),
)

case_transfers = Table(
    "case_transfers",
    metadata,
    # A case handed to a support service or police force in another area: the disclosure
    # request that carries it (purpose marac: a justification and a second supervisor, unless
    # she consented), and, once the receiving organisation has taken it into its casework,
    # its new case. The sending case is then closed ("transferred to another area").
    Column("id", String(32), primary_key=True),
    Column("case_id", String(32), ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("request_id", String(32), ForeignKey("disclosure_requests.id"), nullable=False),
    Column("to_org_id", String(32), ForeignKey("organisations.id"), nullable=False),
    Column("requested_by", String(32), ForeignKey("users.id"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("accepted_case_id", String(32), nullable=True),
    Column("accepted_at", DateTime(timezone=True), nullable=True),
    Index("ix_case_transfers_case", "case_id"),
    Index("ix_case_transfers_request", "request_id", unique=True),
)
