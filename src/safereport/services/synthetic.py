"""Filling an instance with synthetic data: organisations, staff of every role, cases.

Cases stream from :func:`safereport.domain.synthetic.synthetic_cases` in batches, each batch one
transaction, so memory stays flat however many cases are asked for. Every case's content goes
through the vault (ciphertext only), exactly as a real report's does.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from safereport.domain.case import new_id, new_reference
from safereport.domain.fields import CaseField
from safereport.domain.passwords import PasswordHasher
from safereport.domain.synthetic import SyntheticCase, synthetic_cases
from safereport.domain.vocabulary import Action, ActorRole, OrgKind, Purpose, Recipient
from safereport.errors import AccessDenied
from safereport.services.access import Actor, access_case, seal_new_cases
from safereport.services.instance import Instance
from safereport.services.users import add_org
from safereport.store.accounts import identity_by_username
from safereport.store.cases import NewCase, NewConsent, case_ids_of_org, insert_cases
from safereport.store.provenance import FactSource
from safereport.vault.blind import BlindKind

__all__ = ["DEMO_PASSWORD", "DemoOrgs", "populate_cases", "populate_demo", "populate_orgs"]

#: The one password of every synthetic demo account (the demo is throwaway by design).
DEMO_PASSWORD = "demo-only-not-a-secret"

_SUPPORT = [
    "Harbour Women's Aid (synthetic)",
    "Lantern Migrant Support (synthetic)",
    "Northshire Advocacy Service (synthetic)",
]
_POLICE = ["Northshire Police (synthetic)", "Easton Vale Constabulary (synthetic)"]
_OTHERS = [
    (OrgKind.HEALTH, "Westmere Health Trust (synthetic)"),
    (OrgKind.HOUSING, "Southby Housing Options (synthetic)"),
    (OrgKind.LOCAL_AUTHORITY, "Midtown Council (synthetic)"),
    (OrgKind.MARAC, "Northshire MARAC (synthetic)"),
    (OrgKind.COURT, "Northshire Family Court (synthetic)"),
    (OrgKind.IMMIGRATION_ENFORCEMENT, "Immigration Enforcement (synthetic)"),
]
#: (org list, role, how many) of staff to create; usernames are role + number.
_STAFF: list[tuple[str, ActorRole, int]] = [
    ("support", ActorRole.CASEWORKER, 2),
    ("support", ActorRole.SUPERVISOR, 2),
    ("police", ActorRole.POLICE_OFFICER, 2),
    ("police", ActorRole.POLICE_SYSTEM, 1),
    ("support", ActorRole.ADMIN, 1),
    ("support", ActorRole.AUDITOR, 1),
    ("support", ActorRole.ANALYST, 1),
    ("marac", ActorRole.MARAC_MEMBER, 1),
    ("ie", ActorRole.IMMIGRATION_OFFICER, 1),
]
_BATCH = 1000


@dataclass(frozen=True)
class DemoOrgs:
    support: list[str]
    police: list[str]
    by_kind: dict[OrgKind, str]

    @property
    def holders(self) -> list[str]:
        return self.support + self.police


def populate_orgs(conn: Connection) -> DemoOrgs:
    support = [add_org(conn, name, OrgKind.SUPPORT_SERVICE) for name in _SUPPORT]
    police = [add_org(conn, name, OrgKind.POLICE) for name in _POLICE]
    by_kind = {kind: add_org(conn, name, kind) for kind, name in _OTHERS}
    return DemoOrgs(support, police, by_kind)


def populate_staff(conn: Connection, orgs: DemoOrgs,
                   hasher: PasswordHasher | None = None) -> list[str]:
    """Staff of every role; returns one line per account for the demo's banner."""
    from safereport.services.auth import ARGON2ID, create_user, hash_password

    shared_hash = hash_password(DEMO_PASSWORD, hasher or ARGON2ID)

    places = {
        "support": orgs.support[:1],
        "police": orgs.police[:1],
        "marac": [orgs.by_kind[OrgKind.MARAC]],
        "ie": [orgs.by_kind[OrgKind.IMMIGRATION_ENFORCEMENT]],
    }
    lines = []
    for where, role, count in _STAFF:
        for number, org_id in itertools.product(range(1, count + 1), places[where]):
            username = f"{role.value.replace('_', '-')}{number}"
            create_user(
                conn,
                org_id=org_id,
                username=username,
                display_name=f"{role.value.replace('_', ' ').title()} {number} (synthetic)",
                role=role,
                password=DEMO_PASSWORD,
                password_hash=shared_hash,
            )
            lines.append(f"{username:<22} {role.value}")
    return lines


