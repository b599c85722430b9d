"""Everything the staff case page shows, read through one database connection (issue 13).

The page shows her case as the guard allows it (:func:`casework.case_page`: two decisions in
one group commit, then the vault), and around it the facts staff work with: MARAC referrals,
transfers, disclosures, colleagues, the support services a case can be handed to, consents and
requests, attachments, the risk checklist. Each of those is read by its own service function
(the ``..._in`` form that takes a connection), which stays the one place its query lives, and
its statement is built once, in ``store``; here they are lent one read connection instead of
each opening its own. The page then costs one ``BEGIN`` and one rollback, not fifteen, and on
SQLite everything on it comes from one snapshot.

Nothing about the decisions changes: they are made, appended and committed as before, and the
ledger checks each entry from its own connection before the vault opens anything (I1). A
refusal on the way (a case not held, a note that cannot be opened) is committed through the
ledger as before. The lent connection only reads: a service that tried to write through it
would fail, loudly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Engine

from safereport.domain.risk import Checklist
from safereport.domain.vocabulary import SENSITIVE_CATEGORIES, Purpose, Recipient
from safereport.services import casework, disclosure, evidence, practice, provenance
from safereport.services.auth import StaffUser
from safereport.services.instance import Instance

__all__ = ["CasePageView", "case_page_view"]


@dataclass(frozen=True)
class CasePageView:
    """The case page's content: her case as decided, and the facts around it."""

    page: casework.CasePage
    marac_referrals: list[tuple[str, str]]
    transfers: list[practice.TransferView]
    transfer_orgs: list[tuple[str, str]]
    colleagues: list[tuple[str, str]]
    disclosures: list[disclosure.DisclosureView]
    checklist: Checklist
    facts: provenance.CaseFacts
    #: Her recorded voice notes among the case's attachments.
    voices: list[evidence.EvidenceItem]
    #: Why some of what is around her case is not shown ("" when all of it is).
    withheld_around: str = ""


def case_page_view(
    instance: Instance, user: StaffUser, case_id: str, purpose: Purpose | None = None
) -> CasePageView:
    """The case page for ``user``: the case first (a case not held is refused, on record,
    before anything else is read), then the facts around it from the same snapshot."""
    with _one_connection(instance) as (reading, conn):
        page = casework.case_page(reading, user, case_id, purpose)
        checklist = casework.load_checklist(reading)
        if not page.values and page.notes_withheld:
            # The guard refused every part of her case (P5: an auditor, an analyst, an admin;
            # or a purpose nobody may read for): nothing about her around it either. Her
            # consents and requests, what was disclosed and tried, her referrals and voice
            # notes are hers as much as the fields are (the walk-through of 2026-12-03: an
            # auditor read that she had asked for help with her immigration status).
            return CasePageView(
                page=page, marac_referrals=[], transfers=[], transfer_orgs=[], colleagues=[],
                disclosures=[], checklist=checklist, facts=provenance.CaseFacts((), ()),
                voices=[], withheld_around=_NOTHING_AROUND,
            )
        facts = provenance.case_facts_in(conn, case_id)
        disclosures = disclosure.disclosures_in(conn, user, case_id)
        withheld_around = ""
        if not page.sensitive_allowed:
            # F-sealed: who may not read her immigration status may not read it from her
            # requests either (one to Immigration Enforcement, for help to regularise, ...).
            facts = provenance.CaseFacts(
                tuple(f for f in facts.consents if not _about_immigration(f)),
                tuple(f for f in facts.requests if not _about_immigration(f)),
            )
            disclosures = [d for d in disclosures if not _about_immigration(d)]
            withheld_around = _NO_IMMIGRATION
        return CasePageView(
            page=page,
            marac_referrals=practice.marac_referrals_in(conn, user, case_id),
            transfers=practice.transfers_in(conn, user, case_id),
            transfer_orgs=practice.transfer_organisations_in(conn, user),
            colleagues=casework.colleagues_in(conn, user),
            disclosures=disclosures,
            checklist=checklist,
            facts=facts,
            voices=[item for item in evidence.items_in(conn, case_id) if item.voice],
            withheld_around=withheld_around,
        )


_NOTHING_AROUND = ("Not shown: the policy lets you read nothing of this case, so nothing about "
                   "it either (her consents and requests, disclosures, referrals, recordings).")
_NO_IMMIGRATION = ("Any consent, request or disclosure that tells of her immigration status is "
                   "not shown: the policy does not let you read her status (F-sealed).")


#: Purposes that are about her immigration status whatever is sent.
_IMMIGRATION_PURPOSES = frozenset(
    {Purpose.IMMIGRATION_ENFORCEMENT, Purpose.IMMIGRATION_STATUS_CHECK,
     Purpose.REGULARISATION_SUPPORT}
)


def _about_immigration(fact: provenance.FactView | disclosure.DisclosureView) -> bool:
    """Whether a consent, request or disclosure tells of her immigration status: it goes to
    Immigration Enforcement, is for an immigration purpose, or carries a sealed category."""
    return (
        fact.recipient is Recipient.IMMIGRATION_ENFORCEMENT
        or fact.purpose in _IMMIGRATION_PURPOSES
        or not SENSITIVE_CATEGORIES.isdisjoint(fact.categories)
    )


@contextmanager
def _one_connection(instance: Instance) -> Iterator[tuple[Instance, Connection]]:
    """``instance`` as the page's reads see it: its engine lends one read connection.

    The guard, vault and ledger are the instance's own (the ledger keeps its own engine, so
    its commits and its check of a committed entry never go through the lent connection).
    """
    with instance.engine.connect() as conn:
        yield cast(Instance, _Reading(instance, _LentConnection(instance.engine, conn))), conn


class _LentConnection:
    """An engine whose ``connect()`` hands out one open connection, and that cannot write."""

    def __init__(self, engine: Engine, conn: Connection) -> None:
        self._engine = engine
        self._conn = conn

    def connect(self) -> nullcontext[Connection]:
        return nullcontext(self._conn)

    def begin(self) -> Any:
        raise RuntimeError("the case page only reads: a write goes through the instance")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)  # the dialect, the URL


class _Reading:
    """An instance whose ``engine`` is a :class:`_LentConnection`; the rest is the instance's."""

    def __init__(self, instance: Instance, engine: _LentConnection) -> None:
        self._instance = instance
        self.engine = engine

    def __getattr__(self, name: str) -> Any:
        return getattr(self._instance, name)
