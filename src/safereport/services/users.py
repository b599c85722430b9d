"""Organisations and staff accounts: add, list, disable, enable, reset a password, reset a
second factor (two administrators), change a role (issue 20, issue 14 item 1).

Who acts is an :class:`Admin`: a signed-in administrator (the admin pages, or the command line
with ``--as`` and that administrator's password and code), or the operator at the command line
(who holds the instance's files, and so is trusted with its accounts). Every change is put on
the ledger in the same transaction as the change itself, and every refusal is put on it too,
as an entry whose ``outcome`` names the step (``account_disabled``, ``factor_reset_confirmed``,
``account_change_refused`` ...) and whose ``account`` is the pseudonymous ``user:<id>`` of
the account changed. These entries open no case data: the guard allowed nothing (``deny``),
and an administrator still reads no case (POLICY.md P5).

The rules that keep the instance governable:

- at least one active administrator remains: none disables or demotes the last;
- disabling an account, resetting its password or its factor, or changing its role ends all
  its sessions in the same transaction (sign-in and every page load refuse an inactive
  account, so a disabled person is out at once);
- a password reset gives a random one-time password, shown once, that signs in only to choose
  a new password, and only for ``ONE_TIME_PASSWORD_LIFETIME``;
- a second factor is removed only when one administrator has asked and a *different* one has
  confirmed (neither of them the account's holder), within ``FACTOR_RESET_LIFETIME``; the
  person then sets up a new factor at her next sign-in with her own password.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, TypeVar

from sqlalchemy import Connection

from safereport.domain.case import new_id
from safereport.domain.vocabulary import ActorRole, OrgKind
from safereport.errors import AccessDenied, InvalidInput
from safereport.services.access import Actor, record_failure
from safereport.services.accounts import (
    ONE_TIME_PASSWORD_LIFETIME,
    StaffArea,
    StaffUser,
    create_user,
    ensure_area,
    hash_password,
    role_fits_org,
)
from safereport.services.casework import actor_for
from safereport.services.instance import Instance
from safereport.services.signin import SignInOutcome, authenticate
from safereport.services.totp import totp_sealer
from safereport.store.accounts import (
    AccountRow,
    account_by_username,
    accounts,
    active_count,
    end_sessions,
    lock_active_admins,
    mark_one_time_password,
    org_of_user,
    remove_second_factor,
    set_active,
    set_one_time_password,
    set_role,
    username_taken,
    usernames_with_one_time_password,
)
from safereport.store.factor_resets import (
    FactorResetRow,
    add_factor_reset,
    cancel_open_factor_resets,
    confirm_open_factor_reset,
    open_factor_resets,
    open_factor_resets_of,
    withdraw_factor_reset,
)
from safereport.store.organisations import add_org_row, org_by_name, orgs_by_name
from safereport.store.signin import forget_used_codes

__all__ = [
    "FACTOR_RESET_LIFETIME",
    "ONE_TIME_PASSWORD_LIFETIME",
    "OPERATOR",
    "AccountChange",
    "AccountRow",
    "Admin",
    "FactorReset",
    "add_account",
    "add_org",
    "add_user",
    "admin_for",
    "authenticate_admin",
    "cancel_factor_reset",
    "change_role",
    "confirm_factor_reset",
    "disable_user",
    "enable_user",
    "find_org",
    "list_orgs",
    "list_users",
    "must_change_password",
    "one_time_password",
    "pending_factor_resets",
    "request_factor_reset",
    "reset_password",
]

#: An asked-for second-factor reset must be confirmed within this long, or asked again.
FACTOR_RESET_LIFETIME = timedelta(hours=24)
_REASON_CHARS = 500
_T = TypeVar("_T")


@dataclass(frozen=True)
class Admin:
    """Who administers: a signed-in administrator, or (``user`` None) the operator at the
    command line."""

    user: StaffUser | None = None

    @classmethod
    def signed_in(cls, user: StaffUser) -> Admin:
        """AccessDenied unless ``user`` is an administrator (the accounts pages are theirs)."""
        ensure_area(user, StaffArea.ACCOUNTS)
        return cls(user)

    @property
    def actor(self) -> Actor:
        if self.user is None:
            return Actor(id="operator:cli", role=ActorRole.ADMIN)
        return actor_for(self.user)

    @property
    def user_id(self) -> str | None:
        return self.user.id if self.user is not None else None


OPERATOR = Admin()


def admin_for(instance: Instance, user: StaffUser) -> Admin:
    """The signed-in ``user`` as an administrator; for anyone else a denial on the ledger
    (``accounts_not_offered``), then AccessDenied."""
    try:
        return Admin.signed_in(user)
    except AccessDenied:
        record_failure(instance, actor_for(user), None, None, "accounts_not_offered")
        raise


def find_org(conn: Connection, name: str) -> tuple[str, OrgKind] | None:
    row = org_by_name(conn, name)
    return (row.id, OrgKind(row.kind)) if row else None


def add_org(conn: Connection, name: str, kind: OrgKind, *, org_id: str | None = None) -> str:
    """Create an organisation; InvalidInput if the name is taken."""
    if not name.strip():
        raise InvalidInput("an organisation needs a name")
    if find_org(conn, name) is not None:
        raise InvalidInput(f"an organisation called {name!r} exists already")
    oid = org_id or new_id()
    add_org_row(conn, org_id=oid, name=name, kind=kind.value, created_at=datetime.now(UTC))
    return oid


def list_orgs(instance: Instance) -> list[tuple[str, str, str]]:
    """``(id, kind, name)`` of every organisation, by name."""
    with instance.engine.connect() as conn:
        rows = orgs_by_name(conn)
    return [(row.id, row.kind, row.name) for row in rows]


def list_users(instance: Instance) -> list[AccountRow]:
    """Every staff account with its organisation, state and live sessions, by username."""
    with instance.engine.connect() as conn:
        return accounts(conn)


class AccountChange(NamedTuple):
    username: str
    changed: bool  # False: it was already in that state
    sessions_ended: int


class _Refused(Exception):
    """A refusal with its ledger reason (``failure``) and the administrator's message."""

    def __init__(self, failure: str, message: str) -> None:
        super().__init__(message)
        self.failure = failure
        self.message = message


