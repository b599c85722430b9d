"""Casework as UK specialist services practise it (issue 17): outcome measures at entry and
exit, and the MARAC meeting's actions.

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

from sqlalchemy import Connection, and_, delete, select, update

from safereport.domain.case import new_id
from safereport.domain.vocabulary import DataCategory, Recipient
from safereport.errors import InvalidInput
from safereport.policy.decision import Grant
from safereport.services.access import Actor
from safereport.services.auth import StaffUser
from safereport.services.casework import (
    _case_row,
    _committed_denial,
    _decide_write,
    _touch,
    due_date,
    open_sealed_rows,
)
from safereport.services.instance import Instance

__all__ = [
    "MARAC_AGENCIES",
    "OUTCOME_MEASURES",
    "OUTCOME_STAGES",
    "MaracAction",
    "OutcomeMeasure",
    "add_marac_action",
    "complete_marac_action",
    "marac_referrals",
    "open_marac_actions",
    "outcome_scores",
    "record_outcomes",
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
        from safereport.store.staff import outcome_scores as table

        _case_row(conn, user, case_id)
        _decide_write(instance, conn, user, case_id, [DataCategory.CASE_NOTES],
                      f"outcomes_{stage}")
        moment = datetime.now(UTC)
        conn.execute(delete(table).where(and_(table.c.case_id == case_id,
                                              table.c.stage == stage,
                                              table.c.measure.in_(sorted(scores)))))
        for code, score in sorted(scores.items()):
            conn.execute(table.insert().values(
                id=new_id(), case_id=case_id, stage=stage, measure=code, score=score,
                recorded_by=user.id, recorded_at=moment))
        _touch(conn, case_id)

    _committed_denial(instance, work, user=user, case_id=case_id, event=f"outcomes_{stage}")


def outcome_scores(instance: Instance, case_id: str) -> dict[str, dict[str, int]]:
    """{stage: {measure: score}} for the case (the caller holds its page's Grant)."""
    from safereport.store.staff import outcome_scores as table

    found: dict[str, dict[str, int]] = {}
    with instance.engine.connect() as conn:
        for row in conn.execute(select(table.c.stage, table.c.measure, table.c.score)
                                .where(table.c.case_id == case_id)):
            found.setdefault(row.stage, {})[row.measure] = int(row.score)
    return found


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
    from safereport.store.staff import disclosure_requests as requests

    with instance.engine.connect() as conn:
        rows = conn.execute(select(requests.c.id, requests.c.status, requests.c.created_at)
                            .where(and_(requests.c.case_id == case_id,
                                        requests.c.holder_org_id == user.org_id,
                                        requests.c.recipient == Recipient.MARAC.value))
                            .order_by(requests.c.created_at.desc())).all()
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
        from safereport.store.staff import marac_actions

        _case_row(conn, user, case_id)
        _decide_write(instance, conn, user, case_id, [DataCategory.CASE_NOTES], "marac_action")
        sealed = instance.vault.seal_blob(conn, case_id, DataCategory.CASE_NOTES,
                                          MARAC_LABEL + action_id, body.encode("utf-8"))
        conn.execute(marac_actions.insert().values(
            id=action_id, case_id=case_id, request_id=referral_id or None, sealed=sealed,
            agency=agency, due_on=due_on, done_at=None, created_by=user.id,
            created_at=datetime.now(UTC)))
        _touch(conn, case_id)

    _committed_denial(instance, work, user=user, case_id=case_id, event="marac_action")
    return action_id


def complete_marac_action(instance: Instance, user: StaffUser, case_id: str,
                          action_id: str) -> None:
    """Mark a MARAC action done (decided and recorded)."""

    def work(conn: Connection) -> None:
        from safereport.store.staff import marac_actions

        _case_row(conn, user, case_id)
        _decide_write(instance, conn, user, case_id, [DataCategory.CASE_NOTES],
                      "marac_action_done")
        changed = conn.execute(update(marac_actions).where(and_(
            marac_actions.c.id == action_id, marac_actions.c.case_id == case_id,
            marac_actions.c.done_at.is_(None))).values(done_at=datetime.now(UTC)))
        if changed.rowcount != 1:
            raise InvalidInput("no such open MARAC action on this case")

    _committed_denial(instance, work, user=user, case_id=case_id, event="marac_action_done")


def open_marac_actions(instance: Instance, actor: Actor, grant: Grant,
                       case_id: str) -> list[MaracAction]:
    """The case's MARAC actions, due first, opened under the case page's Grant."""
    from safereport.store.staff import marac_actions

    query = (select(marac_actions).where(marac_actions.c.case_id == case_id)
             .order_by(marac_actions.c.due_on, marac_actions.c.id))
    return [MaracAction(row.id, text, row.agency, _aware(row.due_on),
                        _aware(row.done_at) if row.done_at is not None else None,
                        row.request_id)
            for row, text in open_sealed_rows(instance, actor, grant, case_id, query,
                                              MARAC_LABEL, "marac_actions_unopened")]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
