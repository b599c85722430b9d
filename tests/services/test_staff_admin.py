"""Staff administration services (issue 20) on SQLite and PostgreSQL: every change and every
refusal on the ledger, sessions ended, at least one active admin, a password reset that must be
changed, a second factor removed only when a different admin confirms, and no case for an
admin (P5)."""

from __future__ import annotations

import pyotp
import pytest
from tests.support.admins import add_admin, ledger_after, ledger_top
from tests.support.cheap_costs import CHEAP_HASHER
from tests.support.staff_world import PASSWORD, StaffWorld, world

from safereport.domain.vocabulary import Action, ActorRole, Purpose
from safereport.errors import AccessDenied, InvalidInput
from safereport.services import auth, users
from safereport.services.access import access_case
from safereport.services.casework import actor_for

__all__ = ["world"]


def _sign_in(w: StaffWorld, username: str, password: str = PASSWORD,
             code: str | None = None) -> auth.SignIn:
    with w.instance.engine.begin() as conn:
        return auth.authenticate(conn, username=username, password=password, totp_code=code,
                                 totp=auth.totp_sealer(w.instance.settings),
                                 hasher=w.instance.settings.password_hasher)


def _session(w: StaffWorld, username: str) -> str:
    with w.instance.engine.begin() as conn:
        return auth.start_session(conn, w.users[username], auth.SessionState.ACTIVE)


def _live(w: StaffWorld, token: str) -> bool:
    with w.instance.engine.begin() as conn:
        return auth.load_session(conn, token) is not None


def _outcomes(w: StaffWorld, after: int) -> list[str]:
    return [str(e["detail"].get("outcome")) for e in ledger_after(w, after)]  # type: ignore[attr-defined]


def test_every_change_is_on_the_ledger_with_its_admin_and_account(world: StaffWorld) -> None:
    w = world
    admin = users.Admin.signed_in(w.users["admin"])
    before = ledger_top(w)
    token = _session(w, "cw")
    change = users.disable_user(w.instance, "cw", by=admin)
    assert (change.changed, change.sessions_ended) == (True, 1)
    assert not _live(w, token)  # disabling ends her sessions at once
    users.enable_user(w.instance, "cw", by=admin)
    users.change_role(w.instance, "cw", ActorRole.SUPERVISOR, by=admin)
    reset = users.reset_password(w.instance, "cw", by=admin)
    _, given = users.add_account(w.instance, admin, org_name="Safe Haven Support",
                                     username="newcw", display_name="New", role="caseworker")
    entries = ledger_after(w, before)
    assert [e["detail"]["outcome"] for e in entries] == [  # type: ignore[index]
        "account_disabled", "account_enabled", "role_changed", "password_reset",
        "account_added"]
    cw = f"user:{w.users['cw'].id}"
    for entry in entries:
        assert entry["actor"] == {"id": f"user:{w.users['admin'].id}", "role": "admin",
                                  "org": "support_service"}
        assert entry["case"] is None and entry["decision"] == "deny"  # nothing opened
        assert reset not in str(entry) and given not in str(entry)  # no secret on record
    assert [e["detail"]["account"] for e in entries[:4]] == [cw] * 4  # type: ignore[index]
    assert entries[2]["detail"]["from"] == "caseworker"  # type: ignore[index]
    assert entries[2]["detail"]["role"] == "supervisor"  # type: ignore[index]
    # The operator at the command line is on the ledger too, as the operator.
    users.disable_user(w.instance, "cw")
    assert ledger_after(w, before)[-1]["actor"]["id"] == "operator:cli"  # type: ignore[index]