def _account(conn: Connection, username: str) -> AccountRow:
    row = account_by_username(conn, username)
    if row is None:
        raise _Refused("account_unknown", f"no staff account called {username!r}")
    return row


def _now() -> datetime:
    return datetime.now(UTC)


def _administer(
    instance: Instance,
    admin: Admin,
    step: str,
    username: str,
    work: Callable[[Connection, AccountRow], tuple[_T, dict[str, str]]],
) -> _T:
    """Run one account change and put it on the ledger in the same transaction.

    ``work`` gets the account's row and returns its result and the entry's detail (no
    secrets). A refusal (``_Refused``) rolls the change back, is committed to the ledger on
    its own as ``account_change_refused`` with its reason, and is raised as InvalidInput.
    """
    try:
        with instance.engine.begin() as conn:
            row = _account(conn, username)
            result, detail = work(conn, row)
            record_failure(instance, admin.actor, None, None, step, conn=conn,
                           detail={"account": f"user:{row.id}", **detail})
        return result
    except _Refused as exc:
        record_failure(instance, admin.actor, None, None, "account_change_refused",
                       detail={"step": step, "reason": exc.failure, "username": username[:100]})
        raise InvalidInput(exc.message) from exc


def _keep_an_admin(conn: Connection, row: AccountRow, username: str) -> None:
    """Refuse to take away the last active administrator (disable or demote)."""
    if not (row.active and row.role == ActorRole.ADMIN.value):
        return
    # Lock the active administrators' rows (PostgreSQL; SQLite writes one at a time): two
    # administrators disabling each other at once cannot both pass this check.
    lock_active_admins(conn, ActorRole.ADMIN.value)
    if active_count(conn, ActorRole.ADMIN.value) <= 1:
        raise _Refused("last_admin",
                       f"{username} is the last active admin account; enable another first")


