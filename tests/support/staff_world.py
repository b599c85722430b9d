"""Test helpers: a real instance (guard, vault, ledger) with staff in several organisations."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import update
from tests.support.cheap_costs import cheap

from safereport.config import Secret, load_settings
from safereport.domain.fields import CaseField
from safereport.domain.vocabulary import (
    ActorRole,
    CrimeType,
    OrgKind,
    Purpose,
    Recipient,
    SubjectRole,
)
from safereport.services import auth
from safereport.services.auth import StaffUser
from safereport.services.casework import FiledReport, file_third_party_report
from safereport.services.instance import Instance
from safereport.services.setup import init_instance
from safereport.services.users import add_org
from safereport.store.core import users
from safereport.store.db import make_engine
from safereport.store.tables import metadata

PASSWORD = "correct horse battery staple"

#: username -> (organisation key, role)
STAFF: dict[str, tuple[str, ActorRole]] = {
    "cw": ("support", ActorRole.CASEWORKER),
    "sup1": ("support", ActorRole.SUPERVISOR),
    "sup2": ("support", ActorRole.SUPERVISOR),
    "officer": ("police", ActorRole.POLICE_OFFICER),
    "officer2": ("police", ActorRole.POLICE_OFFICER),
    "auditor": ("oversight", ActorRole.AUDITOR),
    "admin": ("support", ActorRole.ADMIN),
    "analyst": ("support", ActorRole.ANALYST),
    "other_cw": ("other_support", ActorRole.CASEWORKER),
    # Recipients that hold no cases (issue 17): they read released packages in their inbox.
    "marac": ("marac", ActorRole.MARAC_MEMBER),
    "health": ("health", ActorRole.MARAC_MEMBER),
    "ie_officer": ("ie", ActorRole.IMMIGRATION_OFFICER),
}


@dataclass
class StaffWorld:
    instance: Instance
    orgs: dict[str, str]
    users: dict[str, StaffUser] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)

    def file(self, username: str = "cw", *, phone: str = "07700 900123",
             consents: tuple[tuple[Recipient, Purpose], ...] = (),
             sensitive: bool = True) -> FiledReport:
        values = {CaseField.NARRATIVE: "He took my passport and hit me.",
                  CaseField.NAME: "Maria Exemplo", CaseField.PHONE: phone,
                  CaseField.ADDRESS: "1 Example Street, Testtown"}
        if sensitive:
            values |= {CaseField.NATIONALITY: "Examplestan",
                       CaseField.IMMIGRATION_STATUS: "spousal visa expired"}
        return file_third_party_report(
            self.instance, self.users[username], crime_type=CrimeType.DOMESTIC_ABUSE,
            subject_role=SubjectRole.VICTIM, values=values, consents_given=consents)

    def confirm_consents(self, filed: FiledReport, username: str = "sup1") -> None:
        """A second staff member confirms every consent recorded on the case (POLICY.md v2)."""
        from safereport.services.provenance import case_facts, confirm_consent

        user = self.users[username]
        for fact in case_facts(self.instance, user, filed.case_id).waiting:
            confirm_consent(self.instance, user, fact.id)


def make_staff_world(tmp_path: Path, db_url: str, *, regime: str = "firewall") -> StaffWorld:
    postgres = db_url.startswith("postgresql")
    path = init_instance(tmp_path / "instance", regime=regime,
                         database_url=db_url if postgres else None)
    settings = load_settings(path)
    if postgres:
        settings = replace(settings, database_url=Secret(db_url))
    settings = cheap(settings)
    instance = Instance(settings=settings, engine=make_engine(settings.effective_database_url()))
    if postgres:
        # init_instance does not yet migrate an external database (reported to the
        # coordinator); make the schema here so that these tests exercise PostgreSQL.
        metadata.create_all(instance.engine)
    world = StaffWorld(instance, {})
    sealer = auth.totp_sealer(settings)
    with instance.engine.begin() as conn:
        world.orgs = {
            "support": add_org(conn, "Safe Haven Support", OrgKind.SUPPORT_SERVICE),
            "other_support": add_org(conn, "Other Support", OrgKind.SUPPORT_SERVICE),
            "police": add_org(conn, "Example Police", OrgKind.POLICE),
            "oversight": add_org(conn, "Oversight Board", OrgKind.LOCAL_AUTHORITY),
            "ie": add_org(conn, "Immigration Enforcement", OrgKind.IMMIGRATION_ENFORCEMENT),
            "marac": add_org(conn, "Testtown MARAC", OrgKind.MARAC),
            "health": add_org(conn, "Testtown Health Visitors", OrgKind.HEALTH),
        }
        for name, (org, role) in STAFF.items():
            user_id = auth.create_user(conn, org_id=world.orgs[org], username=name,
                                       display_name=name.title(), role=role, password=PASSWORD,
                                       hasher=settings.password_hasher)
            secret = pyotp.random_base32()
            conn.execute(update(users).where(users.c.id == user_id)
                         .values(totp_secret=sealer.seal(secret, user_id)))
            world.secrets[name] = secret
            staff = auth.get_user(conn, user_id)
            assert staff is not None
            world.users[name] = staff
    return world


# Fixtures: conftest.py files import these under the names their tests use.

@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[StaffWorld]:
    made = make_staff_world(tmp_path, db_url)
    try:
        yield made
    finally:
        made.instance.close()


@pytest.fixture
def sqlite_world(tmp_path: Path) -> Iterator[StaffWorld]:
    made = make_staff_world(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}")
    try:
        yield made
    finally:
        made.instance.close()


@pytest.fixture
def npcc_world(tmp_path: Path) -> Iterator[StaffWorld]:
    made = make_staff_world(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}", regime="npcc-2020")
    try:
        yield made
    finally:
        made.instance.close()