def test_refusals_are_on_the_ledger_and_change_nothing(world: StaffWorld) -> None:
    w = world
    admin = users.Admin.signed_in(w.users["admin"])
    before = ledger_top(w)
    with pytest.raises(InvalidInput, match="last active admin"):
        users.disable_user(w.instance, "admin", by=admin)
    with pytest.raises(InvalidInput, match="last active admin"):
        users.change_role(w.instance, "admin", ActorRole.ANALYST, by=admin)
    with pytest.raises(InvalidInput, match="cannot belong to a police"):
        users.change_role(w.instance, "officer", ActorRole.CASEWORKER, by=admin)
    with pytest.raises(InvalidInput, match="no staff account called 'nobody'"):
        users.reset_password(w.instance, "nobody", by=admin)
    with pytest.raises(InvalidInput, match="your own password"):
        users.reset_password(w.instance, "admin", by=admin)
    entries = ledger_after(w, before)
    assert [e["detail"]["reason"] for e in entries] == [  # type: ignore[index]
        "last_admin", "last_admin", "role_not_allowed", "account_unknown", "own_account"]
    assert {e["detail"]["outcome"] for e in entries} == {"account_change_refused"}  # type: ignore[index]
    listed = {a.username: a for a in users.list_users(w.instance)}
    assert listed["admin"].active and listed["admin"].role == "admin"
    assert listed["officer"].role == "police_officer"
    # With a second admin, one may step down; then the other is the last.
    add_admin(w)
    users.change_role(w.instance, "admin", ActorRole.ANALYST, by=admin)
    with pytest.raises(InvalidInput, match="last active admin"):
        users.disable_user(w.instance, "admin2")


def test_only_an_admin_administers_and_the_attempt_is_recorded(world: StaffWorld) -> None:
    w = world
    before = ledger_top(w)
    with pytest.raises(AccessDenied):
        users.admin_for(w.instance, w.users["cw"])
    (entry,) = ledger_after(w, before)
    assert entry["detail"]["outcome"] == "accounts_not_offered"  # type: ignore[index]
    assert entry["actor"]["role"] == "caseworker"  # type: ignore[index]
    assert users.admin_for(w.instance, w.users["admin"]).user == w.users["admin"]


def test_a_reset_password_is_one_time_and_must_be_changed(world: StaffWorld) -> None:
    w = world
    admin = users.Admin.signed_in(w.users["admin"])
    token = _session(w, "cw")
    temporary = users.reset_password(w.instance, "cw", by=admin)
    assert not _live(w, token)
    assert _sign_in(w, "cw").outcome is auth.SignInOutcome.REFUSED  # the old one is gone
    code = pyotp.TOTP(w.secrets["cw"]).now()
    result = _sign_in(w, "cw", temporary, code)
    assert result.outcome is auth.SignInOutcome.SIGNED_IN and result.must_change_password
    assert result.user is not None
    with w.instance.engine.begin() as conn:
        session = auth.start_session(conn, result.user, auth.SessionState.PASSWORD)
        with pytest.raises(InvalidInput, match="not the one-time password"):
            auth.change_password(conn, session, temporary, hasher=CHEAP_HASHER)
    with w.instance.engine.begin() as conn:
        changed = auth.change_password(conn, session, "her own new passphrase",
                                       hasher=CHEAP_HASHER)
    assert changed is not None and changed[1] is auth.SessionState.ACTIVE
    assert not _live(w, session) and _live(w, changed[0])
    assert _sign_in(w, "cw", temporary, "000000").outcome is auth.SignInOutcome.REFUSED
    assert "cw" not in users.must_change_password(w.instance)
    # An ordinary session cannot change a password this way.
    with w.instance.engine.begin() as conn:
        assert auth.change_password(conn, changed[0], "another passphrase!",
                                    hasher=CHEAP_HASHER) is None


def test_a_one_time_password_expires(world: StaffWorld) -> None:
    from datetime import UTC, datetime

    w = world
    temporary = users.reset_password(w.instance, "cw", by=users.OPERATOR)
    late = datetime.now(UTC) + auth.ONE_TIME_PASSWORD_LIFETIME
    with w.instance.engine.begin() as conn:
        refused = auth.authenticate(conn, username="cw", password=temporary,
                                    totp_code=pyotp.TOTP(w.secrets["cw"]).at(late),
                                    totp=auth.totp_sealer(w.instance.settings), now=late,
                                    hasher=CHEAP_HASHER)
    assert refused.outcome is auth.SignInOutcome.REFUSED