# ---- add -------------------------------------------------------------------------------------


def one_time_password() -> str:
    """A random password to pass on by phone or in person: 4 groups of 5 letters and digits
    (about 100 bits), without look-alikes (0/O, 1/l/I)."""
    alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4))


def add_user(
    instance: Instance,
    *,
    org_name: str,
    username: str,
    display_name: str,
    role: ActorRole,
    password: str | None = None,
    by: Admin = OPERATOR,
) -> str:
    """Add a staff account to an existing organisation; returns the user id.

    Without ``password`` the account gets a one-time password: use :func:`add_account`.
    """
    return _add(instance, by, org_name=org_name, username=username, display_name=display_name,
                role=role, password=password)[0]


def add_account(
    instance: Instance, by: Admin, *, org_name: str, username: str, display_name: str,
    role: ActorRole | str,
) -> tuple[str, str]:
    """Add an account with a one-time password (changed at first sign-in); returns
    ``(user id, the one-time password)``: shown once, kept nowhere."""
    user_id, password = _add(instance, by, org_name=org_name, username=username,
                             display_name=display_name, role=role, password=None)
    assert password is not None
    return user_id, password


def _add(
    instance: Instance, by: Admin, *, org_name: str, username: str, display_name: str,
    role: ActorRole | str, password: str | None,
) -> tuple[str, str | None]:
    if role == ActorRole.VICTIM:
        raise InvalidInput("victims have no accounts: they return with their codename")
    given = one_time_password() if password is None else None
    try:
        with instance.engine.begin() as conn:
            org = find_org(conn, org_name)
            if org is None:
                raise InvalidInput(f"no organisation called {org_name!r}")
            if username_taken(conn, username):
                raise InvalidInput(f"the username {username!r} is taken")
            user_id = create_user(
                conn, org_id=org[0], username=username, display_name=display_name,
                role=role, password=given or password or "",
                hasher=instance.settings.password_hasher,
            )
            if given is not None:
                mark_one_time_password(conn, user_id, _now())
            record_failure(instance, by.actor, None, None, "account_added", conn=conn,
                           detail={"account": f"user:{user_id}", "role": str(role),
                                   "one_time_password": "yes" if given else "no"})
    except InvalidInput as exc:
        record_failure(instance, by.actor, None, None, "account_change_refused",
                       detail={"step": "account_added", "reason": "invalid_input",
                               "username": username[:100]})
        raise exc
    return user_id, given


# ---- disable, enable, role --------------------------------------------------------------------


def disable_user(instance: Instance, username: str, *, by: Admin = OPERATOR) -> AccountChange:
    """Make the account inactive and end its sessions; the last active admin stays."""

    def work(conn: Connection, row: AccountRow) -> tuple[AccountChange, dict[str, str]]:
        _keep_an_admin(conn, row, username)
        set_active(conn, row.id, False)
        ended = end_sessions(conn, row.id)
        return AccountChange(username, row.active, ended), {"sessions_ended": str(ended)}

    return _administer(instance, by, "account_disabled", username, work)


def enable_user(instance: Instance, username: str, *, by: Admin = OPERATOR) -> AccountChange:
    """Make the account active again (its password and second factor are unchanged)."""

    def work(conn: Connection, row: AccountRow) -> tuple[AccountChange, dict[str, str]]:
        set_active(conn, row.id, True)
        return AccountChange(username, not row.active, 0), {}

    return _administer(instance, by, "account_enabled", username, work)


