"""Staff accounts: who a staff member is (:class:`StaffUser`), which pages her role is offered,
her password's hash, and adding an account.

Every function takes a SQLAlchemy connection and never commits: the caller (a web route, a
CLI command or another service) owns the transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import Connection

from safereport.domain.passwords import Argon2idHasher, PasswordHasher
from safereport.domain.vocabulary import ActorRole, OrgKind
from safereport.errors import AccessDenied, InvalidInput
from safereport.store.accounts import UserRecord, add_user_row, user_by_id, username_taken
from safereport.store.organisations import org_kind

__all__ = [
    "ARGON2ID",
    "INTEGRATION_ACCOUNT_PREFIX",
    "MIN_PASSWORD_CHARS",
    "ONE_TIME_PASSWORD_LIFETIME",
    "StaffArea",
    "StaffUser",
    "areas",
    "create_user",
    "ensure_area",
    "get_user",
    "hash_password",
    "role_fits_org",
    "staff_user",
    "verify_password",
]

MIN_PASSWORD_CHARS = 12
#: A one-time password set by an administrator (services/users.py) signs in only this long,
#: and only to choose a new password.
ONE_TIME_PASSWORD_LIFETIME = timedelta(days=3)

#: The hasher used when a caller names none: Argon2id at production cost. Callers that have
#: an instance pass ``instance.settings.password_hasher`` (the seam tests use, STYLE.md 15).
ARGON2ID: PasswordHasher = Argon2idHasher()

#: The username prefix of an integration's service account (it never signs in).
INTEGRATION_ACCOUNT_PREFIX = "integration:"

#: Which roles may be held by staff of which kind of organisation (POLICY.md section 2:
#: caseworkers and supervisors belong to support services, police roles to the police).
#: A police supervisor exists only to approve disclosures; the guard gives it no record.
_ROLE_ORG_KINDS: dict[ActorRole, frozenset[OrgKind] | None] = {
    ActorRole.ADMIN: None,
    ActorRole.ANALYST: None,
    ActorRole.AUDITOR: None,
    ActorRole.CASEWORKER: frozenset({OrgKind.SUPPORT_SERVICE}),
    ActorRole.IMMIGRATION_OFFICER: frozenset({OrgKind.IMMIGRATION_ENFORCEMENT}),
    ActorRole.MARAC_MEMBER: None,
    ActorRole.POLICE_OFFICER: frozenset({OrgKind.POLICE}),
    ActorRole.POLICE_SYSTEM: frozenset({OrgKind.POLICE}),
    ActorRole.SUPERVISOR: frozenset({OrgKind.SUPPORT_SERVICE, OrgKind.POLICE}),
}


@dataclass(frozen=True, slots=True)
class StaffUser:
    id: str
    org_id: str
    org_kind: OrgKind
    org_name: str
    username: str
    display_name: str
    role: ActorRole
    totp_enrolled: bool
    #: An integration's service account calling the API (services/integrations.py): no
    #: person decides, so its decisions are ``automated`` (POLICY.md v2).
    system: bool = False


# ---- the staff side's areas -------------------------------------------------------------------


class StaffArea(StrEnum):
    """Parts of the staff side. Case data inside each is still decided case by case by the
    guard; an area only says which pages a role is offered (an auditor gets no case list)."""

    ACCOUNTS = "accounts"  # staff administration (services/users.py): no case data
    APPROVALS = "approvals"
    AUDIT = "audit"
    CAMPAIGN = "campaign"  # the police-forces tracker's FOI records (no case data)
    CASEWORK = "casework"
    INBOX = "inbox"


_AREAS: dict[ActorRole, frozenset[StaffArea]] = {
    ActorRole.ADMIN: frozenset({StaffArea.ACCOUNTS, StaffArea.CAMPAIGN}),
    ActorRole.ANALYST: frozenset({StaffArea.CAMPAIGN}),
    ActorRole.AUDITOR: frozenset({StaffArea.AUDIT}),
    ActorRole.CASEWORKER: frozenset({StaffArea.CASEWORK, StaffArea.INBOX}),
    ActorRole.IMMIGRATION_OFFICER: frozenset({StaffArea.INBOX}),
    ActorRole.MARAC_MEMBER: frozenset({StaffArea.INBOX}),
    ActorRole.POLICE_OFFICER: frozenset({StaffArea.CASEWORK, StaffArea.INBOX}),
    ActorRole.POLICE_SYSTEM: frozenset(),
    ActorRole.SUPERVISOR: frozenset(
        {StaffArea.APPROVALS, StaffArea.CASEWORK, StaffArea.INBOX}
    ),
}


def areas(user: StaffUser) -> frozenset[StaffArea]:
    return _AREAS.get(user.role, frozenset())


def ensure_area(user: StaffUser, area: StaffArea) -> None:
    """AccessDenied unless the user's role is offered ``area`` (the one place this is said)."""
    if area not in areas(user):
        raise AccessDenied(
            f"the {area.value} pages are not part of a {user.role.value}'s work",
            rules=("staff-areas",),
            reasons=(f"a {user.role.value} is not offered the {area.value} pages",),
        )