def test_a_second_factor_goes_only_when_a_different_admin_confirms(world: StaffWorld) -> None:
    w = world
    add_admin(w)
    first = users.Admin.signed_in(w.users["admin"])
    second = users.Admin.signed_in(w.users["admin2"])
    token = _session(w, "cw")
    before = ledger_top(w)
    with pytest.raises(InvalidInput, match="named administrator"):
        users.request_factor_reset(w.instance, "cw", "lost phone", by=users.OPERATOR)
    with pytest.raises(InvalidInput, match="say why"):
        users.request_factor_reset(w.instance, "cw", "  ", by=first)
    with pytest.raises(InvalidInput, match="another administrator must ask"):
        users.request_factor_reset(w.instance, "admin", "lost phone", by=first)
    with pytest.raises(InvalidInput, match="none was asked for"):
        users.confirm_factor_reset(w.instance, "cw", by=second)
    users.request_factor_reset(w.instance, "cw", "lost her phone (rang the office)", by=first)
    with pytest.raises(InvalidInput, match="already waiting"):
        users.request_factor_reset(w.instance, "cw", "again", by=second)
    (waiting,) = users.pending_factor_resets(w.instance)
    assert (waiting.username, waiting.requested_by) == ("cw", "admin")
    # Asked for, not confirmed: nothing has changed.
    assert _live(w, token)
    assert _sign_in(w, "cw").outcome is auth.SignInOutcome.REFUSED  # a code is still needed
    with pytest.raises(InvalidInput, match="different administrator must confirm"):
        users.confirm_factor_reset(w.instance, "cw", by=first)
    assert next(a for a in users.list_users(w.instance) if a.username == "cw").enrolled
    assert users.confirm_factor_reset(w.instance, "cw", by=second) == 1
    assert not _live(w, token)
    assert users.pending_factor_resets(w.instance) == []
    assert not next(a for a in users.list_users(w.instance) if a.username == "cw").enrolled
    assert _sign_in(w, "cw").outcome is auth.SignInOutcome.ENROL  # her password: enrol anew
    assert _outcomes(w, before) == [
        "account_change_refused", "account_change_refused", "account_change_refused",
        "account_change_refused", "factor_reset_requested", "account_change_refused",
        "account_change_refused", "factor_reset_confirmed"]
    confirmed = ledger_after(w, before)[-1]
    assert confirmed["actor"]["id"] == f"user:{w.users['admin2'].id}"  # type: ignore[index]


def test_a_waiting_reset_can_be_cancelled(world: StaffWorld) -> None:
    w = world
    add_admin(w)
    first = users.Admin.signed_in(w.users["admin"])
    second = users.Admin.signed_in(w.users["admin2"])
    users.request_factor_reset(w.instance, "officer", "new phone", by=first)
    users.cancel_factor_reset(w.instance, "officer", by=second)
    with pytest.raises(InvalidInput, match="none was asked for"):
        users.confirm_factor_reset(w.instance, "officer", by=second)
    assert next(a for a in users.list_users(w.instance) if a.username == "officer").enrolled


def test_an_admin_still_reads_no_case(world: StaffWorld) -> None:
    """P5: administering accounts gives no way into a case."""
    w = world
    filed = w.file("cw")
    before = ledger_top(w)
    for purpose in (Purpose.SUPPORT, Purpose.SAFEGUARDING, Purpose.INVESTIGATION):
        with pytest.raises(AccessDenied):
            access_case(w.instance, actor_for(w.users["admin"]), filed.case_id,
                        action=Action.VIEW, purpose=purpose)
    entries = ledger_after(w, before)
    assert [e["decision"] for e in entries] == ["deny"] * 3
    assert all(e["case"] == filed.case_id for e in entries)
