"""The staff administration commands (issue 20): reset-password, set-role, and the two-person
second-factor reset, each administrator named with --as and checked with password and code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
from click.testing import CliRunner, Result
from tests.support.admins import add_admin, ledger_after, ledger_top
from tests.support.staff_client import fresh_code
from tests.support.staff_world import PASSWORD, StaffWorld, sqlite_world

from safereport.cli import main
from safereport.services import auth, users

__all__ = ["sqlite_world"]


def _run(w: StaffWorld, *args: str, answers: str = "") -> Result:
    root = str(w.instance.settings.data_dir)
    return CliRunner().invoke(main, ["--data-dir", root, "user", *args], input=answers)


def _as(w: StaffWorld, name: str, ahead: int = 0) -> str:
    """The prompts' answers: the password and a code ``ahead`` 30-second steps on (each
    code is good once, and only a later one after it; the server accepts one step ahead)."""
    code = pyotp.TOTP(w.secrets[name]).at(datetime.now(UTC) + timedelta(seconds=30 * ahead))
    return f"{PASSWORD}\n{code}\n"


def test_reset_password_and_set_role(sqlite_world: StaffWorld) -> None:
    w = sqlite_world
    before = ledger_top(w)
    reset = _run(w, "reset-password", "cw")
    assert reset.exit_code == 0, reset.output
    temporary = reset.output.split("one-time password ")[1].split()[0]
    with w.instance.engine.begin() as conn:
        signed = auth.authenticate(conn, username="cw", password=temporary,
                                   totp_code=fresh_code(w.secrets["cw"]),
                                   totp=auth.totp_sealer(w.instance.settings),
                                   hasher=w.instance.settings.password_hasher)
    assert signed.must_change_password
    assert "cw\tcaseworker\tSafe Haven Support\tactive, one-time password\t" in _run(
        w, "list").output
    assert _run(w, "set-role", "cw", "supervisor").output == (
        "cw is now supervisor; 0 session(s) ended\n")
    refused = _run(w, "set-role", "officer", "caseworker")
    assert refused.exit_code == 2
    assert "cannot belong to a police organisation" in refused.output
    demoted = _run(w, "set-role", "admin", "analyst")
    assert demoted.exit_code == 2 and "last active admin" in demoted.output
    entries = ledger_after(w, before)
    assert [e["detail"]["outcome"] for e in entries] == [  # type: ignore[index]
        "password_reset", "role_changed", "account_change_refused", "account_change_refused"]
    assert {e["actor"]["id"] for e in entries} == {"operator:cli"}  # type: ignore[index]


def test_the_factor_reset_needs_two_named_admins(sqlite_world: StaffWorld) -> None:
    w = sqlite_world
    add_admin(w)
    wrong = _run(w, "reset-factor", "cw", "--as", "admin", "--reason", "lost phone",
                 answers=f"{PASSWORD}\n000000\n")
    assert wrong.exit_code == 2 and "not an administrator who signed in" in wrong.output
    not_admin = _run(w, "reset-factor", "cw", "--as", "sup1", "--reason", "lost phone",
                     answers=_as(w, "sup1"))
    assert not_admin.exit_code == 2
    asked = _run(w, "reset-factor", "cw", "--as", "admin", "--reason", "lost phone",
                 answers=_as(w, "admin"))
    assert asked.exit_code == 0, asked.output
    assert "factor reset waiting" in _run(w, "list").output
    same = _run(w, "confirm-reset", "cw", "--as", "admin", answers=_as(w, "admin", 1))
    assert same.exit_code == 2 and "different administrator must confirm" in same.output
    assert next(a for a in users.list_users(w.instance) if a.username == "cw").enrolled
    done = _run(w, "confirm-reset", "cw", "--as", "admin2", answers=_as(w, "admin2"))
    assert done.exit_code == 0, done.output
    assert not next(a for a in users.list_users(w.instance) if a.username == "cw").enrolled
    # Asked and cancelled: the factor stays.
    add_admin(w, "admin3")
    _run(w, "reset-factor", "officer", "--as", "admin2", "--reason", "new phone",
         answers=_as(w, "admin2", 1))
    cancelled = _run(w, "cancel-reset", "officer", "--as", "admin3", answers=_as(w, "admin3"))
    assert cancelled.output.endswith("reset of officer's second factor cancelled\n")
    assert next(a for a in users.list_users(w.instance) if a.username == "officer").enrolled
