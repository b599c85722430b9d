"""The staff case page's reads around the case, as statements built once (issue 13).

Each statement is built at import and run with the page's values bound, so a page view does
not build a dozen SQL expressions anew (with SQLAlchemy, building one costs several times
what SQLite takes to run it). They read what these service functions read, in the same order:
``practice.marac_referrals``, ``practice.transfers_for_case``, ``practice.transfer_organisations``
(through ``disclosure.recipient_organisations``), ``casework.colleagues``,
``disclosure.disclosures_for_case``, ``provenance.case_facts`` and ``evidence.list_for_staff``;
tests/services/test_case_page_reads.py holds the page to the same answers as those functions.
Whether the case is held is checked once, by the page, in the same snapshot.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import BindParameter, Connection, and_, bindparam, select

from safereport.domain.vocabulary import OrgKind, Recipient
from safereport.store.core import consents, organisations, users
from safereport.store.evidence import evidence_files
from safereport.store.provenance import (
    ConsentRow,
    VictimRequestRow,
    _consent,
    _request,
    victim_requests,
)
from safereport.store.staff import case_transfers, disclosure_requests

__all__ = [
    "colleagues",
    "consent_rows",
    "disclosure_rows",
    "display_names",
    "evidence_rows",
    "marac_referral_rows",
    "support_services",
    "transfer_rows",
    "victim_request_rows",
]

_CASE: BindParameter[str] = bindparam("case_id")
_ORG: BindParameter[str] = bindparam("org_id")

_MARAC_REFERRALS = (
    select(disclosure_requests.c.id, disclosure_requests.c.status,
           disclosure_requests.c.created_at)
    .where(and_(disclosure_requests.c.case_id == _CASE,
                disclosure_requests.c.holder_org_id == _ORG,
                disclosure_requests.c.recipient == Recipient.MARAC.value))
    .order_by(disclosure_requests.c.created_at.desc())
)

_TRANSFERS = (
    select(case_transfers.c.request_id, organisations.c.name, disclosure_requests.c.status,
           case_transfers.c.created_at, case_transfers.c.accepted_at)
    .join(organisations, organisations.c.id == case_transfers.c.to_org_id)
    .join(disclosure_requests, disclosure_requests.c.id == case_transfers.c.request_id)
    .where(and_(case_transfers.c.case_id == _CASE,
                disclosure_requests.c.holder_org_id == _ORG))
    .order_by(case_transfers.c.created_at.desc())
)

_SUPPORT_SERVICES = (
    select(organisations.c.id, organisations.c.name)
    .where(and_(organisations.c.id != _ORG,
                organisations.c.kind == OrgKind.SUPPORT_SERVICE.value))
    .order_by(organisations.c.kind, organisations.c.name)
)

#: Roles that can hold a case of their organisation (as ``casework.colleagues``).
_CASE_HOLDING_ROLES = ("caseworker", "supervisor", "police_officer")

_COLLEAGUES = (
    select(users.c.id, users.c.display_name)
    .where(and_(users.c.org_id == _ORG, users.c.role.in_(_CASE_HOLDING_ROLES)))
    .order_by(users.c.display_name)
)

_DISCLOSURES = (
    select(disclosure_requests)
    .where(and_(disclosure_requests.c.case_id == _CASE,
                disclosure_requests.c.holder_org_id == _ORG))
    .order_by(disclosure_requests.c.created_at.desc())
)

_NAMES = select(users.c.id, users.c.display_name).where(
    users.c.id.in_(bindparam("ids", expanding=True)))

_CONSENTS = (
    select(consents).where(consents.c.case_id == _CASE).order_by(consents.c.given_at.desc())
)

_VICTIM_REQUESTS = (
    select(victim_requests)
    .where(victim_requests.c.case_id == _CASE)
    .order_by(victim_requests.c.created_at.desc())
)

_EVIDENCE = (
    select(evidence_files.c.id, evidence_files.c.media_type, evidence_files.c.size,
           evidence_files.c.cleaned, evidence_files.c.added_kind,
           evidence_files.c.created_at, evidence_files.c.voice)
    .where(evidence_files.c.case_id == _CASE)
    .order_by(evidence_files.c.created_at, evidence_files.c.id)
)


def marac_referral_rows(conn: Connection, case_id: str, org_id: str | None) -> list[Any]:
    """The organisation's MARAC referrals of the case (id, status, created_at), newest first."""
    return list(conn.execute(_MARAC_REFERRALS, {"case_id": case_id, "org_id": org_id}).all())


def transfer_rows(conn: Connection, case_id: str, org_id: str | None) -> list[Any]:
    """The organisation's transfers of the case with the receiving service's name."""
    return list(conn.execute(_TRANSFERS, {"case_id": case_id, "org_id": org_id}).all())


def support_services(conn: Connection, org_id: str | None) -> list[tuple[str, str]]:
    """(id, name) of every support service other than ``org_id``."""
    return [(r.id, r.name) for r in conn.execute(_SUPPORT_SERVICES, {"org_id": org_id})]


def colleagues(conn: Connection, org_id: str | None) -> list[tuple[str, str]]:
    """(id, display name) of the people of ``org_id`` who can hold a case."""
    return [(r.id, r.display_name) for r in conn.execute(_COLLEAGUES, {"org_id": org_id})]


def disclosure_rows(conn: Connection, case_id: str, org_id: str | None) -> list[Any]:
    """The organisation's disclosure requests about the case, newest first."""
    return list(conn.execute(_DISCLOSURES, {"case_id": case_id, "org_id": org_id}).all())


def display_names(conn: Connection, ids: Iterable[str | None]) -> dict[str, str]:
    """{user id: display name} for the given ids (those with no account are left out)."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    return {r.id: r.display_name for r in conn.execute(_NAMES, {"ids": wanted})}


def consent_rows(conn: Connection, case_id: str) -> list[ConsentRow]:
    """Every consent on the case, newest first (as ``provenance.consent_rows``)."""
    return [_consent(r) for r in conn.execute(_CONSENTS, {"case_id": case_id})]


def victim_request_rows(conn: Connection, case_id: str) -> list[VictimRequestRow]:
    """Every request of hers on the case, newest first (as ``provenance.victim_request_rows``)."""
    return [_request(r) for r in conn.execute(_VICTIM_REQUESTS, {"case_id": case_id})]


def evidence_rows(conn: Connection, case_id: str) -> list[Any]:
    """The case's attachments (no content), oldest first."""
    return list(conn.execute(_EVIDENCE, {"case_id": case_id}).all())
