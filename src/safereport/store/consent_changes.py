"""Her consents, given and withdrawn through her own door (POLICY.md v2).

Reading which consents stand is ``store.provenance``; this writes her changes. Withdrawing
ends every consent to that recipient and purpose, whoever recorded it, and the requests she
made that rest on it. Query functions never commit (the service records the decision in the
same transaction).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, select, update

from safereport.domain.case import new_id
from safereport.domain.vocabulary import Purpose, Recipient
from safereport.store.core import consents
from safereport.store.provenance import FactSource, victim_requests

__all__ = ["give_her_consent", "withdraw_consent"]


def _standing(case_id: str, recipient: Recipient, purpose: Purpose) -> Any:
    return and_(
        consents.c.case_id == case_id,
        consents.c.recipient == recipient.value,
        consents.c.purpose == purpose.value,
        consents.c.withdrawn_at.is_(None),
    )


def withdraw_consent(
    conn: Connection, case_id: str, recipient: Recipient, purpose: Purpose, now: datetime
) -> None:
    """End at once every consent to this recipient and purpose, whoever recorded it, and the
    requests she made that rest on it."""
    conn.execute(update(consents).where(_standing(case_id, recipient, purpose))
                 .values(withdrawn_at=now))
    conn.execute(update(victim_requests).where(and_(
        victim_requests.c.case_id == case_id,
        victim_requests.c.recipient == recipient.value,
        victim_requests.c.purpose == purpose.value,
        victim_requests.c.withdrawn_at.is_(None))).values(withdrawn_at=now))


def give_her_consent(
    conn: Connection, case_id: str, recipient: Recipient, purpose: Purpose, now: datetime,
    *, review_on: datetime,
) -> None:
    """Her consent to this recipient and purpose, unless one of hers stands already.

    One past its review date no longer counts: giving it again makes a new one (issue 17).
    """
    mine = and_(_standing(case_id, recipient, purpose),
                consents.c.source == FactSource.SUBJECT.value, consents.c.review_on > now)
    if conn.execute(select(consents.c.id).where(mine)).first() is None:
        conn.execute(
            consents.insert().values(
                id=new_id(), case_id=case_id, recipient=recipient.value,
                purpose=purpose.value, given_at=now, source=FactSource.SUBJECT.value,
                review_on=review_on,
            )
        )
