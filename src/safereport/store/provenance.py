"""Facts with provenance (POLICY.md v2, "Where the facts come from").

Two facts decide whether anything reaches a recipient on the victim's word: her consent
(``store.core.consents``, which now keeps who gave or recorded it and who confirmed it) and
her request for a disclosure (``victim_requests`` here). Each is true only when it came through
her own door, or was recorded in person by one staff member and confirmed by a second.
These are typed query functions; they never commit (the services own the transaction).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    and_,
    bindparam,
    insert,
    or_,
    select,
    update,
)

from safereport.domain.vocabulary import DataCategory, Purpose, Recipient
from safereport.store.core import consents
from safereport.store.holding import holds_none
from safereport.store.metadata import metadata
from safereport.store.staff import disclosure_requests

__all__ = [
    "ConsentRow",
    "FactSource",
    "ReleasedRow",
    "VictimRequestRow",
    "confirm_consent_by",
    "confirm_request_by",
    "consent_row",
    "consent_rows",
    "insert_consent",
    "insert_victim_request",
    "released_to",
    "standing_consent",
    "standing_consent_row",
    "victim_request_row",
    "victim_request_rows",
    "victim_request_stands",
    "victim_requests",
    "withdraw_victim_request",
]


class FactSource(StrEnum):
    """Who stated a fact: the subject through her own door, a staff member in person, or a
    bulk import (``report submit --json``: no person stands behind it, so it never counts)."""

    IMPORT = "import"
    STAFF = "staff"
    SUBJECT = "subject"


victim_requests = Table(
    "victim_requests",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("case_id", String(32), ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("recipient", String(32), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("categories", Text, nullable=False),  # space-separated DataCategory values
    Column("source", String(16), nullable=False),
    Column("recorded_by", String(32), ForeignKey("users.id"), nullable=True),
    Column("confirmed_by", String(32), ForeignKey("users.id"), nullable=True),
    Column("confirmed_at", DateTime(timezone=True), nullable=True),
    Column("consent_id", String(32), nullable=True),  # the consent made with it
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("withdrawn_at", DateTime(timezone=True), nullable=True),
    Index("ix_victim_requests_case", "case_id"),
)


class _Stated:
    """What makes a stated fact count (POLICY.md v2): not withdrawn, and given through her own
    door or confirmed by a second person. An import never counts."""

    source: FactSource
    confirmed_by: str | None
    withdrawn_at: datetime | None

    @property
    def stands(self) -> bool:
        return self.withdrawn_at is None and (
            self.source is FactSource.SUBJECT or self.confirmed_by is not None
        )

    @property
    def awaiting_confirmation(self) -> bool:
        return (
            self.withdrawn_at is None
            and self.source is FactSource.STAFF
            and self.confirmed_by is None
        )


@dataclass(frozen=True)
class ConsentRow(_Stated):
    id: str
    case_id: str
    recipient: Recipient
    purpose: Purpose
    source: FactSource
    recorded_by: str | None
    confirmed_by: str | None
    given_at: datetime
    confirmed_at: datetime | None
    withdrawn_at: datetime | None
    #: When it must be reviewed with her (``consent_review_days`` after it was given through
    #: her door or confirmed by a second person); None: never set, so it never counts.
    review_on: datetime | None = None

    @property
    def stands(self) -> bool:
        """It counts: as any stated fact, and only until its review date (fail closed)."""
        return super().stands and not self.review_due

    @property
    def review_due(self) -> bool:
        """Its review date has passed (or it has none): it no longer counts."""
        return self.review_on is None or self.review_on <= datetime.now(UTC)


@dataclass(frozen=True)
class VictimRequestRow(_Stated):
    id: str
    case_id: str
    recipient: Recipient
    purpose: Purpose
    categories: frozenset[DataCategory]
    source: FactSource
    recorded_by: str | None
    confirmed_by: str | None
    consent_id: str | None
    created_at: datetime
    confirmed_at: datetime | None
    withdrawn_at: datetime | None


def _consent(r: Any) -> ConsentRow:
    return ConsentRow(
        id=r.id,
        case_id=r.case_id,
        recipient=Recipient(r.recipient),
        purpose=Purpose(r.purpose),
        source=FactSource(r.source),
        recorded_by=r.recorded_by,
        confirmed_by=r.confirmed_by,
        given_at=r.given_at,
        confirmed_at=r.confirmed_at,
        withdrawn_at=r.withdrawn_at,
        review_on=_aware(r.review_on),
    )


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _request(r: Any) -> VictimRequestRow:
    return VictimRequestRow(
        id=r.id,
        case_id=r.case_id,
        recipient=Recipient(r.recipient),
        purpose=Purpose(r.purpose),
        categories=frozenset(DataCategory(c) for c in r.categories.split()),
        source=FactSource(r.source),
        recorded_by=r.recorded_by,
        confirmed_by=r.confirmed_by,
        consent_id=r.consent_id,
        created_at=r.created_at,
        confirmed_at=r.confirmed_at,
        withdrawn_at=r.withdrawn_at,
    )


def _standing() -> Any:
    return and_(
        consents.c.withdrawn_at.is_(None),
        or_(consents.c.source == FactSource.SUBJECT.value, consents.c.confirmed_by.is_not(None)),
        # Past its review date (or never given one) a consent counts for nothing (fail closed).
        consents.c.review_on.is_not(None),
        consents.c.review_on > datetime.now(UTC),
    )


def standing_consent_row(
    conn: Connection,
    case_id: str,
    recipient: Recipient,
    purpose: Purpose,
    *,
    lock: bool = False,
) -> ConsentRow | None:
    """The consent that counts now for this recipient and purpose, if one does.

    ``lock`` takes a row lock (PostgreSQL ``FOR UPDATE``) so that a withdrawal racing a
    release waits for it, or the release sees the withdrawal.
    """
    query = select(consents).where(
        and_(
            consents.c.case_id == case_id,
            consents.c.recipient == recipient.value,
            consents.c.purpose == purpose.value,
            _standing(),
        )
    )
    if lock:
        query = query.with_for_update()
    row = conn.execute(query.order_by(consents.c.given_at)).first()
    return _consent(row) if row is not None else None


def standing_consent(
    conn: Connection, case_id: str, recipient: Recipient, purpose: Purpose
) -> bool:
    """Whether a consent to this recipient and purpose stands and came from her or two people."""
    return standing_consent_row(conn, case_id, recipient, purpose) is not None


# Read on every view of a case page: built once, at import.
_CONSENTS = (select(consents).where(consents.c.case_id == bindparam("case_id"))
             .order_by(consents.c.given_at.desc()))
_REQUESTS = (select(victim_requests).where(victim_requests.c.case_id == bindparam("case_id"))
             .order_by(victim_requests.c.created_at.desc()))


def consent_rows(conn: Connection, case_id: str) -> list[ConsentRow]:
    """Every consent on the case, newest first (withdrawn and waiting ones included)."""
    if holds_none(conn, consents, case_id):
        return []
    return [_consent(r) for r in conn.execute(_CONSENTS, {"case_id": case_id}).all()]


def consent_row(conn: Connection, consent_id: str) -> ConsentRow | None:
    row = conn.execute(select(consents).where(consents.c.id == consent_id)).first()
    return _consent(row) if row is not None else None


def victim_request_row(conn: Connection, request_id: str) -> VictimRequestRow | None:
    row = conn.execute(select(victim_requests).where(victim_requests.c.id == request_id)).first()
    return _request(row) if row is not None else None


def victim_request_rows(conn: Connection, case_id: str) -> list[VictimRequestRow]:
    """Every request of hers on the case, newest first."""
    if holds_none(conn, victim_requests, case_id):
        return []
    return [_request(r) for r in conn.execute(_REQUESTS, {"case_id": case_id}).all()]


def victim_request_stands(
    conn: Connection,
    case_id: str,
    request_id: str | None,
    recipient: Recipient,
    purpose: Purpose,
    categories: Iterable[DataCategory],
) -> bool:
    """``victim_initiated``: her standing request for this case, recipient, purpose and data.

    The categories of the disclosure must be among those she asked to send.
    """
    if not request_id:
        return False
    row = victim_request_row(conn, request_id)
    return (
        row is not None
        and row.case_id == case_id
        and row.stands
        and row.recipient is recipient
        and row.purpose is purpose
        and frozenset(categories) <= row.categories
    )


# ---- writing stated facts -------------------------------------------------------------------


def insert_consent(conn: Connection, *, id: str, case_id: str, recipient: Recipient,
                   purpose: Purpose, given_at: datetime, source: FactSource,
                   recorded_by: str | None = None, review_on: datetime | None = None) -> None:
    """Write a consent: given through her door (``subject``, with its review date), or
    recorded in person by ``recorded_by`` (``staff``, counting once a colleague confirms)."""
    conn.execute(insert(consents).values(
        id=id, case_id=case_id, recipient=recipient.value, purpose=purpose.value,
        given_at=given_at, source=source.value, recorded_by=recorded_by, review_on=review_on))


def insert_victim_request(conn: Connection, *, id: str, case_id: str, recipient: Recipient,
                          purpose: Purpose, categories: Iterable[str], source: FactSource,
                          consent_id: str, created_at: datetime,
                          recorded_by: str | None = None) -> None:
    """Write her request for a disclosure of ``categories``, with the consent it carries."""
    conn.execute(insert(victim_requests).values(
        id=id, case_id=case_id, recipient=recipient.value, purpose=purpose.value,
        categories=" ".join(sorted(categories)), source=source.value,
        recorded_by=recorded_by, consent_id=consent_id, created_at=created_at))


def confirm_consent_by(conn: Connection, consent_id: str, confirmer: str, moment: datetime,
                       review_on: datetime, *, not_its_recorder: bool) -> bool:
    """Confirm a consent not yet confirmed nor withdrawn, setting its review date; with
    ``not_its_recorder``, only if ``confirmer`` did not record it. True if confirmed here."""
    conditions = [consents.c.id == consent_id, consents.c.confirmed_by.is_(None),
                  consents.c.withdrawn_at.is_(None)]
    if not_its_recorder:
        conditions.append(consents.c.recorded_by != confirmer)
    done = conn.execute(
        update(consents).where(and_(*conditions))
        .values(confirmed_by=confirmer, confirmed_at=moment, review_on=review_on)
    ).rowcount
    return done == 1


def confirm_request_by(conn: Connection, request_id: str, confirmer: str,
                       moment: datetime) -> bool:
    """Confirm a request not yet confirmed nor withdrawn that ``confirmer`` did not record.
    True if confirmed here."""
    done = conn.execute(
        update(victim_requests)
        .where(and_(victim_requests.c.id == request_id, victim_requests.c.confirmed_by.is_(None),
                    victim_requests.c.withdrawn_at.is_(None),
                    victim_requests.c.recorded_by != confirmer))
        .values(confirmed_by=confirmer, confirmed_at=moment)
    ).rowcount
    return done == 1


def withdraw_victim_request(conn: Connection, request_id: str, moment: datetime) -> None:
    """Mark her request withdrawn at ``moment``."""
    conn.execute(update(victim_requests).where(victim_requests.c.id == request_id)
                 .values(withdrawn_at=moment))


@dataclass(frozen=True, slots=True)
class ReleasedRow:
    """A disclosure released: its data categories (space-separated) and when."""

    categories: str
    updated_at: datetime


def released_to(conn: Connection, case_id: str, recipient: Recipient,
                purpose: Purpose) -> list[ReleasedRow]:
    """The case's disclosures released to this kind of recipient for this purpose, newest
    first."""
    rows = conn.execute(
        select(disclosure_requests.c.categories, disclosure_requests.c.updated_at)
        .where(and_(disclosure_requests.c.case_id == case_id,
                    disclosure_requests.c.recipient == recipient.value,
                    disclosure_requests.c.purpose == purpose.value,
                    disclosure_requests.c.status == "released"))
        .order_by(disclosure_requests.c.updated_at.desc())
    ).all()
    return [ReleasedRow(r.categories, r.updated_at) for r in rows]
