"""The administrator's pages (issue 20): only admins, CSRF on every form, each action on the
ledger, one-time passwords changed at the next sign-in, disabling ends sessions at once, and
a second-factor reset done only when a different admin confirms."""

from __future__ import annotations

import re

import pyotp
from tests.support.admins import add_admin, ledger_after, ledger_top
from tests.support.staff_client import TestClient, csrf_of, fresh_code, signed_in
from tests.support.staff_web import client_from, sign_in
from tests.support.staff_world import StaffWorld

from safereport.services import users


def _do(client: TestClient, path: str, data: dict[str, str],
        form_page: str = "/staff/admin") -> object:
    token = csrf_of(client.get(form_page).text)
    return client.post(path, data={"csrf_token": token, **data})


def _one_time_password(html: str) -> str:
    found = re.search(r'class="one-time-password">([^<]+)<', html)
    assert found, "no one-time password on the page"
    return found.group(1)


def test_only_admins_get_the_pages_and_the_refusal_is_recorded(sqlite_world: StaffWorld) -> None:
    w = sqlite_world
    admin = signed_in(w, "admin")
    page = admin.get("/staff/admin")
    assert page.status_code == 200
    assert 'href="/staff/admin">Accounts</a>' in page.text
    for name in ("cw", "officer", "auditor", "admin"):
        assert f"?username={name}" in page.text
    before = ledger_top(w)
    cw = signed_in(w, "cw")
    assert 'href="/staff/admin"' not in cw.get("/staff/").text
    refused = cw.get("/staff/admin")
    assert refused.status_code == 403
    assert _do(cw, "/staff/admin/disable", {"username": "officer"}, "/staff/").status_code == 403  # type: ignore[attr-defined]
    assert [e["detail"]["outcome"] for e in ledger_after(w, before)] == [  # type: ignore[index]
        "accounts_not_offered", "accounts_not_offered"]
    assert next(a for a in users.list_users(w.instance) if a.username == "officer").active


def test_every_form_needs_its_csrf_token(sqlite_world: StaffWorld) -> None:
    admin = signed_in(sqlite_world, "admin")
    for path in ("/staff/admin/disable", "/staff/admin/password", "/staff/admin/role",
                 "/staff/admin/factor-reset", "/staff/admin/accounts"):
        answer = admin.post(path, data={"username": "cw", "role": "supervisor",
                                        "reason": "x"})
        assert answer.status_code == 400, path
    listed = {a.username: a for a in users.list_users(sqlite_world.instance)}
    assert listed["cw"].active and listed["cw"].role == "caseworker"


def test_disabling_on_the_page_ends_her_sessions_at_once(sqlite_world: StaffWorld) -> None:
    w = sqlite_world
    cw = signed_in(w, "cw")
    assert cw.get("/staff/cases").status_code == 200
    admin = signed_in(w, "admin")
    done = _do(admin, "/staff/admin/disable", {"username": "cw"})
    assert done.status_code == 200 and "cw is disabled; 1 session(s) ended." in done.text  # type: ignore[attr-defined]
    assert cw.get("/staff/cases").headers["location"] == "/staff/sign-in"
    again = _do(admin, "/staff/admin/enable", {"username": "cw"})
    assert "cw is enabled." in again.text  # type: ignore[attr-defined]
    refused = _do(admin, "/staff/admin/disable", {"username": "admin"})
    assert refused.status_code == 400  # type: ignore[attr-defined]
    assert "last active admin" in refused.text  # type: ignore[attr-defined]


def test_a_new_account_and_a_reset_password_must_be_changed_at_sign_in(
        sqlite_world: StaffWorld) -> None:
    w = sqlite_world
    admin = signed_in(w, "admin")
    added = _do(admin, "/staff/admin/accounts", {
        "org": "Safe Haven Support", "username": "newcw", "display_name": "New Caseworker",
        "role": "caseworker"})
    assert added.status_code == 200  # type: ignore[attr-defined]
    given = _one_time_password(added.text)  # type: ignore[attr-defined]
    client = client_from(w, "198.51.100.20")
    landed = sign_in(client, "newcw", password=given)
    assert landed.headers["location"] == "/staff/password"  # type: ignore[attr-defined]
    # Nothing else opens until she chooses a password.
    assert client.get("/staff/cases").headers["location"] == "/staff/password"
    assert client.get("/staff/totp").headers["location"] == "/staff/password"
    page = client.get("/staff/password")
    mismatch = client.post("/staff/password", data={
        "csrf_token": csrf_of(page.text), "password": "her own passphrase",
        "password_again": "her own passphrasf"})
    assert mismatch.status_code == 400 and "not the same" in mismatch.text
    same = client.post("/staff/password", data={
        "csrf_token": csrf_of(page.text), "password": given, "password_again": given})
    assert same.status_code == 400 and "not the one-time password" in same.text
    chosen = client.post("/staff/password", data={
        "csrf_token": csrf_of(page.text), "password": "her own passphrase",
        "password_again": "her own passphrase"})
    assert chosen.headers["location"] == "/staff/totp"  # no factor yet: enrol next
    assert "totp-secret" in client.get("/staff/totp").text
    # A reset of an enrolled account: the one-time password and her code, then a new password.
    reset = _do(admin, "/staff/admin/password", {"username": "cw"})
    temporary = _one_time_password(reset.text)  # type: ignore[attr-defined]
    other = client_from(w, "198.51.100.21")
    assert sign_in(other, "cw", password=temporary, code="000000").status_code == 401  # type: ignore[attr-defined]
    landed = sign_in(other, "cw", password=temporary, code=fresh_code(w.secrets["cw"]))
    assert landed.headers["location"] == "/staff/password"  # type: ignore[attr-defined]
    page = other.get("/staff/password")
    chosen = other.post("/staff/password", data={
        "csrf_token": csrf_of(page.text), "password": "cw's own new phrase",
        "password_again": "cw's own new phrase"})
    assert chosen.headers["location"] == "/staff/"
    assert other.get("/staff/cases").status_code == 200


