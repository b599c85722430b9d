"""Staff accounts: Argon2id passwords, TOTP, sign-in throttles, server-side sessions.

Every function takes a SQLAlchemy connection and never commits: the caller (a web route or a
CLI command) owns the transaction. Sessions are server-side rows keyed by the SHA-256 of a
random cookie token, with an idle timeout and an absolute lifetime.

Failed sign-ins are throttled without a lock-out that a stranger can trigger: per source
(the client's address, as an opaque key) and per (source, username), counted in the database
so that every worker agrees. An unknown username, a wrong password, a throttled pair and a
locked account all get the same answer after one Argon2id verification. The only account lock
is for wrong TOTP codes after a correct password, which a stranger cannot reach.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import pyotp
from sqlalchemy import Connection, Select, Table, case, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from safereport.config import Settings
from safereport.domain.passwords import Argon2idHasher, PasswordHasher
from safereport.domain.vocabulary import ActorRole, OrgKind
from safereport.errors import AccessDenied, InvalidInput, VaultError
from safereport.store.core import organisations, users
from safereport.store.staff import staff_sessions, staff_signin_state, staff_signin_throttle
from safereport.vault.recipes import SecretBox

__all__ = [
    "ABSOLUTE_LIFETIME",
    "ARGON2ID",
    "IDLE_TIMEOUT",
    "INTEGRATION_ACCOUNT_PREFIX",
    "LOCKOUT_PERIOD",
    "MAX_FAILED_SIGNINS",
    "MAX_PAIR_FAILURES",
    "MAX_SOURCE_FAILURES",
    "MIN_PASSWORD_CHARS",
    "ONE_TIME_PASSWORD_LIFETIME",
    "THROTTLE_WINDOW",
    "SessionState",
    "SignIn",
    "SignInOutcome",
    "StaffArea",
    "StaffSession",
    "StaffUser",
    "TotpSealer",
    "areas",
    "authenticate",
    "begin_totp_enrolment",
    "change_password",
    "confirm_totp_enrolment",
    "create_user",
    "end_session",
    "ensure_area",
    "get_user",
    "hash_password",
    "init_totp_key",
    "load_session",
    "pending_totp_secret",
    "reseal_clear_totp_secrets",
    "role_fits_org",
    "start_session",
    "totp_sealer",
    "totp_uri",
    "verify_password",
]

#: Wrong TOTP codes after a correct password, in a row, that lock an account, and for how
#: long. (Only someone who has the password can reach this lock.)
MAX_FAILED_SIGNINS = 5
LOCKOUT_PERIOD = timedelta(minutes=15)
#: Failed sign-ins per source, and per (source, username), within ``THROTTLE_WINDOW``. Past
#: the first a source is refused outright (HTTP 429); past the second, that source's tries
#: for that username are refused unchecked (with the ordinary answer), while the same
#: username from anywhere else is unaffected.
MAX_SOURCE_FAILURES = 30
MAX_PAIR_FAILURES = 5
THROTTLE_WINDOW = timedelta(minutes=15)
#: A session ends after this long without a request, and in any case after the lifetime.
IDLE_TIMEOUT = timedelta(minutes=15)
ABSOLUTE_LIFETIME = timedelta(hours=12)
_TOUCH_EVERY = timedelta(seconds=15)
MIN_PASSWORD_CHARS = 12
#: A one-time password set by an administrator (services/users.py) signs in only this long,
#: and only to choose a new password.
ONE_TIME_PASSWORD_LIFETIME = timedelta(days=3)
TOTP_ISSUER = "safereport"

#: The hasher used when a caller names none: Argon2id at production cost. Callers that have
#: an instance pass ``instance.settings.password_hasher`` (the seam tests use, STYLE.md 15).
ARGON2ID: PasswordHasher = Argon2idHasher()


# ---- TOTP secrets at rest -------------------------------------------------------------------

TOTP_KEY_FILE = "totp.key"
_SEALED_V1 = b"\x01"  # a clear base32 secret never starts with this byte


class TotpSealer:
    """TOTP secrets at rest, sealed by the vault's recipe under ``keys/totp.key`` (0600, made
    by ``init``).

    A secret in the database is useless without the key file: a copied database file or
    backup yields no second factor. The recipe binds each sealed secret to its user (or, while
    enrolling, to its session), so a sealed secret moved to another row fails.
    """

    def __init__(self, key: bytes | SecretBox) -> None:
        self._box = key if isinstance(key, SecretBox) else SecretBox(key)

    @classmethod
    def load(cls, keys_dir: Path) -> TotpSealer:
        """The instance's key; made first if missing (an instance from before the key).

        Refuses (ConfigError) a key file that others can read.
        """
        return cls(SecretBox.from_key_file(keys_dir / TOTP_KEY_FILE, "the TOTP key"))

    def seal(self, secret: str, user_id: str) -> bytes:
        return _SEALED_V1 + self._box.seal_secret("totp/user", secret.encode("ascii"), user_id)

    def open(self, stored: bytes, user_id: str) -> str | None:
        """The secret, or None if it cannot be opened (the sign-in is then refused)."""
        if not stored.startswith(_SEALED_V1):
            return None
        try:
            plain = self._box.open_secret("totp/user", stored[len(_SEALED_V1):], user_id)
        except VaultError:
            return None
        return plain.decode("ascii")

    def seal_pending(self, secret: str, token_hash: str) -> str:
        """A 32-character base32 secret sealed into 64 characters (the column's width)."""
        sealed = self._box.seal_secret("totp/pending", base64.b32decode(secret), token_hash)
        return base64.urlsafe_b64encode(sealed).decode("ascii")

    def open_pending(self, stored: str, token_hash: str) -> str | None:
        try:
            body = base64.urlsafe_b64decode(stored.encode("ascii"))
            raw = self._box.open_secret("totp/pending", body, token_hash)
        except (VaultError, ValueError, binascii.Error):
            return None
        return base64.b32encode(raw).decode("ascii")


def init_totp_key(settings: Settings) -> None:
    """Called by ``safereport init``: the key that seals staff TOTP secrets (0600)."""
    SecretBox.from_key_file(settings.keys_dir / TOTP_KEY_FILE, "the TOTP key")


def totp_sealer(settings: Settings) -> TotpSealer:
    return TotpSealer.load(settings.keys_dir)


def reseal_clear_totp_secrets(conn: Connection, sealer: TotpSealer) -> int:
    """Seal any secret still stored in the clear (from before sealing); returns how many."""
    rows = conn.execute(select(users.c.id, users.c.totp_secret).where(
        users.c.totp_secret.is_not(None))).all()
    count = 0
    for row in rows:
        stored = bytes(row.totp_secret)
        if not stored.startswith(_SEALED_V1):
            conn.execute(update(users).where(users.c.id == row.id).values(
                totp_secret=sealer.seal(stored.decode("ascii"), row.id)))
            count += 1
    return count

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


#: The username prefix of an integration's service account (it never signs in).
INTEGRATION_ACCOUNT_PREFIX = "integration:"


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


class SignInOutcome(StrEnum):
    ENROL = "enrol"  # password right, no TOTP yet: only enrolment is open
    REFUSED = "refused"  # also for unknown users, throttled pairs and locked accounts
    SIGNED_IN = "signed_in"
    THROTTLED = "throttled"  # this source failed too often: it says nothing about the account


class SessionState(StrEnum):
    ACTIVE = "active"
    ENROL = "enrol"
    #: Signed in with a one-time password (and the code, once enrolled): only choosing a new
    #: password is open.
    PASSWORD = "password"


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


@dataclass(frozen=True, slots=True)
class SignIn:
    outcome: SignInOutcome
    user: StaffUser | None = None
    #: The password was a one-time password set by an administrator: the session may only
    #: choose a new one (SessionState.PASSWORD).
    must_change_password: bool = False


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes even for timezone=True columns; they were stored as UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def hash_password(password: str, hasher: PasswordHasher = ARGON2ID) -> str:
    """A hash of ``password`` (Argon2id PHC string); InvalidInput if it is too short."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    return hasher.hash(password)


def verify_password(password_hash: str, password: str,
                    hasher: PasswordHasher = ARGON2ID) -> bool:
    """True if ``password`` matches; False for a mismatch or an unreadable hash."""
    return hasher.verify(password_hash, password)


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
    if conn.execute(select(users.c.id).where(users.c.username == name)).first() is not None:
        raise InvalidInput(f"the username {name!r} is taken")
    user_id = uuid.uuid4().hex
    conn.execute(
        insert(users).values(
            id=user_id,
            org_id=org_id,
            username=name,
            display_name=display_name.strip() or name,
            role=actor_role.value,
            password_hash=password_hash or hash_password(password, hasher),
            totp_secret=None,
            failed_logins=0,
            locked_until=None,
            active=True,
            created_at=_now(now),
        )
    )
    return user_id


def role_fits_org(conn: Connection, org_id: str, role: ActorRole | str) -> ActorRole:
    """The staff role ``role``, if staff of organisation ``org_id`` may hold it (else
    InvalidInput): caseworkers belong to support services, police roles to the police."""
    actor_role = _staff_role(role)
    org = conn.execute(select(organisations.c.kind).where(organisations.c.id == org_id)).first()
    if org is None:
        raise InvalidInput(f"no organisation with id {org_id!r}")
    kinds = _ROLE_ORG_KINDS[actor_role]
    if kinds is not None and OrgKind(org.kind) not in kinds:
        raise InvalidInput(f"a {actor_role.value} cannot belong to a {org.kind} organisation")
    return actor_role


def _staff_role(role: ActorRole | str) -> ActorRole:
    try:
        actor_role = ActorRole(role)
    except ValueError as exc:
        raise InvalidInput(f"unknown role {role!r}") from exc
    if actor_role is ActorRole.VICTIM:
        raise InvalidInput("victims do not have staff accounts")
    return actor_role


def _user_query() -> Select[Any]:
    return select(
        users,
        organisations.c.kind.label("org_kind"),
        organisations.c.name.label("org_name"),
    ).join(organisations, organisations.c.id == users.c.org_id)


def _staff_user(row: object) -> StaffUser:
    return StaffUser(
        id=row.id,  # type: ignore[attr-defined]
        org_id=row.org_id,  # type: ignore[attr-defined]
        org_kind=OrgKind(row.org_kind),  # type: ignore[attr-defined]
        org_name=row.org_name,  # type: ignore[attr-defined]
        username=row.username,  # type: ignore[attr-defined]
        display_name=row.display_name,  # type: ignore[attr-defined]
        role=ActorRole(row.role),  # type: ignore[attr-defined]
        totp_enrolled=row.totp_secret is not None,  # type: ignore[attr-defined]
    )


def get_user(conn: Connection, user_id: str) -> StaffUser | None:
    row = conn.execute(_user_query().where(users.c.id == user_id)).first()
    return _staff_user(row) if row is not None else None


def authenticate(
    conn: Connection,
    *,
    username: str,
    password: str,
    totp_code: str | None,
    totp: TotpSealer,
    now: datetime | None = None,
    source: str = "",
    hasher: PasswordHasher = ARGON2ID,
) -> SignIn:
    """Check a password and (once enrolled) a TOTP code, under the sign-in throttles.

    ``source`` is an opaque, stable key for where the attempt came from (the web layer's
    keyed hash of the client address; empty for none). The caller must commit even when
    sign-in is refused: the failure counts are the throttle.
    """
    moment = _now(now)
    name = username.strip()
    keys = _throttle_keys(source, name)
    if _failures(conn, keys[0], moment) >= MAX_SOURCE_FAILURES:
        return SignIn(SignInOutcome.THROTTLED)
    row = None
    if _failures(conn, keys[1], moment) < MAX_PAIR_FAILURES:
        row = conn.execute(_user_query().where(users.c.username == name)).first()
    # An integration's service account (services/integrations.py) acts only through its API
    # token: never through this door, even if someone enabled it and gave it a password.
    if row is None or not row.active or row.username.startswith(INTEGRATION_ACCOUNT_PREFIX):
        hasher.verify(hasher.dummy_hash(), password)  # the same cost whether or not it exists
        return _fail(conn, keys, moment)
    if not hasher.verify(row.password_hash, password):
        return _fail(conn, keys, moment)
    if row.locked_until is not None and _aware(row.locked_until) > moment:
        return _fail(conn, keys, moment)  # the same answer, after the same work
    reset_at = row.password_reset_at
    if reset_at is not None and _aware(reset_at) + ONE_TIME_PASSWORD_LIFETIME <= moment:
        return _fail(conn, keys, moment)  # a one-time password past its time
    if row.totp_secret is None:
        _succeed(conn, keys, row.id)
        return SignIn(SignInOutcome.ENROL, user=_staff_user(row),
                      must_change_password=reset_at is not None)
    secret = _stored_secret(conn, totp, row.id, bytes(row.totp_secret))
    if secret is None or not _accept_totp(conn, row.id, secret, totp_code or "", moment):
        _count_code_failure(conn, row.id, row.failed_logins, moment)
        return _fail(conn, keys, moment)
    _succeed(conn, keys, row.id)
    return SignIn(SignInOutcome.SIGNED_IN, user=_staff_user(row),
                  must_change_password=reset_at is not None)


def _stored_secret(
    conn: Connection, totp: TotpSealer, user_id: str, stored: bytes
) -> str | None:
    if stored.startswith(_SEALED_V1):
        return totp.open(stored, user_id)
    # Stored in the clear before secrets were sealed: seal it now (the caller commits).
    try:
        secret = stored.decode("ascii")
    except UnicodeDecodeError:
        return None
    conn.execute(update(users).where(users.c.id == user_id).values(
        totp_secret=totp.seal(secret, user_id)))
    return secret


# ---- throttles ------------------------------------------------------------------------------


def _throttle_keys(source: str, username: str) -> tuple[str, str]:
    """(the source's key, the (source, username) pair's key): hashes, never the values."""
    by_source = hashlib.sha256(b"signin/source\0" + source.encode()).hexdigest()
    pair = hashlib.sha256(
        b"signin/pair\0" + source.encode() + b"\0" + username.casefold().encode(
            "utf-8", "replace")
    ).hexdigest()
    return by_source, pair


def _failures(conn: Connection, key: str, moment: datetime) -> int:
    row = conn.execute(select(staff_signin_throttle).where(
        staff_signin_throttle.c.key == key)).first()
    if row is None or _aware(row.window_start) <= moment - THROTTLE_WINDOW:
        return 0
    return int(row.failures)


def _insert_ignoring_conflict(conn: Connection, table: Table, values: dict[str, Any]) -> bool:
    """Insert ``values`` unless the primary key exists already (atomically); True if added."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    key = next(iter(table.primary_key.columns))
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing().returning(key)
    # RETURNING, not rowcount: a driver may report -1 for an INSERT ... ON CONFLICT.
    return conn.execute(statement).first() is not None


def _count_failure(conn: Connection, key: str, moment: datetime) -> None:
    table = staff_signin_throttle
    if _insert_ignoring_conflict(conn, table, {"key": key, "window_start": moment,
                                               "failures": 1}):
        return
    expired = table.c.window_start <= moment - THROTTLE_WINDOW
    conn.execute(update(table).where(table.c.key == key).values(
        failures=case((expired, 1), else_=table.c.failures + 1),
        window_start=case((expired, moment), else_=table.c.window_start),
    ))


def _fail(conn: Connection, keys: tuple[str, str], moment: datetime) -> SignIn:
    for key in keys:
        _count_failure(conn, key, moment)
    # Counts from long ago mean nothing: keep the table small.
    conn.execute(delete(staff_signin_throttle).where(
        staff_signin_throttle.c.window_start < moment - 4 * THROTTLE_WINDOW))
    return SignIn(SignInOutcome.REFUSED)


def _count_code_failure(conn: Connection, user_id: str, failures: int, moment: datetime) -> None:
    """A wrong TOTP code after the right password; enough in a row lock the account."""
    count = failures + 1
    locked_until = moment + LOCKOUT_PERIOD if count >= MAX_FAILED_SIGNINS else None
    conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(failed_logins=0 if locked_until else count, locked_until=locked_until)
    )


