"""Casework as UK specialist services practise it (issue 17): outcome measures at entry and
exit, the MARAC meeting's actions, and the transfer of a case to another area.

Every write is decided and recorded (an ``update`` of the case's notes, in the same transaction
as the write) through :mod:`safereport.services.casework`; what a MARAC action says is sealed
under the case's data key and opened only with the case page's Grant. Outcome scores are
numbers on a small fixed scale (nothing she wrote), kept in clear like the status and the
closure reason so that the funders' returns can count them without opening any case; the case
page shows them only when its own decision on her case notes allowed it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection

from safereport.domain.case import CaseStatus, can_transition, new_id
from safereport.domain.vocabulary import Action, DataCategory, OrgKind, Purpose, Recipient
from safereport.errors import InvalidInput
from safereport.policy.decision import Grant
from safereport.services.access import Actor
from safereport.services.auth import StaffUser
from safereport.services.casework import (
    _case_row,
    _committed_denial,
    _decide_write,
    _touch,
    complete_action,
    due_date,
    open_sealed_rows,
)
from safereport.services.instance import Instance
from safereport.store import casework as store
from safereport.store.casework import ActionList
from safereport.store.disclosures import other_organisations

__all__ = [
    "MARAC_AGENCIES",
    "OUTCOME_MEASURES",
    "OUTCOME_STAGES",
    "MaracAction",
    "OutcomeMeasure",
    "TransferView",
    "add_marac_action",
    "complete_marac_action",
    "complete_transfer",
    "is_transfer",
    "marac_referrals",
    "open_marac_actions",
    "outcome_scores",
    "record_outcomes",
    "request_transfer",
    "transfer_organisations",
    "transfers_for_case",
]


# ---- outcome measures at entry and exit -----------------------------------------------------


@dataclass(frozen=True)
class OutcomeMeasure:
    code: str
    question: str
    #: The answers, worst first: the score is the position (1 = the first).
    scale: tuple[str, ...]
    #: What the returns count at exit (against the score at entry for the same case).
    improved: str


#: A small fixed set, as UK services measure outcomes (SafeLives' Insights and Women's Aid's
#: On Track ask whether she feels safer, whether the abuse has stopped or reduced, and how her
#: wellbeing and confidence have changed between the start and the end of support).
OUTCOME_MEASURES: tuple[OutcomeMeasure, ...] = (
    OutcomeMeasure("safety", "How safe does she feel?",
                   ("Not safe at all", "Not very safe", "Fairly safe", "Mostly safe",
                    "Completely safe"), "feels safer than at the start"),
    OutcomeMeasure("abuse", "Is the abuse still happening?",
                   ("Yes, as much or more", "Yes, but less", "No, it has stopped"),
                   "the abuse has stopped or reduced"),
    OutcomeMeasure("wellbeing", "How is her wellbeing (sleep, mood, getting through the day)?",
                   ("Very poor", "Poor", "Fair", "Good", "Very good"),
                   "her wellbeing is better than at the start"),
    OutcomeMeasure("confidence", "How confident is she about getting help if she needs it?",
                   ("Not at all", "A little", "Fairly", "Quite", "Very"),
                   "she is more confident about getting help"),
)
_MEASURES = {m.code: m for m in OUTCOME_MEASURES}
#: When the scores are taken: when support starts, and when the case is closed.
OUTCOME_STAGES: dict[str, str] = {"entry": "At the start of support",
                                  "exit": "At the end of support (when closing)"}


def _score(measure: OutcomeMeasure, raw: str) -> int | None:
    if not raw.strip():
        return None  # not asked (she may not have been reachable)
    try:
        score = int(raw)
    except ValueError:
        score = 0
    if not 1 <= score <= len(measure.scale):
        raise InvalidInput(f"choose one of the answers to '{measure.question}'")
    return score


def record_outcomes(instance: Instance, user: StaffUser, case_id: str, stage: str,
                    answers: Mapping[str, str]) -> None:
    """Record (or correct) her outcome scores at ``stage``; decided and recorded."""
    if stage not in OUTCOME_STAGES:
        raise InvalidInput("choose when the scores were taken: at the start or at the end")
    unknown = set(answers) - set(_MEASURES)
    if unknown:
        raise InvalidInput("unknown outcome measure: " + ", ".join(sorted(unknown)))
    scores = {code: score for code, raw in answers.items()
              if (score := _score(_MEASURES[code], raw)) is not None}
    if not scores:
        raise InvalidInput("answer at least one question")

    def work(conn: Connection) -> None:
        _case_row(conn, user, case_id)
        _decide_write(instance, conn, user, case_id, [DataCategory.CASE_NOTES],
                      f"outcomes_{stage}")
        store.replace_outcome_scores(conn, case_id, stage, scores, by=user.id,
                                     now=datetime.now(UTC))
        _touch(conn, case_id)

    _committed_denial(instance, work, user=user, case_id=case_id, event=f"outcomes_{stage}")


def outcome_scores(instance: Instance, case_id: str) -> dict[str, dict[str, int]]:
    """{stage: {measure: score}} for the case (the caller holds its page's Grant)."""
    with instance.engine.connect() as conn:
        return store.outcome_score_table(conn, case_id)


# ---- the MARAC meeting's actions ------------------------------------------------------------

#: The agencies round a MARAC table that take actions away from the meeting.
MARAC_AGENCIES: dict[str, str] = {
    "idva": "IDVA or specialist support service",
    "police": "Police",
    "health": "Health (GP, hospital, health visitor, mental health)",
    "housing": "Housing",
    "childrens_services": "Children's social care",
    "adult_services": "Adult social care",
    "probation": "Probation",
    "education": "School or education",
    "other": "Another agency",
}
MARAC_LABEL = "marac-action:"
MAX_ACTION_CHARS = 1000


@dataclass(frozen=True, slots=True)
class MaracAction:
    id: str
    text: str
    agency: str
    due_on: datetime
    done_at: datetime | None
    referral_id: str | None

    @property
    def overdue(self) -> bool:
        return self.done_at is None and self.due_on < datetime.now(UTC)

    @property
    def agency_label(self) -> str:
        return MARAC_AGENCIES.get(self.agency, self.agency)


def marac_referrals(instance: Instance, user: StaffUser, case_id: str) -> list[tuple[str, str]]:
    """(id, "released 03 Dec 2026") of the organisation's MARAC referrals of this case."""
    with instance.engine.connect() as conn:
        return marac_referrals_in(conn, user, case_id)


def marac_referrals_in(conn: Connection, user: StaffUser, case_id: str) -> list[tuple[str, str]]:
    """:func:`marac_referrals` through an open connection (the case page lends its own)."""
    rows = store.marac_referral_rows(conn, case_id, user.org_id, Recipient.MARAC.value)
    return [(r.id, f"{r.status.replace('_', ' ')}, asked {r.created_at:%d %b %Y}") for r in rows]


def add_marac_action(instance: Instance, user: StaffUser, case_id: str, text: str, *,
                     agency: str, due: str, referral_id: str = "") -> str:
    """Record an action the MARAC meeting agreed: what (sealed), which agency, by when."""
    body = " ".join(text.split())
    if not body:
        raise InvalidInput("say what the meeting agreed is to be done")
    if len(body) > MAX_ACTION_CHARS:
        raise InvalidInput(f"an action holds at most {MAX_ACTION_CHARS} characters")
    if agency not in MARAC_AGENCIES:
        raise InvalidInput("choose the agency that owns the action")
    due_on = due_date(due)
    if referral_id and referral_id not in {rid for rid, _ in marac_referrals(instance, user,
                                                                              case_id)}:
        raise InvalidInput("choose one of this case's MARAC referrals")
    action_id = new_id()

    def work(conn: Connection) -> None:
        _case_row(conn, user, case_id)
        write = _decide_write(instance, conn, user, case_id, [DataCategory.CASE_NOTES],
                              "marac_action")
        sealed = write.seal_blob(DataCategory.CASE_NOTES, MARAC_LABEL + action_id,
                                 body.encode("utf-8"))
        store.insert_marac_action(conn, action_id, case_id, sealed,
                                  request_id=referral_id or None, agency=agency, due_on=due_on,
                                  created_by=user.id, now=datetime.now(UTC))
        _touch(conn, case_id)

    _committed_denial(instance, work, user=user, case_id=case_id, event="marac_action")
    return action_id


def complete_marac_action(instance: Instance, user: StaffUser, case_id: str,
                          action_id: str) -> None:
    """Mark a MARAC action done (decided and recorded)."""
    complete_action(instance, user, case_id, action_id, ActionList.MARAC, "marac_action_done",
                    "no such open MARAC action on this case")


def open_marac_actions(instance: Instance, actor: Actor, grant: Grant,
                       case_id: str) -> list[MaracAction]:
    """The case's MARAC actions, due first, opened under the case page's Grant."""
    return [MaracAction(row.id, text, row.agency, row.due_on, row.done_at, row.request_id)
            for row, text in open_sealed_rows(instance, actor, grant, case_id,
                                              store.marac_action_rows, MARAC_LABEL,
                                              "marac_actions_unopened")]


# ---- transfer to another area ---------------------------------------------------------------

#: What a transfer carries: everything a support service holds about her case except its own
#: notes (the receiving service starts its own). The sealed categories go with it: they pass
#: only between support services (F-sealed), and a transfer goes only to a support service.
TRANSFER_CATEGORIES = frozenset({
    DataCategory.IDENTITY, DataCategory.CONTACT, DataCategory.ADDRESS,
    DataCategory.CRIME_DETAILS, DataCategory.HEALTH, DataCategory.RISK_ASSESSMENT,
    DataCategory.NATIONALITY, DataCategory.IMMIGRATION_STATUS, DataCategory.IMMIGRATION_ABUSE,
})


@dataclass(frozen=True, slots=True)
class TransferView:
    request_id: str
    to_org: str
    status: str
    created_at: datetime
    accepted_at: datetime | None

    @property
    def plain_status(self) -> str:
        if self.accepted_at is not None:
            return f"taken into {self.to_org}'s casework on {self.accepted_at:%d %b %Y}"
        if self.status == "released":
            return f"sent: waiting for {self.to_org} to take it in"
        return self.status.replace("_", " ")


def transfer_organisations(instance: Instance, user: StaffUser) -> list[tuple[str, str]]:
    """(id, name) of the support services a case of this organisation can be handed to."""
    with instance.engine.connect() as conn:
        return transfer_organisations_in(conn, user)


def transfer_organisations_in(conn: Connection, user: StaffUser) -> list[tuple[str, str]]:
    """:func:`transfer_organisations` through an open connection."""
    if user.org_kind is not OrgKind.SUPPORT_SERVICE:
        return []
    return [(org.id, org.name) for org in other_organisations(conn, user.org_id)
            if org.kind == OrgKind.SUPPORT_SERVICE.value]


def request_transfer(instance: Instance, user: StaffUser, case_id: str, to_org_id: str,
                     justification: str) -> str:
    """Hand her case to a support service in another area, through the disclosure workflow.

    It is a disclosure for ``marac`` (the MARAC-to-MARAC transfer of a high-risk case) to
    that service: under POLICY.md (C-safeguarding) it waits for a written justification and
    the approval of a second, different supervisor unless she consented; the receiving
    service takes it into its casework from its inbox, and then this case is closed as
    "transferred to another area" (:func:`complete_transfer`). Returns the request's id.
    """
    from safereport.services.disclosure import DisclosureForm, request_disclosure

    if user.org_kind is not OrgKind.SUPPORT_SERVICE:
        raise InvalidInput("only a support service hands a case to another area here")
    if to_org_id not in {org_id for org_id, _ in transfer_organisations(instance, user)}:
        raise InvalidInput("choose the support service in her new area")
    why = justification.strip()
    if not why:
        raise InvalidInput("say why the case goes to another area (for example: she has "
                           "moved to Testtown and the MARAC there will hear it)")
    request_id = request_disclosure(instance, user, DisclosureForm(
        case_id=case_id, recipient_org_id=to_org_id, purpose=Purpose.MARAC,
        categories=TRANSFER_CATEGORIES, justification=why))
    with instance.engine.begin() as conn:
        store.insert_case_transfer(conn, case_id, request_id, to_org_id, requested_by=user.id,
                                   now=datetime.now(UTC))
    return request_id


def transfers_for_case(instance: Instance, user: StaffUser, case_id: str) -> list[TransferView]:
    """The case's transfers (routing facts: where to, how far it got), newest first."""
    with instance.engine.connect() as conn:
        return transfers_in(conn, user, case_id)


def transfers_in(conn: Connection, user: StaffUser, case_id: str) -> list[TransferView]:
    """:func:`transfers_for_case` through an open connection."""
    return [TransferView(r.request_id, r.to_org_name, r.status, r.created_at, r.accepted_at)
            for r in store.transfer_rows(conn, case_id, user.org_id)]


def is_transfer(instance: Instance, request_id: str) -> bool:
    """Whether the disclosure request carries a transfer of a case to another area."""
    with instance.engine.connect() as conn:
        return store.is_transfer_request(conn, request_id)


def complete_transfer(instance: Instance, request_id: str, new_case_id: str,
                      taken_in_by: Actor) -> None:
    """The receiving service took the case in: close the sending case as transferred.

    The closing is the sending organisation's update of its own case, decided as the update
    of the supervisor-approved request's author and recorded with who took it in; a refusal
    (the author's account gone, the case erased) leaves the case open for its staff to close.
    """
    from safereport.services.access import decide_and_record
    from safereport.services.auth import get_user
    from safereport.services.casework import actor_for, default_purpose, set_status

    with instance.engine.begin() as conn:
        transfer = store.open_transfer(conn, request_id)
        if transfer is None:
            return
        moment = datetime.now(UTC)
        store.mark_transfer_taken_in(conn, transfer.id, new_case_id, moment)
        author = get_user(conn, transfer.requested_by)
        case = store.case_row(conn, transfer.case_id)
        holder = store.request_holder_org(conn, request_id)
        if author is None or case is None or case.erased_at is not None \
                or author.org_id != holder:
            return
        current = CaseStatus(case.status)
        if not can_transition(current, CaseStatus.CLOSED):
            return
        decision, _ = decide_and_record(
            instance, actor_for(author), transfer.case_id, action=Action.UPDATE,
            purpose=default_purpose(author), categories=[DataCategory.CASE_NOTES],
            detail={"event": "transfer_completed", "disclosure": request_id,
                    "taken_in_by": taken_in_by.id}, conn=conn)
        if decision.allowed:
            set_status(conn, transfer.case_id, current, CaseStatus.CLOSED, by=author.id,
                       now=moment, closure_reason="transferred")
