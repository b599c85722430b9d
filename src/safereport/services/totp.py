"""The second factor: TOTP secrets sealed at rest, codes checked once each, and enrolment.

A secret is sealed by the vault's recipe (vault/recipes.py ``SecretBox``) under
``keys/totp.key``; nothing here does cryptography itself. A code is good for this or an
adjacent 30 s step and only once. A factor is set up only from a session that signed in with
the password of an account that has none; it is removed only by two administrators
(services/users.py).

Every function that takes a connection never commits: the caller owns the transaction.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from datetime import UTC, datetime
from pathlib import Path

import pyotp
from sqlalchemy import Connection

from safereport.config import Settings
from safereport.errors import AccessDenied, VaultError
from safereport.services.accounts import StaffUser, get_user
from safereport.services.sessions import SessionState, start_session, token_hash
from safereport.store.accounts import (
    end_sessions,
    set_totp_secret,
    store_first_totp_secret,
    stored_totp_secrets,
)
from safereport.store.signin import claim_totp_step
from safereport.store.staff_sessions import (
    SessionAccount,
    sealed_pending_secret,
    session_account,
    set_pending_totp_secret,
)
from safereport.vault.recipes import SecretBox

__all__ = [
    "TOTP_ISSUER",
    "TOTP_KEY_FILE",
    "TotpSealer",
    "accept_code",
    "begin_totp_enrolment",
    "confirm_totp_enrolment",
    "init_totp_key",
    "open_stored_secret",
    "pending_totp_secret",
    "reseal_clear_totp_secrets",
    "totp_sealer",
    "totp_uri",
]

TOTP_ISSUER = "safereport"


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
    count = 0
    for row in stored_totp_secrets(conn):
        if not row.stored.startswith(_SEALED_V1):
            set_totp_secret(conn, row.user_id, sealer.seal(row.stored.decode("ascii"),
                                                           row.user_id))
            count += 1
    return count


def open_stored_secret(
    conn: Connection, totp: TotpSealer, user_id: str, stored: bytes
) -> str | None:
    """The account's secret from what is stored, or None if it cannot be opened. A secret
    stored in the clear (from before sealing) is sealed now (the caller commits)."""
    if stored.startswith(_SEALED_V1):
        return totp.open(stored, user_id)
    try:
        secret = stored.decode("ascii")
    except UnicodeDecodeError:
        return None
    set_totp_secret(conn, user_id, totp.seal(secret, user_id))
    return secret


# ---- codes ----------------------------------------------------------------------------------


def accept_code(conn: Connection, user_id: str, secret: str, code: str, moment: datetime) -> bool:
    """A valid code for this or an adjacent 30 s step, never used before (no replay).

    "Used" is one atomic write (store/signin.py ``claim_totp_step``): two sign-ins racing
    with one code both try it; the database lets exactly one of them change a row.
    """
    code = code.strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return False
    totp = pyotp.TOTP(secret)
    step_now = int(moment.timestamp()) // totp.interval
    for step in (step_now - 1, step_now, step_now + 1):
        if secrets.compare_digest(totp.generate_otp(step), code):
            return claim_totp_step(conn, user_id, step)
    return False


# ---- enrolment ------------------------------------------------------------------------------


def _enrolling_session(conn: Connection, key: str) -> SessionAccount | None:
    """The session if it may enrol a second factor: a session that signed in with the
    password (state ``enrol``) for an account that has no factor yet; else None."""
    row = session_account(conn, key)
    if row is None or row.session.state != SessionState.ENROL.value or row.totp_enrolled:
        return None
    return row


def begin_totp_enrolment(conn: Connection, token: str, totp: TotpSealer) -> str:
    """A fresh TOTP secret offered to the session's user (kept, sealed, until a code
    confirms it). AccessDenied unless the session may enrol (see :func:`_enrolling_session`):
    a factor is never replaced from a session."""
    key = token_hash(token)
    if _enrolling_session(conn, key) is None:
        raise AccessDenied("this session cannot set up a second factor",
                           rules=("staff-totp-enrol",),
                           reasons=("only a password sign-in of an account with no second "
                                    "factor can set one up",))
    secret = pyotp.random_base32()
    set_pending_totp_secret(conn, key, totp.seal_pending(secret, key))
    return secret


def pending_totp_secret(conn: Connection, token: str, totp: TotpSealer) -> str | None:
    key = token_hash(token)
    stored = sealed_pending_secret(conn, key)
    return totp.open_pending(stored, key) if stored is not None else None


def totp_uri(user: StaffUser, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.username, issuer_name=TOTP_ISSUER)


def confirm_totp_enrolment(
    conn: Connection, token: str, code: str, totp: TotpSealer, now: datetime | None = None
) -> str | None:
    """Store the pending secret (sealed) if ``code`` matches it and the account still has no
    factor; returns the session's new token (the old one and every other session of the
    account end), or None if nothing was stored."""
    key = token_hash(token)
    row = _enrolling_session(conn, key)
    if row is None or row.session.pending_totp_secret is None:
        return None
    user_id = row.session.user_id
    secret = totp.open_pending(row.session.pending_totp_secret, key)
    moment = now if now is not None else datetime.now(UTC)
    if secret is None or not accept_code(conn, user_id, secret, code, moment):
        return None
    if not store_first_totp_secret(conn, user_id, totp.seal(secret, user_id)):
        return None  # another session enrolled first: this one replaces nothing
    end_sessions(conn, user_id)
    user = get_user(conn, user_id)
    if user is None:
        return None
    return start_session(conn, user, SessionState.ACTIVE, now=now)
