"""Her erasure: asked for through her own door, cancelled in the cooling-off, then carried out.

She asks (:func:`request_erasure`); for ``erasure_cooling_off_hours`` she can change her mind
(:func:`cancel_erasure`); then a scheduled job crypto-shreds the case
(:func:`complete_due_erasures`). Each step is decided and recorded in the same transaction as
the change. :func:`shred_case` is also how retention and quarantine destroy a case.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from safereport.domain.fields import FIELD_CATEGORY
from safereport.domain.vocabulary import Action, DataCategory, Purpose
from safereport.errors import InvalidInput
from safereport.services.access import Write, decide_and_record, decide_write
from safereport.services.instance import Instance
from safereport.services.intake import victim_actor
from safereport.services.victim import (
    VictimSession,
    case_overview,
    her_case,
    raise_if_denied,
    refusals_on_record,
    require_not_erased,
)
from safereport.store import erasure as store
from safereport.vault import purge_remnants

__all__ = [
    "ERASABLE_CATEGORIES",
    "cancel_erasure",
    "complete_due_erasures",
    "request_erasure",
    "shred_case",
]

#: Everything a case can hold: what an erasure is decided over.
ERASABLE_CATEGORIES = frozenset(FIELD_CATEGORY.values()) | {DataCategory.CASE_NOTES}


def request_erasure(
    instance: Instance, session: VictimSession, *, now: datetime | None = None
) -> datetime:
    """Ask for erasure; returns when it will happen (after the cooling-off period)."""
    now = now or datetime.now(UTC)
    decision = None
    with (
        refusals_on_record(instance, session, Action.ERASE, "erasure_requested"),
        instance.engine.begin() as conn,
    ):
        case = her_case(conn, session)
        require_not_erased(case)
        if case.erasure_requested_at is None:
            decision, _ = decide_and_record(
                instance, victim_actor(session.subject_id), session.case_id,
                action=Action.ERASE, purpose=Purpose.SUBJECT_ACCESS,
                categories=ERASABLE_CATEGORIES, detail={"event": "erasure_requested"}, conn=conn,
            )
            if decision.allowed:
                store.mark_erasure_requested(conn, session.case_id, now)
    if decision is not None:  # a denial is committed to the ledger, then raised
        raise_if_denied(decision)
    overview = case_overview(instance, session)
    if overview.erasure_due_at is None:
        # Cancelled between the commit and this read (another tab, say): say so, not an
        # AssertionError (gone under ``python -O``) or a made-up date.
        raise InvalidInput("the erasure request is no longer pending")
    return overview.erasure_due_at


def cancel_erasure(
    instance: Instance, session: VictimSession, *, now: datetime | None = None
) -> None:
    """Change her mind during the cooling-off period; the case returns to work."""
    now = now or datetime.now(UTC)
    with (
        refusals_on_record(instance, session, Action.UPDATE, "erasure_cancelled"),
        instance.engine.begin() as conn,
    ):
        case = her_case(conn, session)
        require_not_erased(case)
        if case.erasure_requested_at is None:
            return
        decision, _ = decide_and_record(
            instance, victim_actor(session.subject_id), session.case_id,
            action=Action.UPDATE, purpose=Purpose.SUBJECT_ACCESS,
            categories=[DataCategory.CRIME_DETAILS], detail={"event": "erasure_cancelled"},
            conn=conn,
        )
        if decision.allowed:
            store.cancel_erasure_request(conn, session.case_id, now)
    raise_if_denied(decision)


def complete_due_erasures(instance: Instance, *, now: datetime | None = None) -> int:
    """Crypto-shred every case whose cooling-off period has passed; returns how many."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(hours=instance.settings.erasure_cooling_off_hours)
    with instance.engine.connect() as conn:
        due = store.due_erasures(conn, cutoff)
    for case in due:
        _erase(instance, case.case_id, case.subject_id, now)
    if due:
        # The shredded keys' old bytes may linger in SQLite's WAL or PostgreSQL's dead rows
        # until this runs: only then is the data key gone from the disk too.
        purge_remnants(instance.engine)
    return len(due)


def _erase(instance: Instance, case_id: str, subject_id: str, now: datetime) -> None:
    with instance.engine.begin() as conn:
        _, write = decide_write(
            # her request, carried out by a scheduled job (automated: POLICY.md v2)
            instance, conn, replace(victim_actor(subject_id), system=True), case_id,
            action=Action.ERASE, purpose=Purpose.SUBJECT_ACCESS, categories=ERASABLE_CATEGORIES,
            detail={"event": "erased"},
        )
        if write is None:
            return  # stays pending; the denial is in the ledger for an operator to see
        shred_case(write, conn, subject_id, now)


def shred_case(write: Write, conn: Connection, subject_id: str | None, now: datetime) -> None:
    """Crypto-shred one case inside ``conn``'s transaction, under the :class:`Write` of an
    allowed erase decision recorded in that same transaction (her erasure, retention,
    quarantine): the vault refuses a Write of any other decision."""
    case_id = write.case_id
    write.shred()
    store.destroy_case_rows(conn, case_id, now)
    if subject_id is not None:
        # The codename now opens nothing: the door goes with the data.
        store.close_door(conn, subject_id)