def _succeed(conn: Connection, keys: tuple[str, str], user_id: str) -> None:
    # The pair's count is forgiven; the source's is not (one good account must not let a
    # source go on guessing others).
    conn.execute(delete(staff_signin_throttle).where(staff_signin_throttle.c.key == keys[1]))
    conn.execute(
        update(users).where(users.c.id == user_id).values(failed_logins=0, locked_until=None)
    )


def _accept_totp(conn: Connection, user_id: str, secret: str, code: str, moment: datetime) -> bool:
    """A valid code for this or an adjacent 30 s step, never used before (no replay).

    "Used" is one atomic write: a conditional UPDATE (only to a later step) or, for a user's
    first code, an INSERT that does nothing on conflict. Two sign-ins racing with one code
    both try the write; the database lets exactly one of them change a row.
    """
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return False
    totp = pyotp.TOTP(secret)
    step_now = int(moment.timestamp()) // totp.interval
    for step in (step_now - 1, step_now, step_now + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return _claim_step(conn, user_id, step)
    return False


def _claim_step(conn: Connection, user_id: str, step: int) -> bool:
    table = staff_signin_state
    moved = conn.execute(
        update(table)
        .where(table.c.user_id == user_id, table.c.last_totp_step < step)
        .values(last_totp_step=step)
        .returning(table.c.user_id)
    ).first()
    if moved is not None:
        return True
    return _insert_ignoring_conflict(conn, table, {"user_id": user_id, "last_totp_step": step})


# ---- TOTP enrolment -------------------------------------------------------------------------


def _enrolling_session(conn: Connection, token_hash: str) -> Any:
    """The session row if it may enrol a second factor: a session that signed in with the
    password (state ``enrol``) for an account that has no factor yet; else None."""
    row = conn.execute(
        select(staff_sessions, users.c.totp_secret)
        .join(users, users.c.id == staff_sessions.c.user_id)
        .where(staff_sessions.c.token_hash == token_hash)
    ).first()
    if row is None or row.state != SessionState.ENROL.value or row.totp_secret is not None:
        return None
    return row


def begin_totp_enrolment(conn: Connection, token: str, totp: TotpSealer) -> str:
    """A fresh TOTP secret offered to the session's user (kept, sealed, until a code
    confirms it). AccessDenied unless the session may enrol (see :func:`_enrolling_session`):
    a factor is never replaced from a session."""
    token_hash = _token_hash(token)
    if _enrolling_session(conn, token_hash) is None:
        raise AccessDenied("this session cannot set up a second factor",
                           rules=("staff-totp-enrol",),
                           reasons=("only a password sign-in of an account with no second "
                                    "factor can set one up",))
    secret = pyotp.random_base32()
    conn.execute(
        update(staff_sessions)
        .where(staff_sessions.c.token_hash == token_hash)
        .values(pending_totp_secret=totp.seal_pending(secret, token_hash))
    )
    return secret


def pending_totp_secret(conn: Connection, token: str, totp: TotpSealer) -> str | None:
    token_hash = _token_hash(token)
    stored = conn.execute(
        select(staff_sessions.c.pending_totp_secret).where(
            staff_sessions.c.token_hash == token_hash
        )
    ).scalar()
    return totp.open_pending(stored, token_hash) if stored is not None else None


def totp_uri(user: StaffUser, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=TOTP_ISSUER)


def confirm_totp_enrolment(
    conn: Connection, token: str, code: str, totp: TotpSealer, now: datetime | None = None
) -> str | None:
    """Store the pending secret (sealed) if ``code`` matches it and the account still has no
    factor; returns the session's new token (the old one and every other session of the
    account end), or None if nothing was stored."""
    token_hash = _token_hash(token)
    row = _enrolling_session(conn, token_hash)
    if row is None or row.pending_totp_secret is None:
        return None
    secret = totp.open_pending(row.pending_totp_secret, token_hash)
    if secret is None or not _accept_totp(conn, row.user_id, secret, code, _now(now)):
        return None
    stored = conn.execute(
        update(users)
        .where(users.c.id == row.user_id, users.c.totp_secret.is_(None))
        .values(totp_secret=totp.seal(secret, row.user_id))
        .returning(users.c.id)
    ).first()
    if stored is None:
        return None  # another session enrolled first: this one replaces nothing
    conn.execute(delete(staff_sessions).where(staff_sessions.c.user_id == row.user_id))
    user = get_user(conn, row.user_id)
    if user is None:
        return None
    return start_session(conn, user, SessionState.ACTIVE, now=now)


# ---- a one-time password replaced ------------------------------------------------------------


def change_password(
    conn: Connection, token: str, new_password: str, now: datetime | None = None,
    hasher: PasswordHasher = ARGON2ID,
) -> tuple[str, SessionState] | None:
    """Replace a one-time password with the person's own, from the session that signed in
    with it (state ``password``). Every session of the account ends; returns the new
    session's token and state (``enrol`` if the account has no second factor yet, else
    ``active``), or None if this session may not change the password. InvalidInput for a
    password too short or the same as the one-time one."""
    token_hash = _token_hash(token)
    row = conn.execute(
        select(staff_sessions.c.user_id, staff_sessions.c.state, users.c.password_hash,
               users.c.password_reset_at)
        .join(users, users.c.id == staff_sessions.c.user_id)
        .where(staff_sessions.c.token_hash == token_hash)
    ).first()
    if row is None or row.state != SessionState.PASSWORD.value or row.password_reset_at is None:
        return None
    if hasher.verify(row.password_hash, new_password):
        raise InvalidInput("choose a new password, not the one-time password you were given")
    conn.execute(update(users).where(users.c.id == row.user_id).values(
        password_hash=hash_password(new_password, hasher), password_reset_at=None))
    conn.execute(delete(staff_sessions).where(staff_sessions.c.user_id == row.user_id))
    user = get_user(conn, row.user_id)
    if user is None:
        return None
    state = SessionState.ACTIVE if user.totp_enrolled else SessionState.ENROL
    return start_session(conn, user, state, now=now), state


# ---- sessions -------------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start_session(
    conn: Connection, user: StaffUser, state: SessionState, now: datetime | None = None
) -> str:
    """A new server-side session; returns the cookie token (only its hash is stored)."""
    moment = _now(now)
    token = secrets.token_urlsafe(32)
    conn.execute(
        insert(staff_sessions).values(
            token_hash=_token_hash(token),
            user_id=user.id,
            state=state.value,
            pending_totp_secret=None,
            created_at=moment,
            last_seen_at=moment,
        )
    )
    return token