def change_role(
    instance: Instance, username: str, role: ActorRole | str, *, by: Admin = OPERATOR
) -> AccountChange:
    """Give the account another role that fits its organisation; its sessions end (the next
    sign-in sees the new role's pages). The last active admin is not demoted."""

    def work(conn: Connection, row: AccountRow) -> tuple[AccountChange, dict[str, str]]:
        account_org = org_of_user(conn, row.id)
        try:
            new = role_fits_org(conn, account_org, role)
        except InvalidInput as exc:
            raise _Refused("role_not_allowed", str(exc)) from exc
        if new.value == row.role:
            return AccountChange(username, False, 0), {"role": new.value}
        if new is not ActorRole.ADMIN:
            _keep_an_admin(conn, row, username)
        set_role(conn, row.id, new.value)
        ended = end_sessions(conn, row.id)
        return AccountChange(username, True, ended), {"from": row.role, "role": new.value,
                                                      "sessions_ended": str(ended)}

    return _administer(instance, by, "role_changed", username, work)


# ---- password ---------------------------------------------------------------------------------


def reset_password(instance: Instance, username: str, *, by: Admin = OPERATOR) -> str:
    """Give the account a new random one-time password and end its sessions; returns it.

    It is shown to the administrator once and kept nowhere (only its hash): they pass it on
    by phone or in person. It signs in (with the second factor, once set up) only to choose a
    new password, within ONE_TIME_PASSWORD_LIFETIME. An administrator does not reset their
    own password this way."""

    def work(conn: Connection, row: AccountRow) -> tuple[str, dict[str, str]]:
        if by.user_id == row.id:
            raise _Refused("own_account", "you cannot reset your own password here: ask "
                           "another administrator")
        password = one_time_password()
        set_one_time_password(
            conn, row.id, hash_password(password, instance.settings.password_hasher), _now())
        ended = end_sessions(conn, row.id)
        return password, {"sessions_ended": str(ended)}

    return _administer(instance, by, "password_reset", username, work)


# ---- the second factor: two administrators -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FactorReset:
    id: str
    user_id: str
    username: str
    requested_by: str  # the asking administrator's username
    requested_at: datetime
    reason: str
    expires_at: datetime


def _identified(admin: Admin, step: str) -> StaffUser:
    if admin.user is None:
        raise _Refused("admin_not_identified",
                       f"the {step} needs a named administrator: use --as USERNAME")
    return admin.user


def _pending(conn: Connection, user_id: str, moment: datetime) -> FactorResetRow | None:
    """The account's newest reset still waiting and not too old, if any."""
    for row in open_factor_resets_of(conn, user_id):
        if row.requested_at + FACTOR_RESET_LIFETIME > moment:
            return row
    return None


def request_factor_reset(
    instance: Instance, username: str, reason: str, *, by: Admin
) -> str:
    """Ask for the account's second factor to be removed (she lost her phone); returns the
    request's id. Nothing changes until a different administrator confirms it."""
    why = " ".join(reason.split())

    def work(conn: Connection, row: AccountRow) -> tuple[str, dict[str, str]]:
        asker = _identified(by, "request of a second-factor reset")
        if asker.id == row.id:
            raise _Refused("own_account", "another administrator must ask for your reset")
        if not row.enrolled:
            raise _Refused("no_factor", f"{username} has no second factor to reset: they set "
                           "one up at their next sign-in")
        if not why:
            raise _Refused("no_reason", "say why the second factor is to be reset")
        if len(why) > _REASON_CHARS:
            raise _Refused("reason_too_long", f"the reason is at most {_REASON_CHARS} "
                           "characters")
        moment = _now()
        if _pending(conn, row.id, moment) is not None:
            raise _Refused("already_requested", f"a reset of {username}'s second factor is "
                           "already waiting for a second administrator")
        request_id = new_id()
        add_factor_reset(conn, reset_id=request_id, user_id=row.id, requested_by=asker.id,
                         requested_at=moment, reason=why)
        return request_id, {"request": request_id}

    return _administer(instance, by, "factor_reset_requested", username, work)