# ---- passwords --------------------------------------------------------------------------------


def hash_password(password: str, hasher: PasswordHasher = ARGON2ID) -> str:
    """A hash of ``password`` (Argon2id PHC string); InvalidInput if it is too short."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    return hasher.hash(password)


def verify_password(password_hash: str, password: str,
                    hasher: PasswordHasher = ARGON2ID) -> bool:
    """True if ``password`` matches; False for a mismatch or an unreadable hash."""
    return hasher.verify(password_hash, password)


# ---- accounts ---------------------------------------------------------------------------------


def create_user(
    conn: Connection,
    *,
    org_id: str,
    username: str,
    display_name: str,
    role: ActorRole | str,
    password: str,
    now: datetime | None = None,
    password_hash: str | None = None,
    hasher: PasswordHasher = ARGON2ID,
) -> str:
    """Add a staff account to organisation ``org_id``; returns the new user's id.

    ``password_hash``, when given, must be ``hash_password(password)`` made earlier (the
    synthetic demo hashes its one shared password once instead of once per account); it is
    not re-verified, since that would cost as much as hashing.
    """
    actor_role = role_fits_org(conn, org_id, role)
    name = username.strip()
    if not name or len(name) > 100 or any(ch.isspace() for ch in name):
        raise InvalidInput("a username is 1 to 100 characters with no spaces")
    if username_taken(conn, name):
        raise InvalidInput(f"the username {name!r} is taken")
    user_id = uuid.uuid4().hex
    add_user_row(
        conn,
        user_id=user_id,
        org_id=org_id,
        username=name,
        display_name=display_name.strip() or name,
        role=actor_role.value,
        password_hash=password_hash or hash_password(password, hasher),
        created_at=now if now is not None else datetime.now(UTC),
    )
    return user_id


def role_fits_org(conn: Connection, org_id: str, role: ActorRole | str) -> ActorRole:
    """The staff role ``role``, if staff of organisation ``org_id`` may hold it (else
    InvalidInput): caseworkers belong to support services, police roles to the police."""
    actor_role = _staff_role(role)
    kind = org_kind(conn, org_id)
    if kind is None:
        raise InvalidInput(f"no organisation with id {org_id!r}")
    kinds = _ROLE_ORG_KINDS[actor_role]
    if kinds is not None and OrgKind(kind) not in kinds:
        raise InvalidInput(f"a {actor_role.value} cannot belong to a {kind} organisation")
    return actor_role


def _staff_role(role: ActorRole | str) -> ActorRole:
    try:
        actor_role = ActorRole(role)
    except ValueError as exc:
        raise InvalidInput(f"unknown role {role!r}") from exc
    if actor_role is ActorRole.VICTIM:
        raise InvalidInput("victims do not have staff accounts")
    return actor_role


def staff_user(record: UserRecord) -> StaffUser:
    """The staff member an account's row describes."""
    return StaffUser(
        id=record.id,
        org_id=record.org_id,
        org_kind=OrgKind(record.org_kind),
        org_name=record.org_name,
        username=record.username,
        display_name=record.display_name,
        role=ActorRole(record.role),
        totp_enrolled=record.totp_secret is not None,
    )


def get_user(conn: Connection, user_id: str) -> StaffUser | None:
    record = user_by_id(conn, user_id)
    return staff_user(record) if record is not None else None