def test_the_factor_reset_on_the_pages_needs_a_second_admin(sqlite_world: StaffWorld) -> None:
    w = sqlite_world
    add_admin(w)
    first, second = signed_in(w, "admin"), signed_in(w, "admin2")
    before = ledger_top(w)
    asked = _do(first, "/staff/admin/factor-reset", {"username": "officer",
                                                      "reason": "Lost phone; rang the desk"})
    assert "Nothing changes until a different administrator confirms" in asked.text  # type: ignore[attr-defined]
    # The asker sees no confirm button, and a forged confirmation is refused.
    mine = first.get("/staff/admin/account?username=officer").text
    assert "Waiting for a different administrator" in mine
    assert "Confirm reset of officer" not in mine
    forged = _do(first, "/staff/admin/factor-reset/confirm", {"username": "officer"})
    assert forged.status_code == 400 and "different administrator" in forged.text  # type: ignore[attr-defined]
    assert next(a for a in users.list_users(w.instance) if a.username == "officer").enrolled
    listing = second.get("/staff/admin").text
    assert "Confirm reset of officer" in listing and "Lost phone; rang the desk" in listing
    done = _do(second, "/staff/admin/factor-reset/confirm", {"username": "officer"})
    assert "second factor is removed" in done.text  # type: ignore[attr-defined]
    assert "Not set up" in second.get("/staff/admin/account?username=officer").text
    assert [e["detail"]["outcome"] for e in ledger_after(w, before)] == [  # type: ignore[index]
        "factor_reset_requested", "account_change_refused", "factor_reset_confirmed"]
    # The old authenticator no longer signs in; the password alone leads to enrolment.
    client = client_from(w, "198.51.100.30")
    old = pyotp.TOTP(w.secrets["officer"]).now()
    assert sign_in(client, "officer", code=old).headers["location"] == "/staff/totp"  # type: ignore[attr-defined]


def test_the_admin_pages_show_no_case_data(sqlite_world: StaffWorld) -> None:
    """P5: the admin's pages list accounts, never a case; and a case stays shut to an admin."""
    w = sqlite_world
    filed = w.file("cw")
    admin = signed_in(w, "admin")
    for path in ("/staff/admin", "/staff/admin/account?username=cw"):
        page = admin.get(path).text
        for secret in ("Maria Exemplo", "07700 900123", "Examplestan", filed.case_id):
            assert secret not in page, (path, secret)
    before = ledger_top(w)
    case = admin.get(f"/staff/cases/{filed.case_id}")
    for secret in ("Maria Exemplo", "07700 900123", "Examplestan", "hit me"):
        assert secret not in case.text
    entries = ledger_after(w, before)
    assert entries and all(e["decision"] == "deny" for e in entries)
    assert {e["case"] for e in entries} == {filed.case_id}


def test_the_admin_page_shows_the_scheduled_work_with_last_and_next_run(
    sqlite_world: StaffWorld,
) -> None:
    """Issue 20: the scheduled jobs are visible on the admin page, with last and next run."""
    from safereport.services import scheduler

    admin = signed_in(sqlite_world, "admin")
    before = admin.get("/staff/admin").text
    assert 'id="jobs"' in before
    assert before.count("Not run yet") >= 1 and "Never" in before
    scheduler.run_job(sqlite_world.instance, "checkpoint")
    after = admin.get("/staff/admin").text
    row = after.split("(checkpoint)", 1)[1].split("</tr>", 1)[0]
    assert "Done:" in row and "Never" not in row
    next_run = re.findall(r"\d\d \w\w\w \d{4} \d\d:\d\d", row)
    assert len(next_run) == 2, row  # the last run and the next run, both shown
    # A job that is off says why instead of a time.
    backups = after.split("(backups)", 1)[1].split("</tr>", 1)[0]
    assert "Off:" in backups and "Not scheduled" in backups