def _batches(items: Iterable[SyntheticCase], size: int) -> Iterator[list[SyntheticCase]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _write_batch(
    instance: Instance, conn: Connection, batch: list[SyntheticCase], holders: list[str]
) -> None:
    now = datetime.now(UTC)
    # as if reviewed with her today (issue 17: consents have a review date)
    review_on = now + timedelta(days=instance.settings.consent_review_days)
    new: list[NewCase] = []
    sealed: list[tuple[str, str, SyntheticCase, str]] = []
    for case in batch:
        case_id, subject_id, reference = new_id(), new_id(), new_reference()
        new.append(NewCase(
            id=case_id, org_id=holders[case.holder_index], subject_role=case.subject_role.value,
            crime_type=case.crime_type.value, status=case.status.value,
            intake=case.intake.value, language=case.language, created_at=case.created_at,
            updated_at=now, subject_id=subject_id, reference=reference,
            consents=[NewConsent(r.value, p.value, FactSource.SUBJECT.value,
                                 review_on=review_on) for r, p in case.consents]))
        sealed.append((case_id, subject_id, case, reference))
    insert_cases(conn, new)
    # Each synthetic case came in as an import would: its first write decided and on record.
    seal_new_cases(
        instance,
        conn,
        [
            (Actor(id=f"subject:{subject_id}", role=ActorRole.VICTIM, system=True), case_id,
             case.fields,
             {BlindKind.REFERENCE: reference})
            for case_id, subject_id, case, reference in sealed
        ],
        purpose=Purpose.SUBJECT_ACCESS,
        detail={"event": "report_submitted", "via": "synthetic"},
    )


def populate_cases(
    instance: Instance,
    *,
    seed: int,
    count: int,
    holders: list[str],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write ``count`` synthetic cases in batches; returns how many were written."""
    written = 0
    for batch in _batches(synthetic_cases(seed, count, len(holders)), _BATCH):
        with instance.engine.begin() as conn:
            _write_batch(instance, conn, batch, holders)
        written += len(batch)
        if progress is not None:
            progress(len(batch))
    return written


def populate_demo(instance: Instance, *, seed: int, cases: int) -> list[str]:
    """Organisations, staff and cases for the demo; returns the sign-in banner lines."""
    from rich.progress import Progress

    with instance.engine.begin() as conn:
        orgs = populate_orgs(conn)
        lines = populate_staff(conn, orgs, instance.settings.password_hasher)
    with Progress(transient=True) as bar:
        task = bar.add_task("synthetic cases", total=cases)
        populate_cases(
            instance,
            seed=seed,
            count=cases,
            holders=orgs.holders,
            progress=lambda n: bar.advance(task, n),
        )
    populate_activity(instance, orgs)
    publish_demo_transparency(instance)
    return [f"password: {DEMO_PASSWORD}", *lines]


def _actor(conn: Connection, username: str) -> Actor:
    row = identity_by_username(conn, username)
    return Actor(
        id=row.id, role=ActorRole(row.role), org_id=row.org_id, org_kind=OrgKind(row.org_kind)
    )


def populate_activity(instance: Instance, orgs: DemoOrgs) -> int:
    """A few real accesses through the guard, so the ledger and the pages have something to
    show: caseworkers reading their cases, and requests the firewall refuses."""
    with instance.engine.connect() as conn:
        caseworker = _actor(conn, "caseworker1")
        officer = _actor(conn, "police-officer1")
        analyst = _actor(conn, "analyst1")
        support_cases = case_ids_of_org(conn, orgs.support[0], 5)
        police_cases = case_ids_of_org(conn, orgs.police[0], 2)
    attempts = 0
    for case_id in support_cases:
        access_case(
            instance,
            caseworker,
            case_id,
            purpose=Purpose.SUPPORT,
            fields=[CaseField.NARRATIVE, CaseField.SAFE_CONTACT],
        )
        attempts += 1
    # A small demo may have drawn no case for one of these organisations: each refused
    # attempt is made only where there is a case to attempt it on.
    disclose: dict[str, object] = {
        "action": Action.DISCLOSE,
        "purpose": Purpose.IMMIGRATION_ENFORCEMENT,
        "recipient": Recipient.IMMIGRATION_ENFORCEMENT,
        "context": {"status_evidence": "suspected"},
    }
    statistics: dict[str, object] = {"purpose": Purpose.STATISTICS}
    refused: list[tuple[Actor, str, dict[str, object]]] = [
        *((officer, case_id, disclose) for case_id in police_cases[:1]),
        *((analyst, case_id, statistics) for case_id in support_cases[:1]),
    ]
    for actor, case_id, how in refused:
        with contextlib.suppress(AccessDenied):
            access_case(instance, actor, case_id, fields=[CaseField.NAME], **how)  # type: ignore[arg-type]
        attempts += 1
    return attempts


def publish_demo_transparency(instance: Instance) -> None:
    """A signed checkpoint and last month's statistics release (a month is released only once
    it is over), so the public pages have something to show from the start."""
    from safereport.stats.release import previous_month, publish_release

    instance.ledger.checkpoint(new=True)
    publish_release(instance.engine, instance.ledger.signer, previous_month(datetime.now(UTC)))