@dataclass(frozen=True, slots=True)
class StaffSession:
    user: StaffUser
    state: SessionState
    #: Read with ``write=False`` when its idle clock is due a touch: load it again to write.
    touch_due: bool = False


def load_session(
    conn: Connection, token: str, now: datetime | None = None, *, write: bool = True
) -> StaffSession | None:
    """The live session for ``token`` (touching its idle clock), or None if gone or expired.

    With ``write=False`` nothing is written (a page view can check its session in a read
    snapshot, without the database's write lock): an expired session is just None, and one
    whose idle clock is due a touch comes back with ``touch_due``.
    """
    moment = _now(now)
    key = _token_hash(token)
    row = conn.execute(select(staff_sessions).where(staff_sessions.c.token_hash == key)).first()
    if row is None:
        return None
    idle = moment - _aware(row.last_seen_at)
    age = moment - _aware(row.created_at)
    if idle > IDLE_TIMEOUT or age > ABSOLUTE_LIFETIME:
        if write:
            conn.execute(delete(staff_sessions).where(staff_sessions.c.token_hash == key))
        return None
    user = get_user(conn, row.user_id)
    if user is None:
        return None
    locked = conn.execute(
        select(users.c.active, users.c.locked_until).where(users.c.id == user.id)
    ).first()
    if locked is None or not locked.active:
        return None
    if idle > _TOUCH_EVERY:
        # Touch at most every few seconds: a page view need not be a database write, and the
        # idle timeout loses nothing at this granularity.
        if not write:
            return StaffSession(user=user, state=SessionState(row.state), touch_due=True)
        conn.execute(
            update(staff_sessions)
            .where(staff_sessions.c.token_hash == key)
            .values(last_seen_at=moment)
        )
    return StaffSession(user=user, state=SessionState(row.state))


def end_session(conn: Connection, token: str) -> None:
    conn.execute(delete(staff_sessions).where(staff_sessions.c.token_hash == _token_hash(token)))
