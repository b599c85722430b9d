"""When a support service answers her: each organisation's reply time, set by its operators.

``organisations.reply_working_days`` (migration 0020) is how many working days the service
usually takes to answer a victim; unset, her pages promise no time (docs/victim.md, "What
happens next and when"). Set with ``safereport org reply-time``.

The victim's pages ask by the reference on her card (just after a report or a claim) or by her
return session; both read routing facts only (which organisation holds the case, how it came
in), never sealed content, so no vault access and no ledger entry is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

from safereport.domain.case import IntakeKind
from safereport.domain.vocabulary import OrgKind
from safereport.errors import InvalidInput
from safereport.services.instance import Instance
from safereport.store.reply_times import (
    CaseReplyTime,
    organisation_named,
    reply_time_for_her_case,
    reply_time_for_reference,
    set_reply_working_days,
)

__all__ = [
    "MAX_REPLY_WORKING_DAYS",
    "ReplyTime",
    "for_reference",
    "for_session",
    "set_reply_time",
]

#: The longest reply time accepted: beyond this a promise of "within N days" means little.
MAX_REPLY_WORKING_DAYS = 30


@dataclass(frozen=True)
class ReplyTime:
    """What her pages may say about an answer: whether one can reach her, and within how many
    working days the service usually answers (None: no promise)."""

    working_days: int | None
    can_answer: bool


def set_reply_time(instance: Instance, org: str, working_days: int | None) -> str:
    """Set (or, with None, unset) a support service's reply time; returns its name.

    ``org`` is the organisation's name or id. Only support services answer victims.
    """
    if working_days is not None and not 1 <= working_days <= MAX_REPLY_WORKING_DAYS:
        raise InvalidInput(
            f"the reply time must be between 1 and {MAX_REPLY_WORKING_DAYS} working days")
    with instance.engine.begin() as conn:
        found = organisation_named(conn, org)
        if found is None:
            raise InvalidInput(f"no organisation called {org!r} (see `safereport org list`)")
        if found.kind != OrgKind.SUPPORT_SERVICE:
            raise InvalidInput(f"{found.name} is not a support service: only support services "
                               "answer the people who report")
        set_reply_working_days(conn, found.id, working_days)
    return found.name


def _reply_time(found: CaseReplyTime | None) -> ReplyTime | None:
    if found is None:
        return None
    return ReplyTime(working_days=found.working_days,
                     can_answer=found.intake != IntakeKind.ANONYMOUS)


def for_reference(instance: Instance, reference: str) -> ReplyTime | None:
    """The reply time of the service holding the case with this reference (None: no case)."""
    with instance.engine.connect() as conn:
        return _reply_time(reply_time_for_reference(conn, reference))


def for_session(instance: Instance, case_id: str, subject_id: str) -> ReplyTime | None:
    """The reply time for her case (None unless the case is hers)."""
    with instance.engine.connect() as conn:
        return _reply_time(reply_time_for_her_case(conn, case_id, subject_id))
