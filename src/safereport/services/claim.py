"""Claiming a case filed on her behalf: the one-time code staff hand her, and her new door.

Staff who file a report for someone (``report file``, the third-party form) get a claim code
to hand her (:func:`issue_claim_code`). With it she claims the case (:func:`claim_case`): a new
codename, shown once, opens it from then on, and the code is spent. A case has one door for
its life: once claimed or erased it never gets a new code (security review, 7).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection

from safereport.domain.case import new_id
from safereport.domain.codename import derive, hash_claim_code, new_claim_code, new_codename
from safereport.domain.vocabulary import Action, DataCategory, Purpose
from safereport.errors import InvalidInput
from safereport.services.access import decide_and_record
from safereport.services.instance import Instance
from safereport.services.intake import argon2_params, codename_salt, victim_actor
from safereport.services.victim import raise_if_denied
from safereport.store.doors import (
    case_for_claim_code,
    claim_state,
    give_case_a_door,
    set_claim_code,
)

__all__ = ["ClaimCodeRefused", "ClaimResult", "claim_case", "issue_claim_code"]


@dataclass(frozen=True)
class ClaimResult:
    reference: str
    codename: str


class ClaimCodeRefused(InvalidInput):
    """A claim code cannot be issued for this case; the message says why, in plain words."""

    def __init__(self, state: str) -> None:
        messages = {
            "claimed": "this report has been claimed by the person it is about: it can never "
                       "get a new claim code (her door stays hers)",
            "erased": "this report has been erased",
            "not_third_party": "claim codes are only for reports filed on someone's behalf",
        }
        super().__init__(messages.get(state, "no such report"))
        self.state = state


def issue_claim_code(instance: Instance, case_id: str, *, conn: Connection | None = None) -> str:
    """For staff filing a report on someone's behalf: a one-time code to hand to her."""
    code = new_claim_code()
    # One door for the life of a case: once claimed (or erased) it never gets a new code, or a
    # phone call to a coordinator could move her door to someone else (security review, 7).
    if conn is not None:
        issued = set_claim_code(conn, case_id, hash_claim_code(code))
        state = claim_state(conn, case_id)
    else:
        with instance.engine.begin() as own:
            issued = set_claim_code(own, case_id, hash_claim_code(code))
            state = claim_state(own, case_id)
    if not issued:
        raise ClaimCodeRefused(state)
    return code


def claim_case(
    instance: Instance, claim_code: str, *, now: datetime | None = None, language: str = "en"
) -> ClaimResult:
    """Turn a third-party report into hers: a new codename (in ``language``), shown once; the
    code is spent."""
    now = now or datetime.now(UTC)
    codename = new_codename(language)
    secret = derive(codename, codename_salt(instance), argon2_params(instance))
    with instance.engine.begin() as conn:
        case = case_for_claim_code(conn, hash_claim_code(claim_code))
        if case is None:
            raise InvalidInput("that claim code is not valid")
        subject_id = new_id()
        decision, _ = decide_and_record(
            instance, victim_actor(subject_id), case.id,
            action=Action.UPDATE, purpose=Purpose.SUBJECT_ACCESS,
            categories=[DataCategory.CRIME_DETAILS], detail={"event": "claimed"}, conn=conn,
        )
        if decision.allowed:
            give_case_a_door(conn, case.id, subject_id, secret.lookup_id, now)
    raise_if_denied(decision)
    return ClaimResult(reference=case.reference, codename=codename)
