"""Staff authentication, in one place for its callers: the names of the modules it is made of.

- services/accounts.py: who a staff member is (``StaffUser``), her role's areas, password
  hashes, adding an account;
- services/signin.py: sign-in under throttles, and replacing a one-time password;
- services/sessions.py: server-side staff sessions;
- services/totp.py: the second factor (sealed secrets, codes used once, enrolment).

Web routes, commands, other services and tests import from here or from those modules alike.
"""

from __future__ import annotations

from safereport.services.accounts import (
    ARGON2ID,
    INTEGRATION_ACCOUNT_PREFIX,
    MIN_PASSWORD_CHARS,
    ONE_TIME_PASSWORD_LIFETIME,
    StaffArea,
    StaffUser,
    areas,
    create_user,
    ensure_area,
    get_user,
    hash_password,
    role_fits_org,
    verify_password,
)
from safereport.services.sessions import (
    ABSOLUTE_LIFETIME,
    IDLE_TIMEOUT,
    SessionState,
    StaffSession,
    end_session,
    load_session,
    start_session,
)
from safereport.services.signin import (
    LOCKOUT_PERIOD,
    MAX_FAILED_SIGNINS,
    MAX_PAIR_FAILURES,
    MAX_SOURCE_FAILURES,
    THROTTLE_WINDOW,
    SignIn,
    SignInOutcome,
    authenticate,
    change_password,
)
from safereport.services.totp import (
    TOTP_ISSUER,
    TOTP_KEY_FILE,
    TotpSealer,
    begin_totp_enrolment,
    confirm_totp_enrolment,
    init_totp_key,
    pending_totp_secret,
    reseal_clear_totp_secrets,
    totp_sealer,
    totp_uri,
)

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
    "TOTP_ISSUER",
    "TOTP_KEY_FILE",
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