def confirm_factor_reset(instance: Instance, username: str, *, by: Admin) -> int:
    """Confirm a waiting reset as the second administrator: the factor is removed, the
    account's sessions end and its used-code record goes (she enrols afresh with her password
    at her next sign-in). Returns how many sessions ended."""

    def work(conn: Connection, row: AccountRow) -> tuple[int, dict[str, str]]:
        confirmer = _identified(by, "confirmation of a second-factor reset")
        moment = _now()
        pending = _pending(conn, row.id, moment)
        if pending is None:
            raise _Refused("nothing_to_confirm", f"no reset of {username}'s second factor is "
                           "waiting (none was asked for, or it is more than "
                           f"{int(FACTOR_RESET_LIFETIME.total_seconds() // 3600)} hours old)")
        if pending.requested_by == confirmer.id:
            raise _Refused("same_admin", "a different administrator must confirm: not the one "
                           "who asked")
        if confirmer.id == row.id:
            raise _Refused("own_account", "you cannot confirm the reset of your own factor")
        done = confirm_open_factor_reset(conn, pending.id, confirmer.id, moment)
        if done is None:
            raise _Refused("nothing_to_confirm", "this reset was confirmed or cancelled "
                           "meanwhile")
        # Any other request for her still waiting (two asked at once) is done with too.
        cancel_open_factor_resets(conn, row.id, confirmer.id, moment)
        remove_second_factor(conn, row.id)
        forget_used_codes(conn, row.id)
        ended = end_sessions(conn, row.id)
        return ended, {"request": done, "sessions_ended": str(ended)}

    return _administer(instance, by, "factor_reset_confirmed", username, work)


def cancel_factor_reset(instance: Instance, username: str, *, by: Admin) -> None:
    """Withdraw a waiting reset (any administrator may): the factor stays."""

    def work(conn: Connection, row: AccountRow) -> tuple[None, dict[str, str]]:
        canceller = _identified(by, "cancelling of a second-factor reset")
        moment = _now()
        pending = _pending(conn, row.id, moment)
        if pending is None:
            raise _Refused("nothing_to_cancel", f"no reset of {username}'s second factor is "
                           "waiting")
        withdraw_factor_reset(conn, pending.id, canceller.id, moment)
        return None, {"request": pending.id}

    _administer(instance, by, "factor_reset_cancelled", username, work)


def pending_factor_resets(instance: Instance) -> list[FactorReset]:
    """Resets waiting for a second administrator, oldest first."""
    moment = _now()
    with instance.engine.connect() as conn:
        rows = open_factor_resets(conn)
    found = []
    for row in rows:
        reset = row.reset
        expires = reset.requested_at + FACTOR_RESET_LIFETIME
        if expires > moment:
            found.append(FactorReset(reset.id, reset.user_id, row.username,
                                     row.asker_name or "?", reset.requested_at,
                                     reset.reason, expires))
    return found


def must_change_password(instance: Instance) -> set[str]:
    """Usernames whose password is a one-time password still to be changed."""
    with instance.engine.connect() as conn:
        return usernames_with_one_time_password(conn)



def authenticate_admin(instance: Instance, username: str, password: str, code: str) -> Admin:
    """A named administrator at the command line, checked like a sign-in (password and current
    code, under the same throttles); InvalidInput with one answer for every failure."""
    with instance.engine.begin() as conn:  # committed even when refused: the throttle counts
        result = authenticate(conn, username=username, password=password, totp_code=code,
                              totp=totp_sealer(instance.settings), source="cli",
                              hasher=instance.settings.password_hasher)
    user = result.user
    if (result.outcome is not SignInOutcome.SIGNED_IN or user is None
            or result.must_change_password or user.role is not ActorRole.ADMIN):
        raise InvalidInput(f"{username} is not an administrator who signed in with a password "
                           "and a current code")
    return Admin(user)
